use std::path::PathBuf;

use hmac::{Hmac, KeyInit, Mac};
use phishloop_response::{
    ActionKind, Connector, IDEMPOTENCY_HEADER, LogConnector, Mode, OutcomeStatus, PlannedAction, SIGNATURE_HEADER,
    SecretSource, TIMESTAMP_HEADER, Target, WebhookConfig, WebhookConnector, WebhookError, idempotency_key,
};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "test-signing-secret";

fn secret_file(test: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("phishloop-webhook-{}-{test}", std::process::id()));
    std::fs::write(&path, format!("{SECRET}\n")).expect("writable temp folder");
    path
}

fn config(url: String, test: &str) -> WebhookConfig {
    WebhookConfig {
        name: "soar".to_string(),
        url,
        secret: SecretSource::File(secret_file(test)),
        max_attempts: 4,
        initial_backoff_ms: 1,
        max_backoff_ms: 5,
        timeout_ms: 2_000,
    }
}

fn action() -> PlannedAction {
    let target = Target::Url { url: "https://login.example-phish.net/wp/".to_string() };
    PlannedAction {
        case_id: "case-3".to_string(),
        idempotency_key: idempotency_key("case-3", ActionKind::BlockUrl, &target, "soar"),
        kind: ActionKind::BlockUrl,
        target,
        mode: Mode::Auto,
        connector: "soar".to_string(),
        playbook: "test".to_string(),
        reversible: true,
        note: None,
    }
}

fn header(request: &wiremock::Request, name: &str) -> String {
    request.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// Verifies a request the way a receiver would, without the crate's code.
fn verify(request: &wiremock::Request) -> bool {
    let timestamp = header(request, TIMESTAMP_HEADER);
    let signature = header(request, SIGNATURE_HEADER);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    let Some(hex_signature) = signature.strip_prefix("sha256=") else { return false };
    let Ok(bytes) = hex::decode(hex_signature) else { return false };
    mac.verify_slice(&bytes).is_ok()
}

#[tokio::test]
async fn signature_verifies_with_shared_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/hook")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let connector = WebhookConnector::new(&config(format!("{}/hook", server.uri()), "sig")).expect("valid config");

    let outcome = connector.execute(&action()).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    let requests = server.received_requests().await.expect("recording on");
    assert_eq!(requests.len(), 1);
    assert!(verify(&requests[0]));
    assert_eq!(header(&requests[0], IDEMPOTENCY_HEADER), action().idempotency_key);
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).expect("JSON body");
    assert_eq!(body["operation"], "execute");
    assert_eq!(body["action"]["target"]["url"], "https://login.example-phish.net/wp/");
}

#[tokio::test]
async fn wrong_secret_does_not_verify() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let mut config = config(server.uri(), "wrong");
    let other = std::env::temp_dir().join(format!("phishloop-webhook-{}-other", std::process::id()));
    std::fs::write(&other, "another-secret").expect("writable temp folder");
    config.secret = SecretSource::File(other);
    let connector = WebhookConnector::new(&config).expect("valid config");

    connector.execute(&action()).await;

    let requests = server.received_requests().await.expect("recording on");
    assert!(!verify(&requests[0]));
}

#[tokio::test]
async fn retries_on_503_with_the_same_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).up_to_n_times(2).mount(&server).await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let connector = WebhookConnector::new(&config(server.uri(), "retry")).expect("valid config");

    let outcome = connector.execute(&action()).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert_eq!(outcome.attempts, 3);
    let requests = server.received_requests().await.expect("recording on");
    assert_eq!(requests.len(), 3);
    let keys: Vec<String> = requests.iter().map(|r| header(r, IDEMPOTENCY_HEADER)).collect();
    assert!(keys.iter().all(|key| *key == action().idempotency_key), "{keys:?}");
    assert!(requests.iter().all(verify));
    assert!(requests.windows(2).all(|pair| pair[0].body == pair[1].body));
}

#[tokio::test]
async fn stops_on_400() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string("bad target"))
        .mount(&server)
        .await;
    let connector = WebhookConnector::new(&config(server.uri(), "stop")).expect("valid config");

    let outcome = connector.execute(&action()).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert_eq!(outcome.attempts, 1);
    assert!(outcome.details.contains("400"), "{}", outcome.details);
    assert!(outcome.details.contains("bad target"), "{}", outcome.details);
    assert_eq!(server.received_requests().await.expect("recording on").len(), 1);
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(429)).mount(&server).await;
    let connector = WebhookConnector::new(&config(server.uri(), "give-up")).expect("valid config");

    let outcome = connector.execute(&action()).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert_eq!(outcome.attempts, 4);
    assert!(outcome.details.starts_with("gave up after 4 attempts"), "{}", outcome.details);
    assert_eq!(server.received_requests().await.expect("recording on").len(), 4);
}

#[tokio::test]
async fn retries_when_nothing_listens() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let address = listener.local_addr().expect("bound address");
    drop(listener);
    let connector = WebhookConnector::new(&config(format!("http://{address}/hook"), "refused")).expect("valid config");

    let outcome = connector.execute(&action()).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert_eq!(outcome.attempts, 4);
}

#[tokio::test]
async fn undo_uses_its_own_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let connector = WebhookConnector::new(&config(server.uri(), "undo")).expect("valid config");

    let outcome = connector.undo(&action()).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded);
    let requests = server.received_requests().await.expect("recording on");
    assert_eq!(header(&requests[0], IDEMPOTENCY_HEADER), format!("{}:undo", action().idempotency_key));
    let mut irreversible = action();
    irreversible.kind = ActionKind::Notify;
    irreversible.reversible = false;
    assert_eq!(connector.undo(&irreversible).await.status, OutcomeStatus::Unsupported);
}

#[test]
fn plain_http_only_to_loopback() {
    let insecure = WebhookConnector::new(&config("http://soar.example/hook".to_string(), "insecure"));
    assert!(matches!(insecure, Err(WebhookError::InsecureUrl { .. })));
    assert!(WebhookConnector::new(&config("http://[::1]:9/hook".to_string(), "v6")).is_ok());
    assert!(WebhookConnector::new(&config("https://soar.example/hook".to_string(), "tls")).is_ok());
}

#[test]
fn missing_secret_variable_is_named() {
    let mut config = config("https://soar.example/hook".to_string(), "env");
    config.secret = SecretSource::Env("PHISHLOOP_TEST_UNSET_WEBHOOK_SECRET".to_string());
    let error = WebhookConnector::new(&config).expect_err("the variable is not set");
    assert!(error.to_string().contains("PHISHLOOP_TEST_UNSET_WEBHOOK_SECRET"));
    assert!(!format!("{error:?}").contains(SECRET));
}

#[tokio::test]
async fn log_connector_records_dry_run() {
    let connector = LogConnector::new();
    let outcome = connector.execute(&action()).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded);
    assert!(outcome.dry_run);
    assert!(outcome.details.contains("block_url url:https://login.example-phish.net/wp/"), "{}", outcome.details);
    let records = connector.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].target, action().target);
}
