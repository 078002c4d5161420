//! Intake with a source key, as the reporting-mailbox intake submits: a
//! repeated key after a crash returns the stored report and queues nothing
//! twice.

use std::sync::Arc;

use phishloop_server::{Pipeline, ServerConfig, Submission};
use phishloop_store::{EventSubject, JobStatus, ReportSource};

fn pipeline() -> Arc<Pipeline> {
    let analyzer =
        phishloop_analysis::Analyzer::new(phishloop_analysis::Config::default(), phishloop_analysis::Mode::Auto)
            .expect("analyzer");
    let triage = phishloop_triage::Triage::new(phishloop_triage::Config::default()).expect("triage");
    Arc::new(Pipeline::new(analyzer, triage))
}

/// Builds a forward as an attachment from ann, the reporter.
fn submission(key: &str) -> Submission {
    let wrapper = "From: Ann <ann@corp-example.com>\r\nTo: reports@corp-example.com\r\nSubject: Fwd: invoice\r\n\
                   Message-ID: <fwd-1@corp-example.com>\r\nMIME-Version: 1.0\r\n\
                   Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
                   --b\r\nContent-Type: text/plain\r\n\r\nPlease check this.\r\n\
                   --b\r\nContent-Type: message/rfc822\r\n\r\n\
                   From: Billing <billing@invoices-example.net>\r\nTo: ann@corp-example.com\r\n\
                   Subject: Invoice overdue\r\nMessage-ID: <inv-1@invoices-example.net>\r\n\
                   Content-Type: text/plain\r\n\r\nPay the attached invoice today.\r\n--b--\r\n";
    Submission {
        message: wrapper.as_bytes().to_vec(),
        reporter: None,
        comment: None,
        source: ReportSource::Imap,
        source_key: Some(key.to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_source_key_stores_one_report() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let config = ServerConfig {
        database: Some(format!("sqlite://{}", folder.path().join("intake.db").display())),
        ..ServerConfig::default()
    };
    let store = phishloop_server::connect_store(&config).await.expect("store");
    let pipeline = pipeline();
    let key = "imap:reports:INBOX:1700000000:42";

    let first = phishloop_server::submit(&store, &pipeline, submission(key)).await.expect("first submit");
    let again = phishloop_server::submit(&store, &pipeline, submission(key)).await.expect("second submit");
    let other = phishloop_server::submit(&store, &pipeline, submission("imap:reports:INBOX:1700000000:43")).await;
    let events = store.events_for(EventSubject::Report(first.report.id)).await.expect("events");
    let queued = store.jobs_with_status(JobStatus::Queued, 10).await.expect("jobs");

    assert!(first.created);
    assert!(!again.created, "the same key returns the stored report");
    assert_eq!(again.report.id, first.report.id);
    assert_eq!(again.job_id, first.job_id, "no second analysis job");
    assert!(other.expect("another key").created);
    assert_eq!(first.report.reporter, "ann@corp-example.com", "the wrapper's sender is the reporter");
    assert_eq!(first.report.source, ReportSource::Imap);
    assert_eq!(events.iter().filter(|event| event.kind == "received").count(), 1, "{events:?}");
    assert_eq!(queued.len(), 2, "one job per report: {queued:?}");
}
