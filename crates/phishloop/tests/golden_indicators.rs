//! Golden tests for each kind of indicator the analysis extracts.
//!
//! Every fixture in `tests/data/indicators/` is a small message written for
//! these tests with placeholder names and domains. Each golden test
//! analyses its fixture with LF and with CRLF line endings, checks that
//! both give the same JSON and compares the JSON with `<fixture>.json`. It
//! then asserts the values the fixture exists for, so that a golden file
//! written from wrong output cannot hide a bug.
//!
//! The fixtures with binary attachments (`attachment-*.eml` except
//! `attachment-nested.eml`) are written by the ignored test
//! `generate_binary_fixtures`. Run it with
//! `cargo test -p phishloop --test golden_indicators -- --ignored generate`
//! after changing it, then update the golden files with `UPDATE_GOLDEN=1`.

mod support;

use std::io::{Cursor, Write};
use std::process::Command;

use phishloop_analysis::Mode;
use phishloop_model::{
    AnalysisRecord, Attachment, CueKind, DefectCode, LookalikeKind, LookalikeTechnique, MessageAnalysis, ParseStatus,
    ReportKind, SecretKind, TrustReason, UrlIndicator, UrlSourceKind,
};
use serde_json::Value;

/// Analysis configuration with the organisation's own domain.
const ORGANIZATION: &str = "[organization]\ndomains = [\"corp-example.com\"]\n";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Reads `indicators/<name>.eml`.
fn fixture(name: &str) -> Vec<u8> {
    support::read(&format!("indicators/{name}.eml"))
}

/// Analyses the fixture `name` as a direct message with the given analysis
/// configuration, in LF and in CRLF form. Checks that both forms agree and
/// that the LF form matches `indicators/<golden>.json`, then returns the
/// analysis of the LF form.
fn check_fixture(name: &str, golden: &str, config: &str) -> MessageAnalysis {
    let analyzer = support::analyzer(config, Mode::Direct);
    let file_name = format!("{name}.eml");
    let lf = fixture(name);
    let lf_records = support::analyze(&analyzer, &file_name, &lf);
    let crlf_records = support::analyze(&analyzer, &file_name, &support::to_crlf(&lf));

    let lf_json = support::normalized_json(&lf_records);
    let crlf_json = support::normalized_json(&crlf_records);
    assert_eq!(
        without_line_ending_bytes(lf_json.clone()),
        without_line_ending_bytes(crlf_json),
        "{file_name}: the LF and CRLF forms give different analyses"
    );
    support::assert_golden(&format!("indicators/{golden}.json"), &lf_json);
    single_message(lf_records, &file_name)
}

/// Analyses the LF form of a fixture without a golden file, for checks of
/// another configuration and for tests of known product bugs.
fn analyze_lf(name: &str, config: &str) -> MessageAnalysis {
    let analyzer = support::analyzer(config, Mode::Direct);
    let file_name = format!("{name}.eml");
    single_message(support::analyze(&analyzer, &file_name, &fixture(name)), &file_name)
}

/// Returns the message of the only record, which must be a direct message.
fn single_message(records: Vec<AnalysisRecord>, file_name: &str) -> MessageAnalysis {
    assert_eq!(records.len(), 1, "{file_name}: expected one record");
    let record = records.into_iter().next().expect("one record");
    assert_eq!(record.report.kind, ReportKind::Direct, "{file_name}: expected a direct message");
    record.message.unwrap_or_else(|| panic!("{file_name}: the record has no message analysis"))
}

/// Removes the size and hashes of text and message attachments. Their
/// decoded bytes contain the line endings, so they legitimately differ
/// between the LF and CRLF forms of a fixture. `support::normalized_json`
/// removes them for text attachments only.
fn without_line_ending_bytes(mut value: Value) -> Value {
    strip_line_ending_bytes(&mut value);
    value
}

fn strip_line_ending_bytes(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(attachments)) = map.get_mut("attachments") {
                for attachment in attachments.iter_mut() {
                    let declared = attachment.get("declared_type").and_then(Value::as_str).unwrap_or_default();
                    if (declared.starts_with("text/") || declared.starts_with("message/"))
                        && let Value::Object(fields) = attachment
                    {
                        fields.remove("size");
                        fields.remove("sha256");
                        fields.remove("md5");
                    }
                }
            }
            for child in map.values_mut() {
                strip_line_ending_bytes(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_line_ending_bytes),
        _ => {}
    }
}

/// Finds the URL indicator whose normalised `url` is `expected`.
fn url<'m>(message: &'m MessageAnalysis, expected: &str) -> &'m UrlIndicator {
    message.urls.iter().find(|indicator| indicator.url == expected).unwrap_or_else(|| {
        let found: Vec<&str> = message.urls.iter().map(|indicator| indicator.url.as_str()).collect();
        panic!("URL {expected} not found; found {found:?}")
    })
}

/// True when the URL was found at least once in a place of `kind`.
fn found_in(indicator: &UrlIndicator, kind: UrlSourceKind) -> bool {
    indicator.sources.iter().any(|source| source.kind == kind)
}

/// Finds the attachment named `filename`.
fn attachment<'m>(message: &'m MessageAnalysis, filename: &str) -> &'m Attachment {
    message.attachments.iter().find(|found| found.filename.as_deref() == Some(filename)).unwrap_or_else(|| {
        let names: Vec<Option<&str>> = message.attachments.iter().map(|found| found.filename.as_deref()).collect();
        panic!("attachment {filename:?} not found; found {names:?}")
    })
}

/// True when a cue of `kind` was found at `location` (`subject`, `body`
/// or an attachment name).
fn has_cue(message: &MessageAnalysis, kind: CueKind, location: &str) -> bool {
    message.cues.iter().any(|cue| cue.kind == kind && cue.location == location)
}

fn defect_codes(message: &MessageAnalysis) -> Vec<DefectCode> {
    message.parse.defects.iter().map(|defect| defect.code).collect()
}

/// Decodes the base64 body of the MIME part whose header block contains
/// `marker` (for example `filename="invoice.pdf.exe"`), read from the LF
/// fixture without the product's parser.
fn base64_part(name: &str, marker: &str) -> Vec<u8> {
    let text = String::from_utf8(fixture(name)).expect("fixture is UTF-8");
    let start = text.find(marker).unwrap_or_else(|| panic!("{name}: no part with {marker}"));
    let body_start = start + text[start..].find("\n\n").expect("part has a body") + 2;
    let encoded: String =
        text[body_start..].lines().take_while(|line| !line.starts_with("--") && !line.is_empty()).collect();
    base64_decode(&encoded)
}

/// Checks the size and both hashes of an attachment against bytes read
/// from the fixture with this file's own decoder and digests.
fn assert_digests(found: &Attachment, expected_bytes: &[u8]) {
    let name = found.filename.as_deref().unwrap_or("unnamed attachment");
    assert_eq!(found.size, expected_bytes.len() as u64, "{name}: size");
    assert_eq!(found.sha256, sha256_hex(expected_bytes), "{name}: sha256");
    assert_eq!(found.md5, md5_hex(expected_bytes), "{name}: md5");
}

// ---------------------------------------------------------------------------
// Encoders and digests, written here so that expected values do not come
// from the code under test.
// ---------------------------------------------------------------------------

const BASE64_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes standard base64 with padding, in lines of 76 characters as MIME
/// writes them.
fn base64_lines(bytes: &[u8]) -> String {
    let mut encoded = String::with_capacity(bytes.len() * 4 / 3 + 4);
    for chunk in bytes.chunks(3) {
        let group = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let bits = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        for index in 0..4 {
            if index <= chunk.len() {
                encoded.push(char::from(BASE64_ALPHABET[(bits >> (18 - 6 * index) & 0x3f) as usize]));
            } else {
                encoded.push('=');
            }
        }
    }
    let lines: Vec<&str> =
        encoded.as_bytes().chunks(76).map(|line| std::str::from_utf8(line).expect("base64 is ASCII")).collect();
    lines.join("\n") + "\n"
}

/// Decodes standard base64 and skips white space. Panics on other bytes.
fn base64_decode(text: &str) -> Vec<u8> {
    let mut output = Vec::with_capacity(text.len() * 3 / 4);
    let mut bits = 0u32;
    let mut count = 0u32;
    for byte in text.bytes().filter(|byte| !byte.is_ascii_whitespace() && *byte != b'=') {
        let value = BASE64_ALPHABET
            .iter()
            .position(|candidate| *candidate == byte)
            .unwrap_or_else(|| panic!("invalid base64 byte {byte:#04x} in a fixture"));
        bits = bits << 6 | value as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            output.push((bits >> count & 0xff) as u8);
        }
    }
    output
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Computes the exact floor of the `degree`-th root of `value`.
fn integer_root(value: u128, degree: u32) -> u128 {
    let mut root = (value as f64).powf(1.0 / f64::from(degree)) as u128;
    while root.pow(degree) > value {
        root -= 1;
    }
    while (root + 1).pow(degree) <= value {
        root += 1;
    }
    root
}

fn first_primes(count: usize) -> Vec<u128> {
    let mut primes: Vec<u128> = Vec::with_capacity(count);
    let mut candidate = 2u128;
    while primes.len() < count {
        if primes.iter().all(|prime| !candidate.is_multiple_of(*prime)) {
            primes.push(candidate);
        }
        candidate += 1;
    }
    primes
}

/// Pads a message for SHA-256 (big-endian length) or MD5 (little-endian
/// length) into whole 64-byte blocks.
fn padded(data: &[u8], big_endian_length: bool) -> Vec<u8> {
    let bit_length = (data.len() as u64).wrapping_mul(8);
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    if big_endian_length {
        message.extend_from_slice(&bit_length.to_be_bytes());
    } else {
        message.extend_from_slice(&bit_length.to_le_bytes());
    }
    message
}

/// Computes SHA-256 (FIPS 180-4) as lowercase hex. The round constants and initial
/// hash values are the first 32 fraction bits of the cube and square roots
/// of the first primes, computed with exact integer roots.
fn sha256_hex(data: &[u8]) -> String {
    let primes = first_primes(64);
    let constants: Vec<u32> = primes.iter().map(|prime| (integer_root(prime << 96, 3) & 0xffff_ffff) as u32).collect();
    let mut state: Vec<u32> =
        primes[..8].iter().map(|prime| (integer_root(prime << 64, 2) & 0xffff_ffff) as u32).collect();

    for block in padded(data, true).chunks_exact(64) {
        let mut schedule = [0u32; 64];
        for (index, word) in block.chunks_exact(4).enumerate() {
            schedule[index] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for index in 16..64 {
            let before = schedule[index - 15];
            let recent = schedule[index - 2];
            let sigma0 = before.rotate_right(7) ^ before.rotate_right(18) ^ before >> 3;
            let sigma1 = recent.rotate_right(17) ^ recent.rotate_right(19) ^ recent >> 10;
            schedule[index] =
                schedule[index - 16].wrapping_add(sigma0).wrapping_add(schedule[index - 7]).wrapping_add(sigma1);
        }

        let mut working = [state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7]];
        for index in 0..64 {
            let [a, b, c, d, e, f, g, h] = working;
            let sum1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let choice = (e & f) ^ (!e & g);
            let first =
                h.wrapping_add(sum1).wrapping_add(choice).wrapping_add(constants[index]).wrapping_add(schedule[index]);
            let sum0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let majority = (a & b) ^ (a & c) ^ (b & c);
            let second = sum0.wrapping_add(majority);
            working = [first.wrapping_add(second), a, b, c, d.wrapping_add(first), e, f, g];
        }
        for (value, add) in state.iter_mut().zip(working) {
            *value = value.wrapping_add(add);
        }
    }
    state.iter().map(|word| hex(&word.to_be_bytes())).collect()
}

/// Computes MD5 (RFC 1321) as lowercase hex.
fn md5_hex(data: &[u8]) -> String {
    const SHIFTS: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
    // RFC 1321 defines each constant as the integer part of 2^32 * |sin(i)|.
    let constants: Vec<u32> = (1..=64).map(|index| (f64::from(index).sin().abs() * 4_294_967_296.0) as u32).collect();
    let mut state = [0x6745_2301u32, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

    for block in padded(data, false).chunks_exact(64) {
        let words: Vec<u32> =
            block.chunks_exact(4).map(|word| u32::from_le_bytes([word[0], word[1], word[2], word[3]])).collect();
        let [mut a, mut b, mut c, mut d] = state;
        for index in 0..64 {
            let (mixed, word) = match index / 16 {
                0 => ((b & c) | (!b & d), index),
                1 => ((d & b) | (!d & c), (5 * index + 1) % 16),
                2 => (b ^ c ^ d, (3 * index + 5) % 16),
                _ => (c ^ (b | !d), (7 * index) % 16),
            };
            let rotated = a
                .wrapping_add(mixed)
                .wrapping_add(constants[index])
                .wrapping_add(words[word])
                .rotate_left(SHIFTS[index / 16 * 4 + index % 4]);
            (a, b, c, d) = (d, b.wrapping_add(rotated), b, c);
        }
        for (value, add) in state.iter_mut().zip([a, b, c, d]) {
            *value = value.wrapping_add(add);
        }
    }
    state.iter().map(|word| hex(&word.to_le_bytes())).collect()
}

#[test]
fn digests_match_known_vectors() {
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "SHA-256 of nothing"
    );
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "SHA-256 of abc"
    );
    assert_eq!(
        sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        "SHA-256 of two blocks"
    );
    assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e", "MD5 of nothing");
    assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72", "MD5 of abc");
    assert_eq!(md5_hex(b"message digest"), "f96b697d7cb7938d525a2f31aaf161d0", "MD5 of message digest");
    assert_eq!(base64_decode(&base64_lines(b"any carnal pleas")), b"any carnal pleas", "base64 round trip");
    assert_eq!(base64_lines(b"ab"), "YWI=\n", "base64 padding");
}

// ---------------------------------------------------------------------------
// Sender identity
// ---------------------------------------------------------------------------

#[test]
fn sender_encoded_names_and_groups() {
    let message = check_fixture("sender-encoded-name", "sender-encoded-name", "");

    let from = &message.headers.from[0];
    assert_eq!(from.name.as_deref(), Some("Zoë Müller | Payroll"), "RFC 2047 B-encoded From name");
    assert_eq!(from.address.as_deref(), Some("payroll@example-phish.net"), "From address");
    assert_eq!(
        message.headers.subject.as_deref(),
        Some("Updated salary statement \u{2013} March"),
        "RFC 2047 Q-encoded subject"
    );
    assert_eq!(
        message.headers.reply_to[0].registrable_domain.as_deref(),
        Some("example-collect.org"),
        "Reply-To domain"
    );
    assert!(message.sender.reply_to_differs, "Reply-To on another domain than From");
    assert!(!message.sender.return_path_differs, "Return-Path on the From domain");

    let to = &message.headers.to;
    assert_eq!(to.groups.len(), 1, "one group in To");
    assert_eq!(to.groups[0].name, "Finance Team", "group name");
    assert_eq!(to.groups[0].members, 2, "group member count");
    assert_eq!(to.mailboxes[0].name.as_deref(), Some("René Dubois"), "ISO-8859-1 Q-encoded member name");
    assert!(
        to.mailboxes.iter().all(|mailbox| mailbox.group.as_deref() == Some("Finance Team")),
        "every To mailbox belongs to the group"
    );
    assert!(message.headers.cc.mailboxes.is_empty(), "undisclosed-recipients has no mailboxes");
    assert_eq!(message.headers.cc.groups.len(), 1, "undisclosed-recipients is a group");
    assert_eq!(message.headers.cc.groups[0].name, "undisclosed-recipients", "undisclosed-recipients name");
    assert_eq!(message.headers.cc.groups[0].members, 0, "undisclosed-recipients has zero members");
    assert_eq!(message.parse.status, ParseStatus::Ok, "parse status");
}

#[test]
fn header_fields_decoded() {
    let message = analyze_lf("sender-encoded-name", "");
    let value = |name: &str| {
        let field = message.headers.fields.iter().find(|field| field.name == name);
        field.map(|field| field.value.clone()).unwrap_or_default()
    };
    assert!(value("From").contains("Zoë Müller | Payroll"), "From field value decoded: {}", value("From"));
    assert!(!value("From").contains("=?UTF-8?"), "no encoded word left in From: {}", value("From"));
    assert!(value("To").contains("René Dubois"), "To field value decoded: {}", value("To"));
}

#[test]
fn sender_address_in_display_name() {
    let message = check_fixture("sender-display-address", "sender-display-address", "");

    assert_eq!(message.sender.from_domain.as_deref(), Some("example-phish.net"), "From domain is the real address");
    assert_eq!(
        message.sender.display_name_address.as_deref(),
        Some("service@paypal.com"),
        "address written in the display name"
    );
    assert!(message.sender.display_name_address_differs, "display-name address on another domain");
    assert_eq!(message.sender.display_name_brand.as_deref(), Some("PayPal"), "brand named in the display name");
}

#[test]
fn sender_two_at_signs() {
    let message = check_fixture("sender-two-at", "sender-two-at", "");

    let from = &message.headers.from[0];
    assert_eq!(from.address.as_deref(), Some("support@bank-example.com@example-phish.net"), "address as written");
    assert_eq!(from.domain, None, "a malformed address has no domain");
    assert_eq!(from.registrable_domain, None, "a malformed address has no registrable domain");
    assert!(from.malformed.as_deref().is_some_and(|reason| reason.contains("more than one @")), "malformed reason");
    assert!(message.sender.from_malformed, "sender.from_malformed");
    assert_eq!(message.sender.from_domain, None, "sender.from_domain");
    assert!(
        message
            .parse
            .defects
            .iter()
            .any(|defect| defect.code == DefectCode::MalformedAddress && defect.location.as_deref() == Some("From")),
        "malformed_address defect on From"
    );
    assert_eq!(message.parse.status, ParseStatus::Ok, "a malformed address is a cosmetic defect");
    assert!(
        message.domains.iter().all(|domain| domain.domain != "bank-example.com"),
        "the domain inside the malformed address is never reported"
    );
}

// ---------------------------------------------------------------------------
// Received chain and Authentication-Results
// ---------------------------------------------------------------------------

#[test]
fn auth_office_365_without_authserv_id() {
    let message = check_fixture("auth-office365", "auth-office365", "");

    assert_eq!(message.received.hops.len(), 3, "Received hops");
    assert_eq!(message.received.boundary, Some(2), "boundary at the hop from the sender");
    assert_eq!(message.received.first_external_ip.as_deref(), Some("203.0.113.45"), "first external IP");
    assert_eq!(message.received.first_external_host.as_deref(), Some("mail.example-phish.net"), "first external host");
    assert!(message.received.hops[0].internal, "first Microsoft hop is internal");
    assert!(message.received.hops[1].internal, "second Microsoft hop is internal");
    assert!(!message.received.hops[2].internal, "hop from the sender is external");

    let header = &message.authentication.headers[0];
    assert_eq!(header.authserv_id, None, "Office 365 writes no authserv-id");
    assert!(header.trusted, "header above the boundary is trusted");
    assert_eq!(header.trust_reason, TrustReason::AboveBoundary, "trust reason without configured ids");
    let methods: Vec<&str> = header.results.iter().map(|result| result.method.as_str()).collect();
    assert_eq!(methods, ["spf", "dkim", "dmarc", "compauth"], "methods, including those without a semicolon");

    let trusted = &message.authentication.trusted;
    assert_eq!(trusted.spf.as_deref(), Some("softfail"), "trusted spf");
    assert_eq!(trusted.spf_domain.as_deref(), Some("example-phish.net"), "trusted spf domain");
    assert_eq!(trusted.dmarc.as_deref(), Some("fail"), "trusted dmarc");
    assert_eq!(trusted.dmarc_domain.as_deref(), Some("corp-example.com"), "trusted dmarc domain");
    assert_eq!(trusted.compauth.as_deref(), Some("fail"), "trusted compauth");
    assert_eq!(trusted.compauth_reason.as_deref(), Some("000"), "compauth reason");

    let received_spf = &message.authentication.headers[1];
    assert_eq!(received_spf.header, "Received-SPF", "Received-SPF is read");
    assert_eq!(received_spf.authserv_id.as_deref(), Some("protection.outlook.com"), "Received-SPF checking host");
    assert_eq!(received_spf.results[0].result, "softfail", "Received-SPF result");
}

#[test]
fn auth_forged_header_below_boundary() {
    let message = check_fixture("auth-forged", "auth-forged", "");

    assert_eq!(message.received.boundary, Some(1), "boundary at the hop from smtp.example-phish.net");
    assert_eq!(message.received.first_external_ip.as_deref(), Some("203.0.113.77"), "first external IP");

    let headers = &message.authentication.headers;
    assert_eq!(headers.len(), 2, "two Authentication-Results headers");
    assert_eq!(headers[0].authserv_id.as_deref(), Some("mx1.corp-example.com"), "authserv-id of the real header");
    assert!(headers[0].trusted, "real header is trusted");
    assert_eq!(headers[0].trust_reason, TrustReason::AboveBoundary, "real header trust reason");
    assert!(!headers[1].trusted, "forged header is untrusted");
    assert_eq!(headers[1].trust_reason, TrustReason::BelowBoundary, "forged header trust reason");

    let trusted = &message.authentication.trusted;
    assert_eq!(trusted.spf.as_deref(), Some("fail"), "trusted spf comes from the real header");
    assert_eq!(trusted.dmarc.as_deref(), Some("fail"), "trusted dmarc comes from the real header");
    assert!(trusted.dkim_pass_domains.is_empty(), "no trusted DKIM pass");
    let untrusted = &message.authentication.untrusted;
    assert_eq!(untrusted.dmarc.as_deref(), Some("pass"), "forged dmarc pass stays untrusted");
    assert_eq!(untrusted.dkim_pass_domains, ["corp-example.com"], "forged DKIM pass domain stays untrusted");
    assert!(
        message.domains.iter().all(|domain| !domain.roles.contains(&phishloop_model::DomainRole::Dkim)),
        "a forged DKIM pass gives no dkim domain role"
    );
}

#[test]
fn auth_trusted_authserv_ids() {
    let config = "[trust]\nauthserv_ids = [\"mx1.corp-example.com\"]\n";
    let message = check_fixture("auth-forged", "auth-forged.authserv-ids", config);

    let headers = &message.authentication.headers;
    assert!(headers[0].trusted, "header of a configured authserv-id is trusted");
    assert_eq!(headers[0].trust_reason, TrustReason::TrustedAuthservId, "real header trust reason");
    assert!(!headers[1].trusted, "a configured authserv-id below the boundary is still untrusted");
    assert_eq!(headers[1].trust_reason, TrustReason::BelowBoundary, "forged header trust reason");

    let other = analyze_lf("auth-forged", "[trust]\nauthserv_ids = [\"mx9.corp-example.com\"]\n");
    assert!(!other.authentication.headers[0].trusted, "header of another authserv-id is untrusted");
    assert_eq!(
        other.authentication.headers[0].trust_reason,
        TrustReason::UntrustedAuthservId,
        "trust reason for an authserv-id that is not configured"
    );
    assert_eq!(other.authentication.trusted.spf, None, "no trusted results without a trusted header");
}

// ---------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------

#[test]
fn urls_from_text_and_html() {
    let message = check_fixture("urls-html", "urls-html", "");

    let statement = url(&message, "https://statements.example-billing.net/view?id=88412");
    assert!(found_in(statement, UrlSourceKind::Text), "URL of the plain text part");
    assert!(found_in(statement, UrlSourceKind::HtmlHref), "same URL deduplicated with its href");
    assert_eq!(statement.display_texts, ["View statement"], "link text of the href");

    let expectations = [
        ("https://refresh.example-phish.net/landing", UrlSourceKind::HtmlMetaRefresh),
        ("https://cdn.example-billing.net/img/logo.png", UrlSourceKind::HtmlSrc),
        ("https://portal.example-billing.net/login", UrlSourceKind::HtmlHref),
        ("https://track.example-billing.net/c?u=4471&campaign=march", UrlSourceKind::HtmlHref),
        ("https://pay.example-phish.net/invoice/88412", UrlSourceKind::HtmlHref),
        ("https://collect.example-phish.net/submit", UrlSourceKind::HtmlFormAction),
        ("https://help.example-billing.net/faq", UrlSourceKind::HtmlText),
    ];
    for (expected, kind) in expectations {
        assert_eq!(url(&message, expected).sources.len(), 1, "{expected}: one source");
        assert!(found_in(url(&message, expected), kind), "{expected}: found as {kind:?}");
    }
    assert_eq!(
        url(&message, "https://portal.example-billing.net/login").raw,
        "https://portal.example-billing.net/login",
        "unquoted href ends before >"
    );
    assert_eq!(
        url(&message, "https://track.example-billing.net/c?u=4471&campaign=march").raw,
        "https://track.example-billing.net/c?u=4471&campaign=march",
        "&amp; in an href is decoded"
    );
    assert_eq!(message.urls.len(), 8, "no other URLs");

    let html = message.body.html.as_ref().expect("HTML summary");
    assert!(html.meta_refresh, "meta refresh recorded");
    assert_eq!(html.forms, 1, "forms");
    assert_eq!(html.password_inputs, 1, "password inputs");
    assert_eq!(html.links, 4, "anchors with href");
    assert_eq!(html.remote_images, 1, "remote images");
    assert_eq!(html.title.as_deref(), Some("Statement ready"), "title");
}

#[test]
fn urls_calendar_folded_line() {
    let message = check_fixture("urls-calendar", "urls-calendar", "");

    let folded = url(&message, "https://docs.example-conf.net/pack/Q1-2025?src=ics");
    assert!(found_in(folded, UrlSourceKind::Calendar), "folded DESCRIPTION URL is joined");
    let location = url(&message, "https://meet.example-conf.net/j/55821");
    assert!(found_in(location, UrlSourceKind::Calendar), "LOCATION URL");
    assert!(
        message.urls.iter().all(|indicator| !indicator.url.contains("mailto")),
        "ORGANIZER and ATTENDEE mailto values are not URLs"
    );
    assert_eq!(message.urls.len(), 2, "no other URLs");
}

#[test]
fn calendar_addresses_collected() {
    let message = analyze_lf("urls-calendar", "");
    assert!(
        message.email_addresses.contains(&"board-office@example-conf.net".to_string()),
        "ORGANIZER address is an address written in the content; found {:?}",
        message.email_addresses
    );
}

#[test]
fn urls_wrappers_removed() {
    let message = check_fixture("urls-wrapped", "urls-wrapped", "");

    let cases: [(&str, &str, &[&str], &str); 6] = [
        (
            "https://nam12.safelinks.protection.outlook.com/?url=https%3A%2F%2Fportal.accounts.example-phish.net%2Fsignin%3Fsession%3D7f3a&data=05%7C02%7Cdana.lee%40corp-example.com%7C0d1e44b2%7C0&sdata=Zm9vYmFy&reserved=0",
            "https://portal.accounts.example-phish.net/signin?session=7f3a",
            &["microsoft_safe_links"],
            "example-phish.net",
        ),
        (
            "https://urldefense.proofpoint.com/v2/url?u=https-3A__invoices.example-2Dvendor.net_inv_2025-2D0311.pdf&d=DwMFaQ&c=Qk9WrTnC2x&r=Zp4LmK8s&m=T3gH7d&s=Vb2Xq9&e=",
            "https://invoices.example-vendor.net/inv/2025-0311.pdf",
            &["proofpoint_url_defense"],
            "example-vendor.net",
        ),
        (
            "https://urldefense.com/v3/__https://files.example-share.net/s/9Kq2*download__;Iw!!Q3x7ZpA!kW1vR8cT4n$",
            "https://files.example-share.net/s/9Kq2#download",
            &["proofpoint_url_defense"],
            "example-share.net",
        ),
        (
            "https://protect-eu.mimecast.com/s/Zk3pCQW8xYt2?domain=secure.example-bank.co.uk",
            "https://secure.example-bank.co.uk/",
            &["mimecast_url_protect"],
            "example-bank.co.uk",
        ),
        (
            "https://www.google.com/url?q=https://drive-share.example-phish.org/open?id%3D5521&sa=D&source=editors&ust=1742212800000000&usg=AOvVaw0x",
            "https://drive-share.example-phish.org/open?id=5521",
            &["google_redirect"],
            "example-phish.org",
        ),
        (
            "https://eur02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fwww.google.com%2Furl%3Fq%3Dhttps%253A%252F%252Fsso.example-phish.net%252Fauth%26sa%3DD&data=05%7C02%7C%7C1f2e%7C0&reserved=0",
            "https://sso.example-phish.net/auth",
            &["microsoft_safe_links", "google_redirect"],
            "example-phish.net",
        ),
    ];
    for (raw, effective, wrappers, registrable) in cases {
        let indicator = url(&message, raw);
        assert_eq!(indicator.raw, raw, "raw keeps the wrapped URL");
        assert_eq!(indicator.effective, effective, "{raw}: effective target");
        assert_eq!(indicator.unwrapped, wrappers, "{raw}: wrappers outermost first");
        assert_eq!(
            indicator.registrable_domain.as_deref(),
            Some(registrable),
            "{raw}: registrable domain of the target"
        );
        assert_eq!(indicator.embedded_recipient, None, "{raw}: wrapper parameters hold no embedded recipient");
    }
    let safe_links = url(&message, cases[0].0);
    assert_eq!(safe_links.host.as_deref(), Some("portal.accounts.example-phish.net"), "host of the effective URL");
    assert_eq!(message.urls.len(), 6, "no other URLs");
    assert!(
        message.domains.iter().all(|domain| domain.domain != "outlook.com" && domain.domain != "google.com"),
        "wrapper domains are not reported as URL domains"
    );
}

#[test]
fn urls_lookalike_hosts() {
    let message = check_fixture("urls-lookalikes", "urls-lookalikes", ORGANIZATION);

    let typo = url(&message, "https://corp-exmaple.com/hr/enrolment");
    assert_eq!(typo.lookalikes.len(), 1, "one lookalike match for the typo host");
    assert_eq!(typo.lookalikes[0].target, "corp-example.com", "typo target");
    assert_eq!(typo.lookalikes[0].kind, LookalikeKind::Organization, "typo of the organisation");
    assert_eq!(typo.lookalikes[0].technique, LookalikeTechnique::Typo, "typo technique");
    assert_eq!(typo.lookalikes[0].distance, Some(1), "transposition is one edit");
    let deceptive = typo.deceptive.as_ref().expect("link text shows another domain");
    assert_eq!(deceptive.displayed_domain, "corp-example.com", "domain shown in the link text");
    assert_eq!(deceptive.actual_domain, "corp-exmaple.com", "domain of the link target");

    let idn = url(&message, "https://benefits.xn--corp-exmple-4ij.com/handbook");
    assert_eq!(idn.host.as_deref(), Some("benefits.xn--corp-exmple-4ij.com"), "IDN host in punycode");
    assert_eq!(idn.host_unicode.as_deref(), Some("benefits.corp-ex\u{430}mple.com"), "IDN host in Unicode");
    assert_eq!(idn.registrable_domain.as_deref(), Some("xn--corp-exmple-4ij.com"), "IDN registrable domain");
    assert_eq!(idn.lookalikes[0].technique, LookalikeTechnique::Confusable, "Cyrillic a is a confusable");
    assert_eq!(idn.lookalikes[0].target, "corp-example.com", "confusable target");

    let subdomain = url(&message, "https://paypal.com.example-phish.net/claim");
    assert_eq!(subdomain.lookalikes[0].brand.as_deref(), Some("PayPal"), "brand in subdomain labels");
    assert_eq!(subdomain.lookalikes[0].kind, LookalikeKind::Brand, "brand match kind");
    assert_eq!(subdomain.lookalikes[0].technique, LookalikeTechnique::Subdomain, "subdomain technique");
    assert_eq!(subdomain.lookalikes[0].target, "paypal.com", "brand main domain");
    let combosquat = url(&message, "https://secure-paypal-login.net/claim");
    assert_eq!(combosquat.lookalikes[0].brand.as_deref(), Some("PayPal"), "brand in combined words");
    assert_eq!(combosquat.lookalikes[0].technique, LookalikeTechnique::Combosquat, "combosquat technique");

    let own = url(&message, "https://intranet.corp-example.com/");
    assert!(own.lookalikes.is_empty(), "the organisation's own host is no lookalike");
    assert_eq!(own.deceptive, None, "link text naming its own target is not deceptive");
    assert!(
        message.domains.iter().any(|domain| domain.domain == "corp-example.com" && domain.internal),
        "own domain is internal"
    );

    assert_eq!(message.sender.from_lookalikes.len(), 1, "From domain lookalike");
    assert_eq!(message.sender.from_lookalikes[0].technique, LookalikeTechnique::Confusable, "rn for m");
    assert_eq!(message.sender.from_lookalikes[0].target, "corp-example.com", "From lookalike target");
}

#[test]
fn lookalikes_skip_generic_words() {
    // The sender domain example-office.net contains the word "office",
    // the first label of Microsoft's office.com but no name of Microsoft.
    let message = analyze_lf("attachment-executables", "");
    assert_eq!(message.sender.from_domain.as_deref(), Some("example-office.net"), "From domain");
    assert!(
        message.sender.from_lookalikes.is_empty(),
        "example-office.net imitates no brand; found {:?}",
        message.sender.from_lookalikes
    );
}

#[test]
fn urls_embedded_recipient() {
    let message = check_fixture("urls-recipient", "urls-recipient", "");

    let plain = url(&message, "https://verify.example-phish.net/start?login=dana.lee@corp-example.com");
    assert_eq!(plain.embedded_recipient.as_deref(), Some("dana.lee@corp-example.com"), "plain address in the query");
    let encoded = url(&message, "https://docs.example-phish.net/open#ZGFuYS5sZWVAY29ycC1leGFtcGxlLmNvbQ==");
    assert_eq!(
        encoded.embedded_recipient.as_deref(),
        Some("dana.lee@corp-example.com"),
        "base64 address in the fragment"
    );
}

#[test]
fn urls_without_recipients() {
    let message = check_fixture("urls-no-recipient", "urls-no-recipient", "");

    assert!(message.headers.to.mailboxes.is_empty(), "no recipient mailboxes");
    assert_eq!(message.urls.len(), 2, "both URLs found");
    for indicator in &message.urls {
        assert_eq!(indicator.embedded_recipient, None, "{}: no recipients, no embedded recipient", indicator.url);
    }
}

// ---------------------------------------------------------------------------
// Attachments
// ---------------------------------------------------------------------------

#[test]
fn attachments_executables() {
    let name = "attachment-executables";
    let message = check_fixture(name, name, "");

    let archive_file = attachment(&message, "Scan_0311.zip");
    assert_digests(archive_file, &base64_part(name, "filename=\"Scan_0311.zip\""));
    assert!(archive_file.flags.executable, "a zip with an executable is flagged");
    let listing = archive_file.archive.as_ref().expect("archive listing");
    assert_eq!(listing.format, "zip", "archive format");
    assert_eq!(listing.total_entries, 2, "archive entries");
    assert_eq!(listing.entries[0].name, "Scan_0311.exe", "first entry name");
    assert!(listing.entries[0].executable, "executable entry");
    assert_eq!(
        listing.entries[0].detected_type.as_deref(),
        Some("application/vnd.microsoft.portable-executable"),
        "entry type by magic bytes"
    );
    assert_eq!(listing.entries[0].sha256.as_deref(), Some(sha256_hex(&mz_stub()).as_str()), "entry hash");
    assert!(!listing.entries[1].executable, "text entry is not executable");
    assert!(!listing.truncated, "listing is complete");

    let double = attachment(&message, "invoice.pdf.exe");
    assert_digests(double, &base64_part(name, "filename=\"invoice.pdf.exe\""));
    assert!(double.flags.double_extension, "invoice.pdf.exe has a double extension");
    assert!(double.flags.executable, "invoice.pdf.exe is executable");
    assert_eq!(double.extension.as_deref(), Some("exe"), "last extension");

    let reordered = attachment(&message, "INV-0311\u{202e}fdp.scr");
    assert_digests(reordered, &base64_part(name, "INV-0311%E2%80%AEfdp.scr"));
    assert!(reordered.flags.bidi_control, "right-to-left override in the name");
    assert!(reordered.flags.executable, ".scr is executable");
    assert!(!reordered.flags.double_extension, "one extension only");
}

#[test]
fn attachments_macros() {
    let name = "attachment-macros";
    let message = check_fixture(name, name, "");

    let docm = attachment(&message, "Q1_Bonus_Plan.docm");
    assert_digests(docm, &base64_part(name, "filename=\"Q1_Bonus_Plan.docm\""));
    assert!(docm.flags.macros, "vbaProject.bin means macros");
    assert!(!docm.flags.extension_mismatch, "a .docm that is a zip matches its extension");
    let entries: Vec<&str> =
        docm.archive.as_ref().expect("OOXML is listed").entries.iter().map(|entry| entry.name.as_str()).collect();
    assert!(entries.contains(&"word/vbaProject.bin"), "VBA project entry listed");

    let legacy = attachment(&message, "Budget_2025.doc");
    assert_digests(legacy, &base64_part(name, "filename=\"Budget_2025.doc\""));
    let ole = legacy.ole.as_ref().expect("compound file structure");
    assert_eq!(ole.application, "word", "WordDocument stream means Word");
    assert!(ole.vba, "VBA storage found");
    assert_eq!(ole.error, None, "compound file is readable");
    assert_eq!(ole.streams, 4, "streams in the compound file");
    assert!(legacy.flags.macros, "VBA storage means macros");
    assert!(!legacy.flags.extension_mismatch, "a .doc that is a compound file matches its extension");
}

#[test]
fn attachments_documents() {
    let name = "attachment-documents";
    let message = check_fixture(name, name, "");

    let pdf = attachment(&message, "Statement_March.pdf");
    assert_digests(pdf, &base64_part(name, "filename=\"Statement_March.pdf\""));
    assert_eq!(pdf.detected_type.as_deref(), Some("application/pdf"), "PDF by magic bytes");
    let pdf_link = url(&message, "https://statement-view.example-phish.net/s/77310");
    assert!(
        pdf_link.sources.iter().any(|source| source.kind == UrlSourceKind::Attachment
            && source.location.as_deref() == Some("Statement_March.pdf")),
        "PDF /URI link found in the attachment"
    );
    assert!(!pdf.flags.active_content, "a link is not active content");

    let login = attachment(&message, "Secure_Login.html");
    assert_digests(login, &base64_part(name, "filename=\"Secure_Login.html\""));
    assert!(login.flags.credential_form, "password form in the HTML attachment");
    assert!(login.flags.html_smuggling.is_empty(), "no smuggling in the login page");
    let action = url(&message, "https://collect.example-phish.net/owa/auth");
    assert!(found_in(action, UrlSourceKind::Attachment), "form action of the attachment");

    let viewer = attachment(&message, "Invoice_Viewer.html");
    assert_digests(viewer, &base64_part(name, "filename=\"Invoice_Viewer.html\""));
    for marker in ["new blob(", "createobjecturl", ".download"] {
        assert!(viewer.flags.html_smuggling.iter().any(|found| found == marker), "smuggling marker {marker}");
    }
    assert!(!viewer.flags.credential_form, "no form in the viewer");

    let notes = attachment(&message, "instructions.txt");
    assert_digests(notes, &base64_part(name, "filename=\"instructions.txt\""));
    let support_link = url(&message, "https://remote-support.example-phish.net/join?code=4471");
    assert!(
        support_link
            .sources
            .iter()
            .any(|source| source.kind == UrlSourceKind::Attachment
                && source.location.as_deref() == Some("instructions.txt")),
        "URL of the text attachment"
    );
}

#[test]
fn attachments_nested_message() {
    let message = check_fixture("attachment-nested", "attachment-nested", "");

    let attached = attachment(&message, "Payment confirmation.eml");
    assert_eq!(attached.declared_type, "message/rfc822", "declared type");
    // The part body ends before the line break that belongs to the closing
    // delimiter (RFC 2046, section 5.1.1).
    let text = fixture("attachment-nested");
    let start = text.windows(14).position(|window| window == b"From: Treasury").expect("nested From");
    let end = text.windows(13).position(|window| window == b"\n--ndr-51d0--").expect("closing delimiter");
    assert_digests(attached, &text[start..end]);
    let nested = attached.message.as_ref().expect("attached message is analysed");
    assert_eq!(nested.headers.subject.as_deref(), Some("Payment confirmation 2025-0325"), "nested subject");
    assert_eq!(nested.sender.from_domain.as_deref(), Some("example-payments.net"), "nested From domain");
    assert_eq!(nested.urls.len(), 1, "URL of the nested message");
    assert_eq!(nested.urls[0].url, "https://remit.example-payments.net/advice/2025-0325", "nested URL");
    assert!(message.urls.is_empty(), "the nested message's URL stays in the nested analysis");
}

#[test]
fn attachments_qr_code() {
    let name = "attachment-qr";
    let message = check_fixture(name, name, "");

    let image = attachment(&message, "mfa-enrolment.png");
    assert_digests(image, &base64_part(name, "filename=\"mfa-enrolment.png\""));
    assert_eq!(image.detected_type.as_deref(), Some("image/png"), "PNG by magic bytes");
    assert_eq!(image.qr_codes, [QR_TEXT], "QR code text decoded");
    let target = url(&message, QR_TEXT);
    assert!(found_in(target, UrlSourceKind::QrCode), "QR code text is a URL from a QR code");
    assert_eq!(target.registrable_domain.as_deref(), Some("example-phish.net"), "QR URL domain");
    assert_eq!(message.body.html.as_ref().map(|html| html.cid_images), Some(1), "image shown by cid");
}

// ---------------------------------------------------------------------------
// Content cues
// ---------------------------------------------------------------------------

#[test]
fn cues_credential_request() {
    let message = check_fixture("cues-credential", "cues-credential", "");

    assert!(has_cue(&message, CueKind::Urgency, "subject"), "urgency in the subject");
    assert!(has_cue(&message, CueKind::CredentialRequest, "subject"), "credential request in the subject");
    assert!(has_cue(&message, CueKind::Urgency, "body"), "urgency in the body");
    assert!(has_cue(&message, CueKind::CredentialRequest, "body"), "credential request in the body");
    assert!(message.cues.iter().any(|cue| cue.matched == "within 24 hours"), "matched phrase kept as written");
}

#[test]
fn cues_gift_card() {
    let message = check_fixture("cues-gift-card", "cues-gift-card", "");

    assert!(has_cue(&message, CueKind::GiftCard, "body"), "gift card request");
    assert!(
        message.cues.iter().any(|cue| cue.kind == CueKind::GiftCard && cue.matched == "send me the codes"),
        "request for the codes"
    );
    assert!(has_cue(&message, CueKind::Secrecy, "body"), "request for secrecy");
    assert!(message.urls.is_empty(), "no URLs in a gift card lure");
}

#[test]
fn cues_payment_change() {
    let message = check_fixture("cues-payment-change", "cues-payment-change", "");

    assert!(has_cue(&message, CueKind::PaymentChange, "subject"), "payment change in the subject");
    assert!(has_cue(&message, CueKind::PaymentChange, "body"), "payment change in the body");
    assert!(has_cue(&message, CueKind::PaymentRequest, "body"), "invoice payment request");
    assert!(message.phone_numbers.is_empty(), "an IBAN is not a telephone number");
}

#[test]
fn cues_callback_number() {
    let message = check_fixture("cues-callback", "cues-callback", "");

    assert!(has_cue(&message, CueKind::CallbackRequest, "body"), "callback request");
    assert_eq!(message.phone_numbers.len(), 2, "two numbers");
    let toll_free = &message.phone_numbers[0];
    assert_eq!(toll_free.raw, "+1 (888) 555-0142", "number as written");
    assert_eq!(toll_free.normalized, "+18885550142", "normalised number");
    assert!(toll_free.toll_free, "888 is toll-free");
    assert_eq!(toll_free.location, "body", "number location");
    let international = &message.phone_numbers[1];
    assert_eq!(international.normalized, "+442079460958", "international number");
    assert!(!international.toll_free, "a London number is not toll-free");
}

#[test]
fn cues_extortion() {
    let message = check_fixture("cues-extortion", "cues-extortion", "");

    assert!(has_cue(&message, CueKind::Extortion, "body"), "extortion claims");
    assert!(has_cue(&message, CueKind::Cryptocurrency, "body"), "payment in cryptocurrency");
    assert!(message.cues.iter().any(|cue| cue.matched == "I hacked"), "matched phrase as written");
}

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

const AWS_KEY_ID: &str = "AKIA4QZ7EXAMPLE2W9RT";
const GITHUB_TOKEN: &str = "ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d";
const PRIVATE_KEY_BODY: &str = "cGhpc2hsb29wIHRlc3QgZml4dHVyZTogdGhpcyBpcyBub3QgYSByZWFsIGtleSwgb25seSB0ZXh0";
const PRIVATE_KEY_BLOCK: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
cGhpc2hsb29wIHRlc3QgZml4dHVyZTogdGhpcyBpcyBub3QgYSByZWFsIGtleSwgb25seSB0ZXh0\n\
IHNoYXBlZCBsaWtlIG9uZS4=\n\
-----END OPENSSH PRIVATE KEY-----";

#[test]
fn secrets_found_redacted() {
    let message = analyze_lf("secrets", "");

    let kinds: Vec<SecretKind> = message.secrets.iter().map(|secret| secret.kind).collect();
    assert_eq!(
        kinds,
        [SecretKind::AwsAccessKeyId, SecretKind::GithubToken, SecretKind::PrivateKey],
        "secret kinds in pattern order"
    );
    let [aws, github, key] = &message.secrets[..] else {
        panic!("expected three secrets, found {:?}", message.secrets);
    };
    assert_eq!(aws.redacted, "AKIA************W9RT", "AWS key id redacted");
    assert_eq!(aws.sha256, sha256_hex(AWS_KEY_ID.as_bytes()), "AWS key id hash");
    assert_eq!(github.redacted, "ghp_************************OL8d", "GitHub token redacted");
    assert_eq!(github.sha256, sha256_hex(GITHUB_TOKEN.as_bytes()), "GitHub token hash");
    assert_eq!(key.redacted, "-----BEGIN OPENSSH PRIVATE KEY----- (key body redacted)", "private key redacted");
    let block_without_space: String = PRIVATE_KEY_BLOCK.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(
        key.sha256,
        sha256_hex(block_without_space.as_bytes()),
        "private key hash of the block without white space"
    );
    assert!(message.secrets.iter().all(|secret| secret.location == "body"), "secrets are in the body");
    assert!(has_cue(&message, CueKind::DeveloperCredential, "body"), "developer credential cue");
}

#[test]
fn secrets_absent_from_json() {
    let analyzer = support::analyzer("", Mode::Direct);
    let records = support::analyze(&analyzer, "secrets.eml", &fixture("secrets"));
    let json = serde_json::to_string(&records).expect("records serialize");
    for secret in [AWS_KEY_ID, GITHUB_TOKEN, PRIVATE_KEY_BODY] {
        assert!(!json.contains(secret), "the full secret {secret} occurs in the JSON output");
    }
}

#[test]
fn secrets_hash_ignores_line_endings() {
    let analyzer = support::analyzer("", Mode::Direct);
    let lf = support::analyze(&analyzer, "secrets.eml", &fixture("secrets"));
    let crlf = support::analyze(&analyzer, "secrets.eml", &support::to_crlf(&fixture("secrets")));
    let hashes = |records: &[AnalysisRecord]| -> Vec<String> {
        records[0].message.as_ref().expect("message").secrets.iter().map(|secret| secret.sha256.clone()).collect()
    };
    assert_eq!(hashes(&lf), hashes(&crlf), "secret hashes of the LF and CRLF forms");
}

#[test]
fn secrets_golden() {
    check_fixture("secrets", "secrets", "");
}

// ---------------------------------------------------------------------------
// Defects
// ---------------------------------------------------------------------------

#[test]
fn defects_missing_closing_boundary() {
    let message = check_fixture("defect-missing-boundary", "defect-missing-boundary", "");

    assert_eq!(defect_codes(&message), [DefectCode::MissingClosingBoundary], "defects");
    assert_eq!(message.parse.status, ParseStatus::Partial, "a missing closing boundary may lose content");
    let note = attachment(&message, "delivery-note.txt");
    assert_digests(note, &base64_part("defect-missing-boundary", "filename=\"delivery-note.txt\""));
    let fee = url(&message, "https://pay.example-courier.net/fee/7731");
    assert!(found_in(fee, UrlSourceKind::Attachment), "the last part is still read");
}

#[test]
fn defects_invalid_base64() {
    let message = analyze_lf("defect-invalid-base64", "");

    assert!(defect_codes(&message).contains(&DefectCode::InvalidBase64), "invalid_base64 defect");
    assert_eq!(message.parse.status, ParseStatus::Partial, "parse status");
    assert!(message.body.excerpt.starts_with("Your tax refund"), "body decoded leniently: {}", message.body.excerpt);
    let refund = url(&message, "https://refund.example-phish.net/claim/5520");
    assert!(found_in(refund, UrlSourceKind::Text), "URL of the decoded body");
    check_fixture("defect-invalid-base64", "defect-invalid-base64", "");
}

#[test]
fn defects_header_name_whitespace() {
    let message = check_fixture("defect-header-space", "defect-header-space", "");

    assert_eq!(defect_codes(&message), [DefectCode::HeaderNameWhitespace], "defects");
    assert_eq!(message.parse.status, ParseStatus::Ok, "white space before a colon is cosmetic");
    assert_eq!(message.headers.subject.as_deref(), Some("Overdue invoice 2025-118"), "field read without the space");
    assert_eq!(message.headers.fields[2].name, "Subject", "field name without the space");
}

#[test]
fn defects_truncated_message() {
    let message = check_fixture("defect-truncated", "defect-truncated", "");

    assert_eq!(defect_codes(&message), [DefectCode::MissingHeaderBodySeparator, DefectCode::TruncatedInput], "defects");
    assert_eq!(message.parse.status, ParseStatus::Partial, "a truncated message is partial");
    assert_eq!(message.headers.subject.as_deref(), Some("Shipment 5C1D on hold"), "headers before the cut are read");
    assert_eq!(message.received.hops.len(), 1, "Received header before the cut");
}

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

fn fixture_path(name: &str) -> std::path::PathBuf {
    support::data_dir().join("indicators").join(format!("{name}.eml"))
}

fn run_analyze(paths: &[std::path::PathBuf]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_phishloop"))
        .env_remove("PHISHLOOP_CONFIG")
        .args(["analyze", "--json"])
        .args(paths)
        .output()
        .expect("phishloop runs")
}

#[test]
fn cli_json_lines() {
    let paths = [fixture_path("sender-encoded-name"), fixture_path("urls-html")];
    let output = run_analyze(&paths);
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(output.status.code(), Some(0), "exit code; stderr: {stderr}");
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "one JSON line per message: {stdout}");
    for (line, path) in lines.iter().zip(&paths) {
        let record: AnalysisRecord = serde_json::from_str(line).expect("each line is one analysis record");
        assert_eq!(record.source.path.as_deref(), path.to_str(), "record names its file");
        assert_eq!(record.report.kind, ReportKind::Direct, "fixture is a direct message");
        assert!(record.message.is_some(), "record has a message analysis");
    }
}

#[test]
fn cli_missing_file() {
    let missing = fixture_path("no-such-fixture");
    let existing = fixture_path("urls-html");
    let output = run_analyze(&[missing.clone(), existing.clone()]);
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(output.status.code(), Some(1), "exit code when one input cannot be read; stderr: {stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "stderr names the missing file: {stderr}");
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the readable file is still analysed: {stdout}");
    let record: AnalysisRecord = serde_json::from_str(lines[0]).expect("the line is one analysis record");
    assert_eq!(record.source.path.as_deref(), existing.to_str(), "record of the readable file");
}

// ---------------------------------------------------------------------------
// Fixture generator
// ---------------------------------------------------------------------------

/// Text of the QR code in `attachment-qr.eml`.
const QR_TEXT: &str = "https://mfa-reset.example-phish.net/enroll?id=88f1";

/// Returns bytes that start like a Windows executable (`MZ`) but are not a
/// program.
fn mz_stub() -> Vec<u8> {
    let mut bytes = vec![b'M', b'Z', 0x90, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0xff, 0xff];
    bytes.extend_from_slice(b"\0\0phishloop test data: starts like an executable, runs nothing.\n");
    bytes
}

fn zip_archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buffer = Cursor::new(Vec::new());
    let mut writer = zip::ZipWriter::new(&mut buffer);
    // Without the zip crate's `time` feature every entry gets the fixed
    // date 1980-01-01, so the archive bytes are reproducible.
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in entries {
        writer.start_file(*name, options).expect("zip entry starts");
        writer.write_all(content).expect("zip entry is written");
    }
    writer.finish().expect("zip is finished");
    buffer.into_inner()
}

/// Builds an OLE compound file (version 3 with 512-byte sectors, as legacy
/// Office writes it) with the given streams. Storages are created from the
/// stream paths, and timestamps are fixed so that the bytes are
/// reproducible.
fn compound_file(streams: &[(&str, &[u8])]) -> Vec<u8> {
    let mut file = cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))
        .expect("compound file is created");
    for (path, content) in streams {
        if let Some((storage, _)) = path.rsplit_once('/')
            && !storage.is_empty()
        {
            file.create_storage_all(storage).expect("storage is created");
        }
        file.create_stream(path).expect("stream is created").write_all(content).expect("stream is written");
    }
    let fixed = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_741_000_000);
    let paths: Vec<std::path::PathBuf> = file.walk().map(|entry| entry.path().to_path_buf()).collect();
    for path in paths {
        file.set_created_time(&path, fixed).expect("created time is set");
        file.set_modified_time(&path, fixed).expect("modified time is set");
    }
    file.flush().expect("compound file is flushed");
    file.into_inner().into_inner()
}

fn qr_png(text: &str) -> Vec<u8> {
    let code = qrcode::QrCode::new(text.as_bytes()).expect("text fits in a QR code");
    let rendered = code.render::<image::Luma<u8>>().module_dimensions(6, 6).build();
    let mut png = Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(rendered).write_to(&mut png, image::ImageFormat::Png).expect("PNG is encoded");
    png.into_inner()
}

/// Formats a base64 MIME part with the given header lines.
fn base64_part_text(boundary: &str, headers: &str, content: &[u8]) -> String {
    format!("--{boundary}\n{headers}Content-Transfer-Encoding: base64\n\n{}", base64_lines(content))
}

fn write_fixture(name: &str, text: &str) {
    let path = support::data_dir().join("indicators").join(format!("{name}.eml"));
    std::fs::write(&path, text).unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
}

const PDF_WITH_LINK: &str = "%PDF-1.4
1 0 obj
<< /Type /Catalog /Pages 2 0 R >>
endobj
2 0 obj
<< /Type /Pages /Kids [3 0 R] /Count 1 >>
endobj
3 0 obj
<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Annots [4 0 R] >>
endobj
4 0 obj
<< /Type /Annot /Subtype /Link /Rect [72 600 540 640] /Border [0 0 0]
   /A << /S /URI /URI (https://statement-view.example-phish.net/s/77310) >> >>
endobj
trailer
<< /Root 1 0 R >>
%%EOF
";

const LOGIN_PAGE: &str = r#"<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Sign in to view the document</title></head>
<body>
<h1>Document portal</h1>
<p>Your session has expired. Sign in to view the shared remittance.</p>
<form action="https://collect.example-phish.net/owa/auth" method="post">
<input type="email" name="login">
<input type="password" name="passwd" placeholder="Password">
<button type="submit">Sign in</button>
</form>
</body>
</html>
"#;

const SMUGGLING_PAGE: &str = r#"<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Invoice viewer</title></head>
<body>
<p>Your invoice is downloading. If it does not start, reload this page.</p>
<script>
var payload = "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==";
var raw = atob(payload);
var bytes = new Uint8Array(raw.length);
for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
var blob = new Blob([bytes], { type: "application/octet-stream" });
var link = document.createElement("a");
link.href = URL.createObjectURL(blob);
link.download = "Invoice_0311.zip";
document.body.appendChild(link);
link.click();
</script>
</body>
</html>
"#;

const SUPPORT_NOTES: &str = "Remote support session for your mailbox migration

1. Open https://remote-support.example-phish.net/join?code=4471
2. Enter the session code 4471 and allow the connection.
";

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/><Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>
"#;

const WORD_DOCUMENT: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Enable editing to see the bonus plan.</w:t></w:r></w:p></w:body></w:document>
"#;

/// Writes the fixtures with binary attachments. Run it by hand after a
/// change, then review the fixtures and update the golden files.
#[test]
#[ignore = "writes fixtures into the source tree; run by hand"]
fn generate_binary_fixtures() {
    let executables = format!(
        "From: Office Scanner <scanner@example-office.net>
To: dana.lee@corp-example.com
Subject: Scanned documents from printer 3F-EAST
Date: Mon, 31 Mar 2025 08:12:00 +0000
Message-ID: <scan-0311@example-office.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"scan-a81f\"

--scan-a81f
Content-Type: text/plain; charset=us-ascii

Three scanned documents are attached.

{}{}{}--scan-a81f--
",
        base64_part_text(
            "scan-a81f",
            "Content-Type: application/zip; name=\"Scan_0311.zip\"\n\
             Content-Disposition: attachment; filename=\"Scan_0311.zip\"\n",
            &zip_archive(&[("Scan_0311.exe", &mz_stub()), ("readme.txt", b"Open Scan_0311 to view the scan.\n")]),
        ),
        base64_part_text(
            "scan-a81f",
            "Content-Type: application/octet-stream; name=\"invoice.pdf.exe\"\n\
             Content-Disposition: attachment; filename=\"invoice.pdf.exe\"\n",
            &mz_stub(),
        ),
        base64_part_text(
            "scan-a81f",
            "Content-Type: application/octet-stream\n\
             Content-Disposition: attachment; filename*=UTF-8''INV-0311%E2%80%AEfdp.scr\n",
            &mz_stub(),
        ),
    );
    write_fixture("attachment-executables", &executables);

    let docm = zip_archive(&[
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("word/document.xml", WORD_DOCUMENT.as_bytes()),
        ("word/vbaProject.bin", b"phishloop test data: stands in for a VBA project\n"),
    ]);
    let legacy = compound_file(&[
        ("/WordDocument", b"phishloop test data: stands in for a Word document stream\n"),
        ("/Macros/PROJECT", b"ID=\"{00000000-0000-0000-0000-000000000000}\"\nDocument=ThisDocument/&H00000000\n"),
        ("/Macros/VBA/dir", b"phishloop test data: stands in for a compressed VBA dir stream\n"),
        ("/Macros/VBA/ThisDocument", b"phishloop test data: stands in for a VBA module\n"),
    ]);
    let macros = format!(
        "From: HR Department <hr@example-phish.net>
To: dana.lee@corp-example.com
Subject: Q1 bonus plan and budget
Date: Mon, 31 Mar 2025 09:30:00 +0000
Message-ID: <bonus-q1@example-phish.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"hr-0c4d\"

--hr-0c4d
Content-Type: text/plain; charset=us-ascii

Please find the Q1 bonus plan and the budget attached. Enable editing and
content to see the figures.

{}{}--hr-0c4d--
",
        base64_part_text(
            "hr-0c4d",
            "Content-Type: application/vnd.ms-word.document.macroEnabled.12; name=\"Q1_Bonus_Plan.docm\"\n\
             Content-Disposition: attachment; filename=\"Q1_Bonus_Plan.docm\"\n",
            &docm,
        ),
        base64_part_text(
            "hr-0c4d",
            "Content-Type: application/msword; name=\"Budget_2025.doc\"\n\
             Content-Disposition: attachment; filename=\"Budget_2025.doc\"\n",
            &legacy,
        ),
    );
    write_fixture("attachment-macros", &macros);

    let documents = format!(
        "From: Accounts <accounts@example-vendor.net>
To: dana.lee@corp-example.com
Subject: Remittance documents for March
Date: Mon, 31 Mar 2025 11:45:00 +0000
Message-ID: <remit-0331@example-vendor.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"docs-5b2e\"

--docs-5b2e
Content-Type: text/plain; charset=us-ascii

The March statement, the remittance viewer and the support notes are
attached.

{}{}{}{}--docs-5b2e--
",
        base64_part_text(
            "docs-5b2e",
            "Content-Type: application/pdf; name=\"Statement_March.pdf\"\n\
             Content-Disposition: attachment; filename=\"Statement_March.pdf\"\n",
            PDF_WITH_LINK.as_bytes(),
        ),
        base64_part_text(
            "docs-5b2e",
            "Content-Type: text/html; charset=utf-8; name=\"Secure_Login.html\"\n\
             Content-Disposition: attachment; filename=\"Secure_Login.html\"\n",
            LOGIN_PAGE.as_bytes(),
        ),
        base64_part_text(
            "docs-5b2e",
            "Content-Type: text/html; charset=utf-8; name=\"Invoice_Viewer.html\"\n\
             Content-Disposition: attachment; filename=\"Invoice_Viewer.html\"\n",
            SMUGGLING_PAGE.as_bytes(),
        ),
        base64_part_text(
            "docs-5b2e",
            "Content-Type: text/plain; charset=us-ascii; name=\"instructions.txt\"\n\
             Content-Disposition: attachment; filename=\"instructions.txt\"\n",
            SUPPORT_NOTES.as_bytes(),
        ),
    );
    write_fixture("attachment-documents", &documents);

    let qr = format!(
        "From: IT Security <it-security@example-phish.net>
To: dana.lee@corp-example.com
Subject: Multi-factor authentication must be renewed
Date: Mon, 31 Mar 2025 14:05:00 +0000
Message-ID: <mfa-renew-88f1@example-phish.net>
MIME-Version: 1.0
Content-Type: multipart/related; boundary=\"mfa-2d7a\"

--mfa-2d7a
Content-Type: text/html; charset=us-ascii

<html><body>
<p>Your multi-factor authentication expires today.</p>
<p>Scan the code below with your phone to renew it.</p>
<p><img src=\"cid:mfa-qr@example-phish.net\" alt=\"QR code\"></p>
</body></html>

{}--mfa-2d7a--
",
        base64_part_text(
            "mfa-2d7a",
            "Content-Type: image/png; name=\"mfa-enrolment.png\"\n\
             Content-Disposition: inline; filename=\"mfa-enrolment.png\"\n\
             Content-ID: <mfa-qr@example-phish.net>\n",
            &qr_png(QR_TEXT),
        ),
    );
    write_fixture("attachment-qr", &qr);
}

#[test]
fn urls_link_text_judged_by_what_it_shows() {
    let message = check_fixture("urls-link-text", "urls-link-text", ORGANIZATION);

    let file = url(&message, "https://files.example-share.net/d/77a1");
    assert_eq!(file.deceptive, None, "a file name with underscores is not a domain");

    let wrapped = message
        .urls
        .iter()
        .find(|indicator| indicator.effective == "https://docs.example-vendor.net/notice")
        .expect("the wrapped notice link");
    assert_eq!(wrapped.deceptive, None, "a wrapped URL shown as its own text leads where it shows");

    let carrier = url(&message, "https://www.canadapost-postescanada.ca/track/123");
    assert_eq!(carrier.deceptive, None, "two domains of one brand");
    assert_eq!(carrier.brand.as_deref(), Some("Canada Post"), "the brand that owns the link's domain");

    let phish = url(&message, "https://login.example-phish.net/s");
    let deceptive = phish.deceptive.as_ref().expect("brand domain shown, other domain behind");
    assert_eq!(deceptive.displayed_domain, "paypal.com");
    assert_eq!(deceptive.actual_domain, "example-phish.net");
    assert_eq!(phish.brand, None);

    let router = url(&message, "http://192.168.100.2/");
    assert!(router.host_is_ip, "IP address host");

    let cloud = url(&message, "https://u.pcloud.link/publink/show?code=XZ1");
    assert!(cloud.lookalikes.is_empty(), "pCloud is a service of its own, not an iCloud lookalike");
}

#[test]
fn qr_codes_with_address_and_number() {
    let boundary = "qr-b";
    let message = format!(
        "From: Parking <parking@example-city.net>\nTo: dana.lee@corp-example.com\nSubject: Parking fine\n\
         Date: Tue, 11 Mar 2025 09:14:00 +0000\nMessage-ID: <qr-contact@example-city.net>\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\n\n\
         --{boundary}\nContent-Type: text/plain; charset=utf-8\n\nScan the codes to pay or to call us.\n\n\
         {}\n{}\n--{boundary}--\n",
        base64_part_text(
            boundary,
            "Content-Type: image/png; name=\"mail.png\"\nContent-Disposition: attachment; filename=\"mail.png\"\n",
            &qr_png("mailto:Fines@Example-City-Pay.net?subject=Fine%2077310"),
        ),
        base64_part_text(
            boundary,
            "Content-Type: image/png; name=\"call.png\"\nContent-Disposition: attachment; filename=\"call.png\"\n",
            &qr_png("tel:+1-888-555-0147"),
        ),
    );
    let analyzer = support::analyzer("", Mode::Auto);
    let records = support::analyze(&analyzer, "qr-contact.eml", message.as_bytes());
    let analysis = records[0].message.as_ref().expect("analysed");
    assert!(
        analysis.email_addresses.contains(&"fines@example-city-pay.net".to_string()),
        "{:?}",
        analysis.email_addresses
    );
    assert!(
        analysis.phone_numbers.iter().any(|phone| phone.normalized.contains("8885550147")),
        "{:?}",
        analysis.phone_numbers
    );
    assert!(analysis.urls.iter().all(|url| !url.url.starts_with("mailto:")), "a mailto: code is no link");
}

#[test]
fn text_without_headers_read_as_body() {
    // The second paste starts like a header field of an unknown name.
    let cases: [(&[u8], &str); 2] = [
        (
            b"Dear customer, your account is locked.\nVerify it today at https://account-check.example/verify\n",
            "https://account-check.example/verify",
        ),
        (
            b"Note: your mailbox is full, sign in at https://mailbox-quota.example/login\n",
            "https://mailbox-quota.example/login",
        ),
    ];
    let analyzer = support::analyzer(ORGANIZATION, Mode::Auto);

    for (pasted, target) in cases {
        for bytes in [pasted.to_vec(), support::to_crlf(pasted)] {
            let records = support::analyze(&analyzer, "pasted.txt", &bytes);
            let message = records[0].message.as_ref().expect("analysed");
            let codes: Vec<DefectCode> = message.parse.defects.iter().map(|defect| defect.code).collect();

            assert!(codes.contains(&DefectCode::NoHeaders), "{codes:?}");
            assert!(!codes.contains(&DefectCode::MissingHeaderBodySeparator), "{codes:?}");
            assert_eq!(message.parse.status, ParseStatus::Malformed);
            let targets: Vec<&str> = message.urls.iter().map(|url| url.effective.as_str()).collect();
            assert_eq!(targets, [target]);
        }
    }
}
