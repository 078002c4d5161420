//! Splitting an input file into messages.

use std::borrow::Cow;

use memchr::memmem;
use phishloop_model::InputFormat;

use crate::msg::{MsgError, msg_to_rfc822};
use crate::sniff::CFB_MAGIC;

/// One message of an input file, in RFC 5322 form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputMessage<'a> {
    /// Zero-based position in the file (always 0 except in mbox files).
    pub index: usize,
    pub format: InputFormat,
    /// The message bytes: the file itself, one mbox message without its
    /// envelope line, or an RFC 5322 rendering of an Outlook .msg.
    pub bytes: Cow<'a, [u8]>,
    /// The bytes as they were in the file, for hashing the input.
    pub original: &'a [u8],
}

/// Splits a file into messages.
///
/// An Outlook .msg (recognised by its compound-file magic bytes) becomes
/// one converted message. A file that starts with an mbox `From ` envelope
/// line is split at every further envelope line that follows an empty line;
/// `>From ` escapes are undone. Anything else is one RFC 5322 message, even
/// when it is empty or malformed: analysis records defects rather than
/// rejecting input.
///
/// # Errors
///
/// Only a .msg file that cannot be read fails; the error says why.
pub fn split_input(bytes: &[u8]) -> Result<Vec<InputMessage<'_>>, MsgError> {
    if bytes.starts_with(&CFB_MAGIC) {
        let converted = msg_to_rfc822(bytes)?;
        return Ok(vec![InputMessage {
            index: 0,
            format: InputFormat::Msg,
            bytes: Cow::Owned(converted),
            original: bytes,
        }]);
    }

    if !bytes.starts_with(b"From ") {
        return Ok(vec![InputMessage {
            index: 0,
            format: InputFormat::Eml,
            bytes: Cow::Borrowed(bytes),
            original: bytes,
        }]);
    }

    let messages = mbox_ranges(bytes)
        .into_iter()
        .enumerate()
        .map(|(index, range)| {
            let original = &bytes[range];
            InputMessage { index, format: InputFormat::Mbox, bytes: unescape_from_lines(skip_line(original)), original }
        })
        .collect();
    Ok(messages)
}

/// Byte ranges of the messages of an mbox file, each starting at its
/// envelope line.
fn mbox_ranges(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut starts = vec![0];
    for position in memmem::find_iter(bytes, b"\nFrom ") {
        let line_start = position + 1;
        let preceded_by_blank = bytes[..position].ends_with(b"\n") || bytes[..position].ends_with(b"\n\r");
        if preceded_by_blank && is_envelope_line(line_of(&bytes[line_start..])) {
            starts.push(line_start);
        }
    }

    let mut ranges = Vec::with_capacity(starts.len());
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(bytes.len());
        ranges.push(start..end);
    }
    ranges
}

/// True for an mbox envelope line: `From ` followed by a sender token and a
/// date that contains a time of day (`Mon Jan  1 00:00:00 2024`). Prose that
/// begins with "From " rarely has both.
fn is_envelope_line(line: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(line) else {
        return false;
    };
    let Some(rest) = text.strip_prefix("From ") else {
        return false;
    };
    let mut words = rest.split_whitespace();
    let Some(sender) = words.next() else {
        return false;
    };
    let has_time = words.any(|word| {
        let bytes = word.as_bytes();
        bytes.len() >= 5 && bytes[0].is_ascii_digit() && bytes.get(2) == Some(&b':')
            || bytes.len() >= 4 && bytes[0].is_ascii_digit() && bytes.get(1) == Some(&b':')
    });
    !sender.contains(':') && has_time
}

fn line_of(bytes: &[u8]) -> &[u8] {
    let end = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len());
    &bytes[..end]
}

fn skip_line(bytes: &[u8]) -> &[u8] {
    match memchr::memchr(b'\n', bytes) {
        Some(end) => &bytes[end + 1..],
        None => &[],
    }
}

/// Undoes mboxrd/mboxo quoting: a line `>From ` (with one or more `>`) loses
/// one `>`. Borrowed when nothing needs changing.
fn unescape_from_lines(bytes: &[u8]) -> Cow<'_, [u8]> {
    let needs_change = bytes.starts_with(b">") && is_quoted_from(bytes)
        || memmem::find_iter(bytes, b"\n>").any(|position| is_quoted_from(&bytes[position + 1..]));
    if !needs_change {
        return Cow::Borrowed(bytes);
    }

    let mut output = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |position| position + 1);
        let line = &rest[..end];
        if is_quoted_from(line) {
            output.extend_from_slice(&line[1..]);
        } else {
            output.extend_from_slice(line);
        }
        rest = &rest[end..];
    }
    Cow::Owned(output)
}

fn is_quoted_from(line: &[u8]) -> bool {
    let quotes = line.iter().take_while(|&&byte| byte == b'>').count();
    quotes > 0 && line[quotes..].starts_with(b"From ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_message_is_one_eml() {
        let messages = split_input(b"From: a@example.net\n\nbody").expect("no .msg");
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].format, InputFormat::Eml);
    }

    #[test]
    fn mbox_splits_on_envelope_lines() {
        let mbox = b"From a@example.net Mon Jan  1 00:00:00 2024\nFrom: a@example.net\nSubject: one\n\nbody\n>From here on\n\nFrom b@example.net Tue Jan  2 10:00:00 2024\nFrom: b@example.net\nSubject: two\n\nFrom now on, prose.\n";
        let messages = split_input(mbox).expect("no .msg");
        assert_eq!(messages.len(), 2);
        assert!(messages[0].bytes.starts_with(b"From: a@example.net"));
        assert!(memmem::find(&messages[0].bytes, b"\nFrom here on").is_some());
        assert!(messages[1].bytes.starts_with(b"From: b@example.net"));
        assert!(messages[1].bytes.ends_with(b"From now on, prose.\n"));
        assert_eq!(messages[1].index, 1);
        assert_eq!(messages[1].format, InputFormat::Mbox);
    }

    #[test]
    fn envelope_line_needs_time() {
        assert!(is_envelope_line(b"From a@example.net Mon Jan  1 00:00:00 2024"));
        assert!(is_envelope_line(b"From MAILER-DAEMON Fri Jul  8 12:08:34 2011"));
        assert!(!is_envelope_line(b"From the desk of the director"));
        assert!(!is_envelope_line(b"From: a@example.net"));
    }
}
