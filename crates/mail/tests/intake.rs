//! Intake against a real Dovecot: each message becomes one report, moves
//! only after it is stored, and mail loops never reach the sink.

mod harness;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use harness::{MailServers, address_of};
use phishloop_mail::{Intake, MailConfig, ReportSink, SinkError, Submitted};

const PROCESSED: &str = "Phishloop-Processed";
const IGNORED: &str = "Phishloop-Ignored";

/// A sink that stores reports in memory and, like the real store, returns
/// the existing report for a known source key.
#[derive(Default)]
struct MemorySink {
    reports: Mutex<HashMap<String, Vec<u8>>>,
    submissions: Mutex<Vec<String>>,
    /// Stores the report, then fails: a crash between storing and moving.
    fail_after_store: AtomicBool,
    /// Fails before storing anything.
    fail_before_store: AtomicBool,
}

impl MemorySink {
    fn stored(&self) -> usize {
        self.reports.lock().expect("sink lock").len()
    }

    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.reports.lock().expect("sink lock").keys().cloned().collect();
        keys.sort();
        keys
    }
}

#[async_trait]
impl ReportSink for MemorySink {
    async fn submit(&self, raw: Vec<u8>, source_key: String) -> Result<Submitted, SinkError> {
        self.submissions.lock().expect("sink lock").push(source_key.clone());
        if self.fail_before_store.load(Ordering::SeqCst) {
            return Err("the store is unavailable".into());
        }
        let created = {
            let mut reports = self.reports.lock().expect("sink lock");
            let created = !reports.contains_key(&source_key);
            reports.entry(source_key.clone()).or_insert(raw);
            created
        };
        if self.fail_after_store.load(Ordering::SeqCst) {
            return Err("the worker died after storing".into());
        }
        Ok(Submitted { report_id: format!("report-{source_key}"), created })
    }
}

fn config(servers: &MailServers, port: u16, security: &str, idle: bool) -> MailConfig {
    let password_file = servers.dir.path().join("reports.password");
    std::fs::write(&password_file, format!("{}\n", harness::password_of("reports"))).expect("write the password file");
    let text = format!(
        r#"
own_domains = ["phishloop.example"]

[[intake]]
name = "reports"
host = "127.0.0.1"
port = {port}
security = "{security}"
ca_file = "{ca}"
username = "reports"
password_file = "{password}"
idle = {idle}
poll_interval_secs = 1
"#,
        ca = servers.ca_file.display(),
        password = password_file.display(),
    );
    toml::from_str(&text).expect("valid intake configuration")
}

fn report(number: usize) -> Vec<u8> {
    format!(
        "From: Ann Example <ann@{domain}>\r\nTo: reports@{domain}\r\nSubject: Fwd: invoice {number}\r\nMessage-ID: <report-{number}@{domain}>\r\n\r\nPlease check this invoice mail {number}.\r\n",
        domain = harness::DOMAIN
    )
    .into_bytes()
}

async fn start() -> MailServers {
    MailServers::start(&["reports".to_string()]).await
}

#[tokio::test]
async fn intake_reports_each_message_once_and_moves_it() {
    let servers = start().await;
    for number in 1..=3 {
        servers.deliver("ann@example.test", &[address_of("reports")], &report(number)).await;
    }
    let intake = Intake::new(&config(&servers, servers.imap_port, "plain", false)).expect("intake builds");
    let sink = MemorySink::default();

    let first = intake.process_once(&sink).await;
    let second = intake.process_once(&sink).await;

    let first = first.into_iter().next().expect("one account").expect("first pass succeeds");
    let second = second.into_iter().next().expect("one account").expect("second pass succeeds");
    assert_eq!(first.reported, 3, "{first:?}");
    assert_eq!(first.failed, 0, "{first:?}");
    assert_eq!(second.reported + second.duplicates, 0, "{second:?}");
    assert_eq!(sink.stored(), 3);
    assert_eq!(servers.count("reports", "INBOX").await, 0);
    assert_eq!(servers.count("reports", PROCESSED).await, 3);
    for key in sink.keys() {
        let parts: Vec<&str> = key.split(':').collect();
        assert_eq!(parts.len(), 5, "{key}");
        assert_eq!(&parts[..3], ["imap", "reports", "INBOX"], "{key}");
        assert!(parts[3].parse::<u32>().is_ok_and(|validity| validity > 0), "{key}");
    }
    let stored = sink.reports.lock().expect("sink lock").values().any(|raw| raw.windows(9).any(|w| w == b"invoice 2"));
    assert!(stored, "the raw message reaches the sink unchanged");
}

#[tokio::test]
async fn crash_after_store_gives_no_duplicate() {
    let servers = start().await;
    servers.deliver("ann@example.test", &[address_of("reports")], &report(1)).await;
    let intake = Intake::new(&config(&servers, servers.imap_port, "plain", false)).expect("intake builds");
    let sink = MemorySink::default();

    sink.fail_after_store.store(true, Ordering::SeqCst);
    let crashed = intake.process_once(&sink).await.remove(0).expect("pass runs");
    let in_inbox_after_crash = servers.count("reports", "INBOX").await;
    sink.fail_after_store.store(false, Ordering::SeqCst);
    let retried = intake.process_once(&sink).await.remove(0).expect("pass runs");

    assert_eq!(crashed.failed, 1, "{crashed:?}");
    assert_eq!(in_inbox_after_crash, 1, "the message stays until its report is confirmed");
    assert_eq!(retried.duplicates, 1, "{retried:?}");
    assert_eq!(retried.reported, 0, "{retried:?}");
    assert_eq!(sink.stored(), 1);
    let submissions = sink.submissions.lock().expect("sink lock").clone();
    assert_eq!(submissions.len(), 2);
    assert_eq!(submissions[0], submissions[1], "the retry uses the same source key");
    assert_eq!(servers.count("reports", PROCESSED).await, 1);
}

#[tokio::test]
async fn failing_sink_leaves_message_in_inbox() {
    let servers = start().await;
    servers.deliver("ann@example.test", &[address_of("reports")], &report(1)).await;
    let intake = Intake::new(&config(&servers, servers.imap_port, "plain", false)).expect("intake builds");
    let sink = MemorySink::default();
    sink.fail_before_store.store(true, Ordering::SeqCst);

    let pass = intake.process_once(&sink).await.remove(0).expect("pass runs");

    assert_eq!(pass.failed, 1, "{pass:?}");
    assert_eq!(sink.stored(), 0);
    assert_eq!(servers.count("reports", "INBOX").await, 1);
    assert_eq!(servers.count("reports", PROCESSED).await, 0);
}

#[tokio::test]
async fn bounces_and_auto_replies_never_reach_sink() {
    let servers = start().await;
    let to = [address_of("reports")];
    let bounce = "From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\r\nTo: reports@example.test\r\nSubject: Undelivered Mail Returned to Sender\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.test\r\n\r\nFinal-Recipient: rfc822; gone@example.test\r\nAction: failed\r\nStatus: 5.1.1\r\n--b1--\r\n";
    let vacation = "From: Bob <bob@example.test>\r\nTo: reports@example.test\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nIn-Reply-To: <phishloop.ack-1@phishloop.example>\r\n\r\nI am away.\r\n";
    let exchange_reply = "From: Carol <carol@example.test>\r\nTo: reports@example.test\r\nSubject: Automatic reply\r\nX-Autoreply: yes\r\n\r\nAway.\r\n";
    let own = "From: Phishloop <phishloop@phishloop.example>\r\nTo: reports@example.test\r\nSubject: Thanks for your report\r\nMessage-ID: <phishloop.ack-2@phishloop.example>\r\nX-Phishloop-Kind: acknowledgement\r\n\r\nThanks.\r\n";
    // Empty envelope sender: Dovecot records it as `Return-Path: <>`.
    servers.deliver("", &to, bounce.as_bytes()).await;
    servers.deliver("bob@example.test", &to, vacation.as_bytes()).await;
    servers.deliver("carol@example.test", &to, exchange_reply.as_bytes()).await;
    servers.deliver("phishloop@phishloop.example", &to, own.as_bytes()).await;
    servers.deliver("ann@example.test", &to, &report(7)).await;
    let intake = Intake::new(&config(&servers, servers.imap_port, "plain", false)).expect("intake builds");
    let sink = MemorySink::default();

    let pass = intake.process_once(&sink).await.remove(0).expect("pass runs");

    assert_eq!(pass.ignored, 4, "{pass:?}");
    assert_eq!(pass.reported, 1, "{pass:?}");
    assert_eq!(sink.submissions.lock().expect("sink lock").len(), 1, "only the report reaches the sink");
    assert_eq!(servers.count("reports", IGNORED).await, 4);
    assert_eq!(servers.count("reports", PROCESSED).await, 1);
    assert_eq!(servers.count("reports", "INBOX").await, 0);
}

#[tokio::test]
async fn idle_over_tls_gets_new_mail() {
    let servers = start().await;
    let intake = Intake::new(&config(&servers, servers.imaps_port, "tls", true)).expect("intake builds");
    let sink = Arc::new(MemorySink::default());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(intake.run(sink.clone(), shutdown));

    tokio::time::sleep(Duration::from_millis(700)).await;
    servers.deliver("ann@example.test", &[address_of("reports")], &report(1)).await;
    let processed = servers.wait_for_count("reports", PROCESSED, 1, Duration::from_secs(15)).await;
    stop.send(true).expect("intake is running");
    let stopped = tokio::time::timeout(Duration::from_secs(10), task).await;

    assert_eq!(processed, 1, "logs:\n{}", servers.logs());
    assert_eq!(sink.stored(), 1);
    assert!(stopped.is_ok(), "intake stops within 10 s of shutdown");
}

#[tokio::test]
async fn polling_over_starttls_gets_new_mail() {
    let servers = start().await;
    let intake = Intake::new(&config(&servers, servers.imap_port, "starttls", false)).expect("intake builds");
    let sink = Arc::new(MemorySink::default());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(intake.run(sink.clone(), shutdown));

    tokio::time::sleep(Duration::from_millis(300)).await;
    servers.deliver("ann@example.test", &[address_of("reports")], &report(2)).await;
    let processed = servers.wait_for_count("reports", PROCESSED, 1, Duration::from_secs(15)).await;
    stop.send(true).expect("intake is running");
    let stopped = tokio::time::timeout(Duration::from_secs(10), task).await;

    assert_eq!(processed, 1, "logs:\n{}", servers.logs());
    assert_eq!(sink.stored(), 1);
    assert!(stopped.is_ok(), "intake stops within 10 s of shutdown");
}

#[tokio::test]
async fn wrong_ca_fails_tls_and_reports_nothing() {
    let servers = start().await;
    let mut config = config(&servers, servers.imaps_port, "tls", false);
    // The server certificate itself is no CA: trusting only it must fail.
    config.intake[0].ca_file = Some(servers.dir.path().join("cert.pem"));
    let intake = Intake::new(&config).expect("intake builds");
    let sink = MemorySink::default();
    servers.deliver("ann@example.test", &[address_of("reports")], &report(3)).await;

    let pass = intake.process_once(&sink).await.remove(0);

    let error = pass.expect_err("an untrusted certificate fails the pass").to_string();
    assert!(error.contains("TLS"), "{error}");
    assert_eq!(sink.stored(), 0);
    assert_eq!(servers.count("reports", "INBOX").await, 1);
}

#[tokio::test]
async fn failing_account_does_not_stop_others() {
    let servers = start().await;
    let mut config = config(&servers, servers.imap_port, "plain", true);
    let wrong_password = servers.dir.path().join("wrong.password");
    std::fs::write(&wrong_password, "not-the-password").expect("write the password file");
    let mut broken = config.intake[0].clone();
    broken.name = "broken".to_string();
    broken.password_file = Some(wrong_password);
    config.intake.insert(0, broken);
    let intake = Intake::new(&config).expect("intake builds");
    let sink = Arc::new(MemorySink::default());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(intake.run(sink.clone(), shutdown));

    servers.deliver("ann@example.test", &[address_of("reports")], &report(4)).await;
    let processed = servers.wait_for_count("reports", PROCESSED, 1, Duration::from_secs(15)).await;
    stop.send(true).expect("intake is running");
    let stopped = tokio::time::timeout(Duration::from_secs(10), task).await;

    assert_eq!(processed, 1, "logs:\n{}", servers.logs());
    assert_eq!(sink.stored(), 1);
    assert!(stopped.is_ok(), "intake stops while the broken account waits to reconnect");
}

#[tokio::test]
async fn moves_without_move_extension() {
    // Without MOVE, intake copies, flags \Deleted and expunges: with
    // UIDPLUS by UID, without it by a plain EXPUNGE.
    for capability in ["IMAP4rev1 LITERAL+ UIDPLUS IDLE", "IMAP4rev1 LITERAL+ IDLE"] {
        let servers = MailServers::start_with_capability(&["reports".to_string()], capability).await;
        for number in 1..=2 {
            servers.deliver("ann@example.test", &[address_of("reports")], &report(number)).await;
        }
        let intake = Intake::new(&config(&servers, servers.imap_port, "plain", false)).expect("intake builds");
        let sink = MemorySink::default();

        let pass = intake.process_once(&sink).await.remove(0).expect("pass runs");

        assert_eq!(pass.reported, 2, "{capability}: {pass:?}");
        assert_eq!(servers.count("reports", "INBOX").await, 0, "{capability}");
        assert_eq!(servers.count("reports", PROCESSED).await, 2, "{capability}");
    }
}
