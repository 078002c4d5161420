//! From a forwarded report to a purge, through real servers. A phishing
//! message is sent over SMTP to 20 mailboxes, and one recipient forwards it
//! as an attachment to the reporting mailbox. Intake hands the report to a
//! sink that analyses it as the service does. The purge connector then
//! removes every copy, using the target built from the forwarded original.

mod harness;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use harness::{MASTER, MASTER_PASSWORD, MailServers, address_of};
use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use phishloop_analysis::{Analyzer, Config, Mode as AnalysisMode};
use phishloop_mail::{ImapPurgeConnector, Intake, MailConfig, PurgeReport, ReportSink, SinkError, Submitted};
use phishloop_model::{InputFormat, Source};
use phishloop_response::{ActionKind, Connector, Mode, OutcomeStatus, PlannedAction, Target, idempotency_key};

const SENDER: &str = "it-support@helpdesk-reset.example";

/// Analyses each report as a reporting mailbox does (every message is a
/// report) and keeps the purge target of its original.
struct AnalysingSink {
    analyzer: Analyzer,
    targets: Mutex<Vec<Target>>,
}

#[async_trait]
impl ReportSink for AnalysingSink {
    async fn submit(&self, raw: Vec<u8>, source_key: String) -> Result<Submitted, SinkError> {
        let source =
            Source { path: None, index: 0, size: raw.len() as u64, sha256: String::new(), format: InputFormat::Eml };
        let record = self.analyzer.analyze_message(source, &raw).into_iter().next().ok_or("no analysis record")?;
        let message = record.message.ok_or("no original found in the report")?;
        let target = Target::Message {
            message_id: message.headers.message_id.clone(),
            content_fingerprint: message.content_fingerprint.clone(),
            subject: message.headers.subject.clone(),
            sender: message
                .headers
                .from
                .first()
                .and_then(|mailbox| mailbox.address.as_deref())
                .map(|address| address.trim().to_lowercase()),
        };
        self.targets.lock().expect("sink lock").push(target);
        Ok(Submitted { report_id: source_key, created: true })
    }
}

fn phish(recipient: &str) -> Vec<u8> {
    format!(
        "From: IT Support <{SENDER}>\r\nTo: {recipient}\r\nSubject: Your password expires today\r\nMessage-ID: <{recipient}.reset@helpdesk-reset.example>\r\nDate: Fri, 04 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Your password expires today.</p><p><a href=\"https://helpdesk-reset.example/keep\">Keep my password</a></p>\r\n"
    )
    .into_bytes()
}

/// Builds a forward as an attachment, as mail clients do.
fn forward(reporter: &str, original: &[u8]) -> Vec<u8> {
    let mut message = format!(
        "From: {reporter}\r\nTo: {reports}\r\nSubject: Fwd: Your password expires today\r\nMessage-ID: <fwd.1@{domain}>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"fwd-boundary\"\r\n\r\n--fwd-boundary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThis looks like phishing.\r\n\r\n--fwd-boundary\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"original.eml\"\r\n\r\n",
        reports = address_of("reports"),
        domain = harness::DOMAIN,
    )
    .into_bytes();
    message.extend_from_slice(original);
    message.extend_from_slice(b"\r\n--fwd-boundary--\r\n");
    message
}

async fn send_smtp(port: u16, from: &str, recipients: &[String], raw: &[u8]) {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1").port(port).build();
    let recipients = recipients.iter().map(|address| address.parse().expect("test address")).collect();
    let envelope = Envelope::new(Some(from.parse().expect("sender address")), recipients).expect("envelope");
    transport.send_raw(&envelope, raw).await.expect("OpenSMTPD accepts the message");
}

fn configs(servers: &MailServers, users: &[String]) -> MailConfig {
    let password_file = servers.dir.path().join("reports.password");
    std::fs::write(&password_file, harness::password_of("reports")).expect("write the password file");
    let master_file = servers.dir.path().join("master.password");
    std::fs::write(&master_file, MASTER_PASSWORD).expect("write the master password file");
    let quoted: Vec<String> = users.iter().map(|user| format!("\"{user}\"")).collect();
    let text = format!(
        r#"
[[intake]]
name = "reports"
host = "127.0.0.1"
port = {port}
security = "plain"
username = "reports"
password_file = "{password}"
idle = false

[purge]
host = "127.0.0.1"
port = {port}
security = "plain"
master_username = "{MASTER}"
password_file = "{master}"
users = [{users}]
"#,
        port = servers.imap_port,
        password = password_file.display(),
        master = master_file.display(),
        users = quoted.join(", "),
    );
    toml::from_str(&text).expect("valid configuration")
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_report_purges_20_copies() {
    let recipients: Vec<String> = (1..=20).map(|number| format!("staff{number:02}")).collect();
    let mut users = recipients.clone();
    users.push("reports".to_string());
    let servers = MailServers::start_with_smtp(&users).await;
    let smtp_port = servers.smtp_port.expect("smtp runs");
    for user in &recipients {
        send_smtp(smtp_port, SENDER, &[address_of(user)], &phish(&address_of(user))).await;
    }
    for user in &recipients {
        let count = servers.wait_for_count(user, "INBOX", 1, Duration::from_secs(30)).await;
        assert_eq!(count, 1, "{user} got the phish; logs:\n{}", servers.logs());
    }
    let reporter_copy = servers.messages(&recipients[0], "INBOX").await.remove(0);
    let reporter = address_of(&recipients[0]);
    send_smtp(smtp_port, &reporter, &[address_of("reports")], &forward(&reporter, &reporter_copy)).await;
    let arrived = servers.wait_for_count("reports", "INBOX", 1, Duration::from_secs(30)).await;
    assert_eq!(arrived, 1, "the report reached the reporting mailbox");
    let config = configs(&servers, &recipients);
    let analyzer = Analyzer::new(Config::default(), AnalysisMode::Report).expect("default analyser");
    let sink = AnalysingSink { analyzer, targets: Mutex::new(Vec::new()) };
    let intake = Intake::new(&config).expect("intake builds");
    let connector = ImapPurgeConnector::new(&config).expect("connector builds");

    let started = Instant::now();
    let pass = intake.process_once(&sink).await.remove(0).expect("intake pass");
    let target = sink.targets.lock().expect("sink lock").pop().expect("a target from the report");
    let action = PlannedAction {
        case_id: "case-e2e".to_string(),
        kind: ActionKind::PurgeCopies,
        idempotency_key: idempotency_key("case-e2e", ActionKind::PurgeCopies, &target, "imap"),
        target,
        mode: Mode::Auto,
        connector: "imap".to_string(),
        playbook: "malicious".to_string(),
        reversible: true,
        note: None,
    };
    let outcome = connector.execute(&action).await;
    let elapsed = started.elapsed();

    println!("report to purge of 20 mailboxes: {:.2} s (intake pass, analysis and purge)", elapsed.as_secs_f64());
    assert_eq!(pass.reported, 1, "{pass:?}");
    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    let report: PurgeReport = serde_json::from_value(outcome.data.clone().expect("data")).expect("purge report");
    assert_eq!(report.moved(), 20, "{}", outcome.details);
    for user in &recipients {
        assert_eq!(servers.count(user, "INBOX").await, 0, "{user} inbox");
        assert_eq!(servers.count(user, "Phishloop-Quarantine").await, 1, "{user} quarantine");
    }
    assert_eq!(servers.count("reports", "Phishloop-Processed").await, 1);
}
