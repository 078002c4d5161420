//! Planned actions: what to do, against which target, how and through which
//! connector.

use phishloop_model::SecretKind;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The kinds of action a playbook step can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Remove every delivered copy of the message from mailboxes.
    PurgeCopies,
    /// Block mail from a sender address.
    BlockSender,
    /// Block a registrable domain at the mail gateway, proxy or firewall.
    BlockDomain,
    /// Block one exact URL.
    BlockUrl,
    /// Search proxy and click logs for people who opened the URLs.
    FindClicks,
    /// Force a password reset for a person.
    ResetPassword,
    /// Revoke a person's sign-in sessions and refresh tokens.
    RevokeSessions,
    /// Remove inbox rules and forwarding that an attacker may have added.
    RemoveMailboxRules,
    /// Revoke a non-human credential (token, API key, service-account
    /// secret) exposed through the campaign.
    RevokeCredentials,
    /// Replace a non-human credential with a new one, kept in a secret
    /// store for the service that uses it, then retire the old one.
    RotateCredentials,
    /// Tell a person or team about the case.
    Notify,
    /// Open a ticket for the case in the team's tracker.
    OpenTicket,
    /// Close the case as harmless and thank the reporters.
    DismissWithThanks,
}

impl ActionKind {
    /// Every kind, in declaration order.
    pub const ALL: [ActionKind; 13] = [
        ActionKind::PurgeCopies,
        ActionKind::BlockSender,
        ActionKind::BlockDomain,
        ActionKind::BlockUrl,
        ActionKind::FindClicks,
        ActionKind::ResetPassword,
        ActionKind::RevokeSessions,
        ActionKind::RemoveMailboxRules,
        ActionKind::RevokeCredentials,
        ActionKind::RotateCredentials,
        ActionKind::Notify,
        ActionKind::OpenTicket,
        ActionKind::DismissWithThanks,
    ];

    /// The snake_case name used in configuration, keys and payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::PurgeCopies => "purge_copies",
            ActionKind::BlockSender => "block_sender",
            ActionKind::BlockDomain => "block_domain",
            ActionKind::BlockUrl => "block_url",
            ActionKind::FindClicks => "find_clicks",
            ActionKind::ResetPassword => "reset_password",
            ActionKind::RevokeSessions => "revoke_sessions",
            ActionKind::RemoveMailboxRules => "remove_mailbox_rules",
            ActionKind::RevokeCredentials => "revoke_credentials",
            ActionKind::RotateCredentials => "rotate_credentials",
            ActionKind::Notify => "notify",
            ActionKind::OpenTicket => "open_ticket",
            ActionKind::DismissWithThanks => "dismiss_with_thanks",
        }
    }

    /// True for kinds whose effect can be undone: blocks can be lifted and
    /// purged copies restored from the recoverable-items folder. A reset
    /// password, a revoked session or a sent notification cannot.
    pub fn is_reversible(self) -> bool {
        matches!(
            self,
            ActionKind::PurgeCopies | ActionKind::BlockSender | ActionKind::BlockDomain | ActionKind::BlockUrl
        )
    }

    /// True for kinds that change nothing outside phishloop's own records
    /// and the people it writes to. These run automatically even when a
    /// decision needs review.
    pub fn is_read_only(self) -> bool {
        matches!(
            self,
            ActionKind::FindClicks | ActionKind::Notify | ActionKind::OpenTicket | ActionKind::DismissWithThanks
        )
    }

    /// True for kinds that may still act on an authorised simulation.
    pub fn allowed_for_simulation(self) -> bool {
        matches!(self, ActionKind::DismissWithThanks | ActionKind::Notify)
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Runs as soon as it is planned.
    Auto,
    /// Waits until a person approves it.
    Approve,
    /// Never planned.
    Off,
}

/// The concrete object an action works on. Every value comes from the
/// reported original's indicators or from the case; a secret is named by
/// its kind, location, redacted form and hash, never by its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// An exact URL: the effective target after unwrapping redirectors.
    Url { url: String },
    /// A registrable domain (public suffix plus one label).
    Domain { domain: String },
    /// A sender address, lowercase.
    Sender { address: String },
    /// Every delivered copy of the reported message.
    Message {
        /// Message-ID without angle brackets, when the message has one.
        message_id: Option<String>,
        /// SHA-256 of the message's visible text, shared by copies.
        content_fingerprint: String,
        subject: Option<String>,
        /// The original's first From address, lowercase. Copies whose
        /// Message-ID differs per recipient are searched by this sender.
        #[serde(default)]
        sender: Option<String>,
    },
    /// A person, by email address, lowercase.
    Person { address: String },
    /// A team that receives notifications (`analysts`).
    Team { name: String },
    /// A secret found in the message.
    Secret {
        kind: SecretKind,
        /// `subject`, `body` or an attachment name.
        location: String,
        /// The secret with its middle replaced by `*`.
        redacted: String,
        /// SHA-256 of the full secret, lowercase hex.
        sha256: String,
    },
    /// The case itself.
    Case { case_id: String },
}

impl Target {
    /// A canonical text form: equal targets give equal strings, and the
    /// string contains no secret value.
    pub fn canonical(&self) -> String {
        match self {
            Target::Url { url } => format!("url:{url}"),
            Target::Domain { domain } => format!("domain:{domain}"),
            Target::Sender { address } => format!("sender:{address}"),
            Target::Message { message_id, content_fingerprint, .. } => {
                format!("message:{content_fingerprint}/{}", message_id.as_deref().unwrap_or(""))
            }
            Target::Person { address } => format!("person:{address}"),
            Target::Team { name } => format!("team:{name}"),
            Target::Secret { sha256, .. } => format!("secret:{sha256}"),
            Target::Case { case_id } => format!("case:{case_id}"),
        }
    }
}

impl Target {
    /// Formats the target for a log line like [`Display`](std::fmt::Display),
    /// except that a URL loses its user information, its query and fragment,
    /// and its path when the path contains an address (`@` or `%40`).
    /// Phishing URLs often carry the recipient's address there, and log
    /// collectors should not receive it. A value without `://` that contains
    /// `@` is left out whole.
    pub fn for_log(&self) -> String {
        let Target::Url { url } = self else {
            return self.to_string();
        };
        if !url.contains("://") && url.contains('@') {
            return "url:...".to_string();
        }

        let without_query = url.split(['?', '#']).next().unwrap_or_default();
        let shortened = without_query.len() < url.len();
        let authority_end = without_query
            .find("://")
            .map(|scheme_end| scheme_end + 3)
            .and_then(|start| without_query[start..].find('/').map(|slash| start + slash));
        let (base, path) = match authority_end {
            Some(end) => without_query.split_at(end),
            None => (without_query, ""),
        };

        let path_has_address = path.contains('@') || path.to_ascii_lowercase().contains("%40");
        // User information before the host (`https://name@host/`) is dropped
        // whole, since it can be an address too.
        let base = match (base.find("://"), base.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                format!("{}...@{}", &base[..scheme_end + 3], &base[at + 1..])
            }
            _ => base.to_string(),
        };

        let mut logged = format!("url:{base}");
        if path_has_address {
            logged.push_str("/...");
        } else {
            logged.push_str(path);
        }
        if shortened {
            logged.push_str("?...");
        }
        logged
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Secret { kind, location, redacted, .. } => {
                let kind = serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_string));
                write!(f, "secret:{} {redacted} in {location}", kind.unwrap_or_default())
            }
            other => f.write_str(&other.canonical()),
        }
    }
}

/// One action of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedAction {
    pub case_id: String,
    pub kind: ActionKind,
    pub target: Target,
    /// `auto` or `approve`; steps that are `off` are never planned.
    pub mode: Mode,
    /// Name of the connector that carries the action out.
    pub connector: String,
    /// Stable for the same case, kind and target, so a retried or re-planned
    /// action is recognised and never carried out twice.
    pub idempotency_key: String,
    /// The playbook whose step produced the action.
    pub playbook: String,
    /// Whether the action can be undone, see [`ActionKind::is_reversible`].
    pub reversible: bool,
    /// Why the mode differs from the step's, when it does.
    pub note: Option<String>,
}

impl PlannedAction {
    /// True when the action must wait for a person's approval.
    pub fn awaits_approval(&self) -> bool {
        self.mode == Mode::Approve
    }
}

/// Derives the idempotency key of an action: `pk2-` followed by the first
/// 32 hex digits of SHA-256 over the case id, kind and canonical target,
/// and for the kinds that only inform (`notify`, `open_ticket`,
/// `find_clicks`, `dismiss_with_thanks`) the connector as well. The
/// playbook and step are left out on purpose, so two playbooks that plan
/// the same change for the same case share one key: one password reset
/// per person, whichever connector each playbook names. A notification
/// through a webhook is another action than the same one through `log`.
pub fn idempotency_key(case_id: &str, kind: ActionKind, target: &Target, connector: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"phishloop-action\0");
    hasher.update(case_id.as_bytes());
    hasher.update(b"\0");
    hasher.update(kind.as_str().as_bytes());
    hasher.update(b"\0");
    hasher.update(target.canonical().as_bytes());
    if kind.is_read_only() {
        hasher.update(b"\0");
        hasher.update(connector.as_bytes());
    }
    let digest = hex::encode(hasher.finalize());
    format!("pk2-{}", &digest[..32])
}
