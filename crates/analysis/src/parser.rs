//! The `mail-parser` configuration of the analysis.
//!
//! `MessageParser::default()` (mail-parser 0.11) parses the registered
//! header fields in [`PARSED_FIELDS`] with their own parsers and copies
//! every other field into a `HeaderValue::Text` with `String::from_utf8_lossy`.
//! The analysis never reads those copies: it reads such fields from the
//! raw message by their offsets. So this parser keeps the default parser of
//! every field in [`PARSED_FIELDS`] and skips the value of every other
//! field, which leaves it `HeaderValue::Empty` with the same offsets.

use std::sync::OnceLock;

use mail_parser::{HeaderName, MessageParser};

/// The parser that `MessageParser::default()` uses for a registered header field.
#[derive(Clone, Copy)]
enum Parse {
    Unstructured,
    Address,
    Date,
    Id,
    CommaSeparated,
    Received,
    Raw,
    ContentType,
}

/// The fields that `MessageParser::default()` parses with a parser of
/// their own, as its `parse_headers` lists them. `MIME-Version` is parsed
/// as raw text there, and is kept so.
const PARSED_FIELDS: &[(HeaderName<'static>, Parse)] = &[
    (HeaderName::Subject, Parse::Unstructured),
    (HeaderName::Comments, Parse::Unstructured),
    (HeaderName::ContentDescription, Parse::Unstructured),
    (HeaderName::ContentLocation, Parse::Unstructured),
    (HeaderName::ContentTransferEncoding, Parse::Unstructured),
    (HeaderName::From, Parse::Address),
    (HeaderName::To, Parse::Address),
    (HeaderName::Cc, Parse::Address),
    (HeaderName::Bcc, Parse::Address),
    (HeaderName::ReplyTo, Parse::Address),
    (HeaderName::Sender, Parse::Address),
    (HeaderName::ResentTo, Parse::Address),
    (HeaderName::ResentFrom, Parse::Address),
    (HeaderName::ResentBcc, Parse::Address),
    (HeaderName::ResentCc, Parse::Address),
    (HeaderName::ResentSender, Parse::Address),
    (HeaderName::ListArchive, Parse::Address),
    (HeaderName::ListHelp, Parse::Address),
    (HeaderName::ListId, Parse::Address),
    (HeaderName::ListOwner, Parse::Address),
    (HeaderName::ListPost, Parse::Address),
    (HeaderName::ListSubscribe, Parse::Address),
    (HeaderName::ListUnsubscribe, Parse::Address),
    (HeaderName::Date, Parse::Date),
    (HeaderName::ResentDate, Parse::Date),
    (HeaderName::MessageId, Parse::Id),
    (HeaderName::References, Parse::Id),
    (HeaderName::InReplyTo, Parse::Id),
    (HeaderName::ReturnPath, Parse::Id),
    (HeaderName::ContentId, Parse::Id),
    (HeaderName::ResentMessageId, Parse::Id),
    (HeaderName::Keywords, Parse::CommaSeparated),
    (HeaderName::ContentLanguage, Parse::CommaSeparated),
    (HeaderName::Received, Parse::Received),
    (HeaderName::MimeVersion, Parse::Raw),
    (HeaderName::ContentType, Parse::ContentType),
    (HeaderName::ContentDisposition, Parse::ContentType),
];

/// Builds the parser of the analysis on first use and returns it.
pub(crate) fn parser() -> &'static MessageParser {
    static PARSER: OnceLock<MessageParser> = OnceLock::new();
    PARSER.get_or_init(build)
}

/// Tells whether the analysis parser parses the value of a field. For any
/// other field the value is `HeaderValue::Empty`, and the text that
/// `MessageParser::default()` would give is the raw value, trimmed.
pub(crate) fn parses_value(name: &HeaderName<'_>) -> bool {
    PARSED_FIELDS.iter().any(|(parsed, _)| parsed == name)
}

fn build() -> MessageParser {
    let mut parser = MessageParser::new().default_header_ignore();
    for (name, parse) in PARSED_FIELDS {
        let name = name.clone();
        parser = match parse {
            Parse::Unstructured => parser.header_text(name),
            Parse::Address => parser.header_address(name),
            Parse::Date => parser.header_date(name),
            Parse::Id => parser.header_id(name),
            Parse::CommaSeparated => parser.header_comma_separated(name),
            Parse::Received => parser.header_received(name),
            Parse::Raw => parser.header_raw(name),
            Parse::ContentType => parser.header_content_type(name),
        };
    }
    parser
}

#[cfg(test)]
mod tests {
    use mail_parser::HeaderValue;

    use super::*;

    const MESSAGE: &[u8] =
        b"Received: from a.example.net ([192.0.2.1]) by b.example.net; Mon, 1 Jan 2024 10:00:00 +0000\r\n\
From: \"Sender\" <sender@example.net>\r\n\
To: a@example.org, b@example.org\r\n\
Subject: =?utf-8?q?caf=C3=A9?=\r\n\
Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
Message-ID: <id@example.net>\r\n\
MIME-Version: 1.0\r\n\
List-Unsubscribe: <mailto:leave@example.net>\r\n\
X-Mailer: Example\r\n\
 Mailer 2\r\n\
DKIM-Signature: v=1; a=rsa-sha256; d=example.net\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
body\r\n";

    #[test]
    fn parsed_fields_match_default_parser() {
        let default = MessageParser::default().parse(MESSAGE).expect("parses");
        let analysis = parser().parse(MESSAGE).expect("parses");
        assert_eq!(default.headers().len(), analysis.headers().len());
        for (expected, actual) in default.headers().iter().zip(analysis.headers()) {
            assert_eq!(expected.name, actual.name);
            assert_eq!(expected.offset_field, actual.offset_field);
            assert_eq!(expected.offset_start, actual.offset_start);
            assert_eq!(expected.offset_end, actual.offset_end);
            if parses_value(&actual.name) {
                assert_eq!(expected.value, actual.value, "value of {}", actual.name.as_str());
            } else {
                assert_eq!(actual.value, HeaderValue::Empty, "value of {}", actual.name.as_str());
            }
        }
    }

    #[test]
    fn other_fields_are_skipped() {
        let analysis = parser().parse(MESSAGE).expect("parses");
        let skipped: Vec<&str> = analysis
            .headers()
            .iter()
            .filter(|header| !parses_value(&header.name))
            .map(|header| header.name.as_str())
            .collect();
        assert_eq!(skipped, ["X-Mailer", "DKIM-Signature"]);
    }
}
