//! `phishloop bench`: throughput of analysis, and of analysis followed by
//! triage, against a bare MIME parse.
//!
//! All messages are read into memory first, so that disk speed is not
//! measured. Each measurement runs `repeat` passes on the current thread,
//! in turn with the others, and keeps the fastest, which filters out noise
//! from other processes.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use phishloop_analysis::{Analyzer, Mode};
use phishloop_model::{AnalysisRecord, Source};
use phishloop_triage::Triage;
use serde::Serialize;

use crate::config::Settings;
use crate::exit;
use crate::files::{self, Input};

/// The figures `phishloop bench --json` prints.
#[derive(Debug, Serialize)]
struct Figures {
    files: usize,
    messages: usize,
    bytes: u64,
    repeat: usize,
    parse_only_seconds: f64,
    parse_only_messages_per_second: f64,
    parse_only_megabytes_per_second: f64,
    analysis_seconds: f64,
    messages_per_second: f64,
    megabytes_per_second: f64,
    /// Analysis throughput as a share of parse-only throughput.
    ratio_to_parse_only: f64,
    triage_seconds: f64,
    /// Analysis followed by triage (rules and model), per second.
    triage_messages_per_second: f64,
    triage_megabytes_per_second: f64,
    /// Analysis plus triage throughput as a share of parse-only throughput.
    triage_ratio_to_parse_only: f64,
    /// Peak resident memory of the process in bytes (Linux only).
    peak_rss_bytes: Option<u64>,
}

pub fn run(settings: &Settings, dir: &Path, json: bool, repeat: usize) -> Result<u8> {
    let analyzer = Analyzer::new(settings.analysis.clone(), Mode::Auto).context("invalid analysis configuration")?;
    let triage = Triage::new(settings.triage.clone()).context("invalid triage configuration")?;
    let (file_count, messages) = load(dir)?;
    if messages.is_empty() {
        bail!("no messages found in {}", dir.display());
    }
    let bytes: u64 = messages.iter().map(|message| message.len() as u64).sum();

    // Take the measurements in turn so that all see the same machine
    // conditions (other load, frequency changes), and keep the fastest pass
    // of each.
    let mut parse_time = Duration::MAX;
    let mut analysis_time = Duration::MAX;
    let mut triage_time = Duration::MAX;
    for _ in 0..repeat {
        parse_time = parse_time.min(timed(|| {
            for message in &messages {
                black_box(phishloop_analysis::parse_only(black_box(message)));
            }
        }));
        analysis_time = analysis_time.min(timed(|| {
            for message in &messages {
                black_box(analyze(&analyzer, black_box(message)));
            }
        }));
        triage_time = triage_time.min(timed(|| {
            for message in &messages {
                for mut record in analyze(&analyzer, black_box(message)) {
                    record.decision = Some(triage.decide(&record));
                    black_box(record);
                }
            }
        }));
    }

    let count = messages.len() as f64;
    let megabytes = bytes as f64 / 1_000_000.0;
    let parse_seconds = parse_time.as_secs_f64();
    let analysis_seconds = analysis_time.as_secs_f64();
    let triage_seconds = triage_time.as_secs_f64();
    let figures = Figures {
        files: file_count,
        messages: messages.len(),
        bytes,
        repeat,
        parse_only_seconds: parse_seconds,
        parse_only_messages_per_second: count / parse_seconds,
        parse_only_megabytes_per_second: megabytes / parse_seconds,
        analysis_seconds,
        messages_per_second: count / analysis_seconds,
        megabytes_per_second: megabytes / analysis_seconds,
        ratio_to_parse_only: parse_seconds / analysis_seconds,
        triage_seconds,
        triage_messages_per_second: count / triage_seconds,
        triage_megabytes_per_second: megabytes / triage_seconds,
        triage_ratio_to_parse_only: parse_seconds / triage_seconds,
        peak_rss_bytes: peak_rss(),
    };

    if json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        print_table(&figures);
    }
    Ok(exit::OK)
}

fn analyze(analyzer: &Analyzer, message: &[u8]) -> Vec<AnalysisRecord> {
    let source = Source {
        path: None,
        index: 0,
        size: message.len() as u64,
        sha256: String::new(),
        format: phishloop_analysis::input_format(message),
    };
    analyzer.analyze_message(source, message)
}

/// Reads every message below `dir`: files are split like `analyze` splits
/// them (mbox files into messages, .msg files converted).
fn load(dir: &Path) -> Result<(usize, Vec<Vec<u8>>)> {
    let mut files_read = 0;
    let mut messages = Vec::new();
    for input in files::expand(&[dir.to_path_buf()]) {
        let Input::File(path) = input else {
            continue;
        };
        let Ok(bytes) = files::read(&path) else {
            eprintln!("phishloop: skipping unreadable {}", path.display());
            continue;
        };
        files_read += 1;
        match phishloop_intake::split_input(&bytes) {
            Ok(split) => messages.extend(split.into_iter().map(|message| message.bytes.into_owned())),
            Err(error) => eprintln!("phishloop: skipping {}: {error}", path.display()),
        }
    }
    Ok((files_read, messages))
}

fn timed(pass: impl FnOnce()) -> Duration {
    let start = Instant::now();
    pass();
    start.elapsed().max(Duration::from_nanos(1))
}

fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

fn print_table(figures: &Figures) {
    println!(
        "{} messages from {} files, {:.1} MB, best of {} passes, one thread",
        figures.messages,
        figures.files,
        figures.bytes as f64 / 1_000_000.0,
        figures.repeat
    );
    println!("{:<22} {:>12} {:>12} {:>10}", "", "messages/s", "MB/s", "seconds");
    println!(
        "{:<22} {:>12.0} {:>12.1} {:>10.3}",
        "MIME parse only",
        figures.parse_only_messages_per_second,
        figures.parse_only_megabytes_per_second,
        figures.parse_only_seconds
    );
    println!(
        "{:<22} {:>12.0} {:>12.1} {:>10.3}",
        "full analysis", figures.messages_per_second, figures.megabytes_per_second, figures.analysis_seconds
    );
    println!(
        "{:<22} {:>12.0} {:>12.1} {:>10.3}",
        "analysis and triage",
        figures.triage_messages_per_second,
        figures.triage_megabytes_per_second,
        figures.triage_seconds
    );
    println!("analysis / parse-only throughput: {:.2}", figures.ratio_to_parse_only);
    println!("analysis and triage / parse-only throughput: {:.2}", figures.triage_ratio_to_parse_only);
    if let Some(rss) = figures.peak_rss_bytes {
        println!("peak resident memory: {:.0} MB", rss as f64 / 1_000_000.0);
    }
}
