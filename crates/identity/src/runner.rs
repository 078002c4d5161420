//! The steps every connector in this crate runs around an operation: skip
//! a repeat of an action that already succeeded, count attempts, turn a
//! failure into an outcome, and log without secrets.
//!
//! Outcome details start with a fixed phrase so that the service and
//! people can tell the failure classes apart: `permission denied` for 401
//! and 403, `target missing` for a user, mailbox or application that does
//! not exist. A missing user is a failure: nothing was revoked or reset,
//! and someone must check the address. A missing sub-resource that the
//! operation would delete anyway (a rule, a key, a token) counts as done.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use phishloop_response::{Operation, Outcome, OutcomeStatus, PlannedAction};

use crate::http::{CallError, Tally};

/// The failure of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The connector cannot carry out this kind or target.
    Unsupported(String),
    Failed(String),
}

impl Failure {
    /// Describes a failed request about `what` (such as `user
    /// a@example.com`); `permission` names what the credential needs.
    pub fn from_call(what: &str, permission: &str, error: CallError) -> Failure {
        let text = match error {
            CallError::Permission { status, detail } => format!(
                "permission denied (HTTP {status}) for {what}: {detail}; grant {permission} to the connector's credential"
            ),
            CallError::NotFound { detail } => format!("target missing: {what} was not found (HTTP 404): {detail}"),
            other => format!("failed for {what}: {other}"),
        };
        Failure::Failed(text)
    }
}

/// Outcomes of actions that succeeded, by idempotency key (with `:undo`
/// for an undo). It lives as long as the connector.
///
/// NOTE: the ledger is in memory only. Across restarts the service must
/// not re-run an action whose succeeded outcome it stored. A repeat is
/// still safe, because every operation here is idempotent at the provider.
#[derive(Debug, Default)]
pub(crate) struct Ledger(Mutex<HashMap<String, Outcome>>);

impl Ledger {
    fn get(&self, key: &str) -> Option<Outcome> {
        self.0.lock().ok()?.get(key).cloned()
    }

    fn insert(&self, key: String, outcome: Outcome) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(key, outcome);
        }
    }
}

/// Runs one operation of `connector` for `action` and records its outcome.
pub(crate) async fn run<F>(
    connector: &str,
    ledger: &Ledger,
    action: &PlannedAction,
    operation: Operation,
    tally: &Tally,
    work: F,
) -> Outcome
where
    F: Future<Output = Result<String, Failure>>,
{
    let key = match operation {
        Operation::Execute => action.idempotency_key.clone(),
        Operation::Undo => format!("{}:undo", action.idempotency_key),
    };
    run_keyed(connector, ledger, action, operation, key, tally, work).await
}

/// Like [`run`], with an explicit ledger key, for operations outside the
/// `Connector` trait that must not share the action's key.
pub(crate) async fn run_keyed<F>(
    connector: &str,
    ledger: &Ledger,
    action: &PlannedAction,
    operation: Operation,
    key: String,
    tally: &Tally,
    work: F,
) -> Outcome
where
    F: Future<Output = Result<String, Failure>>,
{
    if let Some(previous) = ledger.get(&key) {
        tracing::debug!(connector, case_id = %action.case_id, idempotency_key = %key, "action already succeeded, not repeated");
        let details = format!("already done at {}: {}", previous.at.to_rfc3339(), previous.details);
        return Outcome::new(connector, action, operation, OutcomeStatus::Succeeded, details);
    }

    let result = work.await;

    let (status, details) = match result {
        Ok(details) => (OutcomeStatus::Succeeded, details),
        Err(Failure::Unsupported(details)) => (OutcomeStatus::Unsupported, details),
        Err(Failure::Failed(details)) => (OutcomeStatus::Failed, details),
    };
    let mut outcome = Outcome::new(connector, action, operation, status, details);
    outcome.attempts = tally.attempts();
    log(&outcome, action);
    if outcome.succeeded() {
        ledger.insert(key, outcome.clone());
    }
    outcome
}

fn log(outcome: &Outcome, action: &PlannedAction) {
    // The canonical target names a secret by its hash only.
    let target = action.target.canonical();
    match outcome.status {
        OutcomeStatus::Succeeded => tracing::info!(
            connector = %outcome.connector, case_id = %action.case_id, idempotency_key = %outcome.idempotency_key,
            kind = %action.kind, %target, attempts = outcome.attempts, "action succeeded: {}", outcome.details
        ),
        OutcomeStatus::Failed => tracing::warn!(
            connector = %outcome.connector, case_id = %action.case_id, idempotency_key = %outcome.idempotency_key,
            kind = %action.kind, %target, attempts = outcome.attempts, "action failed: {}", outcome.details
        ),
        OutcomeStatus::Unsupported => tracing::debug!(
            connector = %outcome.connector, case_id = %action.case_id, kind = %action.kind, %target,
            "action not supported: {}", outcome.details
        ),
    }
}

/// Returns the person an action targets, or `Unsupported` for another
/// target.
pub(crate) fn person(action: &PlannedAction) -> Result<&str, Failure> {
    match &action.target {
        phishloop_response::Target::Person { address } => Ok(address),
        other => Err(Failure::Unsupported(format!("{} needs a person target, not {}", action.kind, other.canonical()))),
    }
}

/// Builds the failure for a kind that a connector does not carry out.
pub(crate) fn unsupported(connector: &str, action: &PlannedAction) -> Failure {
    Failure::Unsupported(format!("connector {connector} does not carry out {}", action.kind))
}
