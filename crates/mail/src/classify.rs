//! Sorting the messages of a reporting mailbox before anything is reported.
//!
//! A reporting mailbox also receives bounces of phishloop's own mail,
//! out-of-office replies to it and, when an address is misconfigured,
//! phishloop's own messages. Reporting any of them would open a mail loop
//! (a bounce becomes a report, whose acknowledgement bounces again), so
//! each is recognised by headers that mail software sets on purpose, never
//! by the subject line alone, which people write too.

use mail_parser::MessageParser;

/// The action intake takes for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// A person's report: submit it.
    Report,
    /// A delivery status notification (RFC 3464) or another message from a
    /// mailer daemon.
    Bounce,
    /// An automatic reply (RFC 3834 Auto-Submitted, vacation responders,
    /// read receipts).
    AutoReply,
    /// A message that phishloop sent itself.
    OwnMessage,
}

impl Disposition {
    /// Returns the snake_case name used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Report => "report",
            Disposition::Bounce => "bounce",
            Disposition::AutoReply => "auto_reply",
            Disposition::OwnMessage => "own_message",
        }
    }
}

/// Headers of one message, names lowercase and values unfolded.
struct HeaderBlock {
    fields: Vec<(String, String)>,
}

impl HeaderBlock {
    fn parse(raw: &[u8]) -> Self {
        let fields = MessageParser::new()
            .parse_headers(raw)
            .map(|message| {
                message.headers_raw().map(|(name, value)| (name.to_ascii_lowercase(), unfold(value))).collect()
            })
            .unwrap_or_default();
        HeaderBlock { fields }
    }

    fn first(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(field, _)| field == name).map(|(_, value)| value.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.first(name).is_some()
    }

    fn lowercase(&self, name: &str) -> String {
        self.first(name).unwrap_or("").to_ascii_lowercase()
    }
}

fn unfold(value: &str) -> String {
    value.split(['\r', '\n']).map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Classifies one raw message. `own_domains` are the lowercase domains of
/// phishloop's own Message-IDs. Unparsable headers classify as a report, so
/// a malformed report is still seen by a person.
pub fn classify(raw: &[u8], own_domains: &[String]) -> Disposition {
    let headers = HeaderBlock::parse(raw);

    if is_own_message(&headers, own_domains) {
        Disposition::OwnMessage
    } else if is_bounce(&headers) {
        Disposition::Bounce
    } else if is_auto_reply(&headers, own_domains) {
        Disposition::AutoReply
    } else {
        Disposition::Report
    }
}

/// Phishloop marks everything it sends with `X-Phishloop-Kind` and a
/// Message-ID `<phishloop.{id}@{own domain}>`.
fn is_own_message(headers: &HeaderBlock, own_domains: &[String]) -> bool {
    let marked = headers.fields.iter().any(|(name, _)| name.starts_with("x-phishloop"));
    marked || headers.first("message-id").is_some_and(|id| has_own_id(id, own_domains))
}

fn is_bounce(headers: &HeaderBlock) -> bool {
    let content_type = headers.lowercase("content-type");
    let report = content_type.starts_with("multipart/report")
        && (content_type.contains("delivery-status") || content_type.contains("disposition-notification"));
    let null_sender = headers.first("return-path").is_some_and(|path| path.trim() == "<>");
    let daemon = from_local_part(&headers.lowercase("from"))
        .is_some_and(|local| local == "mailer-daemon" || local == "postmaster");
    report || null_sender || daemon
}

fn is_auto_reply(headers: &HeaderBlock, own_domains: &[String]) -> bool {
    let auto_submitted = headers.lowercase("auto-submitted");
    let auto_submitted = auto_submitted.split(';').next().unwrap_or("").trim();
    if !auto_submitted.is_empty() && auto_submitted != "no" {
        return true;
    }
    if headers.has("x-autoreply") || headers.has("x-autorespond") {
        return true;
    }
    let precedence = headers.lowercase("precedence");
    let precedence = precedence.trim();
    if precedence == "auto_reply" {
        return true;
    }
    let replies_to_us = headers.first("in-reply-to").is_some_and(|id| has_own_id(id, own_domains));
    replies_to_us && matches!(precedence, "bulk" | "junk" | "list")
}

/// True when any `<local@domain>` in `ids` is one phishloop sends: a local
/// part starting with `phishloop.` and a domain in `domains`. The domain
/// alone is not enough, because phishloop's From domain is often the
/// organisation's own, which every employee's Message-IDs share.
fn has_own_id(ids: &str, domains: &[String]) -> bool {
    ids.split(['<', '>', ' ', ','])
        .filter_map(|id| id.rsplit_once('@'))
        .filter(|(local, _)| local.trim().get(..10).is_some_and(|prefix| prefix.eq_ignore_ascii_case("phishloop.")))
        .any(|(_, domain)| domains.iter().any(|own| own.eq_ignore_ascii_case(domain.trim())))
}

/// Returns the lowercase local part of the first address in a From value.
fn from_local_part(from: &str) -> Option<String> {
    let address = match (from.rfind('<'), from.rfind('>')) {
        (Some(start), Some(end)) if start < end => &from[start + 1..end],
        _ => from.trim(),
    };
    let (local, _) = address.rsplit_once('@')?;
    Some(local.trim().trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Vec<String> {
        vec!["phishloop.example".to_string()]
    }

    fn classify_text(text: &str) -> Disposition {
        classify(text.as_bytes(), &own())
    }

    #[test]
    fn forwarded_report_is_report() {
        let message = "From: Ann <ann@corp.example>\r\nSubject: Fwd: invoice\r\nMessage-ID: <1@corp.example>\r\n\r\nlook at this\r\n";
        assert_eq!(classify_text(message), Disposition::Report);
    }

    #[test]
    fn delivery_status_report_is_bounce() {
        let message = "From: Mail Delivery System <MAILER-DAEMON@mx.corp.example>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b--\r\n";
        assert_eq!(classify_text(message), Disposition::Bounce);
    }

    #[test]
    fn null_return_path_is_bounce() {
        let message = "Return-Path: <>\r\nFrom: someone@corp.example\r\nSubject: Undeliverable\r\n\r\nx\r\n";
        assert_eq!(classify_text(message), Disposition::Bounce);
    }

    #[test]
    fn postmaster_sender_is_bounce() {
        let message = "From: \"Postmaster\" <postmaster@corp.example>\r\nSubject: failure\r\n\r\nx\r\n";
        assert_eq!(classify_text(message), Disposition::Bounce);
    }

    #[test]
    fn auto_submitted_is_auto_reply() {
        for value in ["auto-replied", "auto-generated", "Auto-Replied; owner-email=\"a@b\""] {
            let message = format!("From: bob@corp.example\r\nAuto-Submitted: {value}\r\n\r\nx\r\n");
            assert_eq!(classify_text(&message), Disposition::AutoReply, "Auto-Submitted: {value}");
        }
    }

    #[test]
    fn auto_submitted_no_is_report() {
        let message = "From: bob@corp.example\r\nAuto-Submitted: no\r\n\r\nx\r\n";
        assert_eq!(classify_text(message), Disposition::Report);
    }

    #[test]
    fn vacation_headers_are_auto_reply() {
        for header in ["X-Autoreply: yes", "X-Autorespond: on", "Precedence: auto_reply"] {
            let message = format!("From: bob@corp.example\r\n{header}\r\n\r\nx\r\n");
            assert_eq!(classify_text(&message), Disposition::AutoReply, "{header}");
        }
    }

    #[test]
    fn bulk_reply_to_own_message_is_auto_reply() {
        let message = "From: bob@corp.example\r\nPrecedence: bulk\r\nIn-Reply-To: <phishloop.ack1@phishloop.example>\r\n\r\nx\r\n";
        assert_eq!(classify_text(message), Disposition::AutoReply);
    }

    #[test]
    fn bulk_without_reply_to_us_is_report() {
        let message = "From: news@shop.example\r\nPrecedence: bulk\r\nIn-Reply-To: <7@shop.example>\r\n\r\nx\r\n";
        assert_eq!(classify_text(message), Disposition::Report);
    }

    #[test]
    fn out_of_office_subject_alone_is_report() {
        let message = "From: bob@corp.example\r\nSubject: Out of office: re: your report\r\n\r\nx\r\n";
        assert_eq!(classify_text(message), Disposition::Report);
    }

    #[test]
    fn own_message_id_or_marker_is_own_message() {
        let by_id = "From: a@corp.example\r\nMessage-ID: <phishloop.1@PHISHLOOP.example>\r\n\r\nx\r\n";
        let by_marker = "From: a@corp.example\r\nX-Phishloop-Kind: lesson\r\n\r\nx\r\n";
        assert_eq!(classify_text(by_id), Disposition::OwnMessage);
        assert_eq!(classify_text(by_marker), Disposition::OwnMessage);
    }

    #[test]
    fn employee_message_id_in_own_domain_is_report() {
        let forward =
            "From: ann@phishloop.example\r\nSubject: Fwd: invoice\r\nMessage-ID: <x.1@phishloop.example>\r\n\r\nx\r\n";
        assert_eq!(classify_text(forward), Disposition::Report);
    }

    #[test]
    fn garbage_is_report_without_panic() {
        for raw in [&b""[..], b"\xff\xfe\x00", b"From", b"From: <@>\r\n\r\n", b":\r\n:\r\n\r\n"] {
            assert_eq!(classify(raw, &own()), Disposition::Report);
        }
    }
}
