//! The `webhook` connector: POSTs each action as signed JSON.
//!
//! The receiver verifies `X-Phishloop-Signature`, which is
//! `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with the shared secret
//! as key and the `X-Phishloop-Timestamp` value (Unix seconds) as
//! timestamp. Each attempt is signed afresh with its own timestamp; the
//! body and the `Idempotency-Key` header stay the same across retries.

use std::hash::BuildHasher;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{StatusCode, Url};
use serde::Serialize;
use sha2::Sha256;

use super::{Connector, Operation, Outcome, OutcomeStatus};
use crate::action::PlannedAction;
use crate::config::{SecretSource, WebhookConfig};

/// Header carrying `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Phishloop-Signature";
/// Header carrying the signed Unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "X-Phishloop-Timestamp";
/// Header carrying the action's idempotency key (with `:undo` appended for
/// an undo).
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Header carrying the attempt number, starting at 1.
pub const ATTEMPT_HEADER: &str = "X-Phishloop-Attempt";

/// Maximum number of characters of a receiver's reply kept in outcome details.
const MAX_REPLY_CHARS: usize = 200;

/// Errors that keep a webhook connector from being built.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook {name:?}: invalid url {url:?}: {reason}")]
    InvalidUrl { name: String, url: String, reason: String },
    #[error("webhook {name:?}: plain http is allowed only to a loopback address; use https for {url:?}")]
    InsecureUrl { name: String, url: String },
    #[error("webhook {name:?}: environment variable {variable} for the secret is not set or not valid UTF-8")]
    MissingSecretVariable { name: String, variable: String },
    #[error("webhook {name:?}: failed to read the secret file {path}: {error}")]
    SecretFile { name: String, path: PathBuf, error: String },
    #[error("webhook {name:?}: the secret is empty")]
    EmptySecret { name: String },
    #[error("webhook {name:?}: failed to build the HTTP client: {error}")]
    Client { name: String, error: String },
}

/// The signing key; its `Debug` form never shows the value.
struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(redacted)")
    }
}

/// POSTs actions to one configured URL.
#[derive(Debug)]
pub struct WebhookConnector {
    name: String,
    url: Url,
    secret: SigningSecret,
    client: reqwest::Client,
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

#[derive(Serialize)]
struct Payload<'a> {
    operation: Operation,
    action: &'a PlannedAction,
}

/// Result of one attempt.
enum Attempt {
    Done(String),
    Retry { error: String, retry_after: Option<Duration> },
    Fail(String),
}

impl WebhookConnector {
    /// Builds the connector and reads its secret.
    ///
    /// # Errors
    ///
    /// Returns [`WebhookError`] for an invalid or insecure URL or a secret
    /// that cannot be read or is empty.
    pub fn new(config: &WebhookConfig) -> Result<Self, WebhookError> {
        let name = config.name.clone();
        let url = Url::parse(&config.url).map_err(|error| WebhookError::InvalidUrl {
            name: name.clone(),
            url: config.url.clone(),
            reason: error.to_string(),
        })?;
        check_scheme(&name, &url)?;
        let secret = read_secret(&name, &config.secret)?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| WebhookError::Client { name: name.clone(), error: error.to_string() })?;

        Ok(WebhookConnector {
            name,
            url,
            secret,
            client,
            max_attempts: config.max_attempts.max(1),
            initial_backoff: Duration::from_millis(config.initial_backoff_ms),
            max_backoff: Duration::from_millis(config.max_backoff_ms),
        })
    }

    async fn deliver(&self, action: &PlannedAction, operation: Operation) -> Outcome {
        let key = match operation {
            Operation::Execute => action.idempotency_key.clone(),
            Operation::Undo => format!("{}:undo", action.idempotency_key),
        };
        let body = match serde_json::to_vec(&Payload { operation, action }) {
            Ok(body) => body,
            Err(error) => {
                let details = format!("failed to encode the payload: {error}");
                return Outcome::new(&self.name, action, operation, OutcomeStatus::Failed, details);
            }
        };

        let mut attempt = 1;
        let (status, details) = loop {
            match self.attempt(&body, &key, attempt).await {
                Attempt::Done(details) => break (OutcomeStatus::Succeeded, details),
                Attempt::Fail(details) => break (OutcomeStatus::Failed, details),
                Attempt::Retry { error, .. } if attempt >= self.max_attempts => {
                    break (OutcomeStatus::Failed, format!("gave up after {attempt} attempts: {error}"));
                }
                Attempt::Retry { error, retry_after } => {
                    let delay = self.backoff(attempt, retry_after);
                    tracing::warn!(
                        connector = %self.name,
                        case_id = %action.case_id,
                        idempotency_key = %key,
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        "webhook attempt failed, retrying: {error}"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        };

        let mut outcome = Outcome::new(&self.name, action, operation, status, details);
        outcome.attempts = attempt;
        outcome
    }

    async fn attempt(&self, body: &[u8], key: &str, attempt: u32) -> Attempt {
        let timestamp = Utc::now().timestamp();
        let request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, sign(&self.secret.0, timestamp, body))
            .header(IDEMPOTENCY_HEADER, key)
            .header(ATTEMPT_HEADER, attempt.to_string())
            .body(body.to_vec());

        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Attempt::Retry { error: format!("request failed: {error}"), retry_after: None },
        };
        let status = response.status();
        let retry_after = retry_after(&response);
        let reply = response.text().await.unwrap_or_default();
        let details = describe_reply(status, &reply);

        if status.is_success() {
            Attempt::Done(details)
        } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Attempt::Retry { error: details, retry_after }
        } else {
            Attempt::Fail(details)
        }
    }

    /// Exponential back-off with jitter: half of the doubled delay is fixed
    /// and the other half random, so that retries of many actions spread
    /// out. A `Retry-After` from the receiver raises the delay, never above
    /// `max_backoff`.
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        let base = self.initial_backoff.saturating_mul(factor).min(self.max_backoff);
        let half = base / 2;
        let jitter_range = u64::try_from(half.as_millis()).unwrap_or(u64::MAX).saturating_add(1);
        let jitter = std::collections::hash_map::RandomState::new().hash_one(attempt) % jitter_range;
        let delay = half + Duration::from_millis(jitter);
        delay.max(retry_after.unwrap_or_default()).min(self.max_backoff)
    }
}

#[async_trait]
impl Connector for WebhookConnector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn execute(&self, action: &PlannedAction) -> Outcome {
        self.deliver(action, Operation::Execute).await
    }

    /// Sends the undo as its own request, keyed `<key>:undo`, so that a
    /// receiver that stores keys does not take it for a repeat of the
    /// execute.
    async fn undo(&self, action: &PlannedAction) -> Outcome {
        if !self.can_undo(action) {
            let details = format!("{} cannot be undone", action.kind);
            return Outcome::new(&self.name, action, Operation::Undo, OutcomeStatus::Unsupported, details);
        }
        self.deliver(action, Operation::Undo).await
    }
}

/// Computes the signature header value: `sha256=` followed by the lowercase
/// hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn check_scheme(name: &str, url: &Url) -> Result<(), WebhookError> {
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(WebhookError::InsecureUrl { name: name.to_string(), url: url.to_string() }),
        other => Err(WebhookError::InvalidUrl {
            name: name.to_string(),
            url: url.to_string(),
            reason: format!("scheme {other} is not http or https"),
        }),
    }
}

fn read_secret(name: &str, source: &SecretSource) -> Result<SigningSecret, WebhookError> {
    let value = match source {
        SecretSource::Env(variable) => std::env::var(variable)
            .map_err(|_| WebhookError::MissingSecretVariable { name: name.to_string(), variable: variable.clone() })?,
        SecretSource::File(path) => std::fs::read_to_string(path).map_err(|error| WebhookError::SecretFile {
            name: name.to_string(),
            path: path.clone(),
            error: error.to_string(),
        })?,
    };
    let value = value.strip_suffix('\n').map(|v| v.strip_suffix('\r').unwrap_or(v)).unwrap_or(&value);
    if value.is_empty() {
        return Err(WebhookError::EmptySecret { name: name.to_string() });
    }
    Ok(SigningSecret(value.as_bytes().to_vec()))
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn describe_reply(status: StatusCode, reply: &str) -> String {
    let reply: String = reply.chars().take(MAX_REPLY_CHARS).collect();
    let reply = reply.trim();
    if reply.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {reply}") }
}
