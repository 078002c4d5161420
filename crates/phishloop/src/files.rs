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
/// Hidden files inside folders are skipped. Symbolic links are followed. A
/// link that points nowhere or back to a folder above it is listed as an
/// error, so that it is reported rather than silently skipped.
pub fn expand(paths: &[PathBuf]) -> Vec<Input> {
    let mut inputs = Vec::new();
    for path in paths {
        if !path.is_dir() {
            inputs.push(Input::File(path.clone()));
            continue;
        }
        let walker = WalkDir::new(path).follow_links(true).sort_by_file_name().into_iter();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(inputs: &[Input]) -> (Vec<String>, Vec<String>) {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        for input in inputs {
            match input {
                Input::File(path) => files.push(path.file_name().unwrap_or_default().to_string_lossy().into_owned()),
                Input::Error { path, .. } => {
                    errors.push(path.file_name().unwrap_or_default().to_string_lossy().into_owned())
                }
            }
        }
        (files, errors)
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_followed_and_loops_reported() {
        let root = tempfile::tempdir().expect("temporary folder");
        let outside = tempfile::tempdir().expect("second temporary folder");
        std::fs::write(outside.path().join("linked-folder-file.eml"), b"Subject: a\n\nbody").expect("write");
        std::fs::write(outside.path().join("target.eml"), b"Subject: b\n\nbody").expect("write");
        let folder = root.path().join("reports");
        std::fs::create_dir(&folder).expect("create folder");
        std::fs::write(folder.join("plain.eml"), b"Subject: c\n\nbody").expect("write");
        std::os::unix::fs::symlink(outside.path(), folder.join("linked")).expect("folder link");
        std::os::unix::fs::symlink(outside.path().join("target.eml"), folder.join("file-link.eml")).expect("file link");
        std::os::unix::fs::symlink(&folder, folder.join("loop")).expect("loop link");
        std::os::unix::fs::symlink(root.path().join("missing.eml"), folder.join("dangling.eml")).expect("dangling");

        let (files, errors) = listed(&expand(&[folder]));

        assert_eq!(files, ["file-link.eml", "linked-folder-file.eml", "target.eml", "plain.eml"]);
        assert_eq!(errors, ["dangling.eml", "loop"]);
    }
}
