//! The HTTP layer shared by the cloud connectors: one client per
//! connector, bounded retries of throttled and unavailable replies, and a
//! classification of failures that the connectors turn into outcomes.
//!
//! Only `429 Too Many Requests`, `502`, `503`, `504` and transport errors
//! are retried. Revoke, expire and delete operations are safe to repeat (a
//! second one changes nothing more), so such a request that timed out may
//! be sent again. A request that issues a credential is marked with
//! [`Call::once`] and retried only when throttled.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::secret::Secret;

/// Maximum number of characters of a reply body kept in outcome details.
const MAX_DETAIL_CHARS: usize = 300;

/// Time limit and retry policy of one connector's requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Time limit of one request, in milliseconds.
    pub timeout_ms: u64,
    /// Attempts per request in total, the first included.
    pub max_attempts: u32,
    /// Back-off before the second attempt, in milliseconds; it doubles for
    /// each further attempt.
    pub initial_backoff_ms: u64,
    /// Largest wait between two attempts, in milliseconds. A longer
    /// `Retry-After` from the server is cut to this value.
    pub max_backoff_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { timeout_ms: 30_000, max_attempts: 5, initial_backoff_ms: 500, max_backoff_ms: 30_000 }
    }
}

/// The failure of a request, after any retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// 401 or 403: the credential lacks a permission or is invalid.
    Permission { status: u16, detail: String },
    /// 404: the user, rule, key or token does not exist.
    NotFound { detail: String },
    /// Still throttled or unavailable after the last attempt.
    GaveUp { attempts: u32, detail: String },
    /// Any other non-success status.
    Status { status: u16, detail: String },
    /// The reply could not be decoded.
    Decode(String),
    /// The access token could not be obtained.
    Token(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Permission { status, detail } => write!(f, "permission denied (HTTP {status}): {detail}"),
            CallError::NotFound { detail } => write!(f, "not found (HTTP 404): {detail}"),
            CallError::GaveUp { attempts, detail } => write!(f, "gave up after {attempts} attempts: {detail}"),
            CallError::Status { status, detail } => write!(f, "HTTP {status}: {detail}"),
            CallError::Decode(detail) => write!(f, "invalid reply: {detail}"),
            CallError::Token(detail) => write!(f, "failed to obtain an access token: {detail}"),
        }
    }
}

/// A successful reply.
#[derive(Debug)]
pub(crate) struct Reply {
    pub body: String,
}

impl Reply {
    /// Decodes the body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, CallError> {
        serde_json::from_str(&self.body)
            .map_err(|error| CallError::Decode(format!("{error} in {}", excerpt(&self.body))))
    }
}

/// Counts the attempts of one action, retries included.
#[derive(Debug, Default)]
pub(crate) struct Tally(AtomicU32);

impl Tally {
    pub fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Attempts so far; at least 1, because an action that sent nothing
    /// still made one attempt.
    pub fn attempts(&self) -> u32 {
        self.0.load(Ordering::Relaxed).max(1)
    }
}

/// The credential of a request. Its value is never logged.
#[derive(Debug, Clone)]
pub(crate) enum Auth {
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// A named header carrying the credential, such as Okta's
    /// `Authorization: SSWS <token>` or Vault's `X-Vault-Token`.
    Header {
        name: HeaderName,
        prefix: &'static str,
        value: Secret,
    },
}

/// One request, rebuilt for each attempt.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: Method,
    pub url: Url,
    pub query: Vec<(String, String)>,
    pub json: Option<serde_json::Value>,
    pub form: Option<Vec<(String, String)>>,
    /// A body sent byte for byte, such as a signed AWS query.
    pub raw: Option<Vec<u8>>,
    pub headers: Vec<(HeaderName, String)>,
    pub auth: Auth,
    /// False for a request that creates something, such as a new access
    /// key: only a throttled reply, which the server did not act on, is
    /// retried, because a repeat after a timeout or a 5xx could issue a
    /// second credential.
    pub repeatable: bool,
}

impl Call {
    pub fn new(method: Method, url: Url, auth: Auth) -> Self {
        Call {
            method,
            url,
            query: Vec::new(),
            json: None,
            form: None,
            raw: None,
            headers: Vec::new(),
            auth,
            repeatable: true,
        }
    }

    /// Marks the request as one that must not be repeated unless throttled.
    pub fn once(mut self) -> Self {
        self.repeatable = false;
        self
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.json = Some(body);
        self
    }

    pub fn form(mut self, fields: Vec<(String, String)>) -> Self {
        self.form = Some(fields);
        self
    }

    pub fn raw(mut self, body: Vec<u8>) -> Self {
        self.raw = Some(body);
        self
    }

    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }
}

/// The HTTP client of one connector.
#[derive(Debug)]
pub(crate) struct Http {
    connector: String,
    client: reqwest::Client,
    config: HttpConfig,
}

/// Result of one attempt.
enum Attempt {
    Done(Reply),
    /// `throttled` is true for a reply to a request that the server did
    /// not act on (429, AWS `Throttling`).
    Retry {
        detail: String,
        retry_after: Option<Duration>,
        throttled: bool,
    },
    Fail(CallError),
}

impl Http {
    /// Builds the client; redirects are not followed, so that a credential
    /// is never sent to a host other than the configured one.
    pub fn new(connector: &str, config: &HttpConfig) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| ConfigError::Client { connector: connector.to_string(), reason: error.to_string() })?;
        Ok(Http { connector: connector.to_string(), client, config: config.clone() })
    }

    /// Sends `call`, retrying throttled and unavailable replies with
    /// bounded back-off.
    pub async fn send(&self, call: &Call, tally: &Tally) -> Result<Reply, CallError> {
        let max_attempts = self.config.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            tally.add();
            match self.attempt(call).await {
                Attempt::Done(reply) => return Ok(reply),
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry { detail, .. } if attempt >= max_attempts => {
                    return Err(CallError::GaveUp { attempts: attempt, detail });
                }
                Attempt::Retry { detail, throttled: false, .. } if !call.repeatable => {
                    let detail = format!("{detail}; not repeated, because the server may have acted on it");
                    return Err(CallError::GaveUp { attempts: attempt, detail });
                }
                Attempt::Retry { detail, retry_after, .. } => {
                    let delay = self.backoff(attempt, retry_after);
                    tracing::warn!(
                        connector = %self.connector,
                        method = %call.method,
                        path = %call.url.path(),
                        attempt,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "request failed, retrying: {detail}"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, call: &Call) -> Attempt {
        let request = match self.build(call) {
            Ok(request) => request,
            Err(error) => return Attempt::Fail(error),
        };
        let response = match request.send().await {
            Ok(response) => response,
            // The error text of reqwest names the URL, never a header.
            Err(error) => {
                return Attempt::Retry {
                    detail: format!("request failed: {error}"),
                    retry_after: None,
                    throttled: false,
                };
            }
        };

        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = response.text().await.unwrap_or_default();
        tracing::debug!(connector = %self.connector, method = %call.method, path = %call.url.path(), status = status.as_u16(), "reply");
        classify(status, body, retry_after)
    }

    fn build(&self, call: &Call) -> Result<reqwest::RequestBuilder, CallError> {
        let mut request = self.client.request(call.method.clone(), call.url.clone());
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.json {
            request = request.json(body);
        }
        if let Some(fields) = &call.form {
            request = request.form(fields);
        }
        if let Some(body) = &call.raw {
            request = request.body(body.clone());
        }
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        match &call.auth {
            Auth::None => {}
            Auth::Bearer(token) => {
                request =
                    request.header(reqwest::header::AUTHORIZATION, sensitive(&format!("Bearer {}", token.expose()))?)
            }
            Auth::Header { name, prefix, value } => {
                request = request.header(name, sensitive(&format!("{prefix}{}", value.expose()))?);
            }
        }
        Ok(request)
    }

    /// Exponential back-off with jitter: half of the doubled delay is fixed
    /// and the other half random. A `Retry-After` raises the delay, never
    /// above `max_backoff_ms`.
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let max = Duration::from_millis(self.config.max_backoff_ms);
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        let base = Duration::from_millis(self.config.initial_backoff_ms).saturating_mul(factor).min(max);
        let half = base / 2;
        let range = u64::try_from(half.as_millis()).unwrap_or(u64::MAX).saturating_add(1);
        let jitter = std::collections::hash_map::RandomState::new().hash_one(attempt) % range;
        (half + Duration::from_millis(jitter)).max(retry_after.unwrap_or_default()).min(max)
    }
}

/// Marks a credential header as sensitive, so that `Debug` output of the
/// request hides it.
fn sensitive(value: &str) -> Result<HeaderValue, CallError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        CallError::Token("the credential contains characters not allowed in an HTTP header".to_string())
    })?;
    header.set_sensitive(true);
    Ok(header)
}

fn classify(status: StatusCode, body: String, retry_after: Option<Duration>) -> Attempt {
    let detail = describe(status, &body);
    match status {
        status if status.is_success() => Attempt::Done(Reply { body }),
        StatusCode::TOO_MANY_REQUESTS => Attempt::Retry { detail, retry_after, throttled: true },
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
            Attempt::Retry { detail, retry_after, throttled: false }
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            Attempt::Fail(CallError::Permission { status: status.as_u16(), detail })
        }
        StatusCode::NOT_FOUND => Attempt::Fail(CallError::NotFound { detail }),
        // AWS query APIs signal throttling as 400 with this error code.
        StatusCode::BAD_REQUEST if body.contains("<Code>Throttling</Code>") => {
            Attempt::Retry { detail, retry_after, throttled: true }
        }
        status => Attempt::Fail(CallError::Status { status: status.as_u16(), detail }),
    }
}

/// Reads `Retry-After` (seconds or an HTTP date) or, as Okta sends it,
/// `X-Rate-Limit-Reset` (Unix seconds when the limit resets).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let now = chrono::Utc::now();
    if let Some(value) = headers.get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        if let Ok(date) = chrono::DateTime::parse_from_rfc2822(value) {
            return (date.with_timezone(&chrono::Utc) - now).to_std().ok();
        }
    }
    let reset = headers.get("x-rate-limit-reset")?.to_str().ok()?.trim().parse::<i64>().ok()?;
    let reset = chrono::DateTime::from_timestamp(reset, 0)?;
    (reset - now).to_std().ok()
}

fn describe(status: StatusCode, body: &str) -> String {
    let body = excerpt(body);
    if body.is_empty() { format!("HTTP {}", status.as_u16()) } else { body }
}

/// Returns the first characters of a reply body, on one line.
pub(crate) fn excerpt(body: &str) -> String {
    let text: String = body.chars().take(MAX_DETAIL_CHARS).collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Joins path segments onto a base URL, percent-encoding each segment, so
/// that an address such as `a/b@example.com` cannot change the path.
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        path.extend(segments);
    }
    url
}

/// Parses a configured base URL: `https`, or plain `http` to a loopback
/// address only (for tests and local proxies).
pub(crate) fn parse_base_url(connector: &str, field: &'static str, value: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidValue {
        connector: connector.to_string(),
        field,
        value: value.to_string(),
        reason,
    };
    let url = Url::parse(value).map_err(|error| invalid(format!("{error}; write an absolute https URL")))?;
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(invalid("plain http is allowed only to a loopback address; use https".to_string())),
        other => Err(invalid(format!("scheme {other} is not https"))),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue};

    use super::*;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).expect("header value"));
        headers
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(retry_after(&headers("retry-after", "7")), Some(Duration::from_secs(7)));
    }

    #[test]
    fn retry_after_http_date() {
        let later = chrono::Utc::now() + chrono::Duration::seconds(30);
        let value = later.format("%a, %d %b %Y %H:%M:%S GMT").to_string();

        let delay = retry_after(&headers("retry-after", &value)).expect("delay");

        assert!(delay > Duration::from_secs(25), "{delay:?}");
        assert!(delay <= Duration::from_secs(30), "{delay:?}");
    }

    #[test]
    fn rate_limit_reset_epoch() {
        let reset = chrono::Utc::now().timestamp() + 10;

        let delay = retry_after(&headers("x-rate-limit-reset", &reset.to_string())).expect("delay");

        assert!(delay > Duration::from_secs(8), "{delay:?}");
        assert!(delay <= Duration::from_secs(10), "{delay:?}");
    }

    #[test]
    fn retry_after_garbage_is_ignored() {
        assert_eq!(retry_after(&headers("retry-after", "soon")), None);
    }

    #[test]
    fn backoff_is_capped_by_max() {
        let config = HttpConfig { initial_backoff_ms: 100, max_backoff_ms: 1_000, ..HttpConfig::default() };
        let http = Http::new("test", &config).expect("client");

        let long_retry_after = http.backoff(1, Some(Duration::from_secs(3600)));
        let late_attempt = http.backoff(30, None);
        let first = http.backoff(1, None);

        assert_eq!(long_retry_after, Duration::from_millis(1_000));
        assert!(late_attempt <= Duration::from_millis(1_000));
        assert!(first >= Duration::from_millis(50), "{first:?}");
        assert!(first <= Duration::from_millis(100), "{first:?}");
    }

    #[test]
    fn endpoint_encodes_segments() {
        let base = Url::parse("http://127.0.0.1:1/v1.0/").expect("url");

        let url = endpoint(&base, &["users", "a/b?c#d@example.com", "revokeSignInSessions"]);

        assert_eq!(url.path(), "/v1.0/users/a%2Fb%3Fc%23d@example.com/revokeSignInSessions");
    }

    #[test]
    fn base_url_rejects_plain_http_to_remote_host() {
        let error = parse_base_url("graph", "base_url", "http://graph.example.test/v1.0").expect_err("rejected");

        assert!(error.to_string().contains("use https"), "{error}");
        assert!(parse_base_url("graph", "base_url", "http://127.0.0.1:8080/v1.0").is_ok());
        assert!(parse_base_url("graph", "base_url", "http://[::1]:8080/").is_ok());
    }
}
