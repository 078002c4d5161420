//! Block lists that firewalls and proxies poll as plain-text feeds, and the
//! `blocklist` connector that fills one.
//!
//! The service stores the entries; this module only keeps them in memory,
//! merges repeats and renders feeds.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::{Connector, Operation, Outcome, OutcomeStatus};
use crate::action::{ActionKind, PlannedAction, Target};

/// Longest URL accepted in a feed, in bytes.
const MAX_URL_BYTES: usize = 2048;

/// Kind of value a block-list entry blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    Url,
    Domain,
}

/// Errors for entries that could break a line-based feed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockListError {
    #[error(
        "invalid block-list URL {0:?}: expected an http, https or ftp URL of at most 2048 bytes without spaces or control characters"
    )]
    InvalidUrl(String),
    #[error("invalid block-list domain {0:?}: expected a lowercase domain name such as example-phish.net")]
    InvalidDomain(String),
}

/// One blocked URL or domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockEntry {
    pub kind: BlockKind,
    pub value: String,
    /// The case that added the entry.
    pub case_id: String,
    pub added_at: DateTime<Utc>,
    /// When the entry stops being published; `None` keeps it until removed.
    pub expires_at: Option<DateTime<Utc>>,
}

impl BlockEntry {
    /// Builds an entry after checking that its value fits on one feed line.
    ///
    /// # Errors
    ///
    /// Returns [`BlockListError`] for a value that is not a plain URL or
    /// domain name.
    pub fn new(
        kind: BlockKind,
        value: &str,
        case_id: &str,
        added_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Self, BlockListError> {
        let value = match kind {
            BlockKind::Url => checked_url(value)?,
            BlockKind::Domain => checked_domain(value)?,
        };
        Ok(BlockEntry { kind, value, case_id: case_id.to_string(), added_at, expires_at })
    }

    /// Builds the entry that a `block_url` or `block_domain` action adds;
    /// `None` for other actions.
    ///
    /// # Errors
    ///
    /// Returns [`BlockListError`] for a target that cannot be a feed line.
    pub fn from_action(
        action: &PlannedAction,
        now: DateTime<Utc>,
        ttl: Option<Duration>,
    ) -> Result<Option<Self>, BlockListError> {
        let expires_at = ttl.map(|ttl| now + ttl);
        match (&action.kind, &action.target) {
            (ActionKind::BlockUrl, Target::Url { url }) => {
                BlockEntry::new(BlockKind::Url, url, &action.case_id, now, expires_at).map(Some)
            }
            (ActionKind::BlockDomain, Target::Domain { domain }) => {
                BlockEntry::new(BlockKind::Domain, domain, &action.case_id, now, expires_at).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// True when the entry has not expired at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|expires_at| expires_at > now)
    }
}

/// A set of entries with at most one entry per kind and value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockList {
    pub entries: Vec<BlockEntry>,
}

impl BlockList {
    pub fn new() -> Self {
        BlockList::default()
    }

    /// Adds an entry. A repeat of a kind and value keeps the first entry's
    /// case and time and takes the later expiry, so re-adding only extends.
    pub fn add(&mut self, entry: BlockEntry) {
        let existing = self.entries.iter_mut().find(|e| e.kind == entry.kind && e.value == entry.value);
        let Some(existing) = existing else {
            self.entries.push(entry);
            return;
        };
        existing.expires_at = match (existing.expires_at, entry.expires_at) {
            (Some(old), Some(new)) => Some(old.max(new)),
            _ => None,
        };
    }

    /// Removes the entry for a kind and value; returns whether one existed.
    pub fn remove(&mut self, kind: BlockKind, value: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|entry| !(entry.kind == kind && entry.value == value));
        self.entries.len() != before
    }

    /// Drops entries that have expired at `now`; returns how many.
    pub fn prune(&mut self, now: DateTime<Utc>) -> usize {
        let before = self.entries.len();
        self.entries.retain(|entry| entry.is_active(now));
        before - self.entries.len()
    }

    /// Returns the values of one kind that are active at `now`, sorted.
    pub fn active_values(&self, kind: BlockKind, now: DateTime<Utc>) -> Vec<&str> {
        let mut values: Vec<&str> = self
            .entries
            .iter()
            .filter(|entry| entry.kind == kind && entry.is_active(now))
            .map(|entry| entry.value.as_str())
            .collect();
        values.sort_unstable();
        values
    }

    /// Renders the plain-text feed of one kind: `#` comment lines with the
    /// kind, the generation time and the count, then one value per line,
    /// sorted, expired entries left out.
    pub fn render(&self, kind: BlockKind, now: DateTime<Utc>) -> String {
        let values = self.active_values(kind, now);
        let kind_name = match kind {
            BlockKind::Url => "urls",
            BlockKind::Domain => "domains",
        };
        let mut feed = format!(
            "# phishloop block list: {kind_name}\n# generated {}\n# entries {}\n",
            now.to_rfc3339_opts(SecondsFormat::Secs, true),
            values.len()
        );
        for value in values {
            feed.push_str(value);
            feed.push('\n');
        }
        feed
    }
}

fn checked_url(value: &str) -> Result<String, BlockListError> {
    let lower = value.to_ascii_lowercase();
    let web = ["http://", "https://", "ftp://"].iter().any(|scheme| lower.starts_with(scheme));
    let plain = !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if web && plain && value.len() <= MAX_URL_BYTES {
        Ok(value.to_string())
    } else {
        Err(BlockListError::InvalidUrl(value.to_string()))
    }
}

fn checked_domain(value: &str) -> Result<String, BlockListError> {
    let domain = value.trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if domain.len() <= 253 && domain.contains('.') && domain.split('.').all(label_ok) {
        Ok(domain)
    } else {
        Err(BlockListError::InvalidDomain(value.to_string()))
    }
}

/// Adds `block_url` and `block_domain` actions to a shared [`BlockList`];
/// undo removes the entry. Other kinds are unsupported.
#[derive(Debug, Clone)]
pub struct BlockListConnector {
    list: Arc<Mutex<BlockList>>,
    ttl: Option<Duration>,
}

impl BlockListConnector {
    /// `ttl` is how long new entries stay published; `None` keeps them
    /// until they are removed.
    pub fn new(list: Arc<Mutex<BlockList>>, ttl: Option<Duration>) -> Self {
        BlockListConnector { list, ttl }
    }

    fn apply(&self, action: &PlannedAction, operation: Operation) -> Outcome {
        let entry = match BlockEntry::from_action(action, Utc::now(), self.ttl) {
            Ok(Some(entry)) => entry,
            Ok(None) => {
                let details = format!("the block list cannot carry out {}", action.kind);
                return Outcome::new(self.name(), action, operation, OutcomeStatus::Unsupported, details);
            }
            Err(error) => {
                return Outcome::new(self.name(), action, operation, OutcomeStatus::Failed, error.to_string());
            }
        };

        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        let details = match operation {
            Operation::Execute => {
                let details = format!("listed {}", entry.value);
                list.add(entry);
                details
            }
            Operation::Undo if list.remove(entry.kind, &entry.value) => format!("removed {}", entry.value),
            Operation::Undo => format!("{} was not listed", entry.value),
        };
        Outcome::new(self.name(), action, operation, OutcomeStatus::Succeeded, details)
    }
}

#[async_trait]
impl Connector for BlockListConnector {
    fn name(&self) -> &str {
        "blocklist"
    }

    async fn execute(&self, action: &PlannedAction) -> Outcome {
        self.apply(action, Operation::Execute)
    }

    async fn undo(&self, action: &PlannedAction) -> Outcome {
        self.apply(action, Operation::Undo)
    }
}
