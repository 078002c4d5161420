//! The loop dashboard: reports per day by verdict, the funnel from report
//! to decision to blocking, containment and training, time to decision and
//! to containment per day, the top lures and reported senders, and how many
//! reporters heard back, over the last 7, 30 or 90 days (UTC).
//!
//! Blocking, containment and training count as in `/api/v1/metrics`; the
//! time to decision runs to the report's `decided` event, and the time to
//! containment to the first succeeded block or purge of its case (0 when
//! the case was contained before the report arrived).

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::response::Html;
use chrono::{DateTime, Days, NaiveDate, Utc};
use minijinja::context;
use phishloop_coaching::defang_address;
use phishloop_store::{CaseEffect, DashboardReport, ReportStatus};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::charts::{Line, StackedBar, horizontal_bars, lines, stacked_bars};
use super::roles::Permission;
use super::templates::{render, safe_html};
use super::view::{PageUser, duration, verdict_names};
use super::{Signed, WebError, WebState};

/// Reports read for one dashboard; beyond this the figures cover the oldest only.
const MAX_REPORTS: u32 = 100_000;
const PERIODS: [u32; 3] = [7, 30, 90];
const TOP_ROWS: usize = 10;

#[derive(Debug, Deserialize)]
pub(crate) struct DashboardQuery {
    days: Option<u32>,
}

/// The headline figures above the charts.
#[derive(Debug, Default, Serialize)]
struct Figures {
    reports: u64,
    decided: u64,
    needs_review: u64,
    blocked: u64,
    contained: u64,
    trained: u64,
    reporters_told: u64,
    /// Reports whose reporter address intake could not find.
    reporters_unknown: u64,
    decision_p50: Option<String>,
    containment_p50: Option<String>,
}

pub(crate) async fn dashboard_page(
    State(state): State<WebState>,
    signed: Signed,
    Query(query): Query<DashboardQuery>,
) -> Result<Html<String>, WebError> {
    signed.require(Permission::ReadDashboard)?;
    let days = query.days.unwrap_or(30);
    if !PERIODS.contains(&days) {
        return Err(WebError::BadRequest(format!("invalid period of {days} days: use 7, 30 or 90")));
    }
    let today = Utc::now().date_naive();
    let first_day = today.checked_sub_days(Days::new(u64::from(days) - 1)).unwrap_or(today);
    let since = first_day.and_hms_opt(0, 0, 0).map_or_else(Utc::now, |at| at.and_utc());

    let reports = state.store().dashboard_reports(since, MAX_REPORTS).await?;
    let complete = reports.len() < MAX_REPORTS as usize;
    let effects: HashMap<Uuid, CaseEffect> =
        state.store().case_effects(since).await?.into_iter().map(|effect| (effect.case_id, effect)).collect();
    let dashboard = Dashboard::new(first_day, days, &reports, &effects);

    let page = render(
        "dashboard.html",
        context! {
            user => PageUser::of(&signed),
            days,
            periods => PERIODS,
            complete,
            figures => &dashboard.figures,
            per_day => safe_html(dashboard.per_day_chart()),
            funnel => safe_html(dashboard.funnel_chart()),
            timing => safe_html(dashboard.timing_chart()),
            lures => safe_html(horizontal_bars("Top lures: cases by category", &dashboard.lures, None)),
            senders => safe_html(horizontal_bars("Top reported senders: reports by From address", &dashboard.senders, None)),
            told => safe_html(dashboard.told_chart()),
        },
    )?;
    Ok(Html(page))
}

/// The dashboard's figures over one period.
struct Dashboard {
    days: Vec<NaiveDate>,
    verdicts: Vec<String>,
    /// Reports per day and verdict (with `undecided` last).
    per_day: BTreeMap<NaiveDate, BTreeMap<String, u64>>,
    decision_seconds: BTreeMap<NaiveDate, Vec<f64>>,
    containment_seconds: BTreeMap<NaiveDate, Vec<f64>>,
    lures: Vec<(String, u64)>,
    senders: Vec<(String, u64)>,
    figures: Figures,
}

impl Dashboard {
    fn new(first_day: NaiveDate, days: u32, reports: &[DashboardReport], effects: &HashMap<Uuid, CaseEffect>) -> Self {
        let days: Vec<NaiveDate> =
            (0..days).filter_map(|offset| first_day.checked_add_days(Days::new(u64::from(offset)))).collect();
        let mut verdicts = verdict_names();
        verdicts.push("undecided".to_owned());
        let mut dashboard = Self {
            days,
            verdicts,
            per_day: BTreeMap::new(),
            decision_seconds: BTreeMap::new(),
            containment_seconds: BTreeMap::new(),
            lures: Vec::new(),
            senders: Vec::new(),
            figures: Figures::default(),
        };
        let mut lure_cases: HashMap<String, std::collections::HashSet<Uuid>> = HashMap::new();
        let mut senders: HashMap<String, u64> = HashMap::new();
        let mut all_decision = Vec::new();
        let mut all_containment = Vec::new();

        for report in reports {
            let day = report.received_at.date_naive();
            let verdict = report.verdict.clone().unwrap_or_else(|| "undecided".to_owned());
            *dashboard.per_day.entry(day).or_default().entry(verdict.clone()).or_default() += 1;
            dashboard.count(report, effects, day, &mut all_decision, &mut all_containment);
            if let (Some(category), Some(case_id)) = (&report.category, report.case_id)
                && matches!(verdict.as_str(), "malicious" | "suspicious")
                && category != "none"
            {
                lure_cases.entry(category.clone()).or_default().insert(case_id);
            }
            if let Some(sender) = &report.sender {
                *senders.entry(sender.to_lowercase()).or_default() += 1;
            }
        }

        dashboard.figures.decision_p50 = median(&mut all_decision).map(duration);
        dashboard.figures.containment_p50 = median(&mut all_containment).map(duration);
        dashboard.lures = top(lure_cases.into_iter().map(|(category, cases)| (category, cases.len() as u64)));
        dashboard.senders = top(senders.into_iter().map(|(sender, count)| (defang_address(&sender), count)));
        dashboard
    }

    /// Adds one report to the headline figures and the daily timings.
    fn count(
        &mut self,
        report: &DashboardReport,
        effects: &HashMap<Uuid, CaseEffect>,
        day: NaiveDate,
        all_decision: &mut Vec<f64>,
        all_containment: &mut Vec<f64>,
    ) {
        let figures = &mut self.figures;
        figures.reports += 1;
        figures.needs_review += u64::from(report.status == ReportStatus::NeedsReview);
        figures.reporters_told += u64::from(report.reporter_told);
        figures.reporters_unknown += u64::from(!report.reporter_known);
        if let Some(decided_at) = report.decided_at {
            figures.decided += 1;
            let seconds = seconds_between(report.received_at, decided_at);
            self.decision_seconds.entry(day).or_default().push(seconds);
            all_decision.push(seconds);
        }
        let Some(effect) = report.case_id.and_then(|case_id| effects.get(&case_id)) else {
            return;
        };
        figures.blocked += u64::from(effect.blocked);
        figures.contained += u64::from(effect.contained);
        figures.trained += u64::from(effect.trained);
        if let Some(contained_at) = effect.first_containment_at {
            let seconds = seconds_between(report.received_at, contained_at);
            self.containment_seconds.entry(day).or_default().push(seconds);
            all_containment.push(seconds);
        }
    }

    fn labels(&self) -> Vec<String> {
        self.days.iter().map(|day| day.format("%m-%d").to_string()).collect()
    }

    fn per_day_chart(&self) -> String {
        let bars: Vec<StackedBar> = self
            .days
            .iter()
            .zip(self.labels())
            .map(|(day, label)| {
                let counts = self.per_day.get(day);
                StackedBar {
                    label,
                    counts: self
                        .verdicts
                        .iter()
                        .map(|verdict| counts.and_then(|counts| counts.get(verdict)).copied().unwrap_or(0))
                        .collect(),
                }
            })
            .collect();
        stacked_bars("Reports per day by verdict", &self.verdicts, &bars)
    }

    fn funnel_chart(&self) -> String {
        let figures = &self.figures;
        let steps = vec![
            ("reported".to_owned(), figures.reports),
            ("decided".to_owned(), figures.decided),
            ("led to blocking".to_owned(), figures.blocked),
            ("led to containment".to_owned(), figures.contained),
            ("led to training".to_owned(), figures.trained),
        ];
        horizontal_bars("From report to decision to blocking, containment and training", &steps, Some(figures.reports))
    }

    fn timing_chart(&self) -> String {
        let median_per_day = |samples: &BTreeMap<NaiveDate, Vec<f64>>| -> Vec<Option<f64>> {
            self.days.iter().map(|day| samples.get(day).and_then(|values| median(&mut values.clone()))).collect()
        };
        let series = [
            Line { name: "time to decision (median)".to_owned(), points: median_per_day(&self.decision_seconds) },
            Line { name: "time to containment (median)".to_owned(), points: median_per_day(&self.containment_seconds) },
        ];
        lines("Median time to decision and to containment per day", &self.labels(), &series, duration)
    }

    fn told_chart(&self) -> String {
        let figures = &self.figures;
        let items = vec![
            ("reporters told the outcome".to_owned(), figures.reporters_told),
            (
                "not told yet".to_owned(),
                figures.reports.saturating_sub(figures.reporters_told).saturating_sub(figures.reporters_unknown),
            ),
            ("no reporter address".to_owned(), figures.reporters_unknown),
        ];
        horizontal_bars("Reporters told the outcome of their report", &items, Some(figures.reports))
    }
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ((to - from).num_milliseconds() as f64 / 1000.0).max(0.0)
}

/// Returns the median (the lower middle for an even count).
fn median(samples: &mut [f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    Some(samples[(samples.len() - 1) / 2])
}

/// Returns the largest counts, ties by name.
fn top(items: impl Iterator<Item = (String, u64)>) -> Vec<(String, u64)> {
    let mut items: Vec<(String, u64)> = items.collect();
    items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    items.truncate(TOP_ROWS);
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(day: u32, verdict: &str, case: u128, decided_after: i64) -> DashboardReport {
        let received_at = NaiveDate::from_ymd_opt(2026, 12, day)
            .and_then(|date| date.and_hms_opt(10, 0, 0))
            .map(|at| at.and_utc())
            .expect("valid time");
        DashboardReport {
            report_id: Uuid::now_v7(),
            case_id: Some(Uuid::from_u128(case)),
            received_at,
            decided_at: Some(received_at + chrono::Duration::seconds(decided_after)),
            status: ReportStatus::Decided,
            verdict: Some(verdict.to_owned()),
            category: Some("credential_harvesting".to_owned()),
            sender: Some("CEO@Lure.test".to_owned()),
            reporter_told: true,
            reporter_known: true,
        }
    }

    #[test]
    fn figures_count_each_step() {
        let reports = vec![report(1, "malicious", 1, 4), report(1, "malicious", 1, 6), report(2, "benign", 2, 2)];
        let contained_at = reports[0].received_at + chrono::Duration::seconds(30);
        let effects = HashMap::from([(
            Uuid::from_u128(1),
            CaseEffect {
                case_id: Uuid::from_u128(1),
                blocked: true,
                contained: true,
                first_containment_at: Some(contained_at),
                trained: true,
            },
        )]);
        let first_day = NaiveDate::from_ymd_opt(2026, 12, 1).expect("date");

        let dashboard = Dashboard::new(first_day, 7, &reports, &effects);

        assert_eq!(dashboard.figures.reports, 3);
        assert_eq!(dashboard.figures.decided, 3);
        assert_eq!(dashboard.figures.blocked, 2);
        assert_eq!(dashboard.figures.trained, 2);
        assert_eq!(dashboard.figures.decision_p50.as_deref(), Some("4.0 s"));
        assert_eq!(dashboard.figures.containment_p50.as_deref(), Some("30.0 s"));
        assert_eq!(dashboard.lures, vec![("credential_harvesting".to_owned(), 1)]);
        assert_eq!(dashboard.senders, vec![("ceo@lure[.]test".to_owned(), 3)]);
        assert_eq!(dashboard.per_day.get(&first_day).and_then(|counts| counts.get("malicious")), Some(&2));
    }

    #[test]
    fn unknown_reporters_are_not_waiting() {
        let mut reports = vec![report(1, "malicious", 1, 4), report(1, "benign", 2, 2), report(2, "spam", 3, 2)];
        reports[1].reporter_told = false;
        reports[2].reporter_told = false;
        reports[2].reporter_known = false;
        let first_day = NaiveDate::from_ymd_opt(2026, 12, 1).expect("date");

        let dashboard = Dashboard::new(first_day, 7, &reports, &HashMap::new());
        let chart = dashboard.told_chart();

        assert_eq!(dashboard.figures.reporters_told, 1);
        assert_eq!(dashboard.figures.reporters_unknown, 1);
        assert!(chart.contains("not told yet"), "{chart}");
        assert!(chart.contains("no reporter address"), "{chart}");
    }

    #[test]
    fn median_of_even_count_is_lower_middle() {
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut []), None);
    }
}
