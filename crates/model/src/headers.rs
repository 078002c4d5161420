use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::url::{ConfusableWord, LookalikeMatch};

/// Identity and routing headers of a message, decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Headers {
    /// From mailboxes; normally one.
    pub from: Vec<Mailbox>,
    pub sender: Option<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    /// Return-Path (envelope sender) as the final MTA recorded it.
    pub return_path: Option<Mailbox>,
    pub to: Recipients,
    pub cc: Recipients,
    pub bcc: Recipients,
    /// Delivered-To and X-Original-To addresses (the mailbox that received
    /// this copy), lowercase.
    pub delivered_to: Vec<String>,
    pub subject: Option<String>,
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub date: Option<DateInfo>,
    /// X-Mailer or User-Agent.
    pub user_agent: Option<String>,
    /// True when a List-Unsubscribe header is present.
    pub list_unsubscribe: bool,
    /// List-Id, if any.
    pub list_id: Option<String>,
    /// Auto-Submitted header value, if any.
    pub auto_submitted: Option<String>,
    /// Every header field of the message in order, names as written and
    /// values unfolded and decoded. At most 500 fields; each value at most
    /// 4,096 characters.
    pub fields: Vec<HeaderField>,
    /// The distinct names of all header fields, lowercase, in order of first
    /// appearance. At most 500.
    pub names: Vec<String>,
}

/// One header field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderField {
    pub name: String,
    pub value: String,
}

/// A Date header as written and as understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DateInfo {
    pub raw: String,
    /// RFC 3339 form, when the header could be parsed.
    pub parsed: Option<String>,
}

/// One mailbox of an address header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mailbox {
    /// Display name, decoded (RFC 2047), if any.
    pub name: Option<String>,
    /// The address as written, with the domain in lowercase.
    pub address: Option<String>,
    /// Domain of the address in lowercase ASCII (IDNs as punycode). `None`
    /// when the address is malformed: a malformed address is never resolved
    /// to a domain, however trustworthy its text looks.
    pub domain: Option<String>,
    /// Registrable domain (public suffix plus one label) of `domain`.
    pub registrable_domain: Option<String>,
    /// Why the address is malformed, if it is.
    pub malformed: Option<String>,
    /// Name of the RFC 5322 group the mailbox belongs to, if any.
    pub group: Option<String>,
}

/// Recipients of one address header, group members included.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipients {
    /// Every mailbox, also those inside groups.
    pub mailboxes: Vec<Mailbox>,
    /// Groups, with their member count. `undisclosed-recipients:;` is a
    /// group with zero members.
    pub groups: Vec<RecipientGroup>,
}

/// An RFC 5322 group in an address header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientGroup {
    pub name: String,
    pub members: usize,
}

/// Signals derived from the sender headers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SenderSignals {
    /// Domain of the first From address; `None` when missing or malformed.
    pub from_domain: Option<String>,
    /// Registrable domain of `from_domain`.
    pub from_registrable_domain: Option<String>,
    /// More than one From mailbox.
    pub multiple_from: bool,
    /// The From address is missing or malformed.
    pub from_malformed: bool,
    /// The From domain belongs to the organisation's own domains.
    pub from_internal: bool,
    /// The From domain belongs to a free webmail provider.
    pub from_free_mail: bool,
    /// A Reply-To address has a registrable domain other than From's.
    pub reply_to_differs: bool,
    /// A Reply-To address is at a free mail provider.
    pub reply_to_free_mail: bool,
    /// The Return-Path registrable domain differs from From's.
    pub return_path_differs: bool,
    /// The Sender registrable domain differs from From's.
    pub sender_differs: bool,
    /// An email address written inside the From display name.
    pub display_name_address: Option<String>,
    /// That display-name address has a registrable domain other than the
    /// real From address.
    pub display_name_address_differs: bool,
    /// A brand named in the From display name (for example `Microsoft`)
    /// when the From domain is not one of that brand's domains.
    pub display_name_brand: Option<String>,
    /// The From display name equals a name from the organisation's list of
    /// people (executives and staff) while the address is external.
    pub display_name_internal_person: Option<String>,
    /// Words of the From display name that mix letters of several scripts
    /// (`PаyPal` with a Cyrillic `а`) or spell a known brand in letters of
    /// another script.
    pub display_name_confusables: Vec<ConfusableWord>,
    /// Lookalike matches of the From domain against the organisation's
    /// domains and known brands.
    pub from_lookalikes: Vec<LookalikeMatch>,
    /// The known brand that owns the From domain. The header can be forged:
    /// read it together with the authentication results.
    pub from_brand: Option<String>,
}
