//! Test harness: runs each store test on a fresh SQLite file and on a fresh
//! schema of the PostgreSQL server at 127.0.0.1:5432.
//!
//! PostgreSQL tests fail, never skip, when that server is not reachable.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use phishloop_store::{Backend, NewReport, Report, ReportSource, Store, StoreConfig};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{AssertSqlSafe, PgPool, SqlitePool};

/// The test database of the local PostgreSQL server (trust authentication).
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Declares a test that runs `$body` once per back end, as `$name::sqlite`
/// and `$name::postgres`, with `$db` bound to a fresh `TestDb`.
macro_rules! store_test {
    ($name:ident, |$db:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                $crate::common::run(phishloop_store::Backend::Sqlite, |$db: $crate::common::TestDb| async move $body)
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                $crate::common::run(phishloop_store::Backend::Postgres, |$db: $crate::common::TestDb| async move $body)
                    .await;
            }
        }
    };
}
pub(crate) use store_test;

/// A fresh, migrated database of one back end.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    pub backend: Backend,
    /// A connection pool beside the store's, for raw SQL as an attacker or
    /// an operator would run it.
    raw: RawPool,
}

enum RawPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Settings for test stores: enough connections for the concurrency tests.
pub fn test_config(url: &str) -> StoreConfig {
    let mut config = StoreConfig::new(url);
    config.max_connections = 8;
    config
}

impl TestDb {
    /// Opens a second store on the same database with changed settings.
    pub async fn store_with(&self, change: impl FnOnce(&mut StoreConfig)) -> Store {
        let mut config = test_config(&self.url);
        change(&mut config);
        Store::connect_with(config).await.expect("second store on the test database")
    }

    /// Runs raw SQL outside the store and returns the number of rows changed.
    pub async fn execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_owned());
        match &self.raw {
            RawPool::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|r| r.rows_affected()),
            RawPool::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|r| r.rows_affected()),
        }
    }

    /// Runs the statement written for this test's back end.
    pub async fn execute_each(&self, sqlite: &str, postgres: &str) -> Result<u64, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.execute(sqlite).await,
            Backend::Postgres => self.execute(postgres).await,
        }
    }

    /// Runs a query returning one integer, such as `SELECT count(*) ...`.
    pub async fn count(&self, sql: &str) -> i64 {
        let sql = AssertSqlSafe(sql.to_owned());
        let result = match &self.raw {
            RawPool::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            RawPool::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        };
        result.expect("count query")
    }

    /// Runs a query returning one text column.
    pub async fn strings(&self, sql: &str) -> BTreeSet<String> {
        let sql = AssertSqlSafe(sql.to_owned());
        let result: Result<Vec<String>, _> = match &self.raw {
            RawPool::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
            RawPool::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
        };
        result.expect("text query").into_iter().collect()
    }

    /// Runs a query returning two text columns and a boolean.
    pub async fn rows_of_strings_and_flag(&self, sql: &str) -> BTreeSet<(String, String, bool)> {
        let sql = AssertSqlSafe(sql.to_owned());
        let result: Result<Vec<(String, String, bool)>, _> = match &self.raw {
            RawPool::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            RawPool::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        };
        result.expect("row query").into_iter().collect()
    }

    /// Runs a query returning an integer and a text column.
    pub async fn versions(&self, sql: &str) -> Vec<(i64, String)> {
        let sql = AssertSqlSafe(sql.to_owned());
        let result = match &self.raw {
            RawPool::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            RawPool::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        };
        result.expect("row query")
    }
}

/// Runs `body` on a fresh database of `backend`, then removes the database,
/// also when the body panics.
pub async fn run<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(TestDb) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    match backend {
        Backend::Sqlite => run_sqlite(body).await,
        Backend::Postgres => run_postgres(body).await,
    }
}

async fn run_sqlite<F, Fut>(body: F)
where
    F: FnOnce(TestDb) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let folder = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}", folder.path().join("store.db").display());
    let store = Store::connect_with(test_config(&url)).await.expect("SQLite store in a temporary folder");
    let raw = SqlitePoolOptions::new().max_connections(1).connect(&url).await.expect("raw SQLite connection");

    let db = TestDb { store, url, backend: Backend::Sqlite, raw: RawPool::Sqlite(raw) };
    let result = tokio::spawn(body(db)).await;

    // The folder lives until the body is done, whatever the body captured.
    drop(folder);
    finish(result);
}

async fn run_postgres<F, Fut>(body: F)
where
    F: FnOnce(TestDb) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let admin = postgres_admin().await;
    let schema = format!("phishloop_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin).await.expect("create test schema");

    let url = format!("{POSTGRES_URL}?options[search_path]={schema}");
    let result = tokio::spawn(async move {
        let store = Store::connect_with(test_config(&url)).await.expect("PostgreSQL store in a fresh schema");
        let raw = PgPoolOptions::new().max_connections(1).connect(&url).await.expect("raw PostgreSQL connection");
        let db = TestDb { store, url, backend: Backend::Postgres, raw: RawPool::Postgres(raw) };
        body(db).await;
    })
    .await;

    let drop_schema = format!("DROP SCHEMA {schema} CASCADE");
    if let Err(e) = sqlx::query(AssertSqlSafe(drop_schema)).execute(&admin).await {
        eprintln!("could not drop test schema {schema}: {e}");
    }
    admin.close().await;
    finish(result);
}

/// Connects to the PostgreSQL test database, or fails the test with what to do.
pub async fn postgres_admin() -> PgPool {
    let connected =
        PgPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(10)).connect(POSTGRES_URL).await;
    match connected {
        Ok(pool) => pool,
        Err(e) => panic!(
            "PostgreSQL at 127.0.0.1:5432 (user postgres, database test) is not reachable: {e}. \
             The store tests run on PostgreSQL as well as SQLite and do not skip it: start the server \
             (`pg_ctlcluster --skip-systemctl-redirect VERSION main start`, as .ci/run does) and run the tests again."
        ),
    }
}

/// Re-raises the body's panic after cleanup, so the test fails with its message.
fn finish(result: Result<(), tokio::task::JoinError>) {
    match result {
        Ok(()) => {}
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("test body did not finish: {e}"),
    }
}

/// Stores a raw message and a report of it from `reporter`.
pub async fn report_from(store: &Store, reporter: &str, message: &[u8]) -> Report {
    let raw_sha256 = store.put_raw(message).await.expect("put_raw");
    let report = NewReport {
        reporter: reporter.to_owned(),
        comment: Some("looks like phishing".to_owned()),
        source: ReportSource::Api,
        raw_sha256,
        source_key: None,
    };
    store.create_report(&report).await.expect("create_report")
}

/// A message of `size` bytes that compresses well but not to nothing.
pub fn sample_message(size: usize, seed: u8) -> Vec<u8> {
    let header = format!("From: sender{seed}@example.org\r\nSubject: test {seed}\r\n\r\n");
    let mut message = header.into_bytes();
    let mut state = u32::from(seed) + 1;
    while message.len() < size {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        message.push(b'a' + ((state >> 16) % 26) as u8);
    }
    message.truncate(size);
    message
}
