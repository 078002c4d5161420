//! `phishloop serve --worker-only` and `phishloop report` as real processes:
//! a worker killed with SIGKILL loses no report, and the CLI submits files
//! to an in-process service.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use phishloop_server::{Pipeline, ServerConfig, Service, Submission};
use phishloop_store::{Backend, EventSubject, OutboxFilter, OutboxKind, ReportSource, Store, TokenRole};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const BINARY: &str = env!("CARGO_BIN_EXE_phishloop");

/// A test database that removes itself: a temporary SQLite folder or a
/// PostgreSQL schema.
struct TestDatabase {
    url: String,
    _folder: tempfile::TempDir,
    schema: Option<String>,
}

impl TestDatabase {
    async fn new(backend: Backend) -> Self {
        let folder = tempfile::tempdir().expect("temporary folder");
        if backend == Backend::Sqlite {
            let url = format!("sqlite://{}", folder.path().join("crash.db").display());
            return Self { url, _folder: folder, schema: None };
        }
        let admin = sqlx::PgPool::connect(POSTGRES_URL).await.unwrap_or_else(|e| {
            panic!("PostgreSQL at 127.0.0.1:5432 (user postgres, database test) is not reachable: {e}; start it")
        });
        let schema = format!("phishloop_cli_test_{}", Uuid::new_v4().simple());
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin).await.expect("create schema");
        admin.close().await;
        Self { url: format!("{POSTGRES_URL}?options[search_path]={schema}"), _folder: folder, schema: Some(schema) }
    }

    async fn drop_schema(&self) {
        let Some(schema) = &self.schema else {
            return;
        };
        let admin = sqlx::PgPool::connect(POSTGRES_URL).await.expect("PostgreSQL");
        if let Err(e) = sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&admin).await {
            eprintln!("could not drop test schema {schema}: {e}");
        }
        admin.close().await;
    }

    fn folder(&self) -> &Path {
        self._folder.path()
    }
}

fn server_config(url: &str) -> ServerConfig {
    ServerConfig {
        database: Some(url.to_owned()),
        lease_seconds: 2,
        poll_interval_ms: 20,
        retry_base_ms: 50,
        ..ServerConfig::default()
    }
}

fn pipeline() -> Arc<Pipeline> {
    let analyzer =
        phishloop_analysis::Analyzer::new(phishloop_analysis::Config::default(), phishloop_analysis::Mode::Auto)
            .expect("analyzer");
    let triage = phishloop_triage::Triage::new(phishloop_triage::Config::default()).expect("triage");
    Arc::new(Pipeline::new(analyzer, triage))
}

/// A message written for this test; `index` makes each one distinct.
fn message(index: usize) -> Vec<u8> {
    format!(
        "From: \"Payroll\" <payroll@payro11-update.example>\r\nTo: staff{index}@corp-example.com\r\n\
         Subject: Action required: confirm your salary account {index}\r\nMessage-ID: <crash-{index}@payro11-update.example>\r\n\
         Date: Tue, 7 May 2024 08:00:00 +0000\r\nContent-Type: text/plain\r\n\r\n\
         Confirm your bank details today at http://payro11-update.example/confirm?id={index} or your salary is delayed.\r\n"
    )
    .into_bytes()
}

fn start_worker(database: &TestDatabase, config_file: &Path, log_name: &str) -> Child {
    let log = std::fs::File::create(database.folder().join(log_name)).expect("log file");
    Command::new(BINARY)
        .args(["--config"])
        .arg(config_file)
        .args(["serve", "--worker-only", "--workers", "2", "--database", &database.url])
        .env_remove(phishloop_server::ADMIN_TOKEN_VARIABLE)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start phishloop serve --worker-only")
}

async fn decided_count(store: &Store, report_ids: &[Uuid]) -> usize {
    event_count(store, report_ids, "decided").await
}

/// Counts the events of `kind` on the reports; `reporter_told` is the last
/// event of a report's job.
async fn event_count(store: &Store, report_ids: &[Uuid], kind: &str) -> usize {
    let mut count = 0;
    for id in report_ids {
        let events = store.events_for(EventSubject::Report(*id)).await.expect("events");
        count += events.iter().filter(|event| event.kind == kind).count();
    }
    count
}

async fn worker_killed_loses_nothing(backend: Backend) {
    const REPORTS: usize = 60;
    let database = TestDatabase::new(backend).await;
    let config = server_config(&database.url);
    let store = phishloop_server::connect_store(&config).await.expect("store");
    let pipeline = pipeline();
    let mut report_ids = Vec::new();
    for index in 0..REPORTS {
        let submission = Submission {
            message: message(index),
            reporter: Some(format!("staff{index}@corp-example.com")),
            comment: None,
            source: ReportSource::Api,
            source_key: None,
        };
        report_ids.push(phishloop_server::submit(&store, &pipeline, submission).await.expect("submit").report.id);
    }
    let config_file = database.folder().join("phishloop.toml");
    std::fs::write(&config_file, "[server]\nlease_seconds = 2\npoll_interval_ms = 20\nretry_base_ms = 50\n")
        .expect("config file");

    // Kill the first worker with SIGKILL once it has decided some reports.
    let mut first = start_worker(&database, &config_file, "first.log");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while decided_count(&store, &report_ids).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the first worker decided nothing within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().expect("SIGKILL the first worker");
    first.wait().expect("reap the first worker");
    let decided_before = decided_count(&store, &report_ids).await;
    assert!(
        decided_before < REPORTS,
        "the first worker finished every report before the kill; the test proved nothing"
    );

    let mut second = start_worker(&database, &config_file, "second.log");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while event_count(&store, &report_ids, "reporter_told").await < REPORTS {
        if tokio::time::Instant::now() >= deadline {
            let _ = second.kill();
            let log = std::fs::read_to_string(database.folder().join("second.log")).unwrap_or_default();
            panic!("not every reporter was told within 120 s after the restart; second worker log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill().expect("stop the second worker");
    second.wait().expect("reap the second worker");

    for id in &report_ids {
        let events = store.events_for(EventSubject::Report(*id)).await.expect("events");
        let kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
        assert_eq!(kinds, vec!["received", "analysed", "decided", "reporter_told"], "report {id}");
        let report = store.get_report(*id).await.expect("get_report").expect("report");
        assert!(report.decision.is_some(), "report {id} has no decision");
        assert!(report.case_id.is_some(), "report {id} has no case");
    }
    let outcomes = OutboxFilter { kind: Some(OutboxKind::Outcome), limit: 1_000, ..OutboxFilter::default() };
    assert_eq!(store.outbox_messages(&outcomes).await.expect("outbox").len(), REPORTS, "one outcome per report");
    assert!(store.verify_chain().await.expect("verify_chain").is_intact());
    store.close().await;
    database.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_loses_nothing_sqlite() {
    worker_killed_loses_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_loses_nothing_postgres() {
    worker_killed_loses_nothing(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn report_command_submits_each_file() {
    let database = TestDatabase::new(Backend::Sqlite).await;
    let config = ServerConfig { workers: 1, max_message_bytes: 64 * 1024, ..server_config(&database.url) };
    let store = phishloop_server::connect_store(&config).await.expect("store");
    let (_, token) = phishloop_server::create_token(&store, "cli-test", TokenRole::Reporter).await.expect("token");
    let service = Service::new(store.clone(), Default::default(), Default::default(), config, None).expect("service");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let running = service.start(Some(listener)).expect("start");
    let server = format!("http://{}", running.address().expect("address"));
    let first = database.folder().join("first.eml");
    let folder = database.folder().join("more");
    std::fs::create_dir(&folder).expect("create folder");
    // The server rejects the large file before reading all of it; the file
    // after it must still be sent.
    let large = folder.join("a-large.eml");
    let second = folder.join("b-second.eml");
    let missing = database.folder().join("missing.eml");
    std::fs::write(&first, message(1)).expect("write");
    let mut large_message = message(3);
    large_message.extend(std::iter::repeat_n(b'x', 4 * 1024 * 1024));
    std::fs::write(&large, large_message).expect("write");
    std::fs::write(&second, message(2)).expect("write");

    let arguments = [first.clone(), missing.clone(), folder.clone()];
    let output = tokio::task::spawn_blocking(move || {
        Command::new(BINARY)
            .arg("report")
            .args(arguments)
            .args(["--server", &server, "--reporter", "grace@corp-example.com", "--comment", "from the CLI"])
            .env("PHISHLOOP_TOKEN", token)
            .output()
            .expect("run phishloop report")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();

    assert_eq!(output.status.code(), Some(1), "two files failed: {stderr}");
    assert!(stderr.contains("missing.eml"), "{stderr}");
    // The server responds 413 and closes the connection. Depending on how
    // much of the body was written by then, the client sees the 413 or the
    // closed connection.
    assert!(stderr.contains("a-large.eml"), "{stderr}");
    assert!(stderr.contains("413") || stderr.contains("during the upload"), "{stderr}");
    assert!(stderr.contains("2 file(s) reported, 2 failed"), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for (line, file) in lines.iter().zip([&first, &second]) {
        let (path, id) = line.split_once('\t').expect("FILE<TAB>ID");
        assert_eq!(path, file.display().to_string());
        let report = store.get_report(id.parse().expect("uuid")).await.expect("get_report").expect("stored report");
        assert_eq!(report.reporter, "grace@corp-example.com");
        assert_eq!(report.comment.as_deref(), Some("from the CLI"));
        assert_eq!(report.source, ReportSource::Cli);
    }
    running.stop().await.expect("stop");
    store.close().await;
}

#[test]
fn report_command_without_token_fails() {
    let output = Command::new(BINARY)
        .args(["report", "x.eml", "--server", "http://127.0.0.1:9"])
        .env_remove("PHISHLOOP_TOKEN")
        .output()
        .expect("run phishloop report");

    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clicks_import_command_records_clicks() {
    let database = TestDatabase::new(Backend::Sqlite).await;
    let config = ServerConfig { workers: 1, ..server_config(&database.url) };
    let store = phishloop_server::connect_store(&config).await.expect("store");
    let (_, token) = phishloop_server::create_token(&store, "soc", TokenRole::Analyst).await.expect("token");
    let service = Service::new(store.clone(), Default::default(), Default::default(), config, None).expect("service");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let running = service.start(Some(listener)).expect("start");
    let server = format!("http://{}", running.address().expect("address"));
    let submission = Submission {
        message: message(7),
        reporter: Some("staff7@corp-example.com".to_owned()),
        comment: None,
        source: ReportSource::Cli,
        source_key: None,
    };
    let report_id = phishloop_server::submit(&store, &pipeline(), submission).await.expect("submit").report.id;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let case_id = loop {
        let report = store.get_report(report_id).await.expect("get_report").expect("report");
        if let (Some(case_id), Some(_)) = (report.case_id, report.decision) {
            break case_id;
        }
        assert!(std::time::Instant::now() < deadline, "the report was not decided within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let log = database.folder().join("proxy.csv");
    std::fs::write(
        &log,
        "time,user,client_ip,method,url,user_agent\n\
         2026-12-01T09:05:00Z,staff7@corp-example.com,10.0.0.7,POST,http://payro11-update.example/confirm?id=7,Mozilla/5.0\n\
         not a time,staff8@corp-example.com,10.0.0.8,GET,http://payro11-update.example/,Mozilla/5.0\n",
    )
    .expect("write log");

    let arguments = (log.clone(), server.clone(), case_id.to_string(), token.clone());
    let output = tokio::task::spawn_blocking(move || {
        let (log, server, case_id, token) = arguments;
        Command::new(BINARY)
            .args(["clicks", "import"])
            .arg(log)
            .args(["--server", &server, "--format", "proxy_csv", "--case", &case_id])
            .env("PHISHLOOP_TOKEN", token)
            .output()
            .expect("run phishloop clicks import")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();

    assert_eq!(output.status.code(), Some(1), "one line was skipped: {stdout} {stderr}");
    assert!(stderr.contains("line 3 skipped"), "{stderr}");
    assert!(stdout.contains(&format!("case {case_id}: 1 matching entry,")), "{stdout}");
    assert!(stdout.contains("staff7@corp-example.com\tsubmitted_credentials"), "{stdout}");
    let people = store.identity_people(case_id).await.expect("people");
    let staff7 = people.iter().find(|p| p.address == "staff7@corp-example.com").expect("staff7");
    assert_eq!(staff7.verdict, phishloop_store::PersonVerdict::SubmittedCredentials);
    running.stop().await.expect("stop");
    store.close().await;
}

fn token_command(arguments: &[&str], data: &Path) -> std::process::Output {
    Command::new(BINARY)
        .arg("token")
        .args(arguments)
        .arg("--data")
        .arg(data)
        .env_remove("PHISHLOOP_CONFIG")
        .output()
        .expect("phishloop token runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_commands_list_and_revoke() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let created = token_command(&["create", "--name", "soc-bot", "--role", "analyst"], folder.path());
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let token = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    let listed = token_command(&["list"], folder.path());
    let listing = String::from_utf8_lossy(&listed.stdout).to_string();
    let id = listing.split('\t').next().expect("an id column").to_owned();

    assert!(listed.status.success());
    assert!(listing.contains("\tanalyst\tvalid\t"), "{listing}");
    assert!(listing.trim_end().ends_with("\tsoc-bot"), "{listing}");
    assert!(!listing.contains(&token), "the list never shows a token");

    let revoked = token_command(&["revoke", &id], folder.path());
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    let listing = String::from_utf8_lossy(&token_command(&["list"], folder.path()).stdout).to_string();
    assert!(listing.contains("\tanalyst\trevoked "), "{listing}");
    let again = token_command(&["revoke", &id], folder.path());
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stderr).contains("was already revoked at"), "{again:?}");

    // The stored token, which the service looks up by hash, is revoked.
    let url = format!("sqlite://{}", folder.path().join("phishloop.db").display());
    let store = Store::connect(&url).await.expect("store");
    let stored = store.find_api_token(&phishloop_store::Sha256Hex::of(token.as_bytes())).await.expect("lookup");
    assert!(stored.expect("the token is stored").revoked_at.is_some());
    store.close().await;

    let unknown = token_command(&["revoke", "0190a5b4-0000-7000-8000-000000000000"], folder.path());
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("phishloop token list"));
}

#[test]
fn short_admin_token_rejected_before_database() {
    // An empty variable is rejected as well: it was set to be a token.
    for (token, length) in [("too-short", 9), ("", 0)] {
        let folder = tempfile::tempdir().expect("temporary folder");
        let output = Command::new(BINARY)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(folder.path())
            .env("PHISHLOOP_ADMIN_TOKEN", token)
            .env_remove("PHISHLOOP_CONFIG")
            .output()
            .expect("phishloop serve runs");
        let stderr = String::from_utf8_lossy(&output.stderr);

        assert!(!output.status.success());
        assert!(stderr.contains(&format!("PHISHLOOP_ADMIN_TOKEN is {length} characters long")), "{stderr}");
        assert!(!folder.path().join("phishloop.db").exists(), "no database is created for a rejected start");
    }
}

#[test]
fn first_start_explains_token_creation() {
    use std::io::{BufRead, BufReader};

    let folder = tempfile::tempdir().expect("temporary folder");
    let mut child = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(folder.path())
        .env_remove("PHISHLOOP_ADMIN_TOKEN")
        .env_remove("PHISHLOOP_CONFIG")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("phishloop serve starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("log line");
        let started = line.contains("service started");
        lines.push(line);
        if started {
            break;
        }
    }
    child.kill().expect("stop the service");
    child.wait().expect("service exits");
    let log = lines.join("\n");

    assert!(log.contains("service started"), "{log}");
    assert!(log.contains("no valid API token exists"), "{log}");
    assert!(log.contains("phishloop token create"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_events_finds_a_changed_event() {
    let database = TestDatabase::new(Backend::Sqlite).await;
    let store = phishloop_server::connect_store(&server_config(&database.url)).await.expect("store");
    let raw_sha256 = store.put_raw(&message(7)).await.expect("put_raw");
    let new = phishloop_store::NewReport {
        reporter: "ivy@corp-example.com".to_owned(),
        comment: None,
        source: ReportSource::Cli,
        raw_sha256,
        source_key: None,
    };
    let report = store.create_report(&new).await.expect("create_report");
    for index in 0..3 {
        let payload = serde_json::json!({ "n": index });
        store.append_event(EventSubject::Report(report.id), "note_added", &payload).await.expect("append");
    }
    let url = database.url.clone();
    let run = move || {
        let url = url.clone();
        move || Command::new(BINARY).args(["verify-events", "--database", &url]).output().expect("run verify-events")
    };

    let intact = tokio::task::spawn_blocking(run()).await.expect("join");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&sqlite_pool(&database.url).await)
        .await
        .expect("count");
    // Someone with write access to the file drops the guard and edits an event.
    let tamper = sqlite_pool(&database.url).await;
    sqlx::query("DROP TRIGGER events_reject_update").execute(&tamper).await.expect("drop the trigger");
    let changed =
        sqlx::query("UPDATE events SET payload = '{\"changed\":true}' WHERE seq = (SELECT min(seq) FROM events)")
            .execute(&tamper)
            .await;
    let broken = tokio::task::spawn_blocking(run()).await.expect("join");

    let intact_out = String::from_utf8_lossy(&intact.stdout).into_owned();
    assert_eq!(intact.status.code(), Some(0), "{intact_out}");
    assert!(intact_out.starts_with(&format!("intact: {count} events verified")), "{intact_out}");
    assert!(changed.is_ok(), "{changed:?}");
    let broken_out = String::from_utf8_lossy(&broken.stdout).into_owned();
    assert_eq!(broken.status.code(), Some(1), "{broken_out}");
    assert!(broken_out.starts_with("broken at event 1"), "{broken_out}");
    assert!(broken_out.contains("content_changed"), "{broken_out}");
    let missing = Command::new(BINARY)
        .args(["verify-events", "--data"])
        .arg(database.folder().join("no-such-folder"))
        .output()
        .expect("run verify-events");
    assert_eq!(missing.status.code(), Some(2), "a missing database is a usage error");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no phishloop database"));
    store.close().await;
}

async fn sqlite_pool(url: &str) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(url).await.expect("open the SQLite file")
}
