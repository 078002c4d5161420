//! The graph connector against a mock Microsoft Graph on 127.0.0.1.

mod common;

use std::sync::Arc;

use common::{LogCapture, action, fast_http, person, secret_file};
use phishloop_identity::{GraphConfig, GraphConnector, Inventory, NhiCredential, NhiKind, Provider, RuleCheck};
use phishloop_response::{ActionKind, Connector, OutcomeStatus, Target};
use serde_json::json;
use wiremock::matchers::{body_json, body_string, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLIENT_SECRET: &str = "graph-client-secret-Zq8~";
const TOKEN: &str = "graph-access-token-5Yt3";
const USER: &str = "alice@example.com";

struct Rig {
    server: MockServer,
    connector: GraphConnector,
    _dir: tempfile::TempDir,
}

fn config(server: &MockServer, dir: &tempfile::TempDir) -> GraphConfig {
    GraphConfig {
        name: "graph".to_string(),
        base_url: format!("{}/v1.0", server.uri()),
        token_url: format!("{}/tenant-1/oauth2/v2.0/token", server.uri()),
        client_id: "client-1".to_string(),
        client_secret: secret_file(dir, "graph-secret", CLIENT_SECRET),
        scope: "https://graph.microsoft.com/.default".to_string(),
        purge_mailboxes: vec!["bob@example.com".to_string()],
        purge_folder: "deleteditems".to_string(),
        rules: RuleCheck { internal_domains: vec!["example.com".to_string()], ..RuleCheck::default() },
        http: fast_http(),
    }
}

/// Starts a mock Graph whose token endpoint checks the exact client
/// credentials form and may be called once.
async fn rig() -> Rig {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(format!(
            "grant_type=client_credentials&client_id=client-1&client_secret={}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
            CLIENT_SECRET.replace('~', "%7E")
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN
        })))
        .expect(1)
        .mount(&server)
        .await;
    let connector = GraphConnector::new(&config(&server, &dir)).expect("graph connector");
    Rig { server, connector, _dir: dir }
}

fn bearer() -> wiremock::matchers::HeaderExactMatcher {
    header("authorization", format!("Bearer {TOKEN}").as_str())
}

#[tokio::test]
async fn revoke_sessions_posts_once_per_key() {
    let rig = rig().await;
    Mock::given(method("POST"))
        .and(path(format!("/v1.0/users/{USER}/revokeSignInSessions")))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "value": true })))
        .expect(1)
        .mount(&rig.server)
        .await;
    let action = action(ActionKind::RevokeSessions, person(USER), "graph");

    let first = rig.connector.execute(&action).await;
    let second = rig.connector.execute(&action).await;

    assert_eq!(first.status, OutcomeStatus::Succeeded, "{}", first.details);
    assert!(first.details.contains(USER), "{}", first.details);
    assert_eq!(second.status, OutcomeStatus::Succeeded);
    assert!(second.details.starts_with("already done"), "{}", second.details);
}

#[tokio::test]
async fn revoke_sessions_retries_after_429() {
    let rig = rig().await;
    let route = format!("/v1.0/users/{USER}/revokeSignInSessions");
    Mock::given(method("POST"))
        .and(path(route.clone()))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("POST"))
        .and(path(route))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "value": true })))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::RevokeSessions, person(USER), "graph")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert_eq!(outcome.attempts, 3, "token request, throttled request, retry");
}

#[tokio::test]
async fn revoke_sessions_gives_up_when_still_throttled() {
    let rig = rig().await;
    Mock::given(method("POST"))
        .and(path(format!("/v1.0/users/{USER}/revokeSignInSessions")))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "0"))
        .expect(3)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::RevokeSessions, person(USER), "graph")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.contains("gave up after 3 attempts"), "{}", outcome.details);
}

#[tokio::test]
async fn revoke_sessions_403_is_permission_failure() {
    let rig = rig().await;
    Mock::given(method("POST"))
        .and(path(format!("/v1.0/users/{USER}/revokeSignInSessions")))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": { "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation." }
        })))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::RevokeSessions, person(USER), "graph")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("permission denied (HTTP 403)"), "{}", outcome.details);
    assert!(outcome.details.contains("User.RevokeSessions.All"), "{}", outcome.details);
}

#[tokio::test]
async fn revoke_sessions_401_renews_token_once() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "expires_in": 3599, "access_token": TOKEN })))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v1.0/users/{USER}/revokeSignInSessions")))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": { "code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid." }
        })))
        .expect(2)
        .mount(&server)
        .await;
    let connector = GraphConnector::new(&config(&server, &dir)).expect("graph connector");

    let outcome = connector.execute(&action(ActionKind::RevokeSessions, person(USER), "graph")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("permission denied (HTTP 401)"), "{}", outcome.details);
    assert_eq!(outcome.attempts, 4, "token, request, new token, request");
}

#[tokio::test]
async fn revoke_sessions_missing_user_fails() {
    let rig = rig().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/users/nobody@example.com/revokeSignInSessions"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "error": { "code": "Request_ResourceNotFound", "message": "Resource 'nobody@example.com' does not exist." }
        })))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome =
        rig.connector.execute(&action(ActionKind::RevokeSessions, person("nobody@example.com"), "graph")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("target missing: user nobody@example.com"), "{}", outcome.details);
}

#[tokio::test]
async fn reset_password_patches_password_profile() {
    let rig = rig().await;
    Mock::given(method("PATCH"))
        .and(path(format!("/v1.0/users/{USER}")))
        .and(bearer())
        .and(header("content-type", "application/json"))
        .and(body_json(json!({ "passwordProfile": { "forceChangePasswordNextSignIn": true } })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::ResetPassword, person(USER), "graph")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
}

#[tokio::test]
async fn reset_password_missing_user_fails() {
    let rig = rig().await;
    Mock::given(method("PATCH"))
        .and(path("/v1.0/users/gone@example.com"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::ResetPassword, person("gone@example.com"), "graph")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("target missing"), "{}", outcome.details);
}

#[tokio::test]
async fn remove_mailbox_rules_deletes_flagged_only() {
    let rig = rig().await;
    let rules = json!({ "value": [
        {
            "id": "rule-forward", "displayName": ".", "sequence": 1, "isEnabled": true,
            "conditions": {},
            "actions": { "forwardTo": [{ "emailAddress": { "address": "drop@evil.example", "name": "x" } }], "stopProcessingRules": true }
        },
        {
            "id": "rule-hide", "displayName": "Updates", "sequence": 2, "isEnabled": true,
            "conditions": { "bodyOrSubjectContains": ["invoice", "payment"] },
            "actions": { "moveToFolder": "AAMk-rss", "markAsRead": true }
        },
        {
            "id": "rule-news", "displayName": "Newsletters", "sequence": 3, "isEnabled": true,
            "conditions": { "senderContains": ["news@vendor.example"] },
            "actions": { "moveToFolder": "AAMk-news" }
        }
    ]});
    let rules_path = format!("/v1.0/users/{USER}/mailFolders/inbox/messageRules");
    Mock::given(method("GET"))
        .and(path(rules_path.clone()))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(rules))
        .expect(1)
        .mount(&rig.server)
        .await;
    for (id, name) in [("AAMk-rss", "RSS Feeds"), ("AAMk-news", "Newsletters")] {
        Mock::given(method("GET"))
            .and(path(format!("/v1.0/users/{USER}/mailFolders/{id}")))
            .and(bearer())
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": id, "displayName": name })))
            .mount(&rig.server)
            .await;
    }
    for (id, times) in [("rule-forward", 1), ("rule-hide", 1), ("rule-news", 0)] {
        Mock::given(method("DELETE"))
            .and(path(format!("{rules_path}/{id}")))
            .and(bearer())
            .respond_with(ResponseTemplate::new(204))
            .expect(times)
            .mount(&rig.server)
            .await;
    }

    let outcome = rig.connector.execute(&action(ActionKind::RemoveMailboxRules, person(USER), "graph")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert!(outcome.details.contains("removed 2 rules"), "{}", outcome.details);
    assert!(outcome.details.contains("forwards_externally"), "{}", outcome.details);
    assert!(outcome.details.contains("hides_in_obscure_folder"), "{}", outcome.details);
    assert!(outcome.details.contains("1 rule kept"), "{}", outcome.details);
}

#[tokio::test]
async fn remove_mailbox_rules_throttled_then_listed() {
    let rig = rig().await;
    let rules_path = format!("/v1.0/users/{USER}/mailFolders/inbox/messageRules");
    Mock::given(method("GET"))
        .and(path(rules_path.clone()))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("GET"))
        .and(path(rules_path))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "value": [] })))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::RemoveMailboxRules, person(USER), "graph")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert!(outcome.details.contains("no attacker-like rule"), "{}", outcome.details);
}

fn message_target() -> Target {
    Target::Message {
        message_id: Some("abc'1@phish.example".to_string()),
        content_fingerprint: "f".repeat(64),
        subject: Some("Invoice".to_string()),
        sender: Some("billing@phish.example".to_string()),
    }
}

#[tokio::test]
async fn purge_copies_moves_copies_not_yet_purged() {
    let rig = rig().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/bob@example.com/mailFolders/deleteditems"))
        .and(bearer())
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "id": "DELETED-ID", "displayName": "Deleted Items" })),
        )
        .expect(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/bob@example.com/messages"))
        .and(query_param("$filter", "internetMessageId eq '<abc''1@phish.example>'"))
        .and(query_param("$select", "id,parentFolderId"))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "value": [
            { "id": "m-inbox", "parentFolderId": "INBOX-ID" },
            { "id": "m-done", "parentFolderId": "DELETED-ID" }
        ]})))
        .expect(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/users/bob@example.com/messages/m-inbox/move"))
        .and(bearer())
        .and(body_json(json!({ "destinationId": "deleteditems" })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": "m-new" })))
        .expect(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/users/bob@example.com/messages/m-done/move"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::PurgeCopies, message_target(), "graph")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert!(outcome.details.starts_with("moved 1 copies"), "{}", outcome.details);
}

#[tokio::test]
async fn purge_copies_missing_mailbox_fails() {
    let rig = rig().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/bob@example.com/mailFolders/deleteditems"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::PurgeCopies, message_target(), "graph")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.contains("target missing: mailbox bob@example.com"), "{}", outcome.details);
}

fn entra_inventory() -> Arc<Inventory> {
    Arc::new(
        Inventory::new(vec![NhiCredential {
            id: "ci-deployer".to_string(),
            kind: NhiKind::OauthApp,
            owner: USER.to_string(),
            provider: Provider::Entra,
            reference: "5f1c0e0a-1111-4c2b-9a4e-000000000001".to_string(),
            parent: Some("app-object-1".to_string()),
            reaches: "deployment pipeline".to_string(),
            secret_sha256: None,
        }])
        .expect("inventory"),
    )
}

#[tokio::test]
async fn revoke_credentials_removes_application_password() {
    let rig = rig().await;
    let connector = rig.connector.with_inventory(entra_inventory());
    Mock::given(method("GET"))
        .and(path("/v1.0/applications/app-object-1"))
        .and(query_param("$select", "id,passwordCredentials"))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "app-object-1",
            "passwordCredentials": [{ "keyId": "5f1c0e0a-1111-4c2b-9a4e-000000000001", "displayName": "ci", "hint": "Xy1" }]
        })))
        .expect(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/applications/app-object-1/removePassword"))
        .and(bearer())
        .and(body_json(json!({ "keyId": "5f1c0e0a-1111-4c2b-9a4e-000000000001" })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = connector.execute(&action(ActionKind::RevokeCredentials, person(USER), "graph")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert!(outcome.details.contains("removed secret 5f1c0e0a"), "{}", outcome.details);
}

#[tokio::test]
async fn revoke_credentials_missing_application_fails() {
    let rig = rig().await;
    let connector = rig.connector.with_inventory(entra_inventory());
    Mock::given(method("GET"))
        .and(path("/v1.0/applications/app-object-1"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = connector.execute(&action(ActionKind::RevokeCredentials, person(USER), "graph")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("target missing: application app-object-1"), "{}", outcome.details);
}

#[tokio::test]
async fn revoke_credentials_skips_removed_key() {
    let rig = rig().await;
    let connector = rig.connector.with_inventory(entra_inventory());
    Mock::given(method("GET"))
        .and(path("/v1.0/applications/app-object-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "passwordCredentials": [] })))
        .expect(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/applications/app-object-1/removePassword"))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&rig.server)
        .await;

    let outcome = connector.execute(&action(ActionKind::RevokeCredentials, person(USER), "graph")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert!(outcome.details.contains("already removed"), "{}", outcome.details);
}

#[tokio::test]
async fn token_rejection_fails_without_calling_graph() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "error": "invalid_client" })))
        .expect(1)
        .mount(&server)
        .await;
    let connector = GraphConnector::new(&config(&server, &dir)).expect("graph connector");

    let outcome = connector.execute(&action(ActionKind::RevokeSessions, person(USER), "graph")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.contains("rejected the client credentials"), "{}", outcome.details);
}

#[tokio::test]
async fn unsupported_kind_is_reported() {
    let rig = rig().await;
    rig.server.reset().await;

    let outcome = rig
        .connector
        .execute(&action(ActionKind::BlockDomain, Target::Domain { domain: "evil.example".into() }, "graph"))
        .await;

    assert_eq!(outcome.status, OutcomeStatus::Unsupported);
}

#[tokio::test]
async fn graph_logs_no_secret() {
    let (capture, _guard) = LogCapture::start();
    let rig = rig().await;
    Mock::given(method("POST"))
        .and(path(format!("/v1.0/users/{USER}/revokeSignInSessions")))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v1.0/users/{USER}/revokeSignInSessions")))
        .respond_with(ResponseTemplate::new(403))
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::RevokeSessions, person(USER), "graph")).await;
    let debug = format!("{:?}", config(&rig.server, &rig._dir));

    let logs = capture.text();
    assert!(logs.contains("retrying"), "the capture saw the retry: {logs}");
    assert!(!logs.contains(CLIENT_SECRET), "client secret logged: {logs}");
    assert!(!logs.contains(TOKEN), "access token logged: {logs}");
    assert!(!outcome.details.contains(TOKEN));
    assert!(!debug.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn url_click_events_run_hunting_query() {
    let rig = rig().await;
    let reply = json!({
        "schema": [{ "name": "Timestamp", "type": "DateTime" }, { "name": "Url", "type": "String" }],
        "results": [{
            "Timestamp": "2026-12-01T09:05:00Z", "Url": "https://sso.examp1e-login.test/auth",
            "ActionType": "ClickAllowed", "AccountUpn": USER, "IPAddress": "10.0.0.5", "IsClickedThrough": false
        }]
    });
    Mock::given(method("POST"))
        .and(path("/v1.0/security/runHuntingQuery"))
        .and(bearer())
        .and(body_string_contains("UrlClickEvents | where Timestamp > ago(90m)"))
        .respond_with(ResponseTemplate::new(200).set_body_json(reply))
        .expect(1)
        .mount(&rig.server)
        .await;

    let body = rig.connector.url_click_events(90).await.expect("events");
    let log = phishloop_identity::parse_url_click_events(&body).expect("parsed");

    assert_eq!(log.entries.len(), 1);
    assert_eq!(log.entries[0].user.as_deref(), Some(USER));
    assert_eq!(log.entries[0].allowed, Some(true));
}

#[tokio::test]
async fn url_click_events_retry_after_429() {
    let rig = rig().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/security/runHuntingQuery"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/security/runHuntingQuery"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "schema": [], "results": [] })))
        .expect(1)
        .mount(&rig.server)
        .await;

    let body = rig.connector.url_click_events(60).await.expect("events after one retry");

    assert!(body.contains("results"), "{body}");
}

#[tokio::test]
async fn url_click_events_403_names_permission() {
    let rig = rig().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/security/runHuntingQuery"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": { "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation." }
        })))
        .mount(&rig.server)
        .await;

    let error = rig.connector.url_click_events(60).await.expect_err("denied");

    assert!(matches!(error, phishloop_identity::CallError::Permission { status: 403, .. }), "{error}");
}
