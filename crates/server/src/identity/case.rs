//! What identity containment needs to know about a case: its decision, the
//! analysed original and when the message arrived, read back from the
//! case's stored reports.

use chrono::{DateTime, Utc};
use phishloop_model::{AnalysisRecord, Decision, MessageAnalysis};
use phishloop_store::{CaseDetail, Report, Store};
use uuid::Uuid;

use crate::error::ServiceError;

/// A decided case as stored.
#[derive(Debug, Clone)]
pub(crate) struct CaseContext {
    pub(crate) case_id: Uuid,
    pub(crate) detail: CaseDetail,
    /// The report whose decision the case follows: the decided one with
    /// the highest score, so the most dangerous reading of the message wins.
    pub(crate) report: Report,
    pub(crate) decision: Decision,
    /// `None` when the original could not be extracted, or its analysis was
    /// stored only as a summary because it was too large.
    pub(crate) message: Option<MessageAnalysis>,
}

impl CaseContext {
    /// Loads a case; `None` when it has no decided report yet.
    pub(crate) async fn load(store: &Store, case_id: Uuid) -> Result<Option<Self>, ServiceError> {
        let detail = store.get_case(case_id).await?.ok_or(ServiceError::NotFound { what: "case", id: case_id })?;
        let mut best: Option<(Report, Decision)> = None;
        for report in &detail.reports {
            let Some(decision) =
                report.decision.as_ref().and_then(|d| serde_json::from_value::<Decision>(d.clone()).ok())
            else {
                continue;
            };
            if best.as_ref().is_none_or(|(_, current)| decision.score > current.score) {
                best = Some((report.clone(), decision));
            }
        }
        let Some((report, decision)) = best else {
            return Ok(None);
        };
        let message = stored_message(&report);
        Ok(Some(CaseContext { case_id, detail, report, decision, message }))
    }

    /// When the message reached the organisation: the date of the Received
    /// hop at the boundary, else the Date header, and never later than the
    /// first report of the case, because nobody reports a message before it
    /// arrives. Both headers are the sender's to write below the boundary,
    /// so the first report caps them.
    pub(crate) fn delivered_at(&self) -> DateTime<Utc> {
        let first_report = self.detail.reports.iter().map(|report| report.received_at).min();
        let first_report = first_report.unwrap_or(self.report.received_at);
        let from_headers = self.message.as_ref().and_then(header_time);
        from_headers.map_or(first_report, |time| time.min(first_report))
    }

    /// The case's reporters, lowercase.
    pub(crate) fn reporters(&self) -> Vec<String> {
        self.detail
            .reporters
            .iter()
            .filter(|reporter| reporter.address.contains('@'))
            .map(|reporter| reporter.address.to_lowercase())
            .collect()
    }
}

fn stored_message(report: &Report) -> Option<MessageAnalysis> {
    let analysis = report.analysis.as_ref()?;
    if analysis.get("truncated").and_then(|v| v.as_bool()) == Some(true) {
        return None;
    }
    serde_json::from_value::<AnalysisRecord>(analysis.clone()).ok()?.message
}

fn header_time(message: &MessageAnalysis) -> Option<DateTime<Utc>> {
    let boundary = message.received.boundary.and_then(|index| message.received.hops.get(index));
    let hop_time = boundary.and_then(|hop| hop.date.as_deref()).and_then(parse_mail_date);
    hop_time.or_else(|| {
        let date = message.headers.date.as_ref()?;
        let parsed = date.parsed.as_deref()?;
        DateTime::parse_from_rfc3339(parsed).ok().map(|time| time.with_timezone(&Utc))
    })
}

/// Parses an RFC 5322 date as Received headers write it, ignoring a
/// trailing comment such as `(UTC)`.
fn parse_mail_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.split('(').next().unwrap_or(text).trim();
    DateTime::parse_from_rfc2822(text).ok().map(|time| time.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_dates_parse_with_comments() {
        let parsed = parse_mail_date("Tue, 7 May 2024 08:01:02 +0200 (CEST)").expect("date");

        assert_eq!(parsed.to_rfc3339(), "2024-05-07T06:01:02+00:00");
        assert_eq!(parse_mail_date("yesterday"), None);
    }
}
