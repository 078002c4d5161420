//! Messages to people: the acknowledgement at intake, the outcome for the
//! reporter and lessons for the people inside the organisation who received
//! the reported message. They are rendered with `phishloop_coaching::Coach`
//! and queued in the store's outbox; `mail.rs` sends them when
//! `[mail.smtp]` is configured.
//!
//! The outbox keeps one message per report (or case, for lessons), kind and
//! recipient, so a retried job queues nothing twice.

use std::collections::BTreeSet;

use phishloop_coaching::{Audience, CaseSummary, Coach, CoachingConfig, Impact, Person, RenderedMessage};
use phishloop_model::{Decision, MessageAnalysis, Verdict};
use phishloop_store::{Action, ActionStatus, EventSubject, NewOutboxMessage, OutboxKind, QueuedMessage, Report, Store};
use serde_json::json;
use uuid::Uuid;

use crate::error::ServiceError;
use crate::intake::UNKNOWN_REPORTER;
use crate::respond::Responded;

/// Renders and queues the messages of the loop.
#[derive(Debug)]
pub(crate) struct Notifier {
    store: Store,
    coach: Coach,
    /// The organisation's mail domains, lowercase: lessons go only to
    /// recipients at these domains or their subdomains.
    organization_domains: Vec<String>,
    /// Wakes this process's outbox delivery when a new message is queued.
    outbox_queued: std::sync::Arc<tokio::sync::Notify>,
}

impl Notifier {
    pub(crate) fn new(
        store: Store,
        config: CoachingConfig,
        organization_domains: Vec<String>,
        outbox_queued: std::sync::Arc<tokio::sync::Notify>,
    ) -> Result<Self, ServiceError> {
        let coach =
            Coach::new(config).map_err(|error| ServiceError::Config(format!("invalid [coaching] table: {error}")))?;
        let organization_domains = organization_domains
            .iter()
            .map(|domain| domain.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|domain| !domain.is_empty())
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        Ok(Self { store, coach, organization_domains, outbox_queued })
    }

    /// Renders the acknowledgement to the reporter of a new report, which
    /// intake stores with the report. Returns `None` for an unknown reporter.
    pub(crate) fn acknowledgement(&self, reporter: &str) -> Option<NewOutboxMessage> {
        let reporter = known_address(reporter)?;
        let summary = summary(None, Some(reporter), None, Impact::default());
        let rendered = self.coach.acknowledgement(None, &summary);
        for issue in &rendered.issues {
            tracing::warn!(%issue, "coaching template of the acknowledgement failed; the embedded template was used");
        }
        Some(NewOutboxMessage {
            kind: OutboxKind::Acknowledgement,
            recipient: reporter.to_owned(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            case_id: None,
            report_id: None,
        })
    }

    /// Wakes the outbox delivery after intake queued an acknowledgement.
    pub(crate) fn message_queued(&self) {
        self.outbox_queued.notify_one();
    }

    /// Queues the outcome for the report's reporter and, for attacks, a
    /// lesson for each recipient inside the organisation who did not report
    /// the message. Appends `reporter_told` to the report and `lesson_queued`
    /// to the case for each message queued now. `told_before` is true when
    /// the report has its `reporter_told` event from an earlier attempt.
    pub(crate) async fn tell(
        &self,
        report: &Report,
        case_id: Uuid,
        decision: &Decision,
        message: Option<&MessageAnalysis>,
        responded: &Responded,
        told_before: bool,
    ) -> Result<(), ServiceError> {
        let actions = responded.actions.as_slice();
        let impact = impact_of(actions);
        if let Some(reporter) = known_reporter(report) {
            let summary = summary(Some(case_id), Some(reporter), None, impact);
            let rendered = self.coach.outcome(decision, message, &summary);
            log_issues(&rendered, report.id);
            let event = |queued: &QueuedMessage| {
                let payload = json!({
                    "message_id": queued.message.id,
                    "recipient": queued.message.recipient,
                    "subject": queued.message.subject,
                });
                (queued.created || !told_before).then_some((EventSubject::Report(report.id), "reporter_told", payload))
            };
            let queued =
                self.queue(OutboxKind::Outcome, reporter, &rendered, Some(case_id), Some(report.id), event).await?;
            if queued.created || !told_before {
                tracing::info!(report_id = %report.id, %case_id, "outcome queued for the reporter");
            }
        }

        if !deserves_lesson(decision) {
            return Ok(());
        }
        let reporters = &responded.reporters;
        for recipient in self.message_recipients(message, actions, reporters) {
            if reporters.contains(&recipient) {
                continue;
            }
            let person = Person { name: None, address: recipient.clone() };
            let summary = summary(Some(case_id), None, Some(person), impact);
            let rendered = self.coach.lesson(decision, message, &summary, Audience::Recipient);
            log_issues(&rendered, report.id);
            let event = |queued: &QueuedMessage| {
                let payload =
                    json!({ "message_id": queued.message.id, "recipient": recipient, "report_id": report.id });
                queued.created.then_some((EventSubject::Case(case_id), "lesson_queued", payload))
            };
            let queued = self.queue(OutboxKind::Lesson, &recipient, &rendered, Some(case_id), None, event).await?;
            if queued.created {
                tracing::info!(report_id = %report.id, %case_id, "lesson queued");
            }
        }
        Ok(())
    }

    /// Returns the people inside the organisation who received the
    /// message: the original's To and Cc at the organisation's domains and
    /// the mailboxes in which a purge found a copy.
    pub(crate) fn message_recipients(
        &self,
        message: Option<&MessageAnalysis>,
        actions: &[Action],
        reporters: &BTreeSet<String>,
    ) -> BTreeSet<String> {
        let mut recipients = self.internal_recipients(message, reporters);
        recipients.extend(self.purged_mailboxes(actions));
        recipients
    }

    /// Queues a lesson about this lure for a person who clicked it or
    /// submitted credentials, once per verdict row `person_id`, and appends
    /// `lesson_queued` with the audience `clicker`. Returns true when it
    /// was queued now.
    pub(crate) async fn teach_clicker(
        &self,
        case_id: Uuid,
        decision: &Decision,
        message: Option<&MessageAnalysis>,
        person_id: Uuid,
        address: &str,
    ) -> Result<bool, ServiceError> {
        let person = Person { name: None, address: address.to_owned() };
        let summary = summary(Some(case_id), None, Some(person), Impact::default());
        let rendered = self.coach.lesson(decision, message, &summary, Audience::Clicker);
        for issue in &rendered.issues {
            tracing::warn!(%case_id, %issue, "coaching template failed; the embedded template was used");
        }
        let new_message = NewOutboxMessage {
            kind: OutboxKind::Lesson,
            recipient: address.to_owned(),
            subject: rendered.subject.clone(),
            text: rendered.text.clone(),
            html: rendered.html.clone(),
            case_id: Some(case_id),
            report_id: None,
        };
        let event = |queued: &QueuedMessage| {
            let payload = json!({
                "message_id": queued.message.id,
                "recipient": queued.message.recipient,
                "audience": "clicker",
            });
            queued.created.then_some((EventSubject::Case(case_id), "lesson_queued", payload))
        };
        let queued = self.store.queue_message_recorded(&new_message, person_id, event).await?;
        if !queued.created {
            return Ok(false);
        }
        self.outbox_queued.notify_one();
        tracing::info!(%case_id, "lesson queued for a person who clicked");
        Ok(true)
    }

    /// Queues a plain notice (kind `lesson`, so it is delivered like one)
    /// once per `about_id` and recipient, and appends the notice's event to
    /// the case. Returns true when it was queued now.
    pub(crate) async fn queue_notice(
        &self,
        case_id: Uuid,
        about_id: Uuid,
        notice: &Notice,
    ) -> Result<bool, ServiceError> {
        let new_message = NewOutboxMessage {
            kind: OutboxKind::Lesson,
            recipient: notice.recipient.clone(),
            subject: notice.subject.clone(),
            text: notice.text.clone(),
            html: notice.html.clone(),
            case_id: Some(case_id),
            report_id: None,
        };
        let event = |queued: &QueuedMessage| {
            let payload = json!({
                "message_id": queued.message.id,
                "recipient": queued.message.recipient,
                "detail": notice.event_detail,
            });
            queued.created.then_some((EventSubject::Case(case_id), notice.event_kind, payload))
        };
        let queued = self.store.queue_message_recorded(&new_message, about_id, event).await?;
        if !queued.created {
            return Ok(false);
        }
        self.outbox_queued.notify_one();
        Ok(true)
    }

    /// Queues a rendered message and, in the same transaction, the event
    /// that `event` returns for it.
    async fn queue(
        &self,
        kind: OutboxKind,
        recipient: &str,
        rendered: &RenderedMessage,
        case_id: Option<Uuid>,
        report_id: Option<Uuid>,
        event: impl FnOnce(&QueuedMessage) -> Option<(EventSubject, &'static str, serde_json::Value)>,
    ) -> Result<QueuedMessage, ServiceError> {
        let message = NewOutboxMessage {
            kind,
            recipient: recipient.to_owned(),
            subject: rendered.subject.clone(),
            text: rendered.text.clone(),
            html: rendered.html.clone(),
            case_id,
            report_id,
        };
        let queued = self.store.queue_message_with(&message, event).await?;
        if queued.created {
            self.outbox_queued.notify_one();
        }
        Ok(queued)
    }

    /// Returns the To and Cc addresses of the reported original at the
    /// organisation's domains, lowercase and without repeats. With no
    /// organisation domain configured, the domains of the case's reporters
    /// stand in: people who report to phishloop work at the organisation.
    fn internal_recipients(&self, message: Option<&MessageAnalysis>, reporters: &BTreeSet<String>) -> BTreeSet<String> {
        let Some(message) = message else {
            return BTreeSet::new();
        };
        let reporter_domains: Vec<String> = if self.organization_domains.is_empty() {
            reporters
                .iter()
                .filter_map(|address| address.rsplit_once('@'))
                .map(|(_, domain)| domain.to_owned())
                .collect()
        } else {
            Vec::new()
        };
        message
            .headers
            .to
            .mailboxes
            .iter()
            .chain(&message.headers.cc.mailboxes)
            .filter(|mailbox| {
                mailbox.domain.as_deref().is_some_and(|domain| {
                    self.is_internal(domain) || reporter_domains.iter().any(|own| domain.eq_ignore_ascii_case(own))
                })
            })
            .filter_map(|mailbox| mailbox.address.as_deref())
            .map(str::to_lowercase)
            .collect()
    }

    /// Returns the addresses of the mailboxes where a purge found a copy, so
    /// people who got the message by Bcc or through a list get a lesson too.
    /// A mailbox login without `@` gets the organisation's domain when
    /// exactly one is configured, and is skipped otherwise.
    fn purged_mailboxes(&self, actions: &[Action]) -> BTreeSet<String> {
        actions
            .iter()
            .filter(|action| action.kind == "purge_copies" && action.status == ActionStatus::Succeeded)
            .filter_map(|action| action.outcome.as_ref())
            .flat_map(|outcome| mailbox_addresses(outcome, &self.organization_domains))
            .filter(|address| address.rsplit_once('@').is_some_and(|(_, domain)| self.is_internal(domain)))
            .collect()
    }

    fn is_internal(&self, domain: &str) -> bool {
        let domain = domain.to_ascii_lowercase();
        self.organization_domains
            .iter()
            .any(|own| domain == *own || domain.strip_suffix(own.as_str()).is_some_and(|rest| rest.ends_with('.')))
    }
}

/// A message that is not rendered from a coaching template, such as the
/// notice to the owner of an exposed secret.
#[derive(Debug, Clone)]
pub(crate) struct Notice {
    pub(crate) recipient: String,
    pub(crate) subject: String,
    pub(crate) text: String,
    pub(crate) html: String,
    /// The event appended to the case when the notice is queued.
    pub(crate) event_kind: &'static str,
    pub(crate) event_detail: serde_json::Value,
}

/// Lessons are for attacks and simulations that no analyst still has to
/// confirm; a benign or spam report teaches nothing about a lure.
fn deserves_lesson(decision: &Decision) -> bool {
    matches!(decision.verdict, Verdict::Malicious | Verdict::Suspicious | Verdict::Simulation) && !decision.needs_review
}

fn known_reporter(report: &Report) -> Option<&str> {
    known_address(&report.reporter)
}

/// Returns the reporter's address, trimmed, or `None` for an unknown reporter.
fn known_address(reporter: &str) -> Option<&str> {
    let reporter = reporter.trim();
    (reporter != UNKNOWN_REPORTER && reporter.contains('@')).then_some(reporter)
}

fn summary(case_id: Option<Uuid>, reporter: Option<&str>, recipient: Option<Person>, impact: Impact) -> CaseSummary {
    CaseSummary {
        case_id: case_id.map(|id| id.to_string()).unwrap_or_default(),
        reporter: reporter.map(|address| Person { name: None, address: address.to_owned() }),
        recipient,
        impact,
    }
}

/// Counts what the case's actions changed. Dry runs (the `log` connector)
/// changed nothing, so they are not counted. A purge counts the copies it
/// moved and the mailboxes it moved at least one copy out of, read from the
/// per-mailbox `data` of its outcome (the `imap` connector's `PurgeReport`);
/// a purge connector without such data adds nothing.
fn impact_of(actions: &[Action]) -> Impact {
    let mut impact = Impact::default();
    for action in actions {
        let dry_run = action.outcome.as_ref().and_then(|outcome| outcome.get("dry_run")).and_then(|v| v.as_bool());
        if action.status != ActionStatus::Succeeded || dry_run != Some(false) {
            continue;
        }
        match action.kind.as_str() {
            "block_url" => impact.urls_blocked += 1,
            "block_domain" => impact.domains_blocked += 1,
            "block_sender" => impact.senders_blocked += 1,
            "purge_copies" => add_purge(&mut impact, action.outcome.as_ref()),
            _ => {}
        }
    }
    impact
}

/// Returns the per-mailbox results of an `imap` purge outcome (`data.mailboxes`),
/// none for any other outcome.
fn purge_mailboxes(outcome: Option<&serde_json::Value>) -> impl Iterator<Item = &serde_json::Value> {
    outcome
        .and_then(|outcome| outcome.get("data"))
        .and_then(|data| data.get("mailboxes"))
        .and_then(|mailboxes| mailboxes.as_array())
        .into_iter()
        .flatten()
}

/// Returns the lowercase addresses of the mailboxes in which a purge outcome
/// found a copy. A login without `@` gets the domain when `domains` has
/// exactly one, and is left out otherwise.
fn mailbox_addresses(outcome: &serde_json::Value, domains: &[String]) -> Vec<String> {
    let mut addresses = Vec::new();
    for mailbox in purge_mailboxes(Some(outcome)) {
        let found = mailbox.get("found").and_then(serde_json::Value::as_u64).unwrap_or(0);
        let Some(user) = mailbox.get("user").and_then(serde_json::Value::as_str) else {
            continue;
        };
        if found == 0 {
            continue;
        }
        match (user.contains('@'), domains) {
            (true, _) => addresses.push(user.to_lowercase()),
            (false, [domain]) => addresses.push(format!("{}@{domain}", user.to_lowercase())),
            (false, _) => {}
        }
    }
    addresses
}

/// Adds the copies moved and the mailboxes protected by one purge outcome.
fn add_purge(impact: &mut Impact, outcome: Option<&serde_json::Value>) {
    for mailbox in purge_mailboxes(outcome) {
        let moved = mailbox.get("moved").and_then(serde_json::Value::as_u64).unwrap_or(0);
        impact.copies_removed = impact.copies_removed.saturating_add(moved);
        if moved > 0 {
            impact.people_protected = impact.people_protected.saturating_add(1);
        }
    }
}

fn log_issues(rendered: &RenderedMessage, report_id: Uuid) {
    for issue in &rendered.issues {
        tracing::warn!(%report_id, %issue, "coaching template failed; the embedded template was used");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purged_mailboxes_become_addresses() {
        let outcome = json!({ "data": { "mailboxes": [
            { "user": "Ann", "found": 1, "moved": 1 },
            { "user": "bob@corp-example.com", "found": 1, "moved": 0, "error": "move failed" },
            { "user": "cy", "found": 0, "moved": 0 },
        ] } });
        let one_domain = vec!["corp-example.com".to_owned()];
        let two_domains = vec!["corp-example.com".to_owned(), "corp-example.org".to_owned()];

        let with_one = mailbox_addresses(&outcome, &one_domain);
        let with_two = mailbox_addresses(&outcome, &two_domains);

        assert_eq!(with_one, vec!["ann@corp-example.com", "bob@corp-example.com"]);
        assert_eq!(with_two, vec!["bob@corp-example.com"], "a bare login is ambiguous with two domains");
    }

    #[test]
    fn purge_counts_copies_and_mailboxes() {
        let outcome = json!({
            "status": "succeeded",
            "dry_run": false,
            "data": { "quarantine_folder": "Q", "mailboxes": [
                { "user": "ann", "found": 2, "moved": 2 },
                { "user": "bob", "found": 1, "moved": 1 },
                { "user": "cy", "found": 0, "moved": 0 },
                { "user": "dee", "found": 1, "moved": 0, "error": "login failed" },
            ] },
        });
        let mut impact = Impact::default();

        add_purge(&mut impact, Some(&outcome));

        assert_eq!(impact.copies_removed, 3);
        assert_eq!(impact.people_protected, 2);
    }

    #[test]
    fn purge_without_data_adds_nothing() {
        let mut impact = Impact::default();

        add_purge(&mut impact, Some(&json!({ "status": "succeeded", "data": "not a report" })));
        add_purge(&mut impact, None);

        assert_eq!(impact, Impact::default());
    }
}
