//! Accounts of the web interface and their sign-in state.
//!
//! The store keeps the password hash the caller computed (Argon2id in the
//! PHC string format) and never sees a password. Names are kept in
//! lowercase, so `Alice` and `alice` are one account. Whether an account is
//! locked after failed sign-ins is computed on the database clock, like
//! every other time in the store.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{Sql, on_reader, on_writer, sqlite_now, sqlite_now_plus_ms};
use crate::error::{Result, StoreError, invalid};
use crate::store::{Store, check_text, duration_ms};
use crate::text_enum::text_enum;

const MAX_USER_NAME_CHARS: usize = 64;
const MAX_PASSWORD_HASH_BYTES: usize = 512;
/// The longest lock after failed sign-ins that `record_login_failure` accepts.
const MAX_LOCK: Duration = Duration::from_secs(24 * 60 * 60);

text_enum! {
    /// What a person may see and do in the web interface.
    pub enum UserRole in "users.role" {
        /// Everything, including every kind of action.
        Admin = "admin",
        /// Reads cases; approves, rejects and undoes mail and block actions; corrects verdicts.
        Analyst = "analyst",
        /// Reads cases; approves, rejects and undoes identity actions.
        Identity = "identity",
        /// Reads the dashboard and the messages to people.
        Awareness = "awareness",
        /// Reads everything and changes nothing.
        Auditor = "auditor",
    }
}

impl UserRole {
    /// Every role, in the order of the table above.
    pub const ALL: [UserRole; 5] =
        [UserRole::Admin, UserRole::Analyst, UserRole::Identity, UserRole::Awareness, UserRole::Auditor];
}

impl std::str::FromStr for UserRole {
    type Err = StoreError;

    /// Parses `admin`, `analyst`, `identity`, `awareness` or `auditor`.
    fn from_str(value: &str) -> Result<Self> {
        Self::from_column(value)
            .map_err(|_| invalid("role", format!("{value:?}: expected admin, analyst, identity, awareness or auditor")))
    }
}

/// A stored account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: Uuid,
    /// Lowercase name the person signs in with.
    pub name: String,
    pub role: UserRole,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set while the account is disabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Failed sign-ins since the last successful one.
    pub failed_logins: u32,
    /// Sign-in is refused until this time.
    pub locked_until: Option<DateTime<Utc>>,
    /// True while `locked_until` lies ahead on the database clock.
    pub locked: bool,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hash is not the password, but it allows offline guessing: keep it out of logs.
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("disabled_at", &self.disabled_at)
            .field("failed_logins", &self.failed_logins)
            .field("locked_until", &self.locked_until)
            .finish_non_exhaustive()
    }
}

/// Columns of `UserRow`, in order; the last one is computed.
macro_rules! user_columns {
    ($locked:expr) => {
        concat!(
            "id, name, role, password_hash, created_at, updated_at, disabled_at, failed_logins, locked_until, ",
            $locked,
            ", last_login_at"
        )
    };
}

macro_rules! sqlite_locked {
    () => {
        concat!("(locked_until IS NOT NULL AND locked_until > ", sqlite_now!(), ")")
    };
}

type UserRow = (
    Uuid,
    String,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    i64,
    Option<DateTime<Utc>>,
    bool,
    Option<DateTime<Utc>>,
);

const INSERT_USER: Sql = Sql::each(
    concat!(
        "INSERT INTO users (id, name, role, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, ",
        sqlite_now!(),
        ", ",
        sqlite_now!(),
        ") RETURNING ",
        user_columns!(sqlite_locked!())
    ),
    concat!(
        "INSERT INTO users (id, name, role, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, now(), now()) RETURNING ",
        user_columns!("coalesce(locked_until > now(), false)")
    ),
);

const SELECT_USER_BY_NAME: Sql = Sql::each(
    concat!("SELECT ", user_columns!(sqlite_locked!()), " FROM users WHERE name = $1"),
    concat!("SELECT ", user_columns!("coalesce(locked_until > now(), false)"), " FROM users WHERE name = $1"),
);

const SELECT_USER: Sql = Sql::each(
    concat!("SELECT ", user_columns!(sqlite_locked!()), " FROM users WHERE id = $1"),
    concat!("SELECT ", user_columns!("coalesce(locked_until > now(), false)"), " FROM users WHERE id = $1"),
);

const SELECT_USERS: Sql = Sql::each(
    concat!("SELECT ", user_columns!(sqlite_locked!()), " FROM users ORDER BY name"),
    concat!("SELECT ", user_columns!("coalesce(locked_until > now(), false)"), " FROM users ORDER BY name"),
);

/// Sets or clears `disabled_at`; disabling twice keeps the first time.
const SET_USER_DISABLED: Sql = Sql::each(
    concat!(
        "UPDATE users SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, ",
        sqlite_now!(),
        ") ELSE NULL END, updated_at = ",
        sqlite_now!(),
        " WHERE name = $1 RETURNING ",
        user_columns!(sqlite_locked!())
    ),
    concat!(
        "UPDATE users SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) ELSE NULL END, \
         updated_at = now() WHERE name = $1 RETURNING ",
        user_columns!("coalesce(locked_until > now(), false)")
    ),
);

/// Replaces the hash and clears the failed sign-ins and the lock.
const SET_USER_PASSWORD: Sql = Sql::each(
    concat!(
        "UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL, updated_at = ",
        sqlite_now!(),
        " WHERE name = $1 RETURNING ",
        user_columns!(sqlite_locked!())
    ),
    concat!(
        "UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL, updated_at = now() \
         WHERE name = $1 RETURNING ",
        user_columns!("coalesce(locked_until > now(), false)")
    ),
);

/// Counts a failed sign-in; from the `$2`-th failure in a row on, each
/// failure locks the account for `$3` milliseconds.
const RECORD_LOGIN_FAILURE: Sql = Sql::each(
    concat!(
        "UPDATE users SET failed_logins = failed_logins + 1, locked_until = CASE WHEN failed_logins + 1 >= $2 THEN ",
        sqlite_now_plus_ms!("$3"),
        " ELSE locked_until END WHERE id = $1 RETURNING ",
        user_columns!(sqlite_locked!())
    ),
    concat!(
        "UPDATE users SET failed_logins = failed_logins + 1, locked_until = CASE WHEN failed_logins + 1 >= $2 \
         THEN now() + $3 * interval '1 millisecond' ELSE locked_until END WHERE id = $1 RETURNING ",
        user_columns!("coalesce(locked_until > now(), false)")
    ),
);

const RECORD_LOGIN_SUCCESS: Sql = Sql::each(
    concat!(
        "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = ",
        sqlite_now!(),
        " WHERE id = $1 RETURNING ",
        user_columns!(sqlite_locked!())
    ),
    concat!(
        "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = now() WHERE id = $1 RETURNING ",
        user_columns!("coalesce(locked_until > now(), false)")
    ),
);

const DELETE_USER_SESSIONS: Sql = Sql::same("DELETE FROM sessions WHERE user_id = $1");

impl Store {
    /// Stores a new account. The name is stored in lowercase.
    ///
    /// Fails with `InvalidInput` for a name that is not 1 to 64 characters of
    /// letters, digits, `.`, `_`, `-` and `@`, or an empty hash, and with
    /// `UserExists` when the name is taken.
    pub async fn create_user(&self, name: &str, role: UserRole, password_hash: &str) -> Result<User> {
        let name = normalize_user_name(name)?;
        check_text("password hash", password_hash, MAX_PASSWORD_HASH_BYTES)?;

        let id = Uuid::now_v7();
        let inserted: std::result::Result<UserRow, sqlx::Error> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(INSERT_USER.text(backend))
                .bind(id)
                .bind(&name)
                .bind(role.as_str())
                .bind(password_hash)
                .fetch_one(pool)
                .await
        });
        let row = match inserted {
            Ok(row) => row,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(StoreError::UserExists { name }),
            Err(e) => return Err(e.into()),
        };
        let user = user_from_row(row)?;
        tracing::debug!(user_id = %user.id, role = %user.role, "user created");
        Ok(user)
    }

    /// Returns the account with this name, ignoring case.
    pub async fn find_user(&self, name: &str) -> Result<Option<User>> {
        let name = name.trim().to_lowercase();
        let row: Option<UserRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_USER_BY_NAME.text(backend)).bind(&name).fetch_optional(pool).await?
        });
        row.map(user_from_row).transpose()
    }

    pub async fn get_user(&self, user_id: Uuid) -> Result<Option<User>> {
        let row: Option<UserRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_USER.text(backend)).bind(user_id).fetch_optional(pool).await?
        });
        row.map(user_from_row).transpose()
    }

    /// Returns every account, by name.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        let rows: Vec<UserRow> =
            on_reader!(&self.reads, |pool, backend| sqlx::query_as(SELECT_USERS.text(backend)).fetch_all(pool).await?);
        rows.into_iter().map(user_from_row).collect()
    }

    /// Disables or enables an account. Disabling also ends its sessions, in
    /// the same transaction. Fails with `UserNotFound` for an unknown name.
    pub async fn set_user_disabled(&self, name: &str, disabled: bool) -> Result<User> {
        let name = name.trim().to_lowercase();
        let row: Option<UserRow> = on_writer!(&self.db, |pool, backend| {
            async {
                let mut tx = pool.begin().await?;
                let row: Option<UserRow> = sqlx::query_as(SET_USER_DISABLED.text(backend))
                    .bind(&name)
                    .bind(disabled)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let (Some(row), true) = (&row, disabled) {
                    sqlx::query(DELETE_USER_SESSIONS.text(backend)).bind(row.0).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(row)
            }
            .await?
        });
        let row = row.ok_or(StoreError::UserNotFound { name })?;
        user_from_row(row)
    }

    /// Replaces an account's password hash, clears its failed sign-ins and
    /// ends its sessions, in one transaction. Fails with `UserNotFound` for
    /// an unknown name.
    pub async fn set_user_password(&self, name: &str, password_hash: &str) -> Result<User> {
        check_text("password hash", password_hash, MAX_PASSWORD_HASH_BYTES)?;
        let name = name.trim().to_lowercase();
        let row: Option<UserRow> = on_writer!(&self.db, |pool, backend| {
            async {
                let mut tx = pool.begin().await?;
                let row: Option<UserRow> = sqlx::query_as(SET_USER_PASSWORD.text(backend))
                    .bind(&name)
                    .bind(password_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = &row {
                    sqlx::query(DELETE_USER_SESSIONS.text(backend)).bind(row.0).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(row)
            }
            .await?
        });
        let row = row.ok_or(StoreError::UserNotFound { name })?;
        user_from_row(row)
    }

    /// Counts a failed sign-in of an account. From the `lock_after`-th
    /// failure in a row on, each failure locks the account for `lock_for`,
    /// so a guesser gets one try per lock period.
    pub async fn record_login_failure(&self, user_id: Uuid, lock_after: u32, lock_for: Duration) -> Result<User> {
        let lock_ms = duration_ms("lock duration", lock_for, MAX_LOCK)?;
        let row: Option<UserRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(RECORD_LOGIN_FAILURE.text(backend))
                .bind(user_id)
                .bind(i64::from(lock_after.max(1)))
                .bind(lock_ms)
                .fetch_optional(pool)
                .await?
        });
        let row = row.ok_or(StoreError::UserNotFound { name: user_id.to_string() })?;
        user_from_row(row)
    }

    /// Records a successful sign-in: clears the failures and the lock.
    pub async fn record_login_success(&self, user_id: Uuid) -> Result<User> {
        let row: Option<UserRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(RECORD_LOGIN_SUCCESS.text(backend)).bind(user_id).fetch_optional(pool).await?
        });
        let row = row.ok_or(StoreError::UserNotFound { name: user_id.to_string() })?;
        user_from_row(row)
    }
}

/// Checks a user name and returns it in lowercase.
fn normalize_user_name(name: &str) -> Result<String> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    let count = name.chars().count();
    if count == 0 || count > MAX_USER_NAME_CHARS || !name.chars().all(valid_char) {
        let reason = format!(
            "{name:?}: use 1 to {MAX_USER_NAME_CHARS} characters of letters, digits, '.', '_', '-' and '@', \
             such as alice or alice@example.org"
        );
        return Err(invalid("user name", reason));
    }
    Ok(name.to_ascii_lowercase())
}

fn user_from_row(row: UserRow) -> Result<User> {
    let (
        id,
        name,
        role,
        password_hash,
        created_at,
        updated_at,
        disabled_at,
        failed_logins,
        locked_until,
        locked,
        last_login_at,
    ) = row;
    Ok(User {
        id,
        name,
        role: UserRole::from_column(&role)?,
        password_hash,
        created_at,
        updated_at,
        disabled_at,
        failed_logins: u32::try_from(failed_logins).unwrap_or(u32::MAX),
        locked_until,
        locked,
        last_login_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_lowercased() {
        assert_eq!(normalize_user_name("Alice@Example.org").ok().as_deref(), Some("alice@example.org"));
    }

    #[test]
    fn invalid_user_names_rejected() {
        for name in ["", "a b", "ålice", "x/y", &"a".repeat(65)] {
            assert!(normalize_user_name(name).is_err(), "{name:?}");
        }
    }
}
