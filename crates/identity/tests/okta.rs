//! The okta connector against a mock Okta org on 127.0.0.1.

mod common;

use common::{LogCapture, action, fast_http, person, secret_file};
use phishloop_identity::{OktaConfig, OktaConnector};
use phishloop_response::{ActionKind, Connector, OutcomeStatus};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const API_TOKEN: &str = "00okta-api-token-Hq7vB";
const USER: &str = "carol@example.com";
const USER_ID: &str = "00u1carol";

struct Rig {
    server: MockServer,
    connector: OktaConnector,
    _dir: tempfile::TempDir,
}

async fn rig(client_ids: Vec<String>) -> Rig {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = OktaConfig {
        name: "okta".to_string(),
        base_url: server.uri(),
        api_token: secret_file(&dir, "okta-token", API_TOKEN),
        oauth_client_ids: client_ids,
        http: fast_http(),
    };
    let connector = OktaConnector::new(&config).expect("okta connector");
    Rig { server, connector, _dir: dir }
}

fn ssws() -> wiremock::matchers::HeaderExactMatcher {
    header("authorization", format!("SSWS {API_TOKEN}").as_str())
}

async fn mount_user(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/users/{USER}")))
        .and(ssws())
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": USER_ID, "status": "ACTIVE", "profile": { "login": USER, "email": USER }
        })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn revoke_sessions_clears_sessions_and_tokens() {
    let rig = rig(Vec::new()).await;
    mount_user(&rig.server).await;
    Mock::given(method("DELETE"))
        .and(path(format!("/api/v1/users/{USER_ID}/sessions")))
        .and(query_param("oauthTokens", "true"))
        .and(ssws())
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&rig.server)
        .await;
    let action = action(ActionKind::RevokeSessions, person(USER), "okta");

    let first = rig.connector.execute(&action).await;
    let second = rig.connector.execute(&action).await;

    assert_eq!(first.status, OutcomeStatus::Succeeded, "{}", first.details);
    assert!(second.details.starts_with("already done"), "{}", second.details);
}

#[tokio::test]
async fn revoke_sessions_retries_after_rate_limit() {
    let rig = rig(Vec::new()).await;
    mount_user(&rig.server).await;
    let reset = chrono::Utc::now().timestamp();
    Mock::given(method("DELETE"))
        .and(path(format!("/api/v1/users/{USER_ID}/sessions")))
        .respond_with(ResponseTemplate::new(429).insert_header("X-Rate-Limit-Reset", reset.to_string().as_str()))
        .up_to_n_times(1)
        .expect(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/api/v1/users/{USER_ID}/sessions")))
        .and(query_param("oauthTokens", "true"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::RevokeSessions, person(USER), "okta")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert_eq!(outcome.attempts, 3, "user lookup, throttled request, retry");
}

#[tokio::test]
async fn revoke_sessions_missing_user_fails() {
    let rig = rig(Vec::new()).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/nobody@example.com"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "errorCode": "E0000007", "errorSummary": "Not found: Resource not found: nobody@example.com (User)"
        })))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome =
        rig.connector.execute(&action(ActionKind::RevokeSessions, person("nobody@example.com"), "okta")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("target missing: user nobody@example.com"), "{}", outcome.details);
}

#[tokio::test]
async fn revoke_sessions_403_is_permission_failure() {
    let rig = rig(Vec::new()).await;
    mount_user(&rig.server).await;
    Mock::given(method("DELETE"))
        .and(path(format!("/api/v1/users/{USER_ID}/sessions")))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "errorCode": "E0000006", "errorSummary": "You do not have permission to perform the requested action"
        })))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::RevokeSessions, person(USER), "okta")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("permission denied (HTTP 403)"), "{}", outcome.details);
}

#[tokio::test]
async fn invalid_token_401_is_permission_failure() {
    let rig = rig(Vec::new()).await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/users/{USER}")))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({ "errorCode": "E0000011", "errorSummary": "Invalid token provided" })),
        )
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::ResetPassword, person(USER), "okta")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("permission denied (HTTP 401)"), "{}", outcome.details);
}

#[tokio::test]
async fn reset_password_expires_password() {
    let rig = rig(Vec::new()).await;
    mount_user(&rig.server).await;
    Mock::given(method("POST"))
        .and(path(format!("/api/v1/users/{USER_ID}/lifecycle/expire_password")))
        .and(ssws())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": USER_ID, "status": "PASSWORD_EXPIRED" })))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::ResetPassword, person(USER), "okta")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert!(outcome.details.contains("expired the password"), "{}", outcome.details);
}

#[tokio::test]
async fn revoke_credentials_revokes_configured_clients() {
    let rig = rig(vec!["0oa-ci".to_string(), "0oa-portal".to_string()]).await;
    mount_user(&rig.server).await;
    Mock::given(method("DELETE"))
        .and(path(format!("/api/v1/users/{USER_ID}/clients/0oa-ci/tokens")))
        .and(ssws())
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/api/v1/users/{USER_ID}/clients/0oa-portal/tokens")))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::RevokeCredentials, person(USER), "okta")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert!(outcome.details.contains("for 2 clients"), "{}", outcome.details);
}

#[tokio::test]
async fn revoke_credentials_lists_granted_clients() {
    let rig = rig(Vec::new()).await;
    mount_user(&rig.server).await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/users/{USER_ID}/clients")))
        .and(ssws())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "client_id": "0oa-mail", "client_name": "Mail app" }
        ])))
        .expect(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/api/v1/users/{USER_ID}/clients/0oa-mail/tokens")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::RevokeCredentials, person(USER), "okta")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert!(outcome.details.contains("0oa-mail"), "{}", outcome.details);
}

#[tokio::test]
async fn okta_logs_no_secret() {
    let (capture, _guard) = LogCapture::start();
    let rig = rig(Vec::new()).await;
    mount_user(&rig.server).await;
    Mock::given(method("POST"))
        .and(path(format!("/api/v1/users/{USER_ID}/lifecycle/expire_password")))
        .respond_with(ResponseTemplate::new(503))
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::ResetPassword, person(USER), "okta")).await;

    let logs = capture.text();
    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(logs.contains("retrying"), "the capture saw the retries: {logs}");
    assert!(!logs.contains(API_TOKEN), "API token logged: {logs}");
}
