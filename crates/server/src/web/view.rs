//! Small helpers the pages share: escaping, times, names of verdicts and
//! categories, and the context every page template gets.

use chrono::{DateTime, Utc};
use phishloop_model::{Category, Verdict};
use serde::Serialize;

use super::Signed;
use super::roles::Permission;

/// Every verdict, in the order the forms list them.
pub(crate) const VERDICTS: [Verdict; 5] =
    [Verdict::Malicious, Verdict::Suspicious, Verdict::Spam, Verdict::Benign, Verdict::Simulation];

/// Every lure category, in the order the forms list them.
pub(crate) const CATEGORIES: [Category; 12] = [
    Category::CredentialHarvesting,
    Category::MalwareDelivery,
    Category::PaymentFraud,
    Category::CallbackScam,
    Category::Extortion,
    Category::AdvanceFee,
    Category::OauthConsent,
    Category::DeveloperCredential,
    Category::QrPhishing,
    Category::Spoofing,
    Category::Marketing,
    Category::None,
];

/// Returns the snake_case name a verdict or category has in JSON.
pub(crate) fn json_name(value: impl Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default()
}

pub(crate) fn verdict_names() -> Vec<String> {
    VERDICTS.iter().map(json_name).collect()
}

pub(crate) fn category_names() -> Vec<String> {
    CATEGORIES.iter().map(json_name).collect()
}

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape_text(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// Writes a time as `2026-12-05 14:03 UTC`.
pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Writes a time with seconds, for timelines.
pub(crate) fn time_seconds(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Writes a duration in seconds in the largest fitting unit, such as `4.2 s`, `12 min` or `3.5 h`.
pub(crate) fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else if seconds < 3600.0 {
        format!("{:.0} min", seconds / 60.0)
    } else if seconds < 86_400.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else {
        format!("{:.1} d", seconds / 86_400.0)
    }
}

/// What the navigation of every page needs: who is signed in, which
/// sections the role may open, and the CSRF token of the sign-out form.
#[derive(Debug, Serialize)]
pub(crate) struct PageUser {
    name: String,
    role: String,
    csrf: String,
    can_read_cases: bool,
    can_read_outbox: bool,
}

impl PageUser {
    pub(crate) fn of(signed: &Signed) -> Self {
        Self {
            name: signed.user.name.clone(),
            role: signed.user.role.as_str().to_owned(),
            csrf: signed.csrf.clone(),
            can_read_cases: Permission::ReadCases.allowed(signed.user.role),
            can_read_outbox: Permission::ReadOutbox.allowed(signed.user.role),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_quotes_and_tags() {
        assert_eq!(escape_text("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn names_match_json() {
        assert_eq!(json_name(Verdict::Malicious), "malicious");
        assert_eq!(json_name(Category::CredentialHarvesting), "credential_harvesting");
        assert_eq!(verdict_names().len(), 5);
    }

    #[test]
    fn durations_pick_unit() {
        assert_eq!(duration(4.24), "4.2 s");
        assert_eq!(duration(720.0), "12 min");
        assert_eq!(duration(12_600.0), "3.5 h");
    }
}
