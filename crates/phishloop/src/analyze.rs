//! `phishloop analyze`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use phishloop_analysis::{Analyzer, Mode};
use phishloop_triage::Triage;

use crate::config::Settings;
use crate::exit;
use crate::files::{self, Input};
use crate::summary;

/// Analyses every input and prints the results. Returns the exit code.
pub fn run(settings: &Settings, paths: &[PathBuf], json: bool, mode: Mode, decide: bool) -> Result<u8> {
    let analyzer = Analyzer::new(settings.analysis.clone(), mode).context("invalid analysis configuration")?;
    let triage =
        if decide { Some(Triage::new(settings.triage.clone()).context("invalid triage configuration")?) } else { None };
    let inputs = files::expand(paths);
    let progress = progress_bar(inputs.len());

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = 0usize;
    let mut messages = 0usize;
    for input in &inputs {
        progress.inc(1);
        let path = match input {
            Input::File(path) => path,
            Input::Error { path, reason } => {
                failed += 1;
                progress.suspend(|| eprintln!("phishloop: cannot read {}: {reason}", path.display()));
                continue;
            }
        };
        let bytes = match files::read(path) {
            Ok(bytes) => bytes,
            Err(reason) => {
                failed += 1;
                progress.suspend(|| eprintln!("phishloop: cannot read {}: {reason}", path.display()));
                continue;
            }
        };
        let display = path.display().to_string();
        let mut records = match analyzer.analyze_input(Some(&display), &bytes) {
            Ok(records) => records,
            Err(error) => {
                failed += 1;
                progress.suspend(|| eprintln!("phishloop: cannot analyse {display}: {error}"));
                continue;
            }
        };
        if let Some(triage) = &triage {
            for record in &mut records {
                record.decision = Some(triage.decide(record));
            }
        }
        for record in &records {
            messages += 1;
            if json {
                serde_json::to_writer(&mut out, record)?;
                writeln!(out)?;
            } else {
                summary::write(&mut out, record)?;
            }
        }
    }
    out.flush()?;
    progress.finish_and_clear();

    if inputs.len() > 1 || failed > 0 {
        eprintln!("phishloop: {} file(s), {messages} message(s) analysed, {failed} file(s) unreadable", inputs.len());
    }
    Ok(if failed > 0 { exit::INPUT_FAILED } else { exit::OK })
}

/// A progress bar on standard error when it is a terminal and the run is
/// long enough to need one.
fn progress_bar(total: usize) -> ProgressBar {
    if total < 50 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed}") {
        bar.set_style(style);
    }
    bar
}
