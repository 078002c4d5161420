//! `phishloop eval`: decision quality on labelled folders.
//!
//! Verdicts map to classes for precision and recall: `malicious` and
//! `suspicious` are phish, `spam` is spam, `benign` and `simulation` are
//! ham. A phishing message counts as detected with any verdict but `benign`
//! or `simulation`; a legitimate message counts as flagged with any verdict
//! but `benign`. Messages in the model's training split are skipped, so
//! that nothing is evaluated on what the model learnt from. `--all` turns
//! this off for folders that hold none of the model's training corpus.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use phishloop_analysis::{Analyzer, Mode};
use phishloop_model::Verdict;
use phishloop_triage::Triage;
use phishloop_triage::model::{CLASSES, HAM, PHISH, SPAM};
use serde::Serialize;

use crate::config::Settings;
use crate::exit;
use crate::labelled;

const VERDICTS: [Verdict; 5] =
    [Verdict::Malicious, Verdict::Suspicious, Verdict::Spam, Verdict::Benign, Verdict::Simulation];

/// Figures for a set of messages.
#[derive(Debug, Default, Serialize)]
struct Metrics {
    messages: usize,
    /// Messages per true label.
    labels: BTreeMap<String, usize>,
    /// Rows are true labels, columns verdicts.
    confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// Precision and recall per class, where verdicts map to classes.
    precision: BTreeMap<String, Option<f64>>,
    recall: BTreeMap<String, Option<f64>>,
    /// Share of phishing messages given any verdict but benign or
    /// simulation.
    phish_detected: Option<f64>,
    /// Share of legitimate messages given any verdict but benign.
    legitimate_flagged: Option<f64>,
    /// Share of messages decided without review.
    automation_rate: Option<f64>,
    #[serde(skip)]
    counts: [[usize; 5]; 3],
    #[serde(skip)]
    automated: usize,
}

#[derive(Debug, Serialize)]
struct Evaluation {
    model: Option<String>,
    /// Share of each corpus the model was trained on; those messages are
    /// skipped.
    training_share: Option<f64>,
    /// False with `--all`: every message was evaluated.
    training_part_skipped: bool,
    evaluated: usize,
    skipped_training: usize,
    skipped_duplicates: usize,
    overall: Metrics,
    folders: BTreeMap<String, Metrics>,
}

pub fn run(settings: &Settings, roots: &[PathBuf], json: bool, all: bool) -> Result<u8> {
    let analyzer = Analyzer::new(settings.analysis.clone(), Mode::Auto).context("invalid analysis configuration")?;
    let triage = Triage::new(settings.triage.clone()).context("invalid triage configuration")?;
    let split = triage.model().map(|model| model.split);

    let mut evaluation = Evaluation {
        model: triage.model().map(|model| model.name.clone()),
        training_share: split.map(|split| split.train_share),
        training_part_skipped: !all,
        evaluated: 0,
        skipped_training: 0,
        skipped_duplicates: 0,
        overall: Metrics::default(),
        folders: BTreeMap::new(),
    };
    for root in roots {
        if !root.is_dir() {
            bail!("{} is not a folder; give folders whose subfolders are named phish, spam and ham", root.display());
        }
        let (files, duplicates) = labelled::read(root);
        evaluation.skipped_duplicates += duplicates;
        for file in files {
            if !all && split.is_some_and(|split| split.is_training(&file.sha256)) {
                evaluation.skipped_training += 1;
                continue;
            }
            let name = file.path.display().to_string();
            let Ok(records) = analyzer.analyze_input(Some(&name), &file.bytes) else {
                continue;
            };
            let Some(record) = records.first() else {
                continue;
            };
            let decision = triage.decide(record);
            evaluation.evaluated += 1;
            evaluation.overall.add(file.label, decision.verdict, !decision.needs_review);
            evaluation.folders.entry(file.group.clone()).or_default().add(
                file.label,
                decision.verdict,
                !decision.needs_review,
            );
        }
    }
    if evaluation.evaluated == 0 {
        bail!("no labelled messages to evaluate: expected subfolders named phish, spam or ham");
    }
    evaluation.overall.finish();
    for metrics in evaluation.folders.values_mut() {
        metrics.finish();
    }

    if json {
        println!("{}", serde_json::to_string_pretty(&evaluation)?);
    } else {
        print(&evaluation);
    }
    Ok(exit::OK)
}

impl Metrics {
    fn add(&mut self, label: usize, verdict: Verdict, automated: bool) {
        let column = VERDICTS.iter().position(|known| *known == verdict).unwrap_or(3);
        self.counts[label][column] += 1;
        self.messages += 1;
        self.automated += usize::from(automated);
    }

    fn finish(&mut self) {
        let class_of_column = [PHISH, PHISH, SPAM, HAM, HAM];
        for (label, row) in self.counts.iter().enumerate() {
            let total: usize = row.iter().sum();
            if total == 0 {
                continue;
            }
            self.labels.insert(CLASSES[label].to_string(), total);
            let cells = VERDICTS.iter().zip(row).map(|(verdict, count)| (verdict_name(*verdict), *count)).collect();
            self.confusion.insert(CLASSES[label].to_string(), cells);
        }
        for (class, class_name) in CLASSES.iter().enumerate() {
            let predicted: usize = (0..3)
                .map(|label| {
                    (0..5)
                        .filter(|&column| class_of_column[column] == class)
                        .map(|column| self.counts[label][column])
                        .sum::<usize>()
                })
                .sum();
            let correct: usize = (0..5)
                .filter(|&column| class_of_column[column] == class)
                .map(|column| self.counts[class][column])
                .sum();
            let actual: usize = self.counts[class].iter().sum();
            self.precision.insert(class_name.to_string(), ratio(correct, predicted));
            self.recall.insert(class_name.to_string(), ratio(correct, actual));
        }
        let phish_total: usize = self.counts[PHISH].iter().sum();
        let phish_missed = self.counts[PHISH][3] + self.counts[PHISH][4];
        self.phish_detected = ratio(phish_total - phish_missed, phish_total);
        let ham_total: usize = self.counts[HAM].iter().sum();
        self.legitimate_flagged = ratio(ham_total - self.counts[HAM][3], ham_total);
        self.automation_rate = ratio(self.automated, self.messages);
    }
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

fn verdict_name(verdict: Verdict) -> String {
    crate::summary::snake_name(&verdict)
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |value| format!("{:.1}%", value * 100.0))
}

fn print(evaluation: &Evaluation) {
    match (&evaluation.model, evaluation.training_share) {
        (Some(model), Some(_)) if !evaluation.training_part_skipped => println!(
            "model {model}; every message evaluated (--all), {}: do not use it on the model's own training corpus",
            evaluation.evaluated
        ),
        (Some(model), Some(share)) => println!(
            "model {model}, trained on {:.0}% of its corpus by SHA-256; {} messages of that part skipped, {} evaluated",
            share * 100.0,
            evaluation.skipped_training,
            evaluation.evaluated
        ),
        _ => println!("no model; {} messages evaluated", evaluation.evaluated),
    }
    if evaluation.skipped_duplicates > 0 {
        println!("duplicate files counted once: {}", evaluation.skipped_duplicates);
    }
    println!();
    println!("{:<34} {:>8} {:>10} {:>10} {:>10}", "folder", "messages", "detected", "flagged", "automated");
    for (name, metrics) in &evaluation.folders {
        print_row(name, metrics);
    }
    print_row("all", &evaluation.overall);

    let overall = &evaluation.overall;
    println!();
    println!("confusion (rows: label, columns: verdict)");
    println!("{:<8} {:>10} {:>10} {:>8} {:>8} {:>10}", "", "malicious", "suspicious", "spam", "benign", "simulation");
    for (label, row) in &overall.confusion {
        let cells: Vec<String> =
            VERDICTS.iter().map(|verdict| row.get(&verdict_name(*verdict)).copied().unwrap_or(0).to_string()).collect();
        println!("{:<8} {:>10} {:>10} {:>8} {:>8} {:>10}", label, cells[0], cells[1], cells[2], cells[3], cells[4]);
    }
    println!();
    for class in CLASSES {
        println!(
            "{class:<6} precision {:>7}  recall {:>7}",
            percent(overall.precision.get(class).copied().flatten()),
            percent(overall.recall.get(class).copied().flatten())
        );
    }
}

fn print_row(name: &str, metrics: &Metrics) {
    println!(
        "{:<34} {:>8} {:>10} {:>10} {:>10}",
        name,
        metrics.messages,
        percent(metrics.phish_detected),
        percent(metrics.legitimate_flagged),
        percent(metrics.automation_rate)
    );
}
