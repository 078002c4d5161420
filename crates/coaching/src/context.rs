//! The values templates see. Everything taken from the reported message is
//! defanged here, before any template runs, so that no template can show a
//! live link by mistake.

use phishloop_model::{Attachment, CueKind, Decision, LookalikeTechnique, MessageAnalysis};
use serde::{Deserialize, Serialize};

use crate::defang::{defang_address, defang_domain, defang_text, defang_url};

/// Most items of one list (links, lookalikes, attachments) shown in a
/// message, so lessons stay short.
const MAX_ITEMS: usize = 5;

/// A person a message is addressed to or about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub name: Option<String>,
    pub address: String,
}

/// Counts of what a report changed, from the service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Impact {
    /// Copies of the message removed from mailboxes.
    pub copies_removed: u64,
    /// People whose copies were removed or who were kept from the links.
    pub people_protected: u64,
    pub urls_blocked: u64,
    pub domains_blocked: u64,
    pub senders_blocked: u64,
}

/// Facts about the case that the caller passes in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSummary {
    pub case_id: String,
    /// The person who reported; `None` in lessons for people who did not.
    pub reporter: Option<Person>,
    /// The person a lesson is for.
    pub recipient: Option<Person>,
    pub impact: Impact,
}

/// Audience of a lesson.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Received the message.
    Recipient,
    /// Clicked a link or opened an attachment of it.
    Clicker,
}

/// The whole template context.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Context {
    pub organization: String,
    pub team: String,
    pub case_id: String,
    pub reporter: Option<Person>,
    pub recipient: Option<Person>,
    pub audience: Option<Audience>,
    pub verdict: Option<String>,
    pub category: Option<String>,
    pub needs_review: bool,
    pub message: Option<Lure>,
    pub impact: ImpactContext,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ImpactContext {
    #[serde(flatten)]
    pub counts: Impact,
    /// True when any count is above zero.
    pub any: bool,
}

/// The indicators of this one message, defanged.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Lure {
    pub subject: Option<String>,
    pub sender: Option<Sender>,
    pub deceptive_links: Vec<DeceptiveLinkContext>,
    pub lookalikes: Vec<LookalikeContext>,
    pub links: Vec<String>,
    pub attachments: Vec<AttachmentContext>,
    pub phone_numbers: Vec<String>,
    pub qr_codes: Vec<String>,
    pub gift_cards: bool,
    pub payment_change: bool,
    pub payment_request: bool,
    pub credential_request: bool,
    pub urgency: Vec<String>,
    /// Kinds of secrets found in the message (never their values).
    pub secret_kinds: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Sender {
    pub address: Option<String>,
    pub display_name: Option<String>,
    /// An address written in the display name that differs from the real
    /// one.
    pub shown_address: Option<String>,
    /// A brand named in the display name that does not own the address.
    pub impersonated_brand: Option<String>,
    /// A colleague's name used by an outside address.
    pub impersonated_person: Option<String>,
    pub domain: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct DeceptiveLinkContext {
    pub shown: String,
    pub shown_domain: String,
    pub actual_domain: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct LookalikeContext {
    pub domain: String,
    pub imitates: String,
    pub brand: Option<String>,
    /// `confusable`, `typo`, `suffix_swap`, `combosquat`, `subdomain` or
    /// `subdomain_keyword`.
    pub technique: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct AttachmentContext {
    pub name: String,
    /// Codes of what makes it risky: `executable`, `double_extension`,
    /// `bidi_control`, `extension_mismatch`, `macros`, `encrypted`,
    /// `html_smuggling`, `credential_form`, `active_content`.
    pub risks: Vec<&'static str>,
}

/// Settings that every context shares.
pub(crate) struct Settings<'a> {
    pub organization: &'a str,
    pub team: &'a str,
}

pub(crate) fn build(
    settings: &Settings<'_>,
    decision: Option<&Decision>,
    message: Option<&MessageAnalysis>,
    case: &CaseSummary,
    audience: Option<Audience>,
) -> Context {
    let impact = case.impact;
    let any = impact.copies_removed
        + impact.people_protected
        + impact.urls_blocked
        + impact.domains_blocked
        + impact.senders_blocked
        > 0;
    Context {
        organization: settings.organization.to_string(),
        team: settings.team.to_string(),
        case_id: case.case_id.clone(),
        reporter: case.reporter.clone(),
        recipient: case.recipient.clone(),
        audience,
        verdict: decision.map(|d| enum_name(&d.verdict)),
        category: decision.map(|d| enum_name(&d.category)),
        needs_review: decision.is_some_and(|d| d.needs_review),
        message: message.map(lure),
        impact: ImpactContext { counts: impact, any },
    }
}

/// Returns the snake_case serde name of a unit enum value.
fn enum_name<T: Serialize>(value: &T) -> String {
    minijinja::Value::from_serialize(value).as_str().unwrap_or_default().to_string()
}

fn lure(message: &MessageAnalysis) -> Lure {
    let has_cue = |kind: CueKind| message.cues.iter().any(|cue| cue.kind == kind);
    let mut urgency: Vec<String> =
        message.cues.iter().filter(|cue| cue.kind == CueKind::Urgency).map(|cue| defang_text(&cue.matched)).collect();
    urgency.dedup();
    urgency.truncate(MAX_ITEMS);

    Lure {
        subject: message.headers.subject.as_deref().map(defang_text),
        sender: sender(message),
        deceptive_links: deceptive_links(message),
        lookalikes: lookalikes(message),
        links: message
            .urls
            .iter()
            .filter(|url| matches!(url.scheme.as_str(), "http" | "https"))
            .map(shown_url)
            .take(MAX_ITEMS)
            .collect(),
        attachments: message.attachments.iter().filter_map(attachment).take(MAX_ITEMS).collect(),
        phone_numbers: message.phone_numbers.iter().map(|phone| phone.raw.clone()).take(MAX_ITEMS).collect(),
        qr_codes: message
            .urls
            .iter()
            .filter(|url| url.sources.iter().any(|s| s.kind == phishloop_model::UrlSourceKind::QrCode))
            .map(shown_url)
            .take(MAX_ITEMS)
            .collect(),
        gift_cards: has_cue(CueKind::GiftCard),
        payment_change: has_cue(CueKind::PaymentChange),
        payment_request: has_cue(CueKind::PaymentRequest),
        credential_request: has_cue(CueKind::CredentialRequest),
        urgency,
        secret_kinds: {
            let mut kinds: Vec<String> = message.secrets.iter().map(|s| enum_name(&s.kind)).collect();
            kinds.sort();
            kinds.dedup();
            kinds
        },
    }
}

fn sender(message: &MessageAnalysis) -> Option<Sender> {
    let from = message.headers.from.first()?;
    let signals = &message.sender;
    Some(Sender {
        address: from.address.as_deref().map(defang_address),
        display_name: from.name.as_deref().map(defang_text),
        shown_address: signals
            .display_name_address
            .as_deref()
            .filter(|_| signals.display_name_address_differs)
            .map(defang_address),
        impersonated_brand: signals.display_name_brand.clone(),
        impersonated_person: signals.display_name_internal_person.clone(),
        domain: signals.from_registrable_domain.as_deref().map(defang_domain),
    })
}

/// Returns the defanged URL that messages quote. A URL that carries a
/// recipient's address (plain or encoded) is cut to its scheme and host, so
/// a lesson to one person never shows another person's address.
fn shown_url(url: &phishloop_model::UrlIndicator) -> String {
    if url.embedded_recipient.is_none() {
        return defang_url(&url.effective);
    }
    let after_scheme = url.effective.find("://").map_or(0, |index| index + 3);
    let host_end =
        url.effective[after_scheme..].find(['/', '?', '#']).map_or(url.effective.len(), |index| after_scheme + index);
    defang_url(&format!("{}/...", &url.effective[..host_end]))
}

fn deceptive_links(message: &MessageAnalysis) -> Vec<DeceptiveLinkContext> {
    message
        .urls
        .iter()
        .filter_map(|url| {
            let deceptive = url.deceptive.as_ref()?;
            Some(DeceptiveLinkContext {
                shown: defang_text(&deceptive.displayed),
                shown_domain: defang_domain(&deceptive.displayed_domain),
                actual_domain: defang_domain(&deceptive.actual_domain),
                url: shown_url(url),
            })
        })
        .take(MAX_ITEMS)
        .collect()
}

fn lookalikes(message: &MessageAnalysis) -> Vec<LookalikeContext> {
    let from_domain = message.sender.from_domain.as_deref();
    let sender_matches = message.sender.from_lookalikes.iter().map(|m| (from_domain, m));
    let url_matches = message.urls.iter().flat_map(|url| url.lookalikes.iter().map(|m| (url.host.as_deref(), m)));

    let mut seen = std::collections::HashSet::new();
    sender_matches
        .chain(url_matches)
        .filter(|(_, m)| m.technique != LookalikeTechnique::SubdomainKeyword)
        .filter_map(|(domain, m)| {
            let domain = domain?;
            seen.insert((domain.to_string(), m.target.clone())).then(|| LookalikeContext {
                domain: defang_domain(domain),
                imitates: defang_domain(&m.target),
                brand: m.brand.clone(),
                technique: enum_name(&m.technique),
            })
        })
        .take(MAX_ITEMS)
        .collect()
}

fn attachment(attachment: &Attachment) -> Option<AttachmentContext> {
    let flags = &attachment.flags;
    let checks = [
        (flags.executable, "executable"),
        (flags.double_extension, "double_extension"),
        (flags.bidi_control, "bidi_control"),
        (flags.extension_mismatch, "extension_mismatch"),
        (flags.macros, "macros"),
        (flags.encrypted, "encrypted"),
        (!flags.html_smuggling.is_empty(), "html_smuggling"),
        (flags.credential_form, "credential_form"),
        (flags.active_content, "active_content"),
    ];
    let risks: Vec<&'static str> = checks.iter().filter(|(set, _)| *set).map(|(_, code)| *code).collect();
    if risks.is_empty() {
        return None;
    }
    let name = attachment.filename.as_deref().unwrap_or("(unnamed attachment)");
    Some(AttachmentContext { name: defang_text(name), risks })
}
