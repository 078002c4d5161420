//! The analyst queue: one row per case with what a person needs to pick
//! the next one, cases that need attention first.
//!
//! A case needs attention while one of its reports waits for review or
//! one of its actions waits for approval. Verdict, category and confidence
//! come from the case's latest decided report, and subject and sender from
//! its latest analysed one; the reports of a case share one original, so
//! they rarely differ.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{Backend, Sql, on_reader};
use crate::error::Result;
use crate::store::Store;

/// The most rows one queue request returns.
pub const MAX_QUEUE_ROWS: u32 = 1000;

/// Filters of `queue_cases`; `None` matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueFilter {
    /// Such as `malicious`.
    pub verdict: Option<String>,
    /// Such as `credential_harvesting`.
    pub category: Option<String>,
    pub campaign_id: Option<Uuid>,
    /// Cases last reported at or after this time.
    pub reported_since: Option<DateTime<Utc>>,
    /// Cases last reported before this time.
    pub reported_before: Option<DateTime<Utc>>,
    /// Only cases that need attention.
    pub attention_only: bool,
    /// At most this many rows, up to `MAX_QUEUE_ROWS`.
    pub limit: u32,
}

/// One case in the queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueCase {
    pub case_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// When its latest report arrived.
    pub last_reported_at: DateTime<Utc>,
    pub report_count: u64,
    /// Reports waiting for a person's review.
    pub needs_review_count: u64,
    /// Actions waiting for approval.
    pub awaiting_approval_count: u64,
    pub campaign_id: Option<Uuid>,
    pub verdict: Option<String>,
    pub category: Option<String>,
    pub confidence: Option<f64>,
    /// The original's subject, as the sender wrote it.
    pub subject: Option<String>,
    /// The original's first From address.
    pub sender: Option<String>,
}

impl QueueCase {
    /// True while a report waits for review or an action for approval.
    pub fn needs_attention(&self) -> bool {
        self.needs_review_count > 0 || self.awaiting_approval_count > 0
    }
}

/// The per-case figures; `$1`..`$7` are the filters, `$8` the limit.
const SELECT_QUEUE: Sql = Sql::each(
    "SELECT * FROM (
        SELECT c.id AS case_id, c.created_at AS created_at,
            max(r.received_at) AS last_reported_at,
            count(r.id) AS report_count,
            sum(CASE WHEN r.status = 'needs_review' THEN 1 ELSE 0 END) AS needs_review_count,
            (SELECT count(*) FROM actions a WHERE a.case_id = c.id AND a.status = 'awaiting_approval')
                AS awaiting_approval_count,
            (SELECT cc.campaign_id FROM campaign_cases cc WHERE cc.case_id = c.id) AS campaign_id,
            (SELECT json_extract(d.decision, '$.verdict') FROM reports d WHERE d.case_id = c.id
                AND d.decision IS NOT NULL ORDER BY d.received_at DESC, d.id DESC LIMIT 1) AS verdict,
            (SELECT json_extract(d.decision, '$.category') FROM reports d WHERE d.case_id = c.id
                AND d.decision IS NOT NULL ORDER BY d.received_at DESC, d.id DESC LIMIT 1) AS category,
            (SELECT CAST(json_extract(d.decision, '$.confidence') AS REAL) FROM reports d WHERE d.case_id = c.id
                AND d.decision IS NOT NULL ORDER BY d.received_at DESC, d.id DESC LIMIT 1) AS confidence,
            (SELECT coalesce(json_extract(s.analysis, '$.message.headers.subject'),
                             json_extract(s.analysis, '$.message.subject'))
                FROM reports s WHERE s.case_id = c.id AND s.analysis IS NOT NULL
                ORDER BY s.received_at DESC, s.id DESC LIMIT 1) AS subject,
            (SELECT coalesce(json_extract(s.analysis, '$.message.headers.from[0].address'),
                             json_extract(s.analysis, '$.message.from[0].address'))
                FROM reports s WHERE s.case_id = c.id AND s.analysis IS NOT NULL
                ORDER BY s.received_at DESC, s.id DESC LIMIT 1) AS sender
        FROM cases c JOIN reports r ON r.case_id = c.id
        GROUP BY c.id, c.created_at
    ) q
    WHERE ($1 IS NULL OR q.verdict = $1)
      AND ($2 IS NULL OR q.category = $2)
      AND ($3 IS NULL OR q.campaign_id = $3)
      AND ($4 IS NULL OR q.last_reported_at >= $4)
      AND ($5 IS NULL OR q.last_reported_at < $5)
      AND ($6 = 0 OR q.needs_review_count > 0 OR q.awaiting_approval_count > 0)
    ORDER BY (q.needs_review_count > 0 OR q.awaiting_approval_count > 0) DESC, q.last_reported_at DESC, q.case_id
    LIMIT $7",
    "SELECT * FROM (
        SELECT c.id AS case_id, c.created_at AS created_at,
            max(r.received_at) AS last_reported_at,
            count(r.id) AS report_count,
            sum(CASE WHEN r.status = 'needs_review' THEN 1 ELSE 0 END)::bigint AS needs_review_count,
            (SELECT count(*) FROM actions a WHERE a.case_id = c.id AND a.status = 'awaiting_approval')
                AS awaiting_approval_count,
            (SELECT cc.campaign_id FROM campaign_cases cc WHERE cc.case_id = c.id) AS campaign_id,
            (SELECT d.decision ->> 'verdict' FROM reports d WHERE d.case_id = c.id
                AND d.decision IS NOT NULL ORDER BY d.received_at DESC, d.id DESC LIMIT 1) AS verdict,
            (SELECT d.decision ->> 'category' FROM reports d WHERE d.case_id = c.id
                AND d.decision IS NOT NULL ORDER BY d.received_at DESC, d.id DESC LIMIT 1) AS category,
            (SELECT (d.decision ->> 'confidence')::float8 FROM reports d WHERE d.case_id = c.id
                AND d.decision IS NOT NULL ORDER BY d.received_at DESC, d.id DESC LIMIT 1) AS confidence,
            (SELECT coalesce(s.analysis #>> '{message,headers,subject}', s.analysis #>> '{message,subject}')
                FROM reports s WHERE s.case_id = c.id AND s.analysis IS NOT NULL
                ORDER BY s.received_at DESC, s.id DESC LIMIT 1) AS subject,
            (SELECT coalesce(s.analysis #>> '{message,headers,from,0,address}',
                             s.analysis #>> '{message,from,0,address}')
                FROM reports s WHERE s.case_id = c.id AND s.analysis IS NOT NULL
                ORDER BY s.received_at DESC, s.id DESC LIMIT 1) AS sender
        FROM cases c JOIN reports r ON r.case_id = c.id
        GROUP BY c.id, c.created_at
    ) q
    WHERE ($1::text IS NULL OR q.verdict = $1)
      AND ($2::text IS NULL OR q.category = $2)
      AND ($3::uuid IS NULL OR q.campaign_id = $3)
      AND ($4::timestamptz IS NULL OR q.last_reported_at >= $4)
      AND ($5::timestamptz IS NULL OR q.last_reported_at < $5)
      AND (NOT $6::boolean OR q.needs_review_count > 0 OR q.awaiting_approval_count > 0)
    ORDER BY (q.needs_review_count > 0 OR q.awaiting_approval_count > 0) DESC, q.last_reported_at DESC, q.case_id
    LIMIT $7",
);

type QueueRow = (
    Uuid,
    DateTime<Utc>,
    DateTime<Utc>,
    i64,
    i64,
    i64,
    Option<Uuid>,
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<String>,
    Option<String>,
);

impl Store {
    /// Returns the cases that match `filter`: those that need attention
    /// first, then the most recently reported.
    pub async fn queue_cases(&self, filter: &QueueFilter) -> Result<Vec<QueueCase>> {
        let limit = i64::from(filter.limit.clamp(1, MAX_QUEUE_ROWS));
        let rows: Vec<QueueRow> = on_reader!(&self.reads, |pool, backend| {
            let query = sqlx::query_as(SELECT_QUEUE.text(backend))
                .bind(filter.verdict.as_deref())
                .bind(filter.category.as_deref())
                .bind(filter.campaign_id);
            let query = match backend {
                // SQLite keeps times as fixed-width text, so the bounds are compared as that text.
                Backend::Sqlite => query
                    .bind(filter.reported_since.map(sqlite_time))
                    .bind(filter.reported_before.map(sqlite_time))
                    .bind(filter.attention_only),
                Backend::Postgres => {
                    query.bind(filter.reported_since).bind(filter.reported_before).bind(filter.attention_only)
                }
            };
            query.bind(limit).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(queue_case_from_row).collect())
    }
}

/// Writes a time as the SQLite schema stores it: UTC, milliseconds, `Z`.
pub(crate) fn sqlite_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn queue_case_from_row(row: QueueRow) -> QueueCase {
    let (
        case_id,
        created_at,
        last_reported_at,
        report_count,
        needs_review_count,
        awaiting_approval_count,
        campaign_id,
        verdict,
        category,
        confidence,
        subject,
        sender,
    ) = row;
    let count = |value: i64| u64::try_from(value).unwrap_or(0);
    QueueCase {
        case_id,
        created_at,
        last_reported_at,
        report_count: count(report_count),
        needs_review_count: count(needs_review_count),
        awaiting_approval_count: count(awaiting_approval_count),
        campaign_id,
        verdict,
        category,
        confidence,
        subject,
        sender,
    }
}
