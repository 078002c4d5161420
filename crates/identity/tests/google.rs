//! The google connector against mock Google token, Directory and Gmail
//! endpoints on 127.0.0.1. The service-account key is generated per test
//! run and the mock token endpoint verifies each assertion's RS256
//! signature and claims.

mod common;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{LogCapture, action, fast_http, person, secret_file};
use phishloop_identity::{DIRECTORY_SCOPE, GMAIL_SCOPE, GoogleConfig, GoogleConnector};
use phishloop_response::{ActionKind, Connector, OutcomeStatus, Target};
use serde_json::json;
use wiremock::matchers::{body_string, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ADMIN: &str = "admin@example.com";
const USER: &str = "dave@example.com";

/// Issues `token-for-<sub>` for assertions signed by the test key with the
/// expected audience, and 400 for anything else.
struct TokenIssuer {
    public_key: Vec<u8>,
    audience: String,
}

impl Respond for TokenIssuer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body).into_owned().collect();
        let value = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
        if value("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
            return ResponseTemplate::new(400).set_body_json(json!({ "error": "unsupported_grant_type" }));
        }

        let assertion = value("assertion");
        let parts: Vec<&str> = assertion.split('.').collect();
        if parts.len() != 3 {
            return ResponseTemplate::new(400).set_body_json(json!({ "error": "invalid_grant" }));
        }
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap_or_default();
        let key = UnparsedPublicKey::new(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256, &self.public_key);
        if key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).is_err() {
            return ResponseTemplate::new(400)
                .set_body_json(json!({ "error": "invalid_grant", "error_description": "bad signature" }));
        }

        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap_or_default()).unwrap_or_default();
        let expected_scope = if claims["sub"] == ADMIN { DIRECTORY_SCOPE } else { GMAIL_SCOPE };
        let valid = claims["iss"] == "phishloop@project.iam.gserviceaccount.test"
            && claims["aud"] == self.audience.as_str()
            && claims["scope"] == expected_scope
            && claims["exp"].as_i64().unwrap_or(0) > claims["iat"].as_i64().unwrap_or(i64::MAX);
        if !valid {
            return ResponseTemplate::new(400)
                .set_body_json(json!({ "error": "invalid_grant", "error_description": "bad claims" }));
        }

        let sub = claims["sub"].as_str().unwrap_or_default();
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": format!("token-for-{sub}"), "expires_in": 3599, "token_type": "Bearer"
        }))
    }
}

struct Rig {
    server: MockServer,
    connector: GoogleConnector,
    private_pem: String,
    _dir: tempfile::TempDir,
}

async fn rig(client_ids: Vec<String>) -> Rig {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let key = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("generate RSA key");
    let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key).expect("PKCS #8");
    let private_pem =
        format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(der.as_ref()));
    let key_json = json!({
        "type": "service_account",
        "client_email": "phishloop@project.iam.gserviceaccount.test",
        "private_key": private_pem,
    });
    let token_url = format!("{}/token", server.uri());
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(TokenIssuer { public_key: key.public_key().as_ref().to_vec(), audience: token_url.clone() })
        .mount(&server)
        .await;
    let config = GoogleConfig {
        name: "google".to_string(),
        directory_base_url: server.uri(),
        gmail_base_url: server.uri(),
        token_url,
        service_account_key: secret_file(&dir, "key.json", &key_json.to_string()),
        admin_subject: ADMIN.to_string(),
        oauth_client_ids: client_ids,
        purge_mailboxes: vec![USER.to_string()],
        http: fast_http(),
    };
    let connector = GoogleConnector::new(&config).expect("google connector");
    Rig { server, connector, private_pem, _dir: dir }
}

fn bearer(subject: &str) -> wiremock::matchers::HeaderExactMatcher {
    header("authorization", format!("Bearer token-for-{subject}").as_str())
}

#[tokio::test]
async fn revoke_sessions_signs_user_out() {
    let rig = rig(Vec::new()).await;
    Mock::given(method("POST"))
        .and(path(format!("/admin/directory/v1/users/{USER}/signOut")))
        .and(bearer(ADMIN))
        .and(body_string(""))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&rig.server)
        .await;
    let action = action(ActionKind::RevokeSessions, person(USER), "google");

    let first = rig.connector.execute(&action).await;
    let second = rig.connector.execute(&action).await;

    assert_eq!(first.status, OutcomeStatus::Succeeded, "{}", first.details);
    assert!(second.details.starts_with("already done"), "{}", second.details);
}

#[tokio::test]
async fn revoke_sessions_retries_after_429() {
    let rig = rig(Vec::new()).await;
    Mock::given(method("POST"))
        .and(path(format!("/admin/directory/v1/users/{USER}/signOut")))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0").set_body_json(json!({
            "error": { "code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED" }
        })))
        .up_to_n_times(1)
        .expect(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/admin/directory/v1/users/{USER}/signOut")))
        .and(bearer(ADMIN))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::RevokeSessions, person(USER), "google")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
}

#[tokio::test]
async fn revoke_sessions_403_is_permission_failure() {
    let rig = rig(Vec::new()).await;
    Mock::given(method("POST"))
        .and(path(format!("/admin/directory/v1/users/{USER}/signOut")))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": { "code": 403, "message": "Not Authorized to access this resource/api", "status": "PERMISSION_DENIED" }
        })))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::RevokeSessions, person(USER), "google")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("permission denied (HTTP 403)"), "{}", outcome.details);
    assert!(outcome.details.contains(DIRECTORY_SCOPE), "{}", outcome.details);
}

#[tokio::test]
async fn revoke_sessions_missing_user_fails() {
    let rig = rig(Vec::new()).await;
    Mock::given(method("POST"))
        .and(path("/admin/directory/v1/users/ghost@example.com/signOut"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "error": { "code": 404, "message": "Resource Not Found: userKey", "status": "NOT_FOUND" }
        })))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome =
        rig.connector.execute(&action(ActionKind::RevokeSessions, person("ghost@example.com"), "google")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("target missing: user ghost@example.com"), "{}", outcome.details);
}

#[tokio::test]
async fn revoke_credentials_deletes_client_tokens() {
    let rig = rig(vec!["1234.apps.googleusercontent.test".to_string()]).await;
    Mock::given(method("DELETE"))
        .and(path(format!("/admin/directory/v1/users/{USER}/tokens/1234.apps.googleusercontent.test")))
        .and(bearer(ADMIN))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::RevokeCredentials, person(USER), "google")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
}

#[tokio::test]
async fn revoke_credentials_lists_issued_tokens() {
    let rig = rig(Vec::new()).await;
    Mock::given(method("GET"))
        .and(path(format!("/admin/directory/v1/users/{USER}/tokens")))
        .and(bearer(ADMIN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "kind": "admin#directory#tokenList",
            "items": [{ "kind": "admin#directory#token", "clientId": "evil-app.test", "displayText": "Docs viewer", "scopes": ["https://mail.google.com/"] }]
        })))
        .expect(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/admin/directory/v1/users/{USER}/tokens/evil-app.test")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::RevokeCredentials, person(USER), "google")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert!(outcome.details.contains("evil-app.test"), "{}", outcome.details);
}

fn message_target() -> Target {
    Target::Message {
        message_id: Some("lure-42@phish.example".to_string()),
        content_fingerprint: "a".repeat(64),
        subject: None,
        sender: None,
    }
}

#[tokio::test]
async fn purge_copies_trashes_by_message_id() {
    let rig = rig(Vec::new()).await;
    Mock::given(method("GET"))
        .and(path(format!("/gmail/v1/users/{USER}/messages")))
        .and(query_param("q", "rfc822msgid:lure-42@phish.example"))
        .and(bearer(USER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": [{ "id": "18c1", "threadId": "18c0" }], "resultSizeEstimate": 1
        })))
        .expect(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/gmail/v1/users/{USER}/messages/18c1/trash")))
        .and(bearer(USER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "18c1", "labelIds": ["TRASH"] })))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::PurgeCopies, message_target(), "google")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert!(outcome.details.starts_with("trashed 1 copies"), "{}", outcome.details);
}

#[tokio::test]
async fn purge_undo_untrashes() {
    let rig = rig(Vec::new()).await;
    Mock::given(method("GET"))
        .and(path(format!("/gmail/v1/users/{USER}/messages")))
        .and(query_param("q", "rfc822msgid:lure-42@phish.example in:trash"))
        .and(query_param("includeSpamTrash", "true"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "messages": [{ "id": "18c1", "threadId": "18c0" }] })),
        )
        .expect(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/gmail/v1/users/{USER}/messages/18c1/untrash")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "18c1" })))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.undo(&action(ActionKind::PurgeCopies, message_target(), "google")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
}

#[tokio::test]
async fn reset_password_is_unsupported() {
    let rig = rig(Vec::new()).await;

    let outcome = rig.connector.execute(&action(ActionKind::ResetPassword, person(USER), "google")).await;

    assert_eq!(outcome.status, OutcomeStatus::Unsupported);
}

#[tokio::test]
async fn google_logs_no_secret() {
    let (capture, _guard) = LogCapture::start();
    let rig = rig(Vec::new()).await;
    Mock::given(method("POST"))
        .and(path(format!("/admin/directory/v1/users/{USER}/signOut")))
        .respond_with(ResponseTemplate::new(503))
        .mount(&rig.server)
        .await;

    let outcome = rig.connector.execute(&action(ActionKind::RevokeSessions, person(USER), "google")).await;

    let logs = capture.text();
    let key_body: String = rig.private_pem.lines().nth(1).unwrap_or_default().chars().take(40).collect();
    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(logs.contains("retrying"), "the capture saw the retries: {logs}");
    assert!(!logs.contains("token-for-"), "access token logged: {logs}");
    assert!(!logs.contains(&key_body), "private key logged: {logs}");
}
