//! Loop figures from the store: reports by status, decisions by verdict and
//! category, time from report to decision, actions by status, what reports
//! led to (blocking, containment, training), reporters told and time from
//! report to containment. The JSON endpoint and the
//! Prometheus endpoint show the same snapshot, computed from the database on
//! each request, so every process sharing a database reports the same numbers.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use phishloop_store::{Action, ActionStatus, JobStatus, OutboxFilter, OutboxKind, Report, ReportStatus, Store};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ServiceError;

/// Reports read per status for one snapshot.
///
/// NOTE: the store has no aggregate queries yet, so a snapshot reads the
/// reports themselves. Above this many reports in one status, the figures
/// cover only the oldest ones and `complete` is false.
const SCAN_LIMIT: u32 = 100_000;

const STATUSES: [ReportStatus; 5] = [
    ReportStatus::Received,
    ReportStatus::Analysed,
    ReportStatus::NeedsReview,
    ReportStatus::Decided,
    ReportStatus::Closed,
];

/// The figures of `GET /api/v1/metrics`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct MetricsSnapshot {
    /// Every report stored.
    pub reports_received: u64,
    /// Reports per status (`received`, `analysed`, `needs_review`, `decided`, `closed`).
    pub reports_by_status: BTreeMap<String, u64>,
    /// Reports with a decision, per verdict.
    pub decisions_by_verdict: BTreeMap<String, u64>,
    /// Reports with a decision, per lure category.
    pub decisions_by_category: BTreeMap<String, u64>,
    /// Seconds from receipt to decision over the decided reports.
    pub time_to_decision_seconds: Percentiles,
    /// Reports still waiting for a decision (`received` or `analysed`).
    pub reports_waiting: u64,
    /// Analysis jobs that ran out of attempts.
    pub jobs_dead: u64,
    /// Actions per status (`planned`, `awaiting_approval`, `succeeded`, ...).
    pub actions_by_status: BTreeMap<String, u64>,
    /// Reports whose case has a succeeded `block_url`, `block_domain` or
    /// `block_sender` action that was not a dry run.
    pub reports_leading_to_blocking: u64,
    /// Reports whose case has a succeeded block, purge, password reset,
    /// session or credential revocation, or mailbox-rule removal that was
    /// not a dry run.
    pub reports_leading_to_containment: u64,
    /// Reports whose case has at least one lesson in the outbox.
    pub reports_leading_to_training: u64,
    /// Reports whose reporter has an outcome message in the outbox.
    pub reporters_told: u64,
    /// Seconds from receipt of a report to the first succeeded block,
    /// purge, password reset, session or credential revocation, or
    /// mailbox-rule removal of its case (not a dry run); 0 when the case
    /// was contained before this report arrived.
    pub time_to_containment_seconds: Percentiles,
    /// False when a status had more reports than one snapshot reads.
    pub complete: bool,
}

/// Nearest-rank percentiles; `None` without samples.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Percentiles {
    pub count: u64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
}

/// Computes the snapshot from the store.
pub async fn snapshot(store: &Store) -> Result<MetricsSnapshot, ServiceError> {
    let mut snapshot = MetricsSnapshot { complete: true, ..MetricsSnapshot::default() };
    let mut durations = Vec::new();
    let mut all_reports = Vec::new();
    for status in STATUSES {
        let reports = store.reports_with_status(status, SCAN_LIMIT).await?;
        if reports.len() >= SCAN_LIMIT as usize {
            snapshot.complete = false;
        }
        let count = reports.len() as u64;
        snapshot.reports_received += count;
        snapshot.reports_by_status.insert(status.as_str().to_owned(), count);
        if matches!(status, ReportStatus::Received | ReportStatus::Analysed) {
            snapshot.reports_waiting += count;
        }
        for report in &reports {
            count_decision(&mut snapshot, report, &mut durations);
        }
        all_reports.extend(reports);
    }
    snapshot.time_to_decision_seconds = percentiles(durations);
    snapshot.jobs_dead = store.jobs_with_status(JobStatus::Dead, SCAN_LIMIT).await?.len() as u64;
    count_loop(store, &mut snapshot, &all_reports).await?;
    Ok(snapshot)
}

/// The effects of one case's actions and messages.
#[derive(Default)]
struct CaseEffects {
    blocked: bool,
    contained: bool,
    /// The earliest time a containing action succeeded.
    first_containment: Option<DateTime<Utc>>,
    trained: bool,
}

/// Counts actions by status and what the reports led to.
async fn count_loop(store: &Store, snapshot: &mut MetricsSnapshot, reports: &[Report]) -> Result<(), ServiceError> {
    let actions = store.list_actions(SCAN_LIMIT).await?;
    let lessons = outbox_of_kind(store, OutboxKind::Lesson).await?;
    let outcomes = outbox_of_kind(store, OutboxKind::Outcome).await?;
    let limit = SCAN_LIMIT as usize;
    if actions.len() >= limit || lessons.len() >= limit || outcomes.len() >= limit {
        snapshot.complete = false;
    }

    for status in ActionStatus::ALL {
        snapshot.actions_by_status.insert(status.as_str().to_owned(), 0);
    }
    let mut effects: HashMap<Uuid, CaseEffects> = HashMap::new();
    for action in &actions {
        *snapshot.actions_by_status.entry(action.status.as_str().to_owned()).or_default() += 1;
        record_effect(effects.entry(action.case_id).or_default(), action);
    }
    for case_id in lessons.iter().filter_map(|message| message.case_id) {
        effects.entry(case_id).or_default().trained = true;
    }
    let told: HashSet<Uuid> = outcomes.iter().filter_map(|message| message.report_id).collect();

    let mut containment_times = Vec::new();
    for report in reports {
        if told.contains(&report.id) {
            snapshot.reporters_told += 1;
        }
        let Some(effect) = report.case_id.and_then(|case_id| effects.get(&case_id)) else {
            continue;
        };
        snapshot.reports_leading_to_blocking += u64::from(effect.blocked);
        snapshot.reports_leading_to_containment += u64::from(effect.contained);
        snapshot.reports_leading_to_training += u64::from(effect.trained);
        if let Some(contained_at) = effect.first_containment {
            let seconds = (contained_at - report.received_at).num_milliseconds() as f64 / 1000.0;
            containment_times.push(seconds.max(0.0));
        }
    }
    snapshot.time_to_containment_seconds = percentiles(containment_times);
    Ok(())
}

async fn outbox_of_kind(store: &Store, kind: OutboxKind) -> Result<Vec<phishloop_store::OutboxMessage>, ServiceError> {
    let filter = OutboxFilter { kind: Some(kind), limit: SCAN_LIMIT, ..OutboxFilter::default() };
    Ok(store.outbox_messages(&filter).await?)
}

/// Adds a succeeded action that changed something outside phishloop to its
/// case's effects; dry runs and other statuses change nothing.
fn record_effect(effect: &mut CaseEffects, action: &Action) {
    let dry_run = action.outcome.as_ref().and_then(|outcome| outcome.get("dry_run")).and_then(|value| value.as_bool());
    if action.status != ActionStatus::Succeeded || dry_run != Some(false) {
        return;
    }
    let blocking = matches!(action.kind.as_str(), "block_url" | "block_domain" | "block_sender");
    let containing = blocking
        || matches!(
            action.kind.as_str(),
            "purge_copies"
                | "reset_password"
                | "revoke_sessions"
                | "remove_mailbox_rules"
                | "revoke_credentials"
                | "rotate_credentials"
        );
    effect.blocked |= blocking;
    effect.contained |= containing;
    if containing && let Some(finished_at) = action.finished_at {
        effect.first_containment = Some(effect.first_containment.map_or(finished_at, |at| at.min(finished_at)));
    }
}

/// Counts a report's decision and its time to decision. The decision time is
/// the report's `updated_at`, which the worker sets last when it stores the
/// decision.
fn count_decision(snapshot: &mut MetricsSnapshot, report: &Report, durations: &mut Vec<f64>) {
    let Some(decision) = &report.decision else {
        return;
    };
    let text = |key: &str| decision.get(key).and_then(|value| value.as_str()).unwrap_or("unknown").to_owned();
    *snapshot.decisions_by_verdict.entry(text("verdict")).or_default() += 1;
    *snapshot.decisions_by_category.entry(text("category")).or_default() += 1;
    let seconds = (report.updated_at - report.received_at).num_milliseconds() as f64 / 1000.0;
    durations.push(seconds.max(0.0));
}

fn percentiles(mut samples: Vec<f64>) -> Percentiles {
    samples.sort_by(f64::total_cmp);
    Percentiles { count: samples.len() as u64, p50: nearest_rank(&samples, 0.50), p95: nearest_rank(&samples, 0.95) }
}

/// Returns the nearest-rank percentile `p` (0..1) of sorted samples.
fn nearest_rank(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

/// A Prometheus recorder of this service; not installed globally, so several
/// services in one process (as in tests) keep their own figures.
pub struct Prometheus {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prometheus")
    }
}

impl Default for Prometheus {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        Self { recorder, handle }
    }
}

impl Prometheus {
    /// Sets the gauges from `snapshot` and returns the text exposition format.
    pub fn render(&self, snapshot: &MetricsSnapshot) -> String {
        metrics::with_local_recorder(&self.recorder, || {
            describe();
            metrics::gauge!("phishloop_reports_received").set(snapshot.reports_received as f64);
            metrics::gauge!("phishloop_reports_waiting").set(snapshot.reports_waiting as f64);
            metrics::gauge!("phishloop_jobs_dead").set(snapshot.jobs_dead as f64);
            for (status, count) in &snapshot.reports_by_status {
                metrics::gauge!("phishloop_reports", "status" => status.clone()).set(*count as f64);
            }
            for (verdict, count) in &snapshot.decisions_by_verdict {
                metrics::gauge!("phishloop_decisions", "verdict" => verdict.clone()).set(*count as f64);
            }
            for (category, count) in &snapshot.decisions_by_category {
                metrics::gauge!("phishloop_decisions_by_category", "category" => category.clone()).set(*count as f64);
            }
            for (status, count) in &snapshot.actions_by_status {
                metrics::gauge!("phishloop_actions", "status" => status.clone()).set(*count as f64);
            }
            let led_to = [
                ("blocking", snapshot.reports_leading_to_blocking),
                ("containment", snapshot.reports_leading_to_containment),
                ("training", snapshot.reports_leading_to_training),
            ];
            for (effect, count) in led_to {
                metrics::gauge!("phishloop_reports_leading_to", "effect" => effect).set(count as f64);
            }
            metrics::gauge!("phishloop_reporters_told").set(snapshot.reporters_told as f64);
            metrics::gauge!("phishloop_metrics_complete").set(if snapshot.complete { 1.0 } else { 0.0 });
            let containment = &snapshot.time_to_containment_seconds;
            for (quantile, value) in [("0.5", containment.p50), ("0.95", containment.p95)] {
                if let Some(value) = value {
                    metrics::gauge!("phishloop_time_to_containment_seconds", "quantile" => quantile).set(value);
                }
            }
            let times = &snapshot.time_to_decision_seconds;
            for (quantile, value) in [("0.5", times.p50), ("0.95", times.p95)] {
                if let Some(value) = value {
                    metrics::gauge!("phishloop_time_to_decision_seconds", "quantile" => quantile).set(value);
                }
            }
        });
        self.handle.render()
    }
}

/// The `# HELP` line of each gauge.
const DESCRIPTIONS: [(&str, &str); 12] = [
    ("phishloop_reports_received", "Reports stored."),
    ("phishloop_reports_waiting", "Reports waiting for a decision (received or analysed)."),
    ("phishloop_jobs_dead", "Analysis jobs that ran out of attempts."),
    ("phishloop_reports", "Reports per status."),
    ("phishloop_decisions", "Decided reports per verdict."),
    ("phishloop_decisions_by_category", "Decided reports per lure category."),
    ("phishloop_actions", "Response actions per status."),
    (
        "phishloop_reports_leading_to",
        "Reports whose case led to blocking, containment or training (dry runs excluded).",
    ),
    ("phishloop_reporters_told", "Reports whose reporter has an outcome message in the outbox."),
    ("phishloop_time_to_containment_seconds", "Seconds from a report to its case's first containing action."),
    ("phishloop_time_to_decision_seconds", "Seconds from a report's receipt to its decision."),
    ("phishloop_metrics_complete", "1 when the snapshot read every report, 0 when it stopped at its limit."),
];

/// Registers the descriptions with the recorder in scope.
fn describe() {
    for (name, help) in DESCRIPTIONS {
        metrics::describe_gauge!(name, help);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=20).map(f64::from).collect();

        assert_eq!(nearest_rank(&samples, 0.50), Some(10.0));
        assert_eq!(nearest_rank(&samples, 0.95), Some(19.0));
        assert_eq!(nearest_rank(&[3.0], 0.95), Some(3.0));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }
}
