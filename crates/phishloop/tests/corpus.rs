//! Runs the analysis over an unpacked corpus folder and reports counts.
//!
//! Ignored by default because the corpus is not part of the repository.
//! Run it with `scripts/corpus-check.sh` or:
//!
//! ```text
//! PHISHLOOP_CORPUS=/path/to/corpus cargo test --release -p phishloop --test corpus -- --ignored --nocapture
//! ```
//!
//! Every file is analysed inside `catch_unwind`, so that one panic is
//! reported with its file name and does not hide the others. The test fails
//! when any file panics.

mod support;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use phishloop_analysis::Mode;
use phishloop_model::{ExtractionStatus, ParseStatus};

#[derive(Default)]
struct Counts {
    files: usize,
    messages: usize,
    unreadable: usize,
    panics: usize,
    reports: usize,
    failed_extractions: usize,
    ok: usize,
    partial: usize,
    malformed: usize,
}

fn files_below(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The first two path components below the root, such as `phish/nazario`.
fn group_of(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file);
    relative.components().take(2).map(|part| part.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

#[test]
#[ignore = "needs an unpacked corpus in PHISHLOOP_CORPUS"]
fn corpus_analyses_without_panic() {
    let root =
        PathBuf::from(std::env::var("PHISHLOOP_CORPUS").expect("set PHISHLOOP_CORPUS to an unpacked corpus folder"));
    let analyzer = support::analyzer("", Mode::Auto);
    let mut groups: BTreeMap<String, Counts> = BTreeMap::new();
    let mut panicked = Vec::new();

    for file in files_below(&root) {
        let counts = groups.entry(group_of(&root, &file)).or_default();
        counts.files += 1;
        let Ok(bytes) = std::fs::read(&file) else {
            counts.unreadable += 1;
            continue;
        };
        let name = file.display().to_string();
        let outcome = catch_unwind(AssertUnwindSafe(|| analyzer.analyze_input(Some(&name), &bytes)));
        let records = match outcome {
            Ok(Ok(records)) => records,
            Ok(Err(_)) => {
                counts.unreadable += 1;
                continue;
            }
            Err(_) => {
                counts.panics += 1;
                panicked.push(name);
                continue;
            }
        };
        for record in records {
            counts.messages += 1;
            if record.report.status != ExtractionStatus::NotAReport {
                counts.reports += 1;
            }
            if record.report.status == ExtractionStatus::Failed {
                counts.failed_extractions += 1;
            }
            match record.message.map(|message| message.parse.status) {
                Some(ParseStatus::Ok) => counts.ok += 1,
                Some(ParseStatus::Partial) => counts.partial += 1,
                Some(ParseStatus::Malformed) => counts.malformed += 1,
                None => {}
            }
        }
    }

    println!(
        "{:<32} {:>6} {:>8} {:>6} {:>6} {:>7} {:>6} {:>7} {:>9} {:>10}",
        "folder", "files", "messages", "panic", "unread", "reports", "failed", "ok", "partial", "malformed"
    );
    let mut total = Counts::default();
    for (group, counts) in &groups {
        println!(
            "{:<32} {:>6} {:>8} {:>6} {:>6} {:>7} {:>6} {:>7} {:>9} {:>10}",
            group,
            counts.files,
            counts.messages,
            counts.panics,
            counts.unreadable,
            counts.reports,
            counts.failed_extractions,
            counts.ok,
            counts.partial,
            counts.malformed
        );
        total.files += counts.files;
        total.messages += counts.messages;
        total.panics += counts.panics;
        total.unreadable += counts.unreadable;
    }
    println!(
        "total: {} files, {} messages, {} panics, {} unreadable",
        total.files, total.messages, total.panics, total.unreadable
    );
    assert!(panicked.is_empty(), "analysis panicked on: {panicked:?}");
    assert!(total.files > 0, "no files found below {}", root.display());
}
