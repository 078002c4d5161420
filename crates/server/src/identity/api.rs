//! The identity routes: click imports and the identity blast radius of a
//! case or a campaign.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use phishloop_identity::NhiCredential;
use phishloop_store::{Action, ClickImport, IdentityPerson, PersonVerdict, Store, TokenRole};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::clicks::{ClickFormat, ClickImportSummary, Scope, import, parse, recipients_of, wake};
use super::{CaseContext, IdentityParts, is_identity_kind};
use crate::api::{AppState, path_id, query_of};
use crate::auth::{Caller, Permission};
use crate::error::{ErrorBody, ServiceError};

/// Excluded entries shown per import in the blast radius.
const EXCLUDED_SHOWN: usize = 50;

/// Parameters of a click import.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClickImportQuery {
    /// `proxy_csv`, `proxy_jsonl`, `dns_csv`, `dns_jsonl` or `defender`.
    pub format: String,
    /// A field map: `proxy`, `dns` or one of `[identity.clicks.field_maps]`;
    /// by default `dns` for DNS logs and `proxy` otherwise.
    pub field_map: Option<String>,
    /// Match only this case.
    pub case: Option<Uuid>,
    /// Match only the cases of this campaign.
    pub campaign: Option<Uuid>,
}

/// Import click evidence: a proxy or secure web gateway log (CSV or JSON
/// Lines with a named field map), a DNS log, or Defender URL-click events
/// as Graph's hunting query returns them. Without `case` or `campaign` the
/// evidence is matched against every open case. People whose verdict rose
/// get containment planned for them.
#[utoipa::path(
    post,
    path = "/api/v1/clicks",
    params(ClickImportQuery),
    request_body(content = String, description = "The log", content_type = "text/plain"),
    responses(
        (status = 200, description = "Success", body = ClickImportSummary),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
        (status = 409, description = "The case has no decision yet", body = ErrorBody),
    )
)]
pub(crate) async fn import_clicks(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ClickImportQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Json<ClickImportSummary>, ServiceError> {
    let caller = state.auth.authorize(&headers, Permission::ImportClicks).await?;
    let query = query_of(
        query,
        "the parameters are format (proxy_csv, proxy_jsonl, dns_csv, dns_jsonl or defender, required), field_map, \
         and case or campaign (an id, a UUID)",
    )?;
    let format: ClickFormat = query.format.parse()?;
    let scope = match (query.case, query.campaign) {
        (Some(_), Some(_)) => {
            return Err(ServiceError::BadRequest("give case or campaign, not both".to_owned()));
        }
        (Some(case_id), None) => Scope::Case(case_id),
        (None, Some(campaign_id)) => Scope::Campaign(campaign_id),
        (None, None) => Scope::Open,
    };
    let text = std::str::from_utf8(&body)
        .map_err(|error| ServiceError::BadRequest(format!("the log is not valid UTF-8: {error}; convert it first")))?;
    let log = parse(format, query.field_map.as_deref(), text, &state.identity)?;

    let (summary, queued) =
        import(&state.store, &state.identity, &state.notifier, &log, scope, format, &caller.name).await?;
    wake(&state.contain_wake, queued);
    Ok(Json(summary))
}

/// Checks that `caller` may approve or undo the action: identity actions
/// need an admin or identity token.
pub(crate) async fn check_identity_approval(
    store: &Store,
    caller: &Caller,
    action_id: Uuid,
) -> Result<(), ServiceError> {
    let Some(action) = store.get_action(action_id).await? else {
        return Ok(());
    };
    if is_identity_kind(&action.kind) && !matches!(caller.role, TokenRole::Admin | TokenRole::Identity) {
        return Err(ServiceError::Forbidden {
            role: caller.role.as_str(),
            action: "approve or undo actions that change accounts or credentials",
        });
    }
    Ok(())
}

/// Counts of people by verdict.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct VerdictCounts {
    /// People who received the message.
    pub received: usize,
    /// People who clicked, those who submitted credentials included.
    pub clicked: usize,
    pub submitted_credentials: usize,
}

/// One action on a person or credential and its outcome.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IdentityStep {
    pub action_id: Uuid,
    /// Such as `reset_password`.
    pub kind: String,
    pub connector: String,
    pub mode: String,
    /// `awaiting_approval`, `succeeded`, `failed`, ...
    pub status: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The connector's words about what it did.
    pub details: Option<String>,
    /// The outcome on each system, for the `identity` connector.
    #[schema(value_type = Option<Object>)]
    pub systems: Option<Value>,
}

impl From<&Action> for IdentityStep {
    fn from(action: &Action) -> Self {
        let outcome = action.outcome.as_ref();
        IdentityStep {
            action_id: action.id,
            kind: action.kind.clone(),
            connector: action.connector.clone(),
            mode: action.mode.as_str().to_owned(),
            status: action.status.as_str().to_owned(),
            approved_by: action.approved_by.clone(),
            approved_at: action.approved_at,
            created_at: action.created_at,
            finished_at: action.finished_at,
            details: outcome.and_then(|o| o.get("details")).and_then(Value::as_str).map(str::to_owned),
            systems: outcome.and_then(|o| o.get("data")).and_then(|d| d.get("systems")).cloned(),
        }
    }
}

/// A person of the case.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PersonView {
    pub address: String,
    /// `received`, `clicked` or `submitted_credentials`.
    pub verdict: String,
    /// False for someone who clicked a forwarded copy.
    pub recipient: bool,
    pub first_clicked_at: Option<DateTime<Utc>>,
    /// The log lines behind the verdict.
    #[schema(value_type = Vec<Object>)]
    pub evidence: Vec<Value>,
    /// Inventory ids of the non-human credentials the person owns.
    pub credentials: Vec<String>,
    /// Actions on this person's account.
    pub actions: Vec<IdentityStep>,
}

/// A non-human credential the case touched.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CredentialView {
    /// Inventory id.
    pub id: String,
    /// `service_account`, `api_key`, `oauth_app` or `token`.
    pub kind: String,
    /// `entra`, `github`, `aws`, `vault` or `other`.
    pub provider: String,
    pub reference: String,
    pub parent: Option<String>,
    pub owner: String,
    pub reaches: String,
    /// True when the credential's secret was found in the reported message.
    pub found_in_message: bool,
    /// The actions on it. An action on a person covers all of the person's
    /// credentials, so its `status` is the action's; `result` is this
    /// credential's own.
    pub actions: Vec<IdentityStep>,
    /// The result of the latest action for this credential alone:
    /// `succeeded`, `failed`, `awaiting_approval`, ...; none without an
    /// action.
    pub result: Option<String>,
}

/// An import of click evidence.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportView {
    pub id: Uuid,
    pub format: String,
    pub requested_by: String,
    pub entries: u64,
    pub matched: u64,
    /// Matching entries that were not counted as clicks.
    pub excluded: usize,
    /// The first 50 of them, with the reason.
    #[schema(value_type = Vec<Object>)]
    pub excluded_entries: Vec<Value>,
    pub created_at: DateTime<Utc>,
}

impl From<&ClickImport> for ImportView {
    fn from(import: &ClickImport) -> Self {
        let excluded = import.excluded.as_array().cloned().unwrap_or_default();
        ImportView {
            id: import.id,
            format: import.format.clone(),
            requested_by: import.requested_by.clone(),
            entries: import.entries,
            matched: import.matched,
            excluded: excluded.len(),
            excluded_entries: excluded.into_iter().take(EXCLUDED_SHOWN).collect(),
            created_at: import.created_at,
        }
    }
}

/// The identity blast radius of a case.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CaseIdentityView {
    pub case_id: Uuid,
    pub campaign_id: Option<Uuid>,
    pub counts: VerdictCounts,
    /// Everyone who received, clicked or submitted, by address.
    pub people: Vec<PersonView>,
    /// Non-human credentials owned by people who clicked, or found in the message.
    pub credentials: Vec<CredentialView>,
    /// Every action on accounts and credentials, in the order planned.
    pub actions: Vec<IdentityStep>,
    /// Click imports that matched the case, oldest first.
    pub imports: Vec<ImportView>,
}

/// The identity blast radius of a campaign: each case, and the counts over
/// distinct people at their highest verdict.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CampaignIdentityView {
    pub campaign_id: Uuid,
    pub counts: VerdictCounts,
    pub cases: Vec<CaseIdentityView>,
}

/// Read who received, clicked and submitted credentials in a case, which
/// accounts and non-human credentials were touched, and what was done to
/// each and when.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{id}/identity",
    params(("id" = Uuid, Path, description = "Case id")),
    responses(
        (status = 200, description = "Success", body = CaseIdentityView),
        (status = 400, description = "The id is not a valid UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
    )
)]
pub(crate) async fn get_case_identity(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<CaseIdentityView>, ServiceError> {
    state.auth.authorize(&headers, Permission::ReadCase).await?;
    let id = path_id(path)?;
    Ok(Json(case_view(&state, id).await?))
}

/// Read the identity blast radius of every case of a campaign.
#[utoipa::path(
    get,
    path = "/api/v1/campaigns/{id}/identity",
    params(("id" = Uuid, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "Success", body = CampaignIdentityView),
        (status = 400, description = "The id is not a valid UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
    )
)]
pub(crate) async fn get_campaign_identity(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<CampaignIdentityView>, ServiceError> {
    state.auth.authorize(&headers, Permission::ReadCase).await?;
    let id = path_id(path)?;
    let detail = state.store.get_campaign(id).await?.ok_or(ServiceError::NotFound { what: "campaign", id })?;
    let mut cases = Vec::new();
    for case_id in detail.cases {
        cases.push(case_view(&state, case_id).await?);
    }

    let mut highest: BTreeMap<&str, (&str, bool)> = BTreeMap::new();
    for person in cases.iter().flat_map(|case| &case.people) {
        let entry = highest.entry(person.address.as_str()).or_insert((person.verdict.as_str(), false));
        if rank(&person.verdict) > rank(entry.0) {
            entry.0 = person.verdict.as_str();
        }
        entry.1 |= person.recipient;
    }
    let counts = VerdictCounts {
        received: highest.values().filter(|(_, recipient)| *recipient).count(),
        clicked: highest.values().filter(|(verdict, _)| rank(verdict) >= 1).count(),
        submitted_credentials: highest.values().filter(|(verdict, _)| rank(verdict) >= 2).count(),
    };
    Ok(Json(CampaignIdentityView { campaign_id: id, counts, cases }))
}

fn rank(verdict: &str) -> u8 {
    match verdict {
        "submitted_credentials" => 2,
        "clicked" => 1,
        _ => 0,
    }
}

pub(crate) async fn case_view(state: &AppState, case_id: Uuid) -> Result<CaseIdentityView, ServiceError> {
    let store = &state.store;
    if store.get_case(case_id).await?.is_none() {
        return Err(ServiceError::NotFound { what: "case", id: case_id });
    }
    let stored = store.identity_people(case_id).await?;
    let recipients = match CaseContext::load(store, case_id).await? {
        Some(context) => recipients_of(store, &state.notifier, &context).await?,
        None => BTreeSet::new(),
    };
    let actions: Vec<Action> =
        store.actions_for_case(case_id).await?.into_iter().filter(|a| is_identity_kind(&a.kind)).collect();
    let imports = store.click_imports(case_id).await?;

    let people = people_views(&stored, &recipients, &actions, &state.identity);
    let counts = VerdictCounts {
        received: people.iter().filter(|p| p.recipient).count(),
        clicked: people.iter().filter(|p| p.verdict != PersonVerdict::Received.as_str()).count(),
        submitted_credentials: people
            .iter()
            .filter(|p| p.verdict == PersonVerdict::SubmittedCredentials.as_str())
            .count(),
    };
    Ok(CaseIdentityView {
        case_id,
        campaign_id: store.campaign_of_case(case_id).await?,
        counts,
        credentials: credential_views(&people, &actions, &state.identity),
        actions: actions.iter().map(IdentityStep::from).collect(),
        imports: imports.iter().map(ImportView::from).collect(),
        people,
    })
}

/// Builds the views of the stored people and of the recipients that no import has named yet.
fn people_views(
    stored: &[IdentityPerson],
    recipients: &BTreeSet<String>,
    actions: &[Action],
    parts: &IdentityParts,
) -> Vec<PersonView> {
    let mut views: BTreeMap<String, PersonView> = BTreeMap::new();
    for person in stored {
        views.insert(
            person.address.clone(),
            PersonView {
                address: person.address.clone(),
                verdict: person.verdict.as_str().to_owned(),
                recipient: person.recipient,
                first_clicked_at: person.first_clicked_at,
                evidence: person.evidence.clone(),
                credentials: Vec::new(),
                actions: Vec::new(),
            },
        );
    }
    for address in recipients {
        views.entry(address.clone()).or_insert_with(|| PersonView {
            address: address.clone(),
            verdict: PersonVerdict::Received.as_str().to_owned(),
            recipient: true,
            first_clicked_at: None,
            evidence: Vec::new(),
            credentials: Vec::new(),
            actions: Vec::new(),
        });
    }
    for view in views.values_mut() {
        view.credentials = parts.inventory().credentials_owned_by(&view.address).iter().map(|c| c.id.clone()).collect();
        view.actions = actions
            .iter()
            .filter(|action| person_target(action).is_some_and(|address| address == view.address))
            .map(IdentityStep::from)
            .collect();
    }
    views.into_values().collect()
}

/// Credentials owned by people who clicked, and credentials whose secret
/// a secret target names, with the actions on each.
fn credential_views(people: &[PersonView], actions: &[Action], parts: &IdentityParts) -> Vec<CredentialView> {
    let inventory = parts.inventory();
    let mut views: BTreeMap<String, CredentialView> = BTreeMap::new();
    let mut add = |credential: &NhiCredential, found_in_message: bool, action: Option<&Action>| {
        let view = views.entry(credential.id.clone()).or_insert_with(|| credential_view(credential));
        view.found_in_message |= found_in_message;
        if let Some(action) = action
            && !view.actions.iter().any(|step| step.action_id == action.id)
        {
            view.actions.push(IdentityStep::from(action));
        }
    };

    for person in people.iter().filter(|p| p.verdict != PersonVerdict::Received.as_str()) {
        for credential in inventory.credentials_owned_by(&person.address) {
            add(credential, false, None);
        }
    }
    for action in actions.iter().filter(|a| matches!(a.kind.as_str(), "revoke_credentials" | "rotate_credentials")) {
        if let Some(address) = person_target(action) {
            for credential in inventory.credentials_owned_by(address) {
                add(credential, false, Some(action));
            }
        }
        let secret = action.target.get("sha256").and_then(Value::as_str);
        if let (Some("secret"), Some(sha256)) = (action.target.get("type").and_then(Value::as_str), secret) {
            for credential in inventory.credentials_with_secret(sha256) {
                add(credential, true, Some(action));
            }
        }
    }
    for view in views.values_mut() {
        view.result = view.actions.last().map(|step| status_for(step, &view.id));
    }
    views.into_values().collect()
}

/// Returns the status of `step` for one credential. An action on a person
/// covers every credential the person owns, and it fails when one of them
/// fails, so its own status would call a rotated key failed. Each
/// connector names a credential as `(inventory id ID)` and lists those it
/// finished after a failure behind `done for the others:`, per system.
///
/// NOTE: this reads the outcome's words. A connector outside this crate
/// that words its details otherwise gets the action's status.
pub(crate) fn status_for(step: &IdentityStep, credential_id: &str) -> String {
    if step.status != "failed" {
        return step.status.clone();
    }
    let marker = format!("(inventory id {credential_id})");
    let systems: Vec<(&str, &str)> = match step.systems.as_ref().and_then(|systems| systems.as_array()) {
        Some(systems) => systems
            .iter()
            .map(|system| {
                let text = |key: &str| system.get(key).and_then(|value| value.as_str()).unwrap_or_default();
                (text("status"), text("details"))
            })
            .collect(),
        None => vec![(step.status.as_str(), step.details.as_deref().unwrap_or_default())],
    };
    for (status, details) in systems {
        let Some(at) = details.find(&marker) else { continue };
        let done_after_failure = details.find("done for the others:").is_some_and(|done| done < at);
        let succeeded = status == "succeeded" || done_after_failure;
        return if succeeded { "succeeded" } else { "failed" }.to_owned();
    }
    step.status.clone()
}

fn credential_view(credential: &NhiCredential) -> CredentialView {
    CredentialView {
        id: credential.id.clone(),
        kind: serde_name(&credential.kind),
        provider: credential.provider.as_str().to_owned(),
        reference: credential.reference.clone(),
        parent: credential.parent.clone(),
        owner: credential.owner.clone(),
        reaches: credential.reaches.clone(),
        found_in_message: false,
        actions: Vec::new(),
        result: None,
    }
}

fn person_target(action: &Action) -> Option<&str> {
    (action.target.get("type").and_then(Value::as_str) == Some("person"))
        .then(|| action.target.get("address").and_then(Value::as_str))
        .flatten()
}

/// Returns the serde name of a unit enum value, such as `api_key`.
fn serde_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn credential_status_read_per_system() {
        let step = IdentityStep {
            action_id: Uuid::nil(),
            kind: "rotate_credentials".to_owned(),
            connector: "identity".to_owned(),
            mode: "approve".to_owned(),
            status: "failed".to_owned(),
            approved_by: None,
            approved_at: None,
            created_at: chrono::Utc::now(),
            finished_at: None,
            details: None,
            systems: Some(json!([
                { "connector": "aws", "status": "failed", "details": "target missing: access key A of IAM user u \
                  (inventory id key-gone) no longer exists (1 of 2 credentials failed); done for the others: \
                  rotated access key B of IAM user v (inventory id key-live): new credential C stored" },
                { "connector": "vault", "status": "succeeded", "details": "revoked lease l (inventory id lease-1)" }
            ])),
        };

        assert_eq!(status_for(&step, "key-gone"), "failed");
        assert_eq!(status_for(&step, "key-live"), "succeeded");
        assert_eq!(status_for(&step, "lease-1"), "succeeded");
        assert_eq!(status_for(&step, "unknown"), "failed", "the action's status when not named");
    }
}
