//! Recognising messages by their content rather than their name.

/// Magic bytes of an OLE compound file (CFB), the container of Outlook .msg.
pub const CFB_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// What a byte string looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// An RFC 5322 message (possibly with an mbox `From ` line).
    Rfc822,
    /// An OLE compound file, which for an attached message means Outlook .msg.
    CompoundFile,
}

/// Header names that commonly open a message. A file whose first header is
/// one of these, followed by more header lines, is taken as RFC 5322.
const OPENING_HEADERS: &[&str] = &[
    "received",
    "return-path",
    "delivered-to",
    "x-original-to",
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "reply-to",
    "sender",
    "dkim-signature",
    "arc-seal",
    "arc-message-signature",
    "arc-authentication-results",
    "authentication-results",
    "received-spf",
    "x-received",
    "x-sender",
    "x-mailer",
    "thread-topic",
    "thread-index",
    "user-agent",
    "x-ms-exchange-organization-network-message-id",
];

/// Returns what `bytes` looks like, judged by magic bytes for compound files
/// and by the first header lines for RFC 5322. Returns `None` for anything
/// else.
pub fn sniff_message(bytes: &[u8]) -> Option<MessageKind> {
    if bytes.starts_with(&CFB_MAGIC) {
        return Some(MessageKind::CompoundFile);
    }

    let head = &bytes[..bytes.len().min(8192)];
    let mut lines = head.split(|&byte| byte == b'\n');
    let mut first = lines.next()?;
    if first.starts_with(b"From ") {
        first = lines.next()?;
    }
    let name = header_name(first)?;
    if !OPENING_HEADERS.contains(&name.to_ascii_lowercase().as_str()) && !name.starts_with("X-") {
        return None;
    }

    // One header line proves little: require a second field among the
    // following lines, continuation lines aside.
    let more_fields = lines
        .take(60)
        .take_while(|line| !is_blank(line))
        .filter(|line| !line.starts_with(b" ") && !line.starts_with(b"\t"))
        .filter(|line| header_name(line).is_some())
        .count();
    (more_fields >= 1).then_some(MessageKind::Rfc822)
}

/// Returns the field name of a header line, if the line is one.
fn header_name(line: &[u8]) -> Option<&str> {
    let colon = line.iter().position(|&byte| byte == b':')?;
    let name = std::str::from_utf8(&line[..colon]).ok()?.trim_end();
    let valid =
        !name.is_empty() && name.len() <= 76 && name.bytes().all(|byte| byte.is_ascii_graphic() && byte != b':');
    valid.then_some(name)
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&byte| byte == b'\r' || byte == b' ' || byte == b'\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_recognises_headers() {
        let message = b"Received: from a by b;\r\n x\r\nFrom: a@example.net\r\n\r\nbody";
        assert_eq!(sniff_message(message), Some(MessageKind::Rfc822));
    }

    #[test]
    fn sniff_recognises_compound_file() {
        let mut bytes = CFB_MAGIC.to_vec();
        bytes.extend_from_slice(&[0; 16]);
        assert_eq!(sniff_message(&bytes), Some(MessageKind::CompoundFile));
    }

    #[test]
    fn sniff_rejects_text_and_pdf() {
        assert_eq!(sniff_message(b"Hello: world\nthis is prose"), None);
        assert_eq!(sniff_message(b"%PDF-1.4\n%\xe2\xe3"), None);
        assert_eq!(sniff_message(b""), None);
    }

    #[test]
    fn sniff_accepts_mbox_line() {
        let message = b"From a@example.net Mon Jan  1 00:00:00 2024\nFrom: a@example.net\nSubject: x\n\nbody";
        assert_eq!(sniff_message(message), Some(MessageKind::Rfc822));
    }
}
