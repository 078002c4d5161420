//! `phishloop load`: offers reports to a running service at a fixed rate and
//! measures how fast they are accepted and decided.
//!
//! The load is open: a report is sent on every tick whether or not the
//! earlier ones got a response, so a slow service shows as growing latency
//! instead of a lower offered rate. Report-to-decision latency is read from
//! the service's own timestamps (`received_at` and `decided_at`), so polling
//! for the result adds nothing to it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use crate::exit;
use crate::files::{self, Input};

/// How long to wait for the last reports to be decided once sending stopped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(600);

/// Reports polled at the same time while waiting for decisions.
const POLL_CONCURRENCY: usize = 16;

/// Submissions in flight at most; beyond it the service is too slow for the
/// offered rate, and the run stops sending.
const MAX_IN_FLIGHT: usize = 2_000;

/// Options of `phishloop load`.
#[derive(Debug)]
pub struct LoadOptions {
    pub dir: PathBuf,
    pub server: String,
    pub token: String,
    /// Reports offered per second.
    pub rate: f64,
    /// Seconds of sending.
    pub duration: f64,
    pub reporter: Option<String>,
    pub json: bool,
    /// After the decisions, check that each report's case has an action and
    /// that its reporter was sent an outcome message.
    pub verify: bool,
}

/// The figures of one run.
#[derive(Debug, Serialize)]
struct Figures {
    offered_rate: f64,
    seconds_sending: f64,
    sent: usize,
    accepted: usize,
    rejected: usize,
    /// Distinct message files; fewer than `sent` means files were sent again.
    distinct_messages: usize,
    accepted_per_second: f64,
    submit_ms: Percentiles,
    decided: usize,
    /// Reports whose job died or that were not decided within the drain timeout.
    undecided: usize,
    /// Decided reports per second, from the first receipt to the last decision.
    decided_per_second: f64,
    report_to_decision_ms: Percentiles,
    /// With `--verify`: the loop checks of every decided report.
    #[serde(skip_serializing_if = "Option::is_none")]
    loop_check: Option<LoopCheck>,
}

/// Result of `--verify`: decided reports whose job finished with at least
/// one action on their case and an outcome message for their reporter.
#[derive(Debug, Default, Serialize)]
struct LoopCheck {
    checked: usize,
    with_action: usize,
    with_outcome_message: usize,
    /// Up to 20 reports that miss one of them, with the reason.
    failures: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
struct Percentiles {
    count: usize,
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values`, in the unit they are given in.
    fn of(mut values: Vec<f64>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_by(f64::total_cmp);
        let rank = |share: f64| {
            let index = (share * values.len() as f64).ceil() as usize;
            values[index.clamp(1, values.len()) - 1]
        };
        Self { count: values.len(), p50: rank(0.50), p95: rank(0.95), p99: rank(0.99), max: values[values.len() - 1] }
    }
}

/// Runs the load and prints the figures. Exits with 1 when a report was
/// rejected or not decided.
pub fn run(options: LoadOptions) -> Result<u8> {
    if !(options.rate > 0.0 && options.rate <= 10_000.0) {
        bail!("--rate {} is out of range: give reports per second between 0 and 10000", options.rate);
    }
    if !(options.duration > 0.0 && options.duration <= 3_600.0) {
        bail!("--duration {} is out of range: give seconds between 0 and 3600", options.duration);
    }
    let total = (options.rate * options.duration).round().max(1.0) as usize;
    let messages = load_messages(&options.dir, total)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    let figures = runtime.block_on(run_async(&options, messages, total))?;

    if options.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        print_figures(&figures);
    }
    let loop_failed = figures
        .loop_check
        .as_ref()
        .is_some_and(|check| check.with_action < check.checked || check.with_outcome_message < check.checked);
    Ok(if figures.rejected > 0 || figures.undecided > 0 || loop_failed { exit::INPUT_FAILED } else { exit::OK })
}

/// Reads up to `limit` message files of `dir` into memory, in path order.
fn load_messages(dir: &Path, limit: usize) -> Result<Vec<Vec<u8>>> {
    let mut messages = Vec::new();
    for input in files::expand(&[dir.to_path_buf()]) {
        if messages.len() == limit {
            break;
        }
        match input {
            Input::File(path) => {
                messages.push(std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?)
            }
            Input::Error { path, reason } => bail!("cannot list {}: {reason}", path.display()),
        }
    }
    if messages.is_empty() {
        bail!("{} contains no message files", dir.display());
    }
    Ok(messages)
}

/// A decided report: its id, receipt time and decision time.
type DecidedReport = (String, DateTime<Utc>, DateTime<Utc>);

struct Submitted {
    report_id: Option<String>,
    elapsed: Duration,
}

async fn run_async(options: &LoadOptions, messages: Vec<Vec<u8>>, total: usize) -> Result<Figures> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(256)
        .build()
        .context("cannot create the HTTP client")?;
    let base = options.server.trim_end_matches('/').to_owned();
    let endpoint = Arc::new(format!("{base}/api/v1/reports"));
    let token = Arc::new(options.token.clone());
    let reporter = Arc::new(options.reporter.clone());
    let messages: Vec<Arc<Vec<u8>>> = messages.into_iter().map(Arc::new).collect();
    let distinct_messages = messages.len().min(total);

    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / options.rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut submitted = Vec::with_capacity(total);
    let started = Instant::now();
    for index in 0..total {
        ticks.tick().await;
        while let Some(done) = in_flight.try_join_next() {
            submitted.push(done.context("a submission task failed")?);
        }
        if in_flight.len() >= MAX_IN_FLIGHT {
            bail!(
                "{MAX_IN_FLIGHT} submissions are waiting for an answer after {index} sent: \
                 the service cannot take {} reports per second; lower --rate",
                options.rate
            );
        }
        let (client, endpoint, token, reporter) =
            (client.clone(), Arc::clone(&endpoint), Arc::clone(&token), Arc::clone(&reporter));
        let message = Arc::clone(&messages[index % messages.len()]);
        in_flight.spawn(async move { submit(&client, &endpoint, &token, reporter.as_deref(), &message).await });
    }
    while let Some(done) = in_flight.join_next().await {
        submitted.push(done.context("a submission task failed")?);
    }
    let seconds_sending = started.elapsed().as_secs_f64();

    let report_ids: Vec<String> = submitted.iter().filter_map(|s| s.report_id.clone()).collect();
    let accepted = report_ids.len();
    let submit_ms = Percentiles::of(submitted.iter().map(|s| s.elapsed.as_secs_f64() * 1_000.0).collect());

    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let results: Vec<Option<DecidedReport>> = futures::stream::iter(report_ids)
        .map(|report_id| {
            let client = client.clone();
            let url = format!("{base}/api/v1/reports/{report_id}");
            let token = Arc::clone(&token);
            async move {
                let (received, decided) = wait_decided(&client, &url, &token, deadline).await?;
                Some((report_id, received, decided))
            }
        })
        .buffer_unordered(POLL_CONCURRENCY)
        .collect()
        .await;

    let loop_check = if options.verify {
        let decided_ids: Vec<String> = results.iter().flatten().map(|(id, _, _)| id.clone()).collect();
        Some(check_loop(&client, &base, &token, decided_ids).await)
    } else {
        None
    };
    let decided: Vec<(DateTime<Utc>, DateTime<Utc>)> =
        results.into_iter().flatten().map(|(_, received, done)| (received, done)).collect();
    let latencies = decided.iter().map(|(received, done)| (*done - *received).as_seconds_f64() * 1_000.0).collect();
    let first_received = decided.iter().map(|(received, _)| *received).min();
    let last_decided = decided.iter().map(|(_, done)| *done).max();
    let decided_per_second = match (first_received, last_decided) {
        (Some(first), Some(last)) if last > first => decided.len() as f64 / (last - first).as_seconds_f64(),
        _ => 0.0,
    };

    Ok(Figures {
        offered_rate: options.rate,
        seconds_sending,
        sent: total,
        accepted,
        rejected: total - accepted,
        distinct_messages,
        accepted_per_second: accepted as f64 / seconds_sending,
        submit_ms,
        decided: decided.len(),
        undecided: accepted - decided.len(),
        decided_per_second,
        report_to_decision_ms: Percentiles::of(latencies),
        loop_check,
    })
}

/// Waits for each report's job to finish, then checks its case's actions and
/// its outcome message.
async fn check_loop(client: &reqwest::Client, base: &str, token: &str, report_ids: Vec<String>) -> LoopCheck {
    let verdicts: Vec<(bool, bool, Option<String>)> = futures::stream::iter(report_ids)
        .map(|report_id| async move {
            match check_report(client, base, token, &report_id).await {
                Ok((action, outcome)) => {
                    let failure = match (action, outcome) {
                        (true, true) => None,
                        (false, _) => Some(format!("{report_id}: its case has no action")),
                        (true, false) => Some(format!("{report_id}: no outcome message for its reporter")),
                    };
                    (action, outcome, failure)
                }
                Err(error) => (false, false, Some(format!("{report_id}: {error:#}"))),
            }
        })
        .buffer_unordered(POLL_CONCURRENCY)
        .collect()
        .await;

    let mut check = LoopCheck { checked: verdicts.len(), ..LoopCheck::default() };
    for (action, outcome, failure) in verdicts {
        check.with_action += usize::from(action);
        check.with_outcome_message += usize::from(outcome);
        if let Some(failure) = failure
            && check.failures.len() < 20
        {
            check.failures.push(failure);
        }
    }
    check
}

/// Returns whether the report's case has an action and whether the outbox
/// has an outcome message for the report, once its job is done.
async fn check_report(client: &reqwest::Client, base: &str, token: &str, report_id: &str) -> Result<(bool, bool)> {
    let get = |path: String| async move {
        let response = client.get(format!("{base}{path}")).bearer_auth(token).send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("GET {path} failed with {status}: {body}");
        }
        Ok::<Value, anyhow::Error>(body)
    };
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let report = loop {
        let report = get(format!("/api/v1/reports/{report_id}")).await?;
        match report["job"]["status"].as_str() {
            Some("done") => break report,
            Some("dead") => bail!("its job is dead: {}", report["job"]["last_error"]),
            _ if Instant::now() >= deadline => bail!("its job did not finish within {} s", DRAIN_TIMEOUT.as_secs()),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let case_id = report["case_id"].as_str().context("the report has no case")?;
    let actions = get(format!("/api/v1/cases/{case_id}/actions")).await?;
    let messages = get(format!("/api/v1/outbox?case={case_id}")).await?;
    let has_action = actions.as_array().is_some_and(|actions| !actions.is_empty());
    let has_outcome = messages.as_array().is_some_and(|messages| {
        messages.iter().any(|message| message["kind"] == "outcome" && message["report_id"] == report_id)
    });
    Ok((has_action, has_outcome))
}

/// Sends one report. A rejected report or a transport error is named on
/// standard error and counted, and the run goes on.
async fn submit(
    client: &reqwest::Client,
    endpoint: &str,
    token: &str,
    reporter: Option<&str>,
    message: &[u8],
) -> Submitted {
    let started = Instant::now();
    let mut request = client
        .post(endpoint)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "message/rfc822")
        .body(message.to_vec());
    if let Some(reporter) = reporter {
        request = request.query(&[("reporter", reporter)]);
    }
    let report_id = match request.send().await {
        Ok(response) if response.status() == reqwest::StatusCode::ACCEPTED => {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            body.get("report_id").and_then(Value::as_str).map(str::to_owned)
        }
        Ok(response) => {
            eprintln!("phishloop: a report was rejected with {}", response.status());
            None
        }
        Err(error) => {
            eprintln!("phishloop: sending a report to {endpoint} failed: {error}");
            None
        }
    };
    Submitted { report_id, elapsed: started.elapsed() }
}

/// Polls a report until it has `decided_at` and returns its receipt and
/// decision times; `None` when its job died or the deadline passed.
async fn wait_decided(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    deadline: Instant,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    loop {
        if let Ok(response) = client.get(url).bearer_auth(token).send().await
            && let Ok(report) = response.json::<Value>().await
        {
            let time = |field: &str| report.get(field).and_then(Value::as_str).and_then(|t| t.parse().ok());
            if let (Some(received), Some(decided)) = (time("received_at"), time("decided_at")) {
                return Some((received, decided));
            }
            if report["job"]["status"] == "dead" {
                eprintln!("phishloop: the job of {url} is dead: {}", report["job"]["last_error"]);
                return None;
            }
        }
        if Instant::now() >= deadline {
            eprintln!("phishloop: {url} was not decided within {} s", DRAIN_TIMEOUT.as_secs());
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print_figures(figures: &Figures) {
    let ms = |p: &Percentiles| format!("p50 {:.1}  p95 {:.1}  p99 {:.1}  max {:.1}", p.p50, p.p95, p.p99, p.max);
    println!("offered            {:.1} reports/s for {:.1} s", figures.offered_rate, figures.seconds_sending);
    println!(
        "sent               {} ({} distinct messages), accepted {}, rejected {}",
        figures.sent, figures.distinct_messages, figures.accepted, figures.rejected
    );
    println!("accepted rate      {:.1} reports/s", figures.accepted_per_second);
    println!("submit latency ms  {}", ms(&figures.submit_ms));
    println!(
        "decided            {} ({:.1} reports/s), undecided {}",
        figures.decided, figures.decided_per_second, figures.undecided
    );
    println!("report to decision {} ms", ms(&figures.report_to_decision_ms));
    if let Some(check) = &figures.loop_check {
        println!(
            "loop check         {} reports: {} with an action, {} with an outcome message to the reporter",
            check.checked, check.with_action, check.with_outcome_message
        );
        for failure in &check.failures {
            println!("  {failure}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();

        let p = Percentiles::of(values);

        assert_eq!(p.count, 100);
        assert_eq!(p.p50, 50.0);
        assert_eq!(p.p95, 95.0);
        assert_eq!(p.p99, 99.0);
        assert_eq!(p.max, 100.0);
    }

    #[test]
    fn percentiles_of_nothing_are_zero() {
        let p = Percentiles::of(Vec::new());

        assert_eq!(p.count, 0);
        assert_eq!(p.p99, 0.0);
    }
}
