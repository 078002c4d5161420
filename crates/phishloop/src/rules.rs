//! `phishloop rules test` and `phishloop rules list`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use phishloop_analysis::{Analyzer, Config, Mode};
use phishloop_triage::RuleSettings;
use phishloop_triage::rules::{RuleSet, Variables};

use crate::config::Settings;
use crate::exit;

/// Loads the rules to test: the given folders, or else the built-in rules
/// and the configured folders.
fn load(settings: &Settings, folders: &[PathBuf]) -> Result<RuleSet> {
    let rules = if folders.is_empty() {
        RuleSet::load(settings.triage.built_in_rules, &settings.triage.rule_folders)
    } else {
        RuleSet::load(false, folders)
    };
    Ok(rules?)
}

/// Runs every example of every rule. Returns exit code 1 when one fails.
pub fn test(settings: &Settings, folders: &[PathBuf]) -> Result<u8> {
    let rules = load(settings, folders)?;
    let default_analyzer =
        Analyzer::new(settings.analysis.clone(), Mode::Auto).context("invalid analysis configuration")?;

    let mut failures = 0usize;
    let mut examples = 0usize;
    let mut incomplete = Vec::new();
    for (index, rule) in rules.rules().iter().enumerate() {
        let has_match = rule.examples.iter().any(|example| example.matches);
        let has_non_match = rule.examples.iter().any(|example| !example.matches);
        if !has_match || !has_non_match {
            incomplete.push(rule.id.clone());
        }
        for (number, example) in rule.examples.iter().enumerate() {
            examples += 1;
            let outcome = run_example(settings, &default_analyzer, &rules, index, example);
            match outcome {
                Ok(matched) if matched == example.matches => {}
                Ok(matched) => {
                    failures += 1;
                    let expected = if example.matches { "match" } else { "not match" };
                    let actual = if matched { "matched" } else { "did not match" };
                    println!("FAIL {} ({}): example {} should {expected} but {actual}", rule.id, rule.file, number + 1);
                }
                Err(reason) => {
                    failures += 1;
                    println!("FAIL {} ({}): example {}: {reason}", rule.id, rule.file, number + 1);
                }
            }
        }
    }

    println!("{} rules, {examples} examples, {failures} failed", rules.rules().len());
    if !incomplete.is_empty() {
        println!("rules without both a matching and a non-matching example: {}", incomplete.join(", "));
    }
    Ok(if failures > 0 { exit::INPUT_FAILED } else { exit::OK })
}

fn run_example(
    settings: &Settings,
    default_analyzer: &Analyzer,
    rules: &RuleSet,
    index: usize,
    example: &phishloop_triage::rules::Example,
) -> Result<bool, String> {
    let own_analyzer;
    let analyzer = match &example.analysis_config {
        Some(text) => {
            let config: Config = toml::from_str(text).map_err(|error| format!("invalid analysis_config: {error}"))?;
            own_analyzer = Analyzer::new(config, Mode::Auto).map_err(|error| error.to_string())?;
            &own_analyzer
        }
        None => default_analyzer,
    };
    let records =
        analyzer.analyze_input(Some("example"), example.message.as_bytes()).map_err(|error| error.to_string())?;
    let record = records.first().ok_or("the example gives no message")?;
    let mut rule_settings: RuleSettings = match &example.rule_settings {
        Some(text) => toml::from_str(text).map_err(|error| format!("invalid rule_settings: {error}"))?,
        None => settings.triage.rule_settings.clone(),
    };
    rule_settings.normalize();
    let variables = Variables::new(record.message.as_ref(), &record.report, &rule_settings)
        .map_err(|error| format!("cannot convert the analysis for rules: {error}"))?;
    rules.evaluate_one(index, &variables)
}

/// Prints every rule with its file, category and weight.
pub fn list(settings: &Settings, folders: &[PathBuf]) -> Result<u8> {
    let rules = load(settings, folders)?;
    for rule in rules.rules() {
        println!(
            "{:<44} {:>5.2} {:<22} {}",
            rule.id,
            rule.weight,
            crate::summary::snake_name(&rule.category),
            rule.file
        );
    }
    Ok(exit::OK)
}
