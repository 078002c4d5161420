//! The store's error type.

use uuid::Uuid;

use crate::raw::Sha256Hex;

/// Errors of every store operation.
///
/// Messages name the value that failed and, where the caller can act, the fix.
/// Database URLs in messages never contain a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("unsupported database URL {url:?}: use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE")]
    UnsupportedUrl { url: String },

    #[error("invalid database URL {url:?}: {source}")]
    InvalidUrl {
        url: String,
        #[source]
        source: sqlx::Error,
    },

    #[error("failed to connect to {url}: {source}; {hint}")]
    Connect {
        url: String,
        hint: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("failed to run the database migrations on {url}: {source}")]
    Migrate {
        url: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },

    #[error(
        "message of {size} bytes exceeds the maximum message size of {limit} bytes; \
         raise max_message_bytes in the store configuration to accept it"
    )]
    MessageTooLarge { size: usize, limit: usize },

    #[error(
        "{payload_name} of {size} bytes exceeds the maximum payload size of {limit} bytes; \
         store large data as a raw message and refer to it by its SHA-256, or raise max_payload_bytes"
    )]
    PayloadTooLarge { payload_name: &'static str, size: usize, limit: usize },

    #[error("invalid SHA-256 {value:?}: expected 64 lowercase hexadecimal characters")]
    InvalidSha256 { value: String },

    #[error("stored raw message {sha256} is corrupt: {reason}")]
    CorruptRaw { sha256: Sha256Hex, reason: String },

    #[error(
        "stored raw message {sha256} is {size} bytes, more than max_message_bytes ({limit}); \
         raise the limit to read it"
    )]
    StoredRawTooLarge { sha256: Sha256Hex, size: u64, limit: usize },

    #[error("raw message {0} not found: store it with put_raw before creating a report that refers to it")]
    RawNotFound(Sha256Hex),

    #[error("report {0} not found")]
    ReportNotFound(Uuid),

    #[error("case {0} not found")]
    CaseNotFound(Uuid),

    #[error("API token {0} not found")]
    TokenNotFound(Uuid),

    #[error(
        "an API token with the same SHA-256 exists already (new token named {name:?}): generate a new random token"
    )]
    TokenExists { name: String },

    #[error("user {name:?} exists already: choose another name, or change that account's password")]
    UserExists { name: String },

    #[error("user {name:?} not found: `phishloop user list` lists the accounts")]
    UserNotFound { name: String },

    #[error("job {0} not found")]
    JobNotFound(Uuid),

    #[error("action {0} not found")]
    ActionNotFound(Uuid),

    #[error(
        "action {action_id} is {status}, not {expected}, so it cannot change that way; list the case's actions to see its current status"
    )]
    ActionStatusConflict { action_id: Uuid, status: crate::ActionStatus, expected: crate::ActionStatus },

    #[error("outbox message {0} not found")]
    OutboxMessageNotFound(Uuid),

    #[error(
        "report {report_id} already belongs to case {current_case}, so it cannot join case {requested_case} \
         (join key {join_key:?}); a report belongs to one case"
    )]
    ReportInOtherCase { report_id: Uuid, current_case: Uuid, requested_case: Uuid, join_key: String },

    #[error("cannot set report {report_id} to status decided without a decision: pass the decision JSON")]
    DecisionMissing { report_id: Uuid },

    #[error(
        "worker {worker_id:?} no longer holds the lease on job {job_id} (attempt {attempt}): {reason}; \
         discard this attempt's result"
    )]
    LeaseLost { job_id: Uuid, worker_id: String, attempt: i64, reason: String },

    #[error("job {job_id} is {status}, not dead, so it cannot be retried")]
    JobNotDead { job_id: Uuid, status: String },

    #[error("invalid value {value:?} in column {column}: the row was written by a newer phishloop or changed by hand")]
    InvalidStoredValue { column: &'static str, value: String },

    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Shorthand for results of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Returns an `InvalidInput` error for `field`.
pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidInput { field, reason: reason.into() }
}
