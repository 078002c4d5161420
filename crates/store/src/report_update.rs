//! A report's analysis, status and decision stored together with the events
//! that record them, in one transaction.
//!
//! The analysis worker changes a report twice per job: once when the analysis
//! is done and once when the decision is made. Each time it also appends
//! events. Storing each change with its events in one transaction means a
//! crash never leaves the change without its events, and on SQLite it costs
//! the single writer one transaction instead of one per statement.

use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::db::{Sql, on_writer, sqlite_now};
use crate::error::{Result, StoreError};
use crate::events::{EventSubject, append_all_in_tx};
use crate::reports::ReportStatus;
use crate::store::{Store, check_kind};

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
                let updated = match (update.analysis, update.status) {
                    (Some(analysis), Some(status)) => sqlx::query(SET_ANALYSIS_AND_STATUS.text(backend))
                        .bind(report_id)
                        .bind(status.as_str())
                        .bind(update.decision.map(Json))
                        .bind(Json(analysis))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected(),
                    (Some(analysis), None) => sqlx::query(SET_ANALYSIS.text(backend))
                        .bind(report_id)
                        .bind(Json(analysis))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected(),
                    (None, Some(status)) => sqlx::query(SET_STATUS.text(backend))
                        .bind(report_id)
                        .bind(status.as_str())
                        .bind(update.decision.map(Json))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected(),
                    (None, None) => 1,
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
