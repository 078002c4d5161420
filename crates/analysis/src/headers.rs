//! Identity headers and the signals derived from them.

use std::sync::LazyLock;

use mail_parser::{Address, DateTime, Header, HeaderName, HeaderValue, Message};
use memchr::memmem::Finder;
use phishloop_model::{
    DateInfo, Defect, DefectCode, HeaderField, Headers, Mailbox, RecipientGroup, Recipients, SenderSignals,
};

use crate::Analyzer;
use crate::address::{self, EMAIL_IN_TEXT};
use crate::confusable_text;
use crate::domain;
use crate::lists;
use crate::parser;

const MAX_FIELDS: usize = 500;
const MAX_FIELD_CHARS: usize = 4_096;

/// Header fields that RFC 5322 and RFC 2045 allow at most once in a message
/// or its top-level part.
const SINGLE_FIELDS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// Reads the identity headers of a message and records header defects.
pub(crate) fn read_headers(analyzer: &Analyzer, message: &Message<'_>, defects: &mut Vec<Defect>) -> Headers {
    let raw = message.raw_message.as_ref();
    let fields = message.headers();

    let mut headers = Headers {
        from: Vec::new(),
        sender: None,
        reply_to: Vec::new(),
        return_path: None,
        to: Recipients::default(),
        cc: Recipients::default(),
        bcc: Recipients::default(),
        delivered_to: Vec::new(),
        subject: message.subject().map(clean_text),
        message_id: message.message_id().map(|id| clean_text(id).trim_matches(['<', '>']).to_string()),
        in_reply_to: text_list(message.in_reply_to()),
        references: text_list(message.references()),
        date: None,
        user_agent: None,
        list_unsubscribe: false,
        list_id: None,
        auto_submitted: None,
        fields: Vec::new(),
        names: Vec::new(),
    };

    // Occurrences of each single-instance field, in SINGLE_FIELDS order.
    let mut counts = [0usize; SINGLE_FIELDS.len()];
    for header in fields {
        let name = raw_name(raw, header);
        let lower = name.to_ascii_lowercase();
        if let Some(index) = SINGLE_FIELDS.iter().position(|single| *single == lower) {
            counts[index] += 1;
        }
        read_field(analyzer, &mut headers, header, &lower, raw);
        if headers.names.len() < MAX_FIELDS && !headers.names.contains(&lower) {
            headers.names.push(lower);
        }
        if headers.fields.len() < MAX_FIELDS {
            headers.fields.push(HeaderField { value: field_value(raw, header), name });
        }
    }
    let seen: Vec<(String, usize)> = SINGLE_FIELDS
        .iter()
        .zip(counts)
        .filter(|(_, count)| *count > 0)
        .map(|(name, count)| (name.to_string(), count))
        .collect();

    record_header_defects(&headers, &seen, raw, fields, defects);
    headers
}

fn read_field(analyzer: &Analyzer, headers: &mut Headers, header: &Header<'_>, lower: &str, raw: &[u8]) {
    match (&header.name, &header.value) {
        (HeaderName::From, HeaderValue::Address(address)) => {
            headers.from.extend(recipients(analyzer, address).mailboxes);
        }
        (HeaderName::Sender, HeaderValue::Address(address)) => {
            headers.sender = recipients(analyzer, address).mailboxes.into_iter().next();
        }
        (HeaderName::ReplyTo, HeaderValue::Address(address)) => {
            headers.reply_to.extend(recipients(analyzer, address).mailboxes);
        }
        (HeaderName::To, HeaderValue::Address(address)) => merge(&mut headers.to, recipients(analyzer, address)),
        (HeaderName::Cc, HeaderValue::Address(address)) => merge(&mut headers.cc, recipients(analyzer, address)),
        (HeaderName::Bcc, HeaderValue::Address(address)) => merge(&mut headers.bcc, recipients(analyzer, address)),
        (HeaderName::ReturnPath, value) if headers.return_path.is_none() => {
            let text = value.as_text().map(str::to_string).unwrap_or_else(|| field_value(raw, header));
            let address = text.trim().trim_matches(['<', '>']).trim();
            if !address.is_empty() {
                headers.return_path = Some(address::mailbox(analyzer, None, Some(address), None));
            }
        }
        (HeaderName::Date, _) if headers.date.is_none() => {
            let parsed = header.value.as_datetime().filter(|date| is_plausible(date)).map(rfc3339);
            headers.date = Some(DateInfo { raw: field_value(raw, header), parsed });
        }
        (HeaderName::ListUnsubscribe, _) => headers.list_unsubscribe = true,
        (HeaderName::ListId, _) => headers.list_id = Some(field_value(raw, header)),
        _ => match lower {
            "delivered-to" | "x-original-to" | "envelope-to" => {
                let address = field_value(raw, header).trim().trim_matches(['<', '>']).to_lowercase();
                if address.contains('@') && !headers.delivered_to.contains(&address) {
                    headers.delivered_to.push(address);
                }
            }
            "x-mailer" | "user-agent" if headers.user_agent.is_none() => {
                headers.user_agent = Some(field_value(raw, header));
            }
            "auto-submitted" => headers.auto_submitted = Some(field_value(raw, header)),
            _ => {}
        },
    }
}

fn record_header_defects(
    headers: &Headers,
    seen: &[(String, usize)],
    raw: &[u8],
    fields: &[Header<'_>],
    defects: &mut Vec<Defect>,
) {
    let duplicated: Vec<&str> = seen
        .iter()
        .filter(|(name, count)| *count > 1 && SINGLE_FIELDS.contains(&name.as_str()))
        .map(|(name, _)| name.as_str())
        .collect();
    if !duplicated.is_empty() {
        defects.push(defect(DefectCode::DuplicateHeader, format!("more than one {}", duplicated.join(", "))));
    }

    let present = |name: &str| seen.iter().any(|(seen_name, _)| seen_name == name);
    if !present("from") {
        defects.push(Defect { code: DefectCode::MissingFrom, detail: None, location: None });
    }
    match &headers.date {
        None => defects.push(Defect { code: DefectCode::MissingDate, detail: None, location: None }),
        Some(date) if date.parsed.is_none() => {
            defects.push(defect(DefectCode::InvalidDate, format!("cannot parse Date {:?}", truncate(&date.raw, 80))));
        }
        Some(_) => {}
    }
    if !present("message-id") {
        defects.push(Defect { code: DefectCode::MissingMessageId, detail: None, location: None });
    }

    let address_headers = [
        ("From", &headers.from[..]),
        ("Reply-To", &headers.reply_to[..]),
        ("To", &headers.to.mailboxes[..]),
        ("Cc", &headers.cc.mailboxes[..]),
    ];
    for (name, mailboxes) in address_headers {
        let malformed: Vec<String> = mailboxes
            .iter()
            .filter_map(|mailbox| mailbox.malformed.as_ref().map(|reason| mailbox_label(mailbox, reason)))
            .collect();
        if !malformed.is_empty() {
            defects.push(Defect {
                code: DefectCode::MalformedAddress,
                detail: Some(truncate(&malformed.join("; "), 300)),
                location: Some(name.to_string()),
            });
        }
    }

    let broken_words = fields
        .iter()
        .filter(|header| has_undecoded_word(raw, header))
        .map(|header| raw_name(raw, header))
        .collect::<Vec<_>>();
    if !broken_words.is_empty() {
        defects.push(defect(
            DefectCode::InvalidEncodedWord,
            format!("encoded words left undecoded in: {}", broken_words.join(", ")),
        ));
    }
}

fn mailbox_label(mailbox: &Mailbox, reason: &str) -> String {
    match &mailbox.address {
        Some(address) => format!("{:?}: {reason}", truncate(address, 80)),
        None => format!("{:?}: {reason}", truncate(mailbox.name.as_deref().unwrap_or_default(), 80)),
    }
}

/// Searchers for the start and end of an encoded word, built once because
/// `memmem::find` builds a new searcher on every call, which costs more than
/// searching a typical header value.
static ENCODED_WORD_START: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"=?"));
static ENCODED_WORD_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"?="));

/// A decoded text value that still contains `=?...?=` means an encoded
/// word the parser could not decode.
fn has_undecoded_word(raw: &[u8], header: &Header<'_>) -> bool {
    let raw_value = raw.get(header.offset_start as usize..header.offset_end as usize).unwrap_or_default();
    if ENCODED_WORD_START.find(raw_value).is_none() {
        return false;
    }
    match &header.value {
        HeaderValue::Text(text) => text.contains("=?") && text.contains("?="),
        HeaderValue::Address(address) => address_names(address).any(|name| name.contains("=?") && name.contains("?=")),
        // The value of a skipped field is raw text, which `mail-parser`'s
        // default configuration keeps undecoded, so the raw value is checked.
        HeaderValue::Empty if !parser::parses_value(&header.name) => ENCODED_WORD_END.find(raw_value).is_some(),
        _ => false,
    }
}

fn address_names<'b>(address: &'b Address<'_>) -> Box<dyn Iterator<Item = &'b str> + 'b> {
    match address {
        Address::List(list) => Box::new(list.iter().filter_map(|addr| addr.name.as_deref())),
        Address::Group(groups) => {
            Box::new(groups.iter().flat_map(|group| group.addresses.iter()).filter_map(|addr| addr.name.as_deref()))
        }
    }
}

fn recipients(analyzer: &Analyzer, address: &Address<'_>) -> Recipients {
    let mut result = Recipients::default();
    match address {
        Address::List(list) => {
            for addr in list {
                result.mailboxes.push(address::mailbox(analyzer, addr.name.as_deref(), addr.address.as_deref(), None));
            }
        }
        Address::Group(groups) => {
            for group in groups {
                let name = group.name.as_deref().map(clean_text);
                for addr in &group.addresses {
                    result.mailboxes.push(address::mailbox(
                        analyzer,
                        addr.name.as_deref(),
                        addr.address.as_deref(),
                        name.as_deref(),
                    ));
                }
                if let Some(name) = name {
                    result.groups.push(RecipientGroup { name, members: group.addresses.len() });
                }
            }
        }
    }
    result
}

fn merge(into: &mut Recipients, from: Recipients) {
    into.mailboxes.extend(from.mailboxes);
    into.groups.extend(from.groups);
}

/// Splits a display name into lowercase words of letters and digits, so
/// that punctuation, titles in brackets and word order do not matter.
fn name_words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()).map(str::to_lowercase).collect()
}

/// Tells whether a display name names `person`: a name of one word must be
/// the whole display name, and every word of a longer name must appear in
/// it ("Sam Executive (CEO)" and "Executive, Sam" name "Sam Executive").
fn names_person(display_words: &[String], person: &str) -> bool {
    let person_words = name_words(person);
    match person_words.len() {
        0 => false,
        1 => display_words == person_words.as_slice(),
        _ => person_words.iter().all(|word| display_words.contains(word)),
    }
}

/// Derives the sender signals from the identity headers.
pub(crate) fn sender_signals(analyzer: &Analyzer, headers: &Headers) -> SenderSignals {
    let from = headers.from.first();
    let from_domain = from.and_then(|mailbox| mailbox.domain.clone());
    let from_registrable = from.and_then(|mailbox| mailbox.registrable_domain.clone());
    let differs =
        |mailbox: &Mailbox| mailbox.registrable_domain.is_some() && mailbox.registrable_domain != from_registrable;

    let name = from.and_then(|mailbox| mailbox.name.as_deref()).unwrap_or_default();
    let display_name_address = EMAIL_IN_TEXT.find(name).map(|found| found.as_str().to_lowercase());
    let display_name_address_differs = display_name_address.as_deref().is_some_and(|address| {
        let domain = address.rsplit_once('@').map(|(_, domain)| domain).unwrap_or_default();
        domain::registrable(domain) != from_registrable
    });
    let from_internal = from_domain.as_deref().is_some_and(|domain| domain::is_internal(analyzer, domain));

    let people = &analyzer.config().organization.people;
    let name_words = name_words(name);
    let display_name_internal_person = (!from_internal && !name_words.is_empty())
        .then(|| people.iter().find(|person| names_person(&name_words, person)).cloned())
        .flatten();

    SenderSignals {
        from_domain: from_domain.clone(),
        from_registrable_domain: from_registrable.clone(),
        multiple_from: headers.from.len() > 1,
        from_malformed: from.is_none_or(|mailbox| mailbox.malformed.is_some()),
        from_internal,
        from_free_mail: from_registrable.as_deref().is_some_and(lists::is_free_mail),
        reply_to_differs: headers.reply_to.iter().any(differs),
        reply_to_free_mail: headers
            .reply_to
            .iter()
            .any(|mailbox| mailbox.registrable_domain.as_deref().is_some_and(lists::is_free_mail)),
        return_path_differs: headers.return_path.as_ref().is_some_and(differs),
        sender_differs: headers.sender.as_ref().is_some_and(differs),
        display_name_address,
        display_name_address_differs,
        display_name_brand: analyzer
            .brands()
            .named_in(name, from_registrable.as_deref())
            .map(|brand| brand.name.clone()),
        display_name_internal_person,
        display_name_confusables: confusable_text::confusable_words(analyzer.brands(), name),
        from_lookalikes: from_domain.as_deref().map(|domain| domain::lookalikes(analyzer, domain)).unwrap_or_default(),
        from_brand: from_registrable.as_deref().and_then(|domain| domain::owning_brand(analyzer, domain)),
    }
}

/// The field name as written in the message.
pub(crate) fn raw_name(raw: &[u8], header: &Header<'_>) -> String {
    let start = header.offset_field as usize;
    let end = (header.offset_start as usize).min(raw.len());
    raw.get(start..end)
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .map(|name| name.trim_end_matches(|c: char| c == ':' || c.is_whitespace()))
        .filter(|name| !name.is_empty())
        .map_or_else(|| header.name.as_str().to_string(), str::to_string)
}

/// The value of a field: decoded text where the parser decoded it, else the
/// raw value unfolded.
pub(crate) fn field_value(raw: &[u8], header: &Header<'_>) -> String {
    match &header.value {
        HeaderValue::Text(text) => return single_line(text, MAX_FIELD_CHARS),
        HeaderValue::Address(address) => return single_line(&render_address(address), MAX_FIELD_CHARS),
        _ => {}
    }
    let bytes = raw_value(raw, header);
    match std::str::from_utf8(bytes) {
        Ok(text) => single_line(text, MAX_FIELD_CHARS),
        Err(_) => single_line(&String::from_utf8_lossy(bytes), MAX_FIELD_CHARS),
    }
}

/// An address header as decoded text: `"Name" <address>` entries separated
/// by commas, groups as `name: members;`.
fn render_address(address: &Address<'_>) -> String {
    let render = |addr: &mail_parser::Addr<'_>| match (addr.name.as_deref(), addr.address.as_deref()) {
        (Some(name), Some(address)) => format!("\"{}\" <{address}>", name.replace('"', "\\\"")),
        (Some(name), None) => format!("\"{}\"", name.replace('"', "\\\"")),
        (None, Some(address)) => address.to_string(),
        (None, None) => String::new(),
    };
    match address {
        Address::List(list) => list.iter().map(render).collect::<Vec<_>>().join(", "),
        Address::Group(groups) => groups
            .iter()
            .map(|group| {
                let members = group.addresses.iter().map(render).collect::<Vec<_>>().join(", ");
                match group.name.as_deref() {
                    Some(name) => format!("{name}: {members};"),
                    None => members,
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Unfolds, turns line breaks and NUL into spaces, trims and cuts to
/// `max_chars` characters, in one pass.
fn single_line(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    let bytes = text.as_bytes();
    let mut output = String::with_capacity(text.len());
    let mut start = 0;
    // Copy the runs between line breaks whole; each break and the blanks
    // around it become one space.
    while let Some(offset) = memchr::memchr3(b'\r', b'\n', b'\0', &bytes[start..]) {
        let brk = start + offset;
        output.push_str(text[start..brk].trim_end_matches([' ', '\t']));
        let mut next = brk;
        while next < bytes.len() && matches!(bytes[next], b'\r' | b'\n' | b'\0' | b' ' | b'\t') {
            next += 1;
        }
        if !output.is_empty() && next < bytes.len() {
            output.push(' ');
        }
        start = next;
    }
    output.push_str(&text[start..]);
    if output.len() > max_chars {
        output.truncate(prefix_end(&output, max_chars));
    }
    output
}

/// Joins folded lines and trims.
pub(crate) fn unfold(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => single_line(text, usize::MAX),
        Err(_) => single_line(&String::from_utf8_lossy(bytes), usize::MAX),
    }
}

pub(crate) fn raw_value<'r>(raw: &'r [u8], header: &Header<'_>) -> &'r [u8] {
    let start = header.offset_start as usize;
    let end = (header.offset_end as usize).min(raw.len());
    raw.get(start..end).unwrap_or_default()
}

/// Replaces line breaks and NUL with spaces and trims.
fn clean_text(text: &str) -> String {
    let text = text.trim();
    if memchr::memchr3(b'\r', b'\n', 0, text.as_bytes()).is_none() {
        return text.to_string();
    }
    // Each replaced character is one ASCII byte, so the bytes can be
    // replaced in place. Spaces that end up at either end are trimmed as
    // `str::replace` followed by `trim` would.
    let mut bytes = text.as_bytes().to_vec();
    for byte in &mut bytes {
        if matches!(*byte, b'\r' | b'\n' | 0) {
            *byte = b' ';
        }
    }
    let replaced = String::from_utf8(bytes).expect("replacing ASCII bytes keeps UTF-8 valid");
    replaced.trim().to_string()
}

fn text_list(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(text) => vec![clean_text(text).trim_matches(['<', '>']).to_string()],
        HeaderValue::TextList(list) => {
            list.iter().map(|item| clean_text(item).trim_matches(['<', '>']).to_string()).collect()
        }
        _ => Vec::new(),
    }
}

/// Formats `date` as `DateTime::to_rfc3339` of `mail-parser` 0.11 does:
/// `YYYY-MM-DDThh:mm:ss`, then `Z` for a zero offset or else `+hh:mm` or
/// `-hh:mm`. It writes the digits itself because `format!` cost far more,
/// and a test compares the two on generated dates.
pub(crate) fn rfc3339(date: &DateTime) -> String {
    let mut output = String::with_capacity(25);
    push_padded(&mut output, date.year.into(), 4);
    output.push('-');
    push_padded(&mut output, date.month.into(), 2);
    output.push('-');
    push_padded(&mut output, date.day.into(), 2);
    output.push('T');
    push_padded(&mut output, date.hour.into(), 2);
    output.push(':');
    push_padded(&mut output, date.minute.into(), 2);
    output.push(':');
    push_padded(&mut output, date.second.into(), 2);
    if date.tz_hour == 0 && date.tz_minute == 0 {
        output.push('Z');
        return output;
    }
    output.push(if date.tz_before_gmt { '-' } else { '+' });
    push_padded(&mut output, date.tz_hour.into(), 2);
    output.push(':');
    push_padded(&mut output, date.tz_minute.into(), 2);
    output
}

/// Appends `value` in decimal with leading zeros up to `width` digits, as
/// `format!("{value:0width$}")` does.
fn push_padded(output: &mut String, value: u32, width: usize) {
    let mut digits = [0u8; 10];
    let mut count = 0;
    let mut rest = value;
    loop {
        digits[count] = b'0' + (rest % 10) as u8;
        count += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for _ in count..width {
        output.push('0');
    }
    for digit in digits[..count].iter().rev() {
        output.push(char::from(*digit));
    }
}

fn is_plausible(date: &DateTime) -> bool {
    date.is_valid()
        && (1..=12).contains(&date.month)
        && (1..=31).contains(&date.day)
        && date.hour < 24
        && date.minute < 60
        && date.second < 61
}

pub(crate) fn truncate(text: &str, max_chars: usize) -> String {
    // No character is shorter than a byte, so a short text needs no walk.
    if text.len() <= max_chars {
        return text.to_string();
    }
    text[..prefix_end(text, max_chars)].to_string()
}

/// Returns the byte length of the first `max_chars` characters of `text`,
/// which must be longer than `max_chars` bytes.
fn prefix_end(text: &str, max_chars: usize) -> usize {
    // When the first `max_chars` bytes are ASCII they are the first
    // `max_chars` characters, and `is_ascii` checks a word at a time.
    if text.as_bytes()[..max_chars].is_ascii() {
        return max_chars;
    }
    text.char_indices().nth(max_chars).map_or(text.len(), |(end, _)| end)
}

fn defect(code: DefectCode, detail: String) -> Defect {
    Defect { code, detail: Some(detail), location: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_unfolds() {
        assert_eq!(single_line("a\r\n b\n\tc  d", 100), "a b c  d");
        assert_eq!(single_line("  x \r\n ", 100), "x");
        assert_eq!(single_line("abc\0def", 100), "abc def");
        assert_eq!(single_line("héllo wörld", 4), "héll");
        assert_eq!(unfold(b"from a\r\n\tby b;\r\n Mon"), "from a by b; Mon");
    }

    #[test]
    fn undecoded_words_in_skipped_fields() {
        let analyzer = Analyzer::new(crate::Config::default(), crate::Mode::Auto).expect("valid");
        let message = "From: a@example.net\r\nX-Raw-Word: =?utf-8?Q?left_as_is?=\r\nX-Half: =? only the start\r\n\
X-Plain: a = b ? c\r\nDate: Thu, 10 Nov 2022 13:05:27 +0000\r\nMessage-ID: <a@example.net>\r\n\r\nbody\r\n";
        let parsed = parser::parser().parse(message.as_bytes()).expect("parses");
        let mut defects = Vec::new();
        read_headers(&analyzer, &parsed, &mut defects);
        let encoded: Vec<&Defect> =
            defects.iter().filter(|defect| defect.code == DefectCode::InvalidEncodedWord).collect();
        assert_eq!(encoded.len(), 1, "{defects:?}");
        assert_eq!(encoded[0].detail.as_deref(), Some("encoded words left undecoded in: X-Raw-Word"));
    }

    #[test]
    fn clean_text_matches_replace() {
        let texts = ["", " a ", "\r\n<a@b>\r\n <c@d>\0", "\0x\0", "é\r\nü ", "\u{85}a\u{A0}\r", "\r\n", " \0 "];
        for text in texts {
            let expected = text.replace(['\r', '\n', '\0'], " ").trim().to_string();
            assert_eq!(clean_text(text), expected, "{text:?}");
        }
    }

    #[test]
    fn rfc3339_matches_mail_parser() {
        let years = [0u16, 7, 99, 999, 1900, 2026, 9999, 10_000, u16::MAX];
        let small = [0u8, 1, 9, 10, 23, 59, 99, 100, u8::MAX];
        let mut next = crate::test_sequence(0x0123_4567_89ab_cdef);
        for _ in 0..5_000 {
            let mut pick = || small[next() % small.len()];
            let date = DateTime {
                year: years[pick() as usize % years.len()],
                month: pick(),
                day: pick(),
                hour: pick(),
                minute: pick(),
                second: pick(),
                tz_before_gmt: pick().is_multiple_of(2),
                tz_hour: pick(),
                tz_minute: pick(),
            };
            assert_eq!(rfc3339(&date), date.to_rfc3339(), "{date:?}");
        }
        for tz_before_gmt in [false, true] {
            let date = DateTime { year: 2026, month: 12, day: 6, tz_before_gmt, ..DateTime::default() };
            assert_eq!(rfc3339(&date), "2026-12-06T00:00:00Z");
        }
    }

    #[test]
    fn truncate_counts_characters() {
        let texts = ["", "abc", "abcdef", "héllo wörld", "ascii first, then ü", "üüüüüü", "ab\u{1F600}cd"];
        for text in texts {
            for max_chars in 0..=text.len() + 1 {
                let expected: String = text.chars().take(max_chars).collect();
                assert_eq!(truncate(text, max_chars), expected, "{text:?} to {max_chars}");
                let expected_line: String = text.trim().chars().take(max_chars).collect();
                assert_eq!(single_line(text, max_chars), expected_line, "{text:?} to {max_chars}");
            }
        }
    }

    #[test]
    fn display_name_matches_person() {
        let matches = |display: &str, person: &str| names_person(&name_words(display), person);
        assert!(matches("Sam Executive", "Sam Executive"));
        assert!(matches("  sam   EXECUTIVE ", "Sam Executive"));
        assert!(matches("Sam Executive (CEO)", "Sam Executive"));
        assert!(matches("Executive, Sam", "Sam Executive"));
        assert!(matches("Sam", "Sam"));
        assert!(!matches("Sam from Sales", "Sam"), "a one-word name must be the whole display name");
        assert!(!matches("Sam Smith", "Sam Executive"));
        assert!(!matches("", "Sam Executive"));
        assert!(!matches("Sam Executive", "  "));
    }
}
