//! Access tokens of the HTTP API, stored as the SHA-256 of the token.
//!
//! The caller generates the token and hashes it; the store never receives the
//! token itself, so neither the database nor its logs can leak one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{Sql, on_reader, on_writer, sqlite_now};
use crate::error::{Result, StoreError};
use crate::raw::Sha256Hex;
use crate::store::{Store, check_text};
use crate::text_enum::text_enum;

const MAX_TOKEN_NAME_BYTES: usize = 200;

text_enum! {
    /// The permissions of a token in the HTTP API.
    pub enum TokenRole in "api_tokens.role" {
        /// Everything, including reading every case and the metrics.
        Admin = "admin",
        /// Submit reports and read reports, cases, timelines and metrics.
        Analyst = "analyst",
        /// An identity administrator: what an analyst may do, and approve or
        /// undo actions that change accounts and credentials.
        Identity = "identity",
        /// Submit reports and read the status of a report.
        Reporter = "reporter",
    }
}

impl std::str::FromStr for TokenRole {
    type Err = StoreError;

    /// Parses `admin`, `analyst`, `identity` or `reporter`.
    fn from_str(value: &str) -> Result<Self> {
        match value {
            "admin" => Ok(Self::Admin),
            "analyst" => Ok(Self::Analyst),
            "identity" => Ok(Self::Identity),
            "reporter" => Ok(Self::Reporter),
            _ => Err(crate::error::invalid(
                "token role",
                format!("{value:?}: expected admin, analyst, identity or reporter"),
            )),
        }
    }
}

/// A stored access token, without the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: Uuid,
    /// The user of the token, such as `report-button` or `alice`.
    pub name: String,
    pub role: TokenRole,
    pub token_sha256: Sha256Hex,
    pub created_at: DateTime<Utc>,
    /// When the token was revoked; `None` while it is valid.
    pub revoked_at: Option<DateTime<Utc>>,
}

macro_rules! token_columns {
    () => {
        "id, name, role, token_sha256, created_at, revoked_at"
    };
}

type TokenRow = (Uuid, String, String, String, DateTime<Utc>, Option<DateTime<Utc>>);

const INSERT_TOKEN: Sql = Sql::each(
    concat!(
        "INSERT INTO api_tokens (id, name, role, token_sha256, created_at) VALUES ($1, $2, $3, $4, ",
        sqlite_now!(),
        ") RETURNING ",
        token_columns!()
    ),
    concat!(
        "INSERT INTO api_tokens (id, name, role, token_sha256, created_at) VALUES ($1, $2, $3, $4, now()) RETURNING ",
        token_columns!()
    ),
);

const SELECT_TOKEN_BY_HASH: Sql =
    Sql::same(concat!("SELECT ", token_columns!(), " FROM api_tokens WHERE token_sha256 = $1"));

const SELECT_TOKENS: Sql = Sql::same(concat!("SELECT ", token_columns!(), " FROM api_tokens ORDER BY created_at, id"));

/// Sets `revoked_at` once; revoking again keeps the first time.
const REVOKE_TOKEN: Sql = Sql::each(
    concat!(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ",
        sqlite_now!(),
        ") WHERE id = $1 RETURNING ",
        token_columns!()
    ),
    concat!(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ",
        token_columns!()
    ),
);

impl Store {
    /// Stores a new token by the SHA-256 of its text.
    ///
    /// Fails with `InvalidInput` for an empty or over-long name, and with
    /// `TokenExists` when a token with the same hash is stored already.
    pub async fn create_api_token(&self, name: &str, role: TokenRole, token_sha256: &Sha256Hex) -> Result<ApiToken> {
        check_text("token name", name, MAX_TOKEN_NAME_BYTES)?;

        let id = Uuid::now_v7();
        let inserted: std::result::Result<TokenRow, sqlx::Error> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(INSERT_TOKEN.text(backend))
                .bind(id)
                .bind(name)
                .bind(role.as_str())
                .bind(token_sha256.as_str())
                .fetch_one(pool)
                .await
        });
        let row = match inserted {
            Ok(row) => row,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::TokenExists { name: name.to_owned() });
            }
            Err(e) => return Err(e.into()),
        };

        let token = token_from_row(row)?;
        tracing::debug!(token_id = %token.id, role = %token.role, "api token created");
        Ok(token)
    }

    /// Returns the token with this SHA-256, revoked or not; the caller
    /// checks `revoked_at`.
    pub async fn find_api_token(&self, token_sha256: &Sha256Hex) -> Result<Option<ApiToken>> {
        let row: Option<TokenRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_TOKEN_BY_HASH.text(backend)).bind(token_sha256.as_str()).fetch_optional(pool).await?
        });
        row.map(token_from_row).transpose()
    }

    /// Returns every token, revoked ones included, oldest first.
    pub async fn list_api_tokens(&self) -> Result<Vec<ApiToken>> {
        let rows: Vec<TokenRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_TOKENS.text(backend)).fetch_all(pool).await?
        });
        rows.into_iter().map(token_from_row).collect()
    }

    /// Revokes a token and returns it. Revoking a revoked token keeps its
    /// first revocation time. Fails with `TokenNotFound` for an unknown id.
    pub async fn revoke_api_token(&self, token_id: Uuid) -> Result<ApiToken> {
        let row: Option<TokenRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(REVOKE_TOKEN.text(backend)).bind(token_id).fetch_optional(pool).await?
        });
        let row = row.ok_or(StoreError::TokenNotFound(token_id))?;

        let token = token_from_row(row)?;
        tracing::debug!(token_id = %token.id, "api token revoked");
        Ok(token)
    }
}

fn token_from_row(row: TokenRow) -> Result<ApiToken> {
    let (id, name, role, token_sha256, created_at, revoked_at) = row;
    Ok(ApiToken {
        id,
        name,
        role: TokenRole::from_column(&role)?,
        token_sha256: Sha256Hex::parse(&token_sha256)?,
        created_at,
        revoked_at,
    })
}
