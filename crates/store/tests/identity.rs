//! Click imports and per-person verdicts on both back ends.

mod common;

use common::{report_from, store_test};
use phishloop_store::{EventSubject, NewClickImport, PersonEvidence, PersonVerdict, Store, StoreError};
use serde_json::json;
use uuid::Uuid;

async fn case_of(store: &Store, tag: &str) -> Uuid {
    let message = format!("From: a@example.org\r\nSubject: {tag}\r\n\r\nbody {tag}");
    let report = report_from(store, "alice@corp-example.com", message.as_bytes()).await;
    store.join_case(report.id, &format!("key:{tag}")).await.expect("join_case").case_id
}

fn person(address: &str, verdict: PersonVerdict, lines: &[(&str, &str)]) -> PersonEvidence {
    PersonEvidence {
        address: address.to_owned(),
        verdict,
        recipient: true,
        evidence: lines.iter().map(|(time, raw)| json!({ "time": time, "raw": raw })).collect(),
    }
}

fn import(case_id: Uuid, people: Vec<PersonEvidence>) -> NewClickImport {
    NewClickImport {
        case_id,
        format: "proxy_csv".to_owned(),
        requested_by: "soc".to_owned(),
        entries: 4,
        matched: 3,
        excluded: vec![json!({ "reason": "scanner_user_agent", "line": 2 })],
        defects: Vec::new(),
        people,
    }
}

store_test!(verdicts_rise_and_never_fall, |db| {
    let case_id = case_of(&db.store, "rise").await;
    let first = import(
        case_id,
        vec![
            person("Ann@corp-example.com", PersonVerdict::Clicked, &[("2026-12-01T09:05:00Z", "GET")]),
            person("bob@corp-example.com", PersonVerdict::Received, &[]),
        ],
    );
    let second = import(
        case_id,
        vec![
            person("ann@corp-example.com", PersonVerdict::SubmittedCredentials, &[("2026-12-01T09:06:00Z", "POST")]),
            person("bob@corp-example.com", PersonVerdict::Received, &[]),
        ],
    );
    let third = import(case_id, vec![person("ann@corp-example.com", PersonVerdict::Clicked, &[])]);

    let recorded_first = db.store.record_clicks(&first).await.expect("first import");
    let recorded_second = db.store.record_clicks(&second).await.expect("second import");
    let recorded_third = db.store.record_clicks(&third).await.expect("third import");
    let people = db.store.identity_people(case_id).await.expect("people");

    assert_eq!(recorded_first.changes.len(), 1, "bob only received");
    assert_eq!(recorded_first.changes[0].person.verdict, PersonVerdict::Clicked);
    assert_eq!(recorded_second.changes.len(), 1);
    assert_eq!(recorded_second.changes[0].previous, Some(PersonVerdict::Clicked));
    assert!(recorded_third.changes.is_empty(), "a lower verdict changes nothing");
    assert_eq!(people.len(), 2);
    let ann = &people[0];
    assert_eq!(ann.address, "ann@corp-example.com");
    assert_eq!(ann.verdict, PersonVerdict::SubmittedCredentials);
    assert_eq!(ann.evidence.len(), 2);
    assert_eq!(ann.evidence[0]["raw"], "GET", "oldest first");
    assert_eq!(ann.first_clicked_at.map(|t| t.to_rfc3339()), Some("2026-12-01T09:05:00+00:00".to_owned()));
    assert_eq!(people[1].verdict, PersonVerdict::Received);
    assert_eq!(people[1].first_clicked_at, None);
});

store_test!(imports_and_events_recorded, |db| {
    let case_id = case_of(&db.store, "events").await;
    let people = vec![person("ann@corp-example.com", PersonVerdict::Clicked, &[("2026-12-01T09:05:00Z", "GET")])];

    db.store.record_clicks(&import(case_id, people)).await.expect("import");
    let imports = db.store.click_imports(case_id).await.expect("imports");
    let events = db.store.events_for(EventSubject::Case(case_id)).await.expect("events");

    assert_eq!(imports.len(), 1);
    assert_eq!(imports[0].matched, 3);
    assert_eq!(imports[0].excluded[0]["reason"], "scanner_user_agent");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.ends_with(&["click_recorded", "clicks_imported"]), "{kinds:?}");
    assert_eq!(events[events.len() - 2].payload["verdict"], "clicked");
    assert!(db.store.verify_chain().await.expect("verify").is_intact());
});

store_test!(unknown_case_is_rejected, |db| {
    let error = db.store.record_clicks(&import(Uuid::now_v7(), Vec::new())).await.expect_err("no such case");

    assert!(matches!(error, StoreError::CaseNotFound(_)), "{error}");
});
