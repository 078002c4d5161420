//! `phishloop train`: trains the statistical model on labelled folders.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use phishloop_analysis::{Analyzer, Mode};
use phishloop_triage::features;
use phishloop_triage::model::{Example, HAM, Model, PHISH, SPAM, Split, TrainOptions};

use crate::config::Settings;
use crate::exit;
use crate::labelled::{self, LabelledFile};

/// Options of `phishloop train`.
pub struct TrainArguments {
    pub phish: Vec<PathBuf>,
    pub ham: Vec<PathBuf>,
    pub spam: Vec<PathBuf>,
    pub out: PathBuf,
    pub train_share: f64,
    pub name: String,
    pub epochs: usize,
    pub l2: f64,
    pub balance_sources: bool,
}

pub fn run(settings: &Settings, arguments: &TrainArguments) -> Result<u8> {
    if !(0.0..=1.0).contains(&arguments.train_share) || arguments.train_share == 0.0 {
        bail!("--train-share must be greater than 0 and at most 1, got {}", arguments.train_share);
    }
    if arguments.epochs == 0 || arguments.epochs > 1000 {
        bail!("--epochs must be between 1 and 1000, got {}", arguments.epochs);
    }
    if !(0.0..1.0).contains(&arguments.l2) {
        bail!("--l2 must be at least 0 and below 1, got {}", arguments.l2);
    }
    let split = Split { train_share: arguments.train_share };
    let analyzer = Analyzer::new(settings.analysis.clone(), Mode::Auto).context("invalid analysis configuration")?;

    let mut files: Vec<LabelledFile> = Vec::new();
    for (folders, label) in [(&arguments.phish, PHISH), (&arguments.spam, SPAM), (&arguments.ham, HAM)] {
        for folder in folders {
            if !folder.is_dir() {
                bail!("{} is not a folder", folder.display());
            }
            files.extend(labelled::read_as(folder, label));
        }
    }
    // A fixed order (by content hash) makes training independent of how
    // the folders were listed; duplicates count once.
    files.sort_by_key(|file| file.sha256);
    files.dedup_by(|left, right| left.sha256 == right.sha256);

    let training: Vec<&LabelledFile> = files.iter().filter(|file| split.is_training(&file.sha256)).collect();
    let held_out = files.len() - training.len();
    // Source balancing: a message counts 1/sqrt(n) where n is the number of
    // training messages from its source folder, so that one large archive
    // (a busy mailing list) does not define a whole class on its own.
    let mut source_sizes: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for file in &training {
        *source_sizes.entry(file.group.as_str()).or_default() += 1;
    }
    let mut examples = Vec::with_capacity(training.len());
    for file in &training {
        let weight =
            if arguments.balance_sources { 1.0 / (source_sizes[file.group.as_str()] as f64).sqrt() } else { 1.0 };
        examples.push(Example { features: features_of(&analyzer, &file.path, &file.bytes), label: file.label, weight });
    }
    if examples.is_empty() {
        bail!("no training messages: the folders are empty or --train-share is too small");
    }

    let options = TrainOptions { epochs: arguments.epochs, l2: arguments.l2, ..TrainOptions::default() };
    let model = Model::train(&arguments.name, split, &examples, &options);
    write_model(&model, &arguments.out)?;
    println!(
        "trained {} on {} messages (phish {}, spam {}, ham {}); {held_out} messages held out for evaluation",
        arguments.name,
        examples.len(),
        model.trained_on[PHISH],
        model.trained_on[SPAM],
        model.trained_on[HAM]
    );
    println!("wrote {}", arguments.out.display());
    Ok(exit::OK)
}

/// Model features of a file; an unreadable .msg gives the features of a
/// message without an original.
pub fn features_of(analyzer: &Analyzer, path: &Path, bytes: &[u8]) -> Vec<u32> {
    let name = path.display().to_string();
    match analyzer.analyze_input(Some(&name), bytes) {
        Ok(records) => records.first().map(features::extract).unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

fn write_model(model: &Model, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    model.write(&mut bytes)?;
    std::fs::write(path, bytes).with_context(|| format!("cannot write the model to {}", path.display()))
}
