//! `record_decision`: a decided report with its case, campaign and events in
//! one transaction, under the job's lease.

mod common;

use std::time::Duration;

use common::{report_from, store_test};
use phishloop_campaign::{KeyKind, SignatureKey};
use phishloop_store::{
    DecisionEvent, DecisionRecord, EventSubject, Lease, RecordedDecision, ReportStatus, ReportUpdate, Store, StoreError,
};
use serde_json::{Value, json};
use uuid::Uuid;

const JOB: &str = "report.analyse";

async fn claimed_lease(store: &Store, report_id: Uuid) -> Lease {
    let payload = json!({ "report_id": report_id });
    store.enqueue(JOB, &payload, &format!("analyse:{report_id}")).await.expect("enqueue");
    let claimed = store.claim("worker-a", &[JOB], Duration::from_secs(60)).await.expect("claim").expect("a job");
    claimed.lease
}

fn record<'a>(
    report_id: Uuid,
    lease: &'a Lease,
    keys: &'a [SignatureKey],
    analysis: &'a Value,
    decision: &'a Value,
) -> DecisionRecord<'a> {
    DecisionRecord {
        report_id,
        lease,
        join_key: "<lure@mail.example>|fp:1",
        campaign_keys: keys,
        update: ReportUpdate {
            analysis: Some(analysis),
            status: Some(ReportStatus::Decided),
            decision: Some(decision),
        },
    }
}

/// Builds one `report_joined` event when the report is new in its case,
/// as the worker does.
fn join_events(recorded: &RecordedDecision) -> Vec<DecisionEvent> {
    let mut events = Vec::new();
    if !recorded.joined_before {
        events.push((EventSubject::Case(recorded.case.case_id), "report_joined", json!({ "n": 1 })));
    }
    events
}

store_test!(decision_stored_with_case_campaign_and_events, |db| {
    let report = report_from(&db.store, "ann@corp.example", b"Subject: reset\r\n\r\nsign in now").await;
    let lease = claimed_lease(&db.store, report.id).await;
    let keys = [SignatureKey::new(KeyKind::Domain, "login-reset.example")];
    let analysis = json!({ "subject": "reset" });
    let decision = json!({ "verdict": "malicious" });

    let recorded = db
        .store
        .record_decision(record(report.id, &lease, &keys, &analysis, &decision), join_events)
        .await
        .expect("record");

    let stored = db.store.get_report(report.id).await.expect("read").expect("report");
    assert!(recorded.case.case_created);
    assert!(!recorded.joined_before);
    assert_eq!(stored.case_id, Some(recorded.case.case_id));
    assert_eq!(stored.status, ReportStatus::Decided);
    assert_eq!(stored.decision, Some(decision.clone()));
    assert_eq!(stored.analysis, Some(analysis.clone()));
    let campaign = recorded.campaign.expect("a campaign");
    assert!(campaign.created);
    assert_eq!(campaign.previous, None);
    assert_eq!(db.store.campaign_of_case(recorded.case.case_id).await.expect("campaign"), Some(campaign.campaign_id));
    let events = db.store.events_for(EventSubject::Case(recorded.case.case_id)).await.expect("events");
    let kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
    assert_eq!(kinds, ["report_joined"]);

    // A second attempt finds the report in its case and the case in its
    // campaign, so it appends nothing.
    let again = db
        .store
        .record_decision(record(report.id, &lease, &keys, &analysis, &decision), join_events)
        .await
        .expect("again");
    assert!(again.joined_before);
    assert!(!again.case.case_created);
    assert_eq!(again.case.case_id, recorded.case.case_id);
    assert_eq!(again.campaign.expect("campaign").previous, Some(campaign.campaign_id));
    let events = db.store.events_for(EventSubject::Case(recorded.case.case_id)).await.expect("events");
    assert_eq!(events.len(), 1);
});

store_test!(decision_without_lease_stores_nothing, |db| {
    let report = report_from(&db.store, "ann@corp.example", b"Subject: late\r\n\r\nslow worker").await;
    let lease = claimed_lease(&db.store, report.id).await;
    // Another worker holds the job now: the old lease's token no longer matches.
    let stale = Lease { token: Uuid::now_v7(), ..lease.clone() };
    let analysis = json!({ "subject": "late" });
    let decision = json!({ "verdict": "benign" });
    let keys = [SignatureKey::new(KeyKind::Domain, "late.example")];

    let error = db
        .store
        .record_decision(record(report.id, &stale, &keys, &analysis, &decision), join_events)
        .await
        .expect_err("the lease is not held");

    assert!(matches!(&error, StoreError::LeaseLost { job_id, .. } if *job_id == lease.job_id), "{error:?}");
    let stored = db.store.get_report(report.id).await.expect("read").expect("report");
    assert_eq!(stored.case_id, None);
    assert_eq!(stored.status, ReportStatus::Received);
    assert_eq!(stored.decision, None);
    assert_eq!(db.count("SELECT count(*) FROM cases").await, 0);
    assert_eq!(db.count("SELECT count(*) FROM campaigns").await, 0);
});

store_test!(decision_event_error_rolls_back_everything, |db| {
    let report = report_from(&db.store, "ann@corp.example", b"Subject: x\r\n\r\nbody").await;
    let lease = claimed_lease(&db.store, report.id).await;
    let analysis = json!({});
    let decision = json!({ "verdict": "spam" });
    let missing_case = Uuid::now_v7();

    let error = db
        .store
        .record_decision(record(report.id, &lease, &[], &analysis, &decision), |_| {
            vec![(EventSubject::Case(missing_case), "report_joined", json!({}))]
        })
        .await
        .expect_err("the event's case does not exist");

    assert!(matches!(&error, StoreError::CaseNotFound(id) if *id == missing_case), "{error:?}");
    let stored = db.store.get_report(report.id).await.expect("read").expect("report");
    assert_eq!(stored.case_id, None);
    assert_eq!(stored.status, ReportStatus::Received);
    assert_eq!(db.count("SELECT count(*) FROM cases").await, 0);
});

store_test!(decision_for_report_in_other_case_fails, |db| {
    let report = report_from(&db.store, "ann@corp.example", b"Subject: y\r\n\r\nbody").await;
    let lease = claimed_lease(&db.store, report.id).await;
    let other = db.store.join_case(report.id, "another-key").await.expect("join");
    let analysis = json!({});
    let decision = json!({ "verdict": "spam" });

    let error = db
        .store
        .record_decision(record(report.id, &lease, &[], &analysis, &decision), join_events)
        .await
        .expect_err("the report is in another case");

    assert!(
        matches!(&error, StoreError::ReportInOtherCase { current_case, .. } if *current_case == other.case_id),
        "{error:?}"
    );
    let stored = db.store.get_report(report.id).await.expect("read").expect("report");
    assert_eq!(stored.status, ReportStatus::Received);
    assert_eq!(db.count("SELECT count(*) FROM cases").await, 1);
});
