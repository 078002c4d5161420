//! The CPU-bound part of a job: analysis, triage and the case join key.
//! Pure: bytes in, data out; the worker runs it on the blocking pool.

use phishloop_analysis::{Analyzer, Mode};
use phishloop_campaign::{CampaignConfig, SignatureKey};
use phishloop_model::{AnalysisRecord, Category, Decision, MessageAnalysis, Verdict};
use phishloop_store::Sha256Hex;
use phishloop_triage::Triage;
use serde_json::{Value, json};

/// A configured analyser and triage, shared by every worker of a process.
#[derive(Debug)]
pub struct Pipeline {
    analyzer: Analyzer,
    triage: Triage,
    campaigns: CampaignConfig,
}

/// The result of the pipeline for one reported message.
#[derive(Debug)]
pub struct Outcome {
    /// The analysis record behind the decision, as JSON; `None` when the
    /// input could not be analysed at all.
    pub analysis: Option<Value>,
    pub decision: Decision,
    /// The analysed original, which response planning and coaching read;
    /// `None` when it could not be extracted.
    pub message: Option<MessageAnalysis>,
    /// The key that groups reports of the same original into one case.
    pub join_key: String,
    /// The reporter named by the report wrapper, if any.
    pub wrapper_reporter: Option<String>,
    /// The keys that put the case into a campaign; empty when the original
    /// could not be extracted.
    pub campaign_keys: Vec<SignatureKey>,
}

impl Pipeline {
    /// Builds the pipeline. The campaign signature treats the analysis
    /// configuration's organisation domains as the organisation's own, so
    /// links to them never group cases.
    pub fn new(analyzer: Analyzer, triage: Triage) -> Self {
        let campaigns = CampaignConfig {
            organization_domains: analyzer.config().organization.domains.clone(),
            ..CampaignConfig::default()
        };
        Self { analyzer, triage, campaigns }
    }

    /// Analyses and decides a raw reported message, unwrapping report
    /// wrappers as `phishloop analyze` does.
    ///
    /// Never fails: input that cannot be analysed gets a `suspicious`
    /// decision that needs review, with the reason. A wrapper with several
    /// originals yields the decision with the highest score, so the most
    /// dangerous original decides.
    pub fn process(&self, raw: &[u8], raw_sha256: &str, max_payload_bytes: usize) -> Outcome {
        let records = match self.analyzer.analyze_input(None, raw) {
            Ok(records) => records,
            Err(error) => return unanalysable(raw_sha256, &format!("the message could not be read: {error}")),
        };

        let mut best: Option<AnalysisRecord> = None;
        for mut record in records {
            record.decision = Some(self.triage.decide(&record));
            if best.as_ref().is_none_or(|current| score(&record) > score(current)) {
                best = Some(record);
            }
        }
        let Some(record) = best else {
            return unanalysable(raw_sha256, "the input contains no message");
        };

        let Some(decision) = record.decision.clone() else {
            return unanalysable(raw_sha256, "triage gave no decision");
        };
        Outcome {
            join_key: join_key(&record, raw_sha256),
            wrapper_reporter: record.report.reporter.as_ref().and_then(|mailbox| mailbox.address.clone()),
            analysis: Some(summary_json(&record, max_payload_bytes)),
            campaign_keys: record
                .message
                .as_ref()
                .map(|message| phishloop_campaign::signature(message, &self.campaigns).keys)
                .unwrap_or_default(),
            message: record.message.clone(),
            decision,
        }
    }

    /// Returns the organisation's mail domains from the analysis configuration.
    pub fn organization_domains(&self) -> &[String] {
        &self.analyzer.config().organization.domains
    }

    /// The reported original of a stored report as RFC 5322 bytes, for
    /// display: the first original a report wrapper holds, or the message
    /// itself when it is no wrapper. `None` when no message can be read.
    pub(crate) fn displayed_original(&self, raw: &[u8]) -> Option<Vec<u8>> {
        let messages = phishloop_intake::split_input(raw).ok()?;
        let first = messages.first()?;
        let parsed = mail_parser::MessageParser::default().parse(first.bytes.as_ref())?;
        let (organization_domains, reporting_addresses) = self.intake_hints();
        let hints = phishloop_intake::Hints {
            organization_domains: &organization_domains,
            reporting_addresses: &reporting_addresses,
        };
        let unwrapped = phishloop_intake::unwrap_report(&parsed, first.bytes.as_ref(), Mode::Auto, &hints);
        match unwrapped.originals.first() {
            Some(original) => Some(original.bytes.to_vec()),
            None => Some(first.bytes.to_vec()),
        }
    }

    /// The organisation's domains and reporting addresses in lowercase, as
    /// intake compares them.
    fn intake_hints(&self) -> (Vec<String>, Vec<String>) {
        let config = self.analyzer.config();
        let organization_domains =
            config.organization.domains.iter().map(|domain| domain.trim().to_ascii_lowercase()).collect();
        let reporting_addresses =
            config.organization.reporting_addresses.iter().map(|address| address.trim().to_lowercase()).collect();
        (organization_domains, reporting_addresses)
    }

    /// The reporter address named by a report wrapper, without analysing
    /// the original: the cheap part of intake that runs before a report is
    /// stored.
    pub fn wrapper_reporter(&self, raw: &[u8]) -> Option<String> {
        let (organization_domains, reporting_addresses) = self.intake_hints();
        let hints = phishloop_intake::Hints {
            organization_domains: &organization_domains,
            reporting_addresses: &reporting_addresses,
        };

        let messages = phishloop_intake::split_input(raw).ok()?;
        let first = messages.first()?;
        let parsed = mail_parser::MessageParser::default().parse(first.bytes.as_ref())?;
        let unwrapped = phishloop_intake::unwrap_report(&parsed, first.bytes.as_ref(), Mode::Auto, &hints);
        unwrapped.reporter_address
    }
}

fn score(record: &AnalysisRecord) -> f64 {
    record.decision.as_ref().map_or(0.0, |decision| decision.score)
}

/// `mid:<Message-ID>|fp:<content fingerprint>` for an analysed original.
/// Without a Message-ID (quoted forwards have none) the sender address and
/// subject stand in for it, so that two short messages with the same text
/// from different senders stay apart. Without an original, `raw:<SHA-256>`.
pub fn join_key(record: &AnalysisRecord, raw_sha256: &str) -> String {
    let Some(message) = &record.message else {
        return format!("raw:{raw_sha256}");
    };
    let fingerprint = &message.content_fingerprint;
    let key = match &message.headers.message_id {
        Some(message_id) => format!("mid:{message_id}|fp:{fingerprint}"),
        None => {
            let from = message.headers.from.first().and_then(|mailbox| mailbox.address.as_deref()).unwrap_or("");
            let subject = message.headers.subject.as_deref().unwrap_or("");
            format!("from:{}|subject:{subject}|fp:{fingerprint}", from.to_ascii_lowercase())
        }
    };
    // The store limits join keys to 1024 bytes, and Message-IDs and subjects
    // are the sender's choice. A long key is replaced by its hash, which
    // keeps it as distinct as the whole key.
    if key.len() > MAX_JOIN_KEY_BYTES {
        return format!("sha256:{}", Sha256Hex::of(key.as_bytes()));
    }
    key
}

/// Maximum length in bytes of a join key kept as it is; the store accepts 1024.
const MAX_JOIN_KEY_BYTES: usize = 512;

/// Returns the analysis record as JSON when it fits in half the store's payload
/// limit; otherwise a summary of it with `"truncated": true`.
fn summary_json(record: &AnalysisRecord, max_payload_bytes: usize) -> Value {
    let full = serde_json::to_value(record).unwrap_or(Value::Null);
    if full.to_string().len() <= max_payload_bytes / 2 {
        return full;
    }

    let message = record.message.as_ref();
    json!({
        "truncated": true,
        "source": record.source,
        "report": { "kind": record.report.kind, "status": record.report.status, "reason": record.report.reason },
        "message": message.map(|message| json!({
            "subject": message.headers.subject,
            "message_id": message.headers.message_id,
            "from": message.headers.from,
            "content_fingerprint": message.content_fingerprint,
            "url_count": message.urls.len(),
            "attachment_count": message.attachments.len(),
            "defect_count": message.parse.defects.len(),
        })),
    })
}

/// The decision for input that could not be analysed: a person must look.
fn unanalysable(raw_sha256: &str, reason: &str) -> Outcome {
    Outcome {
        analysis: None,
        decision: review_decision(reason),
        message: None,
        join_key: format!("raw:{raw_sha256}"),
        wrapper_reporter: None,
        campaign_keys: Vec::new(),
    }
}

/// Returns a `suspicious` decision with confidence 0 that needs review for `reason`.
pub fn review_decision(reason: &str) -> Decision {
    Decision {
        verdict: Verdict::Suspicious,
        category: Category::None,
        confidence: 0.0,
        needs_review: true,
        review_reasons: vec![reason.to_owned()],
        score: 0.0,
        model: None,
        evidence: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_decision_needs_review() {
        let decision = review_decision("the original could not be extracted");

        assert_eq!(decision.verdict, Verdict::Suspicious);
        assert!(decision.needs_review);
        assert_eq!(decision.review_reasons, vec!["the original could not be extracted".to_owned()]);
    }
}
