//! Click imports: a proxy, DNS or Defender log is parsed, matched against
//! the lure URLs and domains of the cases it may concern, and each
//! person's verdict is stored on the case.
//!
//! The URLs of a case are its `find_clicks` targets and its domains its
//! `block_domain` targets, both as the planner finds them with the
//! service's `[response]` exclusions. So a lure on a shared service
//! (a file-sharing site, a form builder) matches its exact host only,
//! never the whole platform, and the organisation's own domains never
//! match.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{Duration, Utc};
use phishloop_identity::{
    Campaign, ClickReport, Evidence, ExcludedEntry, LogDefect, LogSource, ParsedLog, PersonVerdict as ClickVerdict,
    Verdict, classify_clicks, parse_csv, parse_json_lines, parse_url_click_events,
};
use phishloop_model::{MessageAnalysis, Verdict as DecisionVerdict};
use phishloop_response::{ActionKind, CaseFacts, Mode, Playbook, ResponseConfig, Selector, Step, Target, plan};
use phishloop_store::{NewClickImport, PersonEvidence, PersonVerdict, ReportStatus, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{CONTAIN_JOB, CaseContext, IdentityParts};
use crate::error::ServiceError;
use crate::notify::Notifier;

/// Reports read per status when looking for open cases.
///
/// NOTE: the store has no query for open cases, so an import without a
/// case or campaign reads the decided reports. Beyond this many per
/// status, older cases are not matched.
const OPEN_CASE_SCAN: u32 = 10_000;

/// The formats `POST /api/v1/clicks` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClickFormat {
    ProxyCsv,
    ProxyJsonl,
    DnsCsv,
    DnsJsonl,
    Defender,
}

impl ClickFormat {
    const NAMES: &'static str = "proxy_csv, proxy_jsonl, dns_csv, dns_jsonl or defender";

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ProxyCsv => "proxy_csv",
            Self::ProxyJsonl => "proxy_jsonl",
            Self::DnsCsv => "dns_csv",
            Self::DnsJsonl => "dns_jsonl",
            Self::Defender => "defender",
        }
    }

    fn source(self) -> LogSource {
        match self {
            Self::ProxyCsv | Self::ProxyJsonl => LogSource::Proxy,
            Self::DnsCsv | Self::DnsJsonl => LogSource::Dns,
            Self::Defender => LogSource::DefenderUrlClick,
        }
    }

    /// Returns the field map used when the import names none.
    fn default_field_map(self) -> &'static str {
        match self {
            Self::DnsCsv | Self::DnsJsonl => "dns",
            _ => "proxy",
        }
    }
}

impl FromStr for ClickFormat {
    type Err = ServiceError;

    fn from_str(value: &str) -> Result<Self, ServiceError> {
        match value {
            "proxy_csv" => Ok(Self::ProxyCsv),
            "proxy_jsonl" => Ok(Self::ProxyJsonl),
            "dns_csv" => Ok(Self::DnsCsv),
            "dns_jsonl" => Ok(Self::DnsJsonl),
            "defender" => Ok(Self::Defender),
            other => Err(ServiceError::BadRequest(format!("invalid format {other:?}: use {}", Self::NAMES))),
        }
    }
}

/// Which cases an import is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Case(Uuid),
    Campaign(Uuid),
    /// Cases decided malicious or suspicious within `open_case_days`.
    Open,
}

/// Parses a log body in `format` with the field map `field_map` (for proxy
/// and DNS logs).
pub(crate) fn parse(
    format: ClickFormat,
    field_map: Option<&str>,
    body: &str,
    parts: &IdentityParts,
) -> Result<ParsedLog, ServiceError> {
    let bad = |error: phishloop_identity::LogError| {
        let hint = match (&error, format) {
            (
                phishloop_identity::LogError::NoUrlOrHost { available, .. },
                ClickFormat::DnsCsv | ClickFormat::DnsJsonl,
            ) if available.split(", ").any(|column| column.eq_ignore_ascii_case("url")) => {
                "; the log has a url column, so it may be a proxy log: import it as proxy_csv or proxy_jsonl"
            }
            _ => "",
        };
        ServiceError::BadRequest(format!("invalid {} log: {error}{hint}", format.as_str()))
    };
    if format == ClickFormat::Defender {
        if field_map.is_some() {
            return Err(ServiceError::BadRequest(
                "field_map applies to proxy and DNS logs; Defender events have fixed fields".to_owned(),
            ));
        }
        return parse_url_click_events(body).map_err(bad);
    }
    let name = field_map.unwrap_or(format.default_field_map());
    let fields = parts.clicks.field_map(name).ok_or_else(|| {
        ServiceError::BadRequest(format!(
            "unknown field map {name:?}: use one of {} or add it under [identity.clicks.field_maps]",
            parts.clicks.field_map_names().join(", ")
        ))
    })?;
    let log = match format {
        ClickFormat::ProxyCsv | ClickFormat::DnsCsv => parse_csv(body.as_bytes(), &fields, format.source()),
        _ => parse_json_lines(body, &fields, format.source()),
    }
    .map_err(bad)?;
    let Some(reason) = unreadable(&log) else { return Ok(log) };
    let first_line = body.lines().find(|line| !line.trim().is_empty()).unwrap_or_default();
    let looks_like_csv = !first_line.trim_start().starts_with('{') && first_line.contains(',');
    let hint = if looks_like_csv && matches!(format, ClickFormat::ProxyJsonl | ClickFormat::DnsJsonl) {
        " The log looks like CSV: import it as proxy_csv or dns_csv."
    } else {
        ""
    };
    Err(ServiceError::BadRequest(format!("invalid {} log: {reason}{hint}", format.as_str())))
}

/// Describes a log of which no line could be read, such as a CSV file sent
/// as JSON Lines. A log with some good lines is read, and its bad lines
/// are listed as defects.
fn unreadable(log: &ParsedLog) -> Option<String> {
    let first = log.defects.first().filter(|_| log.entries.is_empty())?;
    let more = match log.defects.len() - 1 {
        0 => String::new(),
        1 => " The next line failed too.".to_owned(),
        more => format!(" The {more} lines after it failed too."),
    };
    Some(format!(
        "no line could be read. Line {}: {}.{more} Check the format and the field map.",
        first.line, first.reason
    ))
}

/// The result of an import, as `POST /api/v1/clicks` returns it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClickImportSummary {
    /// Entries read from the log.
    pub entries: usize,
    /// Lines that could not be read, with the reason.
    #[schema(value_type = Vec<Object>)]
    pub defects: Vec<Value>,
    /// Configured columns that the log's header lacks.
    pub missing_columns: Vec<String>,
    /// Cases the log was matched against.
    pub cases_checked: usize,
    /// Cases with at least one matching entry.
    pub cases: Vec<CaseClicks>,
}

/// What an import found for one case.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CaseClicks {
    pub case_id: Uuid,
    pub import_id: Uuid,
    /// Entries on a lure site or lure page of the case.
    pub matched: u64,
    /// Matching entries not counted as clicks (scanners, previews, bursts).
    pub excluded: usize,
    /// People this log shows clicking, those who submitted credentials
    /// included, as in the blast radius's counts.
    pub clicked: usize,
    pub submitted_credentials: usize,
    /// People whose verdict rose with this import.
    pub raised: Vec<RaisedVerdict>,
    /// The containment job queued for the raised verdicts.
    pub job_id: Option<Uuid>,
}

/// A verdict that rose.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RaisedVerdict {
    pub address: String,
    /// `clicked` or `submitted_credentials`.
    pub verdict: String,
    pub previous: Option<String>,
}

/// Matches a parsed log against the cases of `scope`, stores the verdicts
/// and queues a containment job for each case whose verdicts rose.
pub(crate) async fn import(
    store: &Store,
    parts: &IdentityParts,
    notifier: &Notifier,
    log: &ParsedLog,
    scope: Scope,
    format: ClickFormat,
    requested_by: &str,
) -> Result<(ClickImportSummary, bool), ServiceError> {
    let cases = cases_in(store, scope, parts.clicks.open_case_days).await?;
    let defects: Vec<Value> = log.defects.iter().map(defect_json).collect();
    let mut summary = ClickImportSummary {
        entries: log.entries.len(),
        defects: defects.clone(),
        missing_columns: log.missing_columns.clone(),
        cases_checked: cases.len(),
        cases: Vec::new(),
    };
    let mut queued = false;

    for context in cases {
        let Some(campaign) = click_campaign(store, parts, notifier, &context).await? else {
            continue;
        };
        let report = classify_clicks(&campaign, &log.entries, &parts.clicks.filter());
        let matched = (log.entries.len() - report.unrelated_entries) as u64;
        if matched == 0 {
            continue;
        }
        let new_import = NewClickImport {
            case_id: context.case_id,
            format: format.as_str().to_owned(),
            requested_by: requested_by.to_owned(),
            entries: log.entries.len() as u64,
            matched,
            excluded: report.excluded.iter().map(excluded_json).collect(),
            defects: defects.clone(),
            people: people_of(&report),
        };
        let recorded = store.record_clicks(&new_import).await?;
        let mut job_id = None;
        if !recorded.changes.is_empty() {
            let payload = json!({ "case_id": context.case_id, "import_id": recorded.import.id });
            let key = format!("{}:{}", context.case_id, recorded.import.id);
            job_id = Some(store.enqueue(CONTAIN_JOB, &payload, &key).await?.job.id);
            queued = true;
        }
        let count = |verdict: Verdict| report.people.iter().filter(|p| p.verdict == verdict).count();
        tracing::info!(
            case_id = %context.case_id, import_id = %recorded.import.id, format = format.as_str(), matched,
            excluded = report.excluded.len(), raised = recorded.changes.len(), "clicks imported"
        );
        summary.cases.push(CaseClicks {
            case_id: context.case_id,
            import_id: recorded.import.id,
            matched,
            excluded: report.excluded.len(),
            clicked: count(Verdict::Clicked) + count(Verdict::SubmittedCredentials),
            submitted_credentials: count(Verdict::SubmittedCredentials),
            raised: recorded
                .changes
                .iter()
                .map(|change| RaisedVerdict {
                    address: change.person.address.clone(),
                    verdict: change.person.verdict.as_str().to_owned(),
                    previous: change.previous.map(|verdict| verdict.as_str().to_owned()),
                })
                .collect(),
            job_id,
        });
    }
    Ok((summary, queued))
}

/// Loads the decided cases an import is matched against.
async fn cases_in(store: &Store, scope: Scope, open_case_days: u32) -> Result<Vec<CaseContext>, ServiceError> {
    let case_ids: Vec<Uuid> = match scope {
        Scope::Case(case_id) => vec![case_id],
        Scope::Campaign(campaign_id) => {
            let detail = store
                .get_campaign(campaign_id)
                .await?
                .ok_or(ServiceError::NotFound { what: "campaign", id: campaign_id })?;
            if let Some(survivor) = detail.campaign.merged_into {
                return Err(ServiceError::BadRequest(format!(
                    "campaign {campaign_id} was merged into {survivor}; import into campaign {survivor}"
                )));
            }
            detail.cases
        }
        Scope::Open => open_cases(store, open_case_days).await?,
    };

    let mut contexts = Vec::new();
    for case_id in case_ids {
        match CaseContext::load(store, case_id).await? {
            Some(context) => contexts.push(context),
            None if scope == Scope::Case(case_id) => {
                return Err(ServiceError::Conflict(format!(
                    "case {case_id} has no decision yet; import its clicks once a report of it is decided"
                )));
            }
            None => {}
        }
    }
    Ok(contexts)
}

/// Cases with a malicious or suspicious decision on a report received
/// within `days` days.
async fn open_cases(store: &Store, days: u32) -> Result<Vec<Uuid>, ServiceError> {
    let since = Utc::now() - Duration::days(i64::from(days));
    let mut cases = BTreeSet::new();
    for status in [ReportStatus::Decided, ReportStatus::NeedsReview] {
        for report in store.reports_with_status(status, OPEN_CASE_SCAN).await? {
            let verdict = report.decision.as_ref().and_then(|d| d.get("verdict")).cloned();
            let attack = verdict
                .and_then(|v| serde_json::from_value::<DecisionVerdict>(v).ok())
                .is_some_and(|v| matches!(v, DecisionVerdict::Malicious | DecisionVerdict::Suspicious));
            if let (true, true, Some(case_id)) = (attack, report.received_at >= since, report.case_id) {
                cases.insert(case_id);
            }
        }
    }
    Ok(cases.into_iter().collect())
}

/// Builds the click campaign of a case: its lure URLs and domains, the
/// delivery time and the people who received it. `None` when the case has
/// no URL or domain to match, such as a callback scam.
pub(crate) async fn click_campaign(
    store: &Store,
    parts: &IdentityParts,
    notifier: &Notifier,
    context: &CaseContext,
) -> Result<Option<Campaign>, ServiceError> {
    let (urls, domains) = lure_targets(context, &parts.response);
    if urls.is_empty() && domains.is_empty() {
        return Ok(None);
    }
    let recipients = recipients_of(store, notifier, context).await?;
    Ok(Some(Campaign {
        urls,
        domains,
        delivered_at: context.delivered_at(),
        recipients: recipients.into_iter().collect(),
        ip_owners: Default::default(),
    }))
}

/// Returns the people who received the case's message: the original's To and Cc at
/// the organisation's domains, the mailboxes in which a purge found a
/// copy, and the reporters.
pub(crate) async fn recipients_of(
    store: &Store,
    notifier: &Notifier,
    context: &CaseContext,
) -> Result<BTreeSet<String>, ServiceError> {
    let actions = store.actions_for_case(context.case_id).await?;
    let reporters: BTreeSet<String> = context.reporters().into_iter().collect();
    let mut recipients = notifier.message_recipients(context.message.as_ref(), &actions, &reporters);
    recipients.extend(reporters);
    Ok(recipients)
}

/// Returns the case's lure pages and lure domains, as the planner selects
/// them under `response`'s exclusions.
///
/// Domains are the `block_domain` targets of the message's URLs: sites
/// that are neither the organisation's, nor a brand's real site, nor a
/// shared, free hosting or shortener service, so any visit to them counts.
/// Pages are the `find_clicks` targets: followed links, without brand
/// sites and unresolved wrappers. On a shared host only a visit to the
/// page itself counts (see `phishloop_identity::Campaign`). A link to a
/// bare IP address has no domain to block, yet the whole host is the
/// attacker's, so its address joins the domains.
fn lure_targets(context: &CaseContext, response: &ResponseConfig) -> (Vec<String>, Vec<String>) {
    let step = |action, target| Step { action, target, mode: Mode::Auto, connector: "log".to_owned() };
    let config = ResponseConfig {
        default_playbooks: false,
        playbooks: vec![Playbook {
            name: "lure-targets".to_owned(),
            verdicts: Vec::new(),
            categories: Vec::new(),
            min_confidence: 0.0,
            min_reporters: 0,
            needs_review: None,
            steps: vec![
                step(ActionKind::FindClicks, Selector::Urls),
                step(ActionKind::BlockDomain, Selector::UrlDomains),
            ],
        }],
        connectors: Default::default(),
        webhooks: Vec::new(),
        ..response.clone()
    };
    // Simulations are never acted on, so the planner would give nothing;
    // their clicks are the simulation platform's to count.
    let facts = CaseFacts { case_id: context.case_id.to_string(), ..CaseFacts::default() };
    let planned = plan(&context.decision, context.message.as_ref(), &facts, &config);

    let mut urls = Vec::new();
    let mut domains = Vec::new();
    for action in planned.actions {
        match action.target {
            Target::Url { url } if action.kind == ActionKind::FindClicks => {
                if let Some(address) = ip_host(context.message.as_ref(), &url) {
                    domains.push(address);
                }
                urls.push(url);
            }
            Target::Domain { domain } if action.kind == ActionKind::BlockDomain => domains.push(domain),
            _ => {}
        }
    }
    (urls, domains)
}

/// Returns the host of `url` when the analysis found it to be an IP
/// address.
fn ip_host(message: Option<&MessageAnalysis>, url: &str) -> Option<String> {
    let indicator = message?.urls.iter().find(|indicator| indicator.effective == url)?;
    indicator.host.clone().filter(|_| indicator.host_is_ip)
}

fn people_of(report: &ClickReport) -> Vec<PersonEvidence> {
    report.people.iter().map(person_evidence).collect()
}

fn person_evidence(person: &ClickVerdict) -> PersonEvidence {
    PersonEvidence {
        address: person.address.clone(),
        verdict: match person.verdict {
            Verdict::NotClicked => PersonVerdict::Received,
            Verdict::Clicked => PersonVerdict::Clicked,
            Verdict::SubmittedCredentials => PersonVerdict::SubmittedCredentials,
        },
        recipient: person.recipient,
        evidence: person.evidence.iter().map(evidence_json).collect(),
    }
}

fn evidence_json(evidence: &Evidence) -> Value {
    json!({
        "kind": evidence.kind,
        "source": evidence.source,
        "line": evidence.line,
        "time": evidence.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "raw": evidence.raw,
    })
}

fn excluded_json(entry: &ExcludedEntry) -> Value {
    serde_json::to_value(entry).unwrap_or(Value::Null)
}

fn defect_json(defect: &LogDefect) -> Value {
    json!({ "line": defect.line, "reason": defect.reason })
}

/// Keeps the notifier's wake-up of the containment worker in one place.
pub(crate) fn wake(worker: &Arc<tokio::sync::Notify>, queued: bool) {
    if queued {
        worker.notify_one();
    }
}
