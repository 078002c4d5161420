//! The `blocklist` connector of the service: block actions add entries to
//! the store's block list, which the `/feeds` endpoints publish.
//!
//! The response crate's `BlockListConnector` keeps its list in memory. This
//! one uses the same entry checks but stores the entries, so every process
//! sharing the database publishes the same feeds and a restart loses none.

use async_trait::async_trait;
use chrono::Utc;
use phishloop_response::{
    BlockEntry, BlockKind, BlockList, Connector, Operation, Outcome, OutcomeStatus, PlannedAction,
};
use phishloop_store::{BlockEntryKind, BlockListing, Store};
use uuid::Uuid;

use crate::error::ServiceError;

/// Adds `block_url` and `block_domain` targets to the stored block list;
/// undo removes them. Other kinds are unsupported.
pub(crate) struct StoredBlockList {
    store: Store,
}

impl StoredBlockList {
    pub(crate) fn new(store: Store) -> Self {
        Self { store }
    }

    /// Returns the entry that carrying out `action` lists, or the outcome
    /// that explains why it lists none. The service stores the entry in the transaction
    /// that records the action as done (see `Responder::execute_local`).
    pub(crate) fn listing(&self, action: &PlannedAction, operation: Operation) -> Result<BlockListing, Box<Outcome>> {
        let outcome = |status, details: String| Box::new(Outcome::new(self.name(), action, operation, status, details));
        match BlockEntry::from_action(action, Utc::now(), None) {
            Ok(Some(entry)) => Ok(BlockListing { kind: stored_kind(entry.kind), value: entry.value }),
            Ok(None) => {
                Err(outcome(OutcomeStatus::Unsupported, format!("the block list cannot carry out {}", action.kind)))
            }
            Err(error) => Err(outcome(OutcomeStatus::Failed, error.to_string())),
        }
    }

    /// Returns the outcome of listing `listing` for `action`.
    pub(crate) fn listed(&self, action: &PlannedAction, listing: &BlockListing) -> Outcome {
        let details = format!("listed {}", listing.value);
        Outcome::new(self.name(), action, Operation::Execute, OutcomeStatus::Succeeded, details)
    }

    async fn apply(&self, action: &PlannedAction, operation: Operation) -> Outcome {
        let outcome = |status, details: String| Outcome::new(self.name(), action, operation, status, details);
        let listing = match self.listing(action, operation) {
            Ok(listing) => listing,
            Err(outcome) => return *outcome,
        };
        let Ok(case_id) = action.case_id.parse::<Uuid>() else {
            return outcome(OutcomeStatus::Failed, format!("invalid case id {:?}", action.case_id));
        };

        let result = match operation {
            Operation::Execute => self
                .store
                .add_block_entry(listing.kind, &listing.value, case_id, None, None)
                .await
                .map(|_| format!("listed {}", listing.value)),
            Operation::Undo => {
                self.store.remove_block_entry(listing.kind, &listing.value).await.map(|removed| match removed {
                    Some(_) => format!("removed {}", listing.value),
                    None => format!("{} was not listed", listing.value),
                })
            }
        };
        match result {
            Ok(details) => outcome(OutcomeStatus::Succeeded, details),
            Err(error) => outcome(OutcomeStatus::Failed, format!("storing the block-list entry failed: {error}")),
        }
    }
}

#[async_trait]
impl Connector for StoredBlockList {
    fn name(&self) -> &str {
        "blocklist"
    }

    async fn execute(&self, action: &PlannedAction) -> Outcome {
        self.apply(action, Operation::Execute).await
    }

    async fn undo(&self, action: &PlannedAction) -> Outcome {
        self.apply(action, Operation::Undo).await
    }
}

fn stored_kind(kind: BlockKind) -> BlockEntryKind {
    match kind {
        BlockKind::Url => BlockEntryKind::Url,
        BlockKind::Domain => BlockEntryKind::Domain,
    }
}

/// Renders the feed of one kind from the entries listed now.
///
/// An entry that no longer passes the feed's line checks (changed by hand
/// in the database) is left out and logged, so it cannot add a line.
pub(crate) async fn render_feed(store: &Store, kind: BlockKind) -> Result<String, ServiceError> {
    let now = Utc::now();
    let mut list = BlockList::new();
    for stored in store.listed_block_entries(stored_kind(kind)).await? {
        match BlockEntry::new(kind, &stored.value, &stored.case_id.to_string(), stored.added_at, stored.expires_at) {
            Ok(entry) => list.add(entry),
            Err(error) => tracing::warn!(entry_id = %stored.id, %error, "stored block-list entry left out of the feed"),
        }
    }
    Ok(list.render(kind, now))
}
