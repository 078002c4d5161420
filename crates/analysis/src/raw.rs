//! Defects visible in the raw bytes of a message.
//!
//! `mail-parser` is lenient and says little about what it tolerated, but for
//! phishing the anomalies are signals. This module scans the header block
//! and the line structure once and records what is wrong.

use std::borrow::Cow;

use phishloop_model::{Defect, DefectCode};

/// Longest line RFC 5322 allows, without the line ending.
const MAX_LINE_LENGTH: usize = 998;

/// A message ready for parsing, with the defects found in its raw form.
#[derive(Debug)]
pub(crate) struct Prepared<'a> {
    pub bytes: Cow<'a, [u8]>,
    /// Size before any truncation.
    pub original_size: usize,
    pub defects: Vec<Defect>,
    /// False when the input starts with text instead of header fields, such
    /// as a message body pasted on its own. Such input is read as plain text.
    pub header_block: bool,
}

/// Truncates a message to the size limit and scans its raw form.
pub(crate) fn prepare(bytes: &[u8], max_bytes: usize) -> Prepared<'_> {
    let mut defects = Vec::new();
    let kept = if bytes.len() > max_bytes {
        defects.push(defect(
            DefectCode::SizeLimitExceeded,
            format!("message is {} bytes; only the first {max_bytes} were read", bytes.len()),
        ));
        &bytes[..max_bytes]
    } else {
        bytes
    };

    let mut header_block = true;
    if kept.iter().all(|byte| byte.is_ascii_whitespace()) {
        defects.push(Defect { code: DefectCode::EmptyInput, detail: None, location: None });
    } else {
        header_block = starts_with_header_block(kept);
        if header_block {
            scan_header_block(kept, &mut defects);
        }
        scan_lines(kept, &mut defects);
    }
    Prepared { bytes: Cow::Borrowed(kept), original_size: bytes.len(), defects, header_block }
}

/// Lines read to find a header field at the start of the input.
const HEADER_PROBE_LINES: usize = 64;

/// Returns whether the input starts with a header block: an empty one (the
/// first line is empty), or one with an mbox `From ` line or a well-known
/// header field among its first lines. Text without such a field before its
/// first empty line has no header block, whatever `mail-parser` makes of it.
/// A pasted body whose first line reads `Note: ...` looks like a field of an
/// unknown name, but no real message has only such fields.
fn starts_with_header_block(bytes: &[u8]) -> bool {
    for (index, line) in bytes.split(|byte| *byte == b'\n').take(HEADER_PROBE_LINES).enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return index == 0;
        }
        if index == 0 && line.starts_with(b"From ") {
            return true;
        }
        let continuation = line[0] == b' ' || line[0] == b'\t';
        if !continuation && field_name(line).is_some_and(|(name, _)| is_well_known_field(name)) {
            return true;
        }
    }
    false
}

/// Header fields of RFC 5322, MIME, trace and authentication headers, and
/// the ones mail servers and clients commonly add, in lower case.
const WELL_KNOWN_FIELDS: &[&str] = &[
    "authentication-results",
    "bcc",
    "cc",
    "comments",
    "date",
    "delivered-to",
    "delivery-date",
    "disposition-notification-to",
    "dkim-signature",
    "domainkey-signature",
    "envelope-to",
    "errors-to",
    "feedback-id",
    "from",
    "importance",
    "in-reply-to",
    "keywords",
    "message-id",
    "mime-version",
    "organization",
    "precedence",
    "priority",
    "received",
    "received-spf",
    "references",
    "reply-to",
    "return-path",
    "return-receipt-to",
    "sender",
    "subject",
    "thread-index",
    "thread-topic",
    "to",
    "user-agent",
];

/// Prefixes of field families: extension fields, ARC, mailing lists,
/// resent copies and MIME content fields.
const WELL_KNOWN_PREFIXES: &[&str] = &["x-", "arc-", "list-", "resent-", "content-"];

fn is_well_known_field(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    WELL_KNOWN_FIELDS.binary_search(&lower.as_str()).is_ok()
        || WELL_KNOWN_PREFIXES.iter().any(|prefix| lower.starts_with(prefix))
}

/// Checks every line of the top-level header block.
fn scan_header_block(bytes: &[u8], defects: &mut Vec<Defect>) {
    let mut position = 0;
    let mut first = true;
    let mut invalid_lines = 0usize;
    let mut spaced_names: Vec<String> = Vec::new();
    let mut raw_8bit = false;

    loop {
        if position >= bytes.len() {
            defects.push(defect(
                DefectCode::MissingHeaderBodySeparator,
                "the input ends inside the header block".to_string(),
            ));
            return;
        }
        let end = memchr::memchr(b'\n', &bytes[position..]).map(|offset| position + offset);
        let line = &bytes[position..end.unwrap_or(bytes.len())];
        let line = line.strip_suffix(b"\r").unwrap_or(line);

        if line.is_empty() {
            break;
        }
        if end.is_none() {
            defects.push(defect(
                DefectCode::MissingHeaderBodySeparator,
                "the input ends inside the header block".to_string(),
            ));
            defects.push(defect(DefectCode::TruncatedInput, "the last header line has no line ending".to_string()));
            break;
        }

        let continuation = line[0] == b' ' || line[0] == b'\t';
        if continuation && first {
            invalid_lines += 1;
        } else if !continuation {
            match field_name(line) {
                Some((name, true)) if spaced_names.len() < 5 => spaced_names.push(name.to_string()),
                Some(_) => {}
                None if !(first && line.starts_with(b"From ")) => invalid_lines += 1,
                None => {}
            }
        }
        if !raw_8bit && !line.is_ascii() && std::str::from_utf8(line).is_err() {
            raw_8bit = true;
        }

        first = false;
        position = end.map_or(bytes.len(), |end| end + 1);
    }

    if invalid_lines > 0 {
        defects.push(defect(
            DefectCode::InvalidHeaderLine,
            format!("{invalid_lines} line(s) in the header block are neither fields nor continuations"),
        ));
    }
    if !spaced_names.is_empty() {
        defects.push(defect(
            DefectCode::HeaderNameWhitespace,
            format!("white space before the colon in: {}", spaced_names.join(", ")),
        ));
    }
    if raw_8bit {
        defects.push(defect(
            DefectCode::Raw8bitHeader,
            "header fields contain 8-bit bytes that are not UTF-8".to_string(),
        ));
    }
}

/// Returns the field name of a header line and whether white space stands
/// before its colon.
fn field_name(line: &[u8]) -> Option<(&str, bool)> {
    let colon = memchr::memchr(b':', line)?;
    let raw_name = std::str::from_utf8(&line[..colon]).ok()?;
    let name = raw_name.trim_end_matches([' ', '\t']);
    let valid = !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_graphic());
    valid.then_some((name, name.len() != raw_name.len()))
}

/// Checks line endings, line lengths and NUL bytes.
///
/// Carriage returns and NUL bytes are only counted, with `memchr`'s
/// vectorised count, and only line feeds are visited one by one. Every CR
/// that does not start a CRLF pair is a bare CR.
fn scan_lines(bytes: &[u8], defects: &mut Vec<Defect>) {
    let carriage_returns = memchr::memchr_iter(b'\r', bytes).count();
    let nul_bytes = memchr::memchr_iter(0, bytes).count();
    let mut line_feeds = 0usize;
    let mut crlf = 0usize;
    let mut long_lines = 0usize;
    let mut line_start = 0;
    for position in memchr::memchr_iter(b'\n', bytes) {
        line_feeds += 1;
        let crlf_ending = position > 0 && bytes[position - 1] == b'\r';
        crlf += usize::from(crlf_ending);
        if position - line_start - usize::from(crlf_ending) > MAX_LINE_LENGTH {
            long_lines += 1;
        }
        line_start = position + 1;
    }
    if bytes.len() - line_start > MAX_LINE_LENGTH {
        long_lines += 1;
    }
    let bare_lf = line_feeds - crlf;
    let bare_cr = carriage_returns - crlf;

    if (crlf > 0 && bare_lf > 0) || bare_cr > 0 {
        defects.push(defect(
            DefectCode::MixedLineEndings,
            format!("{crlf} CRLF, {bare_lf} bare LF and {bare_cr} bare CR line endings"),
        ));
    }
    if long_lines > 0 {
        defects.push(defect(
            DefectCode::LineTooLong,
            format!("{long_lines} line(s) longer than {MAX_LINE_LENGTH} characters"),
        ));
    }
    if nul_bytes > 0 {
        defects.push(defect(DefectCode::NulBytes, format!("{nul_bytes} NUL byte(s)")));
    }
}

pub(crate) fn defect(code: DefectCode, detail: String) -> Defect {
    Defect { code, detail: Some(detail), location: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(bytes: &[u8]) -> Vec<DefectCode> {
        prepare(bytes, 1 << 20).defects.iter().map(|defect| defect.code).collect()
    }

    #[test]
    fn clean_message_has_no_defects() {
        assert!(codes(b"From: a@example.net\r\nSubject: x\r\n\r\nbody\r\n").is_empty());
    }

    #[test]
    fn truncated_fold_is_recorded() {
        let found = codes(b"From: a@example.net\r\nReceived: from a by b;\r\n\t");
        assert!(found.contains(&DefectCode::MissingHeaderBodySeparator));
        assert!(found.contains(&DefectCode::TruncatedInput));
    }

    #[test]
    fn spaced_field_name_is_recorded() {
        let found = codes(b"From : a@example.net\nSubject: x\n\nbody\n");
        assert_eq!(found, vec![DefectCode::HeaderNameWhitespace]);
    }

    #[test]
    fn header_block_found_or_not() {
        let cases: [(&[u8], bool); 11] = [
            (b"From: a@example.net\nSubject: x\n\nbody\n", true),
            (b"From sender@example.net Mon Jan  1 00:00:00 2026\nSubject: x\n\nbody", true),
            (b"\nbody after an empty header block", true),
            (b"stray line\nSubject: x\n\nbody", true),
            (b"Dear customer, sign in at http://bank.example/login now\n", false),
            (b"Dear customer,\r\nyour account is locked.\r\n\r\nVerify: today\r\n", false),
            (b"  indented text first\nmore text", false),
            (b"Note: your mailbox is full, sign in at http://mail.example/login\n", false),
            (b"Note: read this\r\nAction required: verify today\r\n\r\nmore\r\n", false),
            (b"X-Mailer: something\nNote: x\n\nbody", true),
            (b"Return-path: <a@example.net>\nEnvelope-to: b@example.net\n\nbody", true),
        ];
        for (bytes, expected) in cases {
            let prepared = prepare(bytes, 1 << 20);
            assert_eq!(prepared.header_block, expected, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn well_known_fields_sorted() {
        let mut sorted = WELL_KNOWN_FIELDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, WELL_KNOWN_FIELDS, "binary_search needs the list in order");
    }

    #[test]
    fn text_without_headers_has_no_header_defects() {
        let found = codes(b"Dear customer, sign in at http://bank.example/login now\n");
        assert!(!found.contains(&DefectCode::MissingHeaderBodySeparator), "{found:?}");
        assert!(!found.contains(&DefectCode::InvalidHeaderLine), "{found:?}");
    }

    #[test]
    fn empty_input_is_recorded() {
        assert_eq!(codes(b""), vec![DefectCode::EmptyInput]);
        assert_eq!(codes(b"\r\n \n"), vec![DefectCode::EmptyInput]);
    }

    #[test]
    fn mixed_endings_and_nul() {
        let found = codes(b"From: a@example.net\r\nSubject: x\n\nbo\0dy\n");
        assert!(found.contains(&DefectCode::MixedLineEndings));
        assert!(found.contains(&DefectCode::NulBytes));
    }

    #[test]
    fn line_ending_counts() {
        let prepared = prepare(b"From: a@example.net\r\nSubject: x\r\n\r\nbo\rdy\nend\r", 1 << 20);
        let mixed = prepared.defects.iter().find(|defect| defect.code == DefectCode::MixedLineEndings);
        let detail = mixed.and_then(|defect| defect.detail.as_deref());
        assert_eq!(detail, Some("3 CRLF, 1 bare LF and 2 bare CR line endings"));
    }

    #[test]
    fn size_limit_truncates() {
        let message = b"From: a@example.net\n\nbody body body";
        let prepared = prepare(message, 25);
        assert_eq!(prepared.bytes.len(), 25);
        assert_eq!(prepared.original_size, message.len());
        assert_eq!(prepared.defects[0].code, DefectCode::SizeLimitExceeded);
    }

    #[test]
    fn raw_8bit_header_is_recorded() {
        let found = codes(b"From: caf\xe9 <a@example.net>\nSubject: x\n\nbody\n");
        assert!(found.contains(&DefectCode::Raw8bitHeader));
    }
}
