use std::sync::{Arc, Mutex};

use chrono::{Duration, TimeZone, Utc};
use phishloop_response::{
    ActionKind, BlockEntry, BlockKind, BlockList, BlockListConnector, Connector, Mode, OutcomeStatus, PlannedAction,
    Target, idempotency_key,
};

fn at(hour: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, hour, 0, 0).single().expect("valid time")
}

fn entry(kind: BlockKind, value: &str, expires: Option<u32>) -> BlockEntry {
    BlockEntry::new(kind, value, "case-1", at(0), expires.map(at)).expect("valid entry")
}

#[test]
fn feed_leaves_out_expired_entries() {
    let mut list = BlockList::new();
    list.add(entry(BlockKind::Domain, "example-phish.net", Some(12)));
    list.add(entry(BlockKind::Domain, "another-phish.example", None));
    list.add(entry(BlockKind::Domain, "old-phish.example", Some(6)));
    list.add(entry(BlockKind::Url, "https://login.example-phish.net/wp/", None));

    let feed = list.render(BlockKind::Domain, at(8));

    assert_eq!(
        feed,
        "# phishloop block list: domains\n# generated 2026-03-01T08:00:00Z\n# entries 2\nanother-phish.example\nexample-phish.net\n"
    );
    let later = list.render(BlockKind::Domain, at(12));
    assert!(!later.contains("example-phish.net\n") || later.contains("another-phish.example\nexample"));
    assert_eq!(later.lines().filter(|line| !line.starts_with('#')).collect::<Vec<_>>(), vec!["another-phish.example"]);
    let urls = list.render(BlockKind::Url, at(8));
    assert!(urls.ends_with("# entries 1\nhttps://login.example-phish.net/wp/\n"));
}

#[test]
fn repeated_entry_extends_expiry() {
    let mut list = BlockList::new();
    list.add(entry(BlockKind::Domain, "example-phish.net", Some(6)));
    list.add(entry(BlockKind::Domain, "example-phish.net", Some(12)));
    list.add(entry(BlockKind::Domain, "example-phish.net", Some(9)));

    assert_eq!(list.entries.len(), 1);
    assert_eq!(list.entries[0].expires_at, Some(at(12)));
    assert_eq!(list.prune(at(13)), 1);
}

#[test]
fn entries_that_would_break_a_feed_are_rejected() {
    assert!(BlockEntry::new(BlockKind::Url, "https://a.example/x\nevil.example", "c", at(0), None).is_err());
    assert!(BlockEntry::new(BlockKind::Url, "javascript:alert(1)", "c", at(0), None).is_err());
    assert!(BlockEntry::new(BlockKind::Domain, "# comment", "c", at(0), None).is_err());
    assert!(BlockEntry::new(BlockKind::Domain, "localhost", "c", at(0), None).is_err());
    let upper = BlockEntry::new(BlockKind::Domain, "Example-Phish.NET.", "c", at(0), None).expect("valid domain");
    assert_eq!(upper.value, "example-phish.net");
}

fn action(kind: ActionKind, target: Target) -> PlannedAction {
    PlannedAction {
        case_id: "case-2".to_string(),
        idempotency_key: idempotency_key("case-2", kind, &target, "blocklist"),
        kind,
        target,
        mode: Mode::Auto,
        connector: "blocklist".to_string(),
        playbook: "test".to_string(),
        reversible: kind.is_reversible(),
        note: None,
    }
}

#[tokio::test]
async fn connector_lists_and_unlists() {
    let list = Arc::new(Mutex::new(BlockList::new()));
    let connector = BlockListConnector::new(list.clone(), Some(Duration::days(30)));
    let block = action(ActionKind::BlockDomain, Target::Domain { domain: "example-phish.net".to_string() });

    assert_eq!(connector.execute(&block).await.status, OutcomeStatus::Succeeded);
    assert_eq!(connector.execute(&block).await.status, OutcomeStatus::Succeeded);
    assert_eq!(list.lock().expect("lock").entries.len(), 1, "a repeat must not add a second entry");

    assert_eq!(connector.undo(&block).await.status, OutcomeStatus::Succeeded);
    assert!(list.lock().expect("lock").entries.is_empty());

    let notify = action(ActionKind::Notify, Target::Team { name: "analysts".to_string() });
    assert_eq!(connector.execute(&notify).await.status, OutcomeStatus::Unsupported);
}
