//! The whole loop through real mail servers on loopback: Dovecot (IMAP,
//! LMTP) and OpenSMTPD, started by the mail crate's test harness. A phish
//! reaches 20 mailboxes, one recipient forwards it as an attachment to the
//! reporting mailbox, and the service reads the report over IMAP, decides,
//! purges every copy over IMAP and sends the outcome and the lessons over
//! SMTP. A second test kills `phishloop serve` with SIGKILL during intake
//! and purge and checks that the restarted service finishes the work once.
//!
//! Install the servers with `scripts/mail-servers.sh`; the tests need root,
//! as the mail crate's tests do.

#[path = "../../mail/tests/harness/mod.rs"]
mod harness;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::{DOMAIN, MASTER, MASTER_PASSWORD, MailServers, address_of, password_of};
use phishloop_server::{ServerConfig, Service};
use phishloop_store::{Action, ActionStatus, EventSubject, Report, ReportStatus, Store};
use uuid::Uuid;

const BINARY: &str = env!("CARGO_BIN_EXE_phishloop");
const LURE_MESSAGE_ID: &str = "<confirm-loop@0utlook-account-verify.example>";
const STAFF: usize = 20;

fn staff() -> Vec<String> {
    (1..=STAFF).map(|number| format!("staff{number:02}")).collect()
}

/// Builds a credential lure written for these tests: a password-expiry notice whose
/// link goes to a lookalike of a mail provider, addressed to all of `users`.
fn lure(users: &[String]) -> Vec<u8> {
    let to: Vec<String> = users.iter().map(|user| address_of(user)).collect();
    format!(
        "From: \"Mail Administrator\" <no-reply@0utlook-account-verify.example>\r\n\
         To: {to}\r\n\
         Subject: Action required: confirm your password to keep your mailbox\r\n\
         Message-ID: {LURE_MESSAGE_ID}\r\n\
         Date: Fri, 4 Dec 2026 08:01:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n\
         <p>Dear employee,</p>\r\n\
         <p>Your mailbox password expires today. Confirm your password within 24 hours or your account will be locked.</p>\r\n\
         <p><a href=\"http://0utlook-account-verify.example/signin/confirm.php?id=loop\">Confirm password</a></p>\r\n",
        to = to.join(", "),
    )
    .into_bytes()
}

/// Builds a forward as an attachment (message/rfc822), as mail clients send it.
fn forward(reporter: &str, tag: &str, original: &[u8]) -> Vec<u8> {
    let mut message = format!(
        "From: {reporter}\r\nTo: {reports}\r\nSubject: Fwd: Action required\r\n\
         Message-ID: <fwd-{tag}@{DOMAIN}>\r\nDate: Fri, 4 Dec 2026 08:30:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"fwd-boundary\"\r\n\r\n\
         --fwd-boundary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThis looks like phishing.\r\n\r\n\
         --fwd-boundary\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"original.eml\"\r\n\r\n",
        reports = address_of("reports"),
    )
    .into_bytes();
    message.extend_from_slice(original);
    message.extend_from_slice(b"\r\n--fwd-boundary--\r\n");
    message
}

/// Builds a delivery-status bounce of an earlier phishloop message.
fn bounce() -> Vec<u8> {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@{DOMAIN}>\r\nTo: {reports}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <bounce-1@{DOMAIN}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nThe message could not be delivered.\r\n\
         --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.{DOMAIN}\r\n\r\n\
         Final-Recipient: rfc822; gone@{DOMAIN}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n",
        reports = address_of("reports"),
    )
    .into_bytes()
}

/// Builds an out-of-office reply to a phishloop message.
fn auto_reply() -> Vec<u8> {
    format!(
        "From: {sender}\r\nTo: {reports}\r\nSubject: Automatic reply: Thank you for your report\r\n\
         Message-ID: <ooo-1@{DOMAIN}>\r\nIn-Reply-To: <phishloop.0190@{DOMAIN}>\r\nAuto-Submitted: auto-replied\r\n\
         Content-Type: text/plain\r\n\r\nI am out of the office until Monday.\r\n",
        sender = address_of("staff05"),
        reports = address_of("reports"),
    )
    .into_bytes()
}

/// Writes the master and reporting-mailbox passwords into files and
/// returns the `[mail]` TOML; with `smtp_port` it includes `[mail.smtp]`.
fn mail_toml(servers: &MailServers, users: &[String], smtp_port: Option<u16>) -> String {
    let reports_password = servers.dir.path().join("reports.password");
    std::fs::write(&reports_password, password_of("reports")).expect("write the reports password");
    let master_password = servers.dir.path().join("master.password");
    std::fs::write(&master_password, MASTER_PASSWORD).expect("write the master password");
    let quoted: Vec<String> = users.iter().map(|user| format!("\"{user}\"")).collect();
    let mut text = format!(
        r#"
[response]
internal_domains = ["{DOMAIN}"]

[response.connectors]
purge_copies = "imap"

[[mail.intake]]
name = "reports"
host = "127.0.0.1"
port = {port}
security = "plain"
username = "reports"
password_file = "{reports}"
poll_interval_secs = 1

[mail.purge]
host = "127.0.0.1"
port = {port}
security = "plain"
master_username = "{MASTER}"
password_file = "{master}"
users = [{users}]
"#,
        port = servers.imap_port,
        reports = reports_password.display(),
        master = master_password.display(),
        users = quoted.join(", "),
    );
    if let Some(smtp_port) = smtp_port {
        text.push_str(&format!(
            "\n[mail.smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"plain\"\n\
             from = \"phishloop@{DOMAIN}\"\nhelo_name = \"phishloop.{DOMAIN}\"\nbackoff_initial_ms = 200\n\
             backoff_max_ms = 1000\ntimeout_secs = 10\n"
        ));
    }
    text
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LoopTables {
    response: phishloop_response::ResponseConfig,
    mail: phishloop_mail::MailConfig,
}

/// Returns every report in the store, whatever its status.
async fn all_reports(store: &Store) -> Vec<Report> {
    let mut reports = Vec::new();
    for status in [
        ReportStatus::Received,
        ReportStatus::Analysed,
        ReportStatus::NeedsReview,
        ReportStatus::Decided,
        ReportStatus::Closed,
    ] {
        reports.extend(store.reports_with_status(status, 10_000).await.expect("reports"));
    }
    reports
}

/// Returns the purge action of a case, if one is planned.
async fn purge_of(store: &Store, case_id: Uuid) -> Option<Action> {
    let actions = store.actions_for_case(case_id).await.expect("actions");
    actions.into_iter().find(|action| action.kind == "purge_copies")
}

/// Polls `probe` every 50 ms until it returns `Some`, for at most `limit`.
async fn wait_until<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Returns the raw messages of `folder` whose header block contains `needle`.
async fn messages_with(servers: &MailServers, user: &str, folder: &str, needle: &str) -> Vec<String> {
    let messages = servers.messages(user, folder).await;
    messages
        .into_iter()
        .map(|raw| String::from_utf8_lossy(&raw).into_owned())
        .filter(|text| text.split("\r\n\r\n").next().unwrap_or_default().contains(needle))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forwarded_phish_purged_and_people_told() {
    // Service logs at RUST_LOG's level, warnings by default, so the timing line stays readable.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter(filter).try_init();
    let recipients = staff();
    let mut users = recipients.clone();
    users.push("reports".to_owned());
    let servers = MailServers::start_with_smtp(&users).await;
    let smtp_port = servers.smtp_port.expect("OpenSMTPD runs");
    let original = lure(&recipients);
    let addresses: Vec<String> = recipients.iter().map(|user| address_of(user)).collect();
    servers.deliver("no-reply@0utlook-account-verify.example", &addresses, &original).await;
    let reporter = address_of(&recipients[0]);
    let reporter_copy = servers.messages(&recipients[0], "INBOX").await.remove(0);
    let reports = [address_of("reports")];
    servers.deliver(&address_of("postmaster"), &reports, &bounce()).await;
    servers.deliver(&address_of("staff05"), &reports, &auto_reply()).await;
    servers.deliver(&reporter, &reports, &forward(&reporter, "loop", &reporter_copy)).await;
    assert_eq!(servers.count("reports", "INBOX").await, 3, "bounce, auto-reply and report arrived");

    let folder = tempfile::tempdir().expect("temporary folder");
    let config = ServerConfig {
        database: Some(format!("sqlite://{}", folder.path().join("loop.db").display())),
        poll_interval_ms: 20,
        ..ServerConfig::default()
    };
    let store = phishloop_server::connect_store(&config).await.expect("store");
    let tables: LoopTables = toml::from_str(&mail_toml(&servers, &recipients, Some(smtp_port))).expect("tables");
    let service = Service::new(
        store.clone(),
        phishloop_analysis::Config::default(),
        phishloop_triage::Config::default(),
        config,
        None,
    )
    .expect("service")
    .with_mail(tables.mail)
    .expect("mail parts")
    .with_loop(tables.response, phishloop_coaching::CoachingConfig::default())
    .expect("loop");

    let started = Instant::now();
    let running = service.start(None).expect("start");
    let report = wait_until("the report over IMAP", Duration::from_secs(30), || async {
        all_reports(&store).await.into_iter().next()
    })
    .await;
    let intake_seen = started.elapsed();
    let decided = wait_until("the decision", Duration::from_secs(60), || async {
        let report = store.get_report(report.id).await.expect("report")?;
        (report.status == ReportStatus::Decided).then_some(report)
    })
    .await;
    let case_id = decided.case_id.expect("the report joined a case");
    let purge = wait_until("the purge", Duration::from_secs(60), || async {
        purge_of(&store, case_id).await.filter(|action| action.finished_at.is_some())
    })
    .await;
    let purged = started.elapsed();
    let purge_finished = purge.finished_at.expect("finished");
    let intake_to_purge = (purge_finished - report.received_at).to_std().unwrap_or_default();
    eprintln!(
        "mail loop timing: report stored to purge of {STAFF} mailboxes complete: {:.2} s \
         (service start to report stored {:.2} s, service start to purge seen {:.2} s)",
        intake_to_purge.as_secs_f64(),
        intake_seen.as_secs_f64(),
        purged.as_secs_f64()
    );
    for user in &recipients {
        let lessons_or_outcome = if *user == recipients[0] { "outcome" } else { "lesson" };
        let kind = format!("X-Phishloop-Kind: {lessons_or_outcome}");
        wait_until(&format!("the {lessons_or_outcome} for {user}"), Duration::from_secs(60), || async {
            (!messages_with(&servers, user, "INBOX", &kind).await.is_empty()).then_some(())
        })
        .await;
    }
    let outcome = messages_with(&servers, &recipients[0], "INBOX", "X-Phishloop-Kind: outcome").await.remove(0);
    let reports_in_store = all_reports(&store).await;
    let events = store.events_for(EventSubject::Case(case_id)).await.expect("events");
    running.stop().await.expect("stop");

    let verdict = decided.decision.as_ref().map(|decision| decision["verdict"].clone());
    assert_eq!(verdict, Some(serde_json::json!("malicious")), "{:?}", decided.decision);
    assert_eq!(decided.reporter, reporter, "the wrapper's sender is the reporter");
    assert_eq!(purge.status, ActionStatus::Succeeded, "{:?}", purge.outcome);
    assert_eq!(purge.connector, "imap");
    assert_eq!(reports_in_store.len(), 1, "bounces and auto-replies never become reports: {reports_in_store:?}");
    for user in &recipients {
        let left = messages_with(&servers, user, "INBOX", LURE_MESSAGE_ID).await;
        assert!(left.is_empty(), "{user} still has the phish in INBOX");
        assert_eq!(servers.count(user, "Phishloop-Quarantine").await, 1, "{user} quarantine");
    }
    assert!(outcome.contains("Auto-Submitted: auto-replied"), "{outcome}");
    assert!(outcome.contains("20 copies removed from mailboxes"), "the outcome states the purge: {outcome}");
    assert!(outcome.contains("20 people protected"), "{outcome}");
    let lessons = messages_with(&servers, &recipients[0], "INBOX", "X-Phishloop-Kind: lesson").await;
    assert!(lessons.is_empty(), "the reporter gets the outcome, not a lesson");
    assert_eq!(servers.count("reports", "Phishloop-Processed").await, 1);
    assert_eq!(servers.count("reports", "Phishloop-Ignored").await, 2, "the bounce and the auto-reply");
    assert_eq!(servers.count("reports", "INBOX").await, 0);
    let sent = events.iter().filter(|event| event.kind == "message_sent").count();
    assert_eq!(sent, STAFF, "one outcome and 19 lessons recorded as sent on the case");
}

/// Starts `phishloop serve` with `config_file`, logging to `log_name`.
fn start_serve(folder: &Path, config_file: &Path, log_name: &str) -> Child {
    let log = std::fs::File::create(folder.join(log_name)).expect("log file");
    Command::new(BINARY)
        .args(["--config"])
        .arg(config_file)
        .args(["serve", "--worker-only", "--workers", "2"])
        .env_remove(phishloop_server::ADMIN_TOKEN_VARIABLE)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start phishloop serve")
}

fn kill(child: &mut Child) {
    child.kill().expect("SIGKILL phishloop serve");
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_service_loses_and_repeats_nothing() {
    const REPORTS: usize = 8;
    let recipients = staff();
    let mut users = recipients.clone();
    users.push("reports".to_owned());
    let servers = MailServers::start(&users).await;
    let original = lure(&recipients);
    let addresses: Vec<String> = recipients.iter().map(|user| address_of(user)).collect();
    servers.deliver("no-reply@0utlook-account-verify.example", &addresses, &original).await;
    for (index, user) in recipients.iter().take(REPORTS).enumerate() {
        let reporter = address_of(user);
        let copy = servers.messages(user, "INBOX").await.remove(0);
        let wrapper = forward(&reporter, &format!("crash-{index}"), &copy);
        servers.deliver(&reporter, &[address_of("reports")], &wrapper).await;
    }
    let folder = tempfile::tempdir().expect("temporary folder");
    let database = format!("sqlite://{}", folder.path().join("crash.db").display());
    let config_file = folder.path().join("phishloop.toml");
    let server_table =
        format!("[server]\ndatabase = \"{database}\"\nlease_seconds = 2\npoll_interval_ms = 20\nretry_base_ms = 50\n");
    std::fs::write(&config_file, server_table + &mail_toml(&servers, &recipients, None)).expect("config file");
    let store = Store::connect(&database).await.expect("store");

    // First kill: as soon as intake has stored a report, before it finished the mailbox.
    let mut first = start_serve(folder.path(), &config_file, "first.log");
    let stored = wait_until("a report from the first process", Duration::from_secs(30), || async {
        let reports = all_reports(&store).await;
        (!reports.is_empty()).then_some(reports.len())
    })
    .await;
    kill(&mut first);
    let processed_after_first = servers.count("reports", "Phishloop-Processed").await;

    // Second kill: while the purge runs, if the second process reaches it before the poll finds it done.
    let mut second = start_serve(folder.path(), &config_file, "second.log");
    let case_id = wait_until("a case", Duration::from_secs(60), || async {
        all_reports(&store).await.into_iter().find_map(|report| report.case_id)
    })
    .await;
    let purge_status = wait_until("the purge to start", Duration::from_secs(60), || async {
        let purge = purge_of(&store, case_id).await?;
        (purge.status != ActionStatus::Planned).then_some(purge.status)
    })
    .await;
    kill(&mut second);

    let mut third = start_serve(folder.path(), &config_file, "third.log");
    let finished = wait_until("every report processed and decided", Duration::from_secs(90), || async {
        let reports = all_reports(&store).await;
        let decided = reports.iter().filter(|report| report.status == ReportStatus::Decided).count();
        let purge = purge_of(&store, case_id).await?;
        let done = decided >= REPORTS
            && purge.status == ActionStatus::Succeeded
            && servers.count("reports", "INBOX").await == 0;
        done.then_some(reports)
    })
    .await;
    kill(&mut third);

    eprintln!(
        "crash test: {stored} report(s) stored and {processed_after_first} moved before the first kill; \
         purge {purge_status} at the second kill"
    );
    let purge_lines: Vec<String> = ["first.log", "second.log", "third.log"]
        .iter()
        .map(|name| std::fs::read_to_string(folder.path().join(name)).unwrap_or_default())
        .flat_map(|log| log.lines().filter(|line| line.contains("purge")).map(str::to_owned).collect::<Vec<_>>())
        .collect();
    assert_eq!(finished.len(), REPORTS, "one report per forwarded message, none lost or stored twice");
    assert!(finished.iter().all(|report| report.case_id == Some(case_id)), "every report joined the one case");
    assert_eq!(servers.count("reports", "Phishloop-Processed").await, REPORTS);
    for user in &recipients {
        let left = messages_with(&servers, user, "INBOX", LURE_MESSAGE_ID).await;
        assert!(left.is_empty(), "{user} still has the phish in INBOX");
        let quarantined = servers.count(user, "Phishloop-Quarantine").await;
        assert_eq!(quarantined, 1, "{user} quarantine; purge logs:\n{}", purge_lines.join("\n"));
    }
    let received = finished.iter().map(|report| report.id);
    let mut received_events = 0;
    for id in received {
        let events = store.events_for(EventSubject::Report(id)).await.expect("events");
        received_events += events.iter().filter(|event| event.kind == "received").count();
    }
    assert!(received_events <= REPORTS, "no report was received twice: {received_events} events");
}
