//! Reports and the cases that group reports of the same original message.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::db::{Sql, on_reader, on_writer, sqlite_now};
use crate::error::{Result, StoreError};
use crate::raw::Sha256Hex;
use crate::store::{Store, check_text};
use crate::text_enum::text_enum;

/// Maximum length of a reporter address: a 64-byte local part, `@` and a
/// 255-byte domain.
const MAX_REPORTER_BYTES: usize = 320;
const MAX_COMMENT_BYTES: usize = 16 * 1024;
pub(crate) const MAX_JOIN_KEY_BYTES: usize = 1024;
const MAX_SOURCE_KEY_BYTES: usize = 1024;

text_enum! {
    /// The channel through which a report arrived.
    pub enum ReportSource in "reports.source" {
        Api = "api",
        Cli = "cli",
        Imap = "imap",
        /// The reporting mailbox read through Microsoft Graph.
        Graph = "graph",
    }
}

text_enum! {
    /// The state of a report in the loop.
    pub enum ReportStatus in "reports.status" {
        /// Stored, waiting for analysis.
        Received = "received",
        /// Analysed, waiting for a decision.
        Analysed = "analysed",
        /// Below the confidence threshold: waiting for an analyst.
        NeedsReview = "needs_review",
        /// Decided; the report has a decision.
        Decided = "decided",
        /// Every action is done and the reporter has heard back.
        Closed = "closed",
    }
}

/// A report to store with `create_report`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewReport {
    /// Address of the person who reported, at most 320 bytes.
    pub reporter: String,
    /// The reporter's own words, at most 16 KiB.
    pub comment: Option<String>,
    pub source: ReportSource,
    /// The reported original, stored with `put_raw` first.
    pub raw_sha256: Sha256Hex,
    /// Identifies the message at its source, such as
    /// `imap:{account}:{mailbox}:{uidvalidity}:{uid}`, at most 1024 bytes.
    /// A report with a key that is already stored is not created again.
    #[serde(default)]
    pub source_key: Option<String>,
}

/// The result of `create_report_once`.
#[derive(Clone, Debug, PartialEq)]
pub struct CreatedReport {
    pub report: Report,
    /// False when a report with the same source key existed; `report` is then that one.
    pub created: bool,
}

/// A stored report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub id: Uuid,
    /// Time the store accepted the report, from the database clock.
    pub received_at: DateTime<Utc>,
    pub reporter: String,
    pub comment: Option<String>,
    pub source: ReportSource,
    pub raw_sha256: Sha256Hex,
    pub status: ReportStatus,
    /// The triage decision as JSON; always present when `status` is `decided`.
    pub decision: Option<Value>,
    /// The analysis summary as JSON.
    pub analysis: Option<Value>,
    /// The case this report joined, if it joined one.
    pub case_id: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
}

/// A group of reports of the same original message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: Uuid,
    /// The caller's key for "same original", such as the Message-ID plus a
    /// content fingerprint. Unique.
    pub join_key: String,
    pub created_at: DateTime<Utc>,
}

/// A person who reported a case, with all of their reports of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reporter {
    /// The address as written in this person's first report.
    pub address: String,
    pub first_reported_at: DateTime<Utc>,
    pub report_count: usize,
}

/// A case with its reports, oldest first, and its reporters in the order of
/// their first report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseDetail {
    pub case: Case,
    pub reports: Vec<Report>,
    pub reporters: Vec<Reporter>,
}

/// The result of `join_case`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseJoin {
    pub case_id: Uuid,
    /// Whether this call created the case.
    pub case_created: bool,
}

/// Columns of `ReportRow`, in order.
macro_rules! report_columns {
    () => {
        "id, received_at, reporter, comment, source, raw_sha256, status, decision, analysis, case_id, updated_at"
    };
}

pub(crate) type ReportRow = (
    Uuid,
    DateTime<Utc>,
    String,
    Option<String>,
    String,
    String,
    String,
    Option<Value>,
    Option<Value>,
    Option<Uuid>,
    DateTime<Utc>,
);

/// Inserts a report unless one with the same source key exists; NULL keys
/// never conflict, so a report without a key is always inserted.
pub(crate) const INSERT_REPORT: Sql = Sql::each(
    concat!(
        "INSERT INTO reports (id, received_at, reporter, comment, source, raw_sha256, status, updated_at, \
         source_key) VALUES ($1, ",
        sqlite_now!(),
        ", $2, $3, $4, $5, 'received', ",
        sqlite_now!(),
        ", $6) ON CONFLICT (source_key) DO NOTHING RETURNING ",
        report_columns!()
    ),
    concat!(
        "INSERT INTO reports (id, received_at, reporter, comment, source, raw_sha256, status, updated_at, \
         source_key) VALUES ($1, now(), $2, $3, $4, $5, 'received', now(), $6) \
         ON CONFLICT (source_key) DO NOTHING RETURNING ",
        report_columns!()
    ),
);

const SELECT_REPORT_BY_SOURCE_KEY: Sql =
    Sql::same(concat!("SELECT ", report_columns!(), " FROM reports WHERE source_key = $1"));

const SELECT_REPORT: Sql = Sql::same(concat!("SELECT ", report_columns!(), " FROM reports WHERE id = $1"));

const SELECT_REPORTS_WITH_STATUS: Sql = Sql::same(concat!(
    "SELECT ",
    report_columns!(),
    " FROM reports WHERE status = $1 ORDER BY received_at, id LIMIT $2"
));

const SELECT_CASE_REPORTS: Sql =
    Sql::same(concat!("SELECT ", report_columns!(), " FROM reports WHERE case_id = $1 ORDER BY received_at, id"));

const SELECT_CASE_REPORTERS: Sql =
    Sql::same("SELECT reporter, received_at FROM reports WHERE case_id = $1 ORDER BY received_at, id");

const UPDATE_REPORT_STATUS: Sql = Sql::each(
    concat!(
        "UPDATE reports SET status = $2, decision = coalesce($3, decision), updated_at = ",
        sqlite_now!(),
        " WHERE id = $1 RETURNING ",
        report_columns!()
    ),
    concat!(
        "UPDATE reports SET status = $2, decision = coalesce($3, decision), updated_at = now() \
         WHERE id = $1 RETURNING ",
        report_columns!()
    ),
);

const UPDATE_REPORT_ANALYSIS: Sql = Sql::each(
    concat!(
        "UPDATE reports SET analysis = $2, updated_at = ",
        sqlite_now!(),
        " WHERE id = $1 RETURNING ",
        report_columns!()
    ),
    concat!("UPDATE reports SET analysis = $2, updated_at = now() WHERE id = $1 RETURNING ", report_columns!()),
);

pub(crate) const SELECT_REPORT_CASE: Sql = Sql::same("SELECT case_id FROM reports WHERE id = $1");

pub(crate) const INSERT_CASE: Sql = Sql::each(
    concat!(
        "INSERT INTO cases (id, join_key, created_at) VALUES ($1, $2, ",
        sqlite_now!(),
        ") ON CONFLICT (join_key) DO NOTHING RETURNING id"
    ),
    "INSERT INTO cases (id, join_key, created_at) VALUES ($1, $2, now()) ON CONFLICT (join_key) DO NOTHING \
     RETURNING id",
);

pub(crate) const SELECT_CASE_ID_BY_KEY: Sql = Sql::same("SELECT id FROM cases WHERE join_key = $1");

const SELECT_CASE: Sql = Sql::same("SELECT id, join_key, created_at FROM cases WHERE id = $1");

const SELECT_CASE_BY_KEY: Sql = Sql::same("SELECT id, join_key, created_at FROM cases WHERE join_key = $1");

/// Sets the case of a report that has none; a report already in that case
/// matches too, so a repeated join changes nothing but `updated_at`.
pub(crate) const UPDATE_REPORT_CASE: Sql = Sql::each(
    concat!(
        "UPDATE reports SET case_id = $1, updated_at = ",
        sqlite_now!(),
        " WHERE id = $2 AND (case_id IS NULL OR case_id = $1)"
    ),
    "UPDATE reports SET case_id = $1, updated_at = now() WHERE id = $2 AND (case_id IS NULL OR case_id = $1)",
);

impl Store {
    /// Stores a new report with status `received`, or returns the stored
    /// report with the same `source_key`.
    ///
    /// Fails with `RawNotFound` when its raw message is not stored.
    pub async fn create_report(&self, report: &NewReport) -> Result<Report> {
        Ok(self.create_report_once(report).await?.report)
    }

    /// Stores a new report with status `received` unless a report with the
    /// same `source_key` exists, which is then returned with `created` false.
    /// The insert and the check are one statement, so two processes that
    /// submit the same key at once store one report.
    ///
    /// Fails with `RawNotFound` when its raw message is not stored.
    pub async fn create_report_once(&self, report: &NewReport) -> Result<CreatedReport> {
        check_new_report(&report.reporter, report.comment.as_deref(), report.source_key.as_deref())?;

        let id = Uuid::now_v7();
        let inserted: std::result::Result<Option<ReportRow>, sqlx::Error> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(INSERT_REPORT.text(backend))
                .bind(id)
                .bind(&report.reporter)
                .bind(&report.comment)
                .bind(report.source.as_str())
                .bind(report.raw_sha256.as_str())
                .bind(&report.source_key)
                .fetch_optional(pool)
                .await
        });

        let row = match inserted {
            Ok(Some(row)) => row,
            Ok(None) => return self.report_with_source_key(report).await,
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                return Err(StoreError::RawNotFound(report.raw_sha256.clone()));
            }
            Err(e) => return Err(e.into()),
        };
        let stored = report_from_row(row)?;
        tracing::debug!(report_id = %stored.id, source = %stored.source, "report stored");
        Ok(CreatedReport { report: stored, created: true })
    }

    /// Returns the report whose source key conflicted with `report`'s insert.
    async fn report_with_source_key(&self, report: &NewReport) -> Result<CreatedReport> {
        self.report_with_key(report.source_key.as_deref().unwrap_or_default()).await
    }

    /// Returns the stored report with source key `key`, after an insert
    /// with that key conflicted.
    pub(crate) async fn report_with_key(&self, key: &str) -> Result<CreatedReport> {
        let row: Option<ReportRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(SELECT_REPORT_BY_SOURCE_KEY.text(backend)).bind(key).fetch_optional(pool).await?
        });
        // Reports are never deleted, so the conflicting row is still there.
        let row =
            row.ok_or_else(|| crate::error::invalid("source key", format!("{key:?} conflicted but no report has it")))?;
        let stored = report_from_row(row)?;
        tracing::debug!(report_id = %stored.id, "report with this source key already stored");
        Ok(CreatedReport { report: stored, created: false })
    }

    pub async fn get_report(&self, report_id: Uuid) -> Result<Option<Report>> {
        let row: Option<ReportRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_REPORT.text(backend)).bind(report_id).fetch_optional(pool).await?
        });
        row.map(report_from_row).transpose()
    }

    /// Returns up to `limit` reports with `status`, oldest first, such as the
    /// analyst queue of `needs_review` reports.
    pub async fn reports_with_status(&self, status: ReportStatus, limit: u32) -> Result<Vec<Report>> {
        let rows: Vec<ReportRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_REPORTS_WITH_STATUS.text(backend))
                .bind(status.as_str())
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(report_from_row).collect()
    }

    /// Sets a report's status and, when `decision` is given, its decision.
    ///
    /// Without `decision` the stored one stays. Fails with `DecisionMissing`
    /// when the status is `decided` and the report would have no decision.
    pub async fn set_report_status(
        &self,
        report_id: Uuid,
        status: ReportStatus,
        decision: Option<&Value>,
    ) -> Result<Report> {
        if let Some(decision) = decision {
            self.check_payload("decision", &decision.to_string())?;
        }

        let updated: std::result::Result<Option<ReportRow>, sqlx::Error> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(UPDATE_REPORT_STATUS.text(backend))
                .bind(report_id)
                .bind(status.as_str())
                .bind(decision.map(Json))
                .fetch_optional(pool)
                .await
        });

        let row = match updated {
            Ok(Some(row)) => row,
            Ok(None) => return Err(StoreError::ReportNotFound(report_id)),
            // The only CHECK this statement can break is "decided needs a decision".
            Err(sqlx::Error::Database(e)) if e.is_check_violation() && status == ReportStatus::Decided => {
                return Err(StoreError::DecisionMissing { report_id });
            }
            Err(e) => return Err(e.into()),
        };
        tracing::debug!(%report_id, %status, "report status set");
        report_from_row(row)
    }

    /// Stores the analysis summary of a report, replacing an earlier one.
    pub async fn set_report_analysis(&self, report_id: Uuid, analysis: &Value) -> Result<Report> {
        self.check_payload("analysis summary", &analysis.to_string())?;

        let row: Option<ReportRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(UPDATE_REPORT_ANALYSIS.text(backend))
                .bind(report_id)
                .bind(Json(analysis))
                .fetch_optional(pool)
                .await?
        });
        let row = row.ok_or(StoreError::ReportNotFound(report_id))?;
        report_from_row(row)
    }

    /// Puts a report into the case for `join_key`, creating the case if no
    /// report joined it before.
    ///
    /// Safe under concurrency: reports joining with the same key at the same
    /// time from any number of tasks or machines end up in one case. Joining
    /// the same case again changes only the report's `updated_at`. Fails with
    /// `ReportInOtherCase` when the report is in a case with another key.
    pub async fn join_case(&self, report_id: Uuid, join_key: &str) -> Result<CaseJoin> {
        check_text("join key", join_key, MAX_JOIN_KEY_BYTES)?;
        let current_case = self.report_case(report_id).await?;

        // Create-or-find without a transaction: the insert either adds the row
        // or waits for and yields to a concurrent one, and cases are never
        // deleted, so the select always finds the winner.
        let new_id = Uuid::now_v7();
        let (case_created, case_id) = on_writer!(&self.db, |pool, backend| {
            #[allow(unused_mut)]
            let mut conn = sqlx::Acquire::acquire(pool).await?;
            let inserted: Option<Uuid> = sqlx::query_scalar(INSERT_CASE.text(backend))
                .bind(new_id)
                .bind(join_key)
                .fetch_optional(&mut *conn)
                .await?;
            match inserted {
                Some(case_id) => (true, case_id),
                None => {
                    let case_id: Uuid = sqlx::query_scalar(SELECT_CASE_ID_BY_KEY.text(backend))
                        .bind(join_key)
                        .fetch_one(&mut *conn)
                        .await?;
                    (false, case_id)
                }
            }
        });

        if let Some(current_case) = current_case
            && current_case != case_id
        {
            return Err(other_case_error(report_id, current_case, case_id, join_key));
        }

        let updated = on_writer!(&self.db, |pool, backend| {
            sqlx::query(UPDATE_REPORT_CASE.text(backend))
                .bind(case_id)
                .bind(report_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if updated == 0 {
            // Another call put the report into another case after our first read.
            let current_case = self.report_case(report_id).await?.unwrap_or(case_id);
            return Err(other_case_error(report_id, current_case, case_id, join_key));
        }

        tracing::debug!(%report_id, %case_id, case_created, "report joined case");
        Ok(CaseJoin { case_id, case_created })
    }

    /// Returns the case with its reports and reporters.
    pub async fn get_case(&self, case_id: Uuid) -> Result<Option<CaseDetail>> {
        let (case, rows) = on_reader!(&self.reads, |pool, backend| {
            #[allow(unused_mut)]
            let mut conn = sqlx::Acquire::acquire(pool).await?;
            let case: Option<(Uuid, String, DateTime<Utc>)> =
                sqlx::query_as(SELECT_CASE.text(backend)).bind(case_id).fetch_optional(&mut *conn).await?;
            let rows: Vec<ReportRow> =
                sqlx::query_as(SELECT_CASE_REPORTS.text(backend)).bind(case_id).fetch_all(&mut *conn).await?;
            (case, rows)
        });
        let Some((id, join_key, created_at)) = case else {
            return Ok(None);
        };

        let reports = rows.into_iter().map(report_from_row).collect::<Result<Vec<_>>>()?;
        let reporters = reporters_of(&reports);
        Ok(Some(CaseDetail { case: Case { id, join_key, created_at }, reports, reporters }))
    }

    /// Returns the reporters of a case as `get_case` does, without reading
    /// the reports' analyses and decisions. Empty when no report joined the
    /// case or the case does not exist.
    pub async fn case_reporters(&self, case_id: Uuid) -> Result<Vec<Reporter>> {
        let rows: Vec<(String, DateTime<Utc>)> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_CASE_REPORTERS.text(backend)).bind(case_id).fetch_all(pool).await?
        });
        Ok(group_reporters(rows.iter().map(|(address, received_at)| (address.as_str(), *received_at))))
    }

    /// Returns the case with this join key, if a report joined it.
    pub async fn find_case(&self, join_key: &str) -> Result<Option<Case>> {
        let row: Option<(Uuid, String, DateTime<Utc>)> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_CASE_BY_KEY.text(backend)).bind(join_key).fetch_optional(pool).await?
        });
        Ok(row.map(|(id, join_key, created_at)| Case { id, join_key, created_at }))
    }

    /// Returns the case of a report, failing with `ReportNotFound`. Reads the
    /// last committed state beside the writer, which is enough because
    /// `join_case`'s update checks the case again.
    async fn report_case(&self, report_id: Uuid) -> Result<Option<Uuid>> {
        let row: Option<(Option<Uuid>,)> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_REPORT_CASE.text(backend)).bind(report_id).fetch_optional(pool).await?
        });
        row.map(|(case_id,)| case_id).ok_or(StoreError::ReportNotFound(report_id))
    }
}

pub(crate) fn other_case_error(
    report_id: Uuid,
    current_case: Uuid,
    requested_case: Uuid,
    join_key: &str,
) -> StoreError {
    StoreError::ReportInOtherCase { report_id, current_case, requested_case, join_key: join_key.to_owned() }
}

/// Checks the caller's fields of a new report against their limits.
pub(crate) fn check_new_report(reporter: &str, comment: Option<&str>, source_key: Option<&str>) -> Result<()> {
    check_text("reporter", reporter, MAX_REPORTER_BYTES)?;
    if let Some(source_key) = source_key {
        check_text("source key", source_key, MAX_SOURCE_KEY_BYTES)?;
    }
    if let Some(comment) = comment
        && comment.len() > MAX_COMMENT_BYTES
    {
        let reason = format!("is {} bytes, more than the maximum of {MAX_COMMENT_BYTES}", comment.len());
        return Err(crate::error::invalid("comment", reason));
    }
    Ok(())
}

pub(crate) fn report_from_row(row: ReportRow) -> Result<Report> {
    let (id, received_at, reporter, comment, source, raw_sha256, status, decision, analysis, case_id, updated_at) = row;
    Ok(Report {
        id,
        received_at,
        reporter,
        comment,
        source: ReportSource::from_column(&source)?,
        raw_sha256: Sha256Hex::parse(&raw_sha256)?,
        status: ReportStatus::from_column(&status)?,
        decision,
        analysis,
        case_id,
        updated_at,
    })
}

/// Groups reports by reporter address, ignoring ASCII case, in the order of
/// each reporter's first report. `reports` must be sorted oldest first.
fn reporters_of(reports: &[Report]) -> Vec<Reporter> {
    group_reporters(reports.iter().map(|report| (report.reporter.as_str(), report.received_at)))
}

/// Groups `(reporter address, received at)` pairs like `reporters_of`.
fn group_reporters<'a>(reports: impl Iterator<Item = (&'a str, DateTime<Utc>)>) -> Vec<Reporter> {
    let mut reporters: Vec<Reporter> = Vec::new();
    let mut index_by_address: HashMap<String, usize> = HashMap::new();
    for (reporter, received_at) in reports {
        let address = reporter.to_ascii_lowercase();
        if let Some(&index) = index_by_address.get(&address) {
            reporters[index].report_count += 1;
            continue;
        }
        index_by_address.insert(address, reporters.len());
        reporters.push(Reporter { address: reporter.to_owned(), first_reported_at: received_at, report_count: 1 });
    }
    reporters
}
