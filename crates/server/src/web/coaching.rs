//! The messages to people: acknowledgements, outcomes and lessons, newest
//! first, for the awareness team and analysts.

use axum::extract::{Query, State};
use axum::response::Html;
use minijinja::context;
use phishloop_store::OutboxKind;
use serde::Deserialize;

use super::roles::Permission;
use super::templates::render;
use super::view::{PageUser, time};
use super::{Signed, WebError, WebState};

const ROWS: u32 = 200;

#[derive(Debug, Deserialize)]
pub(crate) struct CoachingQuery {
    #[serde(default)]
    kind: String,
}

pub(crate) async fn coaching_page(
    State(state): State<WebState>,
    signed: Signed,
    Query(query): Query<CoachingQuery>,
) -> Result<Html<String>, WebError> {
    signed.require(Permission::ReadOutbox)?;
    let kind = match query.kind.as_str() {
        "" => None,
        "acknowledgement" => Some(OutboxKind::Acknowledgement),
        "outcome" => Some(OutboxKind::Outcome),
        "lesson" => Some(OutboxKind::Lesson),
        other => {
            return Err(WebError::BadRequest(format!(
                "invalid kind {other:?}: use acknowledgement, outcome or lesson"
            )));
        }
    };
    let messages = state.store().recent_outbox_messages(kind, ROWS).await?;
    let can_open_cases = Permission::ReadCases.allowed(signed.user.role);
    let page = render(
        "coaching.html",
        context! {
            user => PageUser::of(&signed),
            kind => query.kind,
            limit => ROWS,
            messages => messages.iter().map(|message| context! {
                kind => message.kind.as_str(),
                recipient => &message.recipient,
                subject => &message.subject,
                status => message.status.as_str(),
                created => time(message.created_at),
                case_id => message.case_id.filter(|_| can_open_cases).map(|id| id.to_string()),
                text => &message.text,
            }).collect::<Vec<_>>(),
        },
    )?;
    Ok(Html(page))
}
