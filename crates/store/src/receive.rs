//! A new report stored in one transaction: its raw message, the report, its
//! first job and the acknowledgement to its reporter, with the events that
//! record them.
//!
//! Intake writes these four for every report. Stored one by one, they cost
//! the single SQLite writer five commits, each with its round trips to the
//! connection's thread. Stored together, they cost one commit. A crash keeps
//! all of them or none, so no report is left without its job.

use serde_json::{Value, json};
use sqlx::types::Json;
use uuid::Uuid;

use crate::db::on_writer;
use crate::error::{Result, StoreError};
use crate::events::{EventSubject, append_all_in_tx};
use crate::jobs::{INSERT_JOB, Job, JobOptions, JobRow, job_from_row};
use crate::outbox::{INSERT_MESSAGE, NewOutboxMessage, OutboxKind, OutboxMessage, OutboxRow, message_from_row};
use crate::raw::INSERT_RAW;
use crate::reports::{INSERT_REPORT, Report, ReportRow, ReportSource, check_new_report, report_from_row};
use crate::store::{Store, check_kind};

/// A report as it arrives, with the job and the acknowledgement that go
/// with it.
#[derive(Clone, Debug)]
pub struct IncomingReport<'a> {
    /// The reported message as received, at most `max_message_bytes`.
    pub message: &'a [u8],
    /// Address of the person who reported, at most 320 bytes.
    pub reporter: &'a str,
    /// The reporter's own words, at most 16 KiB.
    pub comment: Option<&'a str>,
    pub source: ReportSource,
    /// The message's key at its source; a report with a key that is stored
    /// already is not created again.
    pub source_key: Option<&'a str>,
    /// The kind of the job queued for the report. Its payload is
    /// `{"report_id": ...}` and its idempotency key the report id.
    pub job_kind: &'a str,
    /// The acknowledgement to queue for a new report. It must be of kind
    /// `acknowledgement`; its report id is set to the new report's.
    pub acknowledgement: Option<NewOutboxMessage>,
}

/// The result of `receive_report`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedReport {
    pub report: Report,
    pub job: Job,
    /// The queued acknowledgement; `None` when none was given or the report
    /// was stored before.
    pub acknowledgement: Option<OutboxMessage>,
    /// False when a report with the same source key was stored before: then
    /// `report` and `job` are the earlier ones and nothing new is queued.
    pub created: bool,
}

/// An event to append: its subject, kind and payload.
pub type ReceiptEvent = (EventSubject, &'static str, Value);

impl Store {
    /// Stores a new report with its raw message, queues its job and its
    /// acknowledgement, and appends the events that `events` returns for
    /// them, all in one transaction.
    ///
    /// A report whose source key is stored already is returned with
    /// `created` false, together with its job, which is queued now if it
    /// had none. Nothing else is queued or appended for it.
    /// An acknowledgement over the outbox limits is left out with a warning.
    /// Fails with `MessageTooLarge` above `max_message_bytes`, and with
    /// `InvalidInput` or `PayloadTooLarge` naming the field over its limit.
    pub async fn receive_report(
        &self,
        incoming: IncomingReport<'_>,
        events: impl FnOnce(&ReceivedReport) -> Vec<ReceiptEvent>,
    ) -> Result<ReceivedReport> {
        check_new_report(incoming.reporter, incoming.comment, incoming.source_key)?;
        let report_id = Uuid::now_v7();
        let job_key = report_id.to_string();
        let job_payload = json!({ "report_id": report_id });
        let (max_attempts, delay) = self.check_job(incoming.job_kind, &job_payload, &job_key, JobOptions::default())?;
        let acknowledgement = match incoming.acknowledgement {
            Some(mut message) => {
                if message.kind != OutboxKind::Acknowledgement {
                    let reason =
                        format!("is a {} message; only an acknowledgement goes with a new report", message.kind);
                    return Err(crate::error::invalid("acknowledgement", reason));
                }
                message.report_id = Some(report_id);
                // The report matters more than its acknowledgement: one over
                // the limits is left out, and the report is stored without it.
                match self.check_message(&message) {
                    Ok(recipient) => Some((message, recipient)),
                    Err(error) => {
                        tracing::warn!(%report_id, %error, "acknowledgement left out");
                        None
                    }
                }
            }
            None => None,
        };
        let (sha256, size, compressed) = self.prepare_raw(incoming.message).await?;

        let job_id = Uuid::now_v7();
        let message_id = Uuid::now_v7();
        let received: Option<ReceivedReport> = on_writer!(&self.db, |pool, backend| {
            async {
                let mut tx = pool.begin().await?;
                sqlx::query(INSERT_RAW.text(backend))
                    .bind(sha256.as_str())
                    .bind(size)
                    .bind(&compressed)
                    .execute(&mut *tx)
                    .await?;
                let report: Option<ReportRow> = sqlx::query_as(INSERT_REPORT.text(backend))
                    .bind(report_id)
                    .bind(incoming.reporter)
                    .bind(incoming.comment)
                    .bind(incoming.source.as_str())
                    .bind(sha256.as_str())
                    .bind(incoming.source_key)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(report) = report else {
                    // The source key is taken; dropping the transaction rolls it back.
                    return Ok::<_, StoreError>(None);
                };
                // The key is the new report's id, which no job has yet.
                let job: JobRow = sqlx::query_as(INSERT_JOB.text(backend))
                    .bind(job_id)
                    .bind(incoming.job_kind)
                    .bind(&job_key)
                    .bind(Json(&job_payload))
                    .bind(i64::from(max_attempts))
                    .bind(delay)
                    .fetch_one(&mut *tx)
                    .await?;
                let mut queued = None;
                if let Some((message, recipient)) = &acknowledgement {
                    let row: OutboxRow = sqlx::query_as(INSERT_MESSAGE.text(backend))
                        .bind(message_id)
                        .bind(message.kind.as_str())
                        .bind(recipient)
                        .bind(&message.subject)
                        .bind(&message.text)
                        .bind(&message.html)
                        .bind(message.case_id)
                        .bind(report_id)
                        .bind(report_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    queued = Some(message_from_row(row)?);
                }
                let received = ReceivedReport {
                    report: report_from_row(report)?,
                    job: job_from_row(job)?.0,
                    acknowledgement: queued,
                    created: true,
                };
                let mut batch = Vec::new();
                for (subject, kind, payload) in events(&received) {
                    check_kind("event kind", kind)?;
                    let payload_text = payload.to_string();
                    self.check_payload("event payload", &payload_text)?;
                    batch.push((subject, kind, payload_text));
                }
                append_all_in_tx!(tx, backend, &batch).await?;
                tx.commit().await?;
                Ok(Some(received))
            }
            .await?
        });

        match received {
            Some(received) => {
                if delay == 0 {
                    self.announce_job(incoming.job_kind).await;
                }
                tracing::debug!(report_id = %received.report.id, job_id = %received.job.id, %sha256, size, "report received");
                Ok(received)
            }
            None => {
                let key = incoming.source_key.unwrap_or_default();
                let report = self.report_with_key(key).await?.report;
                let payload = json!({ "report_id": report.id });
                let job = self.enqueue(incoming.job_kind, &payload, &report.id.to_string()).await?.job;
                Ok(ReceivedReport { job, report, acknowledgement: None, created: false })
            }
        }
    }
}
