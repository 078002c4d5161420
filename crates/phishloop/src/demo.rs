//! `phishloop demo`: runs the whole loop on a folder of messages and prints
//! what happened to each report.
//!
//! The service runs in this process on 127.0.0.1 with a port the system
//! chooses, on a temporary SQLite database unless `--database` names one.
//! Every message goes through the HTTP API as `phishloop report` sends it,
//! so the demo exercises the same path as production.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use phishloop_model::Verdict;
use phishloop_response::{ActionKind, Mode, Playbook, ResponseConfig, Selector, Step};
use phishloop_server::{ServerConfig, Service};
use serde_json::Value;

use crate::config::Settings;
use crate::exit;
use crate::files::{self, Input};

/// How long the demo waits for one report's job to finish.
const REPORT_TIMEOUT: Duration = Duration::from_secs(120);

/// Options of `phishloop demo`.
#[derive(Debug)]
pub struct DemoOptions {
    pub dir: PathBuf,
    /// Database URL; `None` uses a temporary SQLite file.
    pub database: Option<String>,
    /// The reporter address sent with every message; `None` leaves it to
    /// the report wrapper.
    pub reporter: Option<String>,
}

/// Runs the demo and returns the exit code: 1 when a file could not be
/// submitted or did not finish.
pub fn run(settings: Settings, options: DemoOptions) -> Result<u8> {
    if !options.dir.is_dir() {
        bail!("{} is not a folder: pass a folder of .eml or .msg files", options.dir.display());
    }
    let paths = message_files(&options.dir)?;
    if paths.is_empty() {
        bail!("{} contains no message files", options.dir.display());
    }
    crate::serve::runtime()?.block_on(run_async(settings, options, paths))
}

fn message_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for input in files::expand(&[dir.to_path_buf()]) {
        match input {
            Input::File(path) => paths.push(path),
            Input::Error { path, reason } => bail!("cannot list {}: {reason}", path.display()),
        }
    }
    Ok(paths)
}

async fn run_async(settings: Settings, options: DemoOptions, paths: Vec<PathBuf>) -> Result<u8> {
    let folder = tempfile::tempdir().context("cannot create a temporary folder for the demo database")?;
    let server = ServerConfig {
        database: Some(
            options.database.clone().unwrap_or_else(|| format!("sqlite://{}", folder.path().join("demo.db").display())),
        ),
        poll_interval_ms: 50,
        ..settings.server.clone()
    };
    let token = phishloop_server::generate_token()?;
    let store = phishloop_server::connect_store(&server).await.context("cannot open the demo database")?;
    let response = demo_response(settings.response);
    let service = Service::new(store.clone(), settings.analysis, settings.triage, server, Some(token.clone()))?
        .with_loop(response, settings.coaching)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("cannot listen on 127.0.0.1")?;
    let running = service.start(Some(listener))?;
    let address = running.address().context("the demo service has no HTTP address")?;
    let client = Client { http: reqwest::Client::new(), base: format!("http://{address}"), token };
    println!("phishloop demo: service on {}, {} message files", client.base, paths.len());

    let mut failures = 0;
    for path in &paths {
        if let Err(error) = show_report(&client, path, options.reporter.as_deref()).await {
            eprintln!("{}: {error:#}", path.display());
            failures += 1;
        }
    }
    let metrics = client.get("/api/v1/metrics").await?;
    print_metrics(&metrics);

    running.stop().await?;
    store.close().await;
    drop(folder);
    Ok(if failures == 0 { exit::OK } else { exit::INPUT_FAILED })
}

/// Adds a playbook when the configuration has none of its own. It sends the
/// URL and domain blocks of malicious reports to the stored block list,
/// because the built-in playbooks only log and the demo should show entries
/// in the feeds.
fn demo_response(mut response: ResponseConfig) -> ResponseConfig {
    if !response.playbooks.is_empty() {
        return response;
    }
    let block = |action, target| Step { action, target, mode: Mode::Auto, connector: "blocklist".to_owned() };
    response.playbooks.push(Playbook {
        name: "demo-block-list".to_owned(),
        verdicts: vec![Verdict::Malicious],
        categories: Vec::new(),
        min_confidence: 0.8,
        min_reporters: 0,
        needs_review: Some(false),
        steps: vec![block(ActionKind::BlockUrl, Selector::Urls), block(ActionKind::BlockDomain, Selector::UrlDomains)],
    });
    response
}

/// An HTTP client of the demo service with its admin token.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn get(&self, path: &str) -> Result<Value> {
        let response = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await?;
        let status = response.status();
        let body: Value = response.json().await.with_context(|| format!("GET {path}: the body is not JSON"))?;
        if !status.is_success() {
            bail!("GET {path} failed with {status}: {body}");
        }
        Ok(body)
    }

    async fn submit(&self, message: Vec<u8>, reporter: Option<&str>) -> Result<String> {
        let mut request = self
            .http
            .post(format!("{}/api/v1/reports", self.base))
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "message/rfc822");
        if let Some(reporter) = reporter {
            request = request.query(&[("reporter", reporter)]);
        }
        let response = request.body(message).send().await?;
        let status = response.status();
        let body: Value = response.json().await.context("the submission response is not JSON")?;
        if status != reqwest::StatusCode::ACCEPTED {
            bail!("the service rejected the message with {status}: {}", body["error"]);
        }
        body["report_id"].as_str().map(str::to_owned).context("the submission response has no report_id")
    }

    /// Polls a report until its job is done or dead.
    async fn wait_finished(&self, report_id: &str) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + REPORT_TIMEOUT;
        loop {
            let report = self.get(&format!("/api/v1/reports/{report_id}")).await?;
            match report["job"]["status"].as_str() {
                Some("done") => return Ok(report),
                Some("dead") => bail!("analysis failed: {}", report["job"]["last_error"]),
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("report {report_id} did not finish within {} seconds", REPORT_TIMEOUT.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn show_report(client: &Client, path: &Path, reporter: Option<&str>) -> Result<()> {
    let message = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let report_id = client.submit(message, reporter).await?;
    let report = client.wait_finished(&report_id).await?;
    let case_id = report["case_id"].as_str().context("the report has no case")?;
    let actions = client.get(&format!("/api/v1/cases/{case_id}/actions")).await?;
    let messages = client.get(&format!("/api/v1/outbox?case={case_id}")).await?;

    let decision = &report["decision"];
    println!();
    println!("{}", path.display());
    println!(
        "  verdict {}  category {}  confidence {:.2}{}",
        text(&decision["verdict"]),
        text(&decision["category"]),
        decision["confidence"].as_f64().unwrap_or(0.0),
        if decision["needs_review"] == true { "  (needs review)" } else { "" }
    );
    println!("  actions:");
    for action in actions.as_array().into_iter().flatten() {
        let dry_run = if action["outcome"]["dry_run"] == true { " (dry run)" } else { "" };
        println!(
            "    {:<18} {} {} via {}{dry_run}",
            text(&action["status"]),
            text(&action["kind"]),
            target_text(&action["target"]),
            text(&action["connector"])
        );
    }
    println!("  messages:");
    for message in messages.as_array().into_iter().flatten() {
        println!(
            "    {:<16} to {}: {}",
            text(&message["kind"]),
            text(&message["recipient"]),
            text(&message["subject"])
        );
    }
    Ok(())
}

fn print_metrics(metrics: &Value) {
    println!();
    println!("loop metrics:");
    for key in [
        "reports_received",
        "decisions_by_verdict",
        "actions_by_status",
        "reports_leading_to_blocking",
        "reports_leading_to_containment",
        "reports_leading_to_training",
        "reporters_told",
        "time_to_decision_seconds",
        "time_to_containment_seconds",
    ] {
        println!("  {key}: {}", metrics[key]);
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// Returns a target in one short phrase: its URL, domain, address or name.
/// URLs, domains and addresses are defanged (`hxxp`, `[.]`), so a terminal
/// does not make them clickable links.
fn target_text(target: &Value) -> String {
    if let Some(url) = target["url"].as_str() {
        return phishloop_coaching::defang_url(url);
    }
    if let Some(domain) = target["domain"].as_str() {
        return phishloop_coaching::defang_domain(domain);
    }
    if let Some(address) = target["address"].as_str() {
        return phishloop_coaching::defang_address(address);
    }
    for key in ["name", "redacted", "subject", "case_id"] {
        if let Some(value) = target[key].as_str() {
            return value.to_owned();
        }
    }
    target.to_string()
}
