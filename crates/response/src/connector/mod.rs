//! Connectors carry planned actions out. Each is the only place where a
//! response action touches another system.

mod blocklist;
mod log;
mod webhook;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::action::PlannedAction;

pub use blocklist::{BlockEntry, BlockKind, BlockList, BlockListConnector, BlockListError};
pub use log::{DryRunRecord, LogConnector};
pub use webhook::{
    ATTEMPT_HEADER, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookConnector, WebhookError, sign,
};

/// Carries out actions against one system.
///
/// Implementations must be idempotent per [`PlannedAction::idempotency_key`]:
/// a second `execute` of the same action may repeat the call but must not
/// act twice. They never return errors; failures are outcomes, so that
/// every attempt leaves a record.
#[async_trait]
pub trait Connector: Send + Sync {
    /// The name steps use in `connector`.
    fn name(&self) -> &str;

    /// True when `undo` can reverse this action; by default, when its kind
    /// is reversible.
    fn can_undo(&self, action: &PlannedAction) -> bool {
        action.reversible
    }

    /// Carries the action out.
    async fn execute(&self, action: &PlannedAction) -> Outcome;

    /// Reverses an executed action. Connectors that cannot reverse it
    /// return [`OutcomeStatus::Unsupported`].
    async fn undo(&self, action: &PlannedAction) -> Outcome;
}

/// Which operation an outcome records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Execute,
    Undo,
}

/// The result of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    Succeeded,
    Failed,
    /// The connector cannot carry out this kind of action or operation.
    Unsupported,
}

/// What happened when a connector carried out an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    pub operation: Operation,
    pub status: OutcomeStatus,
    pub connector: String,
    pub idempotency_key: String,
    /// What was done or what failed, in words; never a secret.
    pub details: String,
    /// True when nothing was changed because the connector only records.
    pub dry_run: bool,
    /// Attempts made, the first included.
    pub attempts: u32,
    /// When the operation finished.
    pub at: DateTime<Utc>,
    /// Structured detail for the record, such as per-mailbox counts of a
    /// purge; never a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl Outcome {
    /// Builds an outcome stamped with the current time.
    pub fn new(
        connector: &str,
        action: &PlannedAction,
        operation: Operation,
        status: OutcomeStatus,
        details: String,
    ) -> Self {
        Outcome {
            operation,
            status,
            connector: connector.to_string(),
            idempotency_key: action.idempotency_key.clone(),
            details,
            dry_run: false,
            attempts: 1,
            at: Utc::now(),
            data: None,
        }
    }

    /// True when the operation succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == OutcomeStatus::Succeeded
    }
}
