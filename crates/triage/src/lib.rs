//! Triage: a decision for every analysed message.
//!
//! Rules (CEL expressions over the analysis output, see [`rules`]) and a
//! statistical model (see [`model`]) each give evidence; [`Triage::decide`]
//! fuses them into one [`Decision`]:
//!
//! 1. A message whose original could not be analysed is `suspicious`, with
//!    confidence 0, and goes to review. So does input that is no email
//!    message (no header fields), but its matching rules are listed as
//!    evidence and name the category.
//! 2. A matching simulation rule makes the verdict `simulation`.
//! 3. Otherwise the rule evidence is the noisy-or of the weights of the
//!    matching rules, `r = 1 - Π(1 - w)`. The model gives probabilities
//!    `p_phish` and `p_ham`. A confident legitimate rating lowers what the
//!    rules count, `r' = r · (1 - model_veto · p_ham)`, and the model's
//!    phishing probability joins as one more noisy-or term:
//!    `s = 1 - (1 - r') · (1 - model_weight · p_phish)`. Benign rules
//!    (negative weights) scale the result down by `Π(1 + w)`, so that they
//!    weigh against the model as well as against other rules. The result is
//!    the score.
//! 4. The score decides the verdict: `malicious` at `malicious_score` or
//!    above, `suspicious` at `suspicious_score` or above; below, `spam` when
//!    the model finds spam the likeliest class, else `benign`.
//! 5. The category is the one with the largest summed weight among the
//!    matching rules; `marketing` for spam and `none` for benign mail.
//! 6. Confidence is the score for `malicious`, one minus it for `benign`,
//!    the spam probability for `spam`, and the distance from the nearer
//!    threshold (scaled to 0..1) for `suspicious`. Below `review_confidence`,
//!    or for any `suspicious` verdict, the decision needs review.

mod conjuncts;
mod direct;
pub mod features;
mod header_fields;
pub mod model;
pub mod rules;
mod tree;
mod values;

use std::path::PathBuf;

use phishloop_model::{
    AnalysisRecord, Category, Decision, Evidence, EvidenceSource, MessageAnalysis, ModelOutput, ParseStatus, Verdict,
};
use serde::{Deserialize, Serialize};

use crate::model::{HAM, Model, PHISH, SPAM};
use crate::rules::{RuleError, RuleSet, RuleVerdict, Settings, Variables};

/// The default model, trained on part of the development corpus; see
/// docs/triage.md for the split and its evaluation.
pub const DEFAULT_MODEL: &[u8] = include_bytes!("../model/default.plm");

/// Triage settings: the `[triage]` table of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Score at or above which a message is `malicious`.
    pub malicious_score: f64,
    /// Score at or above which a message is `suspicious`.
    pub suspicious_score: f64,
    /// Confidence below which a decision goes to review.
    pub review_confidence: f64,
    /// How much the model's phishing probability counts (0 ignores the
    /// model, 1 trusts it as much as a rule of weight 1).
    pub model_weight: f64,
    /// How much a confident legitimate rating by the model lowers the rule
    /// evidence (0: not at all; 1: a certain `ham` rating cancels it).
    pub model_veto: f64,
    /// Load the built-in rule pack.
    pub built_in_rules: bool,
    /// Folders of additional rule files (`*.toml`).
    pub rule_folders: Vec<PathBuf>,
    /// A model file to use instead of the built-in one; `"none"` disables
    /// the model.
    pub model: Option<String>,
    /// Whether the marks of a simulation (its headers, Gophish tracking, its
    /// link domains) prove a simulation alone. Off by default, because anyone
    /// can write them into a phish. Turn it on only when the mail gateway
    /// removes those headers from mail that is not the simulation tool's.
    pub trust_simulation_marks: bool,
    /// What rules see as `config`.
    pub rule_settings: RuleSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            malicious_score: 0.8,
            suspicious_score: 0.5,
            review_confidence: 0.7,
            model_weight: 0.9,
            model_veto: 0.4,
            built_in_rules: true,
            rule_folders: Vec::new(),
            model: None,
            trust_simulation_marks: false,
            rule_settings: RuleSettings::default(),
        }
    }
}

/// Lists that rules read as `config.<name>`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleSettings {
    /// Header names that mark authorised phishing simulations, lowercase.
    pub simulation_headers: Vec<String>,
    /// Sender domains of the organisation's simulation tool.
    pub simulation_domains: Vec<String>,
    /// Domains of links used by the organisation's simulations.
    pub simulation_link_domains: Vec<String>,
    /// Regular expression for link hosts on the reader's own network
    /// (private, loopback and link-local addresses), which are not sites
    /// an attacker hosts.
    pub private_address_pattern: String,
    /// Regular expression for file names of scripts developers exchange
    /// (Python, shell), weighed lower than programs that run on Windows.
    pub developer_file_pattern: String,
}

impl Default for RuleSettings {
    fn default() -> Self {
        RuleSettings {
            // Defaults of common simulation tools: KnowBe4 (X-PHISHTEST,
            // X-PHISH-CRID), Gophish (X-Gophish-Contact), Cofense PhishMe
            // (X-PhishMe, X-PhishMeTracking), Proofpoint ThreatSim.
            simulation_headers: [
                "x-phishtest",
                "x-phish-crid",
                "x-gophish-contact",
                "x-phishme",
                "x-phishmetracking",
                "x-threatsim-id",
                "x-threatsim-header",
            ]
            .map(str::to_string)
            .to_vec(),
            simulation_domains: Vec::new(),
            simulation_link_domains: Vec::new(),
            private_address_pattern:
                r"^(10\.|127\.|169\.254\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|\[?(::1\]?$|f[cd][0-9a-f]{2}:|fe80:))"
                    .to_string(),
            developer_file_pattern: r"(?i)\.(py|pyw|sh|bash|command)$".to_string(),
        }
    }
}

impl RuleSettings {
    /// Lowercases header names and domains, which rules compare with
    /// lowercased values of the message.
    pub fn normalize(&mut self) {
        for list in [&mut self.simulation_headers, &mut self.simulation_domains, &mut self.simulation_link_domains] {
            for item in list.iter_mut() {
                *item = item.trim().to_ascii_lowercase();
            }
        }
    }
}

/// Why triage could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error(transparent)]
    Rules(#[from] RuleError),
    #[error("cannot read model file {path}: {reason}")]
    ModelFile { path: String, reason: String },
    #[error("invalid model file {path}: {reason}")]
    Model { path: String, reason: String },
    #[error("invalid triage threshold: {0}")]
    Threshold(String),
    #[error("invalid [triage.rule_settings]: {0}")]
    Settings(String),
}

/// Rules, model and settings, ready to decide.
#[derive(Debug)]
pub struct Triage {
    config: Config,
    rules: RuleSet,
    model: Option<Model>,
    /// `config.rule_settings` as rules see it, converted once.
    rule_settings: Settings,
}

impl Triage {
    /// Loads the rules and the model named by the configuration.
    ///
    /// # Errors
    ///
    /// Returns [`TriageError`] for rules that do not compile, an unreadable
    /// or invalid model file, or thresholds out of order.
    pub fn new(mut config: Config) -> Result<Self, TriageError> {
        config.rule_settings.normalize();
        let ordered = (0.0..=1.0).contains(&config.suspicious_score)
            && (0.0..=1.0).contains(&config.malicious_score)
            && config.suspicious_score <= config.malicious_score;
        if !ordered {
            return Err(TriageError::Threshold(format!(
                "suspicious_score {} and malicious_score {} must lie in 0..1 with suspicious_score <= malicious_score",
                config.suspicious_score, config.malicious_score
            )));
        }
        for (name, value) in [
            ("review_confidence", config.review_confidence),
            ("model_weight", config.model_weight),
            ("model_veto", config.model_veto),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(TriageError::Threshold(format!("{name} is {value}; it must lie in 0..1")));
            }
        }
        let rules = RuleSet::load(config.built_in_rules, &config.rule_folders)?;
        let model = match config.model.as_deref() {
            Some("none") => None,
            Some(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|error| TriageError::ModelFile { path: path.to_string(), reason: error.to_string() })?;
                Some(
                    Model::read(&bytes[..])
                        .map_err(|error| TriageError::Model { path: path.to_string(), reason: error.to_string() })?,
                )
            }
            None => Some(Model::read(DEFAULT_MODEL).map_err(|error| TriageError::Model {
                path: "built-in model".to_string(),
                reason: error.to_string(),
            })?),
        };
        let rule_settings = rules
            .settings(&cel::to_value(&config.rule_settings).map_err(|error| TriageError::Settings(error.to_string()))?);
        Ok(Triage { config, rules, model, rule_settings })
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    pub fn model(&self) -> Option<&Model> {
        self.model.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Decides what a record is.
    pub fn decide(&self, record: &AnalysisRecord) -> Decision {
        let Some(message) = &record.message else {
            return Decision {
                verdict: Verdict::Suspicious,
                category: Category::None,
                confidence: 0.0,
                needs_review: true,
                review_reasons: vec![
                    record
                        .report
                        .reason
                        .clone()
                        .unwrap_or_else(|| "the reported original could not be analysed".to_string()),
                ],
                score: 0.5,
                model: None,
                evidence: Vec::new(),
            };
        };

        if let Some(reason) = not_a_message(&message.parse) {
            // The rules that match still show the reviewer what the text
            // contains (a look-alike link, a credential request), but they do
            // not decide. Rules over header fields would only read the
            // empty values of a missing header block, so they are left out.
            let mut evidence = self.rule_evidence(record);
            evidence
                .retain(|item| self.rules.rules().iter().any(|rule| rule.id == item.id && !rule.reads_header_fields()));
            sort_and_cap(&mut evidence);
            return Decision {
                verdict: Verdict::Suspicious,
                category: strongest_category(&evidence).unwrap_or(Category::None),
                confidence: 0.0,
                needs_review: true,
                review_reasons: vec![reason],
                score: 0.5,
                model: None,
                evidence,
            };
        }

        let mut evidence = self.rule_evidence(record);
        // Simulation marks decide only for a sender that is the simulation
        // tool's beyond doubt, because a phish can carry the same marks.
        let simulation_marks: Vec<String> = self
            .rules
            .rules()
            .iter()
            .filter(|rule| {
                rule.verdict == Some(RuleVerdict::Simulation) && evidence.iter().any(|item| item.id == rule.id)
            })
            .map(|rule| rule.id.clone())
            .collect();
        let simulation = !simulation_marks.is_empty()
            && (self.config.trust_simulation_marks
                || authenticated_simulation_sender(message, &self.config.rule_settings.simulation_domains));
        let (rule_evidence, benign) = rule_score(&evidence);

        let (features, origins) = features::extract_with_origins(record);
        let distinct = features::distinct(&features);
        let probabilities = self.model.as_ref().map(|model| model.predict_distinct(&distinct));
        let model_phish = probabilities.map_or(0.0, |p| p[PHISH]);
        let model_ham = probabilities.map_or(0.0, |p| p[HAM]);
        let rule_evidence = rule_evidence * (1.0 - self.config.model_veto * model_ham);
        let score = (1.0 - (1.0 - rule_evidence) * (1.0 - self.config.model_weight * model_phish)) * benign;

        let (verdict, confidence) = self.verdict(simulation, score, probabilities);
        let category = match verdict {
            Verdict::Spam => Category::Marketing,
            Verdict::Benign => Category::None,
            _ => strongest_category(&evidence).unwrap_or(Category::None),
        };
        if let (Some(model), Some(probabilities)) = (&self.model, probabilities)
            && matches!(verdict, Verdict::Malicious | Verdict::Suspicious)
            && probabilities[PHISH] >= 0.5
        {
            let features = Extracted { features: &features, origins: &origins, distinct: &distinct };
            evidence.push(model_evidence(model, record, &features, probabilities[PHISH], category));
        }
        sort_and_cap(&mut evidence);

        let mut review_reasons = Vec::new();
        if verdict == Verdict::Suspicious {
            review_reasons.push("suspicious: the evidence is not strong enough to act alone".to_string());
        } else if round(confidence) < self.config.review_confidence {
            review_reasons.push(format!(
                "confidence {} is below the review threshold {}",
                round(confidence),
                self.config.review_confidence
            ));
        }
        // The model learnt spam from bulk mail of outside senders, and it
        // misreads short notes between colleagues as such.
        if verdict == Verdict::Spam && message.sender.from_internal {
            review_reasons.push(
                "spam from one of the organisation's own domains: internal mail is seldom bulk mail, so a person \
                 should check it"
                    .to_string(),
            );
        }
        if !simulation && !simulation_marks.is_empty() {
            review_reasons.push(format!(
                "marked as a phishing simulation ({}), but the sender is not a domain of \
                 simulation_domains with DMARC passed at the boundary: confirm with the simulation's owners",
                simulation_marks.join(", ")
            ));
        }
        if record.report.needs_manual_review {
            review_reasons
                .push(record.report.reason.clone().unwrap_or_else(|| "intake asked for manual review".to_string()));
        }
        match message.parse.status {
            ParseStatus::Malformed => {
                review_reasons.push("the message is malformed; analysis may have missed content".to_string());
            }
            ParseStatus::Partial => {
                review_reasons.push("the message was only partly parsed; analysis may have missed content".to_string());
            }
            _ => {}
        }

        Decision {
            verdict,
            category,
            confidence: round(confidence),
            needs_review: !review_reasons.is_empty(),
            review_reasons,
            score: round(score),
            model: probabilities.map(|p| ModelOutput {
                phish: round(p[PHISH]),
                spam: round(p[SPAM]),
                ham: round(p[HAM]),
                name: self.model.as_ref().map(|model| model.name.clone()).unwrap_or_default(),
            }),
            evidence,
        }
    }

    fn rule_evidence(&self, record: &AnalysisRecord) -> Vec<Evidence> {
        let variables =
            Variables::with_shared_settings(record.message.as_ref(), &record.report, self.rule_settings.clone());
        self.rules
            .evaluate(&variables)
            .into_iter()
            .map(|hit| {
                let rule = &self.rules.rules()[hit.rule];
                Evidence {
                    source: EvidenceSource::Rule,
                    id: rule.id.clone(),
                    description: rule.description.clone(),
                    category: rule.category,
                    weight: rule.weight,
                    locations: hit.locations,
                }
            })
            .collect()
    }

    fn verdict(&self, simulation: bool, score: f64, probabilities: Option<[f64; 3]>) -> (Verdict, f64) {
        let config = &self.config;
        if simulation {
            return (Verdict::Simulation, 0.95);
        }
        if score >= config.malicious_score {
            return (Verdict::Malicious, score);
        }
        if score >= config.suspicious_score {
            let half_width = ((config.malicious_score - config.suspicious_score) / 2.0).max(1e-9);
            let distance = (score - config.suspicious_score).min(config.malicious_score - score);
            return (Verdict::Suspicious, (distance / half_width).clamp(0.0, 1.0));
        }
        if let Some(probabilities) = probabilities
            && probabilities[SPAM] > probabilities[HAM]
            && probabilities[SPAM] > probabilities[PHISH]
        {
            return (Verdict::Spam, probabilities[SPAM] * (1.0 - score));
        }
        (Verdict::Benign, 1.0 - score)
    }
}

/// Noisy-or of the positive weights, scaled by the benign (negative) ones.
/// The noisy-or of the positive weights, and the product of `1 + w` over
/// the negative ones.
fn rule_score(evidence: &[Evidence]) -> (f64, f64) {
    let mut miss = 1.0;
    let mut benign = 1.0;
    for item in evidence {
        if item.weight >= 0.0 {
            miss *= 1.0 - item.weight.min(1.0);
        } else {
            benign *= 1.0 + item.weight.max(-1.0);
        }
    }
    (1.0 - miss, benign)
}

/// Maximum number of evidence items in a decision.
const MAX_EVIDENCE: usize = 10;

/// Orders evidence by the size of its weight, strongest first, and keeps
/// the first [`MAX_EVIDENCE`] items.
fn sort_and_cap(evidence: &mut Vec<Evidence>) {
    evidence.sort_by(|left, right| right.weight.abs().total_cmp(&left.weight.abs()).then(left.id.cmp(&right.id)));
    evidence.truncate(MAX_EVIDENCE);
}

/// The category with the largest summed weight among positive evidence.
fn strongest_category(evidence: &[Evidence]) -> Option<Category> {
    let mut totals: Vec<(Category, f64)> = Vec::new();
    for item in evidence.iter().filter(|item| item.weight > 0.0 && item.category != Category::None) {
        match totals.iter_mut().find(|(category, _)| *category == item.category) {
            Some((_, total)) => *total += item.weight,
            None => totals.push((item.category, item.weight)),
        }
    }
    totals.sort_by(|left, right| right.1.total_cmp(&left.1).then(left.0.cmp(&right.0)));
    totals.first().map(|(category, _)| *category)
}

/// The features of one record, as [`features::extract_with_origins`] and
/// [`features::distinct`] return them.
struct Extracted<'a> {
    features: &'a [u32],
    origins: &'a features::Origins,
    distinct: &'a [u32],
}

/// Evidence from the model: its phishing probability and the features that
/// pushed it most.
fn model_evidence(
    model: &Model,
    record: &AnalysisRecord,
    features: &Extracted<'_>,
    phish: f64,
    category: Category,
) -> Evidence {
    let top = model.top_contributions_distinct(features.distinct, PHISH, 5);
    let buckets: Vec<u32> = top.iter().map(|(bucket, _)| *bucket).collect();
    let names = features::names_from_origins(record, features.features, features.origins, &buckets);
    Evidence {
        source: EvidenceSource::Model,
        id: model.name.clone(),
        description: format!("the statistical model rates the message {:.0}% likely phishing", phish * 100.0),
        category,
        weight: round(phish),
        locations: names,
    }
}

fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// Returns why the input is no email message at all. Either it has no
/// header fields (text or bytes without a header block), or it lacks From,
/// Date and Message-ID and its header block is broken (NUL bytes, lines
/// that are no header fields). Rules and the model were made for mail, so such input
/// goes to a person undecided instead of getting a verdict from features
/// that mean nothing for it. Its URLs and attachments are still analysed,
/// and the rules that match are listed as evidence for that person.
fn not_a_message(parse: &phishloop_model::ParseInfo) -> Option<String> {
    use phishloop_model::DefectCode::{
        EmptyInput, InvalidHeaderLine, MissingDate, MissingFrom, MissingMessageId, NoHeaders, NulBytes,
    };
    let has = |code| parse.defects.iter().any(|defect| defect.code == code);
    if has(NoHeaders) || has(EmptyInput) {
        return Some(
            "the input does not look like an email message: it has no header fields; check what was reported, \
             or report the original message as an attachment"
                .to_owned(),
        );
    }
    let headerless = has(MissingFrom) && has(MissingDate) && has(MissingMessageId);
    let broken = has(NulBytes) || has(InvalidHeaderLine);
    (headerless && broken).then(|| {
        "the input does not look like an email message: it has no From, Date or Message-ID and its header \
         block is broken; check what was reported"
            .to_owned()
    })
}

/// Returns true when the From domain is one of `simulation_domains` and
/// DMARC passed for it in the results the organisation's boundary added.
fn authenticated_simulation_sender(message: &MessageAnalysis, simulation_domains: &[String]) -> bool {
    let Some(domain) = message.sender.from_registrable_domain.as_deref() else {
        return false;
    };
    let trusted = &message.authentication.trusted;
    let dmarc_domain_matches = trusted.dmarc_domain.as_deref().is_some_and(|dmarc_domain| {
        let dmarc_domain = dmarc_domain.to_ascii_lowercase();
        dmarc_domain == domain || dmarc_domain.ends_with(&format!(".{domain}"))
    });
    simulation_domains.iter().any(|listed| listed.eq_ignore_ascii_case(domain))
        && trusted.dmarc.as_deref() == Some("pass")
        && dmarc_domain_matches
}
