//! A report's analysis, status and decision stored together with the events
//! that record them, in one transaction.
//!
//! Storing each change with its events in one transaction means a crash
//! never leaves the change without its events, and on SQLite it costs the
//! single writer one transaction instead of one per statement.
//! `record_decision`, which the analysis worker uses, also puts the report
//! into its case and the case into its campaign in that transaction, and
//! checks the job's lease there.

use serde_json::Value;
use sqlx::Connection as _;
use sqlx::types::Json;
use uuid::Uuid;

use crate::campaigns::{CampaignAssignment, assign_in, check_keys, take_assign_lock};
use crate::db::{Sql, Tx, Writes, on_tx, on_writer, sqlite_now};
use crate::error::{Result, StoreError};
use crate::events::{EventSubject, append_all_in_tx};
use crate::jobs::Lease;
use crate::reports::{
    CaseJoin, INSERT_CASE, MAX_JOIN_KEY_BYTES, ReportStatus, SELECT_CASE_ID_BY_KEY, SELECT_REPORT_CASE,
    UPDATE_REPORT_CASE, other_case_error,
};
use crate::store::{Store, check_kind, check_text};
use phishloop_campaign::SignatureKey;

/// Changes of one report. A `None` field leaves the stored value as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReportUpdate<'a> {
    /// The analysis summary, replacing an earlier one.
    pub analysis: Option<&'a Value>,
    /// The new status.
    pub status: Option<ReportStatus>,
    /// The decision; only stored together with a status.
    pub decision: Option<&'a Value>,
}

/// An event to append with a `ReportUpdate`.
#[derive(Clone, Copy, Debug)]
pub struct NewEvent<'a> {
    pub subject: EventSubject,
    pub kind: &'a str,
    pub payload: &'a Value,
}

const SET_ANALYSIS: Sql = Sql::each(
    concat!("UPDATE reports SET analysis = $2, updated_at = ", sqlite_now!(), " WHERE id = $1"),
    "UPDATE reports SET analysis = $2, updated_at = now() WHERE id = $1",
);

const SET_STATUS: Sql = Sql::each(
    concat!(
        "UPDATE reports SET status = $2, decision = coalesce($3, decision), updated_at = ",
        sqlite_now!(),
        " WHERE id = $1"
    ),
    "UPDATE reports SET status = $2, decision = coalesce($3, decision), updated_at = now() WHERE id = $1",
);

/// Both of the above in one statement.
const SET_ANALYSIS_AND_STATUS: Sql = Sql::each(
    concat!(
        "UPDATE reports SET analysis = $4, status = $2, decision = coalesce($3, decision), updated_at = ",
        sqlite_now!(),
        " WHERE id = $1"
    ),
    "UPDATE reports SET analysis = $4, status = $2, decision = coalesce($3, decision), updated_at = now() \
     WHERE id = $1",
);

impl Store {
    /// Stores `update` of a report and appends `events` in order, all in one
    /// transaction. Writes nothing when both are empty.
    ///
    /// Fails with `ReportNotFound` when the report does not exist,
    /// `CaseNotFound` when the subject of an event does not exist (the
    /// first case among the subjects, or the report when there is none),
    /// `DecisionMissing` when the status is `decided` and the report would
    /// have no decision, and `PayloadTooLarge` for an oversized analysis,
    /// decision or event payload.
    pub async fn update_report_recorded(
        &self,
        report_id: Uuid,
        update: ReportUpdate<'_>,
        events: &[NewEvent<'_>],
    ) -> Result<()> {
        let analysis_text = update.analysis.map(Value::to_string);
        if let Some(text) = &analysis_text {
            self.check_payload("analysis summary", text)?;
        }
        if let Some(decision) = update.decision {
            self.check_payload("decision", &decision.to_string())?;
        }
        let mut batch = Vec::with_capacity(events.len());
        for event in events {
            check_kind("event kind", event.kind)?;
            let payload_text = event.payload.to_string();
            self.check_payload("event payload", &payload_text)?;
            batch.push((event.subject, event.kind, payload_text));
        }
        if update.analysis.is_none() && update.status.is_none() && batch.is_empty() {
            return Ok(());
        }

        let stored: std::result::Result<u64, sqlx::Error> = on_writer!(&self.db, |pool, backend| {
            async {
                let mut tx = pool.begin().await?;
                let updated = match update_statement(&update) {
                    Some(statement) => {
                        let mut query = sqlx::query(statement.text(backend)).bind(report_id);
                        if let Some(status) = update.status {
                            query = query.bind(status.as_str()).bind(update.decision.map(Json));
                        }
                        if let Some(analysis) = update.analysis {
                            query = query.bind(Json(analysis));
                        }
                        query.execute(&mut *tx).await?.rows_affected()
                    }
                    None => 1,
                };
                if updated == 0 {
                    // Rolled back on drop; nothing of the batch is stored.
                    return Ok(0);
                }
                append_all_in_tx!(tx, backend, &batch).await?;
                tx.commit().await?;
                Ok(updated)
            }
            .await
        });

        match stored {
            Ok(0) => Err(StoreError::ReportNotFound(report_id)),
            Ok(_) => {
                tracing::debug!(%report_id, status = ?update.status, events = batch.len(), "report updated");
                Ok(())
            }
            // The only CHECK these statements can break is "decided needs a decision".
            Err(sqlx::Error::Database(e)) if e.is_check_violation() && update.status == Some(ReportStatus::Decided) => {
                Err(StoreError::DecisionMissing { report_id })
            }
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => Err(missing_subject(report_id, &batch)),
            Err(e) => Err(e.into()),
        }
    }
}

/// Returns the statement that stores `update`, or `None` when it changes
/// nothing. Each binds the report id, then the status and decision when a
/// status is given, then the analysis when one is given.
fn update_statement(update: &ReportUpdate<'_>) -> Option<Sql> {
    match (update.analysis, update.status) {
        (Some(_), Some(_)) => Some(SET_ANALYSIS_AND_STATUS),
        (Some(_), None) => Some(SET_ANALYSIS),
        (None, Some(_)) => Some(SET_STATUS),
        (None, None) => None,
    }
}

/// Returns the error for a foreign key violation of an event batch: the first
/// case subject, or the report itself when all events are about reports.
fn missing_subject(report_id: Uuid, batch: &[(EventSubject, &str, String)]) -> StoreError {
    let case = batch.iter().find_map(|(subject, _, _)| match subject {
        EventSubject::Case(id) => Some(*id),
        EventSubject::Report(_) => None,
    });
    match case {
        Some(case_id) => StoreError::CaseNotFound(case_id),
        None => StoreError::ReportNotFound(report_id),
    }
}

/// The data the analysis worker stores for a decided report (see
/// `Store::record_decision`).
#[derive(Clone, Copy, Debug)]
pub struct DecisionRecord<'a> {
    pub report_id: Uuid,
    /// The lease of the job that decided; nothing is stored once another
    /// worker holds the job.
    pub lease: &'a Lease,
    /// The key of the report's case, as for `join_case`.
    pub join_key: &'a str,
    /// The case's campaign keys, as for `assign_campaign`; none leaves the
    /// case out of campaigns.
    pub campaign_keys: &'a [SignatureKey],
    pub update: ReportUpdate<'a>,
}

/// The result of `Store::record_decision`.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedDecision {
    pub case: CaseJoin,
    /// Whether the report was in this case before the call, as after an
    /// earlier attempt of its job.
    pub joined_before: bool,
    /// The campaign assignment, when campaign keys were given.
    pub campaign: Option<CampaignAssignment>,
}

/// An event that `Store::record_decision` appends, built from what it did.
pub type DecisionEvent = (EventSubject, &'static str, Value);

/// The job's id while the lease holds it. On PostgreSQL the row stays
/// locked until the transaction ends, so a claim by another worker, which
/// skips locked rows, cannot take the job over before the commit.
const SELECT_LEASE_HELD: Sql = Sql::each(
    "SELECT id FROM jobs WHERE id = $1 AND lease_token = $2 AND status = 'running'",
    "SELECT id FROM jobs WHERE id = $1 AND lease_token = $2 AND status = 'running' FOR SHARE",
);

impl Store {
    /// Stores a decided report in one transaction. It checks that `lease` is
    /// still the job's current lease, puts the report into its case (as
    /// `join_case` does) and the case into its campaign (`assign_campaign`).
    /// It then stores the analysis, status and decision
    /// (`update_report_recorded`) and appends the events that `events`
    /// builds from the case and campaign it found.
    ///
    /// One transaction means that a retried job finds either everything of
    /// an earlier attempt or nothing of it, so the case's `report_joined`
    /// and `campaign_joined` events are never lost between two commits,
    /// and a worker that lost its lease stores nothing. On SQLite it costs
    /// the single writer one commit instead of four.
    ///
    /// Fails with `LeaseLost` when another claim replaced the lease, and
    /// otherwise as `join_case`, `assign_campaign` and
    /// `update_report_recorded` do.
    pub async fn record_decision(
        &self,
        record: DecisionRecord<'_>,
        events: impl FnOnce(&RecordedDecision) -> Vec<DecisionEvent>,
    ) -> Result<RecordedDecision> {
        check_text("join key", record.join_key, MAX_JOIN_KEY_BYTES)?;
        if !record.campaign_keys.is_empty() {
            check_keys(record.campaign_keys)?;
        }
        let analysis_text = record.update.analysis.map(Value::to_string);
        if let Some(text) = &analysis_text {
            self.check_payload("analysis summary", text)?;
        }
        if let Some(decision) = record.update.decision {
            self.check_payload("decision", &decision.to_string())?;
        }

        let outcome = match &self.db {
            Writes::Sqlite(writer) => {
                let mut guard = writer.lock().await?;
                let mut tx = Tx::Sqlite(guard.connection()?.begin_with("BEGIN IMMEDIATE").await?);
                let outcome = self.decide_in(&mut tx, &record, events).await;
                if outcome.is_ok() {
                    tx.commit().await?;
                }
                outcome
            }
            Writes::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // Taken before any row is written, as `assign_campaign` does,
                // so two decisions cannot each wait for a lock the other holds.
                if !record.campaign_keys.is_empty() {
                    take_assign_lock(&mut tx).await?;
                }
                let mut tx = Tx::Postgres(tx);
                let outcome = self.decide_in(&mut tx, &record, events).await;
                if outcome.is_ok() {
                    tx.commit().await?;
                }
                outcome
            }
        };
        match outcome {
            Ok(recorded) => {
                tracing::debug!(
                    report_id = %record.report_id,
                    case_id = %recorded.case.case_id,
                    case_created = recorded.case.case_created,
                    status = ?record.update.status,
                    "decision recorded"
                );
                Ok(recorded)
            }
            Err(StoreError::LeaseLost { .. }) => Err(self.lease_lost(record.lease).await),
            Err(error) => Err(error),
        }
    }

    /// Runs the steps of `record_decision` inside its transaction. On an
    /// error the caller drops the transaction, which rolls it back.
    async fn decide_in(
        &self,
        tx: &mut Tx<'_>,
        record: &DecisionRecord<'_>,
        events: impl FnOnce(&RecordedDecision) -> Vec<DecisionEvent>,
    ) -> Result<RecordedDecision> {
        let report_id = record.report_id;
        let lease = record.lease;
        let leased_job: Option<Uuid> = on_tx!(tx, |conn, backend| {
            sqlx::query_scalar(SELECT_LEASE_HELD.text(backend))
                .bind(lease.job_id)
                .bind(lease.token)
                .fetch_optional(conn)
                .await?
        });
        if leased_job.is_none() {
            // `record_decision` reads the reason after the rollback.
            return Err(StoreError::LeaseLost {
                job_id: lease.job_id,
                worker_id: lease.worker_id.clone(),
                attempt: i64::from(lease.attempt),
                reason: String::new(),
            });
        }

        let current: Option<(Option<Uuid>,)> = on_tx!(tx, |conn, backend| {
            sqlx::query_as(SELECT_REPORT_CASE.text(backend)).bind(report_id).fetch_optional(conn).await?
        });
        let current = current.ok_or(StoreError::ReportNotFound(report_id))?.0;
        let inserted: Option<Uuid> = on_tx!(tx, |conn, backend| {
            sqlx::query_scalar(INSERT_CASE.text(backend))
                .bind(Uuid::now_v7())
                .bind(record.join_key)
                .fetch_optional(conn)
                .await?
        });
        let case = match inserted {
            Some(case_id) => CaseJoin { case_id, case_created: true },
            None => {
                let case_id: Uuid = on_tx!(tx, |conn, backend| {
                    sqlx::query_scalar(SELECT_CASE_ID_BY_KEY.text(backend))
                        .bind(record.join_key)
                        .fetch_one(conn)
                        .await?
                });
                CaseJoin { case_id, case_created: false }
            }
        };
        if let Some(current) = current
            && current != case.case_id
        {
            return Err(other_case_error(report_id, current, case.case_id, record.join_key));
        }
        if current.is_none() {
            let updated = on_tx!(tx, |conn, backend| {
                sqlx::query(UPDATE_REPORT_CASE.text(backend))
                    .bind(case.case_id)
                    .bind(report_id)
                    .execute(conn)
                    .await?
                    .rows_affected()
            });
            if updated == 0 {
                // On PostgreSQL another transaction can put the report into
                // a case after the read above.
                let now: Option<(Option<Uuid>,)> = on_tx!(tx, |conn, backend| {
                    sqlx::query_as(SELECT_REPORT_CASE.text(backend)).bind(report_id).fetch_optional(conn).await?
                });
                let now = now.and_then(|(case_id,)| case_id).unwrap_or(case.case_id);
                return Err(other_case_error(report_id, now, case.case_id, record.join_key));
            }
        }

        let campaign = if record.campaign_keys.is_empty() {
            None
        } else {
            Some(assign_in(tx, case.case_id, record.campaign_keys).await?)
        };

        let update = record.update;
        if let Some(statement) = update_statement(&update) {
            let stored = on_tx!(tx, |conn, backend| {
                let mut query = sqlx::query(statement.text(backend)).bind(report_id);
                if let Some(status) = update.status {
                    query = query.bind(status.as_str()).bind(update.decision.map(Json));
                }
                if let Some(analysis) = update.analysis {
                    query = query.bind(Json(analysis));
                }
                query.execute(conn).await.map(|done| done.rows_affected())
            });
            match stored {
                Ok(_) => {}
                Err(sqlx::Error::Database(e))
                    if e.is_check_violation() && update.status == Some(ReportStatus::Decided) =>
                {
                    return Err(StoreError::DecisionMissing { report_id });
                }
                Err(e) => return Err(e.into()),
            }
        }

        let recorded = RecordedDecision { joined_before: current == Some(case.case_id), case, campaign };
        let mut batch = Vec::new();
        for (subject, kind, payload) in events(&recorded) {
            check_kind("event kind", kind)?;
            let payload_text = payload.to_string();
            self.check_payload("event payload", &payload_text)?;
            batch.push((subject, kind, payload_text));
        }
        let appended = on_tx!(tx, |conn, backend| append_all_in_tx!(conn, backend, &batch).await);
        match appended {
            Ok(_) => Ok(recorded),
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => Err(missing_subject(report_id, &batch)),
            Err(e) => Err(e.into()),
        }
    }
}
