//! Outbox delivery through a real OpenSMTPD that hands mail to Dovecot over
//! LMTP, read back over IMAP.

mod harness;

use std::time::Duration;

use harness::{MailServers, address_of};
use phishloop_mail::{Disposition, MailConfig, Mailer, OutgoingMessage, SendError, classify};

fn mailer(port: u16, max_attempts: u32) -> Mailer {
    mailer_with(port, max_attempts, "security = \"plain\"")
}

fn mailer_with(port: u16, max_attempts: u32, security: &str) -> Mailer {
    let text = format!(
        r#"
[smtp]
host = "127.0.0.1"
port = {port}
{security}
from = "phishloop@phishloop.example"
from_name = "Phishloop"
helo_name = "phishloop.example"
max_attempts = {max_attempts}
backoff_initial_ms = 10
backoff_max_ms = 40
timeout_secs = 10
"#
    );
    let config: MailConfig = toml::from_str(&text).expect("valid smtp configuration");
    Mailer::new(&config).expect("mailer builds")
}

fn lesson(recipient: &str) -> OutgoingMessage {
    OutgoingMessage {
        recipient: recipient.to_string(),
        subject: "What the invoice lure looked like".to_string(),
        text: "The message asked you to pay an overdue invoice.".to_string(),
        html: Some("<p>The message asked you to pay an <b>overdue invoice</b>.</p>".to_string()),
        kind: "lesson".to_string(),
        outbox_id: "outbox-42".to_string(),
    }
}

fn header_block(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.split("\r\n\r\n").next().unwrap_or("").replace("\r\n ", " ").to_ascii_lowercase()
}

#[tokio::test]
async fn delivered_lesson_has_loop_headers_and_both_parts() {
    let servers = MailServers::start_with_smtp(&["bob".to_string()]).await;
    let mailer = mailer(servers.smtp_port.expect("smtp runs"), 3);

    let sent = mailer.deliver_with_retry(&lesson(&address_of("bob"))).await.expect("delivered");
    let arrived = servers.wait_for_count("bob", "INBOX", 1, Duration::from_secs(20)).await;

    assert_eq!(arrived, 1, "logs:\n{}", servers.logs());
    assert_eq!(sent.message_id, "<phishloop.outbox-42@phishloop.example>");
    let raw = servers.messages("bob", "INBOX").await.remove(0);
    let headers = header_block(&raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    for expected in [
        "auto-submitted: auto-replied",
        "x-auto-response-suppress: all",
        "precedence: bulk",
        "x-phishloop-kind: lesson",
        "message-id: <phishloop.outbox-42@phishloop.example>",
        "from: phishloop <phishloop@phishloop.example>",
        "content-type: multipart/alternative",
    ] {
        assert!(headers.contains(expected), "missing {expected:?} in:\n{headers}");
    }
    assert!(text.contains("The message asked you to pay an overdue invoice."), "{text}");
    assert!(text.contains("<b>overdue invoice</b>"), "{text}");
    let own = vec!["phishloop.example".to_string()];
    assert_eq!(classify(&raw, &own), Disposition::OwnMessage, "intake never reports it");
}

#[tokio::test]
async fn rejected_recipient_is_permanent_and_not_retried() {
    let servers = MailServers::start_with_smtp(&["bob".to_string()]).await;
    let mailer = mailer(servers.smtp_port.expect("smtp runs"), 4);

    // No rule of the test server accepts this domain, so RCPT gets a 550.
    let failure = mailer.deliver_with_retry(&lesson("someone@elsewhere.test")).await.expect_err("rejected");

    assert!(failure.last.is_permanent(), "{failure}");
    assert_eq!(failure.attempts, 1, "{failure}");
}

#[tokio::test]
async fn refused_connection_is_transient_and_retried() {
    // Bind and drop a listener, so the port is free and refuses connections.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
    let mailer = mailer(port, 3);

    let failure = mailer.deliver_with_retry(&lesson("bob@example.test")).await.expect_err("nothing listens");

    assert!(matches!(failure.last, SendError::Transient(_)), "{failure}");
    assert_eq!(failure.attempts, 3, "{failure}");
}

#[tokio::test]
async fn invalid_recipient_is_rejected_before_sending() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
    let mailer = mailer(port, 3);
    for recipient in ["", "not an address", "bob@example.test\r\nBcc: x@y.test"] {
        let error = mailer.send(&lesson(recipient)).await.expect_err("invalid recipient");
        assert!(matches!(error, SendError::InvalidMessage(_)), "{recipient:?}: {error}");
    }
}

#[tokio::test]
async fn starttls_and_auth_with_private_ca_deliver() {
    let servers = MailServers::start_with_smtp(&["carol".to_string()]).await;
    let port = servers.submission_port.expect("submission runs");
    let password_file = servers.dir.path().join("smtp.password");
    std::fs::write(&password_file, harness::password_of("carol")).expect("write the password file");
    let security = format!(
        "security = \"starttls\"\nca_file = \"{}\"\nusername = \"carol\"\npassword_file = \"{}\"",
        servers.ca_file.display(),
        password_file.display()
    );
    let mailer = mailer_with(port, 1, &security);

    let sent = mailer.send(&lesson(&address_of("carol"))).await;
    let arrived = servers.wait_for_count("carol", "INBOX", 1, Duration::from_secs(20)).await;

    assert!(sent.is_ok(), "{sent:?}\nlogs:\n{}", servers.logs());
    assert_eq!(arrived, 1, "logs:\n{}", servers.logs());
}

#[tokio::test]
async fn starttls_with_untrusted_certificate_fails() {
    let servers = MailServers::start_with_smtp(&["carol".to_string()]).await;
    let port = servers.submission_port.expect("submission runs");
    // A CA file with an unrelated certificate: the server's chain does not verify.
    let other_ca = servers.dir.path().join("cert.pem");
    let security = format!("security = \"starttls\"\nca_file = \"{}\"", other_ca.display());
    let mailer = mailer_with(port, 1, &security);

    let error = mailer.send(&lesson(&address_of("carol"))).await.expect_err("untrusted certificate");

    assert!(matches!(error, SendError::Transient(_)), "{error}");
    assert_eq!(servers.count("carol", "INBOX").await, 0);
}
