//! The decision and the indicators of a case as the case page shows them,
//! read leniently from the stored JSON: a field that is missing or of
//! another type is left out, never an error. URLs, domains and addresses
//! are defanged, because they come from the attacker.

use phishloop_coaching::{defang_address, defang_domain, defang_text, defang_url};
use serde::Serialize;
use serde_json::Value;

/// At most this many URLs, domains and other indicators are listed each.
const MAX_LISTED: usize = 100;

/// The decision with its evidence.
#[derive(Debug, Serialize)]
pub(crate) struct DecisionView {
    verdict: String,
    category: String,
    confidence: String,
    score: String,
    needs_review: bool,
    review_reasons: Vec<String>,
    model: Option<String>,
    evidence: Vec<EvidenceView>,
}

#[derive(Debug, Serialize)]
struct EvidenceView {
    source: String,
    id: String,
    description: String,
    category: String,
    weight: String,
    locations: Vec<String>,
}

fn text(value: &Value, key: &str) -> String {
    value.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn percent(value: &Value, key: &str) -> String {
    value.get(key).and_then(Value::as_f64).map(|number| format!("{:.0} %", number * 100.0)).unwrap_or_default()
}

fn list<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value.get(key).and_then(Value::as_array).into_iter().flatten().take(MAX_LISTED)
}

pub(crate) fn decision_view(decision: &Value) -> DecisionView {
    DecisionView {
        verdict: text(decision, "verdict"),
        category: text(decision, "category"),
        confidence: percent(decision, "confidence"),
        score: decision.get("score").and_then(Value::as_f64).map(|score| format!("{score:.2}")).unwrap_or_default(),
        needs_review: decision.get("needs_review").and_then(Value::as_bool).unwrap_or(false),
        review_reasons: list(decision, "review_reasons").filter_map(Value::as_str).map(defang_text).collect(),
        model: decision.get("model").filter(|model| !model.is_null()).map(|model| {
            format!(
                "{}: phish {}, spam {}, ham {}",
                text(model, "name"),
                percent(model, "phish"),
                percent(model, "spam"),
                percent(model, "ham")
            )
        }),
        evidence: list(decision, "evidence")
            .map(|item| EvidenceView {
                source: text(item, "source"),
                id: text(item, "id"),
                description: defang_text(&text(item, "description")),
                category: text(item, "category"),
                weight: item.get("weight").and_then(Value::as_f64).map(|w| format!("{w:.2}")).unwrap_or_default(),
                locations: list(item, "locations").filter_map(Value::as_str).map(defang_text).collect(),
            })
            .collect(),
    }
}

/// The indicators of the analysed original.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Indicators {
    /// Set when the stored analysis is only a summary, for its size.
    truncated: bool,
    senders: Vec<(String, String)>,
    sender_signals: Vec<String>,
    authentication: Vec<(String, String)>,
    urls: Vec<UrlView>,
    domains: Vec<(String, String)>,
    attachments: Vec<AttachmentView>,
    phone_numbers: Vec<String>,
    cues: Vec<(String, String)>,
    secrets: Vec<String>,
}

#[derive(Debug, Serialize)]
struct UrlView {
    url: String,
    /// The target after unwrapping redirectors, when it differs.
    effective: Option<String>,
    domain: String,
    flags: Vec<String>,
}

#[derive(Debug, Serialize)]
struct AttachmentView {
    name: String,
    kind: String,
    size: String,
    sha256: String,
    flags: Vec<String>,
}

/// Sender signals worth a line when true.
const SENDER_FLAGS: [(&str, &str); 9] = [
    ("multiple_from", "several From addresses"),
    ("from_malformed", "malformed From address"),
    ("from_free_mail", "From a free mail provider"),
    ("reply_to_differs", "Reply-To differs from From"),
    ("reply_to_free_mail", "Reply-To at a free mail provider"),
    ("return_path_differs", "Return-Path differs from From"),
    ("sender_differs", "Sender differs from From"),
    ("display_name_address_differs", "display name shows another address"),
    ("from_internal", "From an internal domain"),
];

const URL_FLAGS: [(&str, &str); 5] = [
    ("shortener", "shortener"),
    ("free_hosting", "free hosting"),
    ("host_is_ip", "IP address host"),
    ("has_credentials", "credentials in URL"),
    ("deceptive", "link text shows another target"),
];

const ATTACHMENT_FLAGS: [(&str, &str); 8] = [
    ("executable", "executable"),
    ("macros", "macros"),
    ("active_content", "active content"),
    ("encrypted", "encrypted"),
    ("double_extension", "double extension"),
    ("extension_mismatch", "extension does not match type"),
    ("credential_form", "credential form"),
    ("bidi_control", "right-to-left override in name"),
];

fn flags(value: &Value, names: &[(&str, &str)]) -> Vec<String> {
    names
        .iter()
        .filter(|(key, _)| value.get(*key).is_some_and(|flag| flag.as_bool() == Some(true) || flag.is_object()))
        .map(|(_, label)| (*label).to_owned())
        .collect()
}

fn addresses(value: Option<&Value>) -> Vec<String> {
    let mailboxes: Vec<&Value> = match value {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(item @ Value::Object(_)) => vec![item],
        _ => Vec::new(),
    };
    mailboxes
        .into_iter()
        .filter_map(|mailbox| {
            let address = mailbox.get("address").and_then(Value::as_str).map(defang_address);
            let name = mailbox.get("name").and_then(Value::as_str).map(defang_text);
            match (name, address) {
                (Some(name), Some(address)) => Some(format!("{name} <{address}>")),
                (None, Some(address)) => Some(address),
                (Some(name), None) => Some(name),
                (None, None) => None,
            }
        })
        .collect()
}

impl Indicators {
    /// Reads the indicators from a stored analysis record.
    pub(crate) fn from_analysis(analysis: &Value) -> Self {
        let Some(message) = analysis.get("message").filter(|message| message.is_object()) else {
            return Self::default();
        };
        let mut indicators =
            Self { truncated: analysis.get("truncated").and_then(Value::as_bool).unwrap_or(false), ..Self::default() };
        let headers = message.get("headers").unwrap_or(message);
        for (label, key) in
            [("From", "from"), ("Reply-To", "reply_to"), ("Return-Path", "return_path"), ("Sender", "sender")]
        {
            for address in addresses(headers.get(key)) {
                indicators.senders.push((label.to_owned(), address));
            }
        }
        if let Some(sender) = message.get("sender") {
            indicators.sender_signals = flags(sender, &SENDER_FLAGS);
            for (key, label) in [("display_name_brand", "display name names brand"), ("from_brand", "From names brand")]
            {
                if let Some(brand) = sender.get(key).and_then(Value::as_str) {
                    indicators.sender_signals.push(format!("{label} {}", defang_text(brand)));
                }
            }
            for lookalike in list(sender, "from_lookalikes") {
                indicators.sender_signals.push(lookalike_text(lookalike));
            }
        }
        indicators.authentication = authentication(message);
        indicators.urls = list(message, "urls").map(url_view).collect();
        indicators.domains = list(message, "domains")
            .map(|domain| {
                let roles: Vec<&str> = list(domain, "roles").filter_map(Value::as_str).collect();
                (defang_domain(&text(domain, "domain")), roles.join(", "))
            })
            .collect();
        indicators.attachments = list(message, "attachments").map(attachment_view).collect();
        indicators.phone_numbers = list(message, "phone_numbers")
            .filter_map(|phone| phone.get("number").or_else(|| phone.get("raw")).and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        let mut cues: Vec<(String, String)> =
            list(message, "cues").map(|cue| (text(cue, "kind"), defang_text(&text(cue, "matched")))).collect();
        cues.sort();
        cues.dedup();
        indicators.cues = cues;
        indicators.secrets = list(message, "secrets")
            .map(|secret| format!("{} {}", text(secret, "kind"), text(secret, "redacted")).trim().to_owned())
            .collect();
        indicators
    }
}

/// The authentication results from above the organisation's boundary.
fn authentication(message: &Value) -> Vec<(String, String)> {
    let Some(trusted) = message.get("authentication").and_then(|auth| auth.get("trusted")) else {
        return Vec::new();
    };
    let mut results = Vec::new();
    for (method, domain_key) in
        [("spf", "spf_domain"), ("dkim", ""), ("dmarc", "dmarc_domain"), ("compauth", ""), ("arc", "")]
    {
        let Some(result) = trusted.get(method).and_then(Value::as_str) else {
            continue;
        };
        let domain = trusted.get(domain_key).and_then(Value::as_str).map(|d| format!(" ({})", defang_domain(d)));
        results.push((method.to_uppercase(), format!("{result}{}", domain.unwrap_or_default())));
    }
    results
}

fn url_view(url: &Value) -> UrlView {
    let shown = text(url, "url");
    let effective = text(url, "effective");
    let mut url_flags = flags(url, &URL_FLAGS);
    if let Some(brand) = url.get("brand").and_then(Value::as_str) {
        url_flags.push(format!("brand {}", defang_text(brand)));
    }
    if url.get("lookalikes").and_then(Value::as_array).is_some_and(|items| !items.is_empty()) {
        url_flags.push("lookalike domain".to_owned());
    }
    if url.get("embedded_recipient").is_some_and(|value| !value.is_null()) {
        url_flags.push("recipient address in URL".to_owned());
    }
    UrlView {
        effective: (!effective.is_empty() && effective != shown).then(|| defang_url(&effective)),
        url: defang_url(&shown),
        domain: defang_domain(&text(url, "registrable_domain")),
        flags: url_flags,
    }
}

fn attachment_view(attachment: &Value) -> AttachmentView {
    let size = attachment.get("size").and_then(Value::as_u64).map(|bytes| format!("{bytes} bytes")).unwrap_or_default();
    let mut attachment_flags = attachment.get("flags").map(|value| flags(value, &ATTACHMENT_FLAGS)).unwrap_or_default();
    if attachment
        .get("flags")
        .and_then(|value| value.get("html_smuggling"))
        .and_then(Value::as_array)
        .is_some_and(|items| !items.is_empty())
    {
        attachment_flags.push("HTML smuggling".to_owned());
    }
    AttachmentView {
        name: defang_text(&text(attachment, "filename")),
        kind: text(attachment, "detected_type"),
        size,
        sha256: text(attachment, "sha256"),
        flags: attachment_flags,
    }
}

/// Describes a lookalike match in words: `lookalike of the organisation's
/// domain corp[.]test (typo, distance 1)` or `lookalike of PayPal's
/// domain paypal[.]com (confusable)`.
fn lookalike_text(lookalike: &Value) -> String {
    let text = |key: &str| lookalike.get(key).and_then(Value::as_str);
    let target = text("target").map(defang_text).unwrap_or_else(|| "an unnamed domain".to_owned());
    let owner = match (text("kind"), text("brand")) {
        (Some("organization"), _) => "the organisation's domain".to_owned(),
        (_, Some(brand)) => format!("{}'s domain", defang_text(brand)),
        _ => "the domain".to_owned(),
    };
    let mut how = text("technique").map(|technique| technique.replace('_', " ")).unwrap_or_default();
    if let Some(distance) = lookalike.get("distance").and_then(Value::as_u64) {
        how = format!("{how}, distance {distance}");
    }
    if how.is_empty() {
        format!("lookalike of {owner} {target}")
    } else {
        format!("lookalike of {owner} {target} ({how})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookalike_written_in_words() {
        let organisation =
            json!({ "target": "corp.test", "brand": null, "kind": "organization", "technique": "typo", "distance": 1 });
        let brand = json!({ "target": "paypal.com", "brand": "PayPal", "kind": "brand", "technique": "confusable" });

        assert_eq!(
            lookalike_text(&organisation),
            "lookalike of the organisation's domain corp[.]test (typo, distance 1)"
        );
        assert_eq!(lookalike_text(&brand), "lookalike of PayPal's domain paypal[.]com (confusable)");
    }

    #[test]
    fn urls_defanged_with_flags() {
        let analysis = json!({ "message": { "urls": [{
            "url": "https://bit.test/x", "effective": "https://login.lure.test/a", "registrable_domain": "lure.test",
            "shortener": true, "lookalikes": [{}]
        }] } });

        let indicators = Indicators::from_analysis(&analysis);

        assert_eq!(indicators.urls[0].url, "hxxps://bit[.]test/x");
        assert_eq!(indicators.urls[0].effective.as_deref(), Some("hxxps://login[.]lure[.]test/a"));
        assert_eq!(indicators.urls[0].flags, vec!["shortener".to_owned(), "lookalike domain".to_owned()]);
    }

    #[test]
    fn senders_read_from_headers() {
        let analysis = json!({ "message": { "headers": {
            "from": [{ "name": "IT Desk", "address": "it@lure.test" }],
            "return_path": { "address": "bounce@lure.test" }
        }, "sender": { "reply_to_differs": true } } });

        let indicators = Indicators::from_analysis(&analysis);

        assert_eq!(indicators.senders[0], ("From".to_owned(), "IT Desk <it@lure[.]test>".to_owned()));
        assert_eq!(indicators.senders[1], ("Return-Path".to_owned(), "bounce@lure[.]test".to_owned()));
        assert_eq!(indicators.sender_signals, vec!["Reply-To differs from From".to_owned()]);
    }

    #[test]
    fn missing_fields_left_out() {
        let indicators = Indicators::from_analysis(&json!({ "message": { "urls": "not a list" } }));

        assert!(indicators.urls.is_empty());
        assert!(indicators.senders.is_empty());
    }

    #[test]
    fn decision_read_leniently() {
        let view = decision_view(
            &json!({ "verdict": "malicious", "confidence": 0.93, "evidence": [{ "id": "r1", "weight": 0.5 }] }),
        );

        assert_eq!(view.verdict, "malicious");
        assert_eq!(view.confidence, "93 %");
        assert_eq!(view.evidence[0].id, "r1");
        assert_eq!(view.evidence[0].weight, "0.50");
    }
}
