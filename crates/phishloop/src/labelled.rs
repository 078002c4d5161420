//! Labelled corpora for training and evaluation: folders whose first path
//! component is the label (`phish`, `spam`, `ham`).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::files::{self, Input};

/// A message file with its label and source folder.
pub struct LabelledFile {
    pub path: PathBuf,
    /// Index into `phishloop_triage::model::CLASSES`.
    pub label: usize,
    /// The label and the next path component (`phish/nazario`): the source
    /// collection the file comes from.
    pub group: String,
    pub bytes: Vec<u8>,
    pub sha256: [u8; 32],
}

/// The class index of a label folder name.
pub fn label_of(name: &str) -> Option<usize> {
    phishloop_triage::model::CLASSES.iter().position(|class| *class == name)
}

/// Reads every file below `root`, labelled by its first path component
/// under `root`. Files under other first components are skipped, and so are
/// exact duplicates (same SHA-256), which would count twice. Files are
/// returned in path order.
pub fn read(root: &Path) -> (Vec<LabelledFile>, usize) {
    let mut files = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut duplicates = 0;
    for input in files::expand(&[root.to_path_buf()]) {
        let Input::File(path) = input else {
            continue;
        };
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let mut components =
            relative.components().map(|component| component.as_os_str().to_string_lossy().into_owned());
        let Some(first) = components.next() else {
            continue;
        };
        let Some(label) = label_of(&first) else {
            continue;
        };
        let second = components.next().filter(|_| relative.components().count() > 2);
        let group = match second {
            Some(second) => format!("{first}/{second}"),
            None => first.clone(),
        };
        let Ok(bytes) = files::read(&path) else {
            eprintln!("phishloop: skipping unreadable {}", path.display());
            continue;
        };
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        if !seen.insert(sha256) {
            duplicates += 1;
            continue;
        }
        files.push(LabelledFile { path, label, group, bytes, sha256 });
    }
    (files, duplicates)
}

/// Reads every file below `folder`, all with one label. The group of a
/// file is its source: the first subfolder of `folder` it lies in, or the
/// name of `folder` for files directly in it.
pub fn read_as(folder: &Path, label: usize) -> Vec<LabelledFile> {
    let mut files = Vec::new();
    let own_name = folder.file_name().map_or_else(|| ".".to_string(), |name| name.to_string_lossy().into_owned());
    for input in files::expand(&[folder.to_path_buf()]) {
        let Input::File(path) = input else {
            continue;
        };
        let Ok(bytes) = files::read(&path) else {
            eprintln!("phishloop: skipping unreadable {}", path.display());
            continue;
        };
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        let relative = path.strip_prefix(folder).unwrap_or(&path);
        let group = if relative.components().count() > 1 {
            relative.components().next().map(|first| first.as_os_str().to_string_lossy().into_owned())
        } else {
            None
        }
        .unwrap_or_else(|| own_name.clone());
        let class = phishloop_triage::model::CLASSES[label];
        files.push(LabelledFile { path, label, group: format!("{class}/{group}"), bytes, sha256 });
    }
    files
}
