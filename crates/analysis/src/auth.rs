//! Authentication-Results (RFC 8601), ARC and Received-SPF, split by trust.
//!
//! Any header below the organisation boundary was written before the
//! message arrived, possibly by the sender, so only headers above the
//! boundary are trusted, and when trusted authserv-ids are configured, only
//! those from one of them. The parser is tolerant: it accepts Office 365's
//! form without an authserv-id, comments anywhere, missing semicolons
//! between results, and unknown properties.

use std::collections::BTreeMap;

use mail_parser::Message;
use phishloop_model::{AuthMethodResult, AuthResultsHeader, AuthSummary, Authentication, ReceivedChain, TrustReason};

use crate::Analyzer;
use crate::config::host_matches;
use crate::headers::{raw_name, raw_value, unfold};

/// Methods the parser recognises at the start of a result; a first token
/// that is one of these means the header has no authserv-id.
const METHODS: &[&str] = &[
    "spf",
    "dkim",
    "dmarc",
    "arc",
    "compauth",
    "iprev",
    "auth",
    "smime",
    "dkim-adsp",
    "dkim-atps",
    "rrvs",
    "vbr",
    "bimi",
    "x-original-to",
    "domainkeys",
    "sender-id",
    "x-dkim",
    "dnswl",
    "x-return-mx",
];

/// Reads every authentication header and summarises the trusted ones.
pub(crate) fn read_authentication(analyzer: &Analyzer, message: &Message<'_>, chain: &ReceivedChain) -> Authentication {
    let raw = message.raw_message.as_ref();
    let boundary_position = chain.boundary.and_then(|index| chain.hops.get(index)).map(|hop| hop.position);

    let mut authentication = Authentication::default();
    let mut highest_arc_instance = 0u32;
    for (position, header) in message.headers().iter().enumerate() {
        let canonical = header.name.as_str();
        let relevant = canonical.len() >= 8 && {
            let first = canonical.as_bytes()[0].to_ascii_lowercase();
            first == b'a' || first == b'r' || first == b'x'
        };
        if !relevant {
            continue;
        }
        let lower = canonical.to_ascii_lowercase();
        if !matches!(
            lower.as_str(),
            "authentication-results"
                | "x-ms-exchange-authentication-results"
                | "arc-authentication-results"
                | "received-spf"
                | "arc-seal"
        ) {
            continue;
        }
        let name = raw_name(raw, header);
        let value = unfold(raw_value(raw, header));
        let parsed = match lower.as_str() {
            "authentication-results" | "x-ms-exchange-authentication-results" => {
                let (authserv_id, results) = parse_authentication_results(&value);
                let (trusted, trust_reason) = trust(analyzer, authserv_id.as_deref(), position, boundary_position);
                Some(AuthResultsHeader { header: name, authserv_id, trusted, trust_reason, position, results })
            }
            "arc-authentication-results" => {
                let (_, rest) = split_instance(&value);
                let (authserv_id, results) = parse_authentication_results(rest);
                Some(AuthResultsHeader {
                    header: name,
                    authserv_id,
                    trusted: false,
                    trust_reason: TrustReason::ArcInstance,
                    position,
                    results,
                })
            }
            "received-spf" => {
                let (authserv_id, result) = parse_received_spf(&value);
                let (trusted, trust_reason) = trust(analyzer, authserv_id.as_deref(), position, boundary_position);
                Some(AuthResultsHeader {
                    header: name,
                    authserv_id,
                    trusted,
                    trust_reason,
                    position,
                    results: vec![result],
                })
            }
            "arc-seal" => {
                authentication.arc_chain_length += 1;
                let tags = parse_tags(&value);
                let instance = tags.get("i").and_then(|i| i.parse::<u32>().ok()).unwrap_or(0);
                if instance >= highest_arc_instance {
                    highest_arc_instance = instance;
                    authentication.arc_chain_validation = tags.get("cv").map(|cv| cv.to_ascii_lowercase());
                }
                None
            }
            _ => None,
        };
        if let Some(parsed) = parsed {
            authentication.headers.push(parsed);
        }
    }

    authentication.trusted = summarize(authentication.headers.iter().filter(|header| header.trusted));
    authentication.untrusted = summarize(authentication.headers.iter().filter(|header| !header.trusted));
    authentication
}

/// Decides whether a header at `position` from `authserv_id` is trusted.
fn trust(
    analyzer: &Analyzer,
    authserv_id: Option<&str>,
    position: usize,
    boundary_position: Option<usize>,
) -> (bool, TrustReason) {
    let Some(boundary_position) = boundary_position else {
        return (false, TrustReason::NoBoundary);
    };
    if position > boundary_position {
        return (false, TrustReason::BelowBoundary);
    }
    let trust_config = &analyzer.config().trust;
    if trust_config.authserv_ids.is_empty() {
        return (true, TrustReason::AboveBoundary);
    }
    let trusted = match authserv_id {
        Some(id) => host_matches(&id.to_ascii_lowercase(), &trust_config.authserv_ids),
        None => trust_config.microsoft_365,
    };
    if trusted { (true, TrustReason::TrustedAuthservId) } else { (false, TrustReason::UntrustedAuthservId) }
}

/// Parses an Authentication-Results value into its authserv-id and results.
pub(crate) fn parse_authentication_results(value: &str) -> (Option<String>, Vec<AuthMethodResult>) {
    let segments = split_outside_comments(value, b';');
    let mut segments = segments.into_iter();
    let Some(first) = segments.next() else {
        return (None, Vec::new());
    };

    // The first segment is the authserv-id, unless it already is a result
    // (Office 365 writes none).
    let first_token = first.text.split_whitespace().next().unwrap_or_default();
    let first_is_result = first_token.split_once('=').is_some_and(|(method, _)| {
        METHODS.contains(&method.split('/').next().unwrap_or_default().to_ascii_lowercase().as_str())
    });
    let mut results = Vec::new();
    let authserv_id = if first_is_result {
        results.extend(parse_results(&first));
        None
    } else {
        Some(first_token.to_string()).filter(|id| !id.is_empty())
    };
    for segment in segments {
        results.extend(parse_results(&segment));
    }
    (authserv_id, results)
}

/// One `;`-separated segment, with its comments set apart.
#[derive(Debug, Default)]
struct Segment {
    text: String,
    comments: Vec<String>,
}

/// Splits at `separator` outside comments and quoted strings; comments go
/// to the segment's comment list.
///
/// The text between the ASCII bytes that matter (`\`, `"`, `(`, `)` and
/// the separator) is copied as whole slices, so every slice boundary is
/// also a character boundary.
fn split_outside_comments(value: &str, separator: u8) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut current = Segment::default();
    let mut depth = 0usize;
    let mut comment = String::new();
    let mut quoted = false;
    let mut escaped = false;
    // Start of the bytes not copied yet. They go to the comment when
    // `depth > 0`, else to the segment text, and `depth` only changes
    // after they are copied.
    let mut run_start = 0;
    let copy_run = |end: usize, run_start: usize, depth: usize, text: &mut String, comment: &mut String| {
        let run = &value[run_start..end];
        if depth > 0 { comment.push_str(run) } else { text.push_str(run) }
    };
    for (index, &byte) in value.as_bytes().iter().enumerate() {
        if escaped {
            // The escaped character stays in the run, without its meaning.
            escaped = false;
            continue;
        }
        match byte {
            b'\\' => {
                copy_run(index, run_start, depth, &mut current.text, &mut comment);
                run_start = index + 1;
                escaped = true;
            }
            b'"' if depth == 0 => quoted = !quoted,
            b'(' if !quoted => {
                if depth == 0 {
                    copy_run(index, run_start, depth, &mut current.text, &mut comment);
                    run_start = index + 1;
                }
                depth += 1;
            }
            b')' if !quoted && depth > 0 => {
                if depth == 1 {
                    copy_run(index, run_start, depth, &mut current.text, &mut comment);
                    run_start = index + 1;
                    current.comments.push(std::mem::take(&mut comment).trim().to_string());
                    current.text.push(' ');
                }
                depth -= 1;
            }
            _ if byte == separator && depth == 0 && !quoted => {
                copy_run(index, run_start, depth, &mut current.text, &mut comment);
                run_start = index + 1;
                segments.push(std::mem::take(&mut current));
            }
            _ => {}
        }
    }
    copy_run(value.len(), run_start, depth, &mut current.text, &mut comment);
    if !comment.is_empty() {
        current.comments.push(comment.trim().to_string());
    }
    segments.push(current);
    segments.retain(|segment| !segment.text.trim().is_empty());
    segments
}

/// Parses the results of one segment. A segment normally has one
/// `method=result`; Office 365 sometimes omits the `;` before the next one,
/// so every token whose key is a known method starts a new result.
fn parse_results(segment: &Segment) -> Vec<AuthMethodResult> {
    let mut results: Vec<AuthMethodResult> = Vec::new();
    for token in tokens(&segment.text) {
        let Some((key, value)) = token.split_once('=') else {
            continue;
        };
        let key_lower = key.to_ascii_lowercase();
        let method = key_lower.split('/').next().unwrap_or_default().to_string();
        let value = value.trim_matches('"').to_string();
        if METHODS.contains(&method.as_str()) && !key_lower.contains('.') {
            results.push(AuthMethodResult {
                method,
                result: value.to_ascii_lowercase(),
                reason: None,
                properties: BTreeMap::new(),
            });
        } else if let Some(result) = results.last_mut() {
            if key_lower == "reason" {
                result.reason = Some(value);
            } else {
                result.properties.insert(key_lower, value);
            }
        }
    }
    if let (Some(first), Some(comment)) = (results.first_mut(), segment.comments.first())
        && first.reason.is_none()
        && !comment.is_empty()
    {
        first.reason = Some(comment.clone());
    }
    results
}

/// Splits on white space outside quoted strings.
fn tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for character in text.chars() {
        match character {
            '"' => {
                quoted = !quoted;
                current.push(character);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// `i=1; rest` of an ARC header.
fn split_instance(value: &str) -> (Option<u32>, &str) {
    let trimmed = value.trim_start();
    if let Some(rest) = trimmed.strip_prefix("i=")
        && let Some((instance, rest)) = rest.split_once(';')
    {
        return (instance.trim().parse().ok(), rest);
    }
    (None, value)
}

/// Parses a `tag=value; tag=value` list (DKIM and ARC headers).
fn parse_tags(value: &str) -> BTreeMap<String, String> {
    value
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(tag, value)| (tag.trim().to_ascii_lowercase(), value.split_whitespace().collect::<String>()))
        .collect()
}

/// Parses `Received-SPF: Pass (host: reason) client-ip=...; envelope-from=...`.
fn parse_received_spf(value: &str) -> (Option<String>, AuthMethodResult) {
    let segments = split_outside_comments(value, b';');
    let mut properties = BTreeMap::new();
    let mut result = String::new();
    let mut reason = None;
    for (index, segment) in segments.iter().enumerate() {
        for token in tokens(&segment.text) {
            match token.split_once('=') {
                Some((key, value)) => {
                    properties.insert(key.to_ascii_lowercase(), value.trim_matches('"').to_string());
                }
                None if index == 0 && result.is_empty() => result = token.to_ascii_lowercase(),
                None => {}
            }
        }
        if index == 0 {
            reason = segment.comments.first().cloned();
        }
    }
    // The comment usually starts with the checking host: "(mx.example.com: ...)".
    let authserv_id = properties.get("receiver").cloned().or_else(|| {
        reason
            .as_deref()
            .and_then(|comment| comment.split_once(':'))
            .map(|(host, _)| host.trim().to_string())
            .filter(|host| !host.contains(' '))
    });
    if let Some(domain) = properties.get("envelope-from").cloned() {
        properties.insert("smtp.mailfrom".to_string(), domain.trim_matches(['<', '>']).to_string());
    }
    (authserv_id, AuthMethodResult { method: "spf".to_string(), result, reason, properties })
}

/// Summarises results, the topmost header first.
fn summarize<'h>(headers: impl Iterator<Item = &'h AuthResultsHeader>) -> AuthSummary {
    let mut summary = AuthSummary::default();
    for header in headers {
        for result in &header.results {
            match result.method.as_str() {
                "spf" if summary.spf.is_none() => {
                    summary.spf = Some(result.result.clone());
                    summary.spf_domain = result
                        .properties
                        .get("smtp.mailfrom")
                        .or_else(|| result.properties.get("smtp.helo"))
                        .map(|value| domain_of(value));
                }
                "dkim" => {
                    let header_domain = result.properties.get("header.d").or_else(|| result.properties.get("header.i"));
                    if result.result == "pass"
                        && let Some(domain) = header_domain.map(|value| domain_of(value))
                        && !summary.dkim_pass_domains.contains(&domain)
                    {
                        summary.dkim_pass_domains.push(domain);
                    }
                    summary.dkim = match summary.dkim.take() {
                        Some(previous) if previous == "pass" => Some(previous),
                        _ if result.result == "pass" => Some(result.result.clone()),
                        Some(previous) => Some(previous),
                        None => Some(result.result.clone()),
                    };
                }
                "dmarc" if summary.dmarc.is_none() => {
                    summary.dmarc = Some(result.result.clone());
                    summary.dmarc_domain = result.properties.get("header.from").map(|value| domain_of(value));
                }
                "arc" if summary.arc.is_none() => summary.arc = Some(result.result.clone()),
                "compauth" if summary.compauth.is_none() => {
                    summary.compauth = Some(result.result.clone());
                    summary.compauth_reason = result.reason.clone();
                }
                _ => {}
            }
        }
    }
    summary
}

/// The domain of `user@domain`, `@domain` or `domain`, lowercase.
fn domain_of(value: &str) -> String {
    value.rsplit('@').next().unwrap_or(value).trim_matches(['<', '>', '.']).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits one character at a time, as a reference for the copy of
    /// whole runs in [`split_outside_comments`].
    fn reference_split(value: &str, separator: char) -> Vec<(String, Vec<String>)> {
        let mut segments = Vec::new();
        let mut current = Segment::default();
        let mut depth = 0usize;
        let mut comment = String::new();
        let mut quoted = false;
        let mut escaped = false;
        for character in value.chars() {
            if escaped {
                if depth > 0 {
                    comment.push(character)
                } else {
                    current.text.push(character)
                }
                escaped = false;
                continue;
            }
            match character {
                '\\' => escaped = true,
                '"' if depth == 0 => {
                    quoted = !quoted;
                    current.text.push(character);
                }
                '(' if !quoted => {
                    if depth > 0 {
                        comment.push(character);
                    }
                    depth += 1;
                }
                ')' if !quoted && depth > 0 => {
                    depth -= 1;
                    if depth == 0 {
                        current.comments.push(std::mem::take(&mut comment).trim().to_string());
                        current.text.push(' ');
                    } else {
                        comment.push(character);
                    }
                }
                c if c == separator && depth == 0 && !quoted => segments.push(std::mem::take(&mut current)),
                c if depth > 0 => comment.push(c),
                c => current.text.push(c),
            }
        }
        if !comment.is_empty() {
            current.comments.push(comment.trim().to_string());
        }
        segments.push(current);
        segments.retain(|segment| !segment.text.trim().is_empty());
        segments.into_iter().map(|segment| (segment.text, segment.comments)).collect()
    }

    #[test]
    fn split_matches_reference() {
        let mut values: Vec<String> = [
            "",
            "mx.example.net; spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=a.example",
            "a; dkim=fail (bad (nested) sig\\) here) header.d=x",
            "x \"quoted; (not a comment)\" y; z",
            "open (comment; never closed",
            "escaped \\; separator; and \\\\ backslash\\",
            "unicode (é; ü) ñ;ß\\é",
        ]
        .iter()
        .map(|value| value.to_string())
        .collect();
        let alphabet = ['\\', '"', '(', ')', ';', ' ', 'a', 'é', '\u{1F600}'];
        let mut next = crate::test_sequence(0x5851_f42d_4c95_7f2d_u64);
        for _ in 0..3_000 {
            let length = next() % 20;
            values.push((0..length).map(|_| alphabet[next() % alphabet.len()]).collect());
        }
        for value in values {
            let split: Vec<(String, Vec<String>)> = split_outside_comments(&value, b';')
                .into_iter()
                .map(|segment| (segment.text, segment.comments))
                .collect();
            assert_eq!(split, reference_split(&value, ';'), "{value:?}");
        }
    }

    fn methods(value: &str) -> (Option<String>, Vec<(String, String)>) {
        let (id, results) = parse_authentication_results(value);
        (id, results.into_iter().map(|result| (result.method, result.result)).collect())
    }

    #[test]
    fn standard_header() {
        let (id, results) = methods(
            "mx.corp-example.com; spf=pass smtp.mailfrom=sender.example; dkim=pass header.d=sender.example header.s=s1; dmarc=pass (p=reject) header.from=sender.example",
        );
        assert_eq!(id.as_deref(), Some("mx.corp-example.com"));
        assert_eq!(
            results,
            vec![("spf".into(), "pass".into()), ("dkim".into(), "pass".into()), ("dmarc".into(), "pass".into())]
        );
    }

    #[test]
    fn office_365_header_without_authserv_id() {
        let value = "spf=pass (sender IP is 198.51.100.7) smtp.mailfrom=sender.example; dkim=none (message not signed) header.d=none;dmarc=bestguesspass action=none header.from=sender.example;compauth=pass reason=109";
        let (id, results) = parse_authentication_results(value);
        assert_eq!(id, None);
        let names: Vec<&str> = results.iter().map(|result| result.method.as_str()).collect();
        assert_eq!(names, vec!["spf", "dkim", "dmarc", "compauth"]);
        assert_eq!(results[0].reason.as_deref(), Some("sender IP is 198.51.100.7"));
        assert_eq!(results[0].properties.get("smtp.mailfrom").map(String::as_str), Some("sender.example"));
        assert_eq!(results[2].result, "bestguesspass");
        assert_eq!(results[3].reason.as_deref(), Some("109"));
    }

    #[test]
    fn missing_semicolons_and_versions() {
        let (id, results) =
            methods("mx.example.net 1; dkim/1=fail header.d=a.example spf=softfail smtp.mailfrom=b.example");
        assert_eq!(id.as_deref(), Some("mx.example.net"));
        assert_eq!(results, vec![("dkim".into(), "fail".into()), ("spf".into(), "softfail".into())]);
    }

    #[test]
    fn none_result_and_garbage() {
        assert_eq!(methods("mx.example.net; none").1, Vec::new());
        assert_eq!(methods("").1, Vec::new());
        assert_eq!(methods(";;;((((").1, Vec::new());
    }

    #[test]
    fn received_spf() {
        let (id, result) = parse_received_spf(
            "Pass (protection.outlook.com: domain of sender.example designates 198.51.100.7 as permitted sender) receiver=protection.outlook.com; client-ip=198.51.100.7; helo=mail.sender.example;",
        );
        assert_eq!(id.as_deref(), Some("protection.outlook.com"));
        assert_eq!(result.result, "pass");
        assert_eq!(result.properties.get("client-ip").map(String::as_str), Some("198.51.100.7"));
    }
}
