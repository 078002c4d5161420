//! The analyst web interface, served by `phishloop serve` at `/`.
//!
//! Pages are rendered on the server from minijinja templates compiled
//! into the binary. minijinja is the engine the coaching crate already
//! uses, so there is no second template language. It checks templates at
//! run time, so a unit test compiles every template and the HTTP tests
//! render every page. The pages use one vendored CSS file and one small
//! script for keyboard navigation, and load nothing from other origins.
//!
//! People sign in with local accounts (`phishloop user add`); see
//! `session.rs` for sessions and CSRF tokens and `roles.rs` for what each
//! role may do. Every response carries a strict Content-Security-Policy,
//! and the reported message is shown only sanitised, in a sandboxed frame
//! with a policy of its own (`message.rs`). See docs/web.md.

mod campaign;
mod case;
mod charts;
mod coaching;
pub mod config;
mod dashboard;
mod error;
mod identity;
mod indicators;
mod message;
pub mod password;
mod queue;
mod roles;
mod session;
mod templates;
mod throttle;
mod view;

use std::sync::Arc;

use axum::Router;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use phishloop_store::Store;

use crate::api::AppState;
use crate::config::ServerConfig;
pub(crate) use error::WebError;
use roles::Permission;
pub(crate) use session::Signed;

/// The policy of every page. Scripts, styles, images and frames come from
/// this origin only (images also as `data:` URLs), forms post back here
/// only, and no other site may frame the page.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// State of the web handlers.
#[derive(Clone)]
pub(crate) struct WebState {
    pub(crate) app: AppState,
    pub(crate) config: Arc<config::WebConfig>,
    /// Whether cookies carry the `Secure` attribute.
    pub(crate) secure_cookies: bool,
    /// Failed sign-ins per client address.
    pub(crate) throttle: Arc<throttle::AddressThrottle>,
}

impl WebState {
    pub(crate) fn store(&self) -> &Store {
        &self.app.store
    }
}

/// Builds the routes of the web interface, or none when `server.web.enabled` is false.
pub(crate) fn router(app: AppState, server: &ServerConfig) -> Router {
    if !server.web.enabled {
        return Router::new();
    }
    let state = WebState {
        app,
        config: Arc::new(server.web.clone()),
        secure_cookies: server.web.secure_cookies_on(server.listen),
        throttle: Arc::new(throttle::AddressThrottle::new(server.web.address_attempts, server.web.address_window())),
    };
    Router::new()
        .route("/", get(home))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/account", get(session::account_page))
        .route("/account/password", post(session::change_password))
        .route("/queue", get(queue::queue_page))
        .route("/cases/{id}", get(case::case_page))
        .route("/cases/{id}/message", get(message::message_frame))
        .route("/cases/{id}/verdict", post(case::correct_verdict))
        .route("/actions/{id}/approve", post(case::approve_action))
        .route("/actions/{id}/reject", post(case::reject_action))
        .route("/actions/{id}/undo", post(case::undo_action))
        .route("/actions/{id}/retry", post(case::retry_action))
        .route("/campaigns/{id}", get(campaign::campaign_page))
        .route("/dashboard", get(dashboard::dashboard_page))
        .route("/coaching", get(coaching::coaching_page))
        .route("/static/app.css", get(stylesheet))
        .route("/static/app.js", get(script))
        .route("/favicon.ico", get(no_icon))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Sends a signed-in person to the first page their role may read.
async fn home(signed: Signed) -> Redirect {
    if Permission::ReadCases.allowed(signed.user.role) { Redirect::to("/queue") } else { Redirect::to("/dashboard") }
}

async fn stylesheet() -> Response {
    static_file("text/css; charset=utf-8", include_str!("static/app.css"))
}

async fn script() -> Response {
    static_file("text/javascript; charset=utf-8", include_str!("static/app.js"))
}

/// Returns 204 to browsers' automatic icon request instead of a JSON 404.
async fn no_icon() -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    ([(CONTENT_TYPE, content_type), (CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

/// Adds the security headers to every response of the web interface. A
/// handler that sets its own policy (the message frame) keeps it.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.entry(CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(PAGE_POLICY));
    headers.entry(X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    headers.insert(HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-origin"));
    headers.entry(CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}
