use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::attachment::Attachment;
use crate::content::{BodySummary, Cue, PhoneNumber, Secret};
use crate::decision::Decision;
use crate::defect::ParseInfo;
use crate::headers::{Headers, Mailbox, SenderSignals};
use crate::transport::{Authentication, ReceivedChain};
use crate::url::{DomainIndicator, UrlIndicator};

/// Version of the analysis output schema. Readers should reject a record
/// whose `schema_version` is newer than the one they were built for.
pub const SCHEMA_VERSION: u32 = 1;

/// One analysed message: a report and, when it could be extracted, the
/// reported original.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalysisRecord {
    /// Schema version of this record, see [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Where the input came from.
    pub source: Source,
    /// How the input was reported and who reported it.
    pub report: Report,
    /// Analysis of the reported original (or of the input itself when it is
    /// not a report wrapper). `None` when the original could not be extracted.
    pub message: Option<MessageAnalysis>,
    /// The triage decision; `None` until triage has run.
    pub decision: Option<Decision>,
}

/// The input a record was read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// File path as given on the command line or found in a folder, if any.
    pub path: Option<String>,
    /// Zero-based position of the message in an mbox file; 0 otherwise.
    pub index: usize,
    /// Size of the input message in bytes (of this message only, for mbox).
    pub size: u64,
    /// SHA-256 of the input message bytes, lowercase hex.
    pub sha256: String,
    /// Container format of the input.
    pub format: InputFormat,
}

/// Container format of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// RFC 5322 message (.eml).
    Eml,
    /// RFC 5322 message taken from an mbox file (envelope `From ` line removed).
    Mbox,
    /// Outlook .msg (OLE compound file).
    Msg,
}

/// How a message was reported and what intake extracted from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The shape of the input.
    pub kind: ReportKind,
    /// Report button or reporting tool recognised from the wrapper, if any.
    pub button: Option<ReportButton>,
    /// Whether the reported original was extracted.
    pub status: ExtractionStatus,
    /// True when a person must look at the report because automatic
    /// extraction did not yield a reliable original.
    pub needs_manual_review: bool,
    /// Human-readable reason for a failed extraction or for manual review.
    pub reason: Option<String>,
    /// The person who reported the message (the wrapper's sender).
    pub reporter: Option<Mailbox>,
    /// Text the reporter wrote above the forwarded message, trimmed and
    /// bounded to 2,000 characters.
    pub comment: Option<String>,
    /// The classification the reporter chose in a report button, as the
    /// button names it (for example `phish`, `junk`, `not_junk`).
    pub reporter_classification: Option<String>,
    /// Headers of the wrapper message; never used as indicators.
    pub wrapper: Option<WrapperSummary>,
    /// Where in the wrapper the original was found (MIME part and name).
    pub original_location: Option<String>,
    /// Form in which the original was found.
    pub original_format: Option<OriginalFormat>,
    /// Every attached message found in the wrapper, extracted or not, with
    /// why extraction failed.
    pub candidates: Vec<OriginalCandidate>,
}

/// An attached message found in a report wrapper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OriginalCandidate {
    /// MIME part, name and declared type.
    pub location: String,
    /// What the content is by its first bytes (`rfc822` or `msg`).
    pub format: OriginalFormat,
    /// Size of the attachment in bytes.
    pub size: u64,
    /// SHA-256 of the attachment, lowercase hex.
    pub sha256: String,
    /// Why the original could not be extracted from it, if it could not.
    pub error: Option<String>,
}

/// The shape of an input with respect to reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// The input is the suspicious message itself.
    Direct,
    /// The original is attached to the report (message/rfc822, .eml or .msg).
    AttachedMessage,
    /// The original is quoted in the body of a forward.
    InlineForward,
}

/// Report buttons and reporting formats that intake recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportButton {
    /// Microsoft 365 built-in Report button or Report Message add-in.
    Microsoft,
    /// KnowBe4 Phish Alert Button.
    Knowbe4,
    /// Cofense Reporter (formerly PhishMe Reporter).
    Cofense,
    /// Proofpoint PhishAlarm.
    Proofpoint,
    /// Hoxhunt report button.
    Hoxhunt,
    /// RFC 5965 Abuse Reporting Format feedback report.
    Arf,
}

/// Outcome of extracting the reported original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExtractionStatus {
    /// The input is not a report wrapper; the message itself was analysed.
    NotAReport,
    /// The original was extracted and analysed.
    Extracted,
    /// The input is a report, but the original could not be extracted.
    Failed,
}

/// Form in which a reported original was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OriginalFormat {
    /// An RFC 5322 message (message/rfc822 part or an attached .eml).
    Rfc822,
    /// An Outlook .msg file, converted to RFC 5322 for analysis.
    Msg,
    /// A message quoted in a forward; its headers are reconstructed from the
    /// forward's header block, so transport headers are absent.
    Inline,
}

/// Headers of the wrapper that carried a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WrapperSummary {
    pub message_id: Option<String>,
    pub subject: Option<String>,
    /// Date header as written.
    pub date: Option<String>,
    /// Recipient addresses of the wrapper (the reporting mailbox).
    pub to: Vec<String>,
}

/// Everything extracted from one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageAnalysis {
    /// Parse status, size and the defects found.
    pub parse: ParseInfo,
    /// Identity and routing headers.
    pub headers: Headers,
    /// Signals derived from the sender headers.
    pub sender: SenderSignals,
    /// The Received chain and the organisation boundary.
    pub received: ReceivedChain,
    /// Authentication-Results and related headers, split by trust.
    pub authentication: Authentication,
    /// What the readable body contains.
    pub body: BodySummary,
    /// URLs from every part, deduplicated by raw URL.
    pub urls: Vec<UrlIndicator>,
    /// Distinct registrable domains seen in the sender headers and URLs.
    pub domains: Vec<DomainIndicator>,
    /// Email addresses written in the content (not in headers), lowercase.
    pub email_addresses: Vec<String>,
    /// Telephone numbers written in the content.
    pub phone_numbers: Vec<PhoneNumber>,
    /// Attachments and inline files.
    pub attachments: Vec<Attachment>,
    /// Social-engineering cues found in the subject and content.
    pub cues: Vec<Cue>,
    /// Secrets found in the content, redacted.
    pub secrets: Vec<Secret>,
    /// SHA-256 of the visible text with whitespace collapsed and case
    /// folded, lowercase hex. Copies of one message sent to many people
    /// share it unless the text is personalised.
    pub content_fingerprint: String,
}
