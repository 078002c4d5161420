//! Golden tests for report wrappers: every way a report reaches the
//! reporting mailbox (forwards, report buttons, ARF, Outlook .msg), plus a
//! robustness test that analyses every prefix of every fixture.
//!
//! Fixtures live in `tests/data/wrappers/`, each with its expected analysis
//! in `STEM.json` (`reported.msg` in `reported.json`). To rewrite the
//! expected files after a deliberate change, run
//! `UPDATE_GOLDEN=1 cargo test -p phishloop --test golden_wrappers -- --include-ignored`
//! and review the diff; the ignored tests include `rebuilt_mime_goldens`,
//! which writes three of them. `reported.msg` and `msg-attached.eml` are
//! written by the ignored test `msg_fixture_generate` from
//! [`build_reported_msg`].

mod support;

use std::io::{Cursor, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use phishloop_analysis::{Analyzer, Mode};
use phishloop_model::{
    AnalysisRecord, DefectCode, ExtractionStatus, InputFormat, MessageAnalysis, OriginalFormat, ReportButton,
    ReportKind,
};
use serde_json::Value;
use support::{analyze, analyzer, assert_golden, data_dir, normalized_json, read, to_crlf};

// ---------------------------------------------------------------------------
// Outlook .msg builder ([MS-OXMSG])
// ---------------------------------------------------------------------------

/// A MAPI property value, by property type.
enum PropertyValue {
    /// PT_UNICODE (0x001F), stored as UTF-16LE in a `__substg1.0_` stream.
    Unicode(&'static str),
    /// PT_BINARY (0x0102), stored in a `__substg1.0_` stream.
    Binary(Vec<u8>),
    /// PT_LONG (0x0003), stored in the properties stream.
    Long(u32),
    /// PT_SYSTIME (0x0040), a FILETIME stored in the properties stream.
    Time(u64),
}

impl PropertyValue {
    fn type_code(&self) -> u16 {
        match self {
            PropertyValue::Unicode(_) => 0x001F,
            PropertyValue::Binary(_) => 0x0102,
            PropertyValue::Long(_) => 0x0003,
            PropertyValue::Time(_) => 0x0040,
        }
    }
}

/// FILETIME (100-nanosecond intervals since 1601-01-01 UTC) of a Unix time.
fn filetime(unix_seconds: u64) -> u64 {
    const UNIX_EPOCH_AS_FILETIME: u64 = 116_444_736_000_000_000;
    UNIX_EPOCH_AS_FILETIME + unix_seconds * 10_000_000
}

/// Timestamp written on every storage, so that the generated file does not
/// depend on the time it was built.
fn fixed_storage_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_710_753_118)
}

/// Writes the properties of one storage: variable-length values as
/// `__substg1.0_IIIITTTT` streams, and a `__properties_version1.0` stream
/// that starts with `header` and has one 16-byte entry per property.
fn write_properties<F: std::io::Read + Write + std::io::Seek>(
    file: &mut cfb::CompoundFile<F>,
    storage: &str,
    header: &[u8],
    properties: &[(u16, PropertyValue)],
) {
    let mut table = header.to_vec();
    for (id, value) in properties {
        let tag = (u32::from(*id) << 16) | u32::from(value.type_code());
        table.extend_from_slice(&tag.to_le_bytes());
        // PROPATTR_READABLE | PROPATTR_WRITABLE.
        table.extend_from_slice(&6u32.to_le_bytes());
        let stream_bytes = match value {
            PropertyValue::Unicode(text) => Some(text.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>()),
            PropertyValue::Binary(bytes) => Some(bytes.clone()),
            PropertyValue::Long(number) => {
                table.extend_from_slice(&number.to_le_bytes());
                table.extend_from_slice(&[0; 4]);
                None
            }
            PropertyValue::Time(time) => {
                table.extend_from_slice(&time.to_le_bytes());
                None
            }
        };
        if let Some(bytes) = stream_bytes {
            // The size of a PT_UNICODE value counts its terminating null
            // character, which the stream itself leaves out.
            let terminator = if matches!(value, PropertyValue::Unicode(_)) { 2 } else { 0 };
            let size = u32::try_from(bytes.len() + terminator).expect("property fits in 4 GiB");
            table.extend_from_slice(&size.to_le_bytes());
            table.extend_from_slice(&[0; 4]);
            let path = format!("{storage}/__substg1.0_{tag:08X}");
            let mut stream = file.create_stream(&path).expect("create property stream");
            stream.write_all(&bytes).expect("write property stream");
        }
    }
    let path = format!("{storage}/__properties_version1.0");
    let mut stream = file.create_stream(&path).expect("create properties stream");
    stream.write_all(&table).expect("write properties stream");
}

/// Creates a storage with a fixed timestamp.
fn create_storage<F: std::io::Read + Write + std::io::Seek>(file: &mut cfb::CompoundFile<F>, path: &str) {
    file.create_storage(path).expect("create storage");
    file.set_created_time(path, fixed_storage_time()).expect("set storage creation time");
    file.set_modified_time(path, fixed_storage_time()).expect("set storage modification time");
}

/// The original phish of the .msg fixture, as its transport headers
/// (PidTagTransportMessageHeaders) record it, with CRLF line ends.
const MSG_TRANSPORT_HEADERS: &str = "Received: from mail.payroll-notice-example.net (mail.payroll-notice-example.net [192.0.2.41])\r\n\
\tby mx1.corp-example.com with ESMTPS id 4Tq8Lm1xYz\r\n\
\tfor <user@corp-example.com>; Mon, 18 Mar 2024 09:12:03 +0000\r\n\
Authentication-Results: mx1.corp-example.com;\r\n\
\tspf=fail smtp.mailfrom=payroll-notice-example.net;\r\n\
\tdkim=none;\r\n\
\tdmarc=fail header.from=payroll-notice-example.net\r\n\
From: \"HR Payroll\" <payroll@payroll-notice-example.net>\r\n\
To: \"Sam User\" <user@corp-example.com>\r\n\
Subject: Action required: confirm your payroll details\r\n\
Date: Mon, 18 Mar 2024 09:11:58 +0000\r\n\
Message-ID: <msg-original.synthetic@payroll-notice-example.net>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"----=_NextPart_000_0001\"\r\n\
\r\n";

const MSG_BODY: &str = "Dear colleague,\r\n\r\n\
Your payroll details must be confirmed before Friday, or your salary payment will be delayed.\r\n\
Confirm them here: https://payroll-confirm.example-hrportal.net/login?ref=5521\r\n\r\n\
HR Payroll Team\r\n";

const MSG_ATTACHMENT_NAME: &str = "remittance.html";

const MSG_ATTACHMENT_HTML: &str = "<html><body><p>Remittance advice for March.</p>\
<p><a href=\"https://remit-view.example-hrportal.net/doc/88\">View remittance</a></p></body></html>";

/// Builds the Outlook .msg fixture: a received phish with transport
/// headers, one recipient and one attached file, laid out as [MS-OXMSG]
/// describes (property streams, recipient and attachment storages, the
/// named-property mapping storage). The output is the same on every run.
fn build_reported_msg() -> Vec<u8> {
    build_msg(&[])
}

/// Builds the .msg fixture with `extra` properties added to the top-level
/// message.
fn build_msg(extra: &[(u16, PropertyValue)]) -> Vec<u8> {
    let mut file = cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))
        .expect("create compound file");

    // The named-property mapping storage with its GUID, entry and string
    // streams, left empty because no named property is set.
    create_storage(&mut file, "/__nameid_version1.0");
    for stream in ["__substg1.0_00020102", "__substg1.0_00030102", "__substg1.0_00040102"] {
        file.create_stream(format!("/__nameid_version1.0/{stream}")).expect("create named-property stream");
    }

    // Top-level properties header: 8 reserved bytes, next recipient ID,
    // next attachment ID, recipient count, attachment count, 8 reserved.
    let mut header = vec![0u8; 8];
    for value in [1u32, 1, 1, 1] {
        header.extend_from_slice(&value.to_le_bytes());
    }
    header.extend_from_slice(&[0; 8]);

    let submitted = filetime(1_710_753_118);
    let delivered = filetime(1_710_753_123);
    let mut message = vec![
        (0x001A, PropertyValue::Unicode("IPM.Note")),
        (0x0037, PropertyValue::Unicode("Action required: confirm your payroll details")),
        (0x0E1D, PropertyValue::Unicode("Action required: confirm your payroll details")),
        (0x1000, PropertyValue::Unicode(MSG_BODY)),
        (0x007D, PropertyValue::Unicode(MSG_TRANSPORT_HEADERS)),
        (0x0C1A, PropertyValue::Unicode("HR Payroll")),
        (0x0C1E, PropertyValue::Unicode("SMTP")),
        (0x0C1F, PropertyValue::Unicode("payroll@payroll-notice-example.net")),
        (0x5D01, PropertyValue::Unicode("payroll@payroll-notice-example.net")),
        (0x0E04, PropertyValue::Unicode("Sam User")),
        (0x1035, PropertyValue::Unicode("<msg-original.synthetic@payroll-notice-example.net>")),
        (0x0039, PropertyValue::Time(submitted)),
        (0x0E06, PropertyValue::Time(delivered)),
        // MSGFLAG_READ | MSGFLAG_HASATTACH.
        (0x0E07, PropertyValue::Long(0x0000_0011)),
    ];
    message.extend(extra.iter().map(|(id, value)| {
        let copy = match value {
            PropertyValue::Unicode(text) => PropertyValue::Unicode(text),
            PropertyValue::Binary(bytes) => PropertyValue::Binary(bytes.clone()),
            PropertyValue::Long(number) => PropertyValue::Long(*number),
            PropertyValue::Time(time) => PropertyValue::Time(*time),
        };
        (*id, copy)
    }));
    write_properties(&mut file, "", &header, &message);

    // Recipient and attachment storages have an 8-byte reserved header.
    let recipient = "/__recip_version1.0_#00000000";
    create_storage(&mut file, recipient);
    write_properties(
        &mut file,
        recipient,
        &[0; 8],
        &[
            (0x3001, PropertyValue::Unicode("Sam User")),
            (0x3002, PropertyValue::Unicode("SMTP")),
            (0x3003, PropertyValue::Unicode("user@corp-example.com")),
            (0x39FE, PropertyValue::Unicode("user@corp-example.com")),
            // MAPI_TO.
            (0x0C15, PropertyValue::Long(1)),
            (0x3000, PropertyValue::Long(0)),
        ],
    );

    let attachment = "/__attach_version1.0_#00000000";
    create_storage(&mut file, attachment);
    write_properties(
        &mut file,
        attachment,
        &[0; 8],
        &[
            (0x3001, PropertyValue::Unicode(MSG_ATTACHMENT_NAME)),
            (0x3703, PropertyValue::Unicode(".html")),
            (0x3704, PropertyValue::Unicode("REMITT~1.HTM")),
            (0x3707, PropertyValue::Unicode(MSG_ATTACHMENT_NAME)),
            (0x370E, PropertyValue::Unicode("text/html")),
            (0x3701, PropertyValue::Binary(MSG_ATTACHMENT_HTML.as_bytes().to_vec())),
            // ATTACH_BY_VALUE.
            (0x3705, PropertyValue::Long(1)),
            (0x0E21, PropertyValue::Long(0)),
        ],
    );

    file.flush().expect("flush compound file");
    file.into_inner().into_inner()
}

/// Builds the report that carries `reported.msg` as an attachment with a
/// misleading name and a generic Content-Type, base64-encoded with 76
/// characters a line and LF line ends.
fn build_msg_wrapper(msg: &[u8]) -> Vec<u8> {
    let mut text = String::from(
        "From: \"Sam User\" <user@corp-example.com>\n\
To: security-desk@corp-example.com\n\
Subject: FW: Action required: confirm your payroll details\n\
Date: Mon, 18 Mar 2024 09:30:00 +0000\n\
Message-ID: <wrap-msg.synthetic@corp-example.com>\n\
MIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"wrap-msg\"\n\
\n\
--wrap-msg\n\
Content-Type: text/plain; charset=utf-8\n\
\n\
Payroll never writes to us like this. Dragged it from Outlook.\n\
\n\
--\n\
Sam User | IT help: https://helpdesk.corp-intranet-example.org/start\n\
\n\
--wrap-msg\n\
Content-Type: application/octet-stream; name=\"Suspicious message.eml\"\n\
Content-Disposition: attachment; filename=\"Suspicious message.eml\"\n\
Content-Transfer-Encoding: base64\n\
\n",
    );
    let encoded = base64_encode(msg);
    for line in encoded.as_bytes().chunks(76) {
        text.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        text.push('\n');
    }
    text.push_str("--wrap-msg--\n");
    text.into_bytes()
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut output = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for index in 0..4 {
            if index <= chunk.len() {
                output.push(char::from(ALPHABET[((group >> (18 - 6 * index)) & 0x3F) as usize]));
            } else {
                output.push('=');
            }
        }
    }
    output
}

#[test]
#[ignore = "writes tests/data/wrappers/reported.msg and msg-attached.eml; run by hand after changing the builder"]
fn msg_fixture_generate() {
    let msg = build_reported_msg();
    let folder = data_dir().join("wrappers");
    std::fs::write(folder.join("reported.msg"), &msg).expect("write reported.msg");
    std::fs::write(folder.join("msg-attached.eml"), build_msg_wrapper(&msg)).expect("write msg-attached.eml");
}

#[test]
fn msg_fixture_is_reproducible() {
    let msg = build_reported_msg();
    assert_eq!(build_reported_msg(), msg, "two builds of the .msg fixture differ");
    assert!(read("wrappers/reported.msg") == msg, "reported.msg differs from the builder; run msg_fixture_generate");
    assert!(
        read("wrappers/msg-attached.eml") == build_msg_wrapper(&msg),
        "msg-attached.eml differs from the builder; run msg_fixture_generate"
    );
}

#[test]
fn msg_fixture_converts() {
    let converted = phishloop_intake::msg_to_rfc822(&build_reported_msg()).expect("msg_parser reads the fixture");
    let text = String::from_utf8(converted).expect("converted message is UTF-8");

    assert!(
        text.contains("\r\nSubject: Action required: confirm your payroll details\r\n"),
        "subject missing:\n{text}"
    );
    assert!(text.starts_with("Received: from mail.payroll-notice-example.net"), "Received missing:\n{text}");
    assert!(
        text.contains("\r\nAuthentication-Results: mx1.corp-example.com;\r\n"),
        "Authentication-Results missing:\n{text}"
    );
    assert!(
        text.contains("\r\nFrom: \"HR Payroll\" <payroll@payroll-notice-example.net>\r\n"),
        "From missing:\n{text}"
    );
    assert!(text.contains("Dear colleague,"), "body missing:\n{text}");
    assert!(text.contains("filename=\"remittance.html\""), "attachment missing:\n{text}");
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Configuration with the organisation's mail domain.
const ORGANIZATION_DOMAIN: &str = "[organization]\ndomains = [\"corp-example.com\"]\n";

/// Configuration with the reporting mailbox only.
const REPORTING_ADDRESS: &str = "[organization]\nreporting_addresses = [\"phish@corp-example.com\"]\n";

/// A wrapper fixture with the configuration (TOML of the analysis table)
/// and report mode it is analysed with.
struct Fixture {
    name: &'static str,
    config: &'static str,
    mode: Mode,
}

const FIXTURES: &[Fixture] = &[
    Fixture { name: "arf.eml", config: "", mode: Mode::Auto },
    Fixture { name: "cofense.eml", config: "", mode: Mode::Auto },
    Fixture { name: "direct-with-eml.eml", config: "", mode: Mode::Auto },
    Fixture { name: "eml-octet-stream.eml", config: REPORTING_ADDRESS, mode: Mode::Auto },
    Fixture { name: "fake-thread.eml", config: "", mode: Mode::Auto },
    Fixture { name: "forward-attachment.eml", config: "", mode: Mode::Auto },
    Fixture { name: "inline-gmail.eml", config: ORGANIZATION_DOMAIN, mode: Mode::Auto },
    Fixture { name: "inline-outlook.eml", config: ORGANIZATION_DOMAIN, mode: Mode::Auto },
    Fixture { name: "knowbe4.eml", config: "", mode: Mode::Auto },
    Fixture { name: "microsoft-numeric.eml", config: "", mode: Mode::Auto },
    Fixture { name: "microsoft-word.eml", config: "", mode: Mode::Auto },
    Fixture { name: "msg-attached.eml", config: "", mode: Mode::Auto },
    Fixture { name: "report-mode-plain.eml", config: "", mode: Mode::Report },
    Fixture { name: "reported.msg", config: "", mode: Mode::Auto },
    Fixture { name: "two-originals.eml", config: "", mode: Mode::Auto },
];

/// Fixtures whose analysis contains a MIME structure that intake rebuilt
/// (a converted .msg, an inline forward with text and HTML). Their boundary
/// is random, so their golden files are compared only by the ignored test
/// `rebuilt_mime_goldens`.
const REBUILT_MIME: &[&str] = &["inline-outlook.eml", "msg-attached.eml", "reported.msg"];

/// Fixtures whose reporter comment spans several lines of the wrapper's
/// body, which keeps the body's line ends; see `crlf_comment_matches_lf`.
const MULTILINE_COMMENT: &[&str] = &["arf.eml", "eml-octet-stream.eml", "knowbe4.eml", "report-mode-plain.eml"];

fn fixture(name: &str) -> &'static Fixture {
    FIXTURES.iter().find(|fixture| fixture.name == name).unwrap_or_else(|| panic!("{name} is not in FIXTURES"))
}

/// Analyses the fixture `wrappers/NAME` as stored (LF line ends) with its
/// configuration and mode.
fn analyze_fixture(name: &str) -> Vec<AnalysisRecord> {
    analyze_fixture_bytes(name, &read(&format!("wrappers/{name}")))
}

fn analyze_fixture_bytes(name: &str, bytes: &[u8]) -> Vec<AnalysisRecord> {
    let fixture = fixture(name);
    analyze(&analyzer(fixture.config, fixture.mode), name, bytes)
}

/// Analyses the fixture and compares the result with `wrappers/STEM.json`.
fn golden_records(name: &str) -> Vec<AnalysisRecord> {
    let records = analyze_fixture(name);
    assert_golden(&golden_path(name), &normalized_json(&records));
    records
}

/// Asserts that the CRLF form of a fixture analyses like the LF form.
/// Attached messages stored without a transfer encoding take the line ends
/// of the file, so their size and hashes are left out of the comparison.
fn assert_crlf_matches_lf(name: &str) {
    let bytes = read(&format!("wrappers/{name}"));
    let mut lf = normalized_json(&analyze_fixture_bytes(name, &bytes));
    let mut crlf = normalized_json(&analyze_fixture_bytes(name, &to_crlf(&bytes)));
    strip_nested_message_hashes(&mut lf);
    strip_nested_message_hashes(&mut crlf);
    assert_eq!(crlf, lf, "the CRLF form of {name} analyses differently from the LF form");
}

fn strip_nested_message_hashes(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("declared_type").and_then(Value::as_str) == Some("message/rfc822") {
                for key in ["size", "sha256", "md5"] {
                    map.remove(key);
                }
            }
            map.values_mut().for_each(strip_nested_message_hashes);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nested_message_hashes),
        _ => {}
    }
}

fn golden_path(name: &str) -> String {
    let stem = Path::new(name).file_stem().and_then(|stem| stem.to_str()).expect("fixture name has a stem");
    format!("wrappers/{stem}.json")
}

fn single(records: &[AnalysisRecord]) -> &AnalysisRecord {
    assert_eq!(records.len(), 1, "expected one record");
    &records[0]
}

fn original(record: &AnalysisRecord) -> &MessageAnalysis {
    record.message.as_ref().expect("the original was analysed")
}

fn reporter_address(record: &AnalysisRecord) -> Option<&str> {
    record.report.reporter.as_ref().and_then(|reporter| reporter.address.as_deref())
}

fn from_address(message: &MessageAnalysis) -> Option<&str> {
    message.headers.from.first().and_then(|mailbox| mailbox.address.as_deref())
}

fn subject(message: &MessageAnalysis) -> Option<&str> {
    message.headers.subject.as_deref()
}

fn urls(message: &MessageAnalysis) -> Vec<&str> {
    message.urls.iter().map(|url| url.url.as_str()).collect()
}

fn domains(message: &MessageAnalysis) -> Vec<&str> {
    message.domains.iter().map(|domain| domain.domain.as_str()).collect()
}

/// Asserts that no URL and no domain of the original mentions one of the
/// wrapper's domains: the reporter's own mail domain and the links in the
/// reporter's text and signature belong to the report, not to the original.
fn assert_free_of(message: &MessageAnalysis, wrapper_domains: &[&str]) {
    for wrapper_domain in wrapper_domains {
        for url in &message.urls {
            assert!(!url.url.contains(wrapper_domain), "wrapper domain {wrapper_domain} in URL {}", url.url);
            assert!(
                !url.effective.contains(wrapper_domain),
                "wrapper domain {wrapper_domain} in effective URL {}",
                url.effective
            );
        }
        assert!(!domains(message).contains(wrapper_domain), "wrapper domain {wrapper_domain} among the domains");
    }
}

// ---------------------------------------------------------------------------
// Outlook .msg
// ---------------------------------------------------------------------------

#[test]
fn msg_file_direct() {
    let records = analyze_fixture("reported.msg");

    let record = single(&records);
    assert_eq!(record.source.format, InputFormat::Msg);
    assert_eq!(record.report.kind, ReportKind::Direct);
    assert_eq!(record.report.button, None);
    assert_eq!(record.report.status, ExtractionStatus::NotAReport);
    assert!(!record.report.needs_manual_review);
    assert_eq!(record.report.reporter, None);

    let message = original(record);
    assert_eq!(from_address(message), Some("payroll@payroll-notice-example.net"));
    assert_eq!(subject(message), Some("Action required: confirm your payroll details"));
    assert_eq!(message.headers.message_id.as_deref(), Some("msg-original.synthetic@payroll-notice-example.net"));
    assert_eq!(message.received.hops.len(), 1, "the Received header of the transport headers is kept");
    assert!(urls(message).contains(&"https://payroll-confirm.example-hrportal.net/login?ref=5521"));
    assert!(urls(message).contains(&"https://remit-view.example-hrportal.net/doc/88"));
    assert_eq!(message.attachments.len(), 1);
    assert_eq!(message.attachments[0].filename.as_deref(), Some(MSG_ATTACHMENT_NAME));
    assert_eq!(message.attachments[0].declared_type, "text/html");
    assert_eq!(message.attachments[0].size, MSG_ATTACHMENT_HTML.len() as u64);
}

#[test]
fn msg_attachment_unwraps() {
    let records = analyze_fixture("msg-attached.eml");

    let record = single(&records);
    assert_eq!(record.source.format, InputFormat::Eml);
    assert_eq!(record.report.kind, ReportKind::AttachedMessage);
    assert_eq!(record.report.button, None);
    assert_eq!(record.report.status, ExtractionStatus::Extracted);
    assert!(!record.report.needs_manual_review);
    assert_eq!(record.report.original_format, Some(OriginalFormat::Msg));
    assert_eq!(reporter_address(record), Some("user@corp-example.com"));
    assert_eq!(
        record.report.comment.as_deref(),
        Some("Payroll never writes to us like this. Dragged it from Outlook.")
    );

    let message = original(record);
    assert_eq!(from_address(message), Some("payroll@payroll-notice-example.net"));
    assert_eq!(subject(message), Some("Action required: confirm your payroll details"));
    assert_eq!(
        urls(message),
        [
            "https://payroll-confirm.example-hrportal.net/login?ref=5521",
            "https://remit-view.example-hrportal.net/doc/88"
        ]
    );
    assert_eq!(message.attachments.len(), 1);
    assert_eq!(message.attachments[0].filename.as_deref(), Some(MSG_ATTACHMENT_NAME));
    assert_free_of(message, &["corp-example.com", "corp-intranet-example.org"]);
}

#[test]
fn msg_binary_html_body() {
    // Outlook stores the HTML body as PidTagHtml of type PT_BINARY (0x10130102).
    let html =
        b"<html><body><p>Open <a href=\"https://html-body.example-hrportal.net/open\">the portal</a></p></body></html>";
    let msg = build_msg(&[(0x1013, PropertyValue::Binary(html.to_vec()))]);
    let records = analyze(&analyzer("", Mode::Auto), "html-body.msg", &msg);

    let message = original(single(&records));
    assert!(
        urls(message).contains(&"https://html-body.example-hrportal.net/open"),
        "the link of the HTML body is missing: {:?}",
        urls(message)
    );
}

// ---------------------------------------------------------------------------
// Report wrappers
// ---------------------------------------------------------------------------

#[test]
fn forward_attachment_unwraps() {
    let records = golden_records("forward-attachment.eml");

    let record = single(&records);
    assert_eq!(record.report.kind, ReportKind::AttachedMessage);
    assert_eq!(record.report.button, None);
    assert_eq!(record.report.status, ExtractionStatus::Extracted);
    assert!(!record.report.needs_manual_review);
    assert_eq!(record.report.original_format, Some(OriginalFormat::Rfc822));
    assert_eq!(reporter_address(record), Some("user@corp-example.com"));
    assert_eq!(record.report.comment.as_deref(), Some("Is this one real? It asks me to sign in again."));

    let message = original(record);
    assert_eq!(from_address(message), Some("admin@quota-alerts-example.net"));
    assert_eq!(subject(message), Some("Your mailbox is almost full"));
    assert_eq!(urls(message), ["https://mailbox-upgrade.quota-alerts-example.net/keep?session=55102"]);
    assert_free_of(message, &["corp-example.com", "corp-intranet-example.org"]);
}

#[test]
fn octet_stream_eml_to_reporting_address() {
    let records = golden_records("eml-octet-stream.eml");

    let record = single(&records);
    assert_eq!(record.report.kind, ReportKind::AttachedMessage);
    assert_eq!(record.report.button, None);
    assert_eq!(record.report.status, ExtractionStatus::Extracted);
    assert!(!record.report.needs_manual_review);
    assert_eq!(record.report.original_format, Some(OriginalFormat::Rfc822));
    assert_eq!(reporter_address(record), Some("alex@corp-example.com"));
    assert_eq!(
        record.report.comment.as_deref(),
        Some(
            "I did not expect a contract from this sender.\n\nAlex Reporter\nLegal team, https://www.corp-example.com/legal"
        )
    );

    let message = original(record);
    assert_eq!(from_address(message), Some("share@docshare-notify-example.net"));
    assert_eq!(subject(message), Some("A document was shared with you"));
    assert_eq!(urls(message), ["https://docs-view.example-fileshare.net/open/7713"]);
    assert_free_of(message, &["corp-example.com"]);
}

#[test]
fn octet_stream_eml_without_reporting_address() {
    // A neutral subject and no reporting setup: the attached .eml is part
    // of the message, not a reported original.
    let analyzer = analyzer("", Mode::Auto);
    let records = analyze(&analyzer, "eml-octet-stream.eml", &read("wrappers/eml-octet-stream.eml"));

    let record = single(&records);
    assert_eq!(record.report.kind, ReportKind::Direct);
    assert_eq!(record.report.status, ExtractionStatus::NotAReport);
    let message = original(record);
    assert_eq!(from_address(message), Some("alex@corp-example.com"));
    let nested = message.attachments[0].message.as_ref().expect("the attached .eml is analysed");
    assert_eq!(from_address(nested), Some("share@docshare-notify-example.net"));
}

#[test]
fn inline_forward_plain_text() {
    let records = golden_records("inline-gmail.eml");

    let record = single(&records);
    assert_eq!(record.report.kind, ReportKind::InlineForward);
    assert_eq!(record.report.button, None);
    assert_eq!(record.report.status, ExtractionStatus::Extracted);
    assert!(!record.report.needs_manual_review);
    assert_eq!(record.report.original_format, Some(OriginalFormat::Inline));
    assert_eq!(reporter_address(record), Some("user@corp-example.com"));
    assert_eq!(record.report.comment.as_deref(), Some("Looks fake to me, the file link goes somewhere odd."));
    let reason = record.report.reason.as_deref().expect("an inline forward has a reason");
    assert!(reason.contains("headers were rebuilt"), "reason does not mention rebuilt headers: {reason}");

    let message = original(record);
    assert_eq!(from_address(message), Some("noreply@fileshare-alerts-example.net"));
    assert_eq!(subject(message), Some("Shared file: Q1 bonus plan"));
    assert_eq!(urls(message), ["https://share-open.fileshare-alerts-example.net/f/q1-bonus?id=7781"]);
    assert!(message.received.hops.is_empty(), "an inline forward has no transport headers");
    assert_free_of(message, &["corp-example.com"]);
}

#[test]
fn inline_forward_rebuild_defects() {
    // A quoted header block never carries a Message-ID, and mail clients
    // write the date in their own format. Neither is a defect of the
    // original, whose real headers are not available.
    let records = analyze_fixture("inline-gmail.eml");

    let codes: Vec<DefectCode> = original(single(&records)).parse.defects.iter().map(|defect| defect.code).collect();
    assert!(!codes.contains(&DefectCode::MissingMessageId), "defects: {codes:?}");
    assert!(!codes.contains(&DefectCode::InvalidDate), "defects: {codes:?}");
}

#[test]
fn inline_forward_plain_text_needs_organization() {
    // Without the organisation's domains, a forward subject over a quoted
    // header block is not enough to unwrap.
    let analyzer = analyzer("", Mode::Auto);
    let records = analyze(&analyzer, "inline-gmail.eml", &read("wrappers/inline-gmail.eml"));

    let record = single(&records);
    assert_eq!(record.report.kind, ReportKind::Direct);
    assert_eq!(from_address(original(record)), Some("user@corp-example.com"));
}

#[test]
fn inline_forward_html_and_text() {
    let records = analyze_fixture("inline-outlook.eml");

    let record = single(&records);
    assert_eq!(record.report.kind, ReportKind::InlineForward);
    assert_eq!(record.report.button, None);
    assert_eq!(record.report.status, ExtractionStatus::Extracted);
    assert!(!record.report.needs_manual_review);
    assert_eq!(record.report.original_format, Some(OriginalFormat::Inline));
    assert_eq!(reporter_address(record), Some("robin@corp-example.com"));
    assert_eq!(
        record.report.comment.as_deref(),
        Some(
            "Please check this one. It came from outside but signs as our CEO.\n\nKind regards,\nRobin Reporter\n\
             Finance, intranet: https://intranet.corp-intranet-example.org/finance"
        )
    );
    let reason = record.report.reason.as_deref().expect("an inline forward has a reason");
    assert!(reason.contains("headers were rebuilt"), "reason does not mention rebuilt headers: {reason}");

    let message = original(record);
    assert_eq!(from_address(message), Some("ceo.office@exec-mail-example.net"));
    assert_eq!(subject(message), Some("Urgent wire transfer today"));
    assert_eq!(urls(message), ["https://wire-approve.exec-mail-example.net/pay?ref=CE-2291"]);
    assert_free_of(message, &["corp-intranet-example.org"]);
}

#[test]
fn inline_forward_html_header_block() {
    let records = analyze_fixture("inline-outlook.eml");

    let message = original(single(&records));
    assert!(
        !message.email_addresses.contains(&"robin@corp-example.com".to_string()),
        "the reporter's address from the quoted To line is a content address: {:?}",
        message.email_addresses
    );
    assert_free_of(message, &["corp-example.com"]);
}

#[test]
fn microsoft_numeric_prefix() {
    let records = golden_records("microsoft-numeric.eml");

    let record = single(&records);
    assert_eq!(record.report.kind, ReportKind::AttachedMessage);
    assert_eq!(record.report.button, Some(ReportButton::Microsoft));
    assert_eq!(record.report.reporter_classification.as_deref(), Some("phish"));
    assert_eq!(record.report.status, ExtractionStatus::Extracted);
    assert!(!record.report.needs_manual_review);
    assert_eq!(reporter_address(record), Some("user@corp-example.com"));
    assert_eq!(record.report.comment, None);

    let message = original(record);
    assert_eq!(from_address(message), Some("ar@invoice-dispatch-example.net"));
    assert_eq!(subject(message), Some("Invoice 4471 overdue"));
    assert_eq!(urls(message), ["https://invoice-portal.invoice-dispatch-example.net/pay/4471"]);
    assert_free_of(message, &["corp-example.com"]);
}

#[test]
fn microsoft_word_prefix() {
    let records = golden_records("microsoft-word.eml");

    let record = single(&records);
    assert_eq!(record.report.kind, ReportKind::AttachedMessage);
    assert_eq!(record.report.button, Some(ReportButton::Microsoft));
    assert_eq!(record.report.reporter_classification.as_deref(), Some("phish"));
    assert_eq!(record.report.status, ExtractionStatus::Extracted);
    assert!(!record.report.needs_manual_review);
    assert_eq!(reporter_address(record), Some("jordan@corp-example.com"));
    assert_eq!(record.report.comment.as_deref(), Some("Reported from my phone, the link asks for a card number."));

    let message = original(record);
    assert_eq!(from_address(message), Some("track@parcel-hold-example.net"));
    assert_eq!(subject(message), Some("Your parcel is on hold"));
    assert_eq!(urls(message), ["https://redelivery.parcel-hold-example.net/r/88XZ"]);
    assert_free_of(message, &["corp-example.com"]);
}

#[test]
fn microsoft_legacy_subject_reporter() {
    // Legacy third-party format: SafetyAPIAction|NetworkMessageId|SenderIp|
    // FromAddress|(Message Subject). Microsoft's example describes SenderIp
    // and FromAddress as the reported message's sender IP and From address.
    let report = String::from_utf8(read("wrappers/microsoft-numeric.eml")).expect("UTF-8 fixture");
    let legacy = report.replacen(
        "Subject: 3|This text in the subject is ignored by the system",
        "Subject: 3|6f1c2a10-4b7e-4d2a-9c11-08dc48a1e001|203.0.113.15|ar@invoice-dispatch-example.net|(Invoice 4471 overdue)",
        1,
    );
    assert_ne!(legacy, report, "the fixture no longer has the expected subject");
    let records = analyze_fixture_bytes("microsoft-numeric.eml", legacy.as_bytes());

    let record = single(&records);
    assert_eq!(record.report.reporter_classification.as_deref(), Some("phish"));
    assert_eq!(reporter_address(record), Some("user@corp-example.com"));
}

#[test]
fn knowbe4_phish_alert() {
    let records = golden_records("knowbe4.eml");

    let record = single(&records);
    assert_eq!(record.report.kind, ReportKind::AttachedMessage);
    assert_eq!(record.report.button, Some(ReportButton::Knowbe4));
    assert_eq!(record.report.status, ExtractionStatus::Extracted);
    assert!(!record.report.needs_manual_review);
    assert_eq!(record.report.original_format, Some(OriginalFormat::Rfc822));
    assert_eq!(reporter_address(record), Some("jordan@corp-example.com"));
    assert!(
        record
            .report
            .original_location
            .as_deref()
            .is_some_and(|location| location.contains("phish_alert_sp1_1.0.0.0.eml"))
    );

    let message = original(record);
    assert_eq!(from_address(message), Some("security@acct-suspend-example.net"));
    assert_eq!(subject(message), Some("Your account will be suspended"));
    assert_eq!(urls(message), ["https://verify-id.acct-suspend-example.net/v?c=5120"]);
    assert_free_of(message, &["corp-example.com"]);
}

#[test]
fn knowbe4_copied_body_is_no_comment() {
    let analyzer = analyzer("", Mode::Auto);
    let records = analyze(&analyzer, "knowbe4.eml", &read("wrappers/knowbe4.eml"));
    assert_eq!(single(&records).report.comment, None);
}

#[test]
fn cofense_headers_only() {
    let records = golden_records("cofense.eml");

    let record = single(&records);
    assert_eq!(record.report.kind, ReportKind::InlineForward);
    assert_eq!(record.report.button, Some(ReportButton::Cofense));
    assert_eq!(record.report.status, ExtractionStatus::Extracted);
    assert!(record.report.needs_manual_review);
    assert_eq!(record.report.original_format, Some(OriginalFormat::Inline));
    assert_eq!(reporter_address(record), Some("casey@corp-example.com"));
    assert_eq!(record.report.comment, None);
    let reason = record.report.reason.as_deref().expect("a headers-only original has a reason");
    assert!(reason.contains("only the original's headers"), "reason: {reason}");

    let message = original(record);
    assert_eq!(from_address(message), Some("helpdesk@pw-expiry-example.net"));
    assert_eq!(subject(message), Some("Password expires today"));
    assert_eq!(message.received.hops.len(), 1, "the quoted Received header is kept");
    assert!(urls(message).is_empty(), "a headers-only original has no links: {:?}", urls(message));
    assert_free_of(message, &["corp-example.com"]);
}

#[test]
fn cofense_date_after_from() {
    // Same report, but the quoted headers list Date right after From, as
    // many mail systems write them.
    let report = String::from_utf8(read("wrappers/cofense.eml")).expect("UTF-8 fixture");
    let date = "Date: Wed, 20 Mar 2024 06:10:07 +0000\n";
    let from = "From: \"IT Service Desk\" <helpdesk@pw-expiry-example.net>\n";
    let reordered = report.replacen(date, "", 1).replacen(from, &format!("{from}{date}"), 1);
    assert_ne!(reordered, report, "the fixture no longer has the expected header lines");
    let records = analyze_fixture_bytes("cofense.eml", reordered.as_bytes());

    let record = single(&records);
    assert!(record.report.needs_manual_review, "a headers-only original needs manual review");
    let message = original(record);
    assert_eq!(subject(message), Some("Password expires today"));
    assert_eq!(message.received.hops.len(), 1, "the quoted Received header is kept");
    assert_eq!(message.body.excerpt, "", "the Cofense report sections became the body");
}

#[test]
fn arf_feedback_report() {
    let records = golden_records("arf.eml");

    let record = single(&records);
    assert_eq!(record.report.kind, ReportKind::AttachedMessage);
    assert_eq!(record.report.button, Some(ReportButton::Arf));
    assert_eq!(record.report.status, ExtractionStatus::Extracted);
    assert!(!record.report.needs_manual_review);
    assert_eq!(record.report.original_format, Some(OriginalFormat::Rfc822));
    assert_eq!(reporter_address(record), Some("fbl@mailhost-example.org"));
    assert_eq!(
        record.report.comment.as_deref(),
        Some(
            "This is an abuse report for a message received from 198.51.100.66 on Wed, 20 Mar 2024 05:55:00 +0000.\n\
             About this format: https://help.mailhost-example.org/feedback-loop"
        )
    );
    assert!(record.report.original_location.as_deref().is_some_and(|location| location.contains("message/rfc822")));

    let message = original(record);
    assert_eq!(from_address(message), Some("rewards@giftcard-promo-example.net"));
    assert_eq!(subject(message), Some("You have won a 500 EUR gift card"));
    assert_eq!(urls(message), ["https://claim.giftcard-promo-example.net/c/500?m=1"]);
    assert_free_of(message, &["mailhost-example.org", "corp-example.com"]);
}

#[test]
fn report_mode_without_original() {
    let records = golden_records("report-mode-plain.eml");

    let record = single(&records);
    assert_eq!(record.report.kind, ReportKind::AttachedMessage);
    assert_eq!(record.report.button, None);
    assert_eq!(record.report.status, ExtractionStatus::Failed);
    assert!(record.report.needs_manual_review);
    assert!(record.message.is_none(), "no original, so no message analysis");
    assert_eq!(reporter_address(record), Some("quinn@corp-example.com"));
    assert_eq!(
        record.report.comment.as_deref(),
        Some(
            "Hi, someone called me and asked for my sign-in code.\n\
             They said they were from the help desk. I did not give it.\n\nQuinn"
        )
    );
    let reason = record.report.reason.as_deref().expect("a failed extraction has a reason");
    assert!(reason.contains("by hand"), "the reason does not say what to do: {reason}");
}

#[test]
fn auto_mode_keeps_attached_eml_direct() {
    let records = golden_records("direct-with-eml.eml");

    let record = single(&records);
    assert_eq!(record.report.kind, ReportKind::Direct);
    assert_eq!(record.report.button, None);
    assert_eq!(record.report.status, ExtractionStatus::NotAReport);
    assert!(!record.report.needs_manual_review);
    assert_eq!(record.report.reporter, None);
    assert_eq!(record.report.comment, None);

    let message = original(record);
    assert_eq!(from_address(message), Some("orders@supplier-billing-example.net"));
    assert_eq!(subject(message), Some("Updated payment details for order 55310"));
    assert_eq!(urls(message), ["https://pay-update.supplier-billing-example.net/o/55310"]);
    assert_eq!(message.attachments.len(), 1);
    let nested = message.attachments[0].message.as_ref().expect("the attached message is analysed");
    assert_eq!(subject(nested), Some("Order 55310 confirmation"));
    assert_eq!(urls(nested), ["https://orders.supplier-billing-example.net/view/55310"]);
}

#[test]
fn fake_forwarded_thread_stays_direct() {
    let records = golden_records("fake-thread.eml");

    let record = single(&records);
    assert_eq!(record.report.kind, ReportKind::Direct);
    assert_eq!(record.report.button, None);
    assert_eq!(record.report.status, ExtractionStatus::NotAReport);
    assert!(!record.report.needs_manual_review);
    assert_eq!(record.report.reporter, None);
    assert_eq!(record.report.comment, None);

    let message = original(record);
    assert_eq!(from_address(message), Some("dana@vendor-ledger-example.net"));
    assert_eq!(subject(message), Some("FW: invoice"));
    assert_eq!(urls(message), ["https://invoice-share.vendor-ledger-example.net/inv/2024-118"]);
}

#[test]
fn fake_forwarded_thread_from_outside() {
    // Knowing the organisation's domains changes nothing: the sender is
    // outside them.
    let analyzer = analyzer(ORGANIZATION_DOMAIN, Mode::Auto);
    let records = analyze(&analyzer, "fake-thread.eml", &read("wrappers/fake-thread.eml"));

    let record = single(&records);
    assert_eq!(record.report.kind, ReportKind::Direct);
    assert_eq!(from_address(original(record)), Some("dana@vendor-ledger-example.net"));
}

#[test]
fn two_attached_originals() {
    let records = golden_records("two-originals.eml");

    assert_eq!(records.len(), 2, "one record per attached original");
    for record in &records {
        assert_eq!(record.report.kind, ReportKind::AttachedMessage);
        assert_eq!(record.report.status, ExtractionStatus::Extracted);
        assert!(!record.report.needs_manual_review);
        assert_eq!(record.report.original_format, Some(OriginalFormat::Rfc822));
        assert_eq!(reporter_address(record), Some("user@corp-example.com"));
        assert_eq!(record.report.comment.as_deref(), Some("Two messages from someone who claims to be our director."));
        assert_free_of(original(record), &["corp-example.com"]);
    }
    assert_ne!(records[0].report.original_location, records[1].report.original_location);
    assert!(
        records[0].report.original_location.as_deref().is_some_and(|location| location.contains("\"Gift cards.eml\""))
    );
    assert!(
        records[1]
            .report
            .original_location
            .as_deref()
            .is_some_and(|location| location.contains("\"Re: Gift cards.eml\""))
    );

    assert_eq!(subject(original(&records[0])), Some("Gift cards"));
    assert!(urls(original(&records[0])).is_empty());
    assert_eq!(subject(original(&records[1])), Some("Re: Gift cards"));
    assert_eq!(urls(original(&records[1])), ["https://card-codes.exec-office-example.net/upload"]);
    for record in &records {
        assert_eq!(from_address(original(record)), Some("director@exec-office-example.net"));
    }
}

#[test]
fn generic_word_is_no_brand_lookalike() {
    // The sender domain of two-originals.eml. Microsoft's keyword list
    // names "office365", not the generic word "office" of office.com.
    let message = "From: \"Director Office\" <director@exec-office-example.net>\n\
        To: user@corp-example.com\n\
        Subject: Gift cards\n\
        Date: Thu, 21 Mar 2024 09:00:00 +0000\n\
        Message-ID: <lookalike.synthetic@exec-office-example.net>\n\
        \n\
        Are you at your desk?\n";
    let records = analyze(&analyzer("", Mode::Auto), "generic-word.eml", message.as_bytes());

    let sender = &original(single(&records)).sender;
    assert!(sender.from_lookalikes.is_empty(), "lookalikes of exec-office-example.net: {:?}", sender.from_lookalikes);
}

// ---------------------------------------------------------------------------
// Line ends and stable output
// ---------------------------------------------------------------------------

#[test]
fn crlf_form_matches_lf() {
    let checked: Vec<&str> = FIXTURES
        .iter()
        .map(|fixture| fixture.name)
        .filter(|name| name.ends_with(".eml"))
        .filter(|name| !REBUILT_MIME.contains(name) && !MULTILINE_COMMENT.contains(name))
        .collect();
    assert!(checked.len() >= 8, "too few fixtures left to compare: {checked:?}");
    for name in checked {
        assert_crlf_matches_lf(name);
    }
}

#[test]
fn crlf_comment_matches_lf() {
    for name in MULTILINE_COMMENT {
        assert_crlf_matches_lf(name);
    }
}

#[test]
fn rebuilt_mime_goldens() {
    for name in REBUILT_MIME {
        golden_records(name);
        if name.ends_with(".eml") {
            assert_crlf_matches_lf(name);
        }
    }
}

#[test]
fn msg_analysis_is_deterministic() {
    let first = normalized_json(&analyze_fixture("reported.msg"));
    let second = normalized_json(&analyze_fixture("reported.msg"));
    assert_eq!(first, second, "two analyses of one .msg file differ");
}

#[test]
fn inline_forward_is_deterministic() {
    let first = normalized_json(&analyze_fixture("inline-outlook.eml"));
    let second = normalized_json(&analyze_fixture("inline-outlook.eml"));
    assert_eq!(first, second, "two analyses of one inline forward differ");
}

// ---------------------------------------------------------------------------
// Every prefix
// ---------------------------------------------------------------------------

/// Prefixes up to this length are all analysed. Longer ones are sampled.
const EVERY_PREFIX_UP_TO: usize = 4096;
/// Step between the sampled prefix lengths beyond [`EVERY_PREFIX_UP_TO`].
const PREFIX_STEP: usize = 7;

/// Returns the prefix lengths analysed for a file of `len` bytes: all of
/// them up to [`EVERY_PREFIX_UP_TO`], then every [`PREFIX_STEP`]th, then the
/// whole file.
fn prefix_lengths(len: usize) -> Vec<usize> {
    let mut lengths: Vec<usize> = (0..=len.min(EVERY_PREFIX_UP_TO)).collect();
    lengths.extend((EVERY_PREFIX_UP_TO + PREFIX_STEP..len).step_by(PREFIX_STEP));
    if lengths.last() != Some(&len) {
        lengths.push(len);
    }
    lengths
}

/// Reads every input fixture (the cases and the wrappers, without the golden
/// files) as names and bytes, sorted by name.
fn input_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut fixtures = Vec::new();
    for folder in ["cases", "wrappers"] {
        let entries = std::fs::read_dir(data_dir().join(folder)).expect("read the fixture folder");
        for entry in entries {
            let path = entry.expect("read a fixture folder entry").path();
            if path.extension().is_some_and(|extension| extension == "json") {
                continue;
            }
            let name = format!("{folder}/{}", path.file_name().and_then(|name| name.to_str()).expect("UTF-8 name"));
            fixtures.push((name, std::fs::read(&path).expect("read a fixture")));
        }
    }
    fixtures.sort();
    fixtures
}

#[test]
fn every_prefix_is_analysed() {
    // Each prefix goes to one of three analysers in turn, so all three
    // report modes are covered in the run time of one. The test prints the
    // prefix count and its run time.
    let config = "[organization]\n\
        domains = [\"corp-example.com\"]\n\
        reporting_addresses = [\"phish@corp-example.com\"]\n";
    let analyzers: [Analyzer; 3] =
        [analyzer(config, Mode::Auto), analyzer(config, Mode::Report), analyzer(config, Mode::Direct)];

    let fixtures = input_fixtures();
    assert!(fixtures.iter().any(|(name, _)| name == "wrappers/reported.msg"), "the .msg fixture is missing");
    assert!(fixtures.len() >= 20, "expected the cases and the wrappers, found {} files", fixtures.len());

    let started = Instant::now();
    let mut failures = Vec::new();
    let mut analysed = 0usize;
    for (name, bytes) in &fixtures {
        for len in prefix_lengths(bytes.len()) {
            let analyzer = &analyzers[len % analyzers.len()];
            let prefix = &bytes[..len];
            let outcome = catch_unwind(AssertUnwindSafe(|| analyzer.analyze_input(Some(name), prefix)));
            analysed += 1;
            match outcome {
                Err(_) => failures.push(format!("{name}: prefix of {len} bytes panicked")),
                Ok(Ok(records)) if records.is_empty() => {
                    failures.push(format!("{name}: prefix of {len} bytes gave no record and no error"));
                }
                Ok(Ok(_)) => {}
                Ok(Err(error)) if error.to_string().trim().is_empty() => {
                    failures.push(format!("{name}: prefix of {len} bytes gave an error without a message"));
                }
                Ok(Err(_)) => {}
            }
        }
    }
    println!("analysed {analysed} prefixes of {} files in {:.1?}", fixtures.len(), started.elapsed());
    assert!(failures.is_empty(), "{} of {analysed} prefixes failed:\n{}", failures.len(), failures.join("\n"));
}
