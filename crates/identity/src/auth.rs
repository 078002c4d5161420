//! Access tokens for the cloud connectors, cached until shortly before they
//! expire.
//!
//! - [`ClientCredentials`]: the OAuth 2.0 client credentials grant (RFC 6749
//!   section 4.4), as Microsoft Entra ID issues tokens for Microsoft Graph.
//! - [`GoogleServiceAccount`]: the JWT bearer grant (RFC 7523) with a
//!   service-account key and domain-wide delegation, one token per
//!   impersonated user, as Google Workspace APIs require.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::{Method, Url};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::error::ConfigError;
use crate::http::{Auth, Call, CallError, Http, Tally};
use crate::secret::Secret;

/// A token is renewed this long before its stated expiry.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// The fields of a token endpoint's reply that are used.
#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    /// Lifetime in seconds; one hour when absent.
    expires_in: Option<u64>,
}

#[derive(Clone)]
struct Cached {
    token: Secret,
    renew_at: Instant,
}

/// Client credentials grant against a configured token URL.
pub(crate) struct ClientCredentials {
    token_url: Url,
    client_id: String,
    client_secret: Secret,
    scope: String,
    cache: Mutex<Option<Cached>>,
}

impl ClientCredentials {
    pub fn new(token_url: Url, client_id: String, client_secret: Secret, scope: String) -> Self {
        ClientCredentials { token_url, client_id, client_secret, scope, cache: Mutex::new(None) }
    }

    /// Drops the cached token, so that the next call requests a new one.
    pub async fn forget(&self) {
        *self.cache.lock().await = None;
    }

    /// Returns a cached token, or requests a new one.
    pub async fn token(&self, http: &Http, tally: &Tally) -> Result<Secret, CallError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref().filter(|c| c.renew_at > Instant::now()) {
            return Ok(cached.token.clone());
        }
        let form = vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("client_id".to_string(), self.client_id.clone()),
            ("client_secret".to_string(), self.client_secret.expose().to_string()),
            ("scope".to_string(), self.scope.clone()),
        ];
        let cached = request_token(http, tally, &self.token_url, form).await?;
        *cache = Some(cached.clone());
        Ok(cached.token)
    }
}

/// The fields of a Google service-account key file that are used.
#[derive(Deserialize)]
struct ServiceAccountKey {
    client_email: String,
    private_key: String,
}

/// Google service-account key with domain-wide delegation.
pub(crate) struct GoogleServiceAccount {
    token_url: Url,
    client_email: String,
    key: aws_lc_rs::signature::RsaKeyPair,
    scopes: String,
    cache: Mutex<HashMap<String, Cached>>,
}

impl GoogleServiceAccount {
    /// Reads a key file's JSON (`client_email`, `private_key` in PKCS #8
    /// PEM).
    pub fn from_key_json(
        connector: &str,
        key_json: &Secret,
        token_url: Url,
        scopes: &[String],
    ) -> Result<Self, ConfigError> {
        let invalid = |reason: &str| ConfigError::Secret {
            connector: connector.to_string(),
            field: "service_account_key".to_string(),
            reason: reason.to_string(),
        };
        let key: ServiceAccountKey = serde_json::from_str(key_json.expose())
            .map_err(|_| invalid("not a service-account key file: expected JSON with client_email and private_key"))?;
        let der = pem_body(&key.private_key).ok_or_else(|| invalid("private_key is not a PEM PRIVATE KEY block"))?;
        let pair = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der)
            .map_err(|_| invalid("private_key is not an RSA key in PKCS #8 form"))?;
        Ok(GoogleServiceAccount {
            token_url,
            client_email: key.client_email,
            key: pair,
            scopes: scopes.join(" "),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Returns a token acting as `subject` (a user's primary address).
    pub async fn token(&self, http: &Http, tally: &Tally, subject: &str) -> Result<Secret, CallError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.get(subject).filter(|c| c.renew_at > Instant::now()) {
            return Ok(cached.token.clone());
        }
        let assertion = self.assertion(subject)?;
        let form = vec![
            ("grant_type".to_string(), "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string()),
            ("assertion".to_string(), assertion),
        ];
        let cached = request_token(http, tally, &self.token_url, form).await?;
        cache.insert(subject.to_string(), cached.clone());
        Ok(cached.token)
    }

    /// Builds the signed JWT: RS256, one hour lifetime, audience the token
    /// URL.
    fn assertion(&self, subject: &str) -> Result<String, CallError> {
        let now = chrono::Utc::now().timestamp();
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT" });
        let claims = serde_json::json!({
            "iss": self.client_email,
            "sub": subject,
            "scope": self.scopes,
            "aud": self.token_url.as_str(),
            "iat": now,
            "exp": now + 3600,
        });
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, signing_input.as_bytes(), &mut signature)
            .map_err(|_| CallError::Token("failed to sign the service-account assertion".to_string()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// Decodes the base64 body of a `-----BEGIN PRIVATE KEY-----` block.
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let start = pem.find("-----BEGIN PRIVATE KEY-----")? + "-----BEGIN PRIVATE KEY-----".len();
    let end = pem.find("-----END PRIVATE KEY-----")?;
    let body: String = pem.get(start..end)?.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(body).ok()
}

/// POSTs a token request form and caches nothing itself. The reply body
/// is never copied into errors, because a misbehaving server could echo
/// the credential.
async fn request_token(
    http: &Http,
    tally: &Tally,
    token_url: &Url,
    form: Vec<(String, String)>,
) -> Result<Cached, CallError> {
    let call = Call::new(Method::POST, token_url.clone(), Auth::None).form(form);
    let reply = http.send(&call, tally).await.map_err(|error| CallError::Token(token_failure(&error)))?;
    let reply: TokenReply = serde_json::from_str(&reply.body)
        .map_err(|_| CallError::Token("the token endpoint's reply has no access_token".to_string()))?;
    let lifetime = Duration::from_secs(reply.expires_in.unwrap_or(3600));
    Ok(Cached {
        token: Secret::new(reply.access_token),
        renew_at: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
    })
}

fn token_failure(error: &CallError) -> String {
    match error {
        CallError::Permission { status, .. } => {
            format!(
                "the token endpoint rejected the client credentials (HTTP {status}); check the client id and secret"
            )
        }
        CallError::NotFound { .. } => "the token URL was not found (HTTP 404); check token_url".to_string(),
        CallError::GaveUp { attempts, .. } => {
            format!("the token endpoint stayed unavailable after {attempts} attempts")
        }
        CallError::Status { status, .. } => {
            format!("the token endpoint replied HTTP {status}; check the grant settings")
        }
        other => other.to_string(),
    }
}
