//! The store handle and its checks shared by every module.

use std::sync::Arc;
use std::time::Duration;

use crate::config::StoreConfig;
use crate::db::{self, Backend, Reads, Writes};
use crate::error::{Result, StoreError, invalid};

/// A connection pool to the phishloop database, SQLite or PostgreSQL.
///
/// Cloning is cheap and shares the pool. Every method is safe to call from
/// many tasks, processes and (on PostgreSQL) machines at once.
#[derive(Clone, Debug)]
pub struct Store {
    /// The target of writes and transactions.
    pub(crate) db: Writes,
    /// The target of reads outside a transaction; see `db::Pools`.
    pub(crate) reads: Reads,
    pub(crate) config: Arc<StoreConfig>,
}

impl Store {
    /// Connects with default settings to `url` (`sqlite://PATH` or
    /// `postgres://...`) and migrates the database to the latest schema.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(StoreConfig::new(url)).await
    }

    /// Connects with `config` and migrates the database to the latest schema.
    pub async fn connect_with(config: StoreConfig) -> Result<Self> {
        validate_config(&config)?;
        let pools = db::connect(&config).await?;
        tracing::debug!(backend = ?backend_of(&pools.writes), "store connected and migrated");
        Ok(Self { db: pools.writes, reads: pools.reads, config: Arc::new(config) })
    }

    pub fn backend(&self) -> Backend {
        backend_of(&self.db)
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Closes every connection of the pools and waits until they are closed.
    pub async fn close(&self) {
        match &self.reads {
            Reads::Sqlite(readers) => readers.close().await,
            Reads::Postgres(pool) => pool.close().await,
        }
        match &self.db {
            Writes::Sqlite(writer) => writer.close().await,
            Writes::Postgres(pool) => pool.close().await,
        }
    }

    /// Rejects a JSON payload larger than `max_payload_bytes`.
    pub(crate) fn check_payload(&self, payload_name: &'static str, json: &str) -> Result<()> {
        let limit = self.config.max_payload_bytes;
        if json.len() > limit {
            return Err(StoreError::PayloadTooLarge { payload_name, size: json.len(), limit });
        }
        Ok(())
    }
}

fn backend_of(db: &Writes) -> Backend {
    match db {
        Writes::Sqlite(_) => Backend::Sqlite,
        Writes::Postgres(_) => Backend::Postgres,
    }
}

fn validate_config(config: &StoreConfig) -> Result<()> {
    if config.max_message_bytes == 0 {
        return Err(invalid("max_message_bytes", "must be at least 1"));
    }
    if config.max_payload_bytes == 0 {
        return Err(invalid("max_payload_bytes", "must be at least 1"));
    }
    if config.default_max_attempts == 0 {
        return Err(invalid("default_max_attempts", "must be at least 1"));
    }
    if !zstd::compression_level_range().contains(&config.compression_level) {
        let range = zstd::compression_level_range();
        let reason =
            format!("{} is outside zstd's range {}..={}", config.compression_level, range.start(), range.end());
        return Err(invalid("compression_level", reason));
    }
    if config.max_connections == 0 {
        return Err(invalid("max_connections", "must be at least 1"));
    }
    Ok(())
}

/// Converts a duration to whole milliseconds for SQL, rejecting durations
/// under 1 ms or longer than `max`.
pub(crate) fn duration_ms(field: &'static str, duration: Duration, max: Duration) -> Result<i64> {
    if duration > max {
        return Err(invalid(field, format!("{duration:?} is longer than the maximum {max:?}")));
    }
    let millis =
        i64::try_from(duration.as_millis()).map_err(|_| invalid(field, format!("{duration:?} is too long")))?;
    if millis == 0 {
        return Err(invalid(field, format!("{duration:?} is shorter than the minimum of 1 ms")));
    }
    Ok(millis)
}

/// Converts a delay to whole milliseconds for SQL, rejecting delays longer than `max`.
pub(crate) fn delay_ms(field: &'static str, delay: Duration, max: Duration) -> Result<i64> {
    if delay > max {
        return Err(invalid(field, format!("{delay:?} is longer than the maximum {max:?}")));
    }
    i64::try_from(delay.as_millis()).map_err(|_| invalid(field, format!("{delay:?} is too long")))
}

/// Checks a job or event kind: 1 to 100 characters of `a-z`, `0-9`, `.`, `_`
/// and `-`, starting with a letter, such as `report.analysed`.
pub(crate) fn check_kind(field: &'static str, kind: &str) -> Result<()> {
    let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
    let starts_with_letter = kind.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    if kind.len() > 100 || !starts_with_letter || !kind.chars().all(valid_char) {
        let reason = format!("{kind:?}: expected 1 to 100 characters of a-z, 0-9, '.', '_' or '-', starting with a-z");
        return Err(invalid(field, reason));
    }
    Ok(())
}

/// Checks that a text field is not empty or blank and at most `max_bytes` long.
pub(crate) fn check_text(field: &'static str, value: &str, max_bytes: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.len() > max_bytes {
        return Err(invalid(field, format!("is {} bytes, more than the maximum of {max_bytes}", value.len())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_kind_accepts_dotted_names() {
        for kind in ["analyse", "report.received", "action.purge-mail", "v2_job"] {
            assert!(check_kind("kind", kind).is_ok(), "{kind}");
        }
    }

    #[test]
    fn check_kind_rejects_other_text() {
        for kind in ["", "Analyse", "1job", "report received", "é", &"a".repeat(101)] {
            assert!(check_kind("kind", kind).is_err(), "{kind}");
        }
    }

    #[test]
    fn duration_ms_bounds() {
        let max = Duration::from_secs(60);

        assert_eq!(duration_ms("lease", Duration::from_millis(1500), max).ok(), Some(1500));
        assert!(duration_ms("lease", Duration::ZERO, max).is_err());
        assert!(duration_ms("lease", Duration::from_secs(61), max).is_err());
    }

    #[test]
    fn check_text_bounds() {
        assert!(check_text("reporter", "a@example.org", 10).is_err());
        assert!(check_text("reporter", "  ", 10).is_err());
        assert!(check_text("reporter", "a@b.c", 10).is_ok());
    }
}
