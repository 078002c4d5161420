//! What people decide about cases: verdict corrections and rejected actions.
//!
//! A correction changes the verdict and lure category of every decided
//! report of a case, clears their review flag, stores who changed it and
//! why, and appends `verdict_corrected` to the case, all in one
//! transaction. A rejection moves an action that awaits approval to
//! `rejected` with who and why, and appends `action_rejected`, also in one
//! transaction. The store does not know verdict or category names; the
//! caller checks them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::types::Json;
use uuid::Uuid;

use crate::actions::{Action, ActionRow, ActionStatus, action_columns, action_from_row};
use crate::db::{Sql, on_reader, on_writer, sqlite_now};
use crate::error::{Result, StoreError, invalid};
use crate::events::{EventSubject, append_in_tx};
use crate::store::{Store, check_text};

const MAX_NAME_BYTES: usize = 200;
const MAX_LABEL_BYTES: usize = 100;
const MAX_REASON_BYTES: usize = 4 * 1024;

/// A verdict change to store with `correct_verdict`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCorrection {
    pub case_id: Uuid,
    /// The new verdict, such as `malicious`.
    pub verdict: String,
    /// The new lure category, such as `credential_harvesting`.
    pub category: String,
    /// The account that made the change.
    pub corrected_by: String,
    /// Why, in the person's words; at most 4 KiB.
    pub reason: String,
}

/// A stored verdict change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    pub id: Uuid,
    pub case_id: Uuid,
    /// The verdict of the case's latest decided report before the change.
    pub verdict_before: Option<String>,
    pub category_before: Option<String>,
    pub verdict: String,
    pub category: String,
    pub corrected_by: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

/// The result of `correct_verdict`.
#[derive(Clone, Debug, PartialEq)]
pub struct CorrectionRecord {
    pub correction: Correction,
    /// The reports whose decision changed, oldest first.
    pub report_ids: Vec<Uuid>,
    /// The chain position of the `verdict_corrected` event.
    pub event_seq: u64,
}

macro_rules! correction_columns {
    () => {
        "id, case_id, verdict_before, category_before, verdict, category, corrected_by, reason, created_at"
    };
}

type CorrectionRow = (Uuid, Uuid, Option<String>, Option<String>, String, String, String, String, DateTime<Utc>);

/// The decided reports of a case, newest first.
const SELECT_DECIDED_REPORTS: Sql = Sql::same(
    "SELECT id, decision FROM reports WHERE case_id = $1 AND decision IS NOT NULL ORDER BY received_at DESC, id DESC",
);

const SELECT_CASE_EXISTS: Sql = Sql::same("SELECT id FROM cases WHERE id = $1");

/// Stores the changed decision; a report waiting for review becomes decided.
const UPDATE_REPORT_DECISION: Sql = Sql::each(
    concat!(
        "UPDATE reports SET decision = $2, status = CASE WHEN status = 'needs_review' THEN 'decided' ELSE status END, \
         updated_at = ",
        sqlite_now!(),
        " WHERE id = $1"
    ),
    "UPDATE reports SET decision = $2, status = CASE WHEN status = 'needs_review' THEN 'decided' ELSE status END, \
     updated_at = now() WHERE id = $1",
);

const INSERT_CORRECTION: Sql = Sql::each(
    concat!(
        "INSERT INTO corrections (",
        correction_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ",
        sqlite_now!(),
        ") RETURNING ",
        correction_columns!()
    ),
    concat!(
        "INSERT INTO corrections (",
        correction_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) RETURNING ",
        correction_columns!()
    ),
);

const SELECT_CASE_CORRECTIONS: Sql = Sql::same(concat!(
    "SELECT ",
    correction_columns!(),
    " FROM corrections WHERE case_id = $1 ORDER BY created_at, id"
));

const REJECT_ACTION: Sql = Sql::each(
    concat!(
        "UPDATE actions SET status = 'rejected', outcome = $2, updated_at = ",
        sqlite_now!(),
        ", finished_at = ",
        sqlite_now!(),
        " WHERE id = $1 AND status = 'awaiting_approval' RETURNING ",
        action_columns!()
    ),
    concat!(
        "UPDATE actions SET status = 'rejected', outcome = $2, updated_at = now(), finished_at = now() \
         WHERE id = $1 AND status = 'awaiting_approval' RETURNING ",
        action_columns!()
    ),
);

impl Store {
    /// Sets the verdict and category of every decided report of a case,
    /// clears their review flag (`needs_review` reports become `decided`),
    /// stores the correction and appends `verdict_corrected` to the case,
    /// in one transaction.
    ///
    /// A report that has no decision yet is left alone, and its analysis
    /// job decides it as usual. Fails with `CaseNotFound` for an unknown
    /// case, and with `InvalidInput` for an empty verdict, category, name or
    /// reason, or when the case has no decided report.
    pub async fn correct_verdict(&self, correction: &NewCorrection) -> Result<CorrectionRecord> {
        check_text("verdict", &correction.verdict, MAX_LABEL_BYTES)?;
        check_text("category", &correction.category, MAX_LABEL_BYTES)?;
        check_text("corrected_by", &correction.corrected_by, MAX_NAME_BYTES)?;
        check_text("reason", &correction.reason, MAX_REASON_BYTES)?;

        let id = Uuid::now_v7();
        let case_id = correction.case_id;
        let recorded: (CorrectionRow, Vec<Uuid>, i64) = on_writer!(&self.db, |pool, backend| {
            async {
                let mut tx = pool.begin().await?;
                let case: Option<(Uuid,)> =
                    sqlx::query_as(SELECT_CASE_EXISTS.text(backend)).bind(case_id).fetch_optional(&mut *tx).await?;
                if case.is_none() {
                    return Err(StoreError::CaseNotFound(case_id));
                }
                let reports: Vec<(Uuid, Value)> =
                    sqlx::query_as(SELECT_DECIDED_REPORTS.text(backend)).bind(case_id).fetch_all(&mut *tx).await?;
                let Some((_, latest)) = reports.first() else {
                    let reason = format!("case {case_id} has no decided report yet: wait for its analysis");
                    return Err(invalid("correction", reason));
                };
                let verdict_before = text_field(latest, "verdict");
                let category_before = text_field(latest, "category");

                let mut report_ids = Vec::with_capacity(reports.len());
                for (report_id, decision) in reports.iter().rev() {
                    let changed = corrected_decision(decision, correction);
                    self.check_payload("decision", &changed.to_string())?;
                    sqlx::query(UPDATE_REPORT_DECISION.text(backend))
                        .bind(report_id)
                        .bind(Json(&changed))
                        .execute(&mut *tx)
                        .await?;
                    report_ids.push(*report_id);
                }
                let row: CorrectionRow = sqlx::query_as(INSERT_CORRECTION.text(backend))
                    .bind(id)
                    .bind(case_id)
                    .bind(&verdict_before)
                    .bind(&category_before)
                    .bind(&correction.verdict)
                    .bind(&correction.category)
                    .bind(&correction.corrected_by)
                    .bind(&correction.reason)
                    .fetch_one(&mut *tx)
                    .await?;
                let payload = json!({
                    "correction_id": id,
                    "verdict_before": verdict_before,
                    "category_before": category_before,
                    "verdict": correction.verdict,
                    "category": correction.category,
                    "corrected_by": correction.corrected_by,
                    "reason": correction.reason,
                    "report_ids": report_ids,
                })
                .to_string();
                self.check_payload("event payload", &payload)?;
                let (_, seq, _, _, _) =
                    append_in_tx!(tx, backend, EventSubject::Case(case_id), "verdict_corrected", &payload).await?;
                tx.commit().await?;
                Ok::<_, StoreError>((row, report_ids, seq))
            }
            .await?
        });

        let (row, report_ids, seq) = recorded;
        let correction = correction_from_row(row);
        tracing::debug!(%case_id, correction_id = %correction.id, verdict = %correction.verdict, "verdict corrected");
        Ok(CorrectionRecord {
            correction,
            report_ids,
            event_seq: u64::try_from(seq).map_err(|_| invalid("event seq", seq.to_string()))?,
        })
    }

    /// Returns the corrections of a case, oldest first.
    pub async fn corrections_for_case(&self, case_id: Uuid) -> Result<Vec<Correction>> {
        let rows: Vec<CorrectionRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_CASE_CORRECTIONS.text(backend)).bind(case_id).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(correction_from_row).collect())
    }

    /// Rejects an action that awaits approval: sets it to `rejected` with an
    /// outcome naming `rejected_by` and `reason`, and appends
    /// `action_rejected` to its case, in one transaction.
    ///
    /// Fails with `ActionNotFound` for an unknown id, with
    /// `ActionStatusConflict` when the action does not await approval, and
    /// with `InvalidInput` for an empty name or reason.
    pub async fn reject_action(&self, action_id: Uuid, rejected_by: &str, reason: &str) -> Result<Action> {
        check_text("rejected_by", rejected_by, MAX_NAME_BYTES)?;
        check_text("reason", reason, MAX_REASON_BYTES)?;
        let outcome = json!({
            "operation": "reject",
            "status": "rejected",
            "details": format!("rejected by {rejected_by}: {reason}"),
            "rejected_by": rejected_by,
            "reason": reason,
        });

        let rejected: Option<Action> = on_writer!(&self.db, |pool, backend| {
            async {
                let mut tx = pool.begin().await?;
                let row: Option<ActionRow> = sqlx::query_as(REJECT_ACTION.text(backend))
                    .bind(action_id)
                    .bind(Json(&outcome))
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Ok::<_, StoreError>(None);
                };
                let action = action_from_row(row)?;
                let payload = json!({
                    "action_id": action.id,
                    "kind": action.kind,
                    "rejected_by": rejected_by,
                    "reason": reason,
                })
                .to_string();
                append_in_tx!(tx, backend, EventSubject::Case(action.case_id), "action_rejected", &payload).await?;
                tx.commit().await?;
                Ok(Some(action))
            }
            .await?
        });
        match rejected {
            Some(action) => {
                tracing::debug!(%action_id, "action rejected");
                Ok(action)
            }
            None => match self.get_action(action_id).await? {
                Some(action) => Err(StoreError::ActionStatusConflict {
                    action_id,
                    status: action.status,
                    expected: ActionStatus::AwaitingApproval,
                }),
                None => Err(StoreError::ActionNotFound(action_id)),
            },
        }
    }
}

fn text_field(decision: &Value, key: &str) -> Option<String> {
    decision.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Returns `decision` with the corrected verdict and category and without
/// the review flag; every other field, the evidence included, stays.
fn corrected_decision(decision: &Value, correction: &NewCorrection) -> Value {
    let mut changed = decision.clone();
    if let Some(object) = changed.as_object_mut() {
        object.insert("verdict".to_owned(), Value::String(correction.verdict.clone()));
        object.insert("category".to_owned(), Value::String(correction.category.clone()));
        object.insert("needs_review".to_owned(), Value::Bool(false));
    }
    changed
}

fn correction_from_row(row: CorrectionRow) -> Correction {
    let (id, case_id, verdict_before, category_before, verdict, category, corrected_by, reason, created_at) = row;
    Correction { id, case_id, verdict_before, category_before, verdict, category, corrected_by, reason, created_at }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrected_decision_keeps_evidence() {
        let decision = json!({ "verdict": "suspicious", "category": "none", "needs_review": true, "evidence": [1] });
        let correction = NewCorrection {
            case_id: Uuid::nil(),
            verdict: "malicious".to_owned(),
            category: "credential_harvesting".to_owned(),
            corrected_by: "alice".to_owned(),
            reason: "fake sign-in page".to_owned(),
        };

        let changed = corrected_decision(&decision, &correction);

        assert_eq!(changed["verdict"], "malicious");
        assert_eq!(changed["category"], "credential_harvesting");
        assert_eq!(changed["needs_review"], false);
        assert_eq!(changed["evidence"], json!([1]));
    }
}
