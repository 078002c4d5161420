//! The `[response]` configuration: playbooks, exclusions and connectors.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use phishloop_model::{Category, Verdict};
use serde::{Deserialize, Serialize};

use crate::action::{ActionKind, Mode};
use crate::defaults::default_playbooks;

/// The `[response]` table. Every key is optional and unknown keys are
/// errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseConfig {
    /// Append the built-in playbooks after the configured ones.
    pub default_playbooks: bool,
    /// Playbooks of this installation, tried before the built-in ones.
    pub playbooks: Vec<Playbook>,
    /// Domains of the organisation that are never blocked, in addition to
    /// those the analysis marks as internal.
    pub internal_domains: Vec<String>,
    /// More domains that are never blocked (partners, shared services the
    /// built-in list lacks). A subdomain of an entry matches too.
    pub never_block: Vec<String>,
    /// Turn `auto` into `approve` for every step that changes something
    /// outside phishloop when the decision needs review.
    pub review_requires_approval: bool,
    /// Webhook connectors, each addressed by its name in steps.
    pub webhooks: Vec<WebhookConfig>,
    /// Per action kind, the connector that replaces `log` in every step of
    /// that kind, built-in playbooks included, such as
    /// `purge_copies = "imap"`. Steps that name another connector keep it.
    pub connectors: BTreeMap<ActionKind, String>,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        ResponseConfig {
            default_playbooks: true,
            playbooks: Vec::new(),
            internal_domains: Vec::new(),
            never_block: Vec::new(),
            review_requires_approval: true,
            webhooks: Vec::new(),
            connectors: BTreeMap::new(),
        }
    }
}

/// A rule that turns matching decisions into steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    /// Unique name, recorded on every action the playbook plans.
    pub name: String,
    /// Verdicts the playbook applies to; empty means every verdict.
    #[serde(default)]
    pub verdicts: Vec<Verdict>,
    /// Lure categories the playbook applies to; empty means every category.
    #[serde(default)]
    pub categories: Vec<Category>,
    /// Lowest decision confidence, from 0 to 1, inclusive.
    #[serde(default)]
    pub min_confidence: f64,
    /// Lowest number of people who reported the campaign.
    #[serde(default)]
    pub min_reporters: u32,
    /// When set, the playbook applies only to decisions whose
    /// `needs_review` equals it.
    #[serde(default)]
    pub needs_review: Option<bool>,
    pub steps: Vec<Step>,
}

/// One action of a playbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub action: ActionKind,
    /// Which indicators or people the action works on.
    pub target: Selector,
    /// `auto`, `approve` (the default) or `off`.
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// Name of the connector; `log` (a dry run) when left out.
    #[serde(default = "default_connector")]
    pub connector: String,
}

fn default_mode() -> Mode {
    Mode::Approve
}

fn default_connector() -> String {
    "log".to_string()
}

/// Which targets a step works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    /// Effective URLs of the message's web links.
    Urls,
    /// Registrable domains of those URLs.
    UrlDomains,
    /// The From and Reply-To addresses.
    Sender,
    /// Registrable domains of the From and Reply-To addresses.
    SenderDomains,
    /// The reported message and its copies.
    Message,
    /// People known to have clicked, from the case facts.
    Clickers,
    /// People known to have submitted credentials, from the case facts.
    Submitters,
    /// People whose non-human credentials the lure put at risk, from the
    /// case facts.
    CredentialOwners,
    /// People who reported the message, from the case facts.
    Reporters,
    /// Secrets found in the message.
    Secrets,
    /// The analyst team.
    Analysts,
    /// The case.
    Case,
}

impl Selector {
    /// The snake_case name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Selector::Urls => "urls",
            Selector::UrlDomains => "url_domains",
            Selector::Sender => "sender",
            Selector::SenderDomains => "sender_domains",
            Selector::Message => "message",
            Selector::Clickers => "clickers",
            Selector::Submitters => "submitters",
            Selector::CredentialOwners => "credential_owners",
            Selector::Reporters => "reporters",
            Selector::Secrets => "secrets",
            Selector::Analysts => "analysts",
            Selector::Case => "case",
        }
    }

    /// The selectors that make sense for an action kind.
    pub fn allowed_for(kind: ActionKind) -> &'static [Selector] {
        match kind {
            ActionKind::PurgeCopies => &[Selector::Message],
            ActionKind::BlockSender => &[Selector::Sender],
            ActionKind::BlockDomain => &[Selector::UrlDomains, Selector::SenderDomains],
            ActionKind::BlockUrl | ActionKind::FindClicks => &[Selector::Urls],
            ActionKind::ResetPassword | ActionKind::RevokeSessions | ActionKind::RemoveMailboxRules => {
                &[Selector::Submitters, Selector::Clickers, Selector::Reporters]
            }
            ActionKind::RevokeCredentials | ActionKind::RotateCredentials => {
                &[Selector::Secrets, Selector::CredentialOwners]
            }
            ActionKind::Notify => &[Selector::Analysts, Selector::Reporters, Selector::Clickers, Selector::Submitters],
            ActionKind::OpenTicket | ActionKind::DismissWithThanks => &[Selector::Case],
        }
    }
}

/// A webhook connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Name that steps use in `connector`.
    pub name: String,
    /// `https://` URL; plain `http://` only to a loopback address.
    pub url: String,
    /// Where the HMAC signing secret is read from.
    pub secret: SecretSource,
    /// Attempts in total, the first included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Back-off before the second attempt, in milliseconds; it doubles for
    /// each further attempt.
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    /// Largest back-off, in milliseconds.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Time limit of one request, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_max_attempts() -> u32 {
    5
}

fn default_initial_backoff_ms() -> u64 {
    500
}

fn default_max_backoff_ms() -> u64 {
    30_000
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// Where a secret is read from. Secrets are never written inline in the
/// configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretSource {
    /// Name of an environment variable.
    Env(String),
    /// Path of a file; one trailing line break is removed.
    File(PathBuf),
}

/// Connector names that are always available.
pub const BUILT_IN_CONNECTORS: [&str; 2] = ["log", "blocklist"];

/// Errors in the `[response]` configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid response configuration: {0}")]
    Toml(String),
    #[error("duplicate playbook name {0:?} in response.playbooks")]
    DuplicatePlaybook(String),
    #[error("playbook {playbook:?}: min_confidence {value} is outside 0..=1")]
    Confidence { playbook: String, value: f64 },
    #[error("playbook {playbook:?}: action {action} cannot target {}; use one of {allowed}", target.as_str())]
    Selector { playbook: String, action: ActionKind, target: Selector, allowed: String },
    #[error(
        "playbook {playbook:?}: unknown connector {connector:?}; use log, blocklist or the name of a [[response.webhooks]] entry"
    )]
    UnknownConnector { playbook: String, connector: String },
    #[error("duplicate webhook name {0:?} in response.webhooks")]
    DuplicateWebhook(String),
    #[error("webhook {name:?}: max_attempts must be at least 1")]
    Attempts { name: String },
    #[error(
        "response.connectors: unknown connector {connector:?} for {action}; use log, blocklist, a service connector such as imap, or the name of a [[response.webhooks]] entry"
    )]
    UnknownOverride { action: ActionKind, connector: String },
}

impl ResponseConfig {
    /// Parses a standalone `[response]` table (without the header) and
    /// validates it.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError`] for invalid TOML, unknown keys or values that
    /// [`ResponseConfig::validate`] rejects.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let config: ResponseConfig = toml::from_str(text).map_err(|error| ConfigError::Toml(error.to_string()))?;
        config.validate(&[])?;
        Ok(config)
    }

    /// Checks names, ranges, selectors and connector names. `connectors`
    /// lists connector names the service registers besides the built-in
    /// ones and the webhooks.
    ///
    /// # Errors
    ///
    /// Returns the first problem found.
    pub fn validate(&self, connectors: &[&str]) -> Result<(), ConfigError> {
        let mut known: HashSet<&str> = BUILT_IN_CONNECTORS.into_iter().chain(connectors.iter().copied()).collect();
        for webhook in &self.webhooks {
            if !known.insert(&webhook.name) {
                return Err(ConfigError::DuplicateWebhook(webhook.name.clone()));
            }
            if webhook.max_attempts == 0 {
                return Err(ConfigError::Attempts { name: webhook.name.clone() });
            }
        }

        for (action, connector) in &self.connectors {
            if !known.contains(connector.as_str()) {
                return Err(ConfigError::UnknownOverride { action: *action, connector: connector.clone() });
            }
        }

        let mut names = HashSet::new();
        for playbook in &self.playbooks {
            if !names.insert(playbook.name.as_str()) {
                return Err(ConfigError::DuplicatePlaybook(playbook.name.clone()));
            }
            validate_playbook(playbook, &known)?;
        }
        Ok(())
    }

    /// The playbooks in the order the planner tries them: the configured
    /// ones, then the built-in ones when `default_playbooks` is true.
    /// Steps that use `log` get the connector that `connectors` names for
    /// their action kind.
    pub fn effective_playbooks(&self) -> Vec<Playbook> {
        let mut playbooks = self.playbooks.clone();
        if self.default_playbooks {
            playbooks.extend(default_playbooks());
        }
        if self.connectors.is_empty() {
            return playbooks;
        }
        for step in playbooks.iter_mut().flat_map(|playbook| playbook.steps.iter_mut()) {
            if step.connector != "log" {
                continue;
            }
            if let Some(connector) = self.connectors.get(&step.action) {
                step.connector.clone_from(connector);
            }
        }
        playbooks
    }
}

fn validate_playbook(playbook: &Playbook, connectors: &HashSet<&str>) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&playbook.min_confidence) {
        return Err(ConfigError::Confidence { playbook: playbook.name.clone(), value: playbook.min_confidence });
    }
    for step in &playbook.steps {
        let allowed = Selector::allowed_for(step.action);
        if !allowed.contains(&step.target) {
            let allowed = allowed.iter().map(|selector| selector.as_str()).collect::<Vec<_>>();
            return Err(ConfigError::Selector {
                playbook: playbook.name.clone(),
                action: step.action,
                target: step.target,
                allowed: allowed.join(", "),
            });
        }
        if !connectors.contains(step.connector.as_str()) {
            return Err(ConfigError::UnknownConnector {
                playbook: playbook.name.clone(),
                connector: step.connector.clone(),
            });
        }
    }
    Ok(())
}
