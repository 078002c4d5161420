//! The purge connector against a real Dovecot with many mailboxes, logged in
//! through the master user.

mod harness;

use std::time::{Duration, Instant};

use harness::{MASTER, MASTER_PASSWORD, MailServers, address_of};
use phishloop_analysis::{Analyzer, Config, Mode as AnalysisMode};
use phishloop_mail::{ImapPurgeConnector, MailConfig, PurgeReport};
use phishloop_model::{InputFormat, Source};
use phishloop_response::{ActionKind, Connector, Mode, OutcomeStatus, PlannedAction, Target, idempotency_key};

const QUARANTINE: &str = "Phishloop-Quarantine";
const SENDER: &str = "billing@pay-portal.example";

fn users(count: usize) -> Vec<String> {
    (1..=count).map(|number| format!("user{number:04}")).collect()
}

/// Builds the phishing message as delivered to `recipient`; with `message_id`
/// `None` each copy gets its own Message-ID, as bulk senders do.
fn phish(recipient: &str, message_id: Option<&str>) -> Vec<u8> {
    let id = message_id.map_or_else(|| format!("<{recipient}.7731@pay-portal.example>"), str::to_string);
    format!(
        "From: Billing <{SENDER}>\r\nTo: {recipient}\r\nSubject: Invoice 4471 overdue\r\nMessage-ID: {id}\r\nDate: Fri, 04 Dec 2026 09:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYour invoice 4471 is overdue.\r\nPay now at https://pay-portal.example/login to avoid a fee.\r\n"
    )
    .into_bytes()
}

/// Same sender and subject, other text: must never be purged.
fn lookalike(recipient: &str) -> Vec<u8> {
    format!(
        "From: Billing <{SENDER}>\r\nTo: {recipient}\r\nSubject: Invoice 4471 overdue\r\nMessage-ID: <other.{recipient}@pay-portal.example>\r\n\r\nThis is a genuine reminder with different text.\r\n"
    )
    .into_bytes()
}

/// Builds the target the planner builds for the reported original.
fn target_of(raw: &[u8]) -> Target {
    let analyzer = Analyzer::new(Config::default(), AnalysisMode::Direct).expect("default analyser");
    let source =
        Source { path: None, index: 0, size: raw.len() as u64, sha256: String::new(), format: InputFormat::Eml };
    let record = analyzer.analyze_message(source, raw).remove(0);
    let message = record.message.expect("analysed message");
    Target::Message {
        message_id: message.headers.message_id.clone(),
        content_fingerprint: message.content_fingerprint.clone(),
        subject: message.headers.subject.clone(),
        sender: message.headers.from.first().and_then(|mailbox| mailbox.address.clone()).map(|a| a.to_lowercase()),
    }
}

fn purge_action(target: Target) -> PlannedAction {
    PlannedAction {
        case_id: "case-1".to_string(),
        kind: ActionKind::PurgeCopies,
        idempotency_key: idempotency_key("case-1", ActionKind::PurgeCopies, &target, "imap"),
        target,
        mode: Mode::Auto,
        connector: "imap".to_string(),
        playbook: "malicious".to_string(),
        reversible: true,
        note: None,
    }
}

fn connector(servers: &MailServers, users: &[String], concurrency: usize, master_password: &str) -> ImapPurgeConnector {
    let password_file = servers.dir.path().join("master.password");
    std::fs::write(&password_file, master_password).expect("write the master password file");
    let users_file = servers.dir.path().join("purge-users.txt");
    std::fs::write(&users_file, format!("# mailboxes to purge\n{}\n", users.join("\n"))).expect("write the users file");
    let text = format!(
        r#"
[purge]
host = "127.0.0.1"
port = {port}
security = "plain"
master_username = "{MASTER}"
password_file = "{password}"
users_file = "{users}"
concurrency = {concurrency}
"#,
        port = servers.imap_port,
        password = password_file.display(),
        users = users_file.display(),
    );
    let config: MailConfig = toml::from_str(&text).expect("valid purge configuration");
    ImapPurgeConnector::new(&config).expect("connector builds")
}

fn report_of(outcome: &phishloop_response::Outcome) -> PurgeReport {
    serde_json::from_value(outcome.data.clone().expect("outcome data")).expect("purge report")
}

/// Delivers one shared-ID copy to the first half of `users`, one copy with
/// its own Message-ID to the second half, and a lookalike to the first user.
async fn deliver_campaign(servers: &MailServers, users: &[String]) -> Vec<u8> {
    let shared_id = "<campaign-4471@pay-portal.example>";
    let (first, second) = users.split_at(users.len() / 2);
    let first_addresses: Vec<String> = first.iter().map(|user| address_of(user)).collect();
    servers.deliver(SENDER, &first_addresses, &phish("undisclosed-recipients:;", Some(shared_id))).await;
    for user in second {
        servers.deliver(SENDER, &[address_of(user)], &phish(&address_of(user), None)).await;
    }
    servers.deliver(SENDER, &[address_of(&users[0])], &lookalike(&address_of(&users[0]))).await;
    // The reporter's copy is the one with the shared Message-ID.
    phish("undisclosed-recipients:;", Some(shared_id))
}

#[tokio::test]
async fn purge_20_mailboxes_then_undo() {
    let users = users(20);
    let servers = MailServers::start(&users).await;
    let reported = deliver_campaign(&servers, &users).await;
    let action = purge_action(target_of(&reported));
    let connector = connector(&servers, &users, 8, MASTER_PASSWORD);

    let outcome = connector.execute(&action).await;
    let report = report_of(&outcome);

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert_eq!(outcome.connector, "imap");
    assert_eq!(report.mailboxes.len(), 20);
    assert_eq!(report.moved(), 20, "{}", outcome.details);
    for (index, mailbox) in report.mailboxes.iter().enumerate() {
        assert_eq!(mailbox.error, None, "{}", mailbox.user);
        assert_eq!((mailbox.found, mailbox.moved), (1, 1), "{}", mailbox.user);
        let inbox = &mailbox.folders[0];
        assert_eq!(inbox.folder, "INBOX");
        let by_id = if index < 10 { 1 } else { 0 };
        assert_eq!(inbox.by_message_id, by_id, "{}", mailbox.user);
        assert_eq!(inbox.by_fingerprint, 1 - by_id, "{}", mailbox.user);
        assert_eq!(inbox.message_ids.len(), 1, "{}", mailbox.user);
    }
    for user in &users {
        assert_eq!(servers.count(user, QUARANTINE).await, 1, "{user} quarantine");
    }
    assert_eq!(servers.count(&users[0], "INBOX").await, 1, "the lookalike with other text stays");
    assert_eq!(servers.count(&users[19], "INBOX").await, 0);

    let again = connector.execute(&action).await;
    assert_eq!(again.status, OutcomeStatus::Succeeded, "{}", again.details);
    assert_eq!(report_of(&again).moved(), 0, "a second execute moves nothing");
    assert_eq!(servers.count(&users[5], QUARANTINE).await, 1);

    let undone = connector.undo(&action).await;
    let undo_report = report_of(&undone);
    assert_eq!(undone.status, OutcomeStatus::Succeeded, "{}", undone.details);
    assert_eq!(undo_report.moved(), 20, "{}", undone.details);
    for user in &users {
        assert_eq!(servers.count(user, QUARANTINE).await, 0, "{user} quarantine after undo");
    }
    assert_eq!(servers.count(&users[0], "INBOX").await, 2, "copy and lookalike are back");
    assert_eq!(servers.count(&users[19], "INBOX").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_executes_move_each_copy_once() {
    // Six executes of one action at once, as jobs of several reports of one case can start them.
    let users = users(20);
    let servers = MailServers::start(&users).await;
    let reported = deliver_campaign(&servers, &users).await;
    let action = purge_action(target_of(&reported));
    let connector = connector(&servers, &users, 8, MASTER_PASSWORD);

    let outcomes = futures::future::join_all((0..6).map(|_| connector.execute(&action))).await;

    let moved: Vec<usize> = outcomes.iter().map(|outcome| report_of(outcome).moved()).collect();
    assert_eq!(moved.iter().sum::<usize>(), 20, "each copy is moved by exactly one execute: {moved:?}");
    for user in &users {
        assert_eq!(servers.count(user, QUARANTINE).await, 1, "{user} quarantine");
    }
}

#[tokio::test]
async fn failed_login_is_reported_while_others_are_purged() {
    let users = users(4);
    let servers = MailServers::start(&users).await;
    let reported = deliver_campaign(&servers, &users).await;
    let action = purge_action(target_of(&reported));
    let mut configured = users.clone();
    configured.push("ghost".to_string());
    let connector = connector(&servers, &configured, 2, MASTER_PASSWORD);

    let outcome = connector.execute(&action).await;
    let report = report_of(&outcome);

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert_eq!(report.moved(), 4);
    let failed: Vec<&str> = report.failed().map(|mailbox| mailbox.user.as_str()).collect();
    assert_eq!(failed, ["ghost"]);
    let ghost = report.mailboxes.iter().find(|mailbox| mailbox.user == "ghost").expect("ghost result");
    assert!(ghost.error.as_deref().is_some_and(|error| error.contains("login")), "{ghost:?}");
    assert!(outcome.details.contains("1 failed: ghost"), "{}", outcome.details);
}

#[tokio::test]
async fn wrong_master_password_fails_every_mailbox() {
    let users = users(3);
    let servers = MailServers::start(&users).await;
    let reported = deliver_campaign(&servers, &users).await;
    let action = purge_action(target_of(&reported));
    let connector = connector(&servers, &users, 3, "not-the-master-password");

    let outcome = connector.execute(&action).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed, "{}", outcome.details);
    assert_eq!(report_of(&outcome).failed().count(), 3);
    assert!(!outcome.details.contains("not-the-master-password"), "the password never appears in details");
    assert_eq!(servers.count(&users[2], "INBOX").await, 1, "nothing moved");
}

#[tokio::test]
async fn other_action_kinds_are_unsupported() {
    let servers = MailServers::start(&users(1)).await;
    let connector = connector(&servers, &users(1), 1, MASTER_PASSWORD);
    let mut action = purge_action(Target::Sender { address: SENDER.to_string() });
    action.kind = ActionKind::BlockSender;

    let outcome = connector.execute(&action).await;

    assert_eq!(outcome.status, OutcomeStatus::Unsupported, "{}", outcome.details);
}

/// Prints the time to purge one copy from each of 1,000 mailboxes. Run with
/// `cargo test -p phishloop-mail --test purge -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: takes about a minute"]
async fn purge_1000_mailboxes() {
    let users = users(1000);
    let servers = MailServers::start(&users).await;
    let started = Instant::now();
    let reported = deliver_campaign(&servers, &users).await;
    println!("delivered 1,000 copies over LMTP in {:.1} s", started.elapsed().as_secs_f64());
    let action = purge_action(target_of(&reported));
    let connector = connector(&servers, &users, 8, MASTER_PASSWORD);

    let started = Instant::now();
    let outcome = connector.execute(&action).await;
    let elapsed = started.elapsed();

    let report = report_of(&outcome);
    println!(
        "purged {} copies from {} mailboxes in {:.1} s (concurrency 8, {} failed)",
        report.moved(),
        report.mailboxes.len(),
        elapsed.as_secs_f64(),
        report.failed().count()
    );
    assert_eq!(report.moved(), 1000, "{}", outcome.details);
    assert!(elapsed < Duration::from_secs(600), "purge took {elapsed:?}");
}

#[tokio::test]
async fn copies_with_utf8_subject_are_found_by_fingerprint() {
    let users = users(3);
    let servers = MailServers::start(&users).await;
    let message = |recipient: &str| {
        format!(
            "From: Buchhaltung <{SENDER}>\r\nTo: {recipient}\r\nSubject: =?UTF-8?Q?Rechnung_=C3=BCberf=C3=A4llig?=\r\nMessage-ID: <{recipient}.de@pay-portal.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nIhre Rechnung ist überfällig. Zahlen Sie unter https://pay-portal.example/de\r\n"
        )
        .into_bytes()
    };
    for user in &users {
        servers.deliver(SENDER, &[address_of(user)], &message(&address_of(user))).await;
    }
    let target = target_of(&message("reporter@example.test"));
    let Target::Message { subject, .. } = &target else { unreachable!("target_of builds a message target") };
    assert_eq!(subject.as_deref(), Some("Rechnung überfällig"));
    let connector = connector(&servers, &users, 3, MASTER_PASSWORD);

    let outcome = connector.execute(&purge_action(target)).await;
    let report = report_of(&outcome);

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert_eq!(report.moved(), 3, "{}", outcome.details);
    for mailbox in &report.mailboxes {
        assert_eq!(mailbox.folders[0].by_fingerprint, 1, "{}", mailbox.user);
    }
}

#[tokio::test]
async fn purge_and_undo_without_move_extension() {
    let users = users(2);
    let servers = MailServers::start_with_capability(&users, "IMAP4rev1 LITERAL+ UIDPLUS").await;
    let reported = deliver_campaign(&servers, &users).await;
    let action = purge_action(target_of(&reported));
    let connector = connector(&servers, &users, 2, MASTER_PASSWORD);

    let executed = connector.execute(&action).await;
    let quarantined = servers.count(&users[1], QUARANTINE).await;
    let undone = connector.undo(&action).await;

    assert_eq!(report_of(&executed).moved(), 2, "{}", executed.details);
    assert_eq!(quarantined, 1);
    assert_eq!(report_of(&undone).moved(), 2, "{}", undone.details);
    assert_eq!(servers.count(&users[1], QUARANTINE).await, 0);
    assert_eq!(servers.count(&users[1], "INBOX").await, 1);
}
