//! Shared data types of phishloop.
//!
//! These types are the contract between the loop's stages: intake fills
//! [`Report`], analysis fills [`MessageAnalysis`], and both travel together as
//! one [`AnalysisRecord`], which is also the JSON object that
//! `phishloop analyze --json` prints. The crate does no I/O.
//!
//! Every field is always serialized (absent values as `null`, empty lists as
//! `[]`) so that consumers, rule expressions included, can rely on the shape.
//! A change that renames or removes a field, or changes its meaning, bumps
//! [`SCHEMA_VERSION`].

mod attachment;
mod content;
mod decision;
mod defect;
mod headers;
mod record;
mod transport;
mod url;

pub use attachment::{ArchiveEntry, ArchiveListing, Attachment, AttachmentFlags, OleInfo};
pub use content::{BodySummary, Cue, CueKind, HtmlSummary, PhoneNumber, Secret, SecretKind};
pub use decision::{Category, Decision, Evidence, EvidenceSource, ModelOutput, Verdict};
pub use defect::{Defect, DefectCode, ParseInfo, ParseStatus};
pub use headers::{DateInfo, HeaderField, Headers, Mailbox, RecipientGroup, Recipients, SenderSignals};
pub use record::{
    AnalysisRecord, ExtractionStatus, InputFormat, MessageAnalysis, OriginalCandidate, OriginalFormat, Report,
    ReportButton, ReportKind, SCHEMA_VERSION, Source, WrapperSummary,
};
pub use transport::{
    AuthMethodResult, AuthResultsHeader, AuthSummary, Authentication, BoundarySource, ReceivedChain, ReceivedHop,
    TrustReason,
};
pub use url::{
    ConfusableWord, DeceptiveLink, DomainIndicator, DomainRole, LookalikeKind, LookalikeMatch, LookalikeTechnique,
    UrlIndicator, UrlSource, UrlSourceKind,
};
