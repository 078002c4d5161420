//! Sign-in, sessions and CSRF protection.
//!
//! A session id is 32 random bytes from the operating system, sent as a
//! hexadecimal cookie with `HttpOnly`, `SameSite=Strict` and, where
//! configured, `Secure`. The store keeps only its SHA-256. Each session has
//! its own random CSRF token: every form carries it and every POST must
//! send it back, and a POST that the browser marks as coming from another
//! origin (`Origin`, `Sec-Fetch-Site`) is rejected as well. The sign-in form, which comes before any session, is
//! bound to a short-lived cookie of its own in the same way.
//!
//! Failed sign-ins count per account. After `login_attempts` in a row,
//! each further failure locks the account for `lockout_minutes`, and the
//! password of a locked account is not checked at all. An unknown or disabled account gets the
//! same reply as a wrong password after the same Argon2 work. Failed
//! sign-ins also count per client address over every name
//! (`address_attempts`, see throttle.rs), and an address past the limit
//! gets `429` without a password check.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::ConnectInfo;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::HeaderName;
use axum::http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use minijinja::context;
use phishloop_store::{Sha256Hex, User};
use serde::Deserialize;

use super::error::form_of;
use super::templates::render;
use super::{WebError, WebState};
use crate::error::ServiceError;

const SESSION_COOKIE: &str = "phishloop_session";
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
const LOGIN_COOKIE: &str = "phishloop_login";
/// Seconds a sign-in form stays valid.
const LOGIN_FORM_SECONDS: u32 = 3600;

/// A signed-in person, from a valid session cookie.
#[derive(Clone, Debug)]
pub(crate) struct Signed {
    pub(crate) user: User,
    /// The CSRF token of this session, for the forms of the page.
    pub(crate) csrf: String,
    session_sha256: Sha256Hex,
}

impl FromRequestParts<WebState> for Signed {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Self::Rejection> {
        // After sign-in the browser comes back with a GET, so a form's
        // target is no place to return to.
        let next = match parts.method {
            axum::http::Method::GET => parts.uri.path_and_query().map_or("/", |path| path.as_str()).to_owned(),
            _ => "/".to_owned(),
        };
        let sign_in = || WebError::SignIn { next: next.clone() };
        let id = cookie(&parts.headers, SESSION_COOKIE).filter(|id| is_token(id)).ok_or_else(sign_in)?;
        let session_sha256 = Sha256Hex::of(id.as_bytes());
        let session =
            state.store().find_session(&session_sha256, state.config.session_idle()).await?.ok_or_else(sign_in)?;
        Ok(Self { user: session.user, csrf: session.csrf_token, session_sha256 })
    }
}

impl Signed {
    /// Checks a POST of this session: the form's CSRF token and, when the
    /// browser sends one, the `Origin` header.
    pub(crate) fn check_form(&self, headers: &HeaderMap, csrf: &str) -> Result<(), WebError> {
        check_origin(headers)?;
        if !equal_in_constant_time(csrf.as_bytes(), self.csrf.as_bytes()) {
            tracing::info!(user = %self.user.name, "form rejected: CSRF token does not match the session");
            return Err(WebError::InvalidForm);
        }
        Ok(())
    }

    /// Fails with a 403 page unless the role has `permission`.
    pub(crate) fn require(&self, permission: super::Permission) -> Result<(), WebError> {
        if permission.allowed(self.user.role) {
            return Ok(());
        }
        tracing::info!(user = %self.user.name, role = %self.user.role, action = permission.action(), "request forbidden");
        Err(WebError::Forbidden { role: self.user.role, action: permission.action() })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
}

/// Shows the sign-in form, bound to a new form cookie.
pub(crate) async fn login_page(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Result<Response, WebError> {
    let next = safe_next(query.next.as_deref());
    if let Some(id) = cookie(&headers, SESSION_COOKIE).filter(|id| is_token(id)) {
        let signed_in = state.store().find_session(&Sha256Hex::of(id.as_bytes()), state.config.session_idle()).await?;
        if signed_in.is_some() {
            return Ok(Redirect::to(&next).into_response());
        }
    }
    login_form(&state, StatusCode::OK, &next, "", None)
}

fn login_form(
    state: &WebState,
    status: StatusCode,
    next: &str,
    name: &str,
    error: Option<&str>,
) -> Result<Response, WebError> {
    let token = random_token()?;
    let page = render("login.html", context! { csrf => &token, next, name, error })?;
    let cookie = cookie_header(LOGIN_COOKIE, &token, "/login", Some(LOGIN_FORM_SECONDS), state.secure_cookies);
    Ok((status, [(SET_COOKIE, cookie)], Html(page)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    name: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

/// The one answer to every failed sign-in: wrong password, unknown or
/// disabled name, or an account locked after too many failures.
const SIGN_IN_FAILED: &str =
    "The name or the password is wrong, or the account is locked for a while after too many failed sign-ins.";

/// Checks a sign-in and starts a session.
pub(crate) async fn login(
    State(state): State<WebState>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, WebError> {
    let form = form_of(form)?;
    let next = safe_next(form.next.as_deref());
    check_origin(&headers)?;
    let form_cookie = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if form_cookie.is_empty() || !equal_in_constant_time(form_cookie.as_bytes(), form.csrf.as_bytes()) {
        let error = "The sign-in form expired. Sign in again.";
        return login_form(&state, StatusCode::FORBIDDEN, &next, &form.name, Some(error));
    }
    let address = client.map(|Extension(ConnectInfo(address))| address.ip());
    if let Some(wait) = address.and_then(|address| state.throttle.wait(address, Instant::now())) {
        tracing::warn!(address = ?address, "sign-in rejected: too many failed sign-ins from this address");
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let error = format!(
            "Too many failed sign-ins came from your network address. Wait {minutes} minute{} and try again.",
            if minutes == 1 { "" } else { "s" }
        );
        return login_form(&state, StatusCode::TOO_MANY_REQUESTS, &next, &form.name, Some(&error));
    }

    let user = state.store().find_user(&form.name).await?;
    // A locked account goes through the same decoy check and gets the same
    // answer as an unknown name, so the lock tells a guesser nothing about
    // which names exist.
    let user = match user {
        Some(user) if user.locked => {
            tracing::info!(user = %user.name, "sign-in refused: account locked after failed sign-ins");
            None
        }
        Some(user) if user.disabled_at.is_none() => Some(user),
        _ => None,
    };
    let user_id = user.as_ref().map(|user| user.id);
    let hash =
        user.as_ref().map_or_else(|| super::password::decoy_hash().to_owned(), |user| user.password_hash.clone());
    let password = form.password;
    let matches = tokio::task::spawn_blocking(move || super::password::verify_password(&password, &hash))
        .await
        .map_err(ServiceError::from)?;

    let Some(user) = user.filter(|_| matches) else {
        if let Some(address) = address {
            state.throttle.record_failure(address, Instant::now());
        }
        record_failure(&state, user_id).await?;
        tracing::info!(name = %form.name.chars().take(64).collect::<String>(), "sign-in failed");
        return login_form(&state, StatusCode::UNAUTHORIZED, &next, &form.name, Some(SIGN_IN_FAILED));
    };
    start_session(&state, &user, &next).await
}

async fn record_failure(state: &WebState, user_id: Option<uuid::Uuid>) -> Result<(), WebError> {
    if let Some(user_id) = user_id {
        let config = &state.config;
        let user = state.store().record_login_failure(user_id, config.login_attempts, config.lockout()).await?;
        if user.locked {
            tracing::warn!(user = %user.name, failures = user.failed_logins, "account locked after failed sign-ins");
        }
    }
    Ok(())
}

async fn start_session(state: &WebState, user: &User, next: &str) -> Result<Response, WebError> {
    let store = state.store();
    store.record_login_success(user.id).await?;
    let removed = store.delete_expired_sessions().await?;
    let id = random_token()?;
    let csrf = random_token()?;
    store
        .create_session(
            user.id,
            &Sha256Hex::of(id.as_bytes()),
            &csrf,
            state.config.session_idle(),
            state.config.session_lifetime(),
        )
        .await?;
    tracing::info!(user = %user.name, role = %user.role, expired_sessions_removed = removed, "signed in");

    let lifetime = u32::try_from(state.config.session_lifetime().as_secs()).unwrap_or(u32::MAX);
    let session = cookie_header(SESSION_COOKIE, &id, "/", Some(lifetime), state.secure_cookies);
    let form = cookie_header(LOGIN_COOKIE, "", "/login", Some(0), state.secure_cookies);
    let mut response = Redirect::to(next).into_response();
    response.headers_mut().append(SET_COOKIE, session);
    response.headers_mut().append(SET_COOKIE, form);
    Ok(response)
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
    repeat: String,
}

/// Shows the signed-in account and the form to change its password.
pub(crate) async fn account_page(signed: Signed) -> Result<Html<String>, WebError> {
    account_form(&signed, None).map(Html)
}

fn account_form(signed: &Signed, error: Option<&str>) -> Result<String, WebError> {
    render(
        "account.html",
        context! { user => super::view::PageUser::of(signed), error, min_chars => super::password::MIN_PASSWORD_CHARS },
    )
}

/// Changes the signed-in account's own password after checking the
/// current one. Every session of the account ends, this one too, as with
/// `phishloop user password`, so a session an attacker may hold ends
/// with the old password.
pub(crate) async fn change_password(
    State(state): State<WebState>,
    signed: Signed,
    headers: HeaderMap,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Result<Response, WebError> {
    let form = form_of(form)?;
    signed.check_form(&headers, &form.csrf)?;

    let hash = signed.user.password_hash.clone();
    let current = form.current;
    let matches = tokio::task::spawn_blocking(move || super::password::verify_password(&current, &hash))
        .await
        .map_err(ServiceError::from)?;
    let error = if !matches {
        Some("The current password is wrong.".to_owned())
    } else if form.new != form.repeat {
        Some("The two new passwords differ. Type the same one twice.".to_owned())
    } else {
        None
    };
    if let Some(error) = error {
        tracing::info!(user = %signed.user.name, "password change rejected: {error}");
        let page = account_form(&signed, Some(&error))?;
        return Ok((StatusCode::BAD_REQUEST, Html(page)).into_response());
    }

    let new = form.new;
    let hashed =
        tokio::task::spawn_blocking(move || super::password::hash_password(&new)).await.map_err(ServiceError::from)?;
    let hash = match hashed {
        Ok(hash) => hash,
        Err(error) => {
            let page = account_form(&signed, Some(&format!("The new password cannot be used: {error}.")))?;
            return Ok((StatusCode::BAD_REQUEST, Html(page)).into_response());
        }
    };
    state.store().set_user_password(&signed.user.name, &hash).await?;

    tracing::info!(user = %signed.user.name, "password changed; every session of the account ended");
    let cleared = cookie_header(SESSION_COOKIE, "", "/", Some(0), state.secure_cookies);
    let page = login_form(
        &state,
        StatusCode::OK,
        "/",
        &signed.user.name,
        Some("Your password was changed and every session of your account ended. Sign in with the new password."),
    )?;
    let mut response = page;
    response.headers_mut().append(SET_COOKIE, cleared);
    Ok(response)
}

#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    csrf: String,
}

/// Ends the session and clears its cookie.
pub(crate) async fn logout(
    State(state): State<WebState>,
    signed: Signed,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Result<Response, WebError> {
    let form = form_of(form)?;
    signed.check_form(&headers, &form.csrf)?;
    state.store().delete_session(&signed.session_sha256).await?;
    tracing::info!(user = %signed.user.name, "signed out");
    let cleared = cookie_header(SESSION_COOKIE, "", "/", Some(0), state.secure_cookies);
    Ok(([(SET_COOKIE, cleared)], Redirect::to("/login")).into_response())
}

/// Rejects a POST that a browser marks as coming from another site.
/// Because these pages set the `no-referrer` policy, Chromium sends
/// `Origin: null` on same-origin form posts. So `null` or a missing
/// `Origin` passes unless `Sec-Fetch-Site` says `cross-site` or
/// `same-site`, and any other `Origin` must equal the `Host`. Requests
/// without these headers, such as from curl, still need the CSRF token.
fn check_origin(headers: &HeaderMap) -> Result<(), WebError> {
    let fetch_site = headers.get(SEC_FETCH_SITE).and_then(|value| value.to_str().ok()).unwrap_or("");
    if !matches!(fetch_site, "" | "same-origin" | "none") {
        tracing::info!(fetch_site, "form rejected: Sec-Fetch-Site marks it as sent from another site");
        return Err(WebError::InvalidForm);
    }
    let origin = headers.get(ORIGIN).map(|origin| origin.to_str().unwrap_or(""));
    let Some(origin) = origin.filter(|origin| *origin != "null") else {
        return Ok(());
    };
    let host = headers.get(HOST).and_then(|host| host.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    if host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
        tracing::info!(origin, host, "form rejected: Origin does not match Host");
        return Err(WebError::InvalidForm);
    }
    Ok(())
}

/// Returns the value of cookie `name`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Builds a `Set-Cookie` value; `max_age` 0 deletes the cookie.
fn cookie_header(name: &str, value: &str, path: &str, max_age: Option<u32>, secure: bool) -> HeaderValue {
    let mut text = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if let Some(seconds) = max_age {
        text.push_str(&format!("; Max-Age={seconds}"));
    }
    if secure {
        text.push_str("; Secure");
    }
    // The value is hexadecimal or empty and the rest is fixed text, so it is always a valid header.
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// Returns 32 random bytes from the operating system as 64 hexadecimal characters.
fn random_token() -> Result<String, WebError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| {
        WebError::Internal(ServiceError::Config(format!("the operating system gave no random bytes: {error}")))
    })?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

fn is_token(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Keeps a redirect target only when it is a path on this server, so a
/// link cannot send a person elsewhere after sign-in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.to_owned(),
        _ => "/".to_owned(),
    }
}

fn equal_in_constant_time(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    left.iter().zip(right).fold(0u8, |difference, (a, b)| difference | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).expect("header"));
        }
        headers
    }

    #[test]
    fn cookie_found_among_others() {
        let headers = headers(&[("cookie", "a=1; phishloop_session=abc; b=2")]);

        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE), None);
    }

    #[test]
    fn foreign_origin_rejected() {
        let same = headers(&[("host", "127.0.0.1:8025"), ("origin", "http://127.0.0.1:8025")]);
        let other = headers(&[("host", "127.0.0.1:8025"), ("origin", "http://attacker.test")]);
        let null = headers(&[("host", "127.0.0.1:8025"), ("origin", "null"), ("sec-fetch-site", "same-origin")]);
        let null_cross = headers(&[("host", "127.0.0.1:8025"), ("origin", "null"), ("sec-fetch-site", "cross-site")]);

        assert!(check_origin(&same).is_ok());
        assert!(check_origin(&other).is_err());
        assert!(check_origin(&null).is_ok());
        assert!(check_origin(&null_cross).is_err());
        assert!(check_origin(&HeaderMap::new()).is_ok());
    }

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(safe_next(Some("/cases/1?x=2")), "/cases/1?x=2");
        assert_eq!(safe_next(Some("//attacker.test/")), "/");
        assert_eq!(safe_next(Some("https://attacker.test/")), "/");
        assert_eq!(safe_next(Some("/\\attacker.test")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn session_cookie_attributes() {
        let value = cookie_header(SESSION_COOKIE, "ab", "/", Some(60), true);

        assert_eq!(
            value.to_str().ok(),
            Some("phishloop_session=ab; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure")
        );
    }

    #[test]
    fn constant_time_comparison() {
        assert!(equal_in_constant_time(b"abc", b"abc"));
        assert!(!equal_in_constant_time(b"abc", b"abd"));
        assert!(!equal_in_constant_time(b"abc", b"ab"));
    }
}
