//! Test harness: runs the service in-process on 127.0.0.1 with port 0, on a
//! fresh SQLite file or a fresh schema of the PostgreSQL server at
//! 127.0.0.1:5432. PostgreSQL tests fail, never skip, when it is down.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use phishloop_server::{RunningService, ServerConfig, Service};
use phishloop_store::{Backend, Store};
use serde_json::Value;
use sqlx::AssertSqlSafe;

pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The bootstrap admin token of every test service.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef0123456789";

/// Declares a test run once per back end, as `$name::sqlite` and `$name::postgres`.
macro_rules! service_test {
    ($name:ident, |$env:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                $crate::common::run(phishloop_store::Backend::Sqlite, |$env: $crate::common::TestEnv| async move $body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                $crate::common::run(phishloop_store::Backend::Postgres, |$env: $crate::common::TestEnv| async move $body).await;
            }
        }
    };
}
pub(crate) use service_test;

/// A fresh database of one back end and the means to start services on it.
pub struct TestEnv {
    pub url: String,
    pub backend: Backend,
}

/// Settings that make tests fast: short polls, leases and retry delays.
pub fn fast_config(url: &str) -> ServerConfig {
    ServerConfig {
        database: Some(url.to_owned()),
        workers: 2,
        lease_seconds: 2,
        poll_interval_ms: 50,
        retry_base_ms: 50,
        ..ServerConfig::default()
    }
}

impl TestEnv {
    /// Opens a store on the test database with `config`'s limits.
    pub async fn store(&self, config: &ServerConfig) -> Store {
        phishloop_server::connect_store(config).await.expect("store on the test database")
    }

    /// Starts a service with HTTP on 127.0.0.1:0 and the fast settings.
    pub async fn start(&self) -> TestService {
        self.start_with(|_| {}).await
    }

    /// Starts a service with changed settings; `workers = 0` starts none.
    pub async fn start_with(&self, change: impl FnOnce(&mut ServerConfig)) -> TestService {
        self.start_with_loop(change, phishloop_response::ResponseConfig::default()).await
    }

    /// Starts a service with the fast settings and `response` as its
    /// `[response]` table.
    pub async fn start_responding(&self, response: phishloop_response::ResponseConfig) -> TestService {
        self.start_with_loop(|_| {}, response).await
    }

    async fn start_with_loop(
        &self,
        change: impl FnOnce(&mut ServerConfig),
        response: phishloop_response::ResponseConfig,
    ) -> TestService {
        let mut config = fast_config(&self.url);
        change(&mut config);
        let store = self.store(&config).await;
        let service = Service::new(
            store.clone(),
            phishloop_analysis::Config::default(),
            phishloop_triage::Config::default(),
            config,
            Some(ADMIN_TOKEN.to_owned()),
        )
        .expect("service")
        .with_loop(response, phishloop_coaching::CoachingConfig::default())
        .expect("response and coaching settings");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let running = service.start(Some(listener)).expect("start service");
        let base = format!("http://{}", running.address().expect("listening"));
        TestService { running, base, store, client: reqwest::Client::new() }
    }

    /// Runs SQL on the test database outside the store.
    pub async fn execute(&self, sqlite: &str, postgres: &str) {
        match self.backend {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.url).await.expect("SQLite connection");
                sqlx::query(AssertSqlSafe(sqlite.to_owned())).execute(&pool).await.expect("SQLite statement");
                pool.close().await;
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.url).await.expect("PostgreSQL connection");
                sqlx::query(AssertSqlSafe(postgres.to_owned())).execute(&pool).await.expect("PostgreSQL statement");
                pool.close().await;
            }
        }
    }
}

/// A running in-process service and an HTTP client for it.
pub struct TestService {
    pub running: RunningService,
    pub base: String,
    pub store: Store,
    pub client: reqwest::Client,
}

impl TestService {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Submits a raw message as message/rfc822 with the admin token.
    pub async fn submit(&self, message: &[u8], reporter: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/api/v1/reports"))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "message/rfc822")
            .body(message.to_vec());
        if let Some(reporter) = reporter {
            request = request.query(&[("reporter", reporter)]);
        }
        request.send().await.expect("POST /api/v1/reports")
    }

    /// Submits a multipart form with the admin token.
    pub async fn submit_form(&self, form: reqwest::multipart::Form) -> reqwest::Response {
        let request = self.client.post(self.url("/api/v1/reports")).bearer_auth(ADMIN_TOKEN).multipart(form);
        request.send().await.expect("POST /api/v1/reports")
    }

    /// Submits and returns the report id, failing unless the status is 202.
    pub async fn submit_ok(&self, message: &[u8], reporter: Option<&str>) -> String {
        let response = self.submit(message, reporter).await;
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        let body: Value = response.json().await.expect("JSON body");
        body["report_id"].as_str().expect("report_id").to_owned()
    }

    /// GETs `path` with the admin token and returns status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).bearer_auth(ADMIN_TOKEN).send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POSTs to `path` with the admin token and returns status and JSON body.
    pub async fn post(&self, path: &str) -> (u16, Value) {
        let response = self.client.post(self.url(path)).bearer_auth(ADMIN_TOKEN).send().await.expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GETs `path` without a token and returns status and text body.
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.text().await.expect("text body"))
    }

    /// Polls a report until it has a decision, for at most 60 seconds.
    pub async fn wait_decided(&self, report_id: &str) -> Value {
        wait_for(&format!("report {report_id} decided"), || async {
            let (status, report) = self.get(&format!("/api/v1/reports/{report_id}")).await;
            assert_eq!(status, 200, "{report}");
            report["decided_at"].is_string().then_some(report)
        })
        .await
    }

    /// Polls a report until its job is done, which is after its actions ran
    /// and its messages were queued, for at most 60 seconds.
    pub async fn wait_done(&self, report_id: &str) -> Value {
        wait_for(&format!("job of report {report_id} done"), || async {
            let (status, report) = self.get(&format!("/api/v1/reports/{report_id}")).await;
            assert_eq!(status, 200, "{report}");
            (report["job"]["status"] == "done").then_some(report)
        })
        .await
    }

    pub async fn stop(self) {
        self.running.stop().await.expect("service stops cleanly");
        self.store.close().await;
    }
}

/// Calls `probe` every 100 ms until it returns `Some`, failing after 60 s.
pub async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `body` on a fresh database of `backend`, then removes it, also when
/// the body panics.
pub async fn run<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(TestEnv) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    match backend {
        Backend::Sqlite => {
            let folder = tempfile::tempdir().expect("temporary folder");
            let url = format!("sqlite://{}", folder.path().join("service.db").display());
            let result = tokio::spawn(body(TestEnv { url, backend })).await;
            drop(folder);
            finish(result);
        }
        Backend::Postgres => {
            let admin = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .connect(POSTGRES_URL)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at 127.0.0.1:5432 (user postgres, database test) is not reachable: {e}; start it and run the tests again"));
            let schema = format!("phishloop_server_test_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin).await.expect("create schema");
            let url = format!("{POSTGRES_URL}?options[search_path]={schema}");
            let result = tokio::spawn(body(TestEnv { url, backend })).await;
            if let Err(e) = sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&admin).await {
                eprintln!("could not drop test schema {schema}: {e}");
            }
            admin.close().await;
            finish(result);
        }
    }
}

fn finish(result: Result<(), tokio::task::JoinError>) {
    match result {
        Ok(()) => {}
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("test body did not finish: {e}"),
    }
}

/// A phishing-like message written for these tests: a lookalike sender and
/// a password-expiry lure with a link to the lookalike domain.
pub fn phishing_message(tag: &str) -> Vec<u8> {
    format!(
        "From: \"IT Service Desk\" <helpdesk@micros0ft-support-login.example>\r\n\
         To: alice@corp-example.com\r\n\
         Subject: Urgent: your mailbox password expires today\r\n\
         Message-ID: <expire-{tag}@micros0ft-support-login.example>\r\n\
         Date: Mon, 6 May 2024 09:12:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n\
         <p>Dear user,</p>\r\n\
         <p>Your Microsoft 365 password expires in 2 hours. Verify your account now or your mailbox will be suspended.</p>\r\n\
         <p><a href=\"http://micros0ft-support-login.example/owa/verify.php?user=alice\">Sign in to keep your password</a></p>\r\n"
    )
    .into_bytes()
}

/// A harmless internal message written for these tests.
pub fn benign_message(tag: &str) -> Vec<u8> {
    format!(
        "From: Bob Builder <bob@corp-example.com>\r\n\
         To: alice@corp-example.com\r\n\
         Subject: Lunch on Thursday\r\n\
         Message-ID: <lunch-{tag}@corp-example.com>\r\n\
         Date: Mon, 6 May 2024 10:00:00 +0000\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Hi Alice,\r\n\r\nshall we try the new noodle place on Thursday at noon? I can book a table for four.\r\n\r\nBob\r\n"
    )
    .into_bytes()
}
