//! Input files: paths and folders to a sorted list of files.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

/// Largest file read. Larger files are reported as unreadable rather than
/// loaded into memory.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024 * 1024;

/// A file to analyse, or a path that could not be listed.
pub enum Input {
    File(PathBuf),
    Error { path: PathBuf, reason: String },
}

/// Expands paths: files as given, folders recursively in name order.
/// Hidden files inside folders are skipped.
pub fn expand(paths: &[PathBuf]) -> Vec<Input> {
    let mut inputs = Vec::new();
    for path in paths {
        if !path.is_dir() {
            inputs.push(Input::File(path.clone()));
            continue;
        }
        let walker = WalkDir::new(path).follow_links(false).sort_by_file_name().into_iter();
        for entry in walker.filter_entry(|entry| entry.depth() == 0 || !is_hidden(entry.path())) {
            match entry {
                Ok(entry) if entry.file_type().is_file() => inputs.push(Input::File(entry.into_path())),
                Ok(_) => {}
                Err(error) => inputs.push(Input::Error {
                    path: error.path().map_or_else(|| path.clone(), Path::to_path_buf),
                    reason: error.to_string(),
                }),
            }
        }
    }
    inputs
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.starts_with('.'))
}

/// Reads a file, rejecting files over [`MAX_FILE_BYTES`].
pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    let metadata = std::fs::metadata(path).map_err(|error| error.to_string())?;
    if metadata.is_dir() {
        return Err("is a folder".to_string());
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(format!(
            "file is {} bytes, over the {MAX_FILE_BYTES}-byte limit for one input file",
            metadata.len()
        ));
    }
    std::fs::read(path).map_err(|error| error.to_string())
}
