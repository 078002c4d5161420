//! Storing a new report: the raw message, the report, its analysis job, the
//! acknowledgement to the reporter and the events `received` and
//! `reporter_acknowledged`, in one transaction.

use phishloop_store::{EventSubject, IncomingReport, Report, ReportSource, Store};
use serde_json::json;
use uuid::Uuid;

use crate::error::ServiceError;
use crate::notify::Notifier;
use crate::pipeline::Pipeline;

/// The job kind of report analysis.
pub const ANALYSE_JOB: &str = "report.analyse";

/// The reporter stored when neither the request nor a report wrapper names one.
pub const UNKNOWN_REPORTER: &str = "unknown";

/// A report as submitted, before it is stored.
#[derive(Debug)]
pub struct Submission {
    pub message: Vec<u8>,
    /// The reporter's address; `None` takes it from the report wrapper.
    pub reporter: Option<String>,
    pub comment: Option<String>,
    pub source: ReportSource,
    /// The message's key at its source, such as a reporting mailbox's UID;
    /// a second submission with the same key returns the first report.
    pub source_key: Option<String>,
}

/// A stored report and its analysis job.
#[derive(Debug)]
pub struct Accepted {
    pub report: Report,
    pub job_id: Uuid,
    /// False when a report with the same source key was stored before.
    pub created: bool,
}

/// Stores a submission and queues its analysis in one transaction, without
/// an acknowledgement to the reporter. A repeated source key returns the
/// report stored first and queues nothing new.
pub async fn submit(
    store: &Store,
    pipeline: &std::sync::Arc<Pipeline>,
    submission: Submission,
) -> Result<Accepted, ServiceError> {
    receive(store, pipeline, None, submission).await
}

/// Like `submit`, and queues the acknowledgement to a known reporter in the
/// same transaction, as the service's intake does.
pub(crate) async fn submit_acknowledged(
    store: &Store,
    pipeline: &std::sync::Arc<Pipeline>,
    notifier: &Notifier,
    submission: Submission,
) -> Result<Accepted, ServiceError> {
    receive(store, pipeline, Some(notifier), submission).await
}

async fn receive(
    store: &Store,
    pipeline: &std::sync::Arc<Pipeline>,
    notifier: Option<&Notifier>,
    submission: Submission,
) -> Result<Accepted, ServiceError> {
    let Submission { message, reporter, comment, source, source_key } = submission;
    let limit = store.config().max_message_bytes;
    if message.len() > limit {
        return Err(ServiceError::MessageTooLarge { size: message.len(), limit });
    }
    if message.is_empty() {
        return Err(ServiceError::BadRequest("the message is empty: send the reported message as the body".to_owned()));
    }

    let reporter = match reporter.filter(|reporter| !reporter.trim().is_empty()) {
        Some(reporter) => checked_reporter(reporter.trim())?.to_owned(),
        None => reporter_from_wrapper(pipeline, &message).await,
    };
    let incoming = IncomingReport {
        message: &message,
        reporter: &reporter,
        comment: comment.as_deref(),
        source,
        source_key: source_key.as_deref(),
        job_kind: ANALYSE_JOB,
        acknowledgement: notifier.and_then(|notifier| notifier.acknowledgement(&reporter)),
    };
    let received = store
        .receive_report(incoming, |received| {
            let subject = EventSubject::Report(received.report.id);
            let mut events =
                vec![(subject, "received", json!({ "source": source.as_str(), "job_id": received.job.id }))];
            if let Some(queued) = &received.acknowledgement {
                let payload = json!({ "message_id": queued.id, "recipient": queued.recipient });
                events.push((subject, "reporter_acknowledged", payload));
            }
            events
        })
        .await?;
    let (report, job_id) = (received.report, received.job.id);
    if !received.created {
        tracing::info!(report_id = %report.id, %job_id, source = %source, "report already stored under this source key");
        return Ok(Accepted { report, job_id, created: false });
    }
    if let Some(notifier) = notifier
        && received.acknowledgement.is_some()
    {
        notifier.message_queued();
    }
    tracing::info!(report_id = %report.id, %job_id, source = %source, "report received");
    Ok(Accepted { report, job_id, created: true })
}

/// Queues the analysis of a report; idempotent because the key is the report id.
pub async fn enqueue_analysis(store: &Store, report_id: Uuid) -> Result<Uuid, ServiceError> {
    let key = report_id.to_string();
    let enqueued = store.enqueue(ANALYSE_JOB, &json!({ "report_id": report_id }), &key).await?;
    Ok(enqueued.job.id)
}

/// Queues analysis for up to `limit` reports still `received`, oldest first.
/// Reports that have their job already keep it unchanged.
pub async fn requeue_received(store: &Store, limit: u32) -> Result<usize, ServiceError> {
    let reports = store.reports_with_status(phishloop_store::ReportStatus::Received, limit).await?;
    for report in &reports {
        enqueue_analysis(store, report.id).await?;
    }
    Ok(reports.len())
}

async fn reporter_from_wrapper(pipeline: &std::sync::Arc<Pipeline>, message: &[u8]) -> String {
    let pipeline = std::sync::Arc::clone(pipeline);
    let bytes = message.to_vec();
    let found = tokio::task::spawn_blocking(move || pipeline.wrapper_reporter(&bytes)).await;
    match found {
        Ok(Some(address)) if !address.trim().is_empty() && address.len() <= 320 => address,
        Ok(_) => UNKNOWN_REPORTER.to_owned(),
        Err(error) => {
            tracing::warn!(%error, "reading the report wrapper failed; storing the report with an unknown reporter");
            UNKNOWN_REPORTER.to_owned()
        }
    }
}

/// Returns `reporter` when it reads as one email address: a local part and a
/// domain around one `@`, with no spaces or control characters. The
/// reporter is stored, counted and addressed, so free text is rejected.
fn checked_reporter(reporter: &str) -> Result<&str, ServiceError> {
    let plain = !reporter.chars().any(|character| character.is_whitespace() || character.is_control());
    let shaped = reporter.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !domain.starts_with('.')
    });
    if plain && shaped {
        return Ok(reporter);
    }
    Err(ServiceError::BadRequest(format!(
        "invalid reporter {reporter:?}: give the reporter's email address, such as alice@example.com"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reporter_addresses_accepted() {
        for reporter in ["alice@corp-example.com", "a.b+tag@mail.corp-example.com"] {
            assert_eq!(checked_reporter(reporter).ok(), Some(reporter));
        }
    }

    #[test]
    fn reporter_free_text_rejected() {
        for reporter in ["not an address", "alice@corp-example.com\nX-Extra: 1", "alice", "@corp-example.com", "a@b@c"]
        {
            let error = checked_reporter(reporter).expect_err(reporter).to_string();
            assert!(error.contains("invalid reporter"), "{reporter}: {error}");
        }
    }
}
