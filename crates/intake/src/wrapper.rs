//! Report wrappers: finding the reported original inside what a reporter
//! sent.
//!
//! A report reaches the reporting mailbox as a forward (the original
//! attached as message/rfc822, .eml or .msg, or quoted inline) or as the
//! output of a report button. Whatever the form, the wrapper's own headers,
//! links and attachments belong to the reporter, never to the original, so
//! this module returns the original's bytes separately and describes the
//! wrapper only as reporter data.

use std::borrow::Cow;

use mail_builder::headers::content_type::ContentType as BuilderContentType;
use mail_builder::mime::MimePart;
use mail_parser::{Address, Message, MessagePart, MimeHeaders, PartType};
use phishloop_model::{ExtractionStatus, OriginalCandidate, OriginalFormat, ReportButton, ReportKind, WrapperSummary};
use sha2::{Digest, Sha256};

use crate::forward::{self, InlineForward};
use crate::msg::msg_to_rfc822;
use crate::sniff::{MessageKind, sniff_message};

/// Labels of the subject line in a quoted header block, lowercase, as
/// they appear in HTML (possibly inside `<b>`).
const SUBJECT_LABELS: &[&str] =
    &["subject:", "betreff:", "objet :", "objet:", "asunto:", "oggetto:", "onderwerp:", "assunto:", "ämne:", "emne:"];

/// At most this many originals are taken from one report.
const MAX_ORIGINALS: usize = 20;
/// Reporter comments are cut to this many characters.
const MAX_COMMENT_CHARS: usize = 2_000;

/// How to treat a message whose shape could be a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReportMode {
    /// Treat a message as a report when it carries an original and shows a
    /// sign of being a report. An attached original needs a report button's
    /// format, a forward or report subject, a sender in the organisation's
    /// domains or a reporting-mailbox recipient. An inline quote needs one
    /// of the last two or a report button, because a forward subject over a
    /// quoted thread is also a common way to fake a conversation.
    #[default]
    Auto,
    /// Every message is a report (for a reporting mailbox). A message without
    /// an extractable original is marked for manual review.
    Report,
    /// Every message is the suspicious message itself.
    Direct,
}

/// What intake knows about the organisation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hints<'a> {
    /// The organisation's own mail domains, lowercase.
    pub organization_domains: &'a [String],
    /// Addresses of the reporting mailboxes, lowercase.
    pub reporting_addresses: &'a [String],
}

/// One reported original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original<'a> {
    /// The original as an RFC 5322 message.
    pub bytes: Cow<'a, [u8]>,
    pub format: OriginalFormat,
    /// Where it was found, for example `part 2 "Invoice.eml" (message/rfc822)`.
    pub location: String,
}

/// The result of looking at a message as a possible report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwrapped<'a> {
    pub kind: ReportKind,
    pub button: Option<ReportButton>,
    pub status: ExtractionStatus,
    pub needs_manual_review: bool,
    pub reason: Option<String>,
    pub reporter_name: Option<String>,
    pub reporter_address: Option<String>,
    pub comment: Option<String>,
    pub classification: Option<String>,
    pub wrapper: Option<WrapperSummary>,
    /// The originals to analyse; empty for a direct message (analyse the
    /// input itself) and for a failed extraction.
    pub originals: Vec<Original<'a>>,
    /// Every attached message found, extracted or not.
    pub candidates: Vec<OriginalCandidate>,
}

impl Unwrapped<'_> {
    fn direct() -> Self {
        Unwrapped {
            kind: ReportKind::Direct,
            button: None,
            status: ExtractionStatus::NotAReport,
            needs_manual_review: false,
            reason: None,
            reporter_name: None,
            reporter_address: None,
            comment: None,
            classification: None,
            wrapper: None,
            originals: Vec::new(),
            candidates: Vec::new(),
        }
    }
}

/// Looks at a parsed message and, if it is a report, extracts the reported
/// originals and the reporter. `raw` is the buffer `message` was parsed
/// from.
pub fn unwrap_report<'a>(message: &Message<'a>, raw: &'a [u8], mode: ReportMode, hints: &Hints<'_>) -> Unwrapped<'a> {
    if mode == ReportMode::Direct {
        return Unwrapped::direct();
    }

    let subject = message.subject().unwrap_or_default();
    let (button, classification) = detect_button(message, raw, subject);
    // A report button or the organisation's reporting setup is a strong
    // sign. A forward subject is weaker: attackers fake forwarded threads,
    // so on its own it unwraps attached messages but never inline quotes.
    let strong = mode == ReportMode::Report || button.is_some() || from_reporting_setup(message, hints);
    if !strong && !has_report_subject(subject) {
        // The common case: a message with no sign of being a report. Decided
        // without converting attachments or rendering the body as text.
        return Unwrapped::direct();
    }

    let candidates = find_attached_originals(message, raw);
    if !strong && candidates.is_empty() {
        return Unwrapped::direct();
    }
    let text = wrapper_text(message);
    // A Cofense report body holds the original's headers in a section of its
    // own, which can look like a quoted forward.
    let cofense = button == Some(ReportButton::Cofense);
    let inline = if candidates.is_empty() && strong && !cofense { forward::find_inline_forward(&text) } else { None };
    let headers_only =
        if candidates.is_empty() && inline.is_none() && strong { quoted_header_block(&text) } else { None };
    let has_original = !candidates.is_empty() || inline.is_some() || headers_only.is_some();
    if mode == ReportMode::Auto && !has_original {
        return Unwrapped::direct();
    }

    let (reporter_name, reporter_address) = reporter(message, &text, subject);
    let mut unwrapped = Unwrapped {
        kind: ReportKind::AttachedMessage,
        button,
        status: ExtractionStatus::Extracted,
        needs_manual_review: false,
        reason: None,
        reporter_name,
        reporter_address,
        comment: None,
        classification,
        wrapper: Some(wrapper_summary(message, subject)),
        originals: Vec::new(),
        candidates: Vec::new(),
    };

    let mut failures = Vec::new();
    for (candidate, original) in candidates.into_iter().take(MAX_ORIGINALS) {
        match original {
            Ok(original) => unwrapped.originals.push(original),
            Err(failure) => failures.push(failure),
        }
        unwrapped.candidates.push(candidate);
    }

    if let Some(forward) = inline {
        unwrapped.kind = ReportKind::InlineForward;
        unwrapped.comment = bounded_comment(&forward.comment);
        unwrapped.originals.push(inline_original(message, &forward));
        unwrapped.reason = Some(
            "the original was quoted inline, so its headers were rebuilt from the quoted header block; \
             transport headers (Received, Authentication-Results) are not available"
                .to_string(),
        );
    } else if let Some(headers) = headers_only {
        unwrapped.kind = ReportKind::InlineForward;
        unwrapped.originals.push(Original {
            bytes: Cow::Owned(headers),
            format: OriginalFormat::Inline,
            location: "header block quoted in the report body".to_string(),
        });
        unwrapped.needs_manual_review = true;
        unwrapped.reason = Some(
            "the report carries only the original's headers (the reporting tool left out the body); \
             links and attachments of the original are not available"
                .to_string(),
        );
    } else {
        unwrapped.comment = bounded_comment(&text);
    }

    if matches!(button, Some(ReportButton::Cofense | ReportButton::Knowbe4)) {
        // Cofense writes a machine-generated body, and KnowBe4 copies the
        // original's body into the report: neither is a reporter comment.
        unwrapped.comment = None;
    }

    if unwrapped.originals.is_empty() {
        unwrapped.status = ExtractionStatus::Failed;
        unwrapped.needs_manual_review = true;
        unwrapped.reason = Some(if failures.is_empty() {
            "no attached message or quoted forward was found in the report; open it by hand".to_string()
        } else {
            format!("the reported original could not be extracted: {}; open the report by hand", failures.join("; "))
        });
    } else if !failures.is_empty() {
        let note = format!("some attached messages could not be extracted: {}", failures.join("; "));
        unwrapped.reason = Some(match unwrapped.reason.take() {
            Some(reason) => format!("{reason}; {note}"),
            None => note,
        });
        unwrapped.needs_manual_review = true;
    }
    unwrapped
}

/// Recognises report buttons by subject, recipients, attachment names and
/// body layout. Returns the button and the classification the reporter
/// chose, when the format carries one.
fn detect_button(message: &Message<'_>, raw: &[u8], subject: &str) -> (Option<ReportButton>, Option<String>) {
    if let Some(classification) = microsoft_classification(subject) {
        return (Some(ReportButton::Microsoft), Some(classification.to_string()));
    }
    let microsoft_addresses = [
        "junk@office365.microsoft.com",
        "phish@office365.microsoft.com",
        "not_junk@office365.microsoft.com",
        "abuse@messaging.microsoft.com",
        "false_positive@messaging.microsoft.com",
    ];
    if recipients(message).iter().any(|address| microsoft_addresses.contains(&address.as_str())) {
        return (Some(ReportButton::Microsoft), None);
    }

    if is_feedback_report(message) {
        return (Some(ReportButton::Arf), None);
    }

    let knowbe4_attachment = message
        .attachments()
        .any(|part| part.attachment_name().is_some_and(|name| name.to_ascii_lowercase().starts_with("phish_alert_")));
    if knowbe4_attachment {
        return (Some(ReportButton::Knowbe4), None);
    }

    let cofense = memchr::memmem::find(raw, b"-----BEGIN REPORTER AGENT-----").is_some()
        || memchr::memmem::find(raw, b"-----BEGIN EMAIL HEADERS-----").is_some();
    if cofense {
        return (Some(ReportButton::Cofense), None);
    }
    (None, None)
}

/// Microsoft's submission format for reporting tools puts the reporter's
/// choice first in the subject: `1|`, `Junk:`; `2|`, `Not junk:`; `3|`,
/// `Phishing:`.
fn microsoft_classification(subject: &str) -> Option<&'static str> {
    let lower = subject.trim_start().to_ascii_lowercase();
    if lower.starts_with("1|") || lower.starts_with("junk:") {
        Some("junk")
    } else if lower.starts_with("2|") || lower.starts_with("not junk:") {
        Some("not_junk")
    } else if lower.starts_with("3|") || lower.starts_with("phishing:") {
        Some("phish")
    } else {
        None
    }
}

fn is_feedback_report(message: &Message<'_>) -> bool {
    message.root_part().content_type().is_some_and(|content_type| {
        content_type.ctype().eq_ignore_ascii_case("multipart")
            && content_type.subtype().is_some_and(|subtype| subtype.eq_ignore_ascii_case("report"))
            && content_type
                .attribute("report-type")
                .is_some_and(|report_type| report_type.eq_ignore_ascii_case("feedback-report"))
    })
}

/// Subjects of forwards and reports: `FW:`, `Fwd:` and their common
/// translations, or words such as "phishing" and "suspicious".
fn has_report_subject(subject: &str) -> bool {
    let lower = subject.trim_start().to_lowercase();
    let forward_prefixes = [
        "fw:", "fwd:", "fw :", "fwd :", "tr:", "tr :", "wg:", "rv:", "enc:", "i:", "vs:", "vb:", "doorst:", "pd:",
        "fs:", "πρθ:", "转发:", "轉寄:", "fw；", "[fwd", "[fw",
    ];
    let report_words = ["phish", "suspicious", "suspect", "spam", "report", "scam", "fraud"];
    forward_prefixes.iter().any(|prefix| lower.starts_with(prefix))
        || report_words.iter().any(|word| lower.contains(word))
}

/// The wrapper comes from the organisation or goes to a reporting mailbox.
fn from_reporting_setup(message: &Message<'_>, hints: &Hints<'_>) -> bool {
    let to_reporting = recipients(message)
        .iter()
        .any(|address| hints.reporting_addresses.iter().any(|reporting| reporting == address));
    let from_organization = first_from(message)
        .and_then(|(_, address)| address)
        .and_then(|address| address.rsplit_once('@').map(|(_, domain)| domain.to_ascii_lowercase()))
        .is_some_and(|domain| {
            hints.organization_domains.iter().any(|own| domain == *own || domain.ends_with(&format!(".{own}")))
        });
    to_reporting || from_organization
}

/// Attached messages: message/rfc822 parts, and attachments whose bytes are
/// an RFC 5322 message or an OLE compound file whatever their name or
/// Content-Type. Each comes with its description; failed extractions carry
/// an error that names the part.
fn find_attached_originals<'a>(
    message: &Message<'a>,
    raw: &'a [u8],
) -> Vec<(OriginalCandidate, Result<Original<'a>, String>)> {
    let mut found = Vec::new();
    for &part_id in &message.attachments {
        let Some(part) = message.parts.get(part_id as usize) else {
            continue;
        };
        let location = describe_part(part, part_id);
        let original = match &part.body {
            PartType::Message(_) => nested_message_bytes(message, part, raw)
                .map(|bytes| Ok(Original { bytes, format: OriginalFormat::Rfc822, location: location.clone() })),
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => sniffed_original(part, bytes, &location),
            PartType::Text(text) => {
                (declares_message(part) && sniff_message(text.as_bytes()) == Some(MessageKind::Rfc822)).then(|| {
                    Ok(Original {
                        bytes: Cow::Owned(text.as_bytes().to_vec()),
                        format: OriginalFormat::Rfc822,
                        location: location.clone(),
                    })
                })
            }
            PartType::Html(_) | PartType::Multipart(_) => None,
        };
        let Some(original) = original else {
            continue;
        };
        let content: &[u8] = match (&part.body, &original) {
            (PartType::Binary(bytes) | PartType::InlineBinary(bytes), _) => bytes,
            (_, Ok(original)) => &original.bytes,
            _ => &[],
        };
        let format = match &original {
            Ok(original) => original.format,
            Err(_) => OriginalFormat::Msg,
        };
        let candidate = OriginalCandidate {
            location,
            format,
            size: content.len() as u64,
            sha256: hex_sha256(content),
            error: original.as_ref().err().cloned(),
        };
        found.push((candidate, original));
    }
    found
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

fn sniffed_original<'a>(part: &MessagePart<'_>, bytes: &[u8], location: &str) -> Option<Result<Original<'a>, String>> {
    match sniff_message(bytes)? {
        MessageKind::CompoundFile => Some(match msg_to_rfc822(bytes) {
            Ok(converted) => Ok(Original {
                bytes: Cow::Owned(converted),
                format: OriginalFormat::Msg,
                location: location.to_string(),
            }),
            Err(error) => Err(format!(
                "{location} is an Outlook .msg (OLE compound file) by its magic bytes, but it could not be read: {error}"
            )),
        }),
        MessageKind::Rfc822 => {
            let named_eml = part.attachment_name().is_some_and(|name| name.to_ascii_lowercase().ends_with(".eml"));
            (named_eml || declares_message(part) || is_generic_binary(part)).then(|| {
                Ok(Original {
                    bytes: Cow::Owned(bytes.to_vec()),
                    format: OriginalFormat::Rfc822,
                    location: location.to_string(),
                })
            })
        }
    }
}

fn declares_message(part: &MessagePart<'_>) -> bool {
    part.content_type().is_some_and(|content_type| {
        let full =
            format!("{}/{}", content_type.ctype(), content_type.subtype().unwrap_or_default()).to_ascii_lowercase();
        matches!(full.as_str(), "message/rfc822" | "message/global" | "text/rfc822-headers" | "message/partial")
    })
}

fn is_generic_binary(part: &MessagePart<'_>) -> bool {
    part.content_type().is_none_or(|content_type| {
        let full =
            format!("{}/{}", content_type.ctype(), content_type.subtype().unwrap_or_default()).to_ascii_lowercase();
        matches!(full.as_str(), "application/octet-stream" | "application/x-unknown" | "application/unknown")
    })
}

/// The bytes of a nested message/rfc822 part. Unencoded nested messages are
/// parsed in place, so their bytes are a slice of the parent's buffer;
/// encoded ones were decoded into their own buffer.
fn nested_message_bytes<'a>(message: &Message<'a>, part: &MessagePart<'a>, raw: &'a [u8]) -> Option<Cow<'a, [u8]>> {
    let PartType::Message(nested) = &part.body else {
        return None;
    };
    let buffer: &[u8] = message.raw_message.as_ref();
    let same_buffer = std::ptr::eq(buffer.as_ptr(), raw.as_ptr()) && buffer.len() == raw.len();
    if part.encoding == mail_parser::Encoding::None && same_buffer {
        let start = part.offset_body as usize;
        let end = (part.offset_end as usize).min(raw.len());
        return raw.get(start..end).map(Cow::Borrowed);
    }
    let nested_raw: &[u8] = nested.raw_message.as_ref();
    Some(Cow::Owned(nested_raw.to_vec()))
}

fn describe_part(part: &MessagePart<'_>, part_id: u32) -> String {
    let content_type = part
        .content_type()
        .map(|content_type| format!("{}/{}", content_type.ctype(), content_type.subtype().unwrap_or_default()))
        .unwrap_or_else(|| "no Content-Type".to_string())
        .to_ascii_lowercase();
    match part.attachment_name() {
        Some(name) => format!("part {part_id} \"{}\" ({content_type})", name.replace(['\r', '\n'], " ")),
        None => format!("part {part_id} ({content_type})"),
    }
}

/// Text of the wrapper's own body: its first text part, or the text of its
/// first HTML part.
fn wrapper_text(message: &Message<'_>) -> String {
    message.body_text(0).map(|text| text.into_owned()).unwrap_or_default()
}

/// The section `-----BEGIN EMAIL HEADERS-----` of a Cofense report, or a
/// body that is only a header block (KnowBe4 sends only the headers of large
/// messages), as a headers-only message.
fn quoted_header_block(text: &str) -> Option<Vec<u8>> {
    let section = match text.find("-----BEGIN EMAIL HEADERS-----") {
        Some(start) => {
            let rest = &text[start + "-----BEGIN EMAIL HEADERS-----".len()..];
            let end = rest.find("-----END EMAIL HEADERS-----").unwrap_or(rest.len());
            &rest[..end]
        }
        None => text,
    };
    let section = section.trim_start_matches(['\r', '\n']);
    if sniff_message(section.as_bytes()) != Some(MessageKind::Rfc822) {
        return None;
    }
    let mut headers: Vec<u8> = Vec::with_capacity(section.len() + 2);
    for line in section.lines() {
        if line.trim().is_empty() {
            break;
        }
        headers.extend_from_slice(line.as_bytes());
        headers.extend_from_slice(b"\r\n");
    }
    headers.extend_from_slice(b"\r\n");
    Some(headers)
}

fn inline_original<'a>(message: &Message<'_>, forward: &InlineForward) -> Original<'a> {
    let html = forward_html(message, forward);
    let attachments = message
        .attachments()
        .filter_map(|part| match &part.body {
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => Some(copy_attachment(part, bytes)),
            PartType::Text(text) | PartType::Html(text) => Some(copy_attachment(part, text.as_bytes())),
            _ => None,
        })
        .collect();
    Original {
        bytes: Cow::Owned(forward::rebuild(forward, html, attachments)),
        format: OriginalFormat::Inline,
        location: "message quoted in the report body".to_string(),
    }
}

/// The part of the wrapper's HTML body from the forward separator on, so
/// that links in the reporter's own text and signature stay out.
fn forward_html(message: &Message<'_>, forward: &InlineForward) -> Option<String> {
    let html_id = *message.html_body.first()?;
    let PartType::Html(html) = &message.parts.get(html_id as usize)?.body else {
        return None;
    };
    let lower = html.to_lowercase();
    let mut markers = vec![
        "id=\"divrplyfwdmsg\"".to_string(),
        "class=\"gmail_quote".to_string(),
        "forwarded message".to_string(),
        "original message".to_string(),
        "begin forwarded message".to_string(),
        "id=\"appendonsend\"".to_string(),
    ];
    if let Some(separator) = &forward.separator {
        markers.insert(0, separator.to_lowercase());
    }
    let position = markers.iter().filter_map(|marker| lower.find(marker.as_str())).min()?;
    // The quoted header block (From, Sent, To, Subject) follows the
    // marker; its addresses are the reporter's and the sender's, not content
    // of the original. Start after the subject line when there is one.
    let window_end = (position + 4096).min(lower.len());
    let window_end = (window_end..=lower.len()).find(|&end| lower.is_char_boundary(end)).unwrap_or(lower.len());
    let window = &lower[position..window_end];
    let subject = SUBJECT_LABELS.iter().filter_map(|label| window.find(label)).min();
    let start = match subject {
        Some(offset) => {
            let after = position + offset;
            ["<br", "</p>", "</div>", "\n"]
                .iter()
                .filter_map(|end| lower[after..].find(end))
                .min()
                .map_or(lower.len(), |end| after + end)
        }
        // Back up to the start of the tag that contains the marker.
        None => lower[..position].rfind('<').unwrap_or(position),
    };
    html.get(start..).map(str::to_string)
}

fn copy_attachment(part: &MessagePart<'_>, bytes: &[u8]) -> MimePart<'static> {
    let content_type = part
        .content_type()
        .map(|content_type| {
            format!("{}/{}", content_type.ctype(), content_type.subtype().unwrap_or("octet-stream"))
                .to_ascii_lowercase()
        })
        .filter(|value| value.bytes().all(|b| b.is_ascii_alphanumeric() || b"/+-.".contains(&b)))
        .unwrap_or_else(|| "application/octet-stream".to_string());
    let name = part.attachment_name().unwrap_or("attachment").replace(['\r', '\n', '"'], "_");
    MimePart::new(BuilderContentType::new(content_type), bytes.to_vec()).attachment(name)
}

/// The reporter: Cofense's `Reporting User:` line, or else the wrapper's
/// sender. Addresses in Microsoft's submission subject
/// (`3|id|ip|address|(subject)`) belong to the reported message, not to the
/// reporter, so they are never used.
fn reporter(message: &Message<'_>, text: &str, _subject: &str) -> (Option<String>, Option<String>) {
    if let Some(line) = text.lines().find(|line| line.trim_start().starts_with("Reporting User:")) {
        let address = line.trim_start()["Reporting User:".len()..].trim();
        if address.contains('@') {
            return (None, Some(address.to_string()));
        }
    }
    first_from(message).unwrap_or((None, None))
}

fn first_from(message: &Message<'_>) -> Option<(Option<String>, Option<String>)> {
    let address = match message.from()? {
        Address::List(list) => list.first()?,
        Address::Group(groups) => groups.iter().flat_map(|group| group.addresses.iter()).next()?,
    };
    Some((
        address.name.as_ref().map(|name| name.to_string()),
        address.address.as_ref().map(|address| address.to_string()),
    ))
}

fn recipients(message: &Message<'_>) -> Vec<String> {
    let mut addresses = Vec::new();
    for header in [message.to(), message.cc(), message.bcc()].into_iter().flatten() {
        match header {
            Address::List(list) => addresses.extend(list.iter().filter_map(|address| address.address.as_ref())),
            Address::Group(groups) => addresses.extend(
                groups.iter().flat_map(|group| group.addresses.iter()).filter_map(|address| address.address.as_ref()),
            ),
        }
    }
    addresses.into_iter().map(|address| address.to_ascii_lowercase()).collect()
}

fn wrapper_summary(message: &Message<'_>, subject: &str) -> WrapperSummary {
    let date = message.headers().iter().find_map(|header| {
        (header.name.as_str().eq_ignore_ascii_case("date")).then(|| {
            message
                .raw_message
                .get(header.offset_start as usize..header.offset_end as usize)
                .map(|raw| String::from_utf8_lossy(raw).trim().to_string())
        })
    });
    WrapperSummary {
        message_id: message.message_id().map(str::to_string),
        subject: (!subject.is_empty()).then(|| subject.to_string()),
        date: date.flatten(),
        to: recipients(message),
    }
}

/// The reporter's comment: the text before a signature delimiter line
/// (`-- ` or `--`), trimmed and cut to [`MAX_COMMENT_CHARS`].
fn bounded_comment(text: &str) -> Option<String> {
    let mut end = text.len();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if matches!(line.trim_end_matches(['\r', '\n']), "-- " | "--") {
            end = offset;
            break;
        }
        offset += line.len();
    }
    let trimmed = text[..end].trim().replace("\r\n", "\n");
    if trimmed.is_empty() {
        return None;
    }
    Some(trimmed.chars().take(MAX_COMMENT_CHARS).collect())
}
