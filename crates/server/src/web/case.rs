//! The case page and what people do on it: approve, reject and undo
//! actions, and correct the verdict.
//!
//! A correction is stored with who and why and appended to the event
//! chain (`Store::correct_verdict`). The loop then runs again for the new
//! decision: the playbooks plan what the new verdict calls for, which the
//! action idempotency keys keep from planning anything twice, and lessons
//! are queued when the new verdict deserves them. Actions carried out for
//! the old verdict stay as they are; undo them on this page where needed.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, Redirect};
use minijinja::context;
use phishloop_model::Decision;
use phishloop_store::{Action, ActionStatus, EventSubject, NewCorrection, OutboxFilter, Report};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::form_of;
use super::identity::identity_section;
use super::indicators::{Indicators, decision_view};
use super::message::load_shown;
use super::roles::Permission;
use super::templates::render;
use super::view::{PageUser, category_names, time, time_seconds, verdict_names};
use super::{Signed, WebError, WebState};
use crate::api::path_id;

/// Messages to people shown on a case page.
const OUTBOX_ROWS: u32 = 200;

#[derive(Debug, Deserialize)]
pub(crate) struct CaseQuery {
    /// The result of the last form, for a notice at the top of the page.
    done: Option<String>,
}

/// Returns the notice for a `done` value a form redirect sets.
fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "approved" => Some("The action was approved and handed to its connector; its status shows the outcome."),
        "approved-dry-run" => Some(
            "The action was approved. Its connector is log, a dry run: it recorded what it would do and changed nothing.",
        ),
        "rejected" => Some("The action was rejected and will not run."),
        "undone" => Some("The action was undone."),
        "retried" => Some("The action was tried again; its status shows the new outcome."),
        "verdict" => Some("The verdict was changed and recorded; the actions for the new verdict are planned."),
        "verdict-replan-failed" => {
            Some("The verdict was changed and recorded, but planning actions for it failed; the server log says why.")
        }
        _ => None,
    }
}

pub(crate) async fn case_page(
    State(state): State<WebState>,
    signed: Signed,
    path: Result<Path<Uuid>, PathRejection>,
    Query(query): Query<CaseQuery>,
) -> Result<Html<String>, WebError> {
    signed.require(Permission::ReadCases)?;
    let case_id = path_id(path)?;
    let store = state.store();
    let detail =
        store.get_case(case_id).await?.ok_or_else(|| WebError::NotFound(format!("case {case_id} not found")))?;
    let campaign_id = store.campaign_of_case(case_id).await?;
    let actions = store.actions_for_case(case_id).await?;
    let corrections = store.corrections_for_case(case_id).await?;
    // The messages to people quote the lure and name people; the identity
    // role does not read them (see roles.rs), here as on /coaching.
    let may_read_outbox = Permission::ReadOutbox.allowed(signed.user.role);
    let outbox = if may_read_outbox {
        store
            .outbox_messages(&OutboxFilter { case_id: Some(case_id), limit: OUTBOX_ROWS, ..OutboxFilter::default() })
            .await?
    } else {
        Vec::new()
    };
    let timeline = timeline(&state, case_id, &detail.reports).await?;
    let identity = identity_section(&state, case_id).await?;
    let shown = load_shown(&state, case_id, None).await?;
    let subject = shown.headers.iter().find(|(name, _)| name == "Subject").map(|(_, value)| value.clone());

    let decided = detail.reports.iter().rev().find(|report| report.decision.is_some());
    let analysed = detail.reports.iter().rev().find_map(|report| report.analysis.as_ref());
    let role = signed.user.role;
    let page = render(
        "case.html",
        context! {
            user => PageUser::of(&signed),
            notice => notice(query.done.as_deref()),
            case_id => case_id.to_string(),
            created => time(detail.case.created_at),
            campaign_id => campaign_id.map(|id| id.to_string()),
            decision => decided.and_then(|report| report.decision.as_ref()).map(decision_view),
            indicators => analysed.map(Indicators::from_analysis),
            subject,
            message => shown,
            reporters => reporter_rows(&detail.reporters, &detail.reports),
            actions => actions.iter().map(|action| ActionRow::new(action, role)).collect::<Vec<_>>(),
            corrections => corrections.iter().map(|correction| context! {
                time => time(correction.created_at),
                by => &correction.corrected_by,
                before => format!("{} / {}", correction.verdict_before.as_deref().unwrap_or("none"),
                    correction.category_before.as_deref().unwrap_or("none")),
                after => format!("{} / {}", correction.verdict, correction.category),
                reason => &correction.reason,
            }).collect::<Vec<_>>(),
            can_correct => Permission::CorrectVerdict.allowed(role) && decided.is_some(),
            verdicts => verdict_names(),
            categories => category_names(),
            identity,
            may_read_outbox,
            timeline,
            outbox => outbox.iter().map(|message| context! {
                kind => message.kind.as_str(),
                recipient => &message.recipient,
                subject => &message.subject,
                status => message.status.as_str(),
                created => time(message.created_at),
                text => &message.text,
            }).collect::<Vec<_>>(),
        },
    )?;
    Ok(Html(page))
}

/// A reporter of the case with their comments.
#[derive(Debug, Serialize)]
struct ReporterRow {
    address: String,
    first_reported: String,
    reports: usize,
    comments: Vec<String>,
}

fn reporter_rows(reporters: &[phishloop_store::Reporter], reports: &[Report]) -> Vec<ReporterRow> {
    reporters
        .iter()
        .map(|reporter| ReporterRow {
            address: reporter.address.clone(),
            first_reported: time(reporter.first_reported_at),
            reports: reporter.report_count,
            comments: reports
                .iter()
                .filter(|report| report.reporter.eq_ignore_ascii_case(&reporter.address))
                .filter_map(|report| report.comment.clone())
                .filter(|comment| !comment.trim().is_empty())
                .collect(),
        })
        .collect()
}

/// An action as its table row shows it.
#[derive(Debug, Serialize)]
struct ActionRow {
    id: String,
    kind: String,
    target: String,
    mode: String,
    connector: String,
    playbook: String,
    status: String,
    outcome: String,
    dry_run: bool,
    approved_by: Option<String>,
    approved_at: Option<String>,
    finished: Option<String>,
    note: Option<String>,
    /// The role may approve, reject and undo this kind.
    may_decide: bool,
    awaiting: bool,
    undoable: bool,
    /// The action failed and can be carried out again.
    retryable: bool,
}

impl ActionRow {
    fn new(action: &Action, role: phishloop_store::UserRole) -> Self {
        let outcome = action.outcome.as_ref();
        let detail = |key: &str| outcome.and_then(|outcome| outcome.get(key)).and_then(|value| value.as_str());
        Self {
            id: action.id.to_string(),
            kind: action.kind.clone(),
            target: target_text(&action.target),
            mode: action.mode.as_str().to_owned(),
            connector: action.connector.clone(),
            playbook: action.playbook.clone(),
            status: action.status.as_str().to_owned(),
            outcome: phishloop_coaching::defang_links_in(detail("details").unwrap_or_default()),
            dry_run: outcome.and_then(|outcome| outcome.get("dry_run")).and_then(|value| value.as_bool()) == Some(true),
            approved_by: action.approved_by.clone(),
            approved_at: action.approved_at.map(time),
            finished: action.finished_at.map(time),
            note: action.note.clone(),
            may_decide: Permission::to_decide(&action.kind).allowed(role),
            awaiting: action.status == ActionStatus::AwaitingApproval,
            undoable: action.status == ActionStatus::Succeeded && action.reversible,
            retryable: action.status == ActionStatus::Failed,
        }
    }
}

/// Writes an action target such as `{"type": "url", "url": "..."}` as
/// defanged text.
fn target_text(target: &serde_json::Value) -> String {
    let Some(fields) = target.as_object() else {
        return phishloop_coaching::defang_text(&target.to_string());
    };
    let values: Vec<String> = fields
        .iter()
        .filter(|(key, _)| key.as_str() != "type")
        .map(|(key, value)| match value.as_str() {
            Some(text) => format!("{key}: {}", phishloop_coaching::defang_text(text)),
            None => format!("{key}: {}", phishloop_coaching::defang_text(&value.to_string())),
        })
        .collect();
    let kind = fields.get("type").and_then(|kind| kind.as_str()).unwrap_or("target");
    format!("{kind} ({})", values.join(", "))
}

/// One event of the timeline.
#[derive(Debug, Serialize)]
struct EventRow {
    seq: u64,
    time: String,
    subject: String,
    kind: String,
    details: String,
    hash: String,
}

/// Returns the events of the case and its reports in chain order.
async fn timeline(state: &WebState, case_id: Uuid, reports: &[Report]) -> Result<Vec<EventRow>, WebError> {
    let store = state.store();
    let mut events = store.events_for(EventSubject::Case(case_id)).await?;
    for report in reports {
        events.extend(store.events_for(EventSubject::Report(report.id)).await?);
    }
    events.sort_by_key(|event| event.seq);
    Ok(events
        .into_iter()
        .map(|event| EventRow {
            seq: event.seq,
            time: time_seconds(event.created_at),
            subject: match event.subject {
                EventSubject::Case(_) => "case".to_owned(),
                EventSubject::Report(id) => format!("report {}", short_id(id)),
            },
            kind: event.kind,
            details: payload_text(&event.payload),
            hash: event.hash.as_str().chars().take(12).collect(),
        })
        .collect())
}

fn short_id(id: Uuid) -> String {
    id.simple().to_string().chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect()
}

/// Writes an event payload as `key: value` pairs, values cut to 200
/// characters and defanged, because they may quote the message.
fn payload_text(payload: &serde_json::Value) -> String {
    let Some(fields) = payload.as_object() else {
        return String::new();
    };
    fields
        .iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(key, value)| {
            let text = match value.as_str() {
                Some(text) => text.to_owned(),
                None => value.to_string(),
            };
            let cut: String = text.chars().take(200).collect();
            format!("{key}: {}", phishloop_coaching::defang_text(&cut))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Deserialize)]
pub(crate) struct ActionForm {
    csrf: String,
    /// The reason for rejecting an action.
    #[serde(default)]
    reason: String,
}

/// Reads an action form, checks its CSRF token and origin, loads the action
/// and checks that the signed-in role may decide on its kind.
async fn decidable_action(
    state: &WebState,
    signed: &Signed,
    headers: &HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<(Action, ActionForm), WebError> {
    let form = form_of(form)?;
    signed.check_form(headers, &form.csrf)?;
    let action_id = path_id(path)?;
    let action = state
        .store()
        .get_action(action_id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("action {action_id} not found")))?;
    signed.require(Permission::to_decide(&action.kind))?;
    Ok((action, form))
}

fn back_to_case(case_id: Uuid, done: &str) -> Redirect {
    Redirect::to(&format!("/cases/{case_id}?done={done}#actions"))
}

pub(crate) async fn approve_action(
    State(state): State<WebState>,
    signed: Signed,
    headers: HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Redirect, WebError> {
    let (action, _) = decidable_action(&state, &signed, &headers, path, form).await?;
    state.app.responder.approve(action.id, &signed.user.name).await?;
    let done = if action.connector == "log" { "approved-dry-run" } else { "approved" };
    Ok(back_to_case(action.case_id, done))
}

pub(crate) async fn reject_action(
    State(state): State<WebState>,
    signed: Signed,
    headers: HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Redirect, WebError> {
    let (action, form) = decidable_action(&state, &signed, &headers, path, form).await?;
    if form.reason.trim().is_empty() {
        return Err(WebError::BadRequest("say why the action is rejected: the reason is empty".to_owned()));
    }
    state.store().reject_action(action.id, &signed.user.name, form.reason.trim()).await?;
    tracing::info!(case_id = %action.case_id, action_id = %action.id, user = %signed.user.name, "action rejected");
    Ok(back_to_case(action.case_id, "rejected"))
}

pub(crate) async fn retry_action(
    State(state): State<WebState>,
    signed: Signed,
    headers: HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Redirect, WebError> {
    let (action, _) = decidable_action(&state, &signed, &headers, path, form).await?;
    state.app.responder.retry(action.id, &signed.user.name).await?;
    Ok(back_to_case(action.case_id, "retried"))
}

pub(crate) async fn undo_action(
    State(state): State<WebState>,
    signed: Signed,
    headers: HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Redirect, WebError> {
    let (action, _) = decidable_action(&state, &signed, &headers, path, form).await?;
    state.app.responder.undo(action.id, &signed.user.name).await?;
    Ok(back_to_case(action.case_id, "undone"))
}

#[derive(Deserialize)]
pub(crate) struct VerdictForm {
    csrf: String,
    verdict: String,
    category: String,
    reason: String,
}

pub(crate) async fn correct_verdict(
    State(state): State<WebState>,
    signed: Signed,
    headers: HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<VerdictForm>, FormRejection>,
) -> Result<Redirect, WebError> {
    let form = form_of(form)?;
    signed.check_form(&headers, &form.csrf)?;
    signed.require(Permission::CorrectVerdict)?;
    let case_id = path_id(path)?;
    for (field, value, allowed) in
        [("verdict", &form.verdict, verdict_names()), ("category", &form.category, category_names())]
    {
        if !allowed.contains(value) {
            return Err(WebError::BadRequest(format!("invalid {field} {value:?}: use one of {}", allowed.join(", "))));
        }
    }
    if form.reason.trim().is_empty() {
        return Err(WebError::BadRequest("say why the verdict changes: the reason is empty".to_owned()));
    }

    let correction = NewCorrection {
        case_id,
        verdict: form.verdict.clone(),
        category: form.category.clone(),
        corrected_by: signed.user.name.clone(),
        reason: form.reason.trim().to_owned(),
    };
    let recorded = state.store().correct_verdict(&correction).await?;
    tracing::info!(%case_id, user = %signed.user.name, verdict = %form.verdict, category = %form.category, "verdict corrected");

    let done = match run_loop_again(&state, case_id).await {
        Ok(()) => "verdict",
        Err(error) => {
            tracing::warn!(%case_id, correction_id = %recorded.correction.id, ?error, "planning actions after the correction failed");
            "verdict-replan-failed"
        }
    };
    Ok(Redirect::to(&format!("/cases/{case_id}?done={done}#decision")))
}

/// Plans and carries out the actions of the corrected decision and queues
/// the lessons it calls for, from the case's latest decided report.
async fn run_loop_again(state: &WebState, case_id: Uuid) -> Result<(), WebError> {
    let store = state.store();
    let detail =
        store.get_case(case_id).await?.ok_or_else(|| WebError::NotFound(format!("case {case_id} not found")))?;
    let Some(report) = detail.reports.iter().rev().find(|report| report.decision.is_some()) else {
        return Ok(());
    };
    let decision: Decision = serde_json::from_value(report.decision.clone().unwrap_or_default()).map_err(|error| {
        WebError::BadRequest(format!("the stored decision of report {} cannot be read: {error}", report.id))
    })?;
    let raw = store.get_raw(&report.raw_sha256).await?.unwrap_or_default();
    let pipeline = std::sync::Arc::clone(&state.app.pipeline);
    let (sha256, max_payload) = (report.raw_sha256.to_string(), store.config().max_payload_bytes);
    let outcome = tokio::task::spawn_blocking(move || pipeline.process(&raw, &sha256, max_payload))
        .await
        .map_err(crate::error::ServiceError::from)?;

    let message = outcome.message.as_ref();
    let responded = state.app.responder.respond(report, case_id, &decision, message).await?;
    state.app.notifier.tell(report, case_id, &decision, message, &responded, true).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_written_defanged() {
        let target = serde_json::json!({ "type": "url", "url": "https://login.lure.test/a" });

        assert_eq!(target_text(&target), "url (url: hxxps://login[.]lure[.]test/a)");
    }

    #[test]
    fn payload_values_cut_and_defanged() {
        let payload = serde_json::json!({ "subject": "Visit www.lure.test", "empty": null, "count": 2 });

        let text = payload_text(&payload);

        assert!(text.contains("subject: Visit www[.]lure[.]test"), "{text}");
        assert!(text.contains("count: 2"), "{text}");
        assert!(!text.contains("empty"), "{text}");
    }

    #[test]
    fn unknown_notice_ignored() {
        assert!(notice(Some("approved")).is_some());
        assert!(notice(Some("approved-dry-run")).is_some_and(|text| text.contains("dry run")));
        assert!(notice(Some("<script>")).is_none());
    }
}
