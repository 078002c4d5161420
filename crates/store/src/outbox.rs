//! The outbox: messages to people (acknowledgements, outcomes, lessons)
//! waiting to be sent.
//!
//! Each message is unique per subject (the report for acknowledgements and
//! outcomes, the case for lessons), kind and recipient, so queueing it again
//! returns the first one.
//!
//! Delivery claims due messages under a lease (`claim_messages`), so two
//! processes never hold the same message at once. A sender that stops
//! after sending but before `mark_message_sent` leaves the message to be
//! sent again when its lease expires: delivery is at least once, and the
//! repeat carries the same Message-ID.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::db::{Sql, on_reader, on_writer, sqlite_now, sqlite_now_plus_ms};
use crate::error::{Result, StoreError, invalid};
use crate::events::{EventSubject, append_all_in_tx};
use crate::store::{Store, check_kind, check_text, delay_ms, duration_ms};
use crate::text_enum::text_enum;

/// Maximum length of a recipient address: a 64-byte local part, `@` and a
/// 255-byte domain.
const MAX_RECIPIENT_BYTES: usize = 320;
const MAX_SUBJECT_BYTES: usize = 1024;
/// Longer delivery errors are cut to this many bytes before they are stored.
const MAX_ERROR_BYTES: usize = 4096;
const MAX_CLAIM: u32 = 1000;

text_enum! {
    /// The kind of a queued message.
    pub enum OutboxKind in "outbox.kind" {
        /// Tells the reporter that the report arrived.
        Acknowledgement = "acknowledgement",
        /// Tells the reporter what the report was and what it changed.
        Outcome = "outcome",
        /// Teaches a recipient of the message about the lure.
        Lesson = "lesson",
    }
}

text_enum! {
    /// Whether a message has been sent.
    pub enum OutboxStatus in "outbox.status" {
        Queued = "queued",
        Sent = "sent",
        /// Rejected permanently, or out of delivery attempts; `last_error` says why.
        Failed = "failed",
    }
}

impl std::str::FromStr for OutboxStatus {
    type Err = StoreError;

    /// Parses `queued`, `sent` or `failed`.
    fn from_str(value: &str) -> Result<Self> {
        Self::from_column(value)
            .map_err(|_| invalid("outbox status", format!("{value:?}: expected queued, sent or failed")))
    }
}

/// A message to queue with `queue_message`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOutboxMessage {
    pub kind: OutboxKind,
    /// The address the message goes to; stored in lowercase.
    pub recipient: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub case_id: Option<Uuid>,
    /// The report the message is about; required for acknowledgements and
    /// outcomes.
    pub report_id: Option<Uuid>,
}

/// A queued or sent message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub kind: OutboxKind,
    pub recipient: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub case_id: Option<Uuid>,
    pub report_id: Option<Uuid>,
    pub status: OutboxStatus,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Delivery attempts so far, the one in progress included.
    pub attempts: u32,
    /// The error of the last failed delivery attempt.
    pub last_error: Option<String>,
    /// The earliest time of the next attempt; `None` while due at once.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The Message-ID the message was sent with, angle brackets included.
    pub smtp_message_id: Option<String>,
}

/// The result of `queue_message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMessage {
    pub message: OutboxMessage,
    /// False when the same message was queued before; `message` is then that one.
    pub created: bool,
}

/// The filter of `outbox_messages`; `None` fields match every message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxFilter {
    pub status: Option<OutboxStatus>,
    pub kind: Option<OutboxKind>,
    /// Messages of this case and of its reports, such as the acknowledgement
    /// queued before the report joined the case.
    pub case_id: Option<Uuid>,
    pub limit: u32,
}

macro_rules! outbox_columns {
    () => {
        "id, kind, recipient, subject, body_text, body_html, case_id, report_id, status, created_at, sent_at, \
         attempts, last_error, next_attempt_at, smtp_message_id"
    };
}
pub(crate) use outbox_columns;

pub(crate) type OutboxRow = (
    Uuid,
    String,
    String,
    String,
    String,
    String,
    Option<Uuid>,
    Option<Uuid>,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    i64,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<String>,
);

pub(crate) const INSERT_MESSAGE: Sql = Sql::each(
    concat!(
        "INSERT INTO outbox (id, kind, recipient, subject, body_text, body_html, case_id, report_id, about_id, \
         status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', ",
        sqlite_now!(),
        ") ON CONFLICT (about_id, kind, recipient) DO NOTHING RETURNING ",
        outbox_columns!()
    ),
    concat!(
        "INSERT INTO outbox (id, kind, recipient, subject, body_text, body_html, case_id, report_id, about_id, \
         status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', now()) \
         ON CONFLICT (about_id, kind, recipient) DO NOTHING RETURNING ",
        outbox_columns!()
    ),
);

const SELECT_MESSAGE_BY_KEY: Sql = Sql::same(concat!(
    "SELECT ",
    outbox_columns!(),
    " FROM outbox WHERE about_id = $1 AND kind = $2 AND recipient = $3"
));

/// Optional filters are NULL when not set.
const SELECT_MESSAGES: Sql = Sql::same(concat!(
    "SELECT ",
    outbox_columns!(),
    " FROM outbox WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR kind = $2) AND ($3 IS NULL OR case_id = $3 \
     OR report_id IN (SELECT id FROM reports WHERE case_id = $3)) ORDER BY created_at, id LIMIT $4"
));

const MARK_SENT: Sql = Sql::each(
    concat!(
        "UPDATE outbox SET status = 'sent', sent_at = coalesce(sent_at, ",
        sqlite_now!(),
        "), smtp_message_id = coalesce(smtp_message_id, $2), lease_token = NULL, lease_until = NULL \
         WHERE id = $1 RETURNING ",
        outbox_columns!()
    ),
    concat!(
        "UPDATE outbox SET status = 'sent', sent_at = coalesce(sent_at, now()), \
         smtp_message_id = coalesce(smtp_message_id, $2), lease_token = NULL, lease_until = NULL \
         WHERE id = $1 RETURNING ",
        outbox_columns!()
    ),
);

/// Leases up to `$3` queued messages that are due and not leased, oldest
/// first, for `$2` milliseconds. On PostgreSQL `FOR UPDATE SKIP LOCKED`
/// makes concurrent claimers pass over rows another claimer has locked; on
/// SQLite the statement holds the single write lock from select to update.
const CLAIM_MESSAGES: Sql = Sql::each(
    concat!(
        "UPDATE outbox SET attempts = attempts + 1, lease_token = $1, lease_until = ",
        sqlite_now_plus_ms!("$2"),
        " WHERE id IN (SELECT id FROM outbox WHERE status = 'queued' AND (next_attempt_at IS NULL OR \
         next_attempt_at <= ",
        sqlite_now!(),
        ") AND (lease_until IS NULL OR lease_until <= ",
        sqlite_now!(),
        ") ORDER BY created_at, id LIMIT $3) RETURNING ",
        outbox_columns!()
    ),
    concat!(
        "UPDATE outbox SET attempts = attempts + 1, lease_token = $1, \
         lease_until = now() + $2 * interval '1 millisecond' \
         WHERE id IN (SELECT id FROM outbox WHERE status = 'queued' AND (next_attempt_at IS NULL OR \
         next_attempt_at <= now()) AND (lease_until IS NULL OR lease_until <= now()) \
         ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING ",
        outbox_columns!()
    ),
);

/// Puts a leased message back in the queue until `$3` milliseconds from now.
const RETRY_LATER: Sql = Sql::each(
    concat!(
        "UPDATE outbox SET last_error = $2, next_attempt_at = ",
        sqlite_now_plus_ms!("$3"),
        ", lease_token = NULL, lease_until = NULL WHERE id = $1 AND status = 'queued' RETURNING ",
        outbox_columns!()
    ),
    concat!(
        "UPDATE outbox SET last_error = $2, next_attempt_at = now() + $3 * interval '1 millisecond', \
         lease_token = NULL, lease_until = NULL WHERE id = $1 AND status = 'queued' RETURNING ",
        outbox_columns!()
    ),
);

const MARK_FAILED: Sql = Sql::each(
    concat!(
        "UPDATE outbox SET status = 'failed', last_error = $2, failed_at = ",
        sqlite_now!(),
        ", lease_token = NULL, lease_until = NULL WHERE id = $1 AND status = 'queued' RETURNING ",
        outbox_columns!()
    ),
    concat!(
        "UPDATE outbox SET status = 'failed', last_error = $2, failed_at = now(), lease_token = NULL, \
         lease_until = NULL WHERE id = $1 AND status = 'queued' RETURNING ",
        outbox_columns!()
    ),
);

const SELECT_MESSAGE: Sql = Sql::same(concat!("SELECT ", outbox_columns!(), " FROM outbox WHERE id = $1"));

impl Store {
    /// Queues a message, or returns the one queued before for the same
    /// report (acknowledgements and outcomes) or case (lessons), kind and
    /// recipient.
    ///
    /// Fails with `InvalidInput` when an acknowledgement or outcome has no
    /// report id, or a lesson no case id.
    pub async fn queue_message(&self, message: &NewOutboxMessage) -> Result<QueuedMessage> {
        self.queue_message_with(message, |_| None).await
    }

    /// Queues a message like `queue_message` and appends the event that
    /// `event` returns for it like `queue_message_recorded`.
    pub async fn queue_message_with(
        &self,
        message: &NewOutboxMessage,
        event: impl FnOnce(&QueuedMessage) -> Option<(EventSubject, &'static str, Value)>,
    ) -> Result<QueuedMessage> {
        let about_id = match message.kind {
            OutboxKind::Acknowledgement | OutboxKind::Outcome => message.report_id,
            OutboxKind::Lesson => message.case_id,
        };
        let Some(about_id) = about_id else {
            let reason = format!("a {} message needs its report id, a lesson its case id", message.kind);
            return Err(invalid("outbox message", reason));
        };
        self.queue_message_recorded(message, about_id, event).await
    }

    /// Queues a message that is unique per `about_id`, kind and recipient
    /// instead of per report or case, such as a second lesson of one case
    /// for a person who clicked, keyed by that person's verdict row.
    pub async fn queue_message_about(&self, message: &NewOutboxMessage, about_id: Uuid) -> Result<QueuedMessage> {
        self.queue_message_recorded(message, about_id, |_| None).await
    }

    /// Queues a message like `queue_message_about` and appends the event that
    /// `event` returns for the queued message, if any, in the same
    /// transaction. So the pair costs one commit, and a crash never leaves
    /// the message without its event.
    pub async fn queue_message_recorded(
        &self,
        message: &NewOutboxMessage,
        about_id: Uuid,
        event: impl FnOnce(&QueuedMessage) -> Option<(EventSubject, &'static str, Value)>,
    ) -> Result<QueuedMessage> {
        let recipient = self.check_message(message)?;

        let id = Uuid::now_v7();
        let queued = on_writer!(&self.db, |pool, backend| {
            async {
                let mut tx = pool.begin().await?;
                // The insert returns the new row; only a message queued before costs a second statement.
                let inserted: Option<OutboxRow> = sqlx::query_as(INSERT_MESSAGE.text(backend))
                    .bind(id)
                    .bind(message.kind.as_str())
                    .bind(&recipient)
                    .bind(&message.subject)
                    .bind(&message.text)
                    .bind(&message.html)
                    .bind(message.case_id)
                    .bind(message.report_id)
                    .bind(about_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let (created, row) = match inserted {
                    Some(row) => (true, row),
                    None => {
                        let row: OutboxRow = sqlx::query_as(SELECT_MESSAGE_BY_KEY.text(backend))
                            .bind(about_id)
                            .bind(message.kind.as_str())
                            .bind(&recipient)
                            .fetch_one(&mut *tx)
                            .await?;
                        (false, row)
                    }
                };
                let queued = QueuedMessage { message: message_from_row(row)?, created };
                if let Some((subject, kind, payload)) = event(&queued) {
                    check_kind("event kind", kind)?;
                    let payload_text = payload.to_string();
                    self.check_payload("event payload", &payload_text)?;
                    append_all_in_tx!(tx, backend, &[(subject, kind, payload_text)])
                        .await
                        .map_err(|error| subject_missing(error, subject))?;
                }
                tx.commit().await?;
                Ok::<_, StoreError>(queued)
            }
            .await?
        });

        if queued.created {
            tracing::debug!(message_id = %queued.message.id, kind = %queued.message.kind, "message queued");
        }
        Ok(queued)
    }

    /// Checks a new message against the limits and returns its recipient as
    /// stored: trimmed and in lowercase.
    pub(crate) fn check_message(&self, message: &NewOutboxMessage) -> Result<String> {
        check_text("recipient", &message.recipient, MAX_RECIPIENT_BYTES)?;
        check_text("subject", &message.subject, MAX_SUBJECT_BYTES)?;
        self.check_payload("message text", &message.text)?;
        self.check_payload("message HTML", &message.html)?;
        Ok(message.recipient.trim().to_lowercase())
    }

    /// Returns up to `filter.limit` messages that match the filter, oldest first.
    pub async fn outbox_messages(&self, filter: &OutboxFilter) -> Result<Vec<OutboxMessage>> {
        let rows: Vec<OutboxRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_MESSAGES.text(backend))
                .bind(filter.status.map(OutboxStatus::as_str))
                .bind(filter.kind.map(OutboxKind::as_str))
                .bind(filter.case_id)
                .bind(i64::from(filter.limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(message_from_row).collect()
    }

    /// Marks a message as sent; marking it again keeps the first time.
    /// Fails with `OutboxMessageNotFound` for an unknown id.
    pub async fn mark_message_sent(&self, message_id: Uuid) -> Result<OutboxMessage> {
        self.record_delivery(message_id, None).await
    }

    /// Marks a message as sent with the Message-ID it was sent with and
    /// ends its lease. Marking it again keeps the first time and id.
    /// Fails with `OutboxMessageNotFound` for an unknown id.
    pub async fn record_delivery(&self, message_id: Uuid, smtp_message_id: Option<&str>) -> Result<OutboxMessage> {
        let row: Option<OutboxRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(MARK_SENT.text(backend)).bind(message_id).bind(smtp_message_id).fetch_optional(pool).await?
        });
        let row = row.ok_or(StoreError::OutboxMessageNotFound(message_id))?;
        message_from_row(row)
    }

    /// Leases up to `limit` (at most 1000) queued messages that are due,
    /// oldest first, for `lease`, and counts an attempt for each. A message
    /// whose lease expires without `record_delivery`, `retry_message_later`
    /// or `mark_message_failed` can be claimed again.
    pub async fn claim_messages(&self, limit: u32, lease: std::time::Duration) -> Result<Vec<OutboxMessage>> {
        let limit = limit.clamp(1, MAX_CLAIM);
        let lease_ms = duration_ms("lease", lease, std::time::Duration::from_secs(24 * 60 * 60))?;
        let token = Uuid::new_v4();
        let rows: Vec<OutboxRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(CLAIM_MESSAGES.text(backend))
                .bind(token)
                .bind(lease_ms)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        let mut messages: Vec<OutboxMessage> = rows.into_iter().map(message_from_row).collect::<Result<_>>()?;
        messages.sort_by_key(|message| (message.created_at, message.id));
        Ok(messages)
    }

    /// Records a failed delivery attempt and makes the queued message due
    /// again after `delay`. Fails with `OutboxMessageNotFound` when the
    /// message is unknown or no longer queued.
    pub async fn retry_message_later(
        &self,
        message_id: Uuid,
        error: &str,
        delay: std::time::Duration,
    ) -> Result<OutboxMessage> {
        let delay_ms = delay_ms("retry delay", delay, std::time::Duration::from_secs(366 * 24 * 60 * 60))?;
        let error = truncate(error);
        let row: Option<OutboxRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(RETRY_LATER.text(backend))
                .bind(message_id)
                .bind(error)
                .bind(delay_ms)
                .fetch_optional(pool)
                .await?
        });
        let row = row.ok_or(StoreError::OutboxMessageNotFound(message_id))?;
        message_from_row(row)
    }

    /// Marks a queued message `failed` with the reason: it was rejected
    /// permanently or ran out of attempts. Fails with
    /// `OutboxMessageNotFound` when the message is unknown or no longer queued.
    pub async fn mark_message_failed(&self, message_id: Uuid, error: &str) -> Result<OutboxMessage> {
        let error = truncate(error);
        let row: Option<OutboxRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(MARK_FAILED.text(backend)).bind(message_id).bind(error).fetch_optional(pool).await?
        });
        let row = row.ok_or(StoreError::OutboxMessageNotFound(message_id))?;
        message_from_row(row)
    }

    /// Returns one outbox message, or `None` for an unknown id.
    pub async fn get_message(&self, message_id: Uuid) -> Result<Option<OutboxMessage>> {
        let row: Option<OutboxRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_MESSAGE.text(backend)).bind(message_id).fetch_optional(pool).await?
        });
        row.map(message_from_row).transpose()
    }
}

/// Cuts an error text to `MAX_ERROR_BYTES` at a character boundary.
fn truncate(error: &str) -> &str {
    if error.len() <= MAX_ERROR_BYTES {
        return error;
    }
    let mut end = MAX_ERROR_BYTES;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    &error[..end]
}

/// Maps a foreign key violation of an event append to the missing subject.
fn subject_missing(error: sqlx::Error, subject: EventSubject) -> StoreError {
    match (error, subject) {
        (sqlx::Error::Database(e), EventSubject::Case(id)) if e.is_foreign_key_violation() => {
            StoreError::CaseNotFound(id)
        }
        (sqlx::Error::Database(e), EventSubject::Report(id)) if e.is_foreign_key_violation() => {
            StoreError::ReportNotFound(id)
        }
        (other, _) => other.into(),
    }
}

pub(crate) fn message_from_row(row: OutboxRow) -> Result<OutboxMessage> {
    let (
        id,
        kind,
        recipient,
        subject,
        text,
        html,
        case_id,
        report_id,
        status,
        created_at,
        sent_at,
        attempts,
        last_error,
        next_attempt_at,
        smtp_message_id,
    ) = row;
    Ok(OutboxMessage {
        id,
        kind: OutboxKind::from_column(&kind)?,
        recipient,
        subject,
        text,
        html,
        case_id,
        report_id,
        status: OutboxStatus::from_column(&status)?,
        created_at,
        sent_at,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        last_error,
        next_attempt_at,
        smtp_message_id,
    })
}
