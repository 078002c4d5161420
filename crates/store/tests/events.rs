//! The event log: chain order, concurrent appends, append-only triggers and
//! detection of rows changed by raw SQL.

mod common;

use common::{TestDb, report_from, store_test};
use phishloop_store::{ActionMode, ChainProblem, Event, EventSubject, NewAction, StoreError};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Appends `count` events about one new report and returns them.
async fn append_report_events(db: &TestDb, count: usize) -> Vec<Event> {
    let report = report_from(&db.store, "alice@example.org", b"Subject: x\r\n\r\ny").await;
    let mut events = Vec::new();
    for i in 0..count {
        let payload = json!({ "step": i, "note": "ünïcode and \"quotes\"" });
        events.push(
            db.store.append_event(EventSubject::Report(report.id), "report.step", &payload).await.expect("append"),
        );
    }
    events
}

/// Lets raw SQL change or remove events, as someone with write access to the
/// database could, by removing the append-only triggers.
async fn drop_append_only_triggers(db: &TestDb) {
    db.execute_each("DROP TRIGGER events_reject_update", "DROP TRIGGER events_reject_update ON events")
        .await
        .expect("drop update trigger");
    db.execute_each("DROP TRIGGER events_reject_delete", "DROP TRIGGER events_reject_delete ON events")
        .await
        .expect("drop delete trigger");
}

store_test!(events_keep_chain_order, |db| {
    let report = report_from(&db.store, "alice@example.org", b"m").await;
    let case_id = db.store.join_case(report.id, "key").await.expect("join_case").case_id;
    let on_report = EventSubject::Report(report.id);
    let on_case = EventSubject::Case(case_id);

    let mut appended = Vec::new();
    for (subject, kind) in [
        (on_report, "report.received"),
        (on_case, "case.opened"),
        (on_report, "report.analysed"),
        (on_report, "report.decided"),
        (on_case, "case.closed"),
    ] {
        let payload = json!({ "kind": kind, "at": appended.len() });
        appended.push(db.store.append_event(subject, kind, &payload).await.expect("append"));
    }
    let report_events = db.store.events_for(on_report).await.expect("events_for report");
    let case_events = db.store.events_for(on_case).await.expect("events_for case");
    let verification = db.store.verify_chain().await.expect("verify_chain");
    let head = db.store.chain_head().await.expect("chain_head");

    let kinds: Vec<&str> = report_events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, vec!["report.received", "report.analysed", "report.decided"]);
    assert_eq!(case_events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 5]);
    assert_eq!(report_events, vec![appended[0].clone(), appended[2].clone(), appended[3].clone()]);
    assert_eq!(appended.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    assert_eq!(appended[0].prev_hash.as_str(), GENESIS);
    for pair in appended.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash, "event {} links to event {}", pair[1].seq, pair[0].seq);
        assert!(pair[1].created_at >= pair[0].created_at);
    }
    assert!(verification.is_intact(), "{verification:?}");
    assert_eq!(verification.events_verified, 5);
    assert_eq!(head.seq, 5);
    assert_eq!(head.hash, appended[4].hash);
    assert_eq!(verification.head, head);
});

store_test!(empty_chain_verifies, |db| {
    let verification = db.store.verify_chain().await.expect("verify_chain");

    assert!(verification.is_intact(), "{verification:?}");
    assert_eq!(verification.events_verified, 0);
    assert_eq!(verification.head.seq, 0);
    assert_eq!(verification.head.hash.as_str(), GENESIS);
});

store_test!(concurrent_appends_form_one_chain, |db| {
    let report = report_from(&db.store, "alice@example.org", b"m").await;
    let mut tasks = Vec::new();
    for task in 0..4 {
        let store = db.store.clone();
        let subject = EventSubject::Report(report.id);
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                store.append_event(subject, "report.step", &json!({ "task": task, "i": i })).await.expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }

    let events = db.store.events_for(EventSubject::Report(report.id)).await.expect("events_for");
    let verification = db.store.verify_chain().await.expect("verify_chain");

    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=40).collect::<Vec<u64>>());
    for pair in events.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash, "event {} links to event {}", pair[1].seq, pair[0].seq);
    }
    assert!(verification.is_intact(), "{verification:?}");
    assert_eq!(verification.events_verified, 40);
});

store_test!(events_reject_update_and_delete, |db| {
    let events = append_report_events(&db, 2).await;

    let update = db.execute("UPDATE events SET kind = 'report.forged' WHERE seq = 1").await;
    let delete = db.execute("DELETE FROM events WHERE seq = 2").await;

    let update = update.expect_err("UPDATE must be rejected").to_string();
    let delete = delete.expect_err("DELETE must be rejected").to_string();
    assert!(update.contains("append-only"), "{update}");
    assert!(delete.contains("append-only"), "{delete}");
    assert_eq!(db.store.events_for(events[0].subject).await.expect("events_for"), events);
});

store_test!(append_event_needs_existing_subject, |db| {
    let report_id = Uuid::now_v7();
    let case_id = Uuid::now_v7();

    let on_report = db.store.append_event(EventSubject::Report(report_id), "report.received", &json!({})).await;
    let on_case = db.store.append_event(EventSubject::Case(case_id), "case.opened", &json!({})).await;
    let head = db.store.chain_head().await.expect("chain_head");

    assert!(matches!(on_report, Err(StoreError::ReportNotFound(id)) if id == report_id), "{on_report:?}");
    assert!(matches!(on_case, Err(StoreError::CaseNotFound(id)) if id == case_id), "{on_case:?}");
    assert_eq!(head.seq, 0, "a failed append leaves the chain as it was");
});

store_test!(verify_detects_changed_payload, |db| {
    let events = append_report_events(&db, 3).await;
    drop_append_only_triggers(&db).await;

    let changed =
        db.execute("UPDATE events SET payload = '{\"step\":1,\"note\":\"nothing to see\"}' WHERE seq = 2").await;
    let verification = db.store.verify_chain().await.expect("verify_chain");

    assert_eq!(changed.expect("tamper"), 1);
    let found = verification.first_break.expect("the change must be detected");
    assert_eq!(found.seq, 2);
    assert_eq!(found.event_id, Some(events[1].id));
    assert_eq!(found.problem, ChainProblem::ContentChanged);
    assert_eq!(verification.events_verified, 1);
});

store_test!(verify_detects_changed_time, |db| {
    let events = append_report_events(&db, 3).await;
    drop_append_only_triggers(&db).await;

    db.execute_each(
        "UPDATE events SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '-1 hour') WHERE seq = 3",
        "UPDATE events SET created_at = created_at - interval '1 hour' WHERE seq = 3",
    )
    .await
    .expect("tamper");
    let verification = db.store.verify_chain().await.expect("verify_chain");

    let found = verification.first_break.expect("the change must be detected");
    assert_eq!((found.seq, found.event_id, found.problem), (3, Some(events[2].id), ChainProblem::ContentChanged));
});

/// Computes an event hash by the layout documented on the store's
/// `event_hash`, written again here so that the test checks that layout.
fn hash_as_documented(prev_hash: &str, event: &Event, kind: &str) -> String {
    let (subject_type, subject_id) = match event.subject {
        EventSubject::Case(id) => ("case", id),
        EventSubject::Report(id) => ("report", id),
    };
    let fields = [
        "phishloop-event-v1".to_owned(),
        prev_hash.to_owned(),
        event.seq.to_string(),
        event.id.hyphenated().to_string(),
        event.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        subject_type.to_owned(),
        subject_id.hyphenated().to_string(),
        kind.to_owned(),
        event.payload.to_string(),
    ];
    let mut hasher = Sha256::new();
    for field in &fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    format!("{:x}", hasher.finalize())
}

store_test!(documented_hash_matches_stored_hash, |db| {
    let events = append_report_events(&db, 2).await;

    assert_eq!(hash_as_documented(GENESIS, &events[0], &events[0].kind), events[0].hash.as_str());
    assert_eq!(hash_as_documented(events[0].hash.as_str(), &events[1], &events[1].kind), events[1].hash.as_str());
});

store_test!(verify_detects_rehashed_event, |db| {
    // An attacker who changes an event and stores its correct new hash makes
    // that event verify, but breaks the prev_hash link of the event after it.
    let events = append_report_events(&db, 3).await;
    drop_append_only_triggers(&db).await;
    let forged_hash = hash_as_documented(GENESIS, &events[0], "report.forged");

    let forge = format!("UPDATE events SET kind = 'report.forged', hash = '{forged_hash}' WHERE seq = 1");
    db.execute(&forge).await.expect("tamper");
    let verification = db.store.verify_chain().await.expect("verify_chain");

    let found = verification.first_break.expect("the change must be detected");
    assert_eq!(verification.events_verified, 1, "the forged event itself verifies");
    assert_eq!((found.seq, found.event_id), (2, Some(events[1].id)));
    assert_eq!(found.problem, ChainProblem::PreviousHashMismatch);
});

store_test!(verify_detects_removed_event, |db| {
    append_report_events(&db, 4).await;
    drop_append_only_triggers(&db).await;

    db.execute("DELETE FROM events WHERE seq = 2").await.expect("tamper");
    let verification = db.store.verify_chain().await.expect("verify_chain");

    let found = verification.first_break.expect("the removal must be detected");
    assert_eq!((found.seq, found.event_id, found.problem), (2, None, ChainProblem::MissingEvent));
    assert_eq!(verification.events_verified, 1);
});

store_test!(verify_detects_removed_last_event, |db| {
    append_report_events(&db, 3).await;
    drop_append_only_triggers(&db).await;

    db.execute("DELETE FROM events WHERE seq = 3").await.expect("tamper");
    let verification = db.store.verify_chain().await.expect("verify_chain");

    let found = verification.first_break.expect("the removal must be detected");
    assert_eq!((found.seq, found.problem), (3, ChainProblem::HeadMismatch));
    assert_eq!(verification.events_verified, 2);
});

store_test!(verify_detects_renumbered_events, |db| {
    // Removing an event and renumbering the rest keeps seq contiguous, but
    // the next event's prev_hash no longer matches.
    let events = append_report_events(&db, 3).await;
    drop_append_only_triggers(&db).await;

    db.execute("DELETE FROM events WHERE seq = 2").await.expect("remove");
    db.execute("UPDATE events SET seq = 2 WHERE seq = 3").await.expect("renumber");
    db.execute("UPDATE event_chain_head SET seq = 2").await.expect("move head");
    let verification = db.store.verify_chain().await.expect("verify_chain");

    let found = verification.first_break.expect("the removal must be detected");
    assert_eq!((found.seq, found.event_id, found.problem), (2, Some(events[2].id), ChainProblem::PreviousHashMismatch));
});

store_test!(verify_reads_chain_in_batches, |db| {
    // More events than one verification batch (1000), with the change in
    // the second batch.
    let events = append_report_events(&db, 1005).await;
    drop_append_only_triggers(&db).await;

    let intact = db.store.verify_chain().await.expect("verify_chain");
    db.execute("UPDATE events SET payload = '{}' WHERE seq = 1003").await.expect("tamper");
    let broken = db.store.verify_chain().await.expect("verify_chain");

    assert!(intact.is_intact(), "{intact:?}");
    assert_eq!(intact.events_verified, 1005);
    let found = broken.first_break.expect("the change must be detected");
    assert_eq!((found.seq, found.event_id), (1003, Some(events[1002].id)));
    assert_eq!(broken.events_verified, 1002);
});

store_test!(batched_and_single_appends_form_one_chain, |db| {
    let report = report_from(&db.store, "alice@example.org", b"m").await;
    let case_id = db.store.join_case(report.id, "key").await.expect("join_case").case_id;
    let mut tasks = Vec::new();
    for task in 0..4 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..5 {
                if task % 2 == 0 {
                    store
                        .append_event(EventSubject::Report(report.id), "report.step", &json!({ "task": task, "i": i }))
                        .await
                        .expect("append");
                } else {
                    let plan: Vec<NewAction> = (0..3)
                        .map(|n| NewAction {
                            case_id,
                            kind: "notify".to_owned(),
                            target: json!({ "type": "person", "address": format!("p{n}@corp-example.com") }),
                            mode: ActionMode::Auto,
                            connector: "log".to_owned(),
                            playbook: "test".to_owned(),
                            reversible: false,
                            note: None,
                            idempotency_key: format!("batch-{task}-{i}-{n}"),
                        })
                        .collect();
                    store
                        .create_actions_recorded(&plan, "action_planned", |_| json!({ "task": task }))
                        .await
                        .expect("plan");
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }

    let verification = db.store.verify_chain().await.expect("verify_chain");
    let head = db.store.chain_head().await.expect("chain_head");

    // Two tasks append 5 single events, two append 5 batches of 3.
    assert!(verification.is_intact(), "{verification:?}");
    assert_eq!(verification.events_verified, 40);
    assert_eq!(head.seq, 40);
});
