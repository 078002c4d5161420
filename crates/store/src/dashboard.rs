//! The rows behind the loop dashboard: each report of a period with its
//! decision and timing, and what each of their cases led to.
//!
//! Blocking, containment and training follow the definitions of the
//! service's metrics: a succeeded action that was not a dry run, and a
//! lesson in the outbox.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{Backend, Sql, on_reader};
use crate::error::Result;
use crate::outbox::{OutboxKind, OutboxMessage, OutboxRow, message_from_row, outbox_columns};
use crate::queue::sqlite_time;
use crate::reports::ReportStatus;
use crate::store::Store;

/// One report of the dashboard's period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardReport {
    pub report_id: Uuid,
    pub case_id: Option<Uuid>,
    pub received_at: DateTime<Utc>,
    /// When its `decided` event was written.
    pub decided_at: Option<DateTime<Utc>>,
    pub status: ReportStatus,
    pub verdict: Option<String>,
    pub category: Option<String>,
    /// The original's first From address.
    pub sender: Option<String>,
    /// True when the reporter has an outcome message in the outbox.
    pub reporter_told: bool,
    /// False when intake found no reporter address (stored as `unknown`),
    /// so no outcome message can be sent.
    pub reporter_known: bool,
}

/// What a case led to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEffect {
    pub case_id: Uuid,
    /// A block of a URL, domain or sender succeeded.
    pub blocked: bool,
    /// A block, purge, password reset, session or credential revocation or
    /// mailbox-rule removal succeeded.
    pub contained: bool,
    /// The first time a block or purge succeeded.
    pub first_containment_at: Option<DateTime<Utc>>,
    /// A lesson about the case is in the outbox.
    pub trained: bool,
}

const SELECT_DASHBOARD_REPORTS: Sql = Sql::each(
    "SELECT r.id, r.case_id, r.received_at,
        (SELECT e.created_at FROM events e WHERE e.report_id = r.id AND e.kind = 'decided' ORDER BY e.seq LIMIT 1),
        r.status, json_extract(r.decision, '$.verdict'), json_extract(r.decision, '$.category'),
        coalesce(json_extract(r.analysis, '$.message.headers.from[0].address'),
                 json_extract(r.analysis, '$.message.from[0].address')),
        EXISTS (SELECT 1 FROM outbox o WHERE o.report_id = r.id AND o.kind = 'outcome'),
        r.reporter <> 'unknown'
     FROM reports r WHERE r.received_at >= $1 ORDER BY r.received_at, r.id LIMIT $2",
    "SELECT r.id, r.case_id, r.received_at,
        (SELECT e.created_at FROM events e WHERE e.report_id = r.id AND e.kind = 'decided' ORDER BY e.seq LIMIT 1),
        r.status, r.decision ->> 'verdict', r.decision ->> 'category',
        coalesce(r.analysis #>> '{message,headers,from,0,address}', r.analysis #>> '{message,from,0,address}'),
        EXISTS (SELECT 1 FROM outbox o WHERE o.report_id = r.id AND o.kind = 'outcome'),
        r.reporter <> 'unknown'
     FROM reports r WHERE r.received_at >= $1 ORDER BY r.received_at, r.id LIMIT $2",
);

/// Action kinds that block, and the further kinds that contain.
macro_rules! blocking_kinds {
    () => {
        "'block_url', 'block_domain', 'block_sender'"
    };
}
macro_rules! containing_kinds {
    () => {
        concat!(
            blocking_kinds!(),
            ", 'purge_copies', 'reset_password', 'revoke_sessions', 'remove_mailbox_rules', 'revoke_credentials', 'rotate_credentials'"
        )
    };
}

const SELECT_CASE_EFFECTS: Sql = Sql::each(
    concat!(
        "SELECT c.id,
            EXISTS (SELECT 1 FROM actions a WHERE a.case_id = c.id AND a.status = 'succeeded'
                AND json_extract(a.outcome, '$.dry_run') = 0 AND a.kind IN (",
        blocking_kinds!(),
        ")),
            EXISTS (SELECT 1 FROM actions a WHERE a.case_id = c.id AND a.status = 'succeeded'
                AND json_extract(a.outcome, '$.dry_run') = 0 AND a.kind IN (",
        containing_kinds!(),
        ")),
            (SELECT min(a.finished_at) FROM actions a WHERE a.case_id = c.id AND a.status = 'succeeded'
                AND json_extract(a.outcome, '$.dry_run') = 0 AND a.kind IN (",
        blocking_kinds!(),
        ", 'purge_copies')),
            EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = c.id AND o.kind = 'lesson')
         FROM cases c WHERE EXISTS (SELECT 1 FROM reports r WHERE r.case_id = c.id AND r.received_at >= $1)"
    ),
    concat!(
        "SELECT c.id,
            EXISTS (SELECT 1 FROM actions a WHERE a.case_id = c.id AND a.status = 'succeeded'
                AND a.outcome ->> 'dry_run' = 'false' AND a.kind IN (",
        blocking_kinds!(),
        ")),
            EXISTS (SELECT 1 FROM actions a WHERE a.case_id = c.id AND a.status = 'succeeded'
                AND a.outcome ->> 'dry_run' = 'false' AND a.kind IN (",
        containing_kinds!(),
        ")),
            (SELECT min(a.finished_at) FROM actions a WHERE a.case_id = c.id AND a.status = 'succeeded'
                AND a.outcome ->> 'dry_run' = 'false' AND a.kind IN (",
        blocking_kinds!(),
        ", 'purge_copies')),
            EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = c.id AND o.kind = 'lesson')
         FROM cases c WHERE EXISTS (SELECT 1 FROM reports r WHERE r.case_id = c.id AND r.received_at >= $1)"
    ),
);

/// Messages of kind `$1`, or of every kind when it is NULL, newest first.
const SELECT_RECENT_MESSAGES: Sql = Sql::same(concat!(
    "SELECT ",
    outbox_columns!(),
    " FROM outbox WHERE ($1 IS NULL OR kind = $1) ORDER BY created_at DESC, id DESC LIMIT $2"
));

type DashboardRow = (
    Uuid,
    Option<Uuid>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    bool,
);

type EffectRow = (Uuid, bool, bool, Option<DateTime<Utc>>, bool);

impl Store {
    /// Returns up to `limit` reports received at or after `since`, oldest
    /// first, with what the dashboard shows of each.
    pub async fn dashboard_reports(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<DashboardReport>> {
        let rows: Vec<DashboardRow> = on_reader!(&self.reads, |pool, backend| {
            let query = sqlx::query_as(SELECT_DASHBOARD_REPORTS.text(backend));
            let query = match backend {
                Backend::Sqlite => query.bind(sqlite_time(since)),
                Backend::Postgres => query.bind(since),
            };
            query.bind(i64::from(limit)).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|row| {
                let (
                    report_id,
                    case_id,
                    received_at,
                    decided_at,
                    status,
                    verdict,
                    category,
                    sender,
                    reporter_told,
                    reporter_known,
                ) = row;
                Ok(DashboardReport {
                    report_id,
                    case_id,
                    received_at,
                    decided_at,
                    status: ReportStatus::from_column(&status)?,
                    verdict,
                    category,
                    sender,
                    reporter_told,
                    reporter_known,
                })
            })
            .collect()
    }

    /// Returns what each case with a report received at or after `since`
    /// led to.
    pub async fn case_effects(&self, since: DateTime<Utc>) -> Result<Vec<CaseEffect>> {
        let rows: Vec<EffectRow> = on_reader!(&self.reads, |pool, backend| {
            let query = sqlx::query_as(SELECT_CASE_EFFECTS.text(backend));
            let query = match backend {
                Backend::Sqlite => query.bind(sqlite_time(since)),
                Backend::Postgres => query.bind(since),
            };
            query.fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(case_id, blocked, contained, first_containment_at, trained)| CaseEffect {
                case_id,
                blocked,
                contained,
                first_containment_at,
                trained,
            })
            .collect())
    }

    /// Returns up to `limit` messages to people, newest first, of `kind`
    /// or of every kind.
    pub async fn recent_outbox_messages(&self, kind: Option<OutboxKind>, limit: u32) -> Result<Vec<OutboxMessage>> {
        let rows: Vec<OutboxRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_RECENT_MESSAGES.text(backend))
                .bind(kind.map(OutboxKind::as_str))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(message_from_row).collect()
    }
}
