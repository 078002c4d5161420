//! Actions, the outbox and block-list entries on both back ends.

mod common;

use std::time::Duration;

use common::{report_from, store_test};
use phishloop_store::{
    Action, ActionMode, ActionStatus, ActionTransition, BlockEntryKind, BlockListing, EventSubject, NewAction,
    NewOutboxMessage, OutboxFilter, OutboxKind, OutboxStatus, Store, StoreError,
};
use serde_json::json;
use uuid::Uuid;

/// Stores a report in a new case and returns both ids.
async fn case_with_report(store: &Store, tag: &str) -> (Uuid, Uuid) {
    let message = format!("From: a@example.org\r\nSubject: {tag}\r\n\r\nbody {tag}");
    let report = report_from(store, "alice@corp-example.com", message.as_bytes()).await;
    let joined = store.join_case(report.id, &format!("key:{tag}")).await.expect("join_case");
    (joined.case_id, report.id)
}

fn block_url_action(case_id: Uuid, mode: ActionMode, key: &str) -> NewAction {
    NewAction {
        case_id,
        kind: "block_url".to_owned(),
        target: json!({ "type": "url", "url": "https://login-example.test/verify" }),
        mode,
        connector: "blocklist".to_owned(),
        playbook: "test".to_owned(),
        reversible: true,
        note: None,
        idempotency_key: key.to_owned(),
    }
}

store_test!(action_with_same_key_returned_once, |db| {
    let (case_id, _) = case_with_report(&db.store, "same-key").await;
    let action = block_url_action(case_id, ActionMode::Auto, "pk1-same");

    let first = db.store.create_action(&action).await.expect("create");
    let second = db.store.create_action(&action).await.expect("create again");

    assert!(first.created);
    assert!(!second.created);
    assert_eq!(first.action, second.action);
    assert_eq!(first.action.status, ActionStatus::Planned);
    assert_eq!(first.action.target["url"], "https://login-example.test/verify");
    assert_eq!(db.count("SELECT count(*) FROM actions").await, 1);
});

store_test!(approve_mode_awaits_approval, |db| {
    let (case_id, _) = case_with_report(&db.store, "approve").await;

    let created =
        db.store.create_action(&block_url_action(case_id, ActionMode::Approve, "pk1-a")).await.expect("create");
    let approved = db.store.approve_action(created.action.id, "alice-analyst").await.expect("approve");
    let again = db.store.approve_action(created.action.id, "bob-analyst").await.expect_err("approved already");

    assert_eq!(created.action.status, ActionStatus::AwaitingApproval);
    assert_eq!(approved.status, ActionStatus::Approved);
    assert_eq!(approved.approved_by.as_deref(), Some("alice-analyst"));
    assert!(approved.approved_at.is_some());
    assert!(matches!(again, StoreError::ActionStatusConflict { status: ActionStatus::Approved, .. }), "{again:?}");
});

store_test!(transition_checks_current_status, |db| {
    let (case_id, _) = case_with_report(&db.store, "transition").await;
    let action = db.store.create_action(&block_url_action(case_id, ActionMode::Auto, "pk1-t")).await.expect("create");
    let id = action.action.id;

    let running =
        db.store.transition_action(id, ActionStatus::Planned, ActionStatus::Running, None).await.expect("run");
    let outcome = json!({ "status": "succeeded", "details": "listed" });
    let done = db
        .store
        .transition_action(id, ActionStatus::Running, ActionStatus::Succeeded, Some(&outcome))
        .await
        .expect("succeed");
    let stale = db.store.transition_action(id, ActionStatus::Planned, ActionStatus::Running, None).await;
    let missing = db.store.transition_action(Uuid::now_v7(), ActionStatus::Planned, ActionStatus::Running, None).await;

    assert_eq!(running.status, ActionStatus::Running);
    assert_eq!(running.finished_at, None);
    assert_eq!(done.status, ActionStatus::Succeeded);
    assert_eq!(done.outcome, Some(outcome));
    assert!(done.finished_at.is_some());
    assert!(matches!(stale, Err(StoreError::ActionStatusConflict { .. })), "{stale:?}");
    assert!(matches!(missing, Err(StoreError::ActionNotFound(_))), "{missing:?}");
});

store_test!(actions_listed_by_case, |db| {
    let (first_case, _) = case_with_report(&db.store, "list-1").await;
    let (second_case, _) = case_with_report(&db.store, "list-2").await;
    db.store.create_action(&block_url_action(first_case, ActionMode::Auto, "pk1-l1")).await.expect("create");
    db.store.create_action(&block_url_action(first_case, ActionMode::Approve, "pk1-l2")).await.expect("create");
    db.store.create_action(&block_url_action(second_case, ActionMode::Auto, "pk1-l3")).await.expect("create");

    let first = db.store.actions_for_case(first_case).await.expect("list");
    let all = db.store.list_actions(10).await.expect("list all");

    let keys: Vec<&str> = first.iter().map(|action| action.idempotency_key.as_str()).collect();
    assert_eq!(keys, vec!["pk1-l1", "pk1-l2"]);
    assert_eq!(all.len(), 3);
});

store_test!(action_of_unknown_case_rejected, |db| {
    let missing = Uuid::now_v7();

    let error =
        db.store.create_action(&block_url_action(missing, ActionMode::Auto, "pk1-x")).await.expect_err("no case");

    assert!(matches!(error, StoreError::CaseNotFound(id) if id == missing), "{error:?}");
});

fn outcome_message(case_id: Uuid, report_id: Uuid, recipient: &str) -> NewOutboxMessage {
    NewOutboxMessage {
        kind: OutboxKind::Outcome,
        recipient: recipient.to_owned(),
        subject: "Your report: phishing".to_owned(),
        text: "Thank you".to_owned(),
        html: "<p>Thank you</p>".to_owned(),
        case_id: Some(case_id),
        report_id: Some(report_id),
    }
}

store_test!(message_queued_once_per_recipient, |db| {
    let (case_id, report_id) = case_with_report(&db.store, "outbox-once").await;

    let first =
        db.store.queue_message(&outcome_message(case_id, report_id, "Alice@Corp-Example.com")).await.expect("q");
    let second =
        db.store.queue_message(&outcome_message(case_id, report_id, "alice@corp-example.com")).await.expect("q");
    let other = db.store.queue_message(&outcome_message(case_id, report_id, "bob@corp-example.com")).await.expect("q");

    assert!(first.created);
    assert!(!second.created, "the same address in other letter case is the same recipient");
    assert_eq!(first.message.id, second.message.id);
    assert_eq!(first.message.recipient, "alice@corp-example.com");
    assert!(other.created);
    assert_eq!(db.count("SELECT count(*) FROM outbox").await, 2);
});

store_test!(lesson_needs_case, |db| {
    let (_, report_id) = case_with_report(&db.store, "lesson-case").await;
    let lesson = NewOutboxMessage {
        kind: OutboxKind::Lesson,
        case_id: None,
        ..outcome_message(Uuid::now_v7(), report_id, "carol@corp-example.com")
    };

    let error = db.store.queue_message(&lesson).await.expect_err("a lesson needs a case");

    assert!(matches!(error, StoreError::InvalidInput { .. }), "{error:?}");
});

store_test!(outbox_filters_by_status_and_case, |db| {
    let (first_case, first_report) = case_with_report(&db.store, "filter-1").await;
    let (second_case, second_report) = case_with_report(&db.store, "filter-2").await;
    let acknowledgement = NewOutboxMessage {
        kind: OutboxKind::Acknowledgement,
        case_id: None,
        ..outcome_message(first_case, first_report, "alice@corp-example.com")
    };
    db.store.queue_message(&acknowledgement).await.expect("queue");
    let outcome = db.store.queue_message(&outcome_message(first_case, first_report, "alice@corp-example.com")).await;
    db.store.queue_message(&outcome_message(second_case, second_report, "bob@corp-example.com")).await.expect("queue");
    let sent = db.store.mark_message_sent(outcome.expect("queue").message.id).await.expect("mark sent");

    let of_first = db
        .store
        .outbox_messages(&OutboxFilter { case_id: Some(first_case), limit: 10, ..OutboxFilter::default() })
        .await
        .expect("case");
    let queued = db
        .store
        .outbox_messages(&OutboxFilter { status: Some(OutboxStatus::Queued), limit: 10, ..OutboxFilter::default() })
        .await
        .expect("queued");

    let kinds: Vec<OutboxKind> = of_first.iter().map(|message| message.kind).collect();
    assert_eq!(kinds, vec![OutboxKind::Acknowledgement, OutboxKind::Outcome], "the acknowledgement has no case yet");
    assert_eq!(sent.status, OutboxStatus::Sent);
    assert!(sent.sent_at.is_some());
    assert_eq!(queued.len(), 2);
    assert!(queued.iter().all(|message| message.status == OutboxStatus::Queued));
});

store_test!(block_entry_listed_until_removed, |db| {
    let (case_id, _) = case_with_report(&db.store, "block").await;

    let first = db.store.add_block_entry(BlockEntryKind::Domain, "login-example.test", case_id, None, None).await;
    let again = db.store.add_block_entry(BlockEntryKind::Domain, "login-example.test", case_id, None, None).await;
    let listed = db.store.listed_block_entries(BlockEntryKind::Domain).await.expect("list");
    let urls = db.store.listed_block_entries(BlockEntryKind::Url).await.expect("list urls");
    let removed = db.store.remove_block_entry(BlockEntryKind::Domain, "login-example.test").await.expect("remove");
    let removed_again = db.store.remove_block_entry(BlockEntryKind::Domain, "login-example.test").await.expect("again");
    let after = db.store.listed_block_entries(BlockEntryKind::Domain).await.expect("list after");

    assert_eq!(first.expect("add").id, again.expect("add again").id, "a listed value is listed once");
    assert_eq!(listed.len(), 1);
    assert!(urls.is_empty());
    assert!(removed.expect("was listed").removed);
    assert_eq!(removed_again, None);
    assert!(after.is_empty());
    assert_eq!(db.store.block_entries_for_case(case_id).await.expect("history").len(), 1, "removed rows stay");
});

store_test!(expired_block_entry_not_listed, |db| {
    let (case_id, _) = case_with_report(&db.store, "expiry").await;
    let ttl = Some(Duration::from_millis(200));

    let short = db.store.add_block_entry(BlockEntryKind::Url, "https://a.test/x", case_id, None, ttl).await;
    db.store.add_block_entry(BlockEntryKind::Url, "https://b.test/y", case_id, None, None).await.expect("add");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let listed = db.store.listed_block_entries(BlockEntryKind::Url).await.expect("list");

    assert!(short.expect("add").expires_at.is_some());
    let values: Vec<&str> = listed.iter().map(|entry| entry.value.as_str()).collect();
    assert_eq!(values, vec!["https://b.test/y"]);
});

store_test!(relisting_extends_expiry, |db| {
    let (case_id, _) = case_with_report(&db.store, "extend").await;

    let short = db
        .store
        .add_block_entry(BlockEntryKind::Domain, "a.test", case_id, None, Some(Duration::from_secs(60)))
        .await
        .expect("add");
    let forever = db.store.add_block_entry(BlockEntryKind::Domain, "a.test", case_id, None, None).await.expect("add");

    assert!(short.expires_at.is_some());
    assert_eq!(forever.id, short.id);
    assert_eq!(forever.expires_at, None, "no expiry wins over a later one");
});

store_test!(running_action_claimed_only_when_stale, |db| {
    let (case_id, _) = case_with_report(&db.store, "claim").await;
    let action = db.store.create_action(&block_url_action(case_id, ActionMode::Auto, "pk1-c")).await.expect("create");
    let id = action.action.id;
    let planned = db.store.claim_running_action(id, Duration::ZERO).await.expect("claim planned");
    db.store.transition_action(id, ActionStatus::Planned, ActionStatus::Running, None).await.expect("run");

    let fresh = db.store.claim_running_action(id, Duration::from_secs(60)).await.expect("claim fresh");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let stale = db.store.claim_running_action(id, Duration::from_millis(10)).await.expect("claim stale");
    let again = db.store.claim_running_action(id, Duration::from_secs(60)).await.expect("claim again");

    assert!(planned.is_none(), "only a running action can be claimed");
    assert!(fresh.is_none(), "a running action with a recent heartbeat belongs to its worker");
    assert_eq!(stale.expect("the stale action").status, ActionStatus::Running);
    assert!(again.is_none(), "the claim stamped the action, so it is fresh again");
});

store_test!(plan_and_outcomes_recorded_in_batches, |db| {
    let (case_id, _) = case_with_report(&db.store, "batch").await;
    let plan: Vec<NewAction> =
        (0..3).map(|i| block_url_action(case_id, ActionMode::Auto, &format!("pk1-b{i}"))).collect();
    let payload = |action: &Action| json!({ "action_id": action.id });
    let created = db.store.create_actions_recorded(&plan, "action_planned", payload).await.expect("plan");
    let replanned = db.store.create_actions_recorded(&plan, "action_planned", payload).await.expect("plan again");
    // Another worker finished the second action first.
    let taken = created[1].action.id;
    db.store.transition_action(taken, ActionStatus::Planned, ActionStatus::Succeeded, None).await.expect("taken");

    let transitions: Vec<ActionTransition> = created
        .iter()
        .enumerate()
        .map(|(index, created)| ActionTransition {
            action_id: created.action.id,
            from: ActionStatus::Planned,
            to: ActionStatus::Succeeded,
            outcome: Some(json!({ "status": "succeeded", "details": "listed" })),
            event_kind: "action_executed",
            listing: Some(BlockListing { kind: BlockEntryKind::Domain, value: format!("lure-{index}.example") }),
        })
        .collect();
    let done = db
        .store
        .transition_actions_recorded(
            &transitions,
            |action, transition| json!({ "action_id": action.id, "kind": transition.event_kind }),
        )
        .await
        .expect("record outcomes");
    let events = db.store.events_for(EventSubject::Case(case_id)).await.expect("events");
    let verification = db.store.verify_chain().await.expect("verify_chain");

    assert!(created.iter().all(|created| created.created));
    assert!(replanned.iter().all(|created| !created.created), "a repeated plan stores nothing new");
    assert_eq!(done.iter().map(Option::is_some).collect::<Vec<_>>(), vec![true, false, true]);
    assert_eq!(done[0].as_ref().expect("first").outcome.as_ref().expect("outcome")["details"], "listed");
    let kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
    assert_eq!(kinds, ["action_planned", "action_planned", "action_planned", "action_executed", "action_executed"]);
    let executed: Vec<&serde_json::Value> = events
        .iter()
        .filter(|event| event.kind == "action_executed")
        .map(|event| &event.payload["action_id"])
        .collect();
    assert_eq!(executed, [&json!(created[0].action.id), &json!(created[2].action.id)]);
    assert!(verification.is_intact(), "{verification:?}");
    assert_eq!(verification.events_verified, 5);
    // Only the actions that moved list their entries, each with its action.
    let listed = db.store.listed_block_entries(BlockEntryKind::Domain).await.expect("listed");
    let listed: Vec<(&str, Option<uuid::Uuid>)> =
        listed.iter().map(|entry| (entry.value.as_str(), entry.action_id)).collect();
    assert_eq!(
        listed,
        [("lure-0.example", Some(created[0].action.id)), ("lure-2.example", Some(created[2].action.id))]
    );
});

store_test!(batch_of_unknown_event_kind_rejected, |db| {
    let (case_id, _) = case_with_report(&db.store, "bad-kind").await;
    let created = db.store.create_action(&block_url_action(case_id, ActionMode::Auto, "pk1-k")).await.expect("create");
    let transition = ActionTransition {
        action_id: created.action.id,
        from: ActionStatus::Planned,
        to: ActionStatus::Succeeded,
        outcome: None,
        event_kind: "Action Executed",
        listing: None,
    };

    let error = db.store.transition_actions_recorded(&[transition], |_, _| json!({})).await.expect_err("bad kind");
    let unchanged = db.store.get_action(created.action.id).await.expect("get").expect("stored");

    assert!(error.to_string().contains("Action Executed"), "{error}");
    assert_eq!(unchanged.status, ActionStatus::Planned);
});
