//! The campaign page: the member cases, their reporters and recipients,
//! the indicators the cases share, and every action of every case.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Html;
use minijinja::context;
use phishloop_coaching::{defang_address, defang_domain, defang_text};
use phishloop_store::{MAX_QUEUE_ROWS, QueueFilter};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::queue::QueueRow;
use super::roles::Permission;
use super::templates::render;
use super::view::{PageUser, time};
use super::{Signed, WebError, WebState};
use crate::api::path_id;

/// Cases read in full for reporters, recipients and indicators.
const MAX_DETAILED_CASES: usize = 200;
const MAX_ROWS: usize = 100;

#[derive(Debug, Serialize)]
struct ActionLine {
    case_id: String,
    kind: String,
    target: String,
    status: String,
    approved_by: Option<String>,
}

pub(crate) async fn campaign_page(
    State(state): State<WebState>,
    signed: Signed,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<Html<String>, WebError> {
    signed.require(Permission::ReadCases)?;
    let campaign_id = path_id(path)?;
    let store = state.store();
    let detail = store
        .get_campaign(campaign_id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("campaign {campaign_id} not found")))?;
    let filter = QueueFilter { campaign_id: Some(campaign_id), limit: MAX_QUEUE_ROWS, ..QueueFilter::default() };
    let cases: Vec<QueueRow> = store.queue_cases(&filter).await?.into_iter().map(QueueRow::from).collect();

    let mut reporters: BTreeMap<String, usize> = BTreeMap::new();
    let mut recipients: BTreeMap<String, usize> = BTreeMap::new();
    let mut shared = SharedIndicators::default();
    let mut actions = Vec::new();
    for case_id in detail.cases.iter().take(MAX_DETAILED_CASES) {
        let Some(case) = store.get_case(*case_id).await? else {
            continue;
        };
        for reporter in &case.reporters {
            *reporters.entry(reporter.address.to_lowercase()).or_default() += reporter.report_count;
        }
        if let Some(analysis) = case.reports.iter().rev().find_map(|report| report.analysis.as_ref()) {
            for recipient in recipients_of(analysis) {
                *recipients.entry(recipient).or_default() += 1;
            }
            shared.add(*case_id, analysis);
        }
        for action in store.actions_for_case(*case_id).await? {
            actions.push(ActionLine {
                case_id: case_id.to_string(),
                kind: action.kind,
                target: defang_text(&action.target.to_string()),
                status: action.status.as_str().to_owned(),
                approved_by: action.approved_by,
            });
        }
    }

    let page = render(
        "campaign.html",
        context! {
            user => PageUser::of(&signed),
            campaign_id => campaign_id.to_string(),
            first_seen => time(detail.campaign.first_seen_at),
            last_seen => time(detail.campaign.last_seen_at),
            case_count => detail.cases.len(),
            reporter_count => detail.reporter_count,
            detailed_cases => detail.cases.len().min(MAX_DETAILED_CASES),
            merged_into => detail.campaign.merged_into.map(|id| id.to_string()),
            merged_from => detail.merged_from.iter().map(Uuid::to_string).collect::<Vec<_>>(),
            cases,
            reporters => reporters.into_iter().take(MAX_ROWS).collect::<Vec<_>>(),
            recipients => recipients.into_iter().take(MAX_ROWS).map(|(address, count)| (defang_address(&address), count)).collect::<Vec<_>>(),
            indicators => shared.rows(),
            actions,
        },
    )?;
    Ok(Html(page))
}

/// The To and Cc addresses of an analysed original, in lowercase.
fn recipients_of(analysis: &Value) -> Vec<String> {
    let Some(headers) = analysis.get("message").and_then(|message| message.get("headers")) else {
        return Vec::new();
    };
    ["to", "cc"]
        .iter()
        .filter_map(|key| headers.get(*key)?.get("mailboxes")?.as_array())
        .flatten()
        .filter_map(|mailbox| mailbox.get("address")?.as_str())
        .map(str::to_lowercase)
        .collect()
}

/// Indicators and the cases that have each.
#[derive(Default)]
struct SharedIndicators {
    cases: HashMap<(&'static str, String), BTreeSet<Uuid>>,
}

impl SharedIndicators {
    fn add(&mut self, case_id: Uuid, analysis: &Value) {
        let Some(message) = analysis.get("message") else {
            return;
        };
        let mut add = |kind: &'static str, value: Option<&str>| {
            if let Some(value) = value.filter(|value| !value.is_empty()) {
                self.cases.entry((kind, value.to_lowercase())).or_default().insert(case_id);
            }
        };
        let list = |key: &str| message.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
        for url in list("urls") {
            add("link domain", url.get("registrable_domain").and_then(Value::as_str));
            add("link", url.get("effective").and_then(Value::as_str));
        }
        for attachment in list("attachments") {
            add("attachment SHA-256", attachment.get("sha256").and_then(Value::as_str));
        }
        let from = message.get("headers").and_then(|headers| headers.get("from")).and_then(Value::as_array);
        for mailbox in from.into_iter().flatten() {
            add("sender", mailbox.get("address").and_then(Value::as_str));
        }
        let sender = message.get("sender");
        add("sender domain", sender.and_then(|sender| sender.get("from_registrable_domain")).and_then(Value::as_str));
    }

    /// Rows of `(kind, value, case count)`, most shared first; values are defanged.
    fn rows(&self) -> Vec<(String, String, usize)> {
        let mut rows: Vec<(String, String, usize)> = self
            .cases
            .iter()
            .map(|((kind, value), cases)| {
                let shown = match *kind {
                    "link domain" | "sender domain" => defang_domain(value),
                    "sender" => defang_address(value),
                    "link" => phishloop_coaching::defang_url(value),
                    _ => value.clone(),
                };
                ((*kind).to_owned(), shown, cases.len())
            })
            .collect();
        rows.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)).then_with(|| a.1.cmp(&b.1)));
        rows.truncate(MAX_ROWS);
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shared_indicators_counted_per_case() {
        let analysis = json!({ "message": {
            "urls": [{ "registrable_domain": "lure.test", "effective": "https://lure.test/a" }],
            "headers": { "from": [{ "address": "ceo@lure.test" }] }
        } });
        let mut shared = SharedIndicators::default();

        shared.add(Uuid::from_u128(1), &analysis);
        shared.add(Uuid::from_u128(2), &analysis);
        shared.add(Uuid::from_u128(2), &analysis);
        let rows = shared.rows();

        assert!(rows.contains(&("link domain".to_owned(), "lure[.]test".to_owned(), 2)), "{rows:?}");
        assert!(rows.contains(&("sender".to_owned(), "ceo@lure[.]test".to_owned(), 2)), "{rows:?}");
    }

    #[test]
    fn recipients_read_from_to_and_cc() {
        let analysis = json!({ "message": { "headers": {
            "to": { "mailboxes": [{ "address": "Ann@Corp.test" }] },
            "cc": { "mailboxes": [{ "address": "bob@corp.test" }] }
        } } });

        assert_eq!(recipients_of(&analysis), vec!["ann@corp.test".to_owned(), "bob@corp.test".to_owned()]);
    }
}
