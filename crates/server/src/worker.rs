//! Analysis workers: each claims one `report.analyse` job at a time under a
//! lease, renews the lease while it works, and records the outcome. After
//! the decision the same job plans and carries out the actions and queues
//! the messages to the reporter and the recipients.
//!
//! Every step that writes is safe to repeat, because a job whose worker died
//! runs again from the start on another worker.
//!
//! The decision is stored in one transaction with everything it implies:
//! the report's case, the case's campaign, the analysis, the status, and
//! the events `analysed`, `report_joined`, `campaign_joined` and `decided`.
//! A retried attempt therefore finds all of them or none, and appends each
//! event only when the earlier attempt did not. The transaction also checks
//! that this worker still holds the job's lease, so a worker that lost it
//! stores no decision. On SQLite every write waits for the single writer
//! connection, so each transaction fewer shortens every report's wait.
//!
//! The steps after the decision (actions, messages) are keyed by
//! idempotency keys in the store, so an attempt that repeats them adds
//! nothing twice.
//!
//! NOTE: a worker that is paused (not killed) past its lease and then
//! resumes after the decision can still run the steps after it beside the
//! worker that took its job over. The keys and the status checks keep
//! actions and messages single. Only the connectors inside phishloop
//! (`log`, `blocklist`) may run for both workers. That repeats a log line
//! or writes the same block-list entry again.

use std::sync::Arc;
use std::time::Duration;

use phishloop_store::{
    CampaignAssignment, ClaimedJob, DecisionEvent, DecisionRecord, EventSubject, JobStatus, Lease, RecordedDecision,
    Report, ReportStatus, ReportUpdate, Store, StoreError,
};
use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;

use crate::config::ServerConfig;
use crate::error::ServiceError;
use crate::intake::{self, ANALYSE_JOB, UNKNOWN_REPORTER};
use crate::notify::Notifier;
use crate::pipeline::{Outcome, Pipeline, review_decision};
use crate::respond::Responder;

/// How often a worker looks for `received` reports whose job is missing.
const REQUEUE_INTERVAL: Duration = Duration::from_secs(60);

/// One analysis worker.
pub struct Worker {
    pub(crate) id: String,
    pub(crate) store: Store,
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) responder: Arc<Responder>,
    pub(crate) notifier: Arc<Notifier>,
    pub(crate) config: Arc<ServerConfig>,
    /// Notified by intake in this process when it queues a job.
    pub(crate) jobs_queued: Arc<tokio::sync::Notify>,
}

/// The reason a job attempt stopped before it was complete.
enum AttemptError {
    /// Another worker took the job over; this attempt's result is dropped.
    LeaseLost,
    /// A failure that a later attempt may not meet, such as a database error.
    Retryable(ServiceError),
}

impl From<StoreError> for AttemptError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::LeaseLost { .. } => Self::LeaseLost,
            other => Self::Retryable(other.into()),
        }
    }
}

impl From<ServiceError> for AttemptError {
    fn from(error: ServiceError) -> Self {
        Self::Retryable(error)
    }
}

impl Worker {
    /// Runs until `shutdown` turns true; a job in progress is finished first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker_id = %self.id, "worker started");
        let mut last_requeue: Option<tokio::time::Instant> = None;
        while !*shutdown.borrow() {
            if last_requeue.is_none_or(|at| at.elapsed() >= REQUEUE_INTERVAL) {
                last_requeue = Some(tokio::time::Instant::now());
                if let Err(error) = intake::requeue_received(&self.store, 1_000).await {
                    tracing::warn!(worker_id = %self.id, %error, "looking for reports without a job failed");
                }
            }

            let claimed = match self.store.claim(&self.id, &[ANALYSE_JOB], self.config.lease()).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(worker_id = %self.id, %error, "claiming a job failed; trying again");
                    None
                }
            };
            match claimed {
                Some(claimed) => self.run_job(claimed).await,
                None => {
                    tokio::select! {
                        _ = tokio::time::sleep(self.config.poll_interval()) => {}
                        _ = self.jobs_queued.notified() => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
        tracing::info!(worker_id = %self.id, "worker stopped");
    }

    async fn run_job(&self, claimed: ClaimedJob) {
        let lease = claimed.lease;
        let report_id = claimed.job.payload.get("report_id").and_then(|id| id.as_str()).and_then(|id| id.parse().ok());
        let Some(report_id) = report_id else {
            let error = format!("job payload {} has no valid report_id", claimed.job.payload);
            tracing::error!(job_id = %lease.job_id, %error, "job cannot run");
            if let Err(error) = self.store.fail(&lease, &error, None).await {
                tracing::error!(job_id = %lease.job_id, %error, "marking the job dead failed");
            }
            return;
        };
        tracing::info!(worker_id = %self.id, job_id = %lease.job_id, %report_id, attempt = lease.attempt, "job started");

        let (lost_sender, lost) = watch::channel(false);
        let heartbeat = tokio::spawn(keep_lease(self.store.clone(), lease.clone(), self.config.lease(), lost_sender));
        let result = self.analyse_report(report_id, &lease, &lost).await;
        heartbeat.abort();

        match result {
            Ok(()) => match self.store.complete(&lease).await {
                Ok(_) => tracing::info!(job_id = %lease.job_id, %report_id, "job done"),
                Err(error) => tracing::warn!(job_id = %lease.job_id, %report_id, %error, "completing the job failed"),
            },
            Err(AttemptError::LeaseLost) => {
                tracing::warn!(job_id = %lease.job_id, %report_id, "lease lost to another worker; result dropped");
            }
            Err(AttemptError::Retryable(error)) => self.record_failure(&lease, report_id, &error).await,
        }
    }

    async fn record_failure(&self, lease: &Lease, report_id: Uuid, error: &ServiceError) {
        let delay = self.config.retry_delay(lease.attempt);
        let message = error.to_string();
        let job = match self.store.fail(lease, &message, Some(delay)).await {
            Ok(job) => job,
            Err(fail_error) => {
                tracing::error!(job_id = %lease.job_id, %report_id, error = %fail_error, "recording the failure failed");
                return;
            }
        };
        if job.status != JobStatus::Dead {
            tracing::warn!(job_id = %job.id, %report_id, attempt = job.attempts, error = %message, retry_in = ?delay, "job failed; will retry");
            return;
        }

        tracing::error!(job_id = %job.id, %report_id, attempts = job.attempts, error = %message, "job dead after its last attempt");
        let payload = json!({ "job_id": job.id, "attempts": job.attempts, "error": message });
        if let Err(event_error) =
            self.store.append_event(EventSubject::Report(report_id), "analysis_failed", &payload).await
        {
            tracing::error!(%report_id, error = %event_error, "recording the dead job on the report failed");
        }
    }

    /// Runs the steps of one attempt. The module documentation explains why
    /// each may run more than once.
    async fn analyse_report(
        &self,
        report_id: Uuid,
        lease: &Lease,
        lost: &watch::Receiver<bool>,
    ) -> Result<(), AttemptError> {
        let report =
            self.store.get_report(report_id).await?.ok_or(ServiceError::NotFound { what: "report", id: report_id })?;
        let raw = self
            .store
            .get_raw(&report.raw_sha256)
            .await?
            .ok_or_else(|| ServiceError::Store(StoreError::RawNotFound(report.raw_sha256.clone())))?;
        let outcome = self.run_pipeline(raw, &report).await;
        let done_kinds = event_kinds(&self.store, report_id).await?;

        check_lease(lost)?;
        let decision = serde_json::to_value(&outcome.decision)
            .map_err(|error| ServiceError::Config(format!("decision cannot be written as JSON: {error}")))?;
        let status = if outcome.decision.needs_review { ReportStatus::NeedsReview } else { ReportStatus::Decided };
        let update =
            ReportUpdate { analysis: outcome.analysis.as_ref(), status: Some(status), decision: Some(&decision) };
        let record = DecisionRecord {
            report_id,
            lease,
            join_key: &outcome.join_key,
            campaign_keys: &outcome.campaign_keys,
            update,
        };
        let recorded = self
            .store
            .record_decision(record, |recorded| decision_events(&report, &outcome, lease, &done_kinds, recorded))
            .await?;
        let case_id = recorded.case.case_id;
        if recorded.case.case_created {
            tracing::info!(%case_id, %report_id, "case opened");
        }
        if let Some(assignment) = recorded.campaign.as_ref().filter(|assignment| joined_campaign(assignment)) {
            tracing::info!(%report_id, %case_id, campaign_id = %assignment.campaign_id, cases = assignment.case_count, "case joined a campaign");
        }
        tracing::info!(%report_id, %case_id, verdict = ?outcome.decision.verdict, needs_review = outcome.decision.needs_review, "report decided");

        check_lease(lost)?;
        self.close_loop(&report, case_id, &outcome, &done_kinds).await
    }

    /// Plans and carries out the decision's actions, then queues the
    /// reporter's outcome, the recipients' lessons and a notice to the
    /// owner of each exposed secret the inventory knows. Safe to repeat, see `respond` and `notify`.
    async fn close_loop(
        &self,
        report: &Report,
        case_id: Uuid,
        outcome: &Outcome,
        done_kinds: &[String],
    ) -> Result<(), AttemptError> {
        let message = outcome.message.as_ref();
        let responded = self.responder.respond(report, case_id, &outcome.decision, message).await?;
        let told_before = done_kinds.iter().any(|kind| kind == "reporter_told");
        self.notifier.tell(report, case_id, &outcome.decision, message, &responded, told_before).await?;
        crate::identity::secrets::tell_secret_owners(&self.notifier, self.responder.inventory(), case_id, message)
            .await?;
        Ok(())
    }

    /// Runs analysis and triage on the blocking pool. A panic in them is
    /// an analysis failure like any other: the report goes to review.
    async fn run_pipeline(&self, raw: Vec<u8>, report: &Report) -> Outcome {
        let pipeline = Arc::clone(&self.pipeline);
        let sha256 = report.raw_sha256.to_string();
        let max_payload = self.store.config().max_payload_bytes;
        let joined = tokio::task::spawn_blocking(move || pipeline.process(&raw, &sha256, max_payload)).await;
        match joined {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::error!(report_id = %report.id, %error, "analysis panicked; the report goes to review");
                crate::pipeline::Outcome {
                    analysis: None,
                    decision: review_decision(&format!("analysis failed: {error}")),
                    message: None,
                    join_key: format!("raw:{}", report.raw_sha256),
                    wrapper_reporter: None,
                    campaign_keys: Vec::new(),
                }
            }
        }
    }
}

/// Returns whether the assignment put the case into a campaign it was not in.
fn joined_campaign(assignment: &CampaignAssignment) -> bool {
    assignment.previous != Some(assignment.campaign_id)
}

/// Builds the events of a decision, in the order its steps ran: `analysed`, the
/// case's `report_joined` and `campaign_joined`, and `decided`. Each is left
/// out when an earlier attempt of the job stored it, which the store's one
/// transaction makes visible all together or not at all.
fn decision_events(
    report: &Report,
    outcome: &Outcome,
    lease: &Lease,
    done_kinds: &[String],
    recorded: &RecordedDecision,
) -> Vec<DecisionEvent> {
    let done = |kind: &str| done_kinds.iter().any(|done| done == kind);
    let case_id = recorded.case.case_id;
    let case = EventSubject::Case(case_id);
    let mut events = Vec::new();
    if !done("analysed") {
        let payload = json!({ "analysed": outcome.analysis.is_some(), "wrapper_reporter": outcome.wrapper_reporter });
        events.push((EventSubject::Report(report.id), "analysed", payload));
    }
    if !recorded.joined_before {
        let reporter = (report.reporter != UNKNOWN_REPORTER).then_some(report.reporter.as_str());
        let payload =
            json!({ "report_id": report.id, "reporter": reporter, "case_created": recorded.case.case_created });
        events.push((case, "report_joined", payload));
    }
    if let Some(assignment) = recorded.campaign.as_ref().filter(|assignment| joined_campaign(assignment)) {
        let payload = json!({
            "campaign_id": assignment.campaign_id,
            "report_id": report.id,
            "created": assignment.created,
            "merged_from": assignment.merged_from,
            "case_count": assignment.case_count,
            "reporter_count": assignment.reporter_count,
        });
        events.push((case, "campaign_joined", payload));
    }
    if !done("decided") {
        let payload = json!({
            "verdict": outcome.decision.verdict,
            "category": outcome.decision.category,
            "confidence": outcome.decision.confidence,
            "needs_review": outcome.decision.needs_review,
            "case_id": case_id,
            "attempt": lease.attempt,
        });
        events.push((EventSubject::Report(report.id), "decided", payload));
    }
    events
}

async fn event_kinds(store: &Store, report_id: Uuid) -> Result<Vec<String>, StoreError> {
    let events = store.events_for(EventSubject::Report(report_id)).await?;
    Ok(events.into_iter().map(|event| event.kind).collect())
}

fn check_lease(lost: &watch::Receiver<bool>) -> Result<(), AttemptError> {
    if *lost.borrow() {
        return Err(AttemptError::LeaseLost);
    }
    Ok(())
}

/// Renews the lease every third of its duration until aborted; sets `lost`
/// when the store reports that another worker holds the job.
async fn keep_lease(store: Store, lease: Lease, duration: Duration, lost: watch::Sender<bool>) {
    let period = (duration / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(period).await;
        match store.heartbeat(&lease, duration).await {
            Ok(_) => {}
            Err(StoreError::LeaseLost { .. }) => {
                tracing::warn!(job_id = %lease.job_id, worker_id = %lease.worker_id, "lease lost");
                let _ = lost.send(true);
                return;
            }
            Err(error) => tracing::warn!(job_id = %lease.job_id, %error, "renewing the lease failed; trying again"),
        }
    }
}
