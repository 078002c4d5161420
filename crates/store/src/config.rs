//! Settings of a store connection.

use std::fmt;
use std::time::Duration;

/// Settings of a store: where the database is and the limits the store enforces.
///
/// `StoreConfig::new(url)` gives the defaults listed on each field.
#[derive(Clone)]
pub struct StoreConfig {
    /// `sqlite://PATH` (the file is created if missing, its folder must exist)
    /// or `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?OPTIONS]`.
    pub url: String,
    /// Maximum size in bytes of a raw message, before compression. Default 50 MiB.
    pub max_message_bytes: usize,
    /// Maximum size in bytes of the JSON of a job payload, an event payload, a
    /// decision or an analysis summary. Default 4 MiB.
    pub max_payload_bytes: usize,
    /// Attempts a job gets before it is dead, unless its enqueue sets another
    /// number. Default 5.
    pub default_max_attempts: u32,
    /// zstd level for raw messages, 1 (fastest) to 22 (smallest). Default 3.
    pub compression_level: i32,
    /// Connections in the pool. On SQLite, the connections that read beside
    /// the one that writes. Default 10.
    pub max_connections: u32,
    /// How long a request waits for a free pool connection. Default 30 s.
    pub acquire_timeout: Duration,
    /// SQLite only: how long a write waits for another process's write
    /// transaction before failing with "database is locked". Default 10 s.
    pub busy_timeout: Duration,
    /// SQLite only: whether each commit waits for the disk. Default `Normal`.
    pub sqlite_synchronous: SqliteSync,
}

/// When a SQLite commit waits for the disk (SQLite's `synchronous` setting,
/// in write-ahead-log mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    /// The log is flushed to disk at checkpoints, not at each commit. A
    /// killed process loses nothing, and the file never corrupts. A power
    /// loss or operating-system crash can roll back the last commits.
    #[default]
    Normal,
    /// Every commit is flushed to disk, which keeps it across a power loss,
    /// at several times the cost per write.
    Full,
}

impl StoreConfig {
    /// Returns the default settings for the database at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_message_bytes: 50 * 1024 * 1024,
            max_payload_bytes: 4 * 1024 * 1024,
            default_max_attempts: 5,
            compression_level: 3,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(10),
            sqlite_synchronous: SqliteSync::Normal,
        }
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &redact_url(&self.url))
            .field("max_message_bytes", &self.max_message_bytes)
            .field("max_payload_bytes", &self.max_payload_bytes)
            .field("default_max_attempts", &self.default_max_attempts)
            .field("compression_level", &self.compression_level)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("busy_timeout", &self.busy_timeout)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .finish()
    }
}

/// Returns `url` with the password replaced by `***`, for messages and logs.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];

    // The user information ends at the last '@' of the authority.
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let user_info = &authority[..at];
    let Some(colon) = user_info.find(':') else {
        return url.to_owned();
    };

    let password_start = authority_start + colon + 1;
    let password_end = authority_start + at;
    format!("{}***{}", &url[..password_start], &url[password_end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_password() {
        assert_eq!(redact_url("postgres://app:s3cr@t@db.internal:5432/x"), "postgres://app:***@db.internal:5432/x");
        assert_eq!(redact_url("postgres://app:pw@h/db?sslmode=require"), "postgres://app:***@h/db?sslmode=require");
    }

    #[test]
    fn redact_url_keeps_urls_without_password() {
        assert_eq!(redact_url("postgres://postgres@127.0.0.1/test"), "postgres://postgres@127.0.0.1/test");
        assert_eq!(redact_url("sqlite://data/phishloop.db"), "sqlite://data/phishloop.db");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn config_debug_hides_password() {
        let config = StoreConfig::new("postgres://app:hunter2@127.0.0.1/db");

        let printed = format!("{config:?}");

        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("app:***@"), "{printed}");
    }
}
