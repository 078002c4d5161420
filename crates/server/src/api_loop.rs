//! The API of the loop's later stages: a case's actions, approving and
//! undoing them, the outbox, and the block-list feeds.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};

use crate::api::{path_id, query_of};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use phishloop_response::BlockKind;
use phishloop_store::{Action, OutboxFilter, OutboxMessage, OutboxStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::AppState;
use crate::auth::{Caller, Permission};
use crate::block_feed::render_feed;
use crate::error::{ErrorBody, ServiceError};

/// Most messages one outbox request returns.
const OUTBOX_LIMIT: u32 = 1_000;

/// A planned action and its outcome.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActionView {
    pub id: Uuid,
    pub case_id: Uuid,
    /// Such as `block_url`, `purge_copies`, `dismiss_with_thanks`.
    pub kind: String,
    /// The target, such as `{"type": "url", "url": "..."}`.
    #[schema(value_type = Object)]
    pub target: Value,
    /// `auto` or `approve`.
    pub mode: String,
    pub connector: String,
    pub playbook: String,
    pub reversible: bool,
    /// The reason the mode differs from the playbook step's, when it does.
    pub note: Option<String>,
    pub idempotency_key: String,
    /// `planned`, `awaiting_approval`, `approved`, `running`, `succeeded`, `failed`, `skipped`, `undone`, or
    /// `rejected` when a person declined it in the web interface.
    pub status: String,
    /// The connector's last outcome: operation, status, details, dry_run, attempts.
    #[schema(value_type = Option<Object>)]
    pub outcome: Option<Value>,
    /// The name of the token, or of the web account, that approved the action.
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Action> for ActionView {
    fn from(action: Action) -> Self {
        Self {
            id: action.id,
            case_id: action.case_id,
            kind: action.kind,
            target: action.target,
            mode: action.mode.as_str().to_owned(),
            connector: action.connector,
            playbook: action.playbook,
            reversible: action.reversible,
            note: action.note,
            idempotency_key: action.idempotency_key,
            status: action.status.as_str().to_owned(),
            outcome: action.outcome,
            approved_by: action.approved_by,
            approved_at: action.approved_at,
            created_at: action.created_at,
            finished_at: action.finished_at,
        }
    }
}

/// A message to a person in the outbox.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OutboxMessageView {
    pub id: Uuid,
    /// `acknowledgement`, `outcome` or `lesson`.
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub text: String,
    /// HTML with every value escaped and no live links.
    pub html: String,
    pub case_id: Option<Uuid>,
    pub report_id: Option<Uuid>,
    /// `queued`, `sent`, or `failed` when delivery gave up.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<OutboxMessage> for OutboxMessageView {
    fn from(message: OutboxMessage) -> Self {
        Self {
            id: message.id,
            kind: message.kind.as_str().to_owned(),
            recipient: message.recipient,
            subject: message.subject,
            text: message.text,
            html: message.html,
            case_id: message.case_id,
            report_id: message.report_id,
            status: message.status.as_str().to_owned(),
            created_at: message.created_at,
            sent_at: message.sent_at,
        }
    }
}

/// Read the actions of a case, in the order they were planned.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{id}/actions",
    params(("id" = Uuid, Path, description = "Case id")),
    responses(
        (status = 200, description = "Success", body = Vec<ActionView>),
        (status = 400, description = "The id is not a valid UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
    )
)]
pub(crate) async fn list_case_actions(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<Vec<ActionView>>, ServiceError> {
    state.auth.authorize(&headers, Permission::ReadActions).await?;
    let id = path_id(path)?;
    if state.store.get_case(id).await?.is_none() {
        return Err(ServiceError::NotFound { what: "case", id });
    }
    let actions = state.store.actions_for_case(id).await?;
    Ok(Json(actions.into_iter().map(ActionView::from).collect()))
}

/// Reads the action id of the path and checks that the caller may decide
/// on that action: `permission`, and the identity role for identity
/// actions.
async fn deciding_caller(
    state: &AppState,
    headers: &HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
    permission: Permission,
) -> Result<(Uuid, Caller), ServiceError> {
    let caller = state.auth.authorize(headers, permission).await?;
    let id = path_id(path)?;
    crate::identity::api::check_identity_approval(&state.store, &caller, id).await?;
    Ok((id, caller))
}

/// Approve an action that awaits approval and carry it out at once. The
/// response shows the action after its connector ran.
#[utoipa::path(
    post,
    path = "/api/v1/actions/{id}/approve",
    params(("id" = Uuid, Path, description = "Action id")),
    responses(
        (status = 200, description = "Success", body = ActionView),
        (status = 400, description = "The id is not a valid UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
        (status = 409, description = "The action does not await approval", body = ErrorBody),
    )
)]
pub(crate) async fn approve_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<ActionView>, ServiceError> {
    let (id, caller) = deciding_caller(&state, &headers, path, Permission::ApproveAction).await?;
    let action = state.responder.approve(id, &caller.name).await?;
    Ok(Json(action.into()))
}

/// Carry a failed action out again. Each system of the `identity`
/// connector that already succeeded for it is not called again while the
/// service runs. Retrying needs the role that approves the action.
#[utoipa::path(
    post,
    path = "/api/v1/actions/{id}/retry",
    params(("id" = Uuid, Path, description = "Action id")),
    responses(
        (status = 200, description = "Success", body = ActionView),
        (status = 400, description = "The id is not a valid UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
        (status = 409, description = "The action has not failed", body = ErrorBody),
    )
)]
pub(crate) async fn retry_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<ActionView>, ServiceError> {
    let (id, caller) = deciding_caller(&state, &headers, path, Permission::ApproveAction).await?;
    let action = state.responder.retry(id, &caller.name).await?;
    Ok(Json(action.into()))
}

/// Undo a succeeded, reversible action through its connector; a block-list
/// entry leaves the feeds.
#[utoipa::path(
    post,
    path = "/api/v1/actions/{id}/undo",
    params(("id" = Uuid, Path, description = "Action id")),
    responses(
        (status = 200, description = "Success", body = ActionView),
        (status = 400, description = "The id is not a valid UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
        (status = 409, description = "The action has not succeeded, or its connector cannot undo it", body = ErrorBody),
    )
)]
pub(crate) async fn undo_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<ActionView>, ServiceError> {
    let (id, caller) = deciding_caller(&state, &headers, path, Permission::UndoAction).await?;
    let action = state.responder.undo(id, &caller.name).await?;
    Ok(Json(action.into()))
}

/// Filters of the outbox listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// `queued`, `sent` or `failed`.
    pub status: Option<String>,
    /// A case id: its messages and those of its reports.
    pub case: Option<Uuid>,
}

/// Read the messages to people, oldest first, at most 1000.
#[utoipa::path(
    get,
    path = "/api/v1/outbox",
    params(OutboxQuery),
    responses(
        (status = 200, description = "Success", body = Vec<OutboxMessageView>),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = ErrorBody),
    )
)]
pub(crate) async fn list_outbox(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<OutboxQuery>, QueryRejection>,
) -> Result<Json<Vec<OutboxMessageView>>, ServiceError> {
    state.auth.authorize(&headers, Permission::ReadOutbox).await?;
    let query = query_of(query, "the parameters are status (queued, sent or failed) and case (a case id, a UUID)")?;
    let status =
        match query.status.as_deref() {
            None => None,
            Some(text) => Some(text.parse::<OutboxStatus>().map_err(|_| {
                ServiceError::BadRequest(format!("invalid status {text:?}: use queued, sent or failed"))
            })?),
        };
    let filter = OutboxFilter { status, kind: None, case_id: query.case, limit: OUTBOX_LIMIT };
    let messages = state.store.outbox_messages(&filter).await?;
    Ok(Json(messages.into_iter().map(OutboxMessageView::from).collect()))
}

/// The blocked URLs as plain text, one per line after `#` comment lines,
/// for proxies and firewalls to poll. No token, so that such devices can
/// read it; it lists only what phishloop blocks.
#[utoipa::path(
    get,
    path = "/feeds/urls.txt",
    security(()),
    responses((status = 200, description = "The URL feed", body = String, content_type = "text/plain"))
)]
pub(crate) async fn url_feed(State(state): State<AppState>) -> Result<Response, ServiceError> {
    feed(&state, BlockKind::Url).await
}

/// The blocked domains as plain text, one per line after `#` comment
/// lines. No token, like the URL feed.
#[utoipa::path(
    get,
    path = "/feeds/domains.txt",
    security(()),
    responses((status = 200, description = "The domain feed", body = String, content_type = "text/plain"))
)]
pub(crate) async fn domain_feed(State(state): State<AppState>) -> Result<Response, ServiceError> {
    feed(&state, BlockKind::Domain).await
}

async fn feed(state: &AppState, kind: BlockKind) -> Result<Response, ServiceError> {
    let text = render_feed(&state.store, kind).await?;
    Ok(([(CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}
