//! The `[server]` table of the configuration file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use phishloop_store::SqliteSync;
use serde::Deserialize;

/// The port of the default listen address: 8025 (an unassigned port, chosen
/// as "8000 plus SMTP's 25").
pub const DEFAULT_PORT: u16 = 8025;

/// Settings of `phishloop serve`. Every key is optional; unknown keys are
/// errors.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the HTTP listener. Default `127.0.0.1:8025`, loopback only.
    pub listen: SocketAddr,
    /// Database URL: `sqlite://PATH` or `postgres://...`. Default: the SQLite
    /// file `phishloop.db` in `data_dir`.
    pub database: Option<String>,
    /// Folder of the default SQLite database, created if missing. Default
    /// `./phishloop-data`.
    pub data_dir: PathBuf,
    /// Analysis workers in this process. Default 2.
    pub workers: usize,
    /// Seconds a worker holds a job before another worker may take it over;
    /// the worker renews it every third of that time while it works. Default 60.
    pub lease_seconds: u64,
    /// Milliseconds an idle worker waits before it looks for work again. Default 500.
    pub poll_interval_ms: u64,
    /// Attempts an analysis job gets before it is dead. Default 5.
    pub max_attempts: u32,
    /// Delay in milliseconds before the first retry of a failed job; each
    /// further retry waits twice as long, up to 15 minutes. Default 5000.
    pub retry_base_ms: u64,
    /// Largest reported message accepted, in bytes. Default 52428800 (50 MiB).
    pub max_message_bytes: usize,
    /// SQLite only: `normal` (default) flushes the write-ahead log to disk at
    /// checkpoints, so a killed process loses nothing but a power loss can
    /// roll back the last commits; `full` flushes at every commit.
    pub sqlite_synchronous: SqliteSync,
    /// The `[server.web]` table: the web interface's sessions and sign-in throttling.
    pub web: crate::web::config::WebConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            database: None,
            data_dir: PathBuf::from("phishloop-data"),
            workers: 2,
            lease_seconds: 60,
            poll_interval_ms: 500,
            max_attempts: 5,
            retry_base_ms: 5_000,
            max_message_bytes: 50 * 1024 * 1024,
            sqlite_synchronous: SqliteSync::Normal,
            web: crate::web::config::WebConfig::default(),
        }
    }
}

/// The maximum wait between two retries of a job.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(15 * 60);

impl ServerConfig {
    /// Checks the values that have a lower bound.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_seconds == 0 {
            return Err("server.lease_seconds is 0: set at least 1 second".to_owned());
        }
        if self.max_attempts == 0 {
            return Err("server.max_attempts is 0: set at least 1".to_owned());
        }
        if self.max_message_bytes == 0 {
            return Err("server.max_message_bytes is 0: set at least 1".to_owned());
        }
        if self.poll_interval_ms == 0 {
            return Err("server.poll_interval_ms is 0: set at least 1 millisecond".to_owned());
        }
        self.web.validate()
    }

    /// Returns the database URL: `database`, or the SQLite file in `data_dir`.
    pub fn database_url(&self) -> String {
        match &self.database {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("phishloop.db").display()),
        }
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// Returns the wait before retrying after failed attempt `attempt` (from 1):
    /// `retry_base_ms · 2^(attempt-1)`, at most 15 minutes.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let factor = 1u64 << attempt.saturating_sub(1).min(20);
        Duration::from_millis(self.retry_base_ms.saturating_mul(factor)).min(MAX_RETRY_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_listens_on_loopback_only() {
        let config = ServerConfig::default();

        assert!(config.listen.ip().is_loopback(), "{}", config.listen);
        assert_eq!(config.listen.port(), DEFAULT_PORT);
    }

    #[test]
    fn default_database_is_sqlite_in_data_dir() {
        let config = ServerConfig { data_dir: PathBuf::from("/var/lib/phishloop"), ..ServerConfig::default() };

        assert_eq!(config.database_url(), "sqlite:///var/lib/phishloop/phishloop.db");
    }

    #[test]
    fn retry_delay_doubles_up_to_cap() {
        let config = ServerConfig { retry_base_ms: 1_000, ..ServerConfig::default() };

        assert_eq!(config.retry_delay(1), Duration::from_secs(1));
        assert_eq!(config.retry_delay(2), Duration::from_secs(2));
        assert_eq!(config.retry_delay(4), Duration::from_secs(8));
        assert_eq!(config.retry_delay(40), MAX_RETRY_DELAY);
    }

    #[test]
    fn zero_lease_rejected() {
        let config = ServerConfig { lease_seconds: 0, ..ServerConfig::default() };

        assert!(config.validate().is_err());
    }
}
