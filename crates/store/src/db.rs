//! Connection to either back end, the migrations, and the plumbing that runs
//! one piece of code against whichever pool a store holds.
//!
//! Each back end has its own migration folder, `migrations/sqlite` and
//! `migrations/postgres`, with the same file names and an equivalent schema;
//! the tests check both. The `Any` driver would allow one portable set, but it
//! decodes only integers, floats, text and bytes. PostgreSQL would then lose
//! its `uuid`, `timestamptz`, `jsonb` and `bytea` columns. The parts that
//! differ anyway (the database clock, `FOR UPDATE SKIP LOCKED`, triggers)
//! would still need SQL per back end.

use std::borrow::Cow;
use std::str::FromStr;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use crate::config::{SqliteSync, StoreConfig, redact_url};
use crate::error::{Result, StoreError};

/// The kind of database behind a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool of either back end, as the migrations take it.
#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// One SQL statement in the text of each back end.
pub(crate) struct Sql {
    sqlite: &'static str,
    postgres: &'static str,
}

impl Sql {
    /// Creates a statement whose text is valid on both back ends.
    pub(crate) const fn same(text: &'static str) -> Self {
        Self { sqlite: text, postgres: text }
    }

    pub(crate) const fn each(sqlite: &'static str, postgres: &'static str) -> Self {
        Self { sqlite, postgres }
    }

    pub(crate) fn text(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }
}

/// Runs `$body` against the store's reads, with `$backend` bound to its
/// `Backend`. The body is compiled once per back end, so the same Rust code
/// binds and decodes with each driver's own types. On SQLite `$pool` is one
/// reader connection, held for the whole of `$body`; on PostgreSQL it is the
/// pool. As with `on_writer!`, a body with several statements takes a
/// connection with `sqlx::Acquire` first.
macro_rules! on_reader {
    ($reads:expr, |$pool:ident, $backend:pat_param| $body:expr) => {
        match $reads {
            $crate::db::Reads::Sqlite(readers) => {
                let mut guard = readers.acquire().await?;
                let $pool = guard.connection();
                let $backend = $crate::db::Backend::Sqlite;
                $body
            }
            $crate::db::Reads::Postgres($pool) => {
                let $backend = $crate::db::Backend::Postgres;
                $body
            }
        }
    };
}
pub(crate) use on_reader;

/// Like `on_reader!` for the store's writes. On SQLite `$pool` is the single
/// writer connection, held for the whole of `$body`; on PostgreSQL it is the
/// pool. The body may use `$pool` once, so a body with several statements
/// outside a transaction takes a connection with `sqlx::Acquire` first.
/// Fails with sqlx's `PoolTimedOut` when the writer stays busy longer
/// than `acquire_timeout`, as the pool did.
macro_rules! on_writer {
    ($db:expr, |$pool:ident, $backend:pat_param| $body:expr) => {
        match $db {
            $crate::db::Writes::Sqlite(writer) => {
                #[allow(unused_imports)]
                use sqlx::Connection as _;
                let mut guard = writer.lock().await?;
                let $pool = guard.connection()?;
                let $backend = $crate::db::Backend::Sqlite;
                $body
            }
            $crate::db::Writes::Postgres($pool) => {
                let $backend = $crate::db::Backend::Postgres;
                $body
            }
        }
    };
}
pub(crate) use on_writer;

/// An open transaction on either back end. On SQLite it holds the
/// database's write lock (`BEGIN IMMEDIATE`) until it ends.
pub(crate) enum Tx<'c> {
    Sqlite(sqlx::Transaction<'c, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'c, sqlx::Postgres>),
}

impl Tx<'_> {
    pub(crate) async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}

/// Runs `$body` with `$conn` bound to the transaction's connection and
/// `$backend` to its `Backend`, compiled once per back end like `on_reader!`.
macro_rules! on_tx {
    ($tx:expr, |$conn:ident, $backend:pat_param| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(tx) => {
                let $conn = &mut **tx;
                let $backend = $crate::db::Backend::Sqlite;
                $body
            }
            $crate::db::Tx::Postgres(tx) => {
                let $conn = &mut **tx;
                let $backend = $crate::db::Backend::Postgres;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

/// The target of a store's writes: SQLite's single writer connection or
/// the PostgreSQL pool.
#[derive(Clone, Debug)]
pub(crate) enum Writes {
    Sqlite(SqliteWriter),
    Postgres(PgPool),
}

/// SQLite's single writer connection, taken out of its pool once and kept.
///
/// sqlx sends a ping to a connection each time it goes back to its pool, a
/// round trip to the connection's thread that every other writer waits
/// for. Held here, the connection goes back only when the store closes, so
/// a write costs its statements alone. The mutex queues writers in order, as
/// the one-connection pool did.
///
/// NOTE: a connection whose thread died (sqlx's `WorkerCrashed`) is not
/// replaced; every later write fails until the service restarts.
#[derive(Clone, Debug)]
pub(crate) struct SqliteWriter {
    pool: SqlitePool,
    /// Runs as long as any clone of the writer exists.
    checkpointer: std::sync::Arc<Checkpointer>,
    connection: std::sync::Arc<tokio::sync::Mutex<Option<sqlx::pool::PoolConnection<sqlx::Sqlite>>>>,
    acquire_timeout: std::time::Duration,
}

/// The locked writer connection; `None` once the store is closed.
pub(crate) struct WriterGuard<'a>(tokio::sync::MutexGuard<'a, Option<sqlx::pool::PoolConnection<sqlx::Sqlite>>>);

impl WriterGuard<'_> {
    pub(crate) fn connection(&mut self) -> std::result::Result<&mut sqlx::SqliteConnection, sqlx::Error> {
        self.0.as_deref_mut().ok_or(sqlx::Error::PoolClosed)
    }
}

impl SqliteWriter {
    async fn new(pool: SqlitePool, config: &StoreConfig) -> Result<Self> {
        let connection = pool.acquire().await?;
        let checkpointer = std::sync::Arc::new(Checkpointer::start(config).await?);
        Ok(Self {
            pool,
            checkpointer,
            connection: std::sync::Arc::new(tokio::sync::Mutex::new(Some(connection))),
            acquire_timeout: config.acquire_timeout,
        })
    }

    /// Waits for the writer connection, at most `acquire_timeout`.
    pub(crate) async fn lock(&self) -> std::result::Result<WriterGuard<'_>, sqlx::Error> {
        match tokio::time::timeout(self.acquire_timeout, self.connection.lock()).await {
            Ok(guard) => Ok(WriterGuard(guard)),
            Err(_) => Err(sqlx::Error::PoolTimedOut),
        }
    }

    /// Returns the connection to its pool and closes the pool.
    pub(crate) async fn close(&self) {
        self.checkpointer.task.abort();
        let connection = self.connection.lock().await.take();
        drop(connection);
        self.pool.close().await;
    }
}

/// A task that copies the write-ahead log into the database file on its
/// own connection, every `CHECKPOINT_INTERVAL`.
///
/// Without it, the commit that takes the log past SQLite's threshold copies
/// the pages and waits for the disk (`fsync`) on the writer connection.
/// Every write queued behind that commit waits too, and at 100 reports a
/// second this happens several times a second. A passive checkpoint on
/// another connection runs beside the writer. The task stops when the last
/// handle is dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Checkpointer {
    async fn start(config: &StoreConfig) -> Result<Self> {
        let options = sqlite_options(config, SqliteRole::Checkpointer)?;
        let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options)
            .await
            .map_err(|source| sqlite_connect_error(config, source))?;
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(CHECKPOINT_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut failing = false;
            loop {
                ticks.tick().await;
                let result: std::result::Result<(i64, i64, i64), sqlx::Error> =
                    sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut connection).await;
                match result {
                    Ok(_) => failing = false,
                    // Logged once per run of failures: the writer still
                    // checkpoints by itself past its threshold.
                    Err(error) if !failing => {
                        failing = true;
                        tracing::warn!(%error, "checkpointing the SQLite write-ahead log failed; retrying");
                    }
                    Err(_) => {}
                }
            }
        });
        Ok(Self { task })
    }
}

/// The target of a store's reads: SQLite's reader connections or the
/// PostgreSQL pool.
#[derive(Clone, Debug)]
pub(crate) enum Reads {
    Sqlite(SqliteReaders),
    Postgres(PgPool),
}

/// SQLite's read-only connections, taken out of their pool and kept, for
/// the reason `SqliteWriter` gives: a read then costs its statements alone,
/// without the ping that sqlx sends when a connection goes back to its
/// pool. At most `max_connections` exist. They open when first needed.
///
/// NOTE: as with the writer, a connection whose thread died is not
/// replaced, so reads that get it fail until the service restarts.
#[derive(Clone, Debug)]
pub(crate) struct SqliteReaders {
    pool: SqlitePool,
    idle: std::sync::Arc<std::sync::Mutex<Vec<sqlx::pool::PoolConnection<sqlx::Sqlite>>>>,
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    acquire_timeout: std::time::Duration,
}

/// A reader connection in use; it goes back to the idle list when dropped.
pub(crate) struct ReaderGuard<'a> {
    readers: &'a SqliteReaders,
    connection: Option<sqlx::pool::PoolConnection<sqlx::Sqlite>>,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl ReaderGuard<'_> {
    pub(crate) fn connection(&mut self) -> &mut sqlx::SqliteConnection {
        self.connection.as_deref_mut().expect("a reader guard holds its connection until dropped")
    }
}

impl Drop for ReaderGuard<'_> {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else { return };
        // Checked under the list's lock, which `close` takes after closing
        // the permits: a connection put back after `close` drained the list
        // would never return to its pool, and `Pool::close` would wait forever.
        let mut idle = self.readers.idle_list();
        if self.readers.permits.is_closed() {
            drop(connection);
        } else {
            idle.push(connection);
        }
    }
}

impl SqliteReaders {
    fn new(pool: SqlitePool, max_connections: u32, acquire_timeout: std::time::Duration) -> Self {
        let permits = usize::try_from(max_connections).unwrap_or(usize::MAX);
        Self {
            pool,
            idle: Default::default(),
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(permits)),
            acquire_timeout,
        }
    }

    /// Waits for a free reader connection, at most `acquire_timeout`, and
    /// opens one when none is idle.
    pub(crate) async fn acquire(&self) -> std::result::Result<ReaderGuard<'_>, sqlx::Error> {
        let permit = match tokio::time::timeout(self.acquire_timeout, self.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(sqlx::Error::PoolClosed),
            Err(_) => return Err(sqlx::Error::PoolTimedOut),
        };
        let idle = self.idle_list().pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.pool.acquire().await?,
        };
        Ok(ReaderGuard { readers: self, connection: Some(connection), _permit: permit })
    }

    fn idle_list(&self) -> std::sync::MutexGuard<'_, Vec<sqlx::pool::PoolConnection<sqlx::Sqlite>>> {
        // The list is only pushed to and popped from, so a panic elsewhere
        // cannot leave it half changed.
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stops handing out connections, returns the idle ones to their pool
    /// and closes it; `Pool::close` waits for connections still in use.
    pub(crate) async fn close(&self) {
        self.permits.close();
        let idle = std::mem::take(&mut *self.idle_list());
        drop(idle);
        self.pool.close().await;
    }
}

/// The current time on SQLite's clock, as the text that every time column of
/// the SQLite schema holds: UTC, millisecond precision, fixed width, so text
/// order is time order.
macro_rules! sqlite_now {
    () => {
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    };
}
pub(crate) use sqlite_now;

/// SQLite's clock plus the number of milliseconds in bind parameter `$param`.
macro_rules! sqlite_now_plus_ms {
    ($param:literal) => {
        concat!("strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('%+.3f seconds', ", $param, " / 1000.0))")
    };
}
pub(crate) use sqlite_now_plus_ms;

/// Migrations of each back end, compiled into the binary. The names must match
/// between the two lists; `migration_names_match` checks that.
const SQLITE_MIGRATIONS: &[(&str, &str)] = &[
    ("0001_initial.sql", include_str!("../migrations/sqlite/0001_initial.sql")),
    ("0002_api_tokens.sql", include_str!("../migrations/sqlite/0002_api_tokens.sql")),
    ("0003_response.sql", include_str!("../migrations/sqlite/0003_response.sql")),
    ("0004_campaigns.sql", include_str!("../migrations/sqlite/0004_campaigns.sql")),
    ("0005_mail.sql", include_str!("../migrations/sqlite/0005_mail.sql")),
    ("0006_web.sql", include_str!("../migrations/sqlite/0006_web.sql")),
    ("0007_identity.sql", include_str!("../migrations/sqlite/0007_identity.sql")),
];
const POSTGRES_MIGRATIONS: &[(&str, &str)] = &[
    ("0001_initial.sql", include_str!("../migrations/postgres/0001_initial.sql")),
    ("0002_api_tokens.sql", include_str!("../migrations/postgres/0002_api_tokens.sql")),
    ("0003_response.sql", include_str!("../migrations/postgres/0003_response.sql")),
    ("0004_campaigns.sql", include_str!("../migrations/postgres/0004_campaigns.sql")),
    ("0005_mail.sql", include_str!("../migrations/postgres/0005_mail.sql")),
    ("0006_web.sql", include_str!("../migrations/postgres/0006_web.sql")),
    ("0007_identity.sql", include_str!("../migrations/postgres/0007_identity.sql")),
];

/// The pools of a store: `writes` for everything that writes, `reads` for
/// reads that need no transaction.
///
/// On SQLite, `writes` has one connection. SQLite lets one connection write
/// at a time, and a second writer does not queue: it sleeps in the busy
/// handler, for up to 100 ms a try, even when the lock came free sooner.
/// Waiting for the one connection in the queue of `SqliteWriter`'s mutex
/// instead hands the lock over at once and in order. `reads` has `max_connections` connections that
/// cannot write (`query_only`), which read the last committed state beside
/// the writer in write-ahead-log mode. On PostgreSQL both are the same pool.
#[derive(Clone, Debug)]
pub(crate) struct Pools {
    pub(crate) writes: Writes,
    pub(crate) reads: Reads,
}

/// Opens the pools on the database of `config.url` and migrates it to the latest schema.
pub(crate) async fn connect(config: &StoreConfig) -> Result<Pools> {
    let url = config.url.as_str();
    if url.starts_with("sqlite:") {
        let writer = connect_sqlite(config, SqliteRole::Writer).await?;
        migrate(&Db::Sqlite(writer.clone()), config).await?;
        let writes = Writes::Sqlite(SqliteWriter::new(writer, config).await?);
        // Opened after the migration, so that every reader sees the schema.
        let readers = connect_sqlite(config, SqliteRole::Reader).await?;
        let reads = Reads::Sqlite(SqliteReaders::new(readers, config.max_connections, config.acquire_timeout));
        Ok(Pools { writes, reads })
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let pool = connect_postgres(config).await?;
        migrate(&Db::Postgres(pool.clone()), config).await?;
        Ok(Pools { writes: Writes::Postgres(pool.clone()), reads: Reads::Postgres(pool) })
    } else {
        Err(StoreError::UnsupportedUrl { url: redact_url(url) })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SqliteRole {
    Writer,
    Reader,
    Checkpointer,
}

/// Pages of write-ahead log past which the writer copies them into the
/// database file itself, in its commit. The checkpointer keeps the log far
/// below it, so this happens only when the checkpointer falls behind.
const WRITER_AUTOCHECKPOINT_PAGES: &str = "16384";

/// How often the checkpointer copies committed pages of the write-ahead log
/// into the database file.
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

fn sqlite_options(config: &StoreConfig, role: SqliteRole) -> Result<SqliteConnectOptions> {
    let options = SqliteConnectOptions::from_str(&config.url)
        .map_err(|source| StoreError::InvalidUrl { url: redact_url(&config.url), source })?
        .create_if_missing(role == SqliteRole::Writer)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match config.sqlite_synchronous {
            SqliteSync::Normal => SqliteSynchronous::Normal,
            SqliteSync::Full => SqliteSynchronous::Full,
        })
        .foreign_keys(true)
        // Other processes on the same file (`phishloop token create` beside
        // a running service) still wait in the busy handler.
        .busy_timeout(config.busy_timeout);
    Ok(match role {
        SqliteRole::Writer => options.pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES),
        SqliteRole::Reader => options.pragma("query_only", "ON"),
        SqliteRole::Checkpointer => options,
    })
}

/// Returns the error for a SQLite database that could not be opened.
fn sqlite_connect_error(config: &StoreConfig, source: sqlx::Error) -> StoreError {
    StoreError::Connect {
        url: redact_url(&config.url),
        hint: "check that the folder of the database file exists and is writable",
        source,
    }
}

async fn connect_sqlite(config: &StoreConfig, role: SqliteRole) -> Result<SqlitePool> {
    let options = sqlite_options(config, role)?;
    let max_connections = match role {
        SqliteRole::Reader => config.max_connections,
        SqliteRole::Writer | SqliteRole::Checkpointer => 1,
    };

    // No ping before each acquire: the database is a file opened by this
    // process, so there is no link to test, and each ping is a round trip to
    // the connection's thread that every caller of the single writer waits
    // for. sqlx also pings a connection when it returns to its pool, so the
    // writer and the readers are held outside it (see `SqliteWriter`).
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(config.acquire_timeout)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(|source| sqlite_connect_error(config, source))?;
    Ok(pool)
}

async fn connect_postgres(config: &StoreConfig) -> Result<PgPool> {
    let url = redact_url(&config.url);
    let options = PgConnectOptions::from_str(&config.url)
        .map_err(|source| StoreError::InvalidUrl { url: url.clone(), source })?
        .application_name("phishloop");

    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .connect_with(options)
        .await
        .map_err(|source| StoreError::Connect {
            url,
            hint: "check that PostgreSQL is running, and the host, port, user, password and database name",
            source,
        })?;
    Ok(pool)
}

async fn migrate(db: &Db, config: &StoreConfig) -> Result<()> {
    let map_error = |source| StoreError::Migrate { url: redact_url(&config.url), source };
    match db {
        Db::Sqlite(pool) => migrator(SQLITE_MIGRATIONS).run(pool).await.map_err(map_error),
        Db::Postgres(pool) => migrator(POSTGRES_MIGRATIONS).run(pool).await.map_err(map_error),
    }
}

/// Builds a migrator from `(file name, SQL)` pairs named `NNNN_description.sql`.
fn migrator(files: &'static [(&'static str, &'static str)]) -> Migrator {
    let migrations = files
        .iter()
        .map(|(name, sql)| {
            let (version, description) = parse_migration_name(name);
            Migration::new(
                version,
                Cow::Owned(description.replace('_', " ")),
                MigrationType::Simple,
                AssertSqlSafe(*sql).into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

/// Splits `0001_initial.sql` into `(1, "initial")`. The names are constants of
/// this crate, checked by a unit test, so a malformed one is a bug here.
fn parse_migration_name(name: &str) -> (i64, &str) {
    let stem = name.strip_suffix(".sql").unwrap_or(name);
    let (number, description) = stem.split_once('_').unwrap_or((stem, ""));
    (number.parse().unwrap_or(-1), description)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder_listing(backend: &str) -> Vec<String> {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
        let mut names: Vec<String> = std::fs::read_dir(&folder)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", folder.display()))
            .map(|entry| entry.expect("folder entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn compiled_names(files: &[(&str, &str)]) -> Vec<String> {
        files.iter().map(|(name, _)| (*name).to_owned()).collect()
    }

    #[test]
    fn migration_names_match() {
        let sqlite = folder_listing("sqlite");
        let postgres = folder_listing("postgres");

        assert_eq!(sqlite, postgres, "both back ends must have the same migration files");
        assert_eq!(compiled_names(SQLITE_MIGRATIONS), sqlite, "SQLITE_MIGRATIONS must list every file of its folder");
        assert_eq!(compiled_names(POSTGRES_MIGRATIONS), postgres, "POSTGRES_MIGRATIONS must list every file");
    }

    #[test]
    fn migration_names_parse() {
        for (name, _) in SQLITE_MIGRATIONS.iter().chain(POSTGRES_MIGRATIONS) {
            let (version, description) = parse_migration_name(name);

            assert!(version > 0, "{name}: expected a positive number before the first '_'");
            assert!(!description.is_empty(), "{name}: expected a description after the number");
        }
    }

    #[test]
    fn migration_versions_increase() {
        let versions: Vec<i64> = SQLITE_MIGRATIONS.iter().map(|(name, _)| parse_migration_name(name).0).collect();
        let mut sorted = versions.clone();
        sorted.sort_unstable();
        sorted.dedup();

        assert_eq!(versions, sorted, "migration numbers must be unique and listed in order");
    }
}
