//! SMTP delivery of the outbox by the service, against a scripted SMTP
//! server on 127.0.0.1: a sent message, a transient rejection retried until
//! `max_attempts`, and a permanent rejection that fails at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use phishloop_server::{ServerConfig, Service};
use phishloop_store::{
    EventSubject, NewOutboxMessage, NewReport, OutboxKind, OutboxMessage, OutboxStatus, ReportSource, Store,
};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use uuid::Uuid;

/// Starts an SMTP server that replies `rcpt_reply` to every RCPT TO and
/// accepts everything else. Returns its port and the count of RCPT commands.
async fn scripted_smtp(rcpt_reply: &'static str) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("address").port();
    let rcpt_count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&rcpt_count);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 scripted ESMTP\r\n").await;
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            let _ = write.write_all(b"250 2.0.0 queued as 1\r\n").await;
                        }
                        continue;
                    }
                    let command = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let reply = match command.as_str() {
                        "EHLO" | "HELO" => "250 scripted\r\n".to_owned(),
                        "RCPT" => {
                            counter.fetch_add(1, Ordering::SeqCst);
                            format!("{rcpt_reply}\r\n")
                        }
                        "DATA" => {
                            in_data = true;
                            "354 end with a dot\r\n".to_owned()
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => "250 ok\r\n".to_owned(),
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, rcpt_count)
}

/// Builds a service on a fresh SQLite database that delivers through `port`
/// and runs no analysis workers, and queues an acknowledgement to deliver.
async fn service_with_message(port: u16, max_attempts: u32) -> (Service, Store, Uuid, tempfile::TempDir) {
    let folder = tempfile::tempdir().expect("temporary folder");
    let config = ServerConfig {
        database: Some(format!("sqlite://{}", folder.path().join("delivery.db").display())),
        workers: 0,
        ..ServerConfig::default()
    };
    let store = phishloop_server::connect_store(&config).await.expect("store");

    let raw_sha256 = store.put_raw(b"Subject: reported\r\n\r\nbody").await.expect("put_raw");
    let report = store
        .create_report(&NewReport {
            reporter: "ann@corp-example.com".to_owned(),
            comment: None,
            source: ReportSource::Imap,
            raw_sha256,
            source_key: None,
        })
        .await
        .expect("report");
    let message = NewOutboxMessage {
        kind: OutboxKind::Acknowledgement,
        recipient: "ann@corp-example.com".to_owned(),
        subject: "Thank you for your report".to_owned(),
        text: "We are looking at it.".to_owned(),
        html: "<p>We are looking at it.</p>".to_owned(),
        case_id: None,
        report_id: Some(report.id),
    };
    let message_id = store.queue_message(&message).await.expect("queue").message.id;

    let mail: phishloop_mail::MailConfig = serde_json::from_value(json!({
        "smtp": {
            "host": "127.0.0.1",
            "port": port,
            "security": "plain",
            "from": "phishloop@corp-example.com",
            "helo_name": "phishloop.corp-example.com",
            "max_attempts": max_attempts,
            "backoff_initial_ms": 50,
            "backoff_max_ms": 100,
            "timeout_secs": 5,
        }
    }))
    .expect("mail configuration");

    let service = Service::new(
        store.clone(),
        phishloop_analysis::Config::default(),
        phishloop_triage::Config::default(),
        config,
        None,
    )
    .expect("service")
    .with_mail(mail)
    .expect("mail parts");
    (service, store, message_id, folder)
}

/// Waits until the message leaves `queued`, for at most 20 seconds.
async fn wait_settled(store: &Store, message_id: Uuid) -> OutboxMessage {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let message = store.get_message(message_id).await.expect("get").expect("stored");
        if message.status != OutboxStatus::Queued {
            return message;
        }
        assert!(Instant::now() < deadline, "message still queued after 20 s: {message:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn event_kinds(store: &Store, message: &OutboxMessage) -> Vec<String> {
    let report_id = message.report_id.expect("report id");
    let events = store.events_for(EventSubject::Report(report_id)).await.expect("events");
    events.into_iter().map(|event| event.kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_message_marked_sent() {
    let (port, rcpt_count) = scripted_smtp("250 2.1.5 ok").await;
    let (service, store, message_id, _folder) = service_with_message(port, 3).await;

    let running = service.start(None).expect("start");
    let message = wait_settled(&store, message_id).await;
    running.stop().await.expect("stop");

    assert_eq!(message.status, OutboxStatus::Sent, "{message:?}");
    assert_eq!(message.attempts, 1);
    assert_eq!(message.smtp_message_id, Some(format!("<phishloop.{message_id}@corp-example.com>")));
    assert_eq!(rcpt_count.load(Ordering::SeqCst), 1);
    assert!(event_kinds(&store, &message).await.contains(&"message_sent".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_rejection_retried_until_max_attempts() {
    let (port, rcpt_count) = scripted_smtp("451 4.3.0 try again later").await;
    let (service, store, message_id, _folder) = service_with_message(port, 3).await;

    let running = service.start(None).expect("start");
    let message = wait_settled(&store, message_id).await;
    running.stop().await.expect("stop");

    assert_eq!(message.status, OutboxStatus::Failed, "{message:?}");
    assert_eq!(message.attempts, 3, "three attempts, the first included");
    assert_eq!(rcpt_count.load(Ordering::SeqCst), 3);
    assert!(message.last_error.as_deref().is_some_and(|error| error.contains("451")), "{message:?}");
    let kinds = event_kinds(&store, &message).await;
    assert_eq!(kinds.iter().filter(|kind| *kind == "message_failed").count(), 1, "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_rejection_fails_at_once() {
    let (port, rcpt_count) = scripted_smtp("550 5.1.1 no such user").await;
    let (service, store, message_id, _folder) = service_with_message(port, 5).await;

    let running = service.start(None).expect("start");
    let message = wait_settled(&store, message_id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.stop().await.expect("stop");

    assert_eq!(message.status, OutboxStatus::Failed, "{message:?}");
    assert_eq!(message.attempts, 1);
    assert_eq!(rcpt_count.load(Ordering::SeqCst), 1, "a permanent rejection is not retried");
    assert!(message.last_error.as_deref().is_some_and(|error| error.contains("550")), "{message:?}");
    assert!(event_kinds(&store, &message).await.contains(&"message_failed".to_owned()));
}
