//! The service's mail parts: reporting mailboxes read over IMAP become
//! reports, the `imap` purge connector joins the responder, and a delivery
//! loop sends the outbox over SMTP.
//!
//! Intake stores each report under the message's source key before the
//! message leaves the reporting mailbox, so a crash between the two steps
//! returns the stored report on the next pass instead of a second one.
//! Delivery claims outbox messages under a lease, so two processes never
//! send the same message at the same time. A process killed after sending
//! but before recording the delivery sends it again once the lease expires,
//! with the same Message-ID.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use phishloop_mail::{
    ImapPurgeConnector, Intake, MailConfig, Mailer, OutgoingMessage, ReportSink, SinkError, Submitted,
};
use phishloop_response::Connector;
use phishloop_store::{EventSubject, OutboxMessage, ReportSource, Store};
use serde_json::json;
use tokio::sync::{Notify, watch};

use crate::error::ServiceError;
use crate::intake::{self, Submission};
use crate::notify::Notifier;
use crate::pipeline::Pipeline;

/// Messages one claim takes from the outbox.
const CLAIM_BATCH: u32 = 10;
/// How often the delivery loop looks for due messages when nothing wakes it.
const DELIVERY_POLL: Duration = Duration::from_secs(1);

/// The configured mail parts, built by `Service::with_mail`.
#[derive(Default)]
pub(crate) struct MailParts {
    pub(crate) intake: Option<Intake>,
    pub(crate) purge: Option<Arc<dyn Connector>>,
    pub(crate) delivery: Option<Delivery>,
}

impl std::fmt::Debug for MailParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailParts")
            .field("intake", &self.intake.is_some())
            .field("purge", &self.purge.is_some())
            .field("delivery", &self.delivery.is_some())
            .finish()
    }
}

impl MailParts {
    /// Builds the parts that `config` sets up, reading their secrets.
    /// Must run inside a Tokio runtime, because the SMTP pool spawns a task.
    pub(crate) fn new(config: &MailConfig) -> Result<Self, ServiceError> {
        let invalid = |error: phishloop_mail::ConfigError| ServiceError::Config(error.to_string());
        let intake = if config.intake.is_empty() { None } else { Some(Intake::new(config).map_err(invalid)?) };
        let purge: Option<Arc<dyn Connector>> = match &config.purge {
            Some(_) => Some(Arc::new(ImapPurgeConnector::new(config).map_err(invalid)?)),
            None => None,
        };
        let delivery = match &config.smtp {
            Some(smtp) => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(ServiceError::Config(
                        "[mail.smtp] needs a Tokio runtime: build the service inside one".to_owned(),
                    ));
                }
                Some(Delivery {
                    mailer: Arc::new(Mailer::new(config).map_err(invalid)?),
                    max_attempts: smtp.max_attempts.max(1),
                    backoff_initial: Duration::from_millis(smtp.backoff_initial_ms),
                    backoff_max: Duration::from_millis(smtp.backoff_max_ms),
                    // Long enough for a slow server to reply to every command of one message.
                    lease: Duration::from_secs(smtp.timeout_secs.saturating_mul(5).max(30)),
                })
            }
            None => None,
        };
        Ok(Self { intake, purge, delivery })
    }

    /// Returns the connectors the responder registers besides its own.
    pub(crate) fn connectors(&self) -> Vec<Arc<dyn Connector>> {
        self.purge.iter().cloned().collect()
    }
}

/// Hands each message of a reporting mailbox to the normal report intake.
pub(crate) struct ServiceSink {
    pub(crate) store: Store,
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) notifier: Arc<Notifier>,
    pub(crate) jobs_queued: Arc<Notify>,
}

#[async_trait]
impl ReportSink for ServiceSink {
    /// Stores the report (the wrapper's sender is the reporter), wakes a
    /// worker and queues the acknowledgement. Repeating a source key returns
    /// the stored report, and the outbox keeps one acknowledgement per report.
    async fn submit(&self, raw: Vec<u8>, source_key: String) -> Result<Submitted, SinkError> {
        let submission = Submission {
            message: raw,
            reporter: None,
            comment: None,
            source: ReportSource::Imap,
            source_key: Some(source_key),
        };
        // NOTE: a message over `server.max_message_bytes` fails here on every
        // pass and stays in the reporting mailbox, counted as failed, until
        // someone moves it or raises the limit.
        let accepted = intake::submit_acknowledged(&self.store, &self.pipeline, &self.notifier, submission).await?;
        self.jobs_queued.notify_one();
        Ok(Submitted { report_id: accepted.report.id.to_string(), created: accepted.created })
    }
}

/// Sends the outbox over SMTP.
pub(crate) struct Delivery {
    mailer: Arc<Mailer>,
    max_attempts: u32,
    backoff_initial: Duration,
    backoff_max: Duration,
    lease: Duration,
}

impl Delivery {
    /// Sends due messages until `shutdown` turns true. `outbox_queued` wakes
    /// the loop when this process queues a message; messages that other
    /// processes queue are found by polling every second.
    pub(crate) async fn run(self, store: Store, outbox_queued: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
        tracing::info!("outbox delivery started");
        while !*shutdown.borrow() {
            let claimed = match store.claim_messages(CLAIM_BATCH, self.lease).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "claiming outbox messages failed; trying again");
                    Vec::new()
                }
            };
            if !claimed.is_empty() {
                for message in claimed {
                    self.deliver(&store, message).await;
                }
                continue;
            }
            tokio::select! {
                _ = outbox_queued.notified() => {}
                _ = tokio::time::sleep(DELIVERY_POLL) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("outbox delivery stopped");
    }

    /// Makes one attempt and records it: sent, retried later, or failed.
    async fn deliver(&self, store: &Store, message: OutboxMessage) {
        let outgoing = OutgoingMessage {
            recipient: message.recipient.clone(),
            subject: message.subject.clone(),
            text: message.text.clone(),
            html: (!message.html.trim().is_empty()).then(|| message.html.clone()),
            kind: message.kind.as_str().to_owned(),
            outbox_id: message.id.to_string(),
        };
        let result = self.mailer.send(&outgoing).await;
        let recorded = match result {
            Ok(sent) => record_sent(store, &message, &sent.message_id).await,
            Err(error) if error.is_permanent() || message.attempts >= self.max_attempts => {
                record_failed(store, &message, &error.to_string()).await
            }
            Err(error) => {
                let delay = backoff(self.backoff_initial, self.backoff_max, message.attempts);
                tracing::info!(message_id = %message.id, attempt = message.attempts, %error, ?delay, "delivery failed; retrying later");
                store.retry_message_later(message.id, &error.to_string(), delay).await.map(|_| ())
            }
        };
        if let Err(error) = recorded {
            tracing::warn!(message_id = %message.id, %error, "recording the delivery attempt failed; the lease will expire and the message is tried again");
        }
    }
}

/// Returns the wait after failed attempt `attempt` (1-based): `initial`,
/// doubled for each later attempt, at most `max`.
fn backoff(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(20);
    initial.saturating_mul(1 << doublings).min(max)
}

/// Returns the subject of a message's events: its case, or its report before it has one.
fn event_subject(message: &OutboxMessage) -> Option<EventSubject> {
    message.case_id.map(EventSubject::Case).or(message.report_id.map(EventSubject::Report))
}

async fn record_sent(
    store: &Store,
    message: &OutboxMessage,
    smtp_message_id: &str,
) -> Result<(), phishloop_store::StoreError> {
    store.record_delivery(message.id, Some(smtp_message_id)).await?;
    if let Some(subject) = event_subject(message) {
        let payload = json!({
            "message_id": message.id,
            "kind": message.kind,
            "recipient": message.recipient,
            "smtp_message_id": smtp_message_id,
            "attempts": message.attempts,
        });
        store.append_event(subject, "message_sent", &payload).await?;
    }
    tracing::info!(message_id = %message.id, kind = %message.kind, attempts = message.attempts, "message sent");
    Ok(())
}

async fn record_failed(store: &Store, message: &OutboxMessage, error: &str) -> Result<(), phishloop_store::StoreError> {
    store.mark_message_failed(message.id, error).await?;
    if let Some(subject) = event_subject(message) {
        let payload = json!({
            "message_id": message.id,
            "kind": message.kind,
            "recipient": message.recipient,
            "error": error,
            "attempts": message.attempts,
        });
        store.append_event(subject, "message_failed", &payload).await?;
    }
    tracing::warn!(message_id = %message.id, kind = %message.kind, attempts = message.attempts, %error, "message delivery failed for good");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_max() {
        let (initial, max) = (Duration::from_secs(30), Duration::from_secs(100));

        assert_eq!(backoff(initial, max, 1), Duration::from_secs(30));
        assert_eq!(backoff(initial, max, 2), Duration::from_secs(60));
        assert_eq!(backoff(initial, max, 3), Duration::from_secs(100));
        assert_eq!(backoff(initial, max, u32::MAX), Duration::from_secs(100));
    }
}
