//! Persistence of phishloop on SQLite (the embedded default) and PostgreSQL
//! (for production and for more than one machine), with the same schema,
//! migrations and behaviour on both.
//!
//! The store contains:
//!
//! - **Raw messages**: each reported original once, keyed by the SHA-256 of
//!   its bytes and compressed with zstd. Reading checks the recorded size and
//!   the hash, so a changed row is an error, never wrong content.
//! - **Reports and cases**: a report (who reported what, from which source,
//!   its status, decision and analysis summary) joins the one case of its
//!   join key. The caller computes the key, such as the Message-ID plus a
//!   content fingerprint, and the case lists every reporter.
//! - **A job queue with leases**: `claim` takes the oldest due job and leases
//!   it to one worker for a given time. The worker extends the lease with
//!   `heartbeat` and ends it with `complete` or `fail`. When a lease expires,
//!   another worker may claim the job again, which counts another attempt and
//!   gives a new lease token, so the first worker's `complete` then fails with
//!   `LeaseLost` instead of overwriting. After `max_attempts` claims the job
//!   is `dead` with its last error kept. `enqueue` with an idempotency key
//!   already used for the kind returns the existing job.
//! - **An event log**: append-only (database triggers reject UPDATE and
//!   DELETE) and hash-chained. Each event stores the SHA-256 of the previous
//!   event's hash and its own content, and `verify_chain` recomputes the chain
//!   and names the first event that does not match. Someone with full write
//!   access to the database can still drop the triggers and rewrite every
//!   event and the head consistently, so keep copies of `chain_head`
//!   elsewhere to detect that.
//! - **API tokens**: the SHA-256 of each access token of the HTTP API, with
//!   its name and role. Revoked tokens stay, marked with the revocation time.
//! - **Response and coaching records**: the actions planned for each case,
//!   unique by idempotency key, with status, outcome and approver. The
//!   outbox of messages to people, unique per report or case, kind and
//!   recipient. The block-list entries that the feeds publish.
//! - **Web accounts and sessions**: local accounts with Argon2id password
//!   hashes, roles and sign-in throttling, and browser sessions stored by
//!   the SHA-256 of their cookie. Verdict corrections and rejected actions,
//!   each with who and why and an event in the chain.
//! - **Identity verdicts**: per case, who received the message, who clicked
//!   and who submitted credentials, with the log lines behind each verdict,
//!   and every import of click evidence with the entries it excluded.
//! - **Campaigns**: cases grouped by the keys of their campaign signatures
//!   (`phishloop-campaign`). `assign_campaign` finds campaigns by exact key
//!   lookup, joins or merges them, and counts cases and distinct reporters.
//!
//! # Clock
//!
//! Every stored time and every lease comparison comes from the database
//! server's clock. PostgreSQL uses `now()`, and `clock_timestamp()` for
//! events. SQLite uses its `'now'`, which is the clock of the machine that
//! runs the process. Workers on several machines therefore agree on lease
//! expiry even when their own clocks differ. On SQLite, times are stored as
//! fixed-width UTC text with millisecond precision.
//!
//! # Concurrency
//!
//! Every operation is safe from many tasks at once, and on PostgreSQL from
//! many processes and machines. Claims use `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL and one atomic `UPDATE ... RETURNING` on SQLite. Raw messages,
//! cases and jobs are created with `INSERT ... ON CONFLICT DO NOTHING` and then
//! read, so concurrent creators of the same row end up with one row. Event
//! appends are serialised by the chain's head row.
//!
//! ```no_run
//! # async fn demo() -> Result<(), phishloop_store::StoreError> {
//! use std::time::Duration;
//! use phishloop_store::Store;
//!
//! let store = Store::connect("sqlite://phishloop.db").await?;
//! let sha256 = store.put_raw(b"From: a@example.org\r\n\r\nHello").await?;
//! store.enqueue("analyse", &serde_json::json!({ "raw": sha256 }), sha256.as_str()).await?;
//! if let Some(claimed) = store.claim("worker-1", &["analyse"], Duration::from_secs(60)).await? {
//!     store.complete(&claimed.lease).await?;
//! }
//! # Ok(())
//! # }
//! ```

mod actions;
mod block_list;
mod campaigns;
mod config;
mod dashboard;
mod db;
mod error;
mod events;
mod identity;
mod jobs;
mod outbox;
mod queue;
mod raw;
mod receive;
mod report_update;
mod reports;
mod review;
mod sessions;
mod store;
mod text_enum;
mod tokens;
mod users;

pub use actions::{Action, ActionMode, ActionStatus, ActionTransition, BlockListing, CreatedAction, NewAction};
pub use block_list::{BlockEntryKind, StoredBlockEntry};
pub use campaigns::{Campaign, CampaignAssignment, CampaignDetail};
pub use config::{SqliteSync, StoreConfig};
pub use dashboard::{CaseEffect, DashboardReport};
pub use db::Backend;
pub use error::{Result, StoreError};
pub use events::{ChainBreak, ChainHead, ChainProblem, ChainVerification, Event, EventSubject};
pub use identity::{
    ClickImport, IdentityPerson, MAX_EVIDENCE_PER_PERSON, MAX_IMPORT_DETAILS, NewClickImport, PersonEvidence,
    PersonVerdict, RecordedClicks, VerdictChange,
};
pub use jobs::{ClaimedJob, Enqueued, Job, JobNotifications, JobOptions, JobStatus, Lease};
pub use outbox::{NewOutboxMessage, OutboxFilter, OutboxKind, OutboxMessage, OutboxStatus, QueuedMessage};
pub use queue::{MAX_QUEUE_ROWS, QueueCase, QueueFilter};
pub use raw::Sha256Hex;
pub use receive::{IncomingReport, ReceiptEvent, ReceivedReport};
pub use report_update::{DecisionEvent, DecisionRecord, NewEvent, RecordedDecision, ReportUpdate};
pub use reports::{Case, CaseDetail, CaseJoin, CreatedReport, NewReport, Report, ReportSource, ReportStatus, Reporter};
pub use review::{Correction, CorrectionRecord, NewCorrection};
pub use sessions::Session;
pub use store::Store;
pub use tokens::{ApiToken, TokenRole};
pub use users::{User, UserRole};
