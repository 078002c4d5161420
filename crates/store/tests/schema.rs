//! Migrations and connections: both back ends get an equivalent schema,
//! migrating twice changes nothing, and connection errors are clear.

mod common;

use std::collections::BTreeSet;

use common::{TestDb, store_test};
use phishloop_store::{Backend, Store, StoreError};

/// `(table, column, nullable)` of every table the migrations created.
async fn columns(db: &TestDb) -> BTreeSet<(String, String, bool)> {
    let sql = match db.backend {
        Backend::Sqlite => {
            "SELECT m.name, p.name, p.\"notnull\" = 0 FROM sqlite_schema m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT table_name::text, column_name::text, is_nullable = 'YES' FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'"
        }
    };
    db.rows_of_strings_and_flag(sql).await
}

/// Names of the indexes the migrations created by name, without those that
/// back a primary key or unique constraint.
async fn index_names(db: &TestDb) -> BTreeSet<String> {
    let sql = match db.backend {
        Backend::Sqlite => "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL",
        Backend::Postgres => {
            "SELECT i.relname::text FROM pg_index x \
             JOIN pg_class i ON i.oid = x.indexrelid \
             JOIN pg_class t ON t.oid = x.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = current_schema() \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        }
    };
    db.strings(sql).await
}

/// Names of the triggers on table `events`.
async fn event_triggers(db: &TestDb) -> BTreeSet<String> {
    let sql = match db.backend {
        Backend::Sqlite => "SELECT name FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'events'",
        Backend::Postgres => {
            "SELECT t.tgname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relname = 'events' AND NOT t.tgisinternal"
        }
    };
    db.strings(sql).await
}

/// Versions and descriptions in the migrations table.
async fn applied_migrations(db: &TestDb) -> Vec<(i64, String)> {
    db.versions("SELECT version, description FROM _sqlx_migrations ORDER BY version").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_of_both_back_ends_match() {
    let (sqlite_tx, sqlite_rx) = tokio::sync::oneshot::channel();
    let (postgres_tx, postgres_rx) = tokio::sync::oneshot::channel();
    common::run(Backend::Sqlite, |db| async move {
        let facts =
            (columns(&db).await, index_names(&db).await, event_triggers(&db).await, applied_migrations(&db).await);
        sqlite_tx.send(facts).expect("send");
    })
    .await;
    common::run(Backend::Postgres, |db| async move {
        let facts =
            (columns(&db).await, index_names(&db).await, event_triggers(&db).await, applied_migrations(&db).await);
        postgres_tx.send(facts).expect("send");
    })
    .await;
    let (sqlite_columns, sqlite_indexes, sqlite_triggers, sqlite_migrations) = sqlite_rx.await.expect("SQLite facts");
    let (postgres_columns, postgres_indexes, postgres_triggers, postgres_migrations) =
        postgres_rx.await.expect("PostgreSQL facts");

    assert!(sqlite_columns.len() > 40, "{sqlite_columns:?}");
    assert_eq!(sqlite_columns, postgres_columns, "tables, columns and nullability must match");
    assert!(sqlite_indexes.contains("jobs_claimable"), "{sqlite_indexes:?}");
    assert!(sqlite_indexes.contains("reports_source_key"), "{sqlite_indexes:?}");
    assert!(sqlite_columns.contains(&("outbox".to_owned(), "next_attempt_at".to_owned(), true)), "{sqlite_columns:?}");
    assert_eq!(sqlite_indexes, postgres_indexes, "indexes must match");
    // SQLite has no TRUNCATE, so only PostgreSQL needs a trigger against it.
    let postgres_without_truncate: BTreeSet<String> =
        postgres_triggers.into_iter().filter(|name| name != "events_reject_truncate").collect();
    assert_eq!(sqlite_triggers, postgres_without_truncate, "append-only triggers must match");
    assert_eq!(sqlite_migrations, postgres_migrations, "applied migrations must match");
    assert_eq!(sqlite_migrations.first(), Some(&(1, "initial".to_owned())));
    assert_eq!(sqlite_migrations.last(), Some(&(7, "identity".to_owned())));
    assert!(sqlite_indexes.contains("identity_people_address"), "{sqlite_indexes:?}");
    assert!(sqlite_indexes.contains("api_tokens_name"), "the token table copy keeps its index: {sqlite_indexes:?}");
}

store_test!(connecting_again_keeps_data, |db| {
    let sha256 = db.store.put_raw(b"kept across connections").await.expect("put_raw");

    let again = db.store_with(|_| {}).await;

    assert_eq!(again.get_raw(&sha256).await.expect("get_raw").as_deref(), Some(&b"kept across connections"[..]));
    let migration_files =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).expect("migration folder").count();
    assert_eq!(db.count("SELECT count(*) FROM _sqlx_migrations").await, migration_files as i64);
});

store_test!(store_reports_its_backend, |db| {
    assert_eq!(db.store.backend(), db.backend);
});

#[tokio::test]
async fn sqlite_creates_missing_file_with_wal() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("new.db");

    let store = Store::connect(&format!("sqlite://{}", path.display())).await.expect("connect");
    store.close().await;

    assert!(path.exists(), "{} must be created", path.display());
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.expect("raw connection");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&raw).await.expect("journal_mode");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn sqlite_in_missing_folder_fails_clearly() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}", folder.path().join("absent").join("store.db").display());

    let error = Store::connect(&url).await.expect_err("the folder does not exist");

    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
    assert!(error.to_string().contains("folder of the database file exists"), "{error}");
}

#[tokio::test]
async fn unsupported_url_rejected() {
    let error = Store::connect("mysql://root:secret@127.0.0.1/db").await.expect_err("unsupported scheme");

    assert!(matches!(error, StoreError::UnsupportedUrl { .. }), "{error:?}");
    let text = error.to_string();
    assert!(!text.contains("secret"), "the password must not appear: {text}");
    assert!(text.contains("sqlite://PATH"), "{text}");
}

#[tokio::test]
async fn postgres_connect_error_hides_password() {
    // A loopback port that was free a moment ago, so nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let mut config = phishloop_store::StoreConfig::new(format!("postgres://app:hunter2@127.0.0.1:{port}/db"));
    config.acquire_timeout = std::time::Duration::from_secs(3);

    let error = Store::connect_with(config).await.expect_err("nothing listens");

    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
    let text = error.to_string();
    assert!(!text.contains("hunter2"), "the password must not appear: {text}");
    assert!(text.contains(&format!("postgres://app:***@127.0.0.1:{port}/db")), "{text}");
    assert!(text.contains("check that PostgreSQL is running"), "{text}");
}
