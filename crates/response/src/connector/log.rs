//! The `log` connector: a dry run that records what would be done.

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Connector, Operation, Outcome, OutcomeStatus};
use crate::action::{ActionKind, PlannedAction, Target};

/// One operation the log connector was asked to carry out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DryRunRecord {
    pub operation: Operation,
    pub kind: ActionKind,
    pub target: Target,
    pub idempotency_key: String,
    /// The same sentence as the outcome's details.
    pub description: String,
}

/// Most records a log connector keeps; older ones are dropped, so a
/// long-running service does not grow without bound. The log keeps them all.
const MAX_RECORDS: usize = 1_000;

/// Records each action instead of carrying it out, and logs it at `info`.
/// Every operation succeeds, undo included.
#[derive(Debug, Default)]
pub struct LogConnector {
    records: Mutex<Vec<DryRunRecord>>,
}

impl LogConnector {
    pub fn new() -> Self {
        LogConnector::default()
    }

    /// The last 1000 operations recorded, oldest first.
    pub fn records(&self) -> Vec<DryRunRecord> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn record(&self, action: &PlannedAction, operation: Operation) -> Outcome {
        let verb = match operation {
            Operation::Execute => "would",
            Operation::Undo => "would undo",
        };
        let description = format!("dry run: {verb} {} {} for case {}", action.kind, action.target, action.case_id);
        // The line names the case in its field, and the target in the form
        // that keeps addresses in URLs out of the log.
        tracing::info!(
            case_id = %action.case_id,
            idempotency_key = %action.idempotency_key,
            kind = %action.kind,
            target = %action.target.for_log(),
            "dry run: {verb} {}",
            action.kind
        );

        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        if records.len() >= MAX_RECORDS {
            records.remove(0);
        }
        records.push(DryRunRecord {
            operation,
            kind: action.kind,
            target: action.target.clone(),
            idempotency_key: action.idempotency_key.clone(),
            description: description.clone(),
        });
        drop(records);

        let mut outcome = Outcome::new(self.name(), action, operation, OutcomeStatus::Succeeded, description);
        outcome.dry_run = true;
        outcome
    }
}

#[async_trait]
impl Connector for LogConnector {
    fn name(&self) -> &str {
        "log"
    }

    fn can_undo(&self, _action: &PlannedAction) -> bool {
        true
    }

    async fn execute(&self, action: &PlannedAction) -> Outcome {
        self.record(action, Operation::Execute)
    }

    async fn undo(&self, action: &PlannedAction) -> Outcome {
        self.record(action, Operation::Undo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{Mode, idempotency_key};

    #[test]
    fn records_keep_only_the_latest() {
        let connector = LogConnector::new();
        let target = Target::Team { name: "analysts".to_string() };
        let action = PlannedAction {
            case_id: "case-1".to_string(),
            kind: ActionKind::Notify,
            idempotency_key: idempotency_key("case-1", ActionKind::Notify, &target, "log"),
            target,
            mode: Mode::Auto,
            connector: "log".to_string(),
            playbook: "test".to_string(),
            reversible: false,
            note: None,
        };

        for _ in 0..MAX_RECORDS + 5 {
            connector.record(&action, Operation::Execute);
        }

        assert_eq!(connector.records().len(), MAX_RECORDS);
    }

    #[test]
    fn url_targets_logged_without_addresses() {
        let cases = [
            ("https://login.example.net/verify?user=alice@corp.example", "url:https://login.example.net/verify?..."),
            ("https://login.example.net/a/alice%40corp.example/x", "url:https://login.example.net/..."),
            ("https://login.example.net/a/alice@corp.example#top", "url:https://login.example.net/...?..."),
            ("https://login.example.net/plain/path", "url:https://login.example.net/plain/path"),
            ("https://login.example.net", "url:https://login.example.net"),
            ("https://alice@corp.example@login.example.net/x", "url:https://...@login.example.net/x"),
            ("not a url", "url:not a url"),
            ("alice@corp.example", "url:..."),
        ];
        for (url, expected) in cases {
            let target = Target::Url { url: url.to_string() };
            assert_eq!(target.for_log(), expected, "{url}");
        }
        let person = Target::Person { address: "alice@corp.example".to_string() };
        assert_eq!(person.for_log(), person.to_string());
    }
}
