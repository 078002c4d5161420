//! Accounts, sessions, corrections, rejections, the queue and the dashboard
//! rows on both back ends, and the migration that adds them on SQLite.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{report_from, store_test};
use phishloop_store::{
    ActionMode, ActionStatus, EventSubject, NewAction, NewCorrection, NewOutboxMessage, OutboxKind, QueueFilter,
    ReportStatus, Sha256Hex, Store, StoreError, UserRole,
};
use serde_json::json;
use uuid::Uuid;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA";

/// Stores a report in a new case, decides it, and returns both ids.
async fn decided_case(store: &Store, tag: &str, verdict: &str, needs_review: bool) -> (Uuid, Uuid) {
    let message = format!("From: a@example.org\r\nSubject: {tag}\r\n\r\nbody {tag}");
    let report = report_from(store, "alice@corp-example.com", message.as_bytes()).await;
    let joined = store.join_case(report.id, &format!("key:{tag}")).await.expect("join_case");
    let analysis = json!({ "message": { "headers": { "subject": tag, "from": [{ "address": "ceo@lure.test" }] } } });
    store.set_report_analysis(report.id, &analysis).await.expect("analysis");
    let decision = json!({
        "verdict": verdict,
        "category": "credential_harvesting",
        "confidence": 0.5,
        "needs_review": needs_review,
        "evidence": [{ "id": "rule-1" }],
    });
    let status = if needs_review { ReportStatus::NeedsReview } else { ReportStatus::Decided };
    store.set_report_status(report.id, status, Some(&decision)).await.expect("decide");
    store.append_event(EventSubject::Report(report.id), "decided", &json!({})).await.expect("decided event");
    (joined.case_id, report.id)
}

fn approve_action(case_id: Uuid, kind: &str, key: &str) -> NewAction {
    NewAction {
        case_id,
        kind: kind.to_owned(),
        target: json!({ "type": "domain", "domain": "lure.test" }),
        mode: ActionMode::Approve,
        connector: "blocklist".to_owned(),
        playbook: "test".to_owned(),
        reversible: true,
        note: None,
        idempotency_key: key.to_owned(),
    }
}

store_test!(user_created_and_found_ignoring_case, |db| {
    let created = db.store.create_user("Alice", UserRole::Analyst, HASH).await.expect("create");
    let found = db.store.find_user("ALICE").await.expect("find").expect("user");

    assert_eq!(created.name, "alice");
    assert_eq!(found.id, created.id);
    assert_eq!(found.role, UserRole::Analyst);
    assert_eq!(found.password_hash, HASH);
    assert!(!found.locked);
    assert!(found.disabled_at.is_none());
});

store_test!(duplicate_user_rejected, |db| {
    db.store.create_user("bob", UserRole::Auditor, HASH).await.expect("create");

    let error = db.store.create_user("BOB", UserRole::Admin, HASH).await.expect_err("taken");

    assert!(matches!(error, StoreError::UserExists { ref name } if name == "bob"), "{error:?}");
});

store_test!(invalid_user_name_rejected, |db| {
    let error = db.store.create_user("bob smith", UserRole::Auditor, HASH).await.expect_err("space");

    assert!(matches!(error, StoreError::InvalidInput { field: "user name", .. }), "{error:?}");
    assert!(error.to_string().contains("\"bob smith\""), "{error}");
});

store_test!(users_listed_by_name, |db| {
    for (name, role) in [("zoe", UserRole::Identity), ("adam", UserRole::Awareness), ("mia", UserRole::Admin)] {
        db.store.create_user(name, role, HASH).await.expect("create");
    }

    let names: Vec<String> = db.store.list_users().await.expect("list").into_iter().map(|user| user.name).collect();

    assert_eq!(names, ["adam", "mia", "zoe"]);
});

store_test!(failed_logins_lock_account, |db| {
    let user = db.store.create_user("carol", UserRole::Analyst, HASH).await.expect("create");
    let lock = Duration::from_secs(600);

    let first = db.store.record_login_failure(user.id, 3, lock).await.expect("failure 1");
    let second = db.store.record_login_failure(user.id, 3, lock).await.expect("failure 2");
    let third = db.store.record_login_failure(user.id, 3, lock).await.expect("failure 3");
    let found = db.store.find_user("carol").await.expect("find").expect("user");

    assert_eq!(first.failed_logins, 1);
    assert!(!second.locked);
    assert_eq!(third.failed_logins, 3);
    assert!(third.locked);
    assert!(found.locked);
    assert!(found.locked_until.expect("locked until") > Utc::now() + chrono::Duration::seconds(500));
});

store_test!(login_success_clears_lock, |db| {
    let user = db.store.create_user("dave", UserRole::Analyst, HASH).await.expect("create");
    db.store.record_login_failure(user.id, 1, Duration::from_secs(600)).await.expect("failure");

    let cleared = db.store.record_login_success(user.id).await.expect("success");

    assert_eq!(cleared.failed_logins, 0);
    assert!(!cleared.locked);
    assert!(cleared.last_login_at.is_some());
});

store_test!(session_found_until_deleted, |db| {
    let user = db.store.create_user("erin", UserRole::Auditor, HASH).await.expect("create");
    let id = Sha256Hex::of(b"session-1");
    let (idle, lifetime) = (Duration::from_secs(600), Duration::from_secs(3600));

    db.store.create_session(user.id, &id, "csrf-1", idle, lifetime).await.expect("create session");
    let found = db.store.find_session(&id, idle).await.expect("find").expect("session");
    let other = db.store.find_session(&Sha256Hex::of(b"session-2"), idle).await.expect("find other");
    let deleted = db.store.delete_session(&id).await.expect("delete");
    let after = db.store.find_session(&id, idle).await.expect("find after delete");

    assert_eq!(found.user.id, user.id);
    assert_eq!(found.csrf_token, "csrf-1");
    assert!(found.expires_at > Utc::now() + chrono::Duration::seconds(500));
    assert!(found.expires_at <= Utc::now() + chrono::Duration::seconds(601));
    assert!(other.is_none());
    assert!(deleted);
    assert!(after.is_none());
});

store_test!(expired_session_not_found, |db| {
    let user = db.store.create_user("fred", UserRole::Auditor, HASH).await.expect("create");
    let id = Sha256Hex::of(b"short");

    db.store.create_session(user.id, &id, "csrf", Duration::from_millis(50), Duration::from_secs(60)).await.expect("s");
    tokio::time::sleep(Duration::from_millis(120)).await;
    let found = db.store.find_session(&id, Duration::from_secs(60)).await.expect("find");
    let removed = db.store.delete_expired_sessions().await.expect("delete expired");

    assert!(found.is_none());
    assert_eq!(removed, 1);
});

store_test!(disabling_user_ends_sessions, |db| {
    let user = db.store.create_user("gina", UserRole::Analyst, HASH).await.expect("create");
    let id = Sha256Hex::of(b"gina-session");
    let idle = Duration::from_secs(600);
    db.store.create_session(user.id, &id, "csrf", idle, Duration::from_secs(3600)).await.expect("session");

    let disabled = db.store.set_user_disabled("GINA", true).await.expect("disable");
    let found = db.store.find_session(&id, idle).await.expect("find");
    let enabled = db.store.set_user_disabled("gina", false).await.expect("enable");

    assert!(disabled.disabled_at.is_some());
    assert!(found.is_none());
    assert!(enabled.disabled_at.is_none());
    assert_eq!(db.count("SELECT count(*) FROM sessions").await, 0);
});

store_test!(password_change_ends_sessions, |db| {
    let user = db.store.create_user("hana", UserRole::Analyst, HASH).await.expect("create");
    let id = Sha256Hex::of(b"hana-session");
    let idle = Duration::from_secs(600);
    db.store.create_session(user.id, &id, "csrf", idle, Duration::from_secs(3600)).await.expect("session");
    db.store.record_login_failure(user.id, 1, Duration::from_secs(600)).await.expect("lock");

    let changed = db.store.set_user_password("hana", "$argon2id$new").await.expect("password");
    let missing = db.store.set_user_password("nobody", "$argon2id$new").await.expect_err("unknown");

    assert_eq!(changed.password_hash, "$argon2id$new");
    assert!(!changed.locked);
    assert!(db.store.find_session(&id, idle).await.expect("find").is_none());
    assert!(matches!(missing, StoreError::UserNotFound { .. }), "{missing:?}");
});

store_test!(correction_changes_every_decided_report, |db| {
    let (case_id, first) = decided_case(&db.store, "correct", "suspicious", true).await;
    let message = b"From: a@example.org\r\nSubject: correct\r\n\r\nbody correct, second copy";
    let second = report_from(&db.store, "bob@corp-example.com", message).await;
    db.store.join_case(second.id, "key:correct").await.expect("join");
    let decision = json!({ "verdict": "suspicious", "category": "none", "confidence": 0.4, "needs_review": true });
    db.store.set_report_status(second.id, ReportStatus::NeedsReview, Some(&decision)).await.expect("decide");

    let correction = NewCorrection {
        case_id,
        verdict: "malicious".to_owned(),
        category: "credential_harvesting".to_owned(),
        corrected_by: "alice".to_owned(),
        reason: "the sign-in page asks for the password".to_owned(),
    };
    let recorded = db.store.correct_verdict(&correction).await.expect("correct");
    let reports = db.store.get_case(case_id).await.expect("case").expect("exists").reports;
    let events = db.store.events_for(EventSubject::Case(case_id)).await.expect("events");
    let stored = db.store.corrections_for_case(case_id).await.expect("corrections");

    assert_eq!(recorded.report_ids, vec![first, second.id]);
    assert_eq!(recorded.correction.verdict_before.as_deref(), Some("suspicious"));
    assert_eq!(recorded.correction.category_before.as_deref(), Some("none"));
    for report in &reports {
        let decision = report.decision.as_ref().expect("decision");
        assert_eq!(decision["verdict"], "malicious", "{}", report.id);
        assert_eq!(decision["needs_review"], false, "{}", report.id);
        assert_eq!(report.status, ReportStatus::Decided, "{}", report.id);
    }
    assert_eq!(reports[0].decision.as_ref().expect("decision")["evidence"], json!([{ "id": "rule-1" }]));
    let event = events.iter().find(|event| event.kind == "verdict_corrected").expect("verdict_corrected event");
    assert_eq!(event.seq, recorded.event_seq);
    assert_eq!(event.payload["corrected_by"], "alice");
    assert_eq!(event.payload["reason"], "the sign-in page asks for the password");
    assert_eq!(event.payload["verdict"], "malicious");
    assert_eq!(stored, vec![recorded.correction]);
    assert!(db.store.verify_chain().await.expect("verify").is_intact());
});

store_test!(correction_needs_decided_report, |db| {
    let report = report_from(&db.store, "alice@corp-example.com", b"Subject: x\r\n\r\nundecided").await;
    let case_id = db.store.join_case(report.id, "key:undecided").await.expect("join").case_id;
    let correction = NewCorrection {
        case_id,
        verdict: "benign".to_owned(),
        category: "none".to_owned(),
        corrected_by: "alice".to_owned(),
        reason: "newsletter".to_owned(),
    };

    let undecided = db.store.correct_verdict(&correction).await.expect_err("no decision yet");
    let unknown = db
        .store
        .correct_verdict(&NewCorrection { case_id: Uuid::now_v7(), ..correction.clone() })
        .await
        .expect_err("unknown case");
    let no_reason =
        db.store.correct_verdict(&NewCorrection { reason: " ".to_owned(), ..correction }).await.expect_err("reason");

    assert!(matches!(undecided, StoreError::InvalidInput { field: "correction", .. }), "{undecided:?}");
    assert!(matches!(unknown, StoreError::CaseNotFound(_)), "{unknown:?}");
    assert!(matches!(no_reason, StoreError::InvalidInput { field: "reason", .. }), "{no_reason:?}");
    assert_eq!(db.count("SELECT count(*) FROM corrections").await, 0);
});

store_test!(rejected_action_records_who_and_why, |db| {
    let (case_id, _) = decided_case(&db.store, "reject", "malicious", false).await;
    let action = db.store.create_action(&approve_action(case_id, "block_domain", "reject-1")).await.expect("create");

    let rejected = db.store.reject_action(action.action.id, "alice", "shared hosting domain").await.expect("reject");
    let again = db.store.reject_action(action.action.id, "bob", "again").await.expect_err("rejected already");
    let unknown = db.store.reject_action(Uuid::now_v7(), "bob", "no such action").await.expect_err("unknown");
    let events = db.store.events_for(EventSubject::Case(case_id)).await.expect("events");

    assert_eq!(rejected.status, ActionStatus::Rejected);
    assert!(rejected.finished_at.is_some());
    let outcome = rejected.outcome.as_ref().expect("outcome");
    assert_eq!(outcome["rejected_by"], "alice");
    assert_eq!(outcome["reason"], "shared hosting domain");
    assert!(matches!(again, StoreError::ActionStatusConflict { status: ActionStatus::Rejected, .. }), "{again:?}");
    assert!(matches!(unknown, StoreError::ActionNotFound(_)), "{unknown:?}");
    let event = events.iter().find(|event| event.kind == "action_rejected").expect("action_rejected");
    assert_eq!(event.payload["rejected_by"], "alice");
    assert_eq!(event.payload["reason"], "shared hosting domain");
});

store_test!(queue_puts_attention_first, |db| {
    let (calm, _) = decided_case(&db.store, "calm", "benign", false).await;
    let (review, _) = decided_case(&db.store, "review", "suspicious", true).await;
    let (approval, _) = decided_case(&db.store, "approval", "malicious", false).await;
    db.store.create_action(&approve_action(approval, "block_domain", "queue-1")).await.expect("action");
    let (newest, _) = decided_case(&db.store, "newest", "spam", false).await;

    let all = db.store.queue_cases(&QueueFilter { limit: 100, ..QueueFilter::default() }).await.expect("queue");
    let order: Vec<Uuid> = all.iter().map(|case| case.case_id).collect();

    assert_eq!(order, vec![approval, review, newest, calm]);
    assert_eq!(all[0].awaiting_approval_count, 1);
    assert_eq!(all[1].needs_review_count, 1);
    assert!(all[0].needs_attention());
    assert!(!all[2].needs_attention());
    assert_eq!(all[1].verdict.as_deref(), Some("suspicious"));
    assert_eq!(all[1].category.as_deref(), Some("credential_harvesting"));
    assert_eq!(all[1].confidence, Some(0.5));
    assert_eq!(all[1].subject.as_deref(), Some("review"));
    assert_eq!(all[1].sender.as_deref(), Some("ceo@lure.test"));
    assert_eq!(all[1].report_count, 1);
});

store_test!(queue_filters_match, |db| {
    let (benign, _) = decided_case(&db.store, "benign", "benign", false).await;
    let (malicious, _) = decided_case(&db.store, "malicious", "malicious", true).await;

    let by_verdict =
        |verdict: &str| QueueFilter { verdict: Some(verdict.to_owned()), limit: 10, ..QueueFilter::default() };
    let benign_only = db.store.queue_cases(&by_verdict("benign")).await.expect("benign");
    let attention = db
        .store
        .queue_cases(&QueueFilter { attention_only: true, limit: 10, ..QueueFilter::default() })
        .await
        .expect("attention");
    let future = db
        .store
        .queue_cases(&QueueFilter {
            reported_since: Some(Utc::now() + chrono::Duration::hours(1)),
            limit: 10,
            ..QueueFilter::default()
        })
        .await
        .expect("future");
    let past = db
        .store
        .queue_cases(&QueueFilter {
            reported_since: Some(Utc::now() - chrono::Duration::hours(1)),
            reported_before: Some(Utc::now() + chrono::Duration::hours(1)),
            category: Some("credential_harvesting".to_owned()),
            limit: 10,
            ..QueueFilter::default()
        })
        .await
        .expect("past");
    let campaign = db
        .store
        .queue_cases(&QueueFilter { campaign_id: Some(Uuid::now_v7()), limit: 10, ..QueueFilter::default() })
        .await
        .expect("campaign");

    assert_eq!(benign_only.iter().map(|case| case.case_id).collect::<Vec<_>>(), vec![benign]);
    assert_eq!(attention.iter().map(|case| case.case_id).collect::<Vec<_>>(), vec![malicious]);
    assert!(future.is_empty());
    assert_eq!(past.len(), 2);
    assert!(campaign.is_empty());
});

store_test!(dashboard_rows_cover_period, |db| {
    let (case_id, report_id) = decided_case(&db.store, "dash", "malicious", false).await;
    db.store
        .queue_message(&NewOutboxMessage {
            kind: OutboxKind::Outcome,
            recipient: "alice@corp-example.com".to_owned(),
            subject: "Your report".to_owned(),
            text: "thanks".to_owned(),
            html: "<p>thanks</p>".to_owned(),
            case_id: Some(case_id),
            report_id: Some(report_id),
        })
        .await
        .expect("outcome");
    let created = db.store.create_action(&approve_action(case_id, "block_domain", "dash-1")).await.expect("action");
    db.store.approve_action(created.action.id, "alice").await.expect("approve");
    let outcome = json!({ "status": "succeeded", "dry_run": false });
    db.store
        .transition_action(created.action.id, ActionStatus::Approved, ActionStatus::Succeeded, Some(&outcome))
        .await
        .expect("succeed");

    let since = Utc::now() - chrono::Duration::days(1);
    let reports = db.store.dashboard_reports(since, 100).await.expect("reports");
    let effects = db.store.case_effects(since).await.expect("effects");
    let later = db.store.dashboard_reports(Utc::now() + chrono::Duration::hours(1), 100).await.expect("later");
    let recent = db.store.recent_outbox_messages(Some(OutboxKind::Outcome), 10).await.expect("outbox");

    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].report_id, report_id);
    assert_eq!(reports[0].verdict.as_deref(), Some("malicious"));
    assert_eq!(reports[0].sender.as_deref(), Some("ceo@lure.test"));
    assert!(reports[0].decided_at.is_some());
    assert!(reports[0].reporter_told);
    assert_eq!(effects.len(), 1);
    assert!(effects[0].blocked);
    assert!(effects[0].contained);
    assert!(!effects[0].trained);
    assert!(effects[0].first_containment_at.is_some());
    assert!(later.is_empty());
    assert_eq!(recent.len(), 1);
});

/// The SQLite migration copies `actions` and `block_entries` to allow the
/// `rejected` status; every row and reference must survive it.
#[tokio::test]
async fn sqlite_migration_keeps_actions_and_block_entries() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let earlier = folder.path().join("migrations");
    std::fs::create_dir(&earlier).expect("migrations folder");
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&source).expect("list migrations") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        if name.as_str() < "0006" {
            std::fs::copy(&path, earlier.join(&name)).expect("copy migration");
        }
    }
    let url = format!("sqlite://{}?mode=rwc", folder.path().join("old.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("SQLite");
    sqlx::migrate::Migrator::new(earlier.as_path()).await.expect("migrator").run(&pool).await.expect("0001 to 0005");
    let statements = [
        "INSERT INTO raw_messages VALUES ('0000000000000000000000000000000000000000000000000000000000000001', 1, \
         'zstd', x'00', '2026-01-01T00:00:00.000Z')",
        "INSERT INTO cases VALUES (x'00000000000000000000000000000001', 'key', '2026-01-01T00:00:00.000Z')",
        "INSERT INTO actions VALUES (x'00000000000000000000000000000002', x'00000000000000000000000000000001', \
         'block_domain', '{}', 'auto', 'blocklist', 'p', 1, NULL, 'key-1', 'succeeded', NULL, NULL, NULL, \
         '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', NULL)",
        "INSERT INTO block_entries VALUES (x'00000000000000000000000000000003', 'domain', 'lure.test', \
         x'00000000000000000000000000000001', x'00000000000000000000000000000002', '2026-01-01T00:00:00.000Z', \
         NULL, 0, NULL)",
    ];
    for statement in statements {
        sqlx::query(statement).execute(&pool).await.expect("old row");
    }
    pool.close().await;

    let store = Store::connect(&url).await.expect("migrate to the latest schema");
    let action = store.get_action(Uuid::from_u128(2)).await.expect("read").expect("action kept");
    let entries = store.block_entries_for_case(Uuid::from_u128(1)).await.expect("entries");

    assert_eq!(action.status, ActionStatus::Succeeded);
    assert_eq!(action.idempotency_key, "key-1");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].value, "lure.test");
    store.close().await;
}
