//! The `identity.contain` jobs: after an import raised someone's verdict,
//! the case is planned again with its clickers, submitters and credential
//! owners, the new automatic actions run through their connectors, and
//! every person who clicked gets a lesson about the lure.
//!
//! Every step is safe to repeat: planning finds the actions stored under
//! their idempotency keys, connectors do not act twice per key, and the
//! outbox keeps one clicker lesson per verdict row.

use std::sync::Arc;
use std::time::Duration;

use phishloop_store::{ClaimedJob, Lease, PersonVerdict, Store, StoreError};
use tokio::sync::watch;
use uuid::Uuid;

use super::{CONTAIN_JOB, CaseContext};
use crate::error::ServiceError;
use crate::notify::Notifier;
use crate::respond::Responder;

/// Runs containment jobs until shutdown.
pub(crate) struct ContainWorker {
    pub(crate) id: String,
    pub(crate) store: Store,
    pub(crate) responder: Arc<Responder>,
    pub(crate) notifier: Arc<Notifier>,
    pub(crate) lease: Duration,
    pub(crate) poll: Duration,
    /// Notified when this process queues a containment job.
    pub(crate) wake: Arc<tokio::sync::Notify>,
}

impl ContainWorker {
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker_id = %self.id, "containment worker started");
        while !*shutdown.borrow() {
            let claimed = match self.store.claim(&self.id, &[CONTAIN_JOB], self.lease).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(worker_id = %self.id, %error, "claiming a containment job failed; trying again");
                    None
                }
            };
            match claimed {
                Some(claimed) => self.run_job(claimed).await,
                None => {
                    tokio::select! {
                        _ = tokio::time::sleep(self.poll) => {}
                        _ = self.wake.notified() => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
        tracing::info!(worker_id = %self.id, "containment worker stopped");
    }

    async fn run_job(&self, claimed: ClaimedJob) {
        let lease = claimed.lease;
        let case_id = claimed.job.payload.get("case_id").and_then(|id| id.as_str()).and_then(|id| id.parse().ok());
        let Some(case_id) = case_id else {
            let error = format!("job payload {} has no valid case_id", claimed.job.payload);
            tracing::error!(job_id = %lease.job_id, %error, "containment job cannot run");
            if let Err(error) = self.store.fail(&lease, &error, None).await {
                tracing::error!(job_id = %lease.job_id, %error, "marking the job dead failed");
            }
            return;
        };
        tracing::info!(job_id = %lease.job_id, %case_id, attempt = lease.attempt, "containment started");

        let heartbeat = tokio::spawn(keep_lease(self.store.clone(), lease.clone(), self.lease));
        let result = contain(&self.store, &self.responder, &self.notifier, case_id).await;
        heartbeat.abort();

        match result {
            Ok(()) => match self.store.complete(&lease).await {
                Ok(_) => tracing::info!(job_id = %lease.job_id, %case_id, "containment done"),
                Err(error) => tracing::warn!(job_id = %lease.job_id, %case_id, %error, "completing the job failed"),
            },
            Err(error) => {
                let delay = Duration::from_secs(5u64.saturating_mul(u64::from(lease.attempt)));
                let message = error.to_string();
                tracing::warn!(job_id = %lease.job_id, %case_id, error = %message, "containment failed; will retry");
                if let Err(error) = self.store.fail(&lease, &message, Some(delay)).await {
                    tracing::error!(job_id = %lease.job_id, %case_id, %error, "recording the failure failed");
                }
            }
        }
    }
}

/// Plans the case again with its current verdicts, carries out the new
/// automatic actions and queues a lesson for each person who clicked.
pub(crate) async fn contain(
    store: &Store,
    responder: &Responder,
    notifier: &Notifier,
    case_id: Uuid,
) -> Result<(), ServiceError> {
    let Some(context) = CaseContext::load(store, case_id).await? else {
        tracing::warn!(%case_id, "case has no decision; nothing to contain");
        return Ok(());
    };
    responder.respond(&context.report, case_id, &context.decision, context.message.as_ref()).await?;

    for person in store.identity_people(case_id).await? {
        if person.verdict == PersonVerdict::Received || only_dns_lookups(&person.evidence) {
            continue;
        }
        notifier
            .teach_clicker(case_id, &context.decision, context.message.as_ref(), person.id, &person.address)
            .await?;
    }
    Ok(())
}

/// True when every piece of evidence is a DNS look-up. A look-up shows that
/// a device resolved the lure's name, which a mail client's link preview
/// also does, not that the person opened the page, so such a person is
/// contained but gets no lesson about clicking.
fn only_dns_lookups(evidence: &[serde_json::Value]) -> bool {
    !evidence.is_empty()
        && evidence.iter().all(|line| line.get("kind").and_then(|kind| kind.as_str()) == Some("dns_lookup"))
}

/// Renews the lease every third of its duration until aborted.
async fn keep_lease(store: Store, lease: Lease, duration: Duration) {
    let period = (duration / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(period).await;
        match store.heartbeat(&lease, duration).await {
            Ok(_) => {}
            Err(StoreError::LeaseLost { .. }) => {
                tracing::warn!(job_id = %lease.job_id, "containment lease lost");
                return;
            }
            Err(error) => tracing::warn!(job_id = %lease.job_id, %error, "renewing the lease failed; trying again"),
        }
    }
}
