//! Analysis: from a reported message to indicators.
//!
//! [`Analyzer::analyze_input`] takes the bytes of one input file and returns
//! one [`AnalysisRecord`] per message in it: intake splits the file and
//! unwraps report wrappers, then every original is parsed once with
//! `mail-parser` and every indicator is extracted from the parsed parts.
//!
//! Everything in a message is hostile. Each step is bounded by
//! [`config::Limits`], problems are recorded as defects on the message
//! rather than returned as errors, and nothing here touches the network: no
//! DNS look-up, no URL fetch.

pub mod config;

mod address;
mod attachments;
mod auth;
mod brands;
mod calendar;
mod confusable_text;
mod cues;
mod deadline;
mod domain;
mod headers;
mod html;
mod lists;
mod markup;
mod message;
mod parser;
mod random_label;
mod raw;
mod received;
mod secrets;
mod text;
mod urls;

use std::sync::OnceLock;

use mail_parser::MessageParser;
use phishloop_intake::{Hints, MsgError, ReportMode, Unwrapped, split_input, unwrap_report};
use phishloop_model::{
    AnalysisRecord, DefectCode, ExtractionStatus, InputFormat, MessageAnalysis, OriginalFormat, ParseInfo, Report,
    SCHEMA_VERSION, Source,
};
use sha2::{Digest, Sha256};

pub use config::Config;
pub use phishloop_intake::ReportMode as Mode;

use crate::brands::BrandSet;
use crate::config::Network;
use crate::domain::LookalikeTargets;
use crate::parser::parser;

/// A configured analyser. Building one compiles the brand list and checks
/// the configuration; analysing is then cheap and shares nothing mutable,
/// so one analyser can serve many threads.
#[derive(Debug)]
pub struct Analyzer {
    config: Config,
    mode: ReportMode,
    organization_domains: Vec<String>,
    reporting_addresses: Vec<String>,
    internal_networks: Vec<Network>,
    brands: BrandSet,
    lookalike_targets: LookalikeTargets,
}

/// Errors in the analysis configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid value in analysis.trust.internal_networks: {0}")]
    InvalidNetwork(String),
    #[error("invalid domain {domain:?} in {field}: expected a domain name such as corp-example.com")]
    InvalidDomain { field: &'static str, domain: String },
}

/// Errors that make an input file unreadable as a whole.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("the file starts like an Outlook .msg (OLE compound file) but could not be read: {0}")]
    Msg(#[from] MsgError),
}

impl Analyzer {
    /// Builds an analyser from a configuration.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError`] for an invalid network or domain.
    pub fn new(config: Config, mode: ReportMode) -> Result<Self, ConfigError> {
        let internal_networks = config
            .trust
            .internal_networks
            .iter()
            .map(|network| network.parse::<Network>().map_err(ConfigError::InvalidNetwork))
            .collect::<Result<Vec<_>, _>>()?;
        let organization_domains = normalize_domains(&config.organization.domains, "analysis.organization.domains")?;
        let reporting_addresses =
            config.organization.reporting_addresses.iter().map(|address| address.trim().to_lowercase()).collect();
        let brands = BrandSet::new(&config.brands);
        let lookalike_targets = LookalikeTargets::new(&organization_domains, &brands);
        Ok(Analyzer {
            config,
            mode,
            organization_domains,
            reporting_addresses,
            internal_networks,
            brands,
            lookalike_targets,
        })
    }

    /// The configuration this analyser was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Analyses the bytes of one input file. `path` is only reported.
    ///
    /// # Errors
    ///
    /// Fails only when the file as a whole cannot be read (an unreadable
    /// .msg). Malformed messages are analysed with their defects recorded.
    pub fn analyze_input(&self, path: Option<&str>, bytes: &[u8]) -> Result<Vec<AnalysisRecord>, InputError> {
        let messages = split_input(bytes)?;
        let mut records = Vec::with_capacity(messages.len());
        for input in messages {
            let source = Source {
                path: path.map(str::to_string),
                index: input.index,
                size: input.original.len() as u64,
                sha256: hex_sha256(input.original),
                format: input.format,
            };
            records.extend(self.analyze_message(source, &input.bytes));
        }
        Ok(records)
    }

    /// Analyses one RFC 5322 message, unwrapping it first if it is a report.
    /// Returns one record per reported original (one for a direct message).
    pub fn analyze_message(&self, source: Source, bytes: &[u8]) -> Vec<AnalysisRecord> {
        let prepared = raw::prepare(bytes, self.config.limits.max_message_bytes);
        let parsed = parse_prepared(&prepared);
        let Some(parsed) = parsed else {
            // No header block at all: nothing to unwrap, analyse as is.
            let analysis = message::analyze_unparsed(self, &prepared);
            return vec![record(source, direct_report(), Some(analysis))];
        };

        let hints =
            Hints { organization_domains: &self.organization_domains, reporting_addresses: &self.reporting_addresses };
        let unwrapped = unwrap_report(&parsed, prepared.bytes.as_ref(), self.mode, &hints);
        if unwrapped.status == ExtractionStatus::NotAReport {
            let analysis = message::analyze_parsed(self, &prepared, &parsed, 0, &[]);
            return vec![record(source, direct_report(), Some(analysis))];
        }

        let report = self.report_of(&unwrapped);
        let reporter: Vec<String> = unwrapped.reporter_address.iter().cloned().collect();
        if unwrapped.originals.is_empty() {
            return vec![record(source, report, None)];
        }
        unwrapped
            .originals
            .iter()
            .map(|original| {
                let mut report = report.clone();
                report.original_location = Some(original.location.clone());
                report.original_format = Some(original.format);
                let mut analysis = self.analyze_original(&original.bytes, 0, &reporter);
                if original.format == OriginalFormat::Inline {
                    forget_rebuild_defects(&mut analysis);
                }
                record(source.clone(), report, Some(analysis))
            })
            .collect()
    }

    /// Analyses a message that is known not to be a wrapper, such as an
    /// extracted original or an attached message. `depth` is the nesting
    /// depth of attached messages; `extra_recipients` (the reporter) count
    /// as recipients for the embedded-recipient check.
    pub(crate) fn analyze_original(&self, bytes: &[u8], depth: usize, extra_recipients: &[String]) -> MessageAnalysis {
        let prepared = raw::prepare(bytes, self.config.limits.max_message_bytes);
        let parsed = parse_prepared(&prepared);
        match parsed {
            Some(parsed) => message::analyze_parsed(self, &prepared, &parsed, depth, extra_recipients),
            None => message::analyze_unparsed(self, &prepared),
        }
    }

    fn report_of(&self, unwrapped: &Unwrapped<'_>) -> Report {
        let reporter = (unwrapped.reporter_address.is_some() || unwrapped.reporter_name.is_some()).then(|| {
            address::mailbox(self, unwrapped.reporter_name.as_deref(), unwrapped.reporter_address.as_deref(), None)
        });
        Report {
            kind: unwrapped.kind,
            button: unwrapped.button,
            status: unwrapped.status,
            needs_manual_review: unwrapped.needs_manual_review,
            reason: unwrapped.reason.clone(),
            reporter,
            comment: unwrapped.comment.clone(),
            reporter_classification: unwrapped.classification.clone(),
            wrapper: unwrapped.wrapper.clone(),
            original_location: None,
            original_format: None,
            candidates: unwrapped.candidates.clone(),
        }
    }

    pub(crate) fn organization_domains(&self) -> &[String] {
        &self.organization_domains
    }

    pub(crate) fn internal_networks(&self) -> &[Network] {
        &self.internal_networks
    }

    pub(crate) fn brands(&self) -> &BrandSet {
        &self.brands
    }

    pub(crate) fn lookalike_targets(&self) -> &LookalikeTargets {
        &self.lookalike_targets
    }
}

/// Parses without analysing: the reference that `phishloop bench` compares
/// full analysis with. It uses `mail-parser`'s default configuration, which
/// parses every header field, not the analysis parser, which skips the
/// fields it does not read. Returns the number of MIME parts, so the work
/// cannot be optimised away.
pub fn parse_only(bytes: &[u8]) -> usize {
    static DEFAULT_PARSER: OnceLock<MessageParser> = OnceLock::new();
    let parser = DEFAULT_PARSER.get_or_init(MessageParser::default);
    parser.parse(bytes).map_or(0, |message| message.parts.len())
}

/// The input format of a file, by its first bytes.
pub fn input_format(bytes: &[u8]) -> InputFormat {
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        InputFormat::Msg
    } else if bytes.starts_with(b"From ") {
        InputFormat::Mbox
    } else {
        InputFormat::Eml
    }
}

/// Parses a prepared message, or returns `None` when it has no header block
/// (text that is read as a plain body instead) or `mail-parser` finds none.
fn parse_prepared<'a>(prepared: &'a raw::Prepared<'_>) -> Option<mail_parser::Message<'a>> {
    if !prepared.header_block {
        return None;
    }
    parser().parse(prepared.bytes.as_ref())
}

/// A message rebuilt from a quoted forward has no Message-ID, and its date
/// is in the mail client's words; those are not defects of the original.
fn forget_rebuild_defects(analysis: &mut MessageAnalysis) {
    let rebuilt = [DefectCode::MissingMessageId, DefectCode::MissingDate, DefectCode::InvalidDate];
    analysis.parse.defects.retain(|defect| !rebuilt.contains(&defect.code));
    analysis.parse.status = ParseInfo::status_of(&analysis.parse.defects);
}

fn record(source: Source, report: Report, message: Option<MessageAnalysis>) -> AnalysisRecord {
    AnalysisRecord { schema_version: SCHEMA_VERSION, source, report, message, decision: None }
}

fn direct_report() -> Report {
    Report {
        kind: phishloop_model::ReportKind::Direct,
        button: None,
        status: ExtractionStatus::NotAReport,
        needs_manual_review: false,
        reason: None,
        reporter: None,
        comment: None,
        reporter_classification: None,
        wrapper: None,
        original_location: None,
        original_format: None,
        candidates: Vec::new(),
    }
}

fn normalize_domains(domains: &[String], field: &'static str) -> Result<Vec<String>, ConfigError> {
    domains
        .iter()
        .map(|domain| {
            let normalized = domain::to_ascii_host(domain.trim().trim_end_matches('.'));
            normalized
                .filter(|host| host.contains('.'))
                .ok_or_else(|| ConfigError::InvalidDomain { field, domain: domain.clone() })
        })
        .collect()
}

pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut output = vec![0u8; bytes.len() * 2];
    for (pair, byte) in output.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    String::from_utf8(output).expect("hex digits are ASCII")
}

/// Returns a fixed pseudo-random sequence (xorshift) for tests that
/// generate hostile input, so that every run checks the same cases.
#[cfg(test)]
pub(crate) fn test_sequence(seed: u64) -> impl FnMut() -> usize {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as usize
    }
}
