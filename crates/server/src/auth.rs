//! Bearer tokens: generation, hashing and the check on every `/api/v1` request.
//!
//! A token is `plk_` followed by 64 hexadecimal characters (32 random bytes
//! from the operating system). The database stores only its SHA-256, and
//! the bootstrap admin token from `PHISHLOOP_ADMIN_TOKEN` is kept in memory
//! as its SHA-256 as well.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use phishloop_store::{Sha256Hex, Store, TokenRole};

use crate::error::ServiceError;

/// The environment variable of the bootstrap admin token.
pub const ADMIN_TOKEN_VARIABLE: &str = "PHISHLOOP_ADMIN_TOKEN";

/// The shortest bootstrap admin token accepted, in characters.
const MIN_ADMIN_TOKEN_CHARS: usize = 32;

/// The caller of a request, as its token identifies it.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The token's name; `bootstrap-admin` for the environment's token.
    pub name: String,
    pub role: TokenRole,
}

/// An action of a caller, for the role check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    SubmitReport,
    ReadReport,
    ReadCase,
    ReadMetrics,
    ReadApiDocument,
    ReadActions,
    ApproveAction,
    UndoAction,
    ReadOutbox,
    ImportClicks,
}

impl Permission {
    fn action(self) -> &'static str {
        match self {
            Self::SubmitReport => "submit reports",
            Self::ReadReport => "read reports",
            Self::ReadCase => "read cases",
            Self::ReadMetrics => "read metrics",
            Self::ReadApiDocument => "read the API document",
            Self::ReadActions => "read actions",
            Self::ApproveAction => "approve actions",
            Self::UndoAction => "undo actions",
            Self::ReadOutbox => "read the outbox",
            Self::ImportClicks => "import click evidence",
        }
    }

    /// Reporters may submit and follow their reports; everything else needs
    /// an analyst, an identity administrator or an admin. Approving and
    /// undoing actions that change accounts or credentials also needs the
    /// identity or admin role, which `identity::api::check_identity_approval`
    /// checks once it knows the action's kind.
    fn allowed(self, role: TokenRole) -> bool {
        match role {
            TokenRole::Admin | TokenRole::Analyst | TokenRole::Identity => true,
            TokenRole::Reporter => {
                matches!(self, Self::SubmitReport | Self::ReadReport | Self::ReadApiDocument)
            }
        }
    }
}

/// Checks bearer tokens against the store and the bootstrap admin token.
/// Fails when the bootstrap admin token is shorter than 32 characters, so
/// that `phishloop serve` can reject it before it opens the database.
pub fn check_admin_token(token: &str) -> Result<(), ServiceError> {
    let length = token.chars().count();
    if length < MIN_ADMIN_TOKEN_CHARS {
        return Err(ServiceError::Config(format!(
            "{ADMIN_TOKEN_VARIABLE} is {length} characters long; use at least {MIN_ADMIN_TOKEN_CHARS}, such as a \
             token printed by `phishloop token create`"
        )));
    }
    Ok(())
}

#[derive(Clone, Debug)]
pub struct Authenticator {
    store: Store,
    admin_token_sha256: Option<Sha256Hex>,
}

impl Authenticator {
    /// Fails when `admin_token` is shorter than 32 characters, which is too
    /// easy to guess for an admin credential.
    pub fn new(store: Store, admin_token: Option<&str>) -> Result<Self, ServiceError> {
        if let Some(token) = admin_token {
            check_admin_token(token)?;
        }
        let admin_token_sha256 = admin_token.map(|token| Sha256Hex::of(token.as_bytes()));
        Ok(Self { store, admin_token_sha256 })
    }

    /// Returns the caller of a request that may do `permission`.
    pub async fn authorize(&self, headers: &HeaderMap, permission: Permission) -> Result<Caller, ServiceError> {
        let caller = self.authenticate(headers).await?;
        if !permission.allowed(caller.role) {
            return Err(ServiceError::Forbidden { role: caller.role.as_str(), action: permission.action() });
        }
        Ok(caller)
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ServiceError> {
        let token = bearer_token(headers)?;
        let presented = Sha256Hex::of(token.as_bytes());

        // Comparing hashes, not tokens, so the comparison time reveals nothing
        // about the token itself.
        if self.admin_token_sha256.as_ref() == Some(&presented) {
            return Ok(Caller { name: "bootstrap-admin".to_owned(), role: TokenRole::Admin });
        }
        match self.store.find_api_token(&presented).await? {
            Some(stored) if stored.revoked_at.is_none() => Ok(Caller { name: stored.name, role: stored.role }),
            _ => Err(ServiceError::InvalidToken),
        }
    }
}

fn bearer_token(headers: &HeaderMap) -> Result<&str, ServiceError> {
    let value = headers.get(AUTHORIZATION).ok_or(ServiceError::Unauthenticated)?;
    let value = value.to_str().map_err(|_| ServiceError::InvalidToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(ServiceError::Unauthenticated)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ServiceError::Unauthenticated);
    }
    Ok(token.trim())
}

/// Generates a new random token.
pub fn generate_token() -> Result<String, ServiceError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|error| ServiceError::Config(format!("the operating system gave no random bytes: {error}")))?;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(format!("plk_{hex}"))
}

/// Creates a token, stores its SHA-256 and returns the token text, which
/// is not stored anywhere and cannot be shown again.
pub async fn create_token(
    store: &Store,
    name: &str,
    role: TokenRole,
) -> Result<(phishloop_store::ApiToken, String), ServiceError> {
    let token = generate_token()?;
    let stored = store.create_api_token(name, role, &Sha256Hex::of(token.as_bytes())).await?;
    tracing::info!(token_id = %stored.id, name, role = %role, "api token created");
    Ok((stored, token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).expect("header value"));
        headers
    }

    #[test]
    fn bearer_token_parsed() {
        assert_eq!(bearer_token(&headers("Bearer abc")).ok(), Some("abc"));
        assert_eq!(bearer_token(&headers("bearer  abc ")).ok(), Some("abc"));
    }

    #[test]
    fn other_schemes_rejected() {
        assert!(bearer_token(&headers("Basic YWxhZGRpbjpvcGVu")).is_err());
        assert!(bearer_token(&headers("Bearer ")).is_err());
        assert!(bearer_token(&HeaderMap::new()).is_err());
    }

    #[test]
    fn generated_tokens_differ() {
        let first = generate_token().expect("token");
        let second = generate_token().expect("token");

        assert_ne!(first, second);
        assert_eq!(first.len(), 4 + 64);
        assert!(first.starts_with("plk_"));
    }

    #[test]
    fn reporter_may_not_read_cases() {
        assert!(Permission::SubmitReport.allowed(TokenRole::Reporter));
        assert!(!Permission::ReadCase.allowed(TokenRole::Reporter));
        assert!(!Permission::ReadMetrics.allowed(TokenRole::Reporter));
        assert!(Permission::ReadCase.allowed(TokenRole::Analyst));
    }

    #[test]
    fn identity_role_reads_and_imports() {
        assert!(Permission::ReadCase.allowed(TokenRole::Identity));
        assert!(Permission::ImportClicks.allowed(TokenRole::Identity));
        assert!(Permission::ApproveAction.allowed(TokenRole::Identity));
        assert!(!Permission::ImportClicks.allowed(TokenRole::Reporter));
    }
}
