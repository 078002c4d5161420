//! The HTTP API: routes, request handling and the OpenAPI document.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use phishloop_store::{CaseDetail, Event, EventSubject, Job, Report, ReportSource, Store, TokenRole};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Authenticator, Caller, Permission};
use crate::error::{ErrorBody, ServiceError};
use crate::intake::{self, Submission};
use crate::metrics::{MetricsSnapshot, Prometheus};
use crate::pipeline::Pipeline;

/// State shared by every handler.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Store,
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) responder: Arc<crate::respond::Responder>,
    pub(crate) notifier: Arc<crate::notify::Notifier>,
    pub(crate) auth: Authenticator,
    pub(crate) prometheus: Arc<Prometheus>,
    /// Wakes one idle worker of this process when a report is queued.
    pub(crate) jobs_queued: Arc<tokio::sync::Notify>,
    /// The `[identity]` table's connectors, inventory and click settings.
    pub(crate) identity: Arc<crate::identity::IdentityParts>,
    /// Wakes the containment worker of this process when a click import queues a job.
    pub(crate) contain_wake: Arc<tokio::sync::Notify>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "phishloop", description = "Reports of suspicious email, their decisions, cases, actions, messages to people and metrics."),
    modifiers(&BearerSecurity),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Builds the router with every route; `body_limit` is the largest request
/// body read, in bytes.
pub(crate) fn router(state: AppState, body_limit: usize) -> axum::Router {
    let (api, document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(submit_report))
        .routes(routes!(get_report))
        .routes(routes!(get_case))
        .routes(routes!(get_timeline))
        .routes(routes!(get_campaign))
        .routes(routes!(get_metrics))
        .routes(routes!(crate::api_loop::list_case_actions))
        .routes(routes!(crate::api_loop::approve_action))
        .routes(routes!(crate::api_loop::undo_action))
        .routes(routes!(crate::api_loop::retry_action))
        .routes(routes!(crate::api_loop::list_outbox))
        .routes(routes!(crate::api_loop::url_feed))
        .routes(routes!(crate::api_loop::domain_feed))
        .routes(routes!(crate::identity::api::import_clicks))
        .routes(routes!(crate::identity::api::get_case_identity))
        .routes(routes!(crate::identity::api::get_campaign_identity))
        .routes(routes!(prometheus_metrics))
        .routes(routes!(healthz))
        .split_for_parts();
    let document = Arc::new(document);

    api.route(
        "/api/v1/openapi.json",
        axum::routing::get(move |State(state): State<AppState>, headers: HeaderMap| {
            let document = Arc::clone(&document);
            async move {
                state.auth.authorize(&headers, Permission::ReadApiDocument).await?;
                Ok::<_, ServiceError>(Json(document.as_ref().clone()))
            }
        }),
    )
    .fallback(unknown_route)
    .layer(axum::extract::DefaultBodyLimit::max(body_limit))
    .with_state(state)
}

/// Returns a JSON 404 for a request whose path no route serves.
async fn unknown_route(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let error = format!("no route for {method} {}; /api/v1/openapi.json lists the routes", uri.path());
    (StatusCode::NOT_FOUND, Json(crate::error::ErrorBody { code: "not_found", error })).into_response()
}

/// Returns the id of a path like `/api/v1/reports/{id}`, or a JSON 400
/// naming the bad value instead of axum's plain-text rejection.
pub(crate) fn path_id(path: Result<Path<Uuid>, PathRejection>) -> Result<Uuid, ServiceError> {
    match path {
        Ok(Path(id)) => Ok(id),
        Err(rejection) => {
            let reason = rejection.body_text();
            let reason = reason.strip_prefix("Invalid URL: ").unwrap_or(&reason);
            Err(ServiceError::BadRequest(format!(
                "invalid id in the path: {reason}; ids are UUIDs such as 01a24410-758a-7576-81a8-4d65fdd4d385"
            )))
        }
    }
}

/// Reads a query string. A query that does not parse gets a 400 in the
/// API's JSON error form, with the parser's reason and `parameters`, the
/// list of what the route takes, because axum's own rejection is plain
/// text.
pub(crate) fn query_of<T>(query: Result<Query<T>, QueryRejection>, parameters: &str) -> Result<T, ServiceError> {
    match query {
        Ok(Query(query)) => Ok(query),
        Err(rejection) => {
            let reason = rejection.body_text();
            let reason = reason.strip_prefix("Failed to deserialize query string: ").unwrap_or(&reason);
            Err(ServiceError::BadRequest(format!("invalid query string: {reason}; {parameters}")))
        }
    }
}

/// The response to an accepted report.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AcceptedReport {
    pub report_id: Uuid,
    /// The analysis job of the report.
    pub job_id: Uuid,
    pub status: String,
    /// The URL of the report's status and decision.
    pub status_url: String,
}

/// Reporter and comment for a `message/rfc822` submission; a multipart
/// submission sends them as form fields.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SubmitQuery {
    /// The reporter's address; without it, the sender of a report wrapper.
    pub reporter: Option<String>,
    /// The reporter's own words.
    pub comment: Option<String>,
    /// `api` (default) or `cli`: the channel to record.
    pub source: Option<String>,
}

/// The multipart form of a report, as `POST /api/v1/reports` reads it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct SubmitForm {
    /// The reported message file (.eml or .msg).
    #[schema(value_type = String, format = Binary)]
    message: Vec<u8>,
    /// The reporter's address.
    reporter: Option<String>,
    /// The reporter's comment.
    comment: Option<String>,
}

/// Submit a reported message for analysis.
#[utoipa::path(
    post,
    path = "/api/v1/reports",
    params(SubmitQuery),
    request_body(
        description = "The raw message, or a form with the message file and optional reporter and comment.",
        content((String = "message/rfc822"), (SubmitForm = "multipart/form-data"))
    ),
    responses(
        (status = 202, description = "Stored and queued for analysis", body = AcceptedReport),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 413, description = "Message larger than server.max_message_bytes", body = ErrorBody),
        (status = 415, description = "Unsupported content type", body = ErrorBody),
    )
)]
async fn submit_report(
    State(state): State<AppState>,
    query: Result<Query<SubmitQuery>, QueryRejection>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ServiceError> {
    let caller = state.auth.authorize(&headers, Permission::SubmitReport).await?;
    let result = submit_as(&state, &caller, query, headers, request).await;
    if let Err(error) = &result
        && error.status_and_code().0 == StatusCode::PAYLOAD_TOO_LARGE
    {
        // The service did not take this report, so the operator may need to
        // raise the limit or ask the caller for the message another way.
        tracing::warn!(token_name = %caller.name, error = %error, "report rejected as too large");
    }
    result
}

async fn submit_as(
    state: &AppState,
    caller: &Caller,
    query: Result<Query<SubmitQuery>, QueryRejection>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ServiceError> {
    let query = query_of(query, "the parameters are reporter, comment and source (api or cli)")?;
    let source = match query.source.as_deref() {
        None | Some("api") => ReportSource::Api,
        Some("cli") => ReportSource::Cli,
        Some(other) => return Err(ServiceError::BadRequest(format!("invalid source {other:?}: use api or cli"))),
    };
    let content_type = headers.get(CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let limit = state.store.config().max_message_bytes;

    let submission = match media_type.as_str() {
        "message/rfc822" | "application/octet-stream" => {
            let body = Bytes::from_request(request, state).await.map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ServiceError::BodyTooLarge { limit }
                } else {
                    ServiceError::BadRequest(format!("cannot read the request body: {rejection}"))
                }
            })?;
            Submission {
                message: body.to_vec(),
                reporter: query.reporter,
                comment: query.comment,
                source,
                source_key: None,
            }
        }
        "multipart/form-data" => {
            let multipart = Multipart::from_request(request, state)
                .await
                .map_err(|rejection| ServiceError::BadRequest(format!("invalid multipart request: {rejection}")))?;
            read_multipart(multipart, source, limit).await?
        }
        _ => return Err(ServiceError::UnsupportedMediaType(content_type)),
    };

    let accepted = intake::submit_acknowledged(&state.store, &state.pipeline, &state.notifier, submission).await?;
    state.jobs_queued.notify_one();
    tracing::debug!(report_id = %accepted.report.id, token_name = %caller.name, "report accepted");
    let status_url = format!("/api/v1/reports/{}", accepted.report.id);
    let body = AcceptedReport {
        report_id: accepted.report.id,
        job_id: accepted.job_id,
        status: accepted.report.status.as_str().to_owned(),
        status_url: status_url.clone(),
    };
    Ok((StatusCode::ACCEPTED, [(LOCATION, status_url)], Json(body)).into_response())
}

async fn read_multipart(
    mut multipart: Multipart,
    source: ReportSource,
    limit: usize,
) -> Result<Submission, ServiceError> {
    let mut submission = Submission { message: Vec::new(), reporter: None, comment: None, source, source_key: None };
    let mut has_message = false;
    loop {
        let field =
            multipart.next_field().await.map_err(|error| multipart_error(&error.to_string(), error.status(), limit))?;
        let Some(field) = field else {
            break;
        };
        let name = field.name().unwrap_or("").to_owned();
        let bytes = field.bytes().await.map_err(|error| multipart_error(&error.to_string(), error.status(), limit))?;
        let repeated = match name.as_str() {
            "message" => has_message,
            "reporter" => submission.reporter.is_some(),
            "comment" => submission.comment.is_some(),
            _ => false,
        };
        if repeated {
            return Err(ServiceError::BadRequest(format!(
                "form field {name:?} appears twice: send one message per request, each with at most one `reporter` \
                 and `comment`"
            )));
        }
        match name.as_str() {
            "message" => {
                submission.message = bytes.to_vec();
                has_message = true;
            }
            "reporter" => submission.reporter = Some(text_field("reporter", &bytes)?),
            "comment" => submission.comment = Some(text_field("comment", &bytes)?),
            other => {
                return Err(ServiceError::BadRequest(format!(
                    "unknown form field {other:?}: send `message`, `reporter` and `comment`"
                )));
            }
        }
    }
    if !has_message {
        return Err(ServiceError::BadRequest(
            "the form has no `message` part: attach the reported message as `message`".to_owned(),
        ));
    }
    Ok(submission)
}

fn multipart_error(text: &str, status: StatusCode, limit: usize) -> ServiceError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ServiceError::BodyTooLarge { limit };
    }
    ServiceError::BadRequest(format!("invalid multipart request: {text}"))
}

fn text_field(name: &str, bytes: &[u8]) -> Result<String, ServiceError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ServiceError::BadRequest(format!("form field {name:?} is not valid UTF-8")))
}

/// A report with its decision and the state of its analysis job.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReportView {
    pub id: Uuid,
    pub received_at: DateTime<Utc>,
    pub reporter: String,
    pub comment: Option<String>,
    pub source: String,
    pub raw_sha256: String,
    /// `received`, `analysed`, `needs_review`, `decided` or `closed`.
    pub status: String,
    /// The triage decision: verdict, category, confidence, evidence.
    #[schema(value_type = Option<Object>)]
    pub decision: Option<Value>,
    pub case_id: Option<Uuid>,
    /// When the `decided` event was written.
    pub decided_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The analysis job; shows `dead` with the last error when analysis kept failing.
    pub job: Option<JobView>,
}

/// The state of an analysis job.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: Uuid,
    /// `queued`, `running`, `done` or `dead`.
    pub status: String,
    pub attempts: u32,
    pub max_attempts: u32,
    pub last_error: Option<String>,
}

impl ReportView {
    /// Keeps what a report button shows its user (status, verdict,
    /// category, whether a person reviews it) and drops the evidence, the
    /// reporter's comment and the analysis job, which only analysts read.
    fn limit_to_status(&mut self) {
        self.decision = self.decision.take().map(|decision| {
            json!({
                "verdict": decision.get("verdict"),
                "category": decision.get("category"),
                "needs_review": decision.get("needs_review"),
            })
        });
        self.comment = None;
        self.job = None;
    }

    fn new(report: Report, events: &[Event], job: Option<Job>) -> Self {
        let decided_at = events.iter().find(|event| event.kind == "decided").map(|event| event.created_at);
        Self {
            id: report.id,
            received_at: report.received_at,
            reporter: report.reporter,
            comment: report.comment,
            source: report.source.as_str().to_owned(),
            raw_sha256: report.raw_sha256.to_string(),
            status: report.status.as_str().to_owned(),
            decision: report.decision,
            case_id: report.case_id,
            decided_at,
            updated_at: report.updated_at,
            job: job.map(|job| JobView {
                id: job.id,
                status: job.status.as_str().to_owned(),
                attempts: job.attempts,
                max_attempts: job.max_attempts,
                last_error: job.last_error,
            }),
        }
    }
}

/// Read a report: status, decision, case and analysis job.
#[utoipa::path(
    get,
    path = "/api/v1/reports/{id}",
    params(("id" = Uuid, Path, description = "Report id")),
    responses(
        (status = 200, description = "Success", body = ReportView),
        (status = 400, description = "The id is not a valid UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
    )
)]
async fn get_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<ReportView>, ServiceError> {
    let caller = state.auth.authorize(&headers, Permission::ReadReport).await?;
    let id = path_id(path)?;
    // The events are read before the report: the decision's events and the
    // report's case and status are committed in one transaction, so a
    // `decided` event seen here guarantees that the report read next has
    // its case. In the other order a decision committed between the two
    // reads gave a decided report without a case.
    let events = state.store.events_for(EventSubject::Report(id)).await?;
    let report = state.store.get_report(id).await?.ok_or(ServiceError::NotFound { what: "report", id })?;
    let job_id = events
        .iter()
        .find(|event| event.kind == "received")
        .and_then(|event| event.payload.get("job_id"))
        .and_then(|id| id.as_str())
        .and_then(|id| id.parse::<Uuid>().ok());
    let job = match job_id {
        Some(job_id) => state.store.get_job(job_id).await?,
        None => None,
    };
    let mut view = ReportView::new(report, &events, job);
    if caller.role == TokenRole::Reporter {
        view.limit_to_status();
    }
    Ok(Json(view))
}

/// A case: the reports of one original message and everyone who reported it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CaseView {
    pub id: Uuid,
    /// The key that groups reports of the same original: Message-ID and content fingerprint, or the raw SHA-256.
    pub join_key: String,
    pub created_at: DateTime<Utc>,
    /// The case's reports, oldest first.
    pub reports: Vec<ReportView>,
    /// Distinct reporters in the order of their first report.
    pub reporters: Vec<ReporterView>,
    /// The campaign the case belongs to, once its first report is analysed.
    pub campaign_id: Option<Uuid>,
}

/// A person who reported a case.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReporterView {
    pub address: String,
    pub first_reported_at: DateTime<Utc>,
    pub report_count: usize,
}

/// Read a case with its reports and reporters.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{id}",
    params(("id" = Uuid, Path, description = "Case id")),
    responses(
        (status = 200, description = "Success", body = CaseView),
        (status = 400, description = "The id is not a valid UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
    )
)]
async fn get_case(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<CaseView>, ServiceError> {
    state.auth.authorize(&headers, Permission::ReadCase).await?;
    let id = path_id(path)?;
    let CaseDetail { case, reports, reporters } =
        state.store.get_case(id).await?.ok_or(ServiceError::NotFound { what: "case", id })?;
    let campaign_id = state.store.campaign_of_case(id).await?;
    let decided: std::collections::HashMap<Uuid, DateTime<Utc>> =
        state.store.decided_times(id).await?.into_iter().collect();
    let reports = reports
        .into_iter()
        .map(|report| {
            let decided_at = decided.get(&report.id).copied();
            ReportView { decided_at, ..ReportView::new(report, &[], None) }
        })
        .collect();
    Ok(Json(CaseView {
        campaign_id,
        id: case.id,
        join_key: case.join_key,
        created_at: case.created_at,
        reports,
        reporters: reporters
            .into_iter()
            .map(|reporter| ReporterView {
                address: reporter.address,
                first_reported_at: reporter.first_reported_at,
                report_count: reporter.report_count,
            })
            .collect(),
    }))
}

/// A campaign: cases that share sender infrastructure, link targets,
/// attachments or near-duplicate text.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CampaignView {
    pub id: Uuid,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The campaign's cases, in the order they joined.
    pub cases: Vec<Uuid>,
    /// Distinct reporters over every report of every case.
    pub reporter_count: u64,
    /// Set when this campaign was merged into another: read that one instead.
    pub merged_into: Option<Uuid>,
    /// Campaigns merged into this one, oldest merge first.
    pub merged_from: Vec<Uuid>,
}

/// Read a campaign with its cases and reporter count.
#[utoipa::path(
    get,
    path = "/api/v1/campaigns/{id}",
    params(("id" = Uuid, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "Success", body = CampaignView),
        (status = 400, description = "The id is not a valid UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
    )
)]
async fn get_campaign(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<CampaignView>, ServiceError> {
    state.auth.authorize(&headers, Permission::ReadCase).await?;
    let id = path_id(path)?;
    let detail = state.store.get_campaign(id).await?.ok_or(ServiceError::NotFound { what: "campaign", id })?;
    Ok(Json(CampaignView {
        id: detail.campaign.id,
        first_seen_at: detail.campaign.first_seen_at,
        last_seen_at: detail.campaign.last_seen_at,
        cases: detail.cases,
        reporter_count: detail.reporter_count,
        merged_into: detail.campaign.merged_into,
        merged_from: detail.merged_from,
    }))
}

/// One event of a case timeline.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// Position in the store's event chain; timelines are in this order.
    pub seq: u64,
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// `case` or `report`.
    pub subject: String,
    pub subject_id: Uuid,
    /// Such as `received`, `analysed`, `decided`, `report_joined`, `analysis_failed`.
    pub kind: String,
    #[schema(value_type = Object)]
    pub payload: Value,
}

impl From<Event> for EventView {
    fn from(event: Event) -> Self {
        let (subject, subject_id) = match event.subject {
            EventSubject::Case(id) => ("case", id),
            EventSubject::Report(id) => ("report", id),
        };
        Self {
            seq: event.seq,
            id: event.id,
            created_at: event.created_at,
            subject: subject.to_owned(),
            subject_id,
            kind: event.kind,
            payload: event.payload,
        }
    }
}

/// Read the events of a case and of its reports, in order.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{id}/timeline",
    params(("id" = Uuid, Path, description = "Case id")),
    responses(
        (status = 200, description = "Success", body = Vec<EventView>),
        (status = 400, description = "The id is not a valid UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
    )
)]
async fn get_timeline(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<Vec<EventView>>, ServiceError> {
    state.auth.authorize(&headers, Permission::ReadCase).await?;
    let id = path_id(path)?;
    let detail = state.store.get_case(id).await?.ok_or(ServiceError::NotFound { what: "case", id })?;
    let mut events = state.store.events_for(EventSubject::Case(id)).await?;
    for report in &detail.reports {
        events.extend(state.store.events_for(EventSubject::Report(report.id)).await?);
    }
    events.sort_by_key(|event| event.seq);
    Ok(Json(events.into_iter().map(EventView::from).collect()))
}

/// Read the loop's figures.
#[utoipa::path(
    get,
    path = "/api/v1/metrics",
    responses(
        (status = 200, description = "Success", body = MetricsSnapshot),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = ErrorBody),
    )
)]
async fn get_metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<MetricsSnapshot>, ServiceError> {
    state.auth.authorize(&headers, Permission::ReadMetrics).await?;
    Ok(Json(crate::metrics::snapshot(&state.store).await?))
}

/// Renders the same figures in the Prometheus text format. It needs no
/// token, because scrapers rarely send one and the figures are counts without content.
#[utoipa::path(
    get,
    path = "/metrics",
    security(()),
    responses(
        (status = 200, description = "The loop's figures in the Prometheus text format", body = String,
            content_type = "text/plain"),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    )
)]
async fn prometheus_metrics(State(state): State<AppState>) -> Result<Response, ServiceError> {
    let snapshot = crate::metrics::snapshot(&state.store).await?;
    let text = state.prometheus.render(&snapshot);
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// Tells a load balancer or supervisor that the process serves requests.
/// It reads nothing and needs no token.
#[utoipa::path(
    get,
    path = "/healthz",
    security(()),
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain"))
)]
async fn healthz() -> &'static str {
    "ok"
}
