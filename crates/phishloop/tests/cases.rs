//! Edge-case messages that broke other email tools, each with its expected
//! values. The messages are in `tests/data/cases/`.

mod support;

use phishloop_analysis::Mode;
use phishloop_model::{AnalysisRecord, DefectCode, ExtractionStatus, MessageAnalysis, ParseStatus, ReportKind};

fn analyze_case(name: &str) -> Vec<AnalysisRecord> {
    let analyzer = support::analyzer("", Mode::Auto);
    let bytes = support::read(&format!("cases/{name}"));
    support::analyze(&analyzer, name, &bytes)
}

fn only_message(name: &str) -> MessageAnalysis {
    let mut records = analyze_case(name);
    assert_eq!(records.len(), 1, "{name} gives one record");
    records.remove(0).message.expect("the message was analysed")
}

fn urls(message: &MessageAnalysis) -> Vec<String> {
    message.urls.iter().map(|url| url.effective.trim_end_matches('/').to_string()).collect()
}

fn has_defect(message: &MessageAnalysis, code: DefectCode) -> bool {
    message.parse.defects.iter().any(|defect| defect.code == code)
}

#[test]
fn case_01_encoded_display_names() {
    let message = only_message("case-01.eml");
    let from = &message.headers.from[0];
    assert_eq!(from.name.as_deref(), Some("Bérénice Dupont-Lefèvre Comptabilité"));
    assert_eq!(from.address.as_deref(), Some("billing@payments-example.net"));
    assert_eq!(from.domain.as_deref(), Some("payments-example.net"));

    assert_eq!(message.headers.reply_to.len(), 1, "Reply-To is one address");
    let reply_to = &message.headers.reply_to[0];
    assert_eq!(reply_to.address.as_deref(), Some("hr-portal@example-hr.net"));
    assert_eq!(reply_to.name.as_deref(), Some("Payroll Team, HR Self-Service™ Portal"));

    assert_eq!(message.headers.subject.as_deref(), Some("Facture impayée - dernière relance"));
    assert!(message.sender.reply_to_differs, "Reply-To domain differs from From domain");
}

#[test]
fn case_03_missing_closing_boundary() {
    let message = only_message("case-03.eml");
    assert!(has_defect(&message, DefectCode::MissingClosingBoundary), "{:?}", message.parse.defects);
    assert!(message.body.excerpt.contains("Please find the remittance advice attached."), "{}", message.body.excerpt);

    assert_eq!(message.attachments.len(), 1);
    let attachment = &message.attachments[0];
    assert_eq!(attachment.filename.as_deref(), Some("Remittance_0422.pdf"));
    assert_eq!(attachment.declared_type, "application/pdf");
    assert_eq!(attachment.sha256, "d657653ea9c655ab63b572e2a2abe4c07b2d47af6da9ee2e86f46d7fc0ea0e23");
}

#[test]
fn case_04_truncated_folded_header() {
    let message = only_message("case-04.eml");
    assert_eq!(message.headers.from[0].address.as_deref(), Some("alerts@notify-example.net"));
    assert_eq!(message.headers.subject.as_deref(), Some("Account notice"));

    assert_eq!(message.received.hops.len(), 1, "exactly one Received header");
    assert!(
        message.received.hops[0].raw.starts_with("from mx1.notify-example.net by relay.example.org;"),
        "{}",
        message.received.hops[0].raw
    );

    assert_eq!(message.body.text_length, 0, "empty body");
    assert!(message.attachments.is_empty(), "the invalid Content-Disposition creates no attachment");
    assert!(message.parse.status >= ParseStatus::Partial, "status is {:?}", message.parse.status);
    assert!(has_defect(&message, DefectCode::TruncatedInput));
}

#[test]
fn case_04_every_prefix() {
    let analyzer = support::analyzer("", Mode::Auto);
    let bytes = support::read("cases/case-04.eml");
    for end in 0..=bytes.len() {
        let records = analyzer.analyze_input(Some("case-04.eml"), &bytes[..end]).expect("prefix is readable");
        assert_eq!(records.len(), 1, "prefix of {end} bytes gives one record");
    }
}

#[test]
fn case_06_url_boundaries_in_text() {
    let message = only_message("case-06.eml");
    let mut found = urls(&message);
    found.sort();
    let mut expected = vec![
        "https://portal.example-billing.net",
        "https://forms.example-survey.net/f/88213",
        "https://wiki.example.org/Invoice_(billing)",
        "https://files.example-billing.net/s/AbC123",
        "https://old.example-billing.net/path",
    ];
    expected.sort();
    assert_eq!(found, expected);

    assert!(message.email_addresses.contains(&"support@example-billing.net".to_string()));
    for url in &message.urls {
        assert!(!url.raw.contains(' '), "{} contains a space", url.raw);
        assert!(!url.raw.contains("support@"), "{} contains the address", url.raw);
        assert!(!url.raw.ends_with([',', '.', ':']), "{} ends with punctuation", url.raw);
    }
}

#[test]
fn case_07_html_only_message() {
    let message = only_message("case-07.eml");
    let found = urls(&message);
    assert!(found.contains(&"https://parcel-track.example-delivery.net/t/4471".to_string()), "{found:?}");
    assert!(found.contains(&"https://secure-login.example-phish.net/wp".to_string()), "{found:?}");
    for url in &message.urls {
        assert!(!url.raw.ends_with(' ') && !url.raw.ends_with('>'), "{}", url.raw);
        assert_ne!(url.host.as_deref(), Some("www.examplebank.com"), "link text is not a link target");
    }

    let link = message
        .urls
        .iter()
        .find(|url| url.host.as_deref() == Some("secure-login.example-phish.net"))
        .expect("the phishing link");
    assert!(link.display_texts.contains(&"https://www.examplebank.com/login".to_string()));
    let deceptive = link.deceptive.as_ref().expect("deceptive link");
    assert_eq!(deceptive.displayed_domain, "examplebank.com");
    assert_eq!(deceptive.actual_domain, "example-phish.net");
}

#[test]
fn case_08_safe_links() {
    let message = only_message("case-08.eml");
    let mut effective: Vec<&str> = message.urls.iter().map(|url| url.effective.as_str()).collect();
    effective.dedup();
    assert_eq!(effective, vec!["https://pay-portal.example-invoice.net/doc/7781?id=42"]);

    assert_eq!(message.urls.len(), 2, "both wrapped links are kept");
    for url in &message.urls {
        assert!(url.url.contains("safelinks.protection.outlook.com"), "raw form kept: {}", url.url);
        assert_eq!(url.embedded_recipient, None, "the wrapper's data= address is no recipient in the URL");
    }
    assert_eq!(message.urls[0].fingerprint, message.urls[1].fingerprint);

    let domains: Vec<&str> = message.domains.iter().map(|domain| domain.domain.as_str()).collect();
    assert!(domains.contains(&"example-invoice.net"), "{domains:?}");
    assert!(!domains.contains(&"safelinks.protection.outlook.com"), "{domains:?}");
    assert!(!domains.contains(&"outlook.com"), "{domains:?}");
}

#[test]
fn case_09_calendar_invite() {
    let message = only_message("case-09.eml");
    let found: Vec<&str> = message.urls.iter().map(|url| url.effective.as_str()).collect();
    assert!(found.contains(&"https://meet-verify.example-conf.net/j/55821?u=user%40corp-example.com"), "{found:?}");
    assert!(found.contains(&"https://docs.example-conf.net/sheet/9912?src=ics"), "{found:?}");
    assert!(!found.contains(&"https://docs"), "{found:?}");
    for url in &message.urls {
        assert!(!url.host.as_deref().unwrap_or_default().starts_with(".example-conf.net"), "{}", url.effective);
        assert_ne!(url.scheme, "mailto");
    }

    let invite = message
        .attachments
        .iter()
        .find(|attachment| attachment.filename.as_deref() == Some("invite.ics"))
        .expect("invite.ics");
    assert_eq!(invite.declared_type, "text/calendar");
}

#[test]
fn case_12_forwarded_as_attachment() {
    let records = analyze_case("case-12.eml");
    assert_eq!(records.len(), 1, "the attached message is listed once");
    let report = &records[0].report;
    assert_eq!(report.kind, ReportKind::AttachedMessage);
    assert_eq!(report.status, ExtractionStatus::Extracted);
    assert_eq!(
        report.reporter.as_ref().and_then(|reporter| reporter.address.as_deref()),
        Some("user@corp-example.com")
    );
    assert!(report.comment.as_deref().unwrap_or_default().contains("This looks suspicious"), "{:?}", report.comment);

    let message = records[0].message.as_ref().expect("original");
    assert_eq!(message.headers.message_id.as_deref(), Some("br12-inner.synthetic@mailbox-quota-example.net"));
    let from = &message.headers.from[0];
    assert_eq!(from.address.as_deref(), Some("no-reply@mailbox-quota-example.net"));
    assert_eq!(from.name.as_deref(), Some("Mail Administrator"));
    assert_eq!(message.headers.subject.as_deref(), Some("Your mailbox is full"));
    assert_eq!(
        message.headers.return_path.as_ref().and_then(|path| path.domain.as_deref()),
        Some("mailbox-quota-example.net")
    );

    let found: Vec<&str> = message.urls.iter().map(|url| url.effective.as_str()).collect();
    assert_eq!(found, vec!["https://quota-restore.example-mailfix.net/restore?u=user@corp-example.com"]);

    assert_eq!(message.attachments.len(), 1);
    let logo = &message.attachments[0];
    assert_eq!(logo.filename.as_deref(), Some("logo.png"));
    assert_eq!(logo.declared_type, "image/png");
    assert_eq!(logo.disposition.as_deref(), Some("inline"));
    assert_eq!(logo.sha256, "c5b4f24afe4f685e0922a8a7e61d1dc874ecf87d529dc8668d0191ef2cb301a7");
}

#[test]
fn case_14_truncated_msg_attachment() {
    let records = analyze_case("case-14.eml");
    assert_eq!(records.len(), 1);
    let report = &records[0].report;
    assert_eq!(report.status, ExtractionStatus::Failed);
    assert!(report.needs_manual_review);
    assert!(records[0].message.is_none(), "the wrapper is never analysed as the phish");
    assert_eq!(
        report.reporter.as_ref().and_then(|reporter| reporter.address.as_deref()),
        Some("user@corp-example.com")
    );

    let reason = report.reason.as_deref().unwrap_or_default();
    assert!(reason.contains("OLE compound file"), "{reason}");
    assert!(reason.contains("truncated"), "{reason}");

    assert_eq!(report.candidates.len(), 1);
    let candidate = &report.candidates[0];
    assert!(candidate.location.contains("Suspicious message.eml"), "{}", candidate.location);
    assert_eq!(candidate.format, phishloop_model::OriginalFormat::Msg);
    assert_eq!(candidate.sha256, "9b0d2fa67a822c4115a3001b03cf2f6498e5c090a881cd351350a56d0b85b891");
    assert!(candidate.error.is_some());
}

#[test]
fn case_15_undisclosed_recipients() {
    let message = only_message("case-15.eml");
    assert!(message.headers.to.mailboxes.is_empty());
    assert_eq!(message.headers.to.groups.len(), 1);
    assert_eq!(message.headers.to.groups[0].name, "undisclosed-recipients");
    assert_eq!(message.headers.to.groups[0].members, 0);

    let found: Vec<&str> = message.urls.iter().map(|url| url.effective.as_str()).collect();
    assert_eq!(found, vec!["https://www.example.org/newsletter/2024-03"]);
    assert_eq!(message.urls[0].embedded_recipient, None, "an empty recipient matches nothing");
}

#[test]
fn cases_have_same_analysis_in_crlf() {
    let analyzer = support::analyzer("", Mode::Auto);
    for name in [
        "case-01.eml",
        "case-03.eml",
        "case-06.eml",
        "case-07.eml",
        "case-08.eml",
        "case-09.eml",
        "case-12.eml",
        "case-15.eml",
    ] {
        let lf = support::read(&format!("cases/{name}"));
        let crlf = support::to_crlf(&lf);
        let from_lf = support::normalized_json(&support::analyze(&analyzer, name, &lf));
        let from_crlf = support::normalized_json(&support::analyze(&analyzer, name, &crlf));
        assert_eq!(from_lf, from_crlf, "{name} differs between LF and CRLF");
    }
}
