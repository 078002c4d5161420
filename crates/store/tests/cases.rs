//! Reports and cases: storing, status and decision, and joining cases.

mod common;

use common::{report_from, sample_message, store_test};
use phishloop_store::{
    EventSubject, NewEvent, NewReport, ReportSource, ReportStatus, ReportUpdate, Sha256Hex, StoreError,
};
use serde_json::json;
use uuid::Uuid;

const KEY: &str = "<0123@mail.example.net>|fp:9f2c";

store_test!(report_round_trip, |db| {
    let raw_sha256 = db.store.put_raw(&sample_message(2_000, 1)).await.expect("put_raw");
    let new = NewReport {
        reporter: "alice@example.org".to_owned(),
        comment: Some("asks for my password".to_owned()),
        source: ReportSource::Imap,
        raw_sha256: raw_sha256.clone(),
        source_key: None,
    };

    let created = db.store.create_report(&new).await.expect("create_report");
    let read = db.store.get_report(created.id).await.expect("get_report");

    assert_eq!(read.as_ref(), Some(&created));
    assert_eq!(created.reporter, "alice@example.org");
    assert_eq!(created.comment.as_deref(), Some("asks for my password"));
    assert_eq!(created.source, ReportSource::Imap);
    assert_eq!(created.raw_sha256, raw_sha256);
    assert_eq!(created.status, ReportStatus::Received);
    assert_eq!(created.decision, None);
    assert_eq!(created.analysis, None);
    assert_eq!(created.case_id, None);
    assert!((chrono::Utc::now() - created.received_at).num_seconds().abs() < 60, "{}", created.received_at);
});

store_test!(report_requires_stored_raw, |db| {
    let missing = Sha256Hex::of(b"not stored");
    let new = NewReport {
        reporter: "alice@example.org".to_owned(),
        comment: None,
        source: ReportSource::Cli,
        raw_sha256: missing.clone(),
        source_key: None,
    };

    let error = db.store.create_report(&new).await.expect_err("raw message is missing");

    assert!(matches!(&error, StoreError::RawNotFound(sha) if *sha == missing), "{error:?}");
});

store_test!(report_rejects_blank_reporter, |db| {
    let raw_sha256 = db.store.put_raw(b"x").await.expect("put_raw");
    let new =
        NewReport { reporter: "  ".to_owned(), comment: None, source: ReportSource::Api, raw_sha256, source_key: None };

    let error = db.store.create_report(&new).await.expect_err("blank reporter");

    assert!(matches!(error, StoreError::InvalidInput { field: "reporter", .. }), "{error:?}");
});

store_test!(report_missing_is_none, |db| {
    assert_eq!(db.store.get_report(Uuid::now_v7()).await.expect("get_report"), None);
});

store_test!(report_status_and_decision, |db| {
    let report = report_from(&db.store, "bob@example.org", b"Subject: invoice\r\n\r\npay now").await;
    let decision = json!({ "verdict": "malicious", "category": "payment_fraud", "confidence": 0.93 });

    let analysed = db.store.set_report_status(report.id, ReportStatus::Analysed, None).await.expect("analysed");
    let missing = db.store.set_report_status(report.id, ReportStatus::Decided, None).await;
    let decided = db.store.set_report_status(report.id, ReportStatus::Decided, Some(&decision)).await.expect("decided");
    let closed = db.store.set_report_status(report.id, ReportStatus::Closed, None).await.expect("closed");
    let read = db.store.get_report(report.id).await.expect("get_report").expect("report exists");

    assert_eq!(analysed.status, ReportStatus::Analysed);
    assert!(matches!(missing, Err(StoreError::DecisionMissing { report_id }) if report_id == report.id), "{missing:?}");
    assert_eq!(decided.status, ReportStatus::Decided);
    assert_eq!(decided.decision.as_ref(), Some(&decision));
    assert_eq!(closed.decision.as_ref(), Some(&decision), "a status change without decision keeps the decision");
    assert_eq!(read.status, ReportStatus::Closed);
    assert!(read.updated_at >= report.updated_at);
});

store_test!(report_status_of_missing_report, |db| {
    let id = Uuid::now_v7();

    let error = db.store.set_report_status(id, ReportStatus::Analysed, None).await.expect_err("no such report");

    assert!(matches!(error, StoreError::ReportNotFound(missing) if missing == id), "{error:?}");
});

store_test!(report_analysis_round_trip, |db| {
    let report = report_from(&db.store, "carol@example.org", b"Subject: hi\r\n\r\nclick").await;
    let analysis = json!({
        "urls": [{ "url": "https://login.example.net/x", "lookalike": true }],
        "auth": { "spf": "fail", "dkim": null },
        "defects": []
    });

    let updated = db.store.set_report_analysis(report.id, &analysis).await.expect("set_report_analysis");
    let read = db.store.get_report(report.id).await.expect("get_report").expect("report exists");

    assert_eq!(updated.analysis.as_ref(), Some(&analysis));
    assert_eq!(read.analysis.as_ref(), Some(&analysis));
    assert_eq!(read.status, ReportStatus::Received, "storing an analysis does not change the status");
});

store_test!(report_payload_limit, |db| {
    let store = db.store_with(|config| config.max_payload_bytes = 100).await;
    let report = report_from(&store, "dave@example.org", b"x").await;
    let large = json!({ "text": "a".repeat(200) });

    let error = store.set_report_analysis(report.id, &large).await.expect_err("payload above the limit");

    assert!(matches!(error, StoreError::PayloadTooLarge { limit: 100, .. }), "{error:?}");
});

store_test!(reports_with_status_oldest_first, |db| {
    let first = report_from(&db.store, "a@example.org", b"1").await;
    let second = report_from(&db.store, "b@example.org", b"2").await;
    let third = report_from(&db.store, "c@example.org", b"3").await;
    for report in [&first, &third] {
        db.store.set_report_status(report.id, ReportStatus::NeedsReview, None).await.expect("needs_review");
    }

    let queue = db.store.reports_with_status(ReportStatus::NeedsReview, 10).await.expect("query");
    let limited = db.store.reports_with_status(ReportStatus::NeedsReview, 1).await.expect("query");

    let ids: Vec<Uuid> = queue.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![first.id, third.id]);
    assert_eq!(limited.len(), 1);
    assert!(!ids.contains(&second.id));
});

store_test!(case_lists_three_reporters, |db| {
    let message = sample_message(3_000, 2);
    let alice = report_from(&db.store, "alice@example.org", &message).await;
    let bob = report_from(&db.store, "bob@example.org", &message).await;
    let carol = report_from(&db.store, "carol@example.org", &message).await;

    let first = db.store.join_case(alice.id, KEY).await.expect("join alice");
    let second = db.store.join_case(bob.id, KEY).await.expect("join bob");
    let third = db.store.join_case(carol.id, KEY).await.expect("join carol");
    let detail = db.store.get_case(first.case_id).await.expect("get_case").expect("case exists");

    assert!(first.case_created);
    assert!(!second.case_created);
    assert!(!third.case_created);
    assert_eq!(second.case_id, first.case_id);
    assert_eq!(third.case_id, first.case_id);
    assert_eq!(detail.case.join_key, KEY);
    let report_ids: Vec<Uuid> = detail.reports.iter().map(|r| r.id).collect();
    assert_eq!(report_ids, vec![alice.id, bob.id, carol.id]);
    let addresses: Vec<&str> = detail.reporters.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(addresses, vec!["alice@example.org", "bob@example.org", "carol@example.org"]);
    assert!(detail.reporters.iter().all(|r| r.report_count == 1));
    assert!(detail.reports.iter().all(|r| r.case_id == Some(first.case_id)));
    assert_eq!(db.count("SELECT count(*) FROM cases").await, 1);
});

store_test!(case_concurrent_joins, |db| {
    // Nine reports from three people (two spell their address in other
    // cases), joining the same key from nine tasks at once.
    let message = sample_message(3_000, 3);
    let addresses = ["alice@example.org", "bob@example.org", "Carol@Example.org"];
    let mut reports = Vec::new();
    for round in 0..3 {
        for address in addresses {
            let address = if round == 1 { address.to_uppercase() } else { address.to_owned() };
            reports.push(report_from(&db.store, &address, &message).await);
        }
    }

    let mut tasks = Vec::new();
    for report in &reports {
        let store = db.store.clone();
        let report_id = report.id;
        tasks.push(tokio::spawn(async move { store.join_case(report_id, KEY).await }));
    }
    let mut joins = Vec::new();
    for task in tasks {
        joins.push(task.await.expect("task").expect("join_case"));
    }

    let case_id = joins[0].case_id;
    assert!(joins.iter().all(|j| j.case_id == case_id), "{joins:?}");
    assert_eq!(joins.iter().filter(|j| j.case_created).count(), 1, "{joins:?}");
    assert_eq!(db.count("SELECT count(*) FROM cases").await, 1);
    let detail = db.store.get_case(case_id).await.expect("get_case").expect("case exists");
    assert_eq!(detail.reports.len(), 9);
    assert_eq!(detail.reporters.len(), 3, "{:?}", detail.reporters);
    assert!(detail.reporters.iter().all(|r| r.report_count == 3), "{:?}", detail.reporters);
    assert_eq!(db.store.find_case(KEY).await.expect("find_case").map(|c| c.id), Some(case_id));
});

store_test!(case_join_twice_is_no_op, |db| {
    let report = report_from(&db.store, "alice@example.org", b"m").await;

    let first = db.store.join_case(report.id, KEY).await.expect("first join");
    let again = db.store.join_case(report.id, KEY).await.expect("second join");

    assert_eq!(again.case_id, first.case_id);
    assert!(!again.case_created);
    let detail = db.store.get_case(first.case_id).await.expect("get_case").expect("case exists");
    assert_eq!(detail.reports.len(), 1);
});

store_test!(case_report_in_other_case_rejected, |db| {
    let report = report_from(&db.store, "alice@example.org", b"m").await;
    let first = db.store.join_case(report.id, KEY).await.expect("first join");

    let error = db.store.join_case(report.id, "another key").await.expect_err("report is in a case");

    match error {
        StoreError::ReportInOtherCase { report_id, current_case, .. } => {
            assert_eq!(report_id, report.id);
            assert_eq!(current_case, first.case_id);
        }
        other => panic!("expected ReportInOtherCase, got {other:?}"),
    }
    let read = db.store.get_report(report.id).await.expect("get_report").expect("report exists");
    assert_eq!(read.case_id, Some(first.case_id));
});

store_test!(case_join_missing_report, |db| {
    let id = Uuid::now_v7();

    let error = db.store.join_case(id, KEY).await.expect_err("no such report");

    assert!(matches!(error, StoreError::ReportNotFound(missing) if missing == id), "{error:?}");
    assert_eq!(db.count("SELECT count(*) FROM cases").await, 0, "no case for a missing report");
});

store_test!(case_missing_is_none, |db| {
    assert_eq!(db.store.get_case(Uuid::now_v7()).await.expect("get_case"), None);
    assert_eq!(db.store.find_case("unknown").await.expect("find_case"), None);
});

store_test!(report_update_stores_events_together, |db| {
    let report = report_from(&db.store, "dan@example.org", b"Subject: invoice\r\n\r\npay now").await;
    let case = db.store.join_case(report.id, KEY).await.expect("join").case_id;
    let analysis = json!({ "message": { "subject": "invoice" } });
    let decision = json!({ "verdict": "malicious", "category": "payment_fraud", "confidence": 0.9 });
    let analysed = json!({ "analysed": true });
    let decided = json!({ "verdict": "malicious" });
    let joined = json!({ "report_id": report.id });

    let first = ReportUpdate { analysis: Some(&analysis), status: Some(ReportStatus::Analysed), decision: None };
    let first_events = [NewEvent { subject: EventSubject::Report(report.id), kind: "analysed", payload: &analysed }];
    db.store.update_report_recorded(report.id, first, &first_events).await.expect("analysed");
    let second = ReportUpdate { analysis: None, status: Some(ReportStatus::Decided), decision: Some(&decision) };
    let second_events = [
        NewEvent { subject: EventSubject::Case(case), kind: "report_joined", payload: &joined },
        NewEvent { subject: EventSubject::Report(report.id), kind: "decided", payload: &decided },
    ];
    db.store.update_report_recorded(report.id, second, &second_events).await.expect("decided");
    let read = db.store.get_report(report.id).await.expect("get_report").expect("report exists");
    let report_events = db.store.events_for(EventSubject::Report(report.id)).await.expect("report events");
    let case_events = db.store.events_for(EventSubject::Case(case)).await.expect("case events");

    assert_eq!(read.status, ReportStatus::Decided);
    assert_eq!(read.analysis.as_ref(), Some(&analysis), "a decision without analysis keeps the analysis");
    assert_eq!(read.decision.as_ref(), Some(&decision));
    let kinds: Vec<&str> = report_events.iter().map(|event| event.kind.as_str()).collect();
    assert_eq!(kinds, vec!["analysed", "decided"]);
    assert_eq!(case_events.len(), 1);
    assert_eq!(case_events[0].kind, "report_joined");
    assert_eq!(case_events[0].seq + 1, report_events[1].seq, "one batch, chained in the order given");
    assert!(db.store.verify_chain().await.expect("verify").is_intact());
});

store_test!(report_update_rolls_back_on_error, |db| {
    let report = report_from(&db.store, "erin@example.org", b"Subject: hi\r\n\r\nclick").await;
    let payload = json!({});
    let update = ReportUpdate { analysis: None, status: Some(ReportStatus::Decided), decision: None };
    let events = [NewEvent { subject: EventSubject::Report(report.id), kind: "decided", payload: &payload }];
    let missing = Uuid::now_v7();
    let analysed = ReportUpdate { analysis: None, status: Some(ReportStatus::Analysed), decision: None };

    let without_decision = db.store.update_report_recorded(report.id, update, &events).await;
    let unknown = db.store.update_report_recorded(missing, analysed, &[]).await;
    let read = db.store.get_report(report.id).await.expect("get_report").expect("report exists");
    let report_events = db.store.events_for(EventSubject::Report(report.id)).await.expect("report events");

    assert!(matches!(without_decision, Err(StoreError::DecisionMissing { .. })), "{without_decision:?}");
    assert!(matches!(unknown, Err(StoreError::ReportNotFound(id)) if id == missing), "{unknown:?}");
    assert_eq!(read.status, ReportStatus::Received);
    assert!(report_events.is_empty(), "nothing of the failed batch is stored: {report_events:?}");
});

store_test!(case_reporters_match_case_detail, |db| {
    let message = sample_message(3_000, 3);
    let alice = report_from(&db.store, "alice@example.org", &message).await;
    let again = report_from(&db.store, "Alice@Example.org", &message).await;
    let bob = report_from(&db.store, "bob@example.org", &message).await;
    let case = db.store.join_case(alice.id, KEY).await.expect("join alice").case_id;
    db.store.join_case(again.id, KEY).await.expect("join alice again");
    db.store.join_case(bob.id, KEY).await.expect("join bob");

    let reporters = db.store.case_reporters(case).await.expect("case_reporters");
    let detail = db.store.get_case(case).await.expect("get_case").expect("case exists");

    assert_eq!(reporters, detail.reporters);
    assert_eq!(reporters.len(), 2);
    assert_eq!(reporters[0].report_count, 2);
    assert!(db.store.case_reporters(Uuid::now_v7()).await.expect("unknown case").is_empty());
});
