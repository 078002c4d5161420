//! A new report stored in one transaction with its raw message, its job,
//! its acknowledgement and their events.

mod common;

use common::{sample_message, store_test};
use phishloop_store::{
    EventSubject, IncomingReport, JobStatus, NewOutboxMessage, OutboxFilter, OutboxKind, ReceivedReport, ReportSource,
    ReportStatus, Sha256Hex, StoreError,
};
use serde_json::json;

fn acknowledgement(subject: &str) -> NewOutboxMessage {
    NewOutboxMessage {
        kind: OutboxKind::Acknowledgement,
        recipient: " Alice@Example.org ".to_owned(),
        subject: subject.to_owned(),
        text: "We have your report.".to_owned(),
        html: "<p>We have your report.</p>".to_owned(),
        case_id: None,
        report_id: None,
    }
}

fn incoming<'a>(message: &'a [u8], source_key: Option<&'a str>, subject: &str) -> IncomingReport<'a> {
    IncomingReport {
        message,
        reporter: "alice@example.org",
        comment: Some("asks for my password"),
        source: ReportSource::Imap,
        source_key,
        job_kind: "report.analyse",
        acknowledgement: Some(acknowledgement(subject)),
    }
}

/// Returns the events intake appends: `received`, and
/// `reporter_acknowledged` when an acknowledgement was queued.
fn intake_events(received: &ReceivedReport) -> Vec<phishloop_store::ReceiptEvent> {
    let subject = EventSubject::Report(received.report.id);
    let mut events = vec![(subject, "received", json!({ "job_id": received.job.id }))];
    if let Some(message) = &received.acknowledgement {
        events.push((subject, "reporter_acknowledged", json!({ "message_id": message.id })));
    }
    events
}

store_test!(receive_stores_everything_together, |db| {
    let message = sample_message(3_000, 7);

    let received = db.store.receive_report(incoming(&message, None, "Thanks"), intake_events).await.expect("receive");

    let report = db.store.get_report(received.report.id).await.expect("get_report").expect("report stored");
    assert!(received.created);
    assert_eq!(report, received.report);
    assert_eq!(report.status, ReportStatus::Received);
    assert_eq!(report.comment.as_deref(), Some("asks for my password"));
    assert_eq!(report.raw_sha256, Sha256Hex::of(&message));
    let raw = db.store.get_raw(&report.raw_sha256).await.expect("get_raw");
    assert_eq!(raw.as_deref(), Some(message.as_slice()));

    assert_eq!(received.job.kind, "report.analyse");
    assert_eq!(received.job.status, JobStatus::Queued);
    assert_eq!(received.job.payload, json!({ "report_id": report.id }));
    assert_eq!(received.job.idempotency_key, report.id.to_string());

    let queued = received.acknowledgement.as_ref().expect("acknowledgement queued");
    assert_eq!(queued.recipient, "alice@example.org", "stored trimmed and in lowercase");
    assert_eq!(queued.report_id, Some(report.id));
    let filter = OutboxFilter { kind: Some(OutboxKind::Acknowledgement), limit: 10, ..OutboxFilter::default() };
    assert_eq!(db.store.outbox_messages(&filter).await.expect("outbox"), vec![queued.clone()]);

    let events = db.store.events_for(EventSubject::Report(report.id)).await.expect("events");
    let kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
    assert_eq!(kinds, ["received", "reporter_acknowledged"]);
    assert_eq!(events[0].payload, json!({ "job_id": received.job.id }));
    assert!(db.store.verify_chain().await.expect("verify").is_intact());
});

store_test!(receive_same_source_key_returns_first_report, |db| {
    let message = sample_message(1_000, 1);
    let key = Some("imap:reports:INBOX:1:42");

    let first = db.store.receive_report(incoming(&message, key, "Thanks"), intake_events).await.expect("first");
    let again = db.store.receive_report(incoming(&message, key, "Thanks"), intake_events).await.expect("again");

    assert!(first.created);
    assert!(!again.created);
    assert_eq!(again.report.id, first.report.id);
    assert_eq!(again.job.id, first.job.id, "no second job");
    assert_eq!(again.acknowledgement, None, "no second acknowledgement");
    let events = db.store.events_for(EventSubject::Report(first.report.id)).await.expect("events");
    assert_eq!(events.len(), 2, "no second event: {events:?}");
    let outbox = db.store.outbox_messages(&OutboxFilter { limit: 10, ..OutboxFilter::default() }).await;
    assert_eq!(outbox.expect("outbox").len(), 1);
});

store_test!(receive_without_acknowledgement_or_with_a_bad_one, |db| {
    let message = sample_message(500, 2);
    let mut plain = incoming(&message, None, "Thanks");
    plain.acknowledgement = None;
    let too_long = "x".repeat(5_000);

    let without = db.store.receive_report(plain, intake_events).await.expect("without acknowledgement");
    let left_out = db.store.receive_report(incoming(&message, None, &too_long), intake_events).await;

    assert_eq!(without.acknowledgement, None);
    let left_out = left_out.expect("the report is stored without the acknowledgement");
    assert!(left_out.created);
    assert_eq!(left_out.acknowledgement, None);
    assert_eq!(left_out.report.raw_sha256, without.report.raw_sha256, "one raw message for both");
    let events = db.store.events_for(EventSubject::Report(left_out.report.id)).await.expect("events");
    assert_eq!(events.iter().map(|event| event.kind.as_str()).collect::<Vec<_>>(), ["received"]);
});

store_test!(receive_rejects_bad_input_before_writing, |db| {
    let message = sample_message(500, 3);
    let mut blank = incoming(&message, None, "Thanks");
    blank.reporter = " ";
    let mut wrong_kind = incoming(&message, None, "Thanks");
    wrong_kind.acknowledgement = Some(NewOutboxMessage { kind: OutboxKind::Lesson, ..acknowledgement("Thanks") });

    let blank = db.store.receive_report(blank, intake_events).await.expect_err("blank reporter");
    let wrong_kind = db.store.receive_report(wrong_kind, intake_events).await.expect_err("a lesson at intake");

    assert!(matches!(&blank, StoreError::InvalidInput { field: "reporter", .. }), "{blank:?}");
    assert!(matches!(&wrong_kind, StoreError::InvalidInput { field: "acknowledgement", .. }), "{wrong_kind:?}");
    assert!(!db.store.has_raw(&Sha256Hex::of(&message)).await.expect("has_raw"), "nothing stored");
});
