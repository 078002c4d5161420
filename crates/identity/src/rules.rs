//! Flags inbox rules and forwarding that look like an attacker's work.
//!
//! Attackers who take over a mailbox commonly add rules that forward mail
//! out of the organisation, or that delete or hide replies about invoices,
//! payments and security warnings so the owner does not notice. The input
//! is the Microsoft Graph `messageRule` JSON shape; rules from other
//! sources can be converted into it.
//!
//! A rule is attacker-like when it has at least one behaviour reason
//! ([`RuleReason::is_behaviour`]). Context reasons (created after the phish
//! arrived, a meaningless name) are reported but never enough alone,
//! because people create ordinary rules all the time.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Words in rule conditions that point at finance or security mail.
/// Matching is case-insensitive and on substrings, so `invoice` also
/// matches `invoices`.
pub const DEFAULT_KEYWORDS: [&str; 18] = [
    "invoice",
    "payment",
    "wire",
    "transfer",
    "bank",
    "remittance",
    "payroll",
    "password",
    "security",
    "phish",
    "suspicious",
    "hacked",
    "compromise",
    "fraud",
    "verify",
    "mfa",
    "helpdesk",
    "it support",
];

/// Folders where mail is seldom read, matched on the display name or the
/// well-known folder name, case-insensitively.
pub const DEFAULT_OBSCURE_FOLDERS: [&str; 6] =
    ["rss feeds", "rss subscriptions", "conversation history", "archive", "junk email", "notes"];

/// A Microsoft Graph `messageRule`, with the fields this check reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageRule {
    pub id: String,
    pub display_name: String,
    pub sequence: Option<i64>,
    pub is_enabled: Option<bool>,
    pub conditions: Option<RulePredicates>,
    pub actions: Option<RuleActions>,
    /// Not part of Graph's `messageRule`: a creation time from another
    /// source (the unified audit log's `New-InboxRule`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<DateTime<Utc>>,
}

/// The condition fields of a `messageRulePredicates` that carry words.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RulePredicates {
    pub subject_contains: Vec<String>,
    pub body_contains: Vec<String>,
    pub body_or_subject_contains: Vec<String>,
    pub sender_contains: Vec<String>,
    pub header_contains: Vec<String>,
    pub recipient_contains: Vec<String>,
    /// Every other predicate, kept so that a rule with conditions is not
    /// taken for one that matches all mail.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A `messageRuleActions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RuleActions {
    pub forward_to: Vec<Recipient>,
    pub forward_as_attachment_to: Vec<Recipient>,
    pub redirect_to: Vec<Recipient>,
    pub delete: Option<bool>,
    pub permanent_delete: Option<bool>,
    pub move_to_folder: Option<String>,
    pub copy_to_folder: Option<String>,
    pub mark_as_read: Option<bool>,
    pub stop_processing_rules: Option<bool>,
}

/// A Graph `recipient`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Recipient {
    pub email_address: EmailAddress,
}

/// A Graph `emailAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmailAddress {
    pub address: String,
    pub name: Option<String>,
}

/// A reason a rule looks like an attacker's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum RuleReason {
    /// Forwards or redirects mail to addresses outside the internal domains.
    ForwardsExternally { addresses: Vec<String> },
    /// Deletes mail that matches finance or security words.
    DeletesOnKeywords { keywords: Vec<String> },
    /// Moves mail that matches finance or security words.
    MovesOnKeywords { keywords: Vec<String>, folder: String },
    /// Marks mail as read and moves it to a folder people seldom open.
    HidesInObscureFolder { folder: String },
    /// Deletes every message: the rule has no conditions.
    DeletesAllMail,
    /// Context: the rule was created after the phish arrived.
    CreatedAfterPhish { created: DateTime<Utc>, arrived: DateTime<Utc> },
    /// Context: the name is empty or punctuation only (such as `.`).
    MeaninglessName,
}

impl RuleReason {
    /// True for reasons that describe what the rule does to mail.
    pub fn is_behaviour(&self) -> bool {
        !matches!(self, RuleReason::CreatedAfterPhish { .. } | RuleReason::MeaninglessName)
    }
}

/// The settings of the check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleCheck {
    /// Domains that count as internal, lowercase; their subdomains too.
    pub internal_domains: Vec<String>,
    /// Finance and security words, see [`DEFAULT_KEYWORDS`].
    pub keywords: Vec<String>,
    /// Seldom-read folders, see [`DEFAULT_OBSCURE_FOLDERS`].
    pub obscure_folders: Vec<String>,
    /// When the phish arrived; rules created later get a context reason.
    pub phish_arrived_at: Option<DateTime<Utc>>,
}

impl Default for RuleCheck {
    fn default() -> Self {
        RuleCheck {
            internal_domains: Vec::new(),
            keywords: DEFAULT_KEYWORDS.iter().map(|k| k.to_string()).collect(),
            obscure_folders: DEFAULT_OBSCURE_FOLDERS.iter().map(|f| f.to_string()).collect(),
            phish_arrived_at: None,
        }
    }
}

/// A rule with the reasons found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlaggedRule {
    pub id: String,
    pub display_name: String,
    pub reasons: Vec<RuleReason>,
    /// True when at least one reason is a behaviour reason; only these
    /// rules are removed.
    pub attacker_like: bool,
}

impl RuleCheck {
    /// Checks every rule. `folder_names` maps folder ids (as in
    /// `moveToFolder`) to display names. An id without a name is matched
    /// as it is, which covers well-known names such as `archive`.
    pub fn flag_rules(&self, rules: &[MessageRule], folder_names: &BTreeMap<String, String>) -> Vec<FlaggedRule> {
        rules.iter().map(|rule| self.flag_rule(rule, folder_names)).collect()
    }

    /// Checks one rule.
    pub fn flag_rule(&self, rule: &MessageRule, folder_names: &BTreeMap<String, String>) -> FlaggedRule {
        let actions = rule.actions.clone().unwrap_or_default();
        let conditions = rule.conditions.clone().unwrap_or_default();
        let keywords = self.matched_keywords(&conditions);
        let mut reasons = Vec::new();

        let external = self.external_recipients(&actions);
        if !external.is_empty() {
            reasons.push(RuleReason::ForwardsExternally { addresses: external });
        }
        let deletes = actions.delete == Some(true) || actions.permanent_delete == Some(true);
        if deletes && !keywords.is_empty() {
            reasons.push(RuleReason::DeletesOnKeywords { keywords: keywords.clone() });
        }
        if deletes && has_no_conditions(&conditions) {
            reasons.push(RuleReason::DeletesAllMail);
        }
        if let Some(folder_id) = actions.move_to_folder.as_deref() {
            let folder = folder_names.get(folder_id).map(String::as_str).unwrap_or(folder_id).to_string();
            if !keywords.is_empty() {
                reasons.push(RuleReason::MovesOnKeywords { keywords: keywords.clone(), folder: folder.clone() });
            }
            if actions.mark_as_read == Some(true) && self.is_obscure(&folder) {
                reasons.push(RuleReason::HidesInObscureFolder { folder });
            }
        }
        if let (Some(created), Some(arrived)) = (rule.created_date_time, self.phish_arrived_at)
            && created > arrived
        {
            reasons.push(RuleReason::CreatedAfterPhish { created, arrived });
        }
        if !rule.display_name.chars().any(char::is_alphanumeric) {
            reasons.push(RuleReason::MeaninglessName);
        }

        let attacker_like = reasons.iter().any(RuleReason::is_behaviour);
        FlaggedRule { id: rule.id.clone(), display_name: rule.display_name.clone(), reasons, attacker_like }
    }

    /// Checks a mailbox-level forwarding address (Exchange's
    /// `ForwardingSmtpAddress`, Gmail's auto-forwarding); returns the
    /// reason when it leaves the organisation.
    pub fn flag_forwarding(&self, address: &str) -> Option<RuleReason> {
        let address = address.trim().trim_start_matches("smtp:").trim_start_matches("SMTP:");
        (!address.is_empty() && !self.is_internal(address))
            .then(|| RuleReason::ForwardsExternally { addresses: vec![address.to_lowercase()] })
    }

    fn external_recipients(&self, actions: &RuleActions) -> Vec<String> {
        let all = actions.forward_to.iter().chain(&actions.forward_as_attachment_to).chain(&actions.redirect_to);
        let external: BTreeSet<String> = all
            .map(|r| r.email_address.address.trim().to_lowercase())
            .filter(|address| !address.is_empty() && !self.is_internal(address))
            .collect();
        external.into_iter().collect()
    }

    /// True when the address's domain is an internal domain or below one.
    /// With no internal domains configured, every address is external.
    fn is_internal(&self, address: &str) -> bool {
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or(address).to_lowercase();
        self.internal_domains.iter().any(|internal| {
            let internal = internal.trim().trim_start_matches('@').to_lowercase();
            domain == internal || domain.ends_with(&format!(".{internal}"))
        })
    }

    fn matched_keywords(&self, conditions: &RulePredicates) -> Vec<String> {
        let words: Vec<String> = conditions
            .subject_contains
            .iter()
            .chain(&conditions.body_contains)
            .chain(&conditions.body_or_subject_contains)
            .chain(&conditions.sender_contains)
            .chain(&conditions.header_contains)
            .chain(&conditions.recipient_contains)
            .map(|w| w.to_lowercase())
            .collect();
        let matched: BTreeSet<String> = self
            .keywords
            .iter()
            .map(|k| k.to_lowercase())
            .filter(|keyword| words.iter().any(|word| word.contains(keyword.as_str())))
            .collect();
        matched.into_iter().collect()
    }

    fn is_obscure(&self, folder: &str) -> bool {
        let folder = folder.trim().to_lowercase();
        let compact: String = folder.chars().filter(|c| !c.is_whitespace()).collect();
        self.obscure_folders.iter().any(|name| {
            let name = name.to_lowercase();
            folder == name || compact == name.chars().filter(|c| !c.is_whitespace()).collect::<String>()
        })
    }
}

fn has_no_conditions(conditions: &RulePredicates) -> bool {
    conditions.subject_contains.is_empty()
        && conditions.body_contains.is_empty()
        && conditions.body_or_subject_contains.is_empty()
        && conditions.sender_contains.is_empty()
        && conditions.header_contains.is_empty()
        && conditions.recipient_contains.is_empty()
        && conditions
            .other
            .values()
            .all(|v| v.is_null() || v == &serde_json::Value::Bool(false) || v.as_array().is_some_and(Vec::is_empty))
}
