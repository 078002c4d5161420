//! Sessions of the web interface.
//!
//! The caller generates a random session id, sends it to the browser in a
//! cookie and gives the store only its SHA-256, so the table cannot be used
//! to sign in. A session ends at the earlier of two times: `idle` after its
//! last request, and `lifetime` after sign-in. Both are compared on the
//! database clock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Sql, on_reader, on_writer, sqlite_now, sqlite_now_plus_ms};
use crate::error::{Result, invalid};
use crate::raw::Sha256Hex;
use crate::store::{Store, check_text, duration_ms};
use crate::users::User;

const MAX_CSRF_TOKEN_BYTES: usize = 200;
const MAX_SESSION_TIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// A request refreshes the idle expiry only when the last refresh is older
/// than this, so most page views read the session without writing.
const REFRESH_AFTER_MS: i64 = 60_000;

/// A valid session with its account.
#[derive(Clone, Debug)]
pub struct Session {
    pub user: User,
    /// The token that every form of this session sends back.
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    /// The end of the session unless a request comes first: the earlier of
    /// the idle expiry and the fixed expiry.
    pub expires_at: DateTime<Utc>,
}

const INSERT_SESSION: Sql = Sql::each(
    concat!(
        "INSERT INTO sessions (id_sha256, user_id, csrf_token, created_at, last_seen_at, idle_expires_at, expires_at) \
         VALUES ($1, $2, $3, ",
        sqlite_now!(),
        ", ",
        sqlite_now!(),
        ", ",
        sqlite_now_plus_ms!("$4"),
        ", ",
        sqlite_now_plus_ms!("$5"),
        ")"
    ),
    "INSERT INTO sessions (id_sha256, user_id, csrf_token, created_at, last_seen_at, idle_expires_at, expires_at) \
     VALUES ($1, $2, $3, now(), now(), now() + $4 * interval '1 millisecond', now() + $5 * interval '1 millisecond')",
);

/// Returns a session that has not expired, and whether its idle expiry is
/// due for a refresh.
const SELECT_SESSION: Sql = Sql::each(
    concat!(
        "SELECT user_id, csrf_token, created_at, min(idle_expires_at, expires_at), last_seen_at <= ",
        sqlite_now_plus_ms!("-$2"),
        " FROM sessions WHERE id_sha256 = $1 AND idle_expires_at > ",
        sqlite_now!(),
        " AND expires_at > ",
        sqlite_now!()
    ),
    "SELECT user_id, csrf_token, created_at, least(idle_expires_at, expires_at), \
     last_seen_at <= now() - $2 * interval '1 millisecond' \
     FROM sessions WHERE id_sha256 = $1 AND idle_expires_at > now() AND expires_at > now()",
);

const REFRESH_SESSION: Sql = Sql::each(
    concat!(
        "UPDATE sessions SET last_seen_at = ",
        sqlite_now!(),
        ", idle_expires_at = ",
        sqlite_now_plus_ms!("$2"),
        " WHERE id_sha256 = $1 RETURNING min(idle_expires_at, expires_at)"
    ),
    "UPDATE sessions SET last_seen_at = now(), idle_expires_at = now() + $2 * interval '1 millisecond' \
     WHERE id_sha256 = $1 RETURNING least(idle_expires_at, expires_at)",
);

const DELETE_SESSION: Sql = Sql::same("DELETE FROM sessions WHERE id_sha256 = $1");

const DELETE_EXPIRED_SESSIONS: Sql = Sql::each(
    concat!("DELETE FROM sessions WHERE idle_expires_at <= ", sqlite_now!(), " OR expires_at <= ", sqlite_now!()),
    "DELETE FROM sessions WHERE idle_expires_at <= now() OR expires_at <= now()",
);

type SessionRow = (Uuid, String, DateTime<Utc>, DateTime<Utc>, bool);

impl Store {
    /// Stores a session of `user_id` under the SHA-256 of its id. It ends
    /// `idle` after its last request or `lifetime` after now, whichever
    /// comes first. Fails with `InvalidInput` for times of zero or over 30
    /// days and for an empty CSRF token.
    pub async fn create_session(
        &self,
        user_id: Uuid,
        id_sha256: &Sha256Hex,
        csrf_token: &str,
        idle: Duration,
        lifetime: Duration,
    ) -> Result<()> {
        check_text("CSRF token", csrf_token, MAX_CSRF_TOKEN_BYTES)?;
        let idle_ms = duration_ms("session idle time", idle, MAX_SESSION_TIME)?;
        let lifetime_ms = duration_ms("session lifetime", lifetime, MAX_SESSION_TIME)?;
        if idle_ms > lifetime_ms {
            return Err(invalid("session idle time", format!("{idle:?} is longer than the lifetime {lifetime:?}")));
        }

        on_writer!(&self.db, |pool, backend| {
            sqlx::query(INSERT_SESSION.text(backend))
                .bind(id_sha256.as_str())
                .bind(user_id)
                .bind(csrf_token)
                .bind(idle_ms)
                .bind(lifetime_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        tracing::debug!(%user_id, "session created");
        Ok(())
    }

    /// Returns the session with this SHA-256 when it has not expired and its
    /// account exists and is enabled, and pushes its idle expiry to `idle`
    /// from now (at most once a minute).
    pub async fn find_session(&self, id_sha256: &Sha256Hex, idle: Duration) -> Result<Option<Session>> {
        let idle_ms = duration_ms("session idle time", idle, MAX_SESSION_TIME)?;
        let row: Option<SessionRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_SESSION.text(backend))
                .bind(id_sha256.as_str())
                .bind(REFRESH_AFTER_MS)
                .fetch_optional(pool)
                .await?
        });
        let Some((user_id, csrf_token, created_at, mut expires_at, refresh)) = row else {
            return Ok(None);
        };
        let Some(user) = self.get_user(user_id).await? else {
            return Ok(None);
        };
        if user.disabled_at.is_some() {
            return Ok(None);
        }

        if refresh {
            let refreshed: Option<(DateTime<Utc>,)> = on_writer!(&self.db, |pool, backend| {
                sqlx::query_as(REFRESH_SESSION.text(backend))
                    .bind(id_sha256.as_str())
                    .bind(idle_ms)
                    .fetch_optional(pool)
                    .await?
            });
            if let Some((refreshed,)) = refreshed {
                expires_at = refreshed;
            }
        }
        Ok(Some(Session { user, csrf_token, created_at, expires_at }))
    }

    /// Ends a session; returns false when no session had this SHA-256.
    pub async fn delete_session(&self, id_sha256: &Sha256Hex) -> Result<bool> {
        let deleted = on_writer!(&self.db, |pool, backend| {
            sqlx::query(DELETE_SESSION.text(backend)).bind(id_sha256.as_str()).execute(pool).await?.rows_affected()
        });
        Ok(deleted > 0)
    }

    /// Deletes expired sessions and returns how many.
    pub async fn delete_expired_sessions(&self) -> Result<u64> {
        let deleted = on_writer!(&self.db, |pool, backend| {
            sqlx::query(DELETE_EXPIRED_SESSIONS.text(backend)).execute(pool).await?.rows_affected()
        });
        Ok(deleted)
    }
}
