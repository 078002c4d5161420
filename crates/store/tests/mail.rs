//! Source keys of reports and outbox delivery on both back ends.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{report_from, store_test};
use phishloop_store::{NewOutboxMessage, NewReport, OutboxKind, OutboxStatus, ReportSource, Store, StoreError};
use uuid::Uuid;

fn keyed_report(raw_sha256: phishloop_store::Sha256Hex, key: Option<&str>) -> NewReport {
    NewReport {
        reporter: "alice@corp-example.com".to_owned(),
        comment: None,
        source: ReportSource::Imap,
        raw_sha256,
        source_key: key.map(str::to_owned),
    }
}

/// Queues an outcome message for a new report and returns its id.
async fn queued_message(store: &Store, tag: &str) -> Uuid {
    let report = report_from(store, "alice@corp-example.com", format!("Subject: {tag}\r\n\r\nbody").as_bytes()).await;
    let message = NewOutboxMessage {
        kind: OutboxKind::Outcome,
        recipient: format!("{tag}@corp-example.com"),
        subject: "What your report changed".to_owned(),
        text: "text".to_owned(),
        html: "<p>html</p>".to_owned(),
        case_id: None,
        report_id: Some(report.id),
    };
    store.queue_message(&message).await.expect("queue").message.id
}

store_test!(source_key_stores_one_report, |db| {
    let raw = db.store.put_raw(b"Subject: reported\r\n\r\nbody").await.expect("put_raw");
    let key = "imap:reports:INBOX:17:4";

    let first = db.store.create_report_once(&keyed_report(raw.clone(), Some(key))).await.expect("first");
    let second = db.store.create_report_once(&keyed_report(raw.clone(), Some(key))).await.expect("second");
    let other = db.store.create_report_once(&keyed_report(raw.clone(), Some("imap:reports:INBOX:17:5"))).await;

    assert!(first.created);
    assert!(!second.created, "the same key must return the stored report");
    assert_eq!(second.report.id, first.report.id);
    assert!(other.expect("other key").created);
    assert_eq!(db.count("SELECT count(*) FROM reports").await, 2);
});

store_test!(reports_without_key_never_conflict, |db| {
    let raw = db.store.put_raw(b"Subject: twice\r\n\r\nbody").await.expect("put_raw");

    let first = db.store.create_report_once(&keyed_report(raw.clone(), None)).await.expect("first");
    let second = db.store.create_report_once(&keyed_report(raw.clone(), None)).await.expect("second");

    assert!(first.created && second.created);
    assert_ne!(first.report.id, second.report.id);
});

store_test!(source_key_concurrent_submits_store_one, |db| {
    let raw = db.store.put_raw(b"Subject: raced\r\n\r\nbody").await.expect("put_raw");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, raw) = (db.store.clone(), raw.clone());
        tasks.push(tokio::spawn(async move {
            store.create_report_once(&keyed_report(raw, Some("imap:reports:INBOX:1:1"))).await
        }));
    }

    let mut created = 0;
    let mut ids = HashSet::new();
    for task in tasks {
        let stored = task.await.expect("task").expect("create_report_once");
        created += usize::from(stored.created);
        ids.insert(stored.report.id);
    }

    assert_eq!(created, 1, "exactly one submit creates the report");
    assert_eq!(ids.len(), 1, "every submit returns the same report");
});

store_test!(source_key_too_long_rejected, |db| {
    let raw = db.store.put_raw(b"x").await.expect("put_raw");
    let key = "k".repeat(1025);

    let error = db.store.create_report_once(&keyed_report(raw, Some(&key))).await.expect_err("too long");

    assert!(matches!(error, StoreError::InvalidInput { field: "source key", .. }), "{error:?}");
});

store_test!(claimed_message_not_claimed_twice, |db| {
    let id = queued_message(&db.store, "claim").await;

    let first = db.store.claim_messages(10, Duration::from_secs(60)).await.expect("first claim");
    let second = db.store.claim_messages(10, Duration::from_secs(60)).await.expect("second claim");

    assert_eq!(first.iter().map(|message| message.id).collect::<Vec<_>>(), vec![id]);
    assert_eq!(first[0].attempts, 1);
    assert!(second.is_empty(), "a leased message must not be claimed again: {second:?}");
});

store_test!(expired_lease_is_claimed_again, |db| {
    let id = queued_message(&db.store, "expired").await;

    let first = db.store.claim_messages(10, Duration::from_millis(50)).await.expect("first claim");
    tokio::time::sleep(Duration::from_millis(120)).await;
    let second = db.store.claim_messages(10, Duration::from_secs(60)).await.expect("second claim");

    assert_eq!(first.len(), 1);
    assert_eq!(second.iter().map(|message| message.id).collect::<Vec<_>>(), vec![id]);
    assert_eq!(second[0].attempts, 2);
});

store_test!(concurrent_claims_share_no_message, |db| {
    for index in 0..30 {
        queued_message(&db.store, &format!("many{index}")).await;
    }
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move { store.claim_messages(4, Duration::from_secs(60)).await }));
    }

    let mut seen = HashSet::new();
    let mut total = 0;
    for task in tasks {
        for message in task.await.expect("task").expect("claim") {
            total += 1;
            seen.insert(message.id);
        }
    }

    assert_eq!(total, 24, "six claims of four from thirty messages");
    assert_eq!(seen.len(), total, "no message may be claimed by two claimers");
});

store_test!(delivery_recorded_once, |db| {
    let id = queued_message(&db.store, "sent").await;
    db.store.claim_messages(10, Duration::from_secs(60)).await.expect("claim");

    let sent = db.store.record_delivery(id, Some("<phishloop.1@corp-example.com>")).await.expect("record");
    let again = db.store.record_delivery(id, Some("<other@corp-example.com>")).await.expect("record again");
    let later = db.store.claim_messages(10, Duration::from_secs(60)).await.expect("claim after");

    assert_eq!(sent.status, OutboxStatus::Sent);
    assert_eq!(sent.smtp_message_id.as_deref(), Some("<phishloop.1@corp-example.com>"));
    assert_eq!(again.smtp_message_id, sent.smtp_message_id, "the first Message-ID stays");
    assert_eq!(again.sent_at, sent.sent_at, "the first time stays");
    assert!(later.is_empty(), "a sent message is not claimed: {later:?}");
});

store_test!(retried_message_waits_for_its_time, |db| {
    let id = queued_message(&db.store, "retry").await;
    db.store.claim_messages(10, Duration::from_secs(60)).await.expect("claim");

    let waiting = db.store.retry_message_later(id, "451 4.3.0 try later", Duration::from_millis(300)).await;
    let early = db.store.claim_messages(10, Duration::from_secs(60)).await.expect("early claim");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let due = db.store.claim_messages(10, Duration::from_secs(60)).await.expect("due claim");

    let waiting = waiting.expect("retry later");
    assert_eq!(waiting.status, OutboxStatus::Queued);
    assert_eq!(waiting.last_error.as_deref(), Some("451 4.3.0 try later"));
    assert!(waiting.next_attempt_at.is_some());
    assert!(early.is_empty(), "a message is not due before its retry time: {early:?}");
    assert_eq!(due.iter().map(|message| message.id).collect::<Vec<_>>(), vec![id]);
    assert_eq!(due[0].attempts, 2);
});

store_test!(failed_message_stays_failed, |db| {
    let id = queued_message(&db.store, "failed").await;
    db.store.claim_messages(10, Duration::from_secs(60)).await.expect("claim");

    let failed = db.store.mark_message_failed(id, "550 5.1.1 no such user").await.expect("mark failed");
    let later = db.store.claim_messages(10, Duration::from_secs(60)).await.expect("claim after");
    let retry = db.store.retry_message_later(id, "again", Duration::from_millis(1)).await;
    let read = db.store.get_message(id).await.expect("get").expect("stored");

    assert_eq!(failed.status, OutboxStatus::Failed);
    assert_eq!(failed.last_error.as_deref(), Some("550 5.1.1 no such user"));
    assert!(later.is_empty());
    assert!(matches!(retry, Err(StoreError::OutboxMessageNotFound(_))), "{retry:?}");
    assert_eq!(read.status, OutboxStatus::Failed);
    assert_eq!("failed".parse::<OutboxStatus>().ok(), Some(OutboxStatus::Failed));
});
