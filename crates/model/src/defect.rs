use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How completely a message could be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParseInfo {
    /// Overall status, derived from the defects.
    pub status: ParseStatus,
    /// Size of the analysed message in bytes.
    pub size: u64,
    /// Number of MIME parts, the root included.
    pub mime_parts: usize,
    /// Deepest MIME nesting seen; the root is depth 0.
    pub mime_depth: usize,
    /// Every defect found, in the order found.
    pub defects: Vec<Defect>,
}

/// Overall parse status of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParseStatus {
    /// Read completely; any defects are cosmetic.
    Ok,
    /// Read, but some content may be missing or was skipped by a limit.
    Partial,
    /// The structure is broken: no header block, or the content could not be
    /// read as a message at all.
    Malformed,
}

/// One thing that is wrong with a message. Defects are data for triage
/// (malformed mail is a phishing signal), never a reason to stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defect {
    pub code: DefectCode,
    /// Details such as the header name or the limit that was hit.
    pub detail: Option<String>,
    /// MIME part path (`1.2` is the second child of the first part) or
    /// attachment name the defect belongs to, if any.
    pub location: Option<String>,
}

/// Kinds of defects. The parse status impact of each is given by
/// [`DefectCode::impact`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DefectCode {
    /// The input is empty or contains only whitespace.
    EmptyInput,
    /// No well-known header field (From, Subject, Received, X-..., and so
    /// on) was found before the first empty line of the input.
    NoHeaders,
    /// The header block does not end with an empty line.
    MissingHeaderBodySeparator,
    /// The input ends inside a header field or a folded line.
    TruncatedInput,
    /// A line that is neither a header field nor a continuation line sits in
    /// the header block.
    InvalidHeaderLine,
    /// A header field name is followed by white space before the colon
    /// (`From : ...`); it was read as if the space were absent.
    HeaderNameWhitespace,
    /// Raw 8-bit bytes in a header field that are not valid UTF-8.
    Raw8bitHeader,
    /// NUL bytes in the message.
    NulBytes,
    /// Both CRLF and bare LF line endings, or bare CR characters.
    MixedLineEndings,
    /// A line longer than the 998 characters RFC 5322 allows.
    LineTooLong,
    /// A header field that must occur at most once occurs more than once.
    DuplicateHeader,
    /// The From header is missing.
    MissingFrom,
    /// The Date header is missing.
    MissingDate,
    /// The Date header cannot be parsed.
    InvalidDate,
    /// The Message-ID header is missing.
    MissingMessageId,
    /// An address header contains an address that is not valid.
    MalformedAddress,
    /// An RFC 2047 encoded word is not valid.
    InvalidEncodedWord,
    /// A multipart part has no boundary parameter.
    MissingBoundaryParameter,
    /// A multipart body does not end with its closing boundary.
    MissingClosingBoundary,
    /// A multipart body contains no delimiter line for its boundary.
    BoundaryNotFound,
    /// A base64 body contains characters outside the base64 alphabet or has
    /// a bad length.
    InvalidBase64,
    /// A quoted-printable body contains invalid escapes.
    InvalidQuotedPrintable,
    /// A text part names a charset that is not supported, or its bytes are
    /// not valid in that charset.
    UndecodableText,
    /// The Content-Transfer-Encoding is not one RFC 2045 defines.
    UnknownTransferEncoding,
    /// The message is larger than the configured limit; the rest was not read.
    SizeLimitExceeded,
    /// MIME nesting is deeper than the configured limit.
    MimeDepthExceeded,
    /// The message has more MIME parts than the configured limit.
    PartLimitExceeded,
    /// A nested message is deeper than the configured limit and was not analysed.
    NestedMessageDepthExceeded,
    /// An archive was listed only partially because of a limit.
    ArchiveLimitExceeded,
    /// An archive could not be read.
    InvalidArchive,
    /// An image was not searched for QR codes because of a limit.
    ImageLimitExceeded,
    /// An attached Outlook .msg could not be read.
    InvalidMsg,
    /// Analysis stopped early because the time limit was reached.
    TimeLimitExceeded,
    /// The number of URLs or other indicators reached its limit.
    IndicatorLimitExceeded,
}

impl DefectCode {
    /// The parse status a defect of this kind implies on its own.
    pub fn impact(self) -> ParseStatus {
        use DefectCode::*;
        match self {
            EmptyInput | NoHeaders => ParseStatus::Malformed,
            MissingHeaderBodySeparator
            | TruncatedInput
            | MissingClosingBoundary
            | BoundaryNotFound
            | InvalidBase64
            | InvalidQuotedPrintable
            | UndecodableText
            | SizeLimitExceeded
            | MimeDepthExceeded
            | PartLimitExceeded
            | NestedMessageDepthExceeded
            | ArchiveLimitExceeded
            | InvalidArchive
            | ImageLimitExceeded
            | InvalidMsg
            | TimeLimitExceeded
            | IndicatorLimitExceeded => ParseStatus::Partial,
            InvalidHeaderLine
            | HeaderNameWhitespace
            | Raw8bitHeader
            | NulBytes
            | MixedLineEndings
            | LineTooLong
            | DuplicateHeader
            | MissingFrom
            | MissingDate
            | InvalidDate
            | MissingMessageId
            | MalformedAddress
            | InvalidEncodedWord
            | MissingBoundaryParameter
            | UnknownTransferEncoding => ParseStatus::Ok,
        }
    }
}

impl ParseInfo {
    /// Derives the overall status from a list of defects: the worst impact.
    pub fn status_of(defects: &[Defect]) -> ParseStatus {
        defects.iter().map(|defect| defect.code.impact()).max().unwrap_or(ParseStatus::Ok)
    }
}
