//! Analysis of one parsed message: walks the MIME tree once and fills a
//! [`MessageAnalysis`].

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::GeneralPurpose;
use mail_parser::{Encoding, Message, MessagePart, MimeHeaders, PartType};
use phishloop_model::{
    BodySummary, Cue, CueKind, Defect, DefectCode, DomainIndicator, DomainRole, Headers, HtmlSummary, MessageAnalysis,
    ParseInfo, PhoneNumber, Secret, UrlIndicator, UrlSourceKind,
};
use url::Url;

use crate::Analyzer;
use crate::attachments;
use crate::auth;
use crate::cues;
use crate::deadline::Deadline;
use crate::domain;
use crate::headers::{self, truncate};
use crate::html;
use crate::random_label;
use crate::raw::Prepared;
use crate::received;
use crate::secrets;
use crate::text;
use crate::urls::UrlCollector;

/// Characters of visible text kept for the excerpt, which is also the text
/// the statistical model reads.
const EXCERPT_CHARS: usize = 2_000;
/// Addresses and phone numbers kept per message.
const MAX_CONTENT_ITEMS: usize = 200;

/// Accumulates what the walk over a message finds.
pub(crate) struct Collector<'a> {
    pub analyzer: &'a Analyzer,
    /// Nesting depth of attached messages; 0 for the message itself.
    pub depth: usize,
    pub deadline: Deadline,
    pub urls: UrlCollector,
    pub defects: Vec<Defect>,
    pub emails: Vec<String>,
    pub phones: Vec<PhoneNumber>,
    pub cues: Vec<Cue>,
    pub secrets: Vec<Secret>,
    /// Full values of the secrets found, kept only to redact them from the
    /// excerpt; never serialized.
    secret_values: Vec<String>,
    pub attachments: Vec<phishloop_model::Attachment>,
    /// Images searched for QR codes so far.
    pub qr_images: usize,
    /// Bytes still allowed to be decompressed from archives.
    pub archive_budget: u64,
    /// Recipient addresses, for the embedded-recipient check.
    pub recipients: Vec<String>,
    body_text: String,
    html_text: String,
    has_text: bool,
    has_html: bool,
    html_summary: Option<HtmlSummary>,
}

impl<'a> Collector<'a> {
    fn new(analyzer: &'a Analyzer, depth: usize) -> Self {
        let limits = &analyzer.config().limits;
        Collector {
            analyzer,
            depth,
            deadline: Deadline::after(limits.time_limit_ms),
            urls: UrlCollector::new(limits.max_urls),
            defects: Vec::new(),
            emails: Vec::new(),
            phones: Vec::new(),
            cues: Vec::new(),
            secrets: Vec::new(),
            secret_values: Vec::new(),
            attachments: Vec::new(),
            qr_images: 0,
            archive_budget: limits.max_archive_bytes,
            recipients: Vec::new(),
            body_text: String::new(),
            html_text: String::new(),
            has_text: false,
            has_html: false,
            html_summary: None,
        }
    }

    /// Scans plain text: written URLs and addresses and, with `words`,
    /// phone numbers, cues and secrets. `location` names the part for the
    /// output.
    pub fn scan_text(
        &mut self,
        text: &str,
        url_kind: UrlSourceKind,
        location: &str,
        url_location: Option<&str>,
        words: bool,
    ) {
        let limit = self.analyzer.config().limits.max_scan_bytes;
        let text = bounded(text, limit);
        let finds = text::find_links(text);
        for url in finds.urls {
            self.urls.add(&url, url_kind, url_location, None);
        }
        self.add_emails(finds.emails);
        if words {
            self.scan_words(text, location);
        }
    }

    /// Cues, secrets and telephone numbers of a text.
    pub fn scan_words(&mut self, text: &str, location: &str) {
        self.add_phones(text, location);
        cues::find_cues(text, location, &mut self.cues);
        secrets::find_secrets(text, location, &mut self.secrets, &mut self.secret_values);
    }

    /// Scans an HTML document: attribute links with their texts, written
    /// URLs in text and script, addresses and, for attachments, cues and
    /// secrets (body text is scanned once for the whole message). Returns
    /// the extract for callers that need the structure.
    pub fn scan_html(&mut self, html_source: &str, location: &str, as_attachment: bool) -> html::HtmlExtract {
        let limit = self.analyzer.config().limits.max_scan_bytes;
        let extract = html::extract_with(bounded(html_source, limit), as_attachment);
        let base = extract.summary.base_href.as_deref().and_then(|base| Url::parse(base).ok());
        let url_location = as_attachment.then_some(location);
        for link in &extract.links {
            let kind = if as_attachment { UrlSourceKind::Attachment } else { link.kind };
            if let Some(index) = self.urls.add(&link.url, kind, url_location, base.as_ref())
                && let Some(text) = &link.text
            {
                self.urls.add_display_text(index, text);
            }
        }
        let (text_kind, script_kind) = if as_attachment {
            (UrlSourceKind::Attachment, UrlSourceKind::Attachment)
        } else {
            (UrlSourceKind::HtmlText, UrlSourceKind::HtmlScript)
        };
        for url in text::find_links(&extract.text_outside_links).urls {
            self.urls.add(&url, text_kind, url_location, None);
        }
        let script_finds = text::find_links(&extract.script);
        for url in script_finds.urls {
            self.urls.add(&url, script_kind, url_location, None);
        }
        let emails = text::find_links(&extract.text).emails;
        self.add_emails(emails);
        self.add_emails(extract.mailto.iter().map(|address| address.to_lowercase()).collect());
        for number in &extract.tel {
            self.add_phones(number, location);
        }
        if as_attachment {
            self.scan_words(&extract.text, location);
        }
        extract
    }

    /// Adds the telephone numbers found in `text`, once each.
    pub fn add_phones(&mut self, text: &str, location: &str) {
        for phone in text::find_phones(text) {
            if self.phones.len() < MAX_CONTENT_ITEMS
                && !self.phones.iter().any(|known| known.normalized == phone.normalized)
            {
                self.phones.push(PhoneNumber {
                    raw: phone.raw,
                    normalized: phone.normalized,
                    toll_free: phone.toll_free,
                    location: location.to_string(),
                });
            }
        }
    }

    pub fn add_emails(&mut self, emails: Vec<String>) {
        for email in emails {
            if self.emails.len() < MAX_CONTENT_ITEMS && !self.emails.contains(&email) {
                self.emails.push(email);
            }
        }
    }

    pub fn defect(&mut self, code: DefectCode, detail: impl Into<String>, location: Option<&str>) {
        self.defects.push(Defect { code, detail: Some(detail.into()), location: location.map(str::to_string) });
    }
}

/// Analyses a message that `mail-parser` could parse.
pub(crate) fn analyze_parsed(
    analyzer: &Analyzer,
    prepared: &Prepared<'_>,
    message: &Message<'_>,
    depth: usize,
    extra_recipients: &[String],
) -> MessageAnalysis {
    let mut collector = Collector::new(analyzer, depth);
    collector.defects.extend(prepared.defects.iter().cloned());

    let headers = headers::read_headers(analyzer, message, &mut collector.defects);
    collector.recipients = recipients_of(&headers, extra_recipients);
    let sender = headers::sender_signals(analyzer, &headers);
    let chain = received::read_chain(analyzer, message);
    let authentication = auth::read_authentication(analyzer, message, &chain);
    if let Some(subject) = &headers.subject {
        let subject = subject.clone();
        collector.scan_words(&subject, "subject");
    }

    let mut walk = Walk { message, raw: message.raw_message.as_ref(), parts_seen: 0, max_depth: 0 };
    walk.part(&mut collector, 0, String::new(), 0);
    // Phone numbers, cues and secrets of the visible body text, once: the
    // plain part when there is one, else the text of the HTML.
    let use_plain = !collector.body_text.trim().is_empty();
    let visible =
        if use_plain { std::mem::take(&mut collector.body_text) } else { std::mem::take(&mut collector.html_text) };
    collector.scan_words(&visible, "body");
    if use_plain {
        collector.body_text = visible;
    } else {
        collector.html_text = visible;
    }
    if walk.parts_seen > analyzer.config().limits.max_mime_parts {
        collector.defect(
            DefectCode::PartLimitExceeded,
            format!(
                "{} MIME parts; only the first {} were analysed",
                message.parts.len(),
                analyzer.config().limits.max_mime_parts
            ),
            None,
        );
    }
    if collector.deadline.was_hit() {
        collector.defect(
            DefectCode::TimeLimitExceeded,
            format!("analysis stopped after {} ms", analyzer.config().limits.time_limit_ms),
            None,
        );
    }
    if collector.urls.limit_hit() {
        collector.defect(
            DefectCode::IndicatorLimitExceeded,
            format!("more than {} URLs", analyzer.config().limits.max_urls),
            None,
        );
    }

    let mime_parts = message.parts.len();
    finish(collector, headers, sender, chain, authentication, prepared, mime_parts, walk.max_depth)
}

/// Analyses input without a parsable header block: scanned as text so that
/// no indicator is lost, with a defect saying why.
pub(crate) fn analyze_unparsed(analyzer: &Analyzer, prepared: &Prepared<'_>) -> MessageAnalysis {
    let mut collector = Collector::new(analyzer, 0);
    collector.defects.extend(prepared.defects.iter().cloned());
    if !collector.defects.iter().any(|defect| defect.code == DefectCode::EmptyInput) {
        collector.defects.push(Defect {
            code: DefectCode::NoHeaders,
            detail: Some("no header fields found; the input was scanned as plain text".to_string()),
            location: None,
        });
    }
    let text = String::from_utf8_lossy(&prepared.bytes).into_owned();
    collector.scan_text(&text, UrlSourceKind::Text, "body", None, true);
    collector.body_text = text;
    collector.has_text = !collector.body_text.trim().is_empty();

    let headers = empty_headers();
    let sender = headers::sender_signals(analyzer, &headers);
    finish(collector, headers, sender, Default::default(), Default::default(), prepared, 0, 0)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    mut collector: Collector<'_>,
    headers: Headers,
    sender: phishloop_model::SenderSignals,
    received: phishloop_model::ReceivedChain,
    authentication: phishloop_model::Authentication,
    prepared: &Prepared<'_>,
    mime_parts: usize,
    mime_depth: usize,
) -> MessageAnalysis {
    let analyzer = collector.analyzer;
    let urls = collector.urls.finish(analyzer, &collector.recipients);
    // A callback lure needs a number to call, but the number may sit in
    // another part than the request: the subject, an attached text or a
    // tel: link or QR code, all of which add to the phone numbers.
    if collector.phones.is_empty() {
        collector.cues.retain(|cue| cue.kind != CueKind::CallbackRequest);
    }
    let visible = if collector.has_text && !collector.body_text.trim().is_empty() {
        &collector.body_text
    } else {
        &collector.html_text
    };
    let collapsed = collapse_whitespace(visible);
    let excerpt_source = if collector.secret_values.is_empty() {
        Cow::Borrowed(collapsed.as_str())
    } else {
        Cow::Owned(secrets::redact_all(&collapsed, &collector.secret_values))
    };
    let body = BodySummary {
        has_text: collector.has_text,
        has_html: collector.has_html,
        text_length: collapsed.chars().count(),
        excerpt: truncate(&excerpt_source, EXCERPT_CHARS),
        html: collector.html_summary,
    };
    let content_fingerprint = content_fingerprint(&collapsed);
    let domains = domains_of(analyzer, &headers, &authentication, &urls, &collector.emails);

    let mut defects = collector.defects;
    defects.dedup();
    MessageAnalysis {
        parse: ParseInfo {
            status: ParseInfo::status_of(&defects),
            size: prepared.original_size as u64,
            mime_parts,
            mime_depth,
            defects,
        },
        headers,
        sender,
        received,
        authentication,
        body,
        urls,
        domains,
        email_addresses: collector.emails,
        phone_numbers: collector.phones,
        attachments: collector.attachments,
        cues: collector.cues,
        secrets: collector.secrets,
        content_fingerprint,
    }
}

/// The MIME tree walk.
struct Walk<'m, 'x> {
    message: &'m Message<'x>,
    raw: &'m [u8],
    parts_seen: usize,
    max_depth: usize,
}

impl Walk<'_, '_> {
    fn part(&mut self, collector: &mut Collector<'_>, id: u32, path: String, depth: usize) {
        let limits = &collector.analyzer.config().limits;
        self.parts_seen += 1;
        if self.parts_seen > limits.max_mime_parts {
            return;
        }
        if depth > limits.max_mime_depth {
            collector.defect(
                DefectCode::MimeDepthExceeded,
                format!("MIME nesting deeper than {}", limits.max_mime_depth),
                Some(&path),
            );
            return;
        }
        self.max_depth = self.max_depth.max(depth);
        let Some(part) = self.message.parts.get(id as usize) else {
            return;
        };
        self.check_part(collector, part, &path);

        if let PartType::Multipart(children) = &part.body {
            for (index, child) in children.iter().enumerate() {
                let child_path =
                    if path.is_empty() { format!("{}", index + 1) } else { format!("{path}.{}", index + 1) };
                self.part(collector, *child, child_path, depth + 1);
            }
            return;
        }

        let path = if path.is_empty() { "1".to_string() } else { path };
        let is_attachment = self.message.attachments.contains(&id)
            || matches!(part.body, PartType::Binary(_) | PartType::InlineBinary(_) | PartType::Message(_));
        if is_attachment {
            let bytes = part_bytes(part, self.raw);
            let attachment = attachments::analyze(collector, part, &path, &bytes);
            collector.attachments.push(attachment);
            return;
        }
        self.body_part(collector, part, &path);
    }

    fn body_part(&mut self, collector: &mut Collector<'_>, part: &MessagePart<'_>, path: &str) {
        let location = format!("body part {path}");
        match &part.body {
            PartType::Html(html_source) => {
                collector.has_html |= !html_source.trim().is_empty();
                let extract = collector.scan_html(html_source, &location, false);
                if collector.html_summary.is_none() {
                    collector.html_summary = Some(extract.summary);
                }
                append(&mut collector.html_text, &extract.text);
            }
            PartType::Text(text) if is_calendar(part) => {
                attachments::scan_calendar(collector, text, &location, None);
            }
            PartType::Text(text) => {
                // When the parser could not decode the body, it keeps the
                // encoded text; decode it leniently instead.
                let decoded = part_bytes(part, self.raw);
                let text =
                    if part.is_encoding_problem { String::from_utf8_lossy(&decoded) } else { Cow::Borrowed(&**text) };
                collector.has_text |= !text.trim().is_empty();
                collector.scan_text(&text, UrlSourceKind::Text, "body", None, false);
                append(&mut collector.body_text, &text);
            }
            _ => {}
        }
    }

    /// Structural and encoding defects of one part.
    fn check_part(&self, collector: &mut Collector<'_>, part: &MessagePart<'_>, path: &str) {
        let location = if path.is_empty() { "root" } else { path };
        let content_type = part.content_type();
        let is_multipart = content_type.is_some_and(|value| value.ctype().eq_ignore_ascii_case("multipart"));
        if is_multipart {
            match content_type.and_then(|value| value.attribute("boundary")) {
                None => collector.defect(
                    DefectCode::MissingBoundaryParameter,
                    "multipart part without boundary parameter",
                    Some(location),
                ),
                Some(boundary) => match &part.body {
                    PartType::Multipart(_) => {
                        let end = if part.offset_end == 0 {
                            self.raw.len()
                        } else {
                            (part.offset_end as usize).min(self.raw.len())
                        };
                        let body = self.raw.get(part.offset_body as usize..end).unwrap_or_default();
                        let closing = format!("--{boundary}--");
                        if memchr::memmem::find(body, closing.as_bytes()).is_none() {
                            collector.defect(
                                DefectCode::MissingClosingBoundary,
                                format!("no closing delimiter {closing:?}"),
                                Some(location),
                            );
                        }
                    }
                    _ => collector.defect(
                        DefectCode::BoundaryNotFound,
                        format!("boundary {boundary:?} not found in the body"),
                        Some(location),
                    ),
                },
            }
        }

        let transfer_encoding = part.content_transfer_encoding().map(str::to_ascii_lowercase);
        if let Some(value) = &transfer_encoding {
            let known =
                matches!(value.trim(), "7bit" | "8bit" | "binary" | "base64" | "quoted-printable" | "7-bit" | "8-bit");
            if !known {
                collector.defect(
                    DefectCode::UnknownTransferEncoding,
                    format!("Content-Transfer-Encoding {value:?}"),
                    Some(location),
                );
            }
        }
        let empty = part.offset_end <= part.offset_body
            || part.contents().is_empty() && part.offset_end as usize >= self.raw.len();
        if part.is_encoding_problem && !empty && !is_multipart {
            let declared_base64 = transfer_encoding.as_deref().map(str::trim) == Some("base64");
            let code = match part.encoding {
                Encoding::Base64 | Encoding::None if declared_base64 || part.encoding == Encoding::Base64 => {
                    // The parser gives up on some bodies with bad characters;
                    // a lenient decode tells whether the data itself is bad or
                    // only its framing (a missing boundary).
                    let clean = is_clean_base64(
                        self.raw
                            .get(part.offset_body as usize..(part.offset_end as usize).min(self.raw.len()))
                            .unwrap_or_default(),
                    );
                    if clean { None } else { Some(DefectCode::InvalidBase64) }
                }
                Encoding::QuotedPrintable => Some(DefectCode::InvalidQuotedPrintable),
                _ => Some(DefectCode::UndecodableText),
            };
            if let Some(code) = code {
                collector.defect(code, "the part could not be decoded cleanly", Some(location));
            }
        }
    }
}

/// The decoded bytes of a part. When the parser could not decode a base64
/// or quoted-printable body (for example because the closing boundary is
/// missing), the raw body is decoded leniently instead.
pub(crate) fn part_bytes<'p>(part: &'p MessagePart<'_>, raw: &[u8]) -> Cow<'p, [u8]> {
    let raw_body = || raw.get(part.offset_body as usize..(part.offset_end as usize).min(raw.len())).unwrap_or_default();
    let transfer_encoding = part.content_transfer_encoding().map(|value| value.trim().to_ascii_lowercase());
    match &part.body {
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => Cow::Borrowed(bytes.as_ref()),
        PartType::Text(text) | PartType::Html(text) => {
            if part.is_encoding_problem && transfer_encoding.as_deref() == Some("base64") {
                return Cow::Owned(lenient_base64(raw_body()).0);
            }
            if part.is_encoding_problem && transfer_encoding.as_deref() == Some("quoted-printable") {
                return Cow::Owned(decode_quoted_printable(raw_body()));
            }
            Cow::Borrowed(text.as_bytes())
        }
        PartType::Message(nested) => {
            let nested_raw: &[u8] = nested.raw_message.as_ref();
            if part.encoding == Encoding::None && nested_raw.len() == raw.len() {
                Cow::Owned(raw_body().to_vec())
            } else {
                Cow::Owned(nested_raw.to_vec())
            }
        }
        PartType::Multipart(_) => Cow::Borrowed(&[]),
    }
}

/// Decodes base64 skipping every byte outside the alphabet. Returns the
/// bytes and whether the input was clean (only white space skipped and a
/// valid length).
pub(crate) fn lenient_base64(raw: &[u8]) -> (Vec<u8>, bool) {
    let mut clean = true;
    let mut filtered = Vec::with_capacity(raw.len());
    let mut finished = false;
    for &byte in raw {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' if !finished => filtered.push(byte),
            b'=' => finished = true,
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b'-' if finished => break,
            _ => {
                clean = false;
                if finished {
                    break;
                }
            }
        }
    }
    let usable = filtered.len() - filtered.len() % 4;
    let remainder = filtered.len() % 4;
    if remainder == 1 {
        clean = false;
    }
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::general_purpose::NO_PAD.with_decode_allow_trailing_bits(true),
    );
    let keep = if remainder == 1 { usable } else { filtered.len() };
    let decoded = engine.decode(&filtered[..keep]).unwrap_or_default();
    (decoded, clean)
}

/// Returns whether [`lenient_base64`] would call `raw` clean, without
/// collecting or decoding the data.
pub(crate) fn is_clean_base64(raw: &[u8]) -> bool {
    let mut symbols = 0usize;
    let mut finished = false;
    for &byte in raw {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' if !finished => symbols += 1,
            b'=' => finished = true,
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b'-' if finished => break,
            _ => return false,
        }
    }
    symbols % 4 != 1
}

/// Decodes quoted-printable leniently: invalid escapes are kept as written.
pub(crate) fn decode_quoted_printable(raw: &[u8]) -> Vec<u8> {
    let mut output = Vec::with_capacity(raw.len());
    let mut index = 0;
    while index < raw.len() {
        let byte = raw[index];
        if byte != b'=' {
            output.push(byte);
            index += 1;
            continue;
        }
        match (raw.get(index + 1), raw.get(index + 2)) {
            (Some(b'\r'), Some(b'\n')) => index += 3,
            (Some(b'\n'), _) => index += 2,
            (Some(&high), Some(&low)) if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                let value = (hex_value(high) << 4) | hex_value(low);
                output.push(value);
                index += 3;
            }
            _ => {
                output.push(byte);
                index += 1;
            }
        }
    }
    output
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

pub(crate) fn is_calendar(part: &MessagePart<'_>) -> bool {
    part.content_type().is_some_and(|content_type| {
        content_type.ctype().eq_ignore_ascii_case("text")
            && content_type.subtype().is_some_and(|subtype| subtype.eq_ignore_ascii_case("calendar"))
    })
}

fn recipients_of(headers: &Headers, extra: &[String]) -> Vec<String> {
    let mut recipients: Vec<String> = headers
        .to
        .mailboxes
        .iter()
        .chain(&headers.cc.mailboxes)
        .chain(&headers.bcc.mailboxes)
        .filter(|mailbox| mailbox.malformed.is_none())
        .filter_map(|mailbox| mailbox.address.as_ref().map(|address| address.to_lowercase()))
        .chain(headers.delivered_to.iter().cloned())
        .chain(extra.iter().map(|address| address.to_lowercase()))
        .filter(|address| address.contains('@'))
        .collect();
    recipients.sort();
    recipients.dedup();
    recipients
}

fn domains_of(
    analyzer: &Analyzer,
    headers: &Headers,
    authentication: &phishloop_model::Authentication,
    urls: &[UrlIndicator],
    emails: &[String],
) -> Vec<DomainIndicator> {
    let mut found: Vec<(String, DomainRole)> = Vec::new();
    let mut add = |domain: Option<&str>, role: DomainRole| {
        if let Some(domain) = domain {
            found.push((domain.to_string(), role));
        }
    };
    for mailbox in &headers.from {
        add(mailbox.registrable_domain.as_deref(), DomainRole::From);
    }
    for mailbox in &headers.reply_to {
        add(mailbox.registrable_domain.as_deref(), DomainRole::ReplyTo);
    }
    if let Some(mailbox) = &headers.return_path {
        add(mailbox.registrable_domain.as_deref(), DomainRole::ReturnPath);
    }
    if let Some(mailbox) = &headers.sender {
        add(mailbox.registrable_domain.as_deref(), DomainRole::Sender);
    }
    for url in urls {
        add(url.registrable_domain.as_deref(), DomainRole::Url);
    }
    for email in emails {
        let registrable = email.rsplit_once('@').and_then(|(_, domain)| domain::registrable(domain));
        add(registrable.as_deref(), DomainRole::ContentAddress);
    }
    for domain in &authentication.trusted.dkim_pass_domains {
        add(domain::registrable(domain).as_deref(), DomainRole::Dkim);
    }

    let mut indicators: Vec<DomainIndicator> = Vec::new();
    for (domain, role) in found {
        match indicators.iter_mut().find(|indicator| indicator.domain == domain) {
            Some(indicator) => {
                if !indicator.roles.contains(&role) {
                    indicator.roles.push(role);
                    indicator.roles.sort();
                }
            }
            None => indicators.push(DomainIndicator {
                internal: domain::is_internal(analyzer, &domain),
                random_looking: random_label::looks_random(&domain),
                domain,
                roles: vec![role],
            }),
        }
    }
    indicators
}

fn empty_headers() -> Headers {
    Headers {
        from: Vec::new(),
        sender: None,
        reply_to: Vec::new(),
        return_path: None,
        to: Default::default(),
        cc: Default::default(),
        bcc: Default::default(),
        delivered_to: Vec::new(),
        subject: None,
        message_id: None,
        in_reply_to: Vec::new(),
        references: Vec::new(),
        date: None,
        user_agent: None,
        list_unsubscribe: false,
        list_id: None,
        auto_submitted: None,
        fields: Vec::new(),
        names: Vec::new(),
    }
}

/// Returns `text` with every run of Unicode white space replaced by one
/// space and none at either end, written into one buffer.
///
/// The result is that of joining `split_whitespace` with spaces, but ASCII
/// bytes are classified without decoding them as characters, and each
/// word is copied as one slice.
fn collapse_whitespace(text: &str) -> String {
    let mut collapsed = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut word_start = None;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let (is_space, width) = if byte.is_ascii() {
            // The ASCII characters that `char::is_whitespace` accepts.
            (matches!(byte, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' '), 1)
        } else {
            let character = text[index..].chars().next().expect("index is on a character boundary");
            (character.is_whitespace(), character.len_utf8())
        };
        if !is_space {
            word_start.get_or_insert(index);
        } else if let Some(start) = word_start.take() {
            push_word(&mut collapsed, &text[start..index]);
        }
        index += width;
    }
    if let Some(start) = word_start {
        push_word(&mut collapsed, &text[start..]);
    }
    collapsed
}

fn push_word(collapsed: &mut String, word: &str) {
    if !collapsed.is_empty() {
        collapsed.push(' ');
    }
    collapsed.push_str(word);
}

/// Hashes `text` lowercased as `str::to_lowercase` does, as hex SHA-256.
///
/// Runs of ASCII are lowercased a byte at a time and other characters with
/// `char::to_lowercase`. That matches `str::to_lowercase` for every
/// character but the capital sigma, whose lowercase form depends on its
/// neighbours, so text that contains one goes to `str::to_lowercase`.
fn content_fingerprint(text: &str) -> String {
    if text.contains('Σ') {
        return crate::hex_sha256(text.to_lowercase().as_bytes());
    }
    let mut lower = Vec::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let ascii_end = rest.bytes().position(|byte| !byte.is_ascii()).unwrap_or(rest.len());
        lower.extend(rest.as_bytes()[..ascii_end].iter().map(u8::to_ascii_lowercase));
        rest = &rest[ascii_end..];
        if let Some(character) = rest.chars().next() {
            let mut encoded = [0u8; 4];
            for lowered in character.to_lowercase() {
                lower.extend_from_slice(lowered.encode_utf8(&mut encoded).as_bytes());
            }
            rest = &rest[character.len_utf8()..];
        }
    }
    crate::hex_sha256(&lower)
}

fn append(buffer: &mut String, text: &str) {
    if !buffer.is_empty() {
        buffer.push('\n');
    }
    buffer.push_str(text);
}

/// Cuts text to at most `limit` bytes on a character boundary.
pub(crate) fn bounded(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_base64_skips_garbage() {
        let (bytes, clean) = lenient_base64(b"aGVs\r\nbG8=\r\n");
        assert_eq!(bytes, b"hello");
        assert!(clean);
        let (bytes, clean) = lenient_base64(b"aGVs*bG8");
        assert_eq!(bytes, b"hello");
        assert!(!clean);
        let (bytes, _) = lenient_base64(b"aGVsbG8=\r\n--boundary--\r\n");
        assert_eq!(bytes, b"hello");
    }

    #[test]
    fn clean_base64_check_matches_decode() {
        let mut inputs: Vec<Vec<u8>> = [
            &b""[..],
            b"aGVsbG8=",
            b"aGVs\r\nbG8=\r\n",
            b"aGVs*bG8",
            b"aGVsbG8=\r\n--boundary--\r\n",
            b"aGVsbG8=x",
            b"aGVsb",
            b"aGVsbG8==\r\n",
            b"-aGVs",
            b"aGV\xc3\xa9sbG8",
        ]
        .iter()
        .map(|input| input.to_vec())
        .collect();
        let alphabet = b"QUJD+/=- \r\n*\xff";
        let mut next = crate::test_sequence(0x9e37_79b9_7f4a_7c15_u64);
        for _ in 0..2_000 {
            let length = next() % 24;
            let input = (0..length).map(|_| alphabet[next() % alphabet.len()]).collect();
            inputs.push(input);
        }
        for input in inputs {
            assert_eq!(is_clean_base64(&input), lenient_base64(&input).1, "{:?}", String::from_utf8_lossy(&input));
        }
    }

    #[test]
    fn quoted_printable() {
        assert_eq!(decode_quoted_printable(b"caf=C3=A9 =\r\nbar =ZZ"), "café bar =ZZ".as_bytes());
    }

    #[test]
    fn content_fingerprint_matches_to_lowercase() {
        let texts = [
            "",
            "Verify YOUR Account",
            "ÉTÉ À PARIS Straße İstanbul",
            "ΟΔΟΣ ΣΟΦΟΚΛΕΟΥΣ Σ",
            "mixed ASCII and Ǆ digraph, Ⅻ numerals, ＡＢＣ wide",
        ];
        for text in texts {
            assert_eq!(content_fingerprint(text), crate::hex_sha256(text.to_lowercase().as_bytes()), "{text:?}");
        }
    }

    #[test]
    fn collapse_matches_split_whitespace() {
        let ascii_spaces: Vec<char> = (0u8..128).map(char::from).filter(|c| c.is_whitespace()).collect();
        assert_eq!(ascii_spaces, ['\t', '\n', '\u{0B}', '\u{0C}', '\r', ' ']);
        let alphabet = [
            ' ',
            '\t',
            '\n',
            '\r',
            '\u{0B}',
            '\u{0C}',
            '\u{1C}',
            '\u{85}',
            '\u{A0}',
            '\u{1680}',
            '\u{2003}',
            '\u{2028}',
            '\u{202F}',
            '\u{3000}',
            '\u{200B}',
            'a',
            'Z',
            'é',
            '\u{1F600}',
            '\0',
        ];
        let mut texts: Vec<String> =
            vec![String::new(), " ".to_string(), "one".to_string(), "  two  words \r\n".to_string()];
        let mut next = crate::test_sequence(0x2f2f_a5a5_1234_8765_u64);
        for _ in 0..3_000 {
            let length = next() % 24;
            texts.push((0..length).map(|_| alphabet[next() % alphabet.len()]).collect());
        }
        for text in texts {
            let expected = text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(collapse_whitespace(&text), expected, "{text:?}");
        }
    }

    #[test]
    fn bounded_respects_characters() {
        assert_eq!(bounded("héllo", 2), "h");
        assert_eq!(bounded("hello", 10), "hello");
    }
}
