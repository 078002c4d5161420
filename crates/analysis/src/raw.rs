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
fn scan_lines(bytes: &[u8], defects: &mut Vec<Defect>) {
    let counts = LineBytes::count(bytes);
    let long_lines = count_long_lines(bytes);
    let bare_lf = counts.line_feeds - counts.crlf;
    let bare_cr = counts.carriage_returns - counts.crlf;

    if (counts.crlf > 0 && bare_lf > 0) || bare_cr > 0 {
        defects.push(defect(
            DefectCode::MixedLineEndings,
            format!("{} CRLF, {bare_lf} bare LF and {bare_cr} bare CR line endings", counts.crlf),
        ));
    }
    if long_lines > 0 {
        defects.push(defect(
            DefectCode::LineTooLong,
            format!("{long_lines} line(s) longer than {MAX_LINE_LENGTH} characters"),
        ));
    }
    if counts.nul_bytes > 0 {
        defects.push(defect(DefectCode::NulBytes, format!("{} NUL byte(s)", counts.nul_bytes)));
    }
}

/// Numbers of the bytes that make up line endings, and of NUL bytes.
#[derive(Debug, Default, PartialEq, Eq)]
struct LineBytes {
    carriage_returns: usize,
    line_feeds: usize,
    /// CR bytes directly followed by LF.
    crlf: usize,
    nul_bytes: usize,
}

impl LineBytes {
    /// Counts in one pass over `bytes`, in chunks of 16 bytes that are each
    /// compared with the chunk one byte further on to find CRLF pairs.
    ///
    /// Each lane counts into a `u8`, which a block of 255 chunks cannot
    /// overflow, so the compiler can keep the counters in vector registers.
    fn count(bytes: &[u8]) -> LineBytes {
        const LANES: usize = 16;
        const BLOCK: usize = LANES * 255;
        let mut counts = LineBytes::default();
        // Every chunk needs the byte after it, so the last byte is never in one.
        let chunked = bytes.len().saturating_sub(1) / LANES * LANES;
        for block_start in (0..chunked).step_by(BLOCK) {
            let block_end = (block_start + BLOCK).min(chunked);
            let mut carriage_returns = [0u8; LANES];
            let mut line_feeds = [0u8; LANES];
            let mut crlf = [0u8; LANES];
            let mut nul_bytes = [0u8; LANES];
            let chunks = bytes[block_start..block_end].chunks_exact(LANES);
            let next_chunks = bytes[block_start + 1..block_end + 1].chunks_exact(LANES);
            for (chunk, next) in chunks.zip(next_chunks) {
                for lane in 0..LANES {
                    let is_cr = chunk[lane] == b'\r';
                    carriage_returns[lane] += u8::from(is_cr);
                    line_feeds[lane] += u8::from(chunk[lane] == b'\n');
                    crlf[lane] += u8::from(is_cr & (next[lane] == b'\n'));
                    nul_bytes[lane] += u8::from(chunk[lane] == 0);
                }
            }
            let sum = |lanes: [u8; LANES]| lanes.iter().map(|&count| usize::from(count)).sum::<usize>();
            counts.carriage_returns += sum(carriage_returns);
            counts.line_feeds += sum(line_feeds);
            counts.crlf += sum(crlf);
            counts.nul_bytes += sum(nul_bytes);
        }
        for position in chunked..bytes.len() {
            let byte = bytes[position];
            counts.carriage_returns += usize::from(byte == b'\r');
            counts.line_feeds += usize::from(byte == b'\n');
            counts.crlf += usize::from(byte == b'\r' && bytes.get(position + 1) == Some(&b'\n'));
            counts.nul_bytes += usize::from(byte == 0);
        }
        counts
    }
}

/// Counts the lines longer than [`MAX_LINE_LENGTH`] bytes, not counting a
/// CRLF or LF ending.
///
/// Every line that ends inside a window of `MAX_LINE_LENGTH + 1` bytes
/// from a line start is short, so the scan jumps to the last line feed in
/// that window instead of visiting each line. Only a window without a line
/// feed needs a closer look.
fn count_long_lines(bytes: &[u8]) -> usize {
    let mut long_lines = 0;
    let mut line_start = 0;
    loop {
        let window_end = line_start + MAX_LINE_LENGTH + 1;
        if window_end > bytes.len() {
            // What is left, the last line included, is too short to count.
            return long_lines;
        }
        if let Some(last) = memchr::memrchr(b'\n', &bytes[line_start..window_end]) {
            line_start += last + 1;
            continue;
        }
        let Some(offset) = memchr::memchr(b'\n', &bytes[window_end..]) else {
            // The last line has no line ending and is longer than the window.
            return long_lines + 1;
        };
        let position = window_end + offset;
        let crlf_ending = bytes[position - 1] == b'\r';
        if position - line_start - usize::from(crlf_ending) > MAX_LINE_LENGTH {
            long_lines += 1;
        }
        line_start = position + 1;
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

    /// Counts line bytes and long lines one byte at a time, as a reference
    /// for the chunked and windowed scans.
    fn reference_counts(bytes: &[u8]) -> (LineBytes, usize) {
        let mut counts = LineBytes::default();
        let mut long_lines = 0;
        let mut line_start = 0;
        for (position, &byte) in bytes.iter().enumerate() {
            counts.carriage_returns += usize::from(byte == b'\r');
            counts.nul_bytes += usize::from(byte == 0);
            if byte == b'\n' {
                counts.line_feeds += 1;
                let crlf_ending = position > 0 && bytes[position - 1] == b'\r';
                counts.crlf += usize::from(crlf_ending);
                if position - line_start - usize::from(crlf_ending) > MAX_LINE_LENGTH {
                    long_lines += 1;
                }
                line_start = position + 1;
            }
        }
        if bytes.len() - line_start > MAX_LINE_LENGTH {
            long_lines += 1;
        }
        (counts, long_lines)
    }

    /// Builds inputs from lines of chosen lengths and endings, with NUL and
    /// stray CR bytes mixed in, by a fixed pseudo-random sequence.
    fn line_inputs() -> Vec<Vec<u8>> {
        let mut next = crate::test_sequence(0x2545_f491_4f6c_dd1d_u64);
        let lengths = [0, 1, 15, 16, 17, 997, 998, 999, 1000, 1001, 2000, 4079, 4080, 4081];
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new(), b"\r".to_vec(), b"\n".to_vec(), b"\r\n".to_vec()];
        for length in lengths {
            inputs.push(vec![b'a'; length]);
            let mut crlf_line = vec![b'a'; length];
            crlf_line.extend_from_slice(b"\r\n");
            inputs.push(crlf_line);
        }
        for _ in 0..300 {
            let mut input = Vec::new();
            let lines = next() % 12;
            for _ in 0..lines {
                let pick = next();
                let length =
                    if pick.is_multiple_of(3) { lengths[(pick >> 8) % lengths.len()] } else { (pick >> 16) % 1200 };
                for _ in 0..length {
                    let byte = match next() % 64 {
                        0 => b'\r',
                        1 => 0,
                        2 => b'\n',
                        _ => b'x',
                    };
                    input.push(byte);
                }
                match next() % 4 {
                    0 => input.extend_from_slice(b"\r\n"),
                    1 => input.push(b'\r'),
                    _ => input.push(b'\n'),
                }
            }
            if next().is_multiple_of(2) {
                input.truncate(input.len().saturating_sub(next() % 3));
            }
            inputs.push(input);
        }
        inputs
    }

    #[test]
    fn line_scans_match_reference() {
        for input in line_inputs() {
            let (expected_counts, expected_long) = reference_counts(&input);
            assert_eq!(LineBytes::count(&input), expected_counts, "input of {} bytes", input.len());
            assert_eq!(count_long_lines(&input), expected_long, "input of {} bytes", input.len());
        }
    }

    #[test]
    fn long_line_limits() {
        let line = |length: usize, ending: &[u8]| {
            let mut bytes = vec![b'a'; length];
            bytes.extend_from_slice(ending);
            bytes
        };
        assert_eq!(count_long_lines(&line(MAX_LINE_LENGTH, b"\r\n")), 0);
        assert_eq!(count_long_lines(&line(MAX_LINE_LENGTH, b"\n")), 0);
        assert_eq!(count_long_lines(&line(MAX_LINE_LENGTH, b"")), 0);
        assert_eq!(count_long_lines(&line(MAX_LINE_LENGTH + 1, b"\r\n")), 1);
        assert_eq!(count_long_lines(&line(MAX_LINE_LENGTH + 1, b"")), 1);
        assert_eq!(count_long_lines(&line(MAX_LINE_LENGTH, b"\r\r\n")), 1, "a bare CR is part of the line");
        let mut two = line(5_000, b"\n");
        two.extend(line(10, b"\n"));
        two.extend(line(1_200, b"\r\n"));
        assert_eq!(count_long_lines(&two), 2);
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
