//! The queue: cases that need a person first (a report awaiting review or
//! an action awaiting approval), then the most recently reported, with
//! filters by verdict, category, campaign and time.

use axum::extract::{Query, State};
use axum::response::Html;
use chrono::{DateTime, NaiveDate, Utc};
use minijinja::context;
use phishloop_coaching::defang_address;
use phishloop_store::{QueueCase, QueueFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::roles::Permission;
use super::templates::render;
use super::view::{PageUser, category_names, time, verdict_names};
use super::{Signed, WebError, WebState};

/// Rows one queue page shows.
const QUEUE_ROWS: u32 = 200;

/// The filter form; empty fields match everything.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct QueueQuery {
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    campaign: String,
    /// First day, `YYYY-MM-DD`, UTC.
    #[serde(default)]
    since: String,
    /// Last day, `YYYY-MM-DD`, UTC, inclusive.
    #[serde(default)]
    until: String,
    /// `1` for cases that need attention only.
    #[serde(default)]
    attention: String,
}

/// One row of the queue table.
#[derive(Debug, Serialize)]
pub(crate) struct QueueRow {
    pub(crate) case_id: String,
    pub(crate) subject: String,
    pub(crate) sender: String,
    pub(crate) verdict: String,
    pub(crate) category: String,
    pub(crate) confidence: String,
    pub(crate) reports: u64,
    pub(crate) needs_review: u64,
    pub(crate) awaiting_approval: u64,
    pub(crate) attention: bool,
    pub(crate) campaign_id: String,
    pub(crate) last_reported: String,
}

impl From<QueueCase> for QueueRow {
    fn from(case: QueueCase) -> Self {
        Self {
            case_id: case.case_id.to_string(),
            attention: case.needs_attention(),
            subject: case
                .subject
                .filter(|subject| !subject.trim().is_empty())
                .unwrap_or_else(|| "(no subject)".to_owned()),
            sender: case.sender.as_deref().map(defang_address).unwrap_or_default(),
            verdict: case.verdict.unwrap_or_else(|| "undecided".to_owned()),
            category: case.category.unwrap_or_default(),
            confidence: case.confidence.map(|value| format!("{:.0} %", value * 100.0)).unwrap_or_default(),
            reports: case.report_count,
            needs_review: case.needs_review_count,
            awaiting_approval: case.awaiting_approval_count,
            campaign_id: case.campaign_id.map(|id| id.to_string()).unwrap_or_default(),
            last_reported: time(case.last_reported_at),
        }
    }
}

pub(crate) async fn queue_page(
    State(state): State<WebState>,
    signed: Signed,
    Query(query): Query<QueueQuery>,
) -> Result<Html<String>, WebError> {
    signed.require(Permission::ReadCases)?;
    let filter = parse_filter(&query)?;
    let cases = state.store().queue_cases(&filter).await?;
    let attention = cases.iter().filter(|case| case.needs_attention()).count();
    let rows: Vec<QueueRow> = cases.into_iter().map(QueueRow::from).collect();
    let page = render(
        "queue.html",
        context! {
            user => PageUser::of(&signed),
            rows,
            attention,
            limit => QUEUE_ROWS,
            query,
            verdicts => verdict_names(),
            categories => category_names(),
        },
    )?;
    Ok(Html(page))
}

fn parse_filter(query: &QueueQuery) -> Result<QueueFilter, WebError> {
    let verdict = choice("verdict", &query.verdict, &verdict_names())?;
    let category = choice("category", &query.category, &category_names())?;
    let campaign_id = match query.campaign.trim() {
        "" => None,
        text => Some(text.parse::<Uuid>().map_err(|_| {
            WebError::BadRequest(format!("invalid campaign {text:?}: use a campaign id as shown on a case page"))
        })?),
    };
    let reported_since = day("since", &query.since, 0)?;
    let reported_before = day("until", &query.until, 1)?;
    Ok(QueueFilter {
        verdict,
        category,
        campaign_id,
        reported_since,
        reported_before,
        attention_only: query.attention == "1",
        limit: QUEUE_ROWS,
    })
}

/// Returns a filter value when it is one of `allowed`.
fn choice(field: &str, value: &str, allowed: &[String]) -> Result<Option<String>, WebError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if allowed.iter().any(|name| name == value) {
        return Ok(Some(value.to_owned()));
    }
    Err(WebError::BadRequest(format!("invalid {field} {value:?}: use one of {}", allowed.join(", "))))
}

/// Parses a `YYYY-MM-DD` day as the start of that day plus `days_after` days, UTC.
fn day(field: &str, value: &str, days_after: u64) -> Result<Option<DateTime<Utc>>, WebError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        WebError::BadRequest(format!("invalid {field} date {value:?}: use YYYY-MM-DD, such as 2026-12-01"))
    })?;
    let start = date.checked_add_days(chrono::Days::new(days_after)).unwrap_or(date);
    Ok(start.and_hms_opt(0, 0, 0).map(|at| at.and_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_query_matches_everything() {
        let filter = parse_filter(&QueueQuery::default()).expect("filter");

        assert_eq!(filter.verdict, None);
        assert_eq!(filter.reported_since, None);
        assert!(!filter.attention_only);
    }

    #[test]
    fn until_includes_the_day() {
        let query = QueueQuery { until: "2026-12-01".to_owned(), ..QueueQuery::default() };

        let filter = parse_filter(&query).expect("filter");

        assert_eq!(filter.reported_before.map(|at| at.to_rfc3339()).as_deref(), Some("2026-12-02T00:00:00+00:00"));
    }

    #[test]
    fn unknown_verdict_named_in_error() {
        let query = QueueQuery { verdict: "evil".to_owned(), ..QueueQuery::default() };

        let error = parse_filter(&query).expect_err("unknown verdict");

        assert!(
            matches!(&error, WebError::BadRequest(text) if text.contains("\"evil\"") && text.contains("malicious"))
        );
    }
}
