//! The outbox: messages to people (acknowledgements, outcomes, lessons)
//! waiting to be sent.
//!
//! Each message is unique per subject (the report for acknowledgements and
//! outcomes, the case for lessons), kind and recipient, so queueing it again
//! returns the first one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{Sql, on_db, sqlite_now};
use crate::error::{Result, StoreError, invalid};
use crate::store::{Store, check_text};
use crate::text_enum::text_enum;

/// Maximum length of a recipient address: a 64-byte local part, `@` and a
/// 255-byte domain.
const MAX_RECIPIENT_BYTES: usize = 320;
const MAX_SUBJECT_BYTES: usize = 1024;

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
    }
}

impl std::str::FromStr for OutboxStatus {
    type Err = StoreError;

    /// Parses `queued` or `sent`.
    fn from_str(value: &str) -> Result<Self> {
        Self::from_column(value).map_err(|_| invalid("outbox status", format!("{value:?}: expected queued or sent")))
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
        "id, kind, recipient, subject, body_text, body_html, case_id, report_id, status, created_at, sent_at"
    };
}

type OutboxRow = (
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
);

const INSERT_MESSAGE: Sql = Sql::each(
    concat!(
        "INSERT INTO outbox (id, kind, recipient, subject, body_text, body_html, case_id, report_id, about_id, \
         status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', ",
        sqlite_now!(),
        ") ON CONFLICT (about_id, kind, recipient) DO NOTHING"
    ),
    "INSERT INTO outbox (id, kind, recipient, subject, body_text, body_html, case_id, report_id, about_id, \
     status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', now()) \
     ON CONFLICT (about_id, kind, recipient) DO NOTHING",
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
        ") WHERE id = $1 RETURNING ",
        outbox_columns!()
    ),
    concat!(
        "UPDATE outbox SET status = 'sent', sent_at = coalesce(sent_at, now()) WHERE id = $1 RETURNING ",
        outbox_columns!()
    ),
);

impl Store {
    /// Queues a message, or returns the one queued before for the same
    /// report (acknowledgements and outcomes) or case (lessons), kind and
    /// recipient.
    ///
    /// Fails with `InvalidInput` when an acknowledgement or outcome has no
    /// report id, or a lesson no case id.
    pub async fn queue_message(&self, message: &NewOutboxMessage) -> Result<QueuedMessage> {
        check_text("recipient", &message.recipient, MAX_RECIPIENT_BYTES)?;
        check_text("subject", &message.subject, MAX_SUBJECT_BYTES)?;
        self.check_payload("message text", &message.text)?;
        self.check_payload("message HTML", &message.html)?;
        let about_id = match message.kind {
            OutboxKind::Acknowledgement | OutboxKind::Outcome => message.report_id,
            OutboxKind::Lesson => message.case_id,
        };
        let Some(about_id) = about_id else {
            let reason = format!("a {} message needs its report id, a lesson its case id", message.kind);
            return Err(invalid("outbox message", reason));
        };
        let recipient = message.recipient.trim().to_lowercase();

        let id = Uuid::now_v7();
        let (inserted, row) = on_db!(&self.db, |pool, backend| {
            let inserted = sqlx::query(INSERT_MESSAGE.text(backend))
                .bind(id)
                .bind(message.kind.as_str())
                .bind(&recipient)
                .bind(&message.subject)
                .bind(&message.text)
                .bind(&message.html)
                .bind(message.case_id)
                .bind(message.report_id)
                .bind(about_id)
                .execute(pool)
                .await?
                .rows_affected();
            let row: OutboxRow = sqlx::query_as(SELECT_MESSAGE_BY_KEY.text(backend))
                .bind(about_id)
                .bind(message.kind.as_str())
                .bind(&recipient)
                .fetch_one(pool)
                .await?;
            (inserted == 1, row)
        });

        let stored = message_from_row(row)?;
        if inserted {
            tracing::debug!(message_id = %stored.id, kind = %stored.kind, "message queued");
        }
        Ok(QueuedMessage { message: stored, created: inserted })
    }

    /// Returns up to `filter.limit` messages that match the filter, oldest first.
    pub async fn outbox_messages(&self, filter: &OutboxFilter) -> Result<Vec<OutboxMessage>> {
        let rows: Vec<OutboxRow> = on_db!(&self.db, |pool, backend| {
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
        let row: Option<OutboxRow> = on_db!(&self.db, |pool, backend| {
            sqlx::query_as(MARK_SENT.text(backend)).bind(message_id).fetch_optional(pool).await?
        });
        let row = row.ok_or(StoreError::OutboxMessageNotFound(message_id))?;
        message_from_row(row)
    }
}

fn message_from_row(row: OutboxRow) -> Result<OutboxMessage> {
    let (id, kind, recipient, subject, text, html, case_id, report_id, status, created_at, sent_at) = row;
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
    })
}
