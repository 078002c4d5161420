//! The Vault, GitHub and AWS IAM connectors against mocks on 127.0.0.1,
//! acting on credentials from the non-human identity inventory.

mod common;

use std::sync::Arc;

use common::{LogCapture, action, fast_http, person, secret_file};
use phishloop_identity::{
    AwsIamConfig, AwsIamConnector, GithubConfig, GithubConnector, Inventory, VaultConfig, VaultConnector,
};
use phishloop_model::SecretKind;
use phishloop_response::{ActionKind, Connector, OutcomeStatus, Target};
use serde_json::json;
use wiremock::matchers::{body_json, body_string, header, header_exists, header_regex, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const OWNER: &str = "erin@example.com";
const VAULT_TOKEN: &str = "hvs.vault-token-Pq2";
const GITHUB_TOKEN: &str = "ghs_installation-token-Wd9";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const LEAKED_SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn inventory() -> Arc<Inventory> {
    let csv = format!(
        "id,kind,owner,provider,reference,parent,reaches,secret_sha256\n\
         vault-db,token,{OWNER},vault,database/creds/billing/h2k9,,billing database,\n\
         gh-deploy,token,{OWNER},github,4211,example-org,all example-org repositories,\n\
         aws-ci,api_key,{OWNER},aws,AKIAIOSFODNN7EXAMPLE,ci-deployer,production S3 buckets,{LEAKED_SHA256}\n\
         aws-other,api_key,frank@example.com,aws,AKIAOTHEROWNER00001,frank,staging,\n"
    );
    Arc::new(Inventory::from_csv(csv.as_bytes()).expect("inventory"))
}

async fn vault(server: &MockServer, dir: &tempfile::TempDir) -> VaultConnector {
    let config = VaultConfig {
        name: "vault".to_string(),
        base_url: server.uri(),
        token: secret_file(dir, "vault-token", VAULT_TOKEN),
        namespace: Some("security".to_string()),
        http: fast_http(),
    };
    VaultConnector::new(&config, inventory()).expect("vault connector")
}

fn vault_revoke() -> wiremock::MockBuilder {
    Mock::given(method("PUT"))
        .and(path("/v1/sys/leases/revoke"))
        .and(header("x-vault-token", VAULT_TOKEN))
        .and(header("x-vault-namespace", "security"))
        .and(body_json(json!({ "lease_id": "database/creds/billing/h2k9" })))
}

#[tokio::test]
async fn vault_revokes_owned_lease_once() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    vault_revoke().respond_with(ResponseTemplate::new(204)).expect(1).mount(&server).await;
    let connector = vault(&server, &dir).await;
    let action = action(ActionKind::RevokeCredentials, person(OWNER), "vault");

    let first = connector.execute(&action).await;
    let second = connector.execute(&action).await;

    assert_eq!(first.status, OutcomeStatus::Succeeded, "{}", first.details);
    assert!(first.details.contains("revoked lease database/creds/billing/h2k9"), "{}", first.details);
    assert!(second.details.starts_with("already done"), "{}", second.details);
}

#[tokio::test]
async fn vault_retries_after_429() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    vault_revoke()
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    vault_revoke().respond_with(ResponseTemplate::new(204)).expect(1).mount(&server).await;

    let outcome =
        vault(&server, &dir).await.execute(&action(ActionKind::RevokeCredentials, person(OWNER), "vault")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert_eq!(outcome.attempts, 2);
}

#[tokio::test]
async fn vault_403_is_permission_failure() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    vault_revoke()
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({ "errors": ["1 error occurred:\n\t* permission denied\n\n"] })),
        )
        .expect(1)
        .mount(&server)
        .await;

    let outcome =
        vault(&server, &dir).await.execute(&action(ActionKind::RevokeCredentials, person(OWNER), "vault")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("permission denied (HTTP 403)"), "{}", outcome.details);
}

#[tokio::test]
async fn vault_404_is_target_missing() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    vault_revoke()
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "errors": [] })))
        .expect(1)
        .mount(&server)
        .await;

    let outcome =
        vault(&server, &dir).await.execute(&action(ActionKind::RevokeCredentials, person(OWNER), "vault")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("target missing: lease"), "{}", outcome.details);
}

#[tokio::test]
async fn vault_person_without_credentials_has_nothing_to_do() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");

    let outcome = vault(&server, &dir)
        .await
        .execute(&action(ActionKind::RevokeCredentials, person("nobody@example.com"), "vault"))
        .await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded);
    assert!(outcome.details.starts_with("no vault credential"), "{}", outcome.details);
}

async fn github(server: &MockServer, dir: &tempfile::TempDir) -> GithubConnector {
    let config = GithubConfig {
        name: "github".to_string(),
        base_url: server.uri(),
        token: secret_file(dir, "github-token", GITHUB_TOKEN),
        http: fast_http(),
    };
    GithubConnector::new(&config, inventory()).expect("github connector")
}

fn github_revoke() -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/orgs/example-org/personal-access-tokens/4211"))
        .and(header("authorization", format!("Bearer {GITHUB_TOKEN}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .and(body_json(json!({ "action": "revoke" })))
}

#[tokio::test]
async fn github_revokes_token_access() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    github_revoke().respond_with(ResponseTemplate::new(204)).expect(1).mount(&server).await;

    let outcome =
        github(&server, &dir).await.execute(&action(ActionKind::RevokeCredentials, person(OWNER), "github")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
}

#[tokio::test]
async fn github_retries_after_429() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    github_revoke()
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    github_revoke().respond_with(ResponseTemplate::new(204)).expect(1).mount(&server).await;

    let outcome =
        github(&server, &dir).await.execute(&action(ActionKind::RevokeCredentials, person(OWNER), "github")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
}

#[tokio::test]
async fn github_403_and_404_fail() {
    for (status, phrase) in [
        (403, "permission denied (HTTP 403)"),
        (401, "permission denied (HTTP 401)"),
        (404, "target missing: token 4211"),
    ] {
        let server = MockServer::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        github_revoke()
            .respond_with(
                ResponseTemplate::new(status).set_body_json(json!({ "message": "x", "documentation_url": "y" })),
            )
            .expect(1)
            .mount(&server)
            .await;

        let outcome =
            github(&server, &dir).await.execute(&action(ActionKind::RevokeCredentials, person(OWNER), "github")).await;

        assert_eq!(outcome.status, OutcomeStatus::Failed, "HTTP {status}");
        assert!(outcome.details.starts_with(phrase), "HTTP {status}: {}", outcome.details);
    }
}

async fn aws(server: &MockServer, dir: &tempfile::TempDir) -> AwsIamConnector {
    let config = AwsIamConfig {
        name: "aws".to_string(),
        base_url: format!("{}/", server.uri()),
        region: "us-east-1".to_string(),
        access_key_id: "AKIDPHISHLOOPCALLER".to_string(),
        secret_access_key: secret_file(dir, "aws-secret", AWS_SECRET),
        http: fast_http(),
    };
    AwsIamConnector::new(&config, inventory()).expect("aws connector")
}

fn aws_update(status: &str) -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header("content-type", "application/x-www-form-urlencoded; charset=utf-8"))
        .and(header_regex(
            "authorization",
            r"^AWS4-HMAC-SHA256 Credential=AKIDPHISHLOOPCALLER/\d{8}/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64}$",
        ))
        .and(header_exists("x-amz-date"))
        .and(body_string(format!(
            "Action=UpdateAccessKey&Version=2010-05-08&AccessKeyId=AKIAIOSFODNN7EXAMPLE&Status={status}&UserName=ci-deployer"
        )))
}

const AWS_OK: &str = "<UpdateAccessKeyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ResponseMetadata><RequestId>7a62c49f</RequestId></ResponseMetadata></UpdateAccessKeyResponse>";

fn aws_error(code: &str) -> String {
    format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>test</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    )
}

#[tokio::test]
async fn aws_deactivates_leaked_key_by_hash() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    aws_update("Inactive")
        .respond_with(ResponseTemplate::new(200).set_body_string(AWS_OK))
        .expect(1)
        .mount(&server)
        .await;
    let target = Target::Secret {
        kind: SecretKind::AwsAccessKeyId,
        location: "body".to_string(),
        redacted: "AKIA************MPLE".to_string(),
        sha256: LEAKED_SHA256.to_string(),
    };

    let outcome = aws(&server, &dir).await.execute(&action(ActionKind::RevokeCredentials, target, "aws")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert!(outcome.details.contains("to Inactive"), "{}", outcome.details);
}

#[tokio::test]
async fn aws_undo_reactivates_key() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    aws_update("Active")
        .respond_with(ResponseTemplate::new(200).set_body_string(AWS_OK))
        .expect(1)
        .mount(&server)
        .await;

    let outcome = aws(&server, &dir).await.undo(&action(ActionKind::RevokeCredentials, person(OWNER), "aws")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
}

#[tokio::test]
async fn aws_retries_throttling_error() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    aws_update("Inactive")
        .respond_with(ResponseTemplate::new(400).set_body_string(aws_error("Throttling")))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    aws_update("Inactive")
        .respond_with(ResponseTemplate::new(200).set_body_string(AWS_OK))
        .expect(1)
        .mount(&server)
        .await;

    let outcome = aws(&server, &dir).await.execute(&action(ActionKind::RevokeCredentials, person(OWNER), "aws")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert_eq!(outcome.attempts, 2);
}

#[tokio::test]
async fn aws_access_denied_and_missing_key_fail() {
    for (status, code, phrase) in
        [(403, "AccessDenied", "permission denied (HTTP 403)"), (404, "NoSuchEntity", "target missing: access key")]
    {
        let server = MockServer::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        aws_update("Inactive")
            .respond_with(ResponseTemplate::new(status).set_body_string(aws_error(code)))
            .expect(1)
            .mount(&server)
            .await;

        let outcome =
            aws(&server, &dir).await.execute(&action(ActionKind::RevokeCredentials, person(OWNER), "aws")).await;

        assert_eq!(outcome.status, OutcomeStatus::Failed, "{code}");
        assert!(outcome.details.starts_with(phrase), "{code}: {}", outcome.details);
        assert!(outcome.details.contains(code), "{code}: {}", outcome.details);
    }
}

#[tokio::test]
async fn secret_connectors_log_no_secret() {
    let (capture, _guard) = LogCapture::start();
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    Mock::given(method("PUT")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    let vault = vault(&server, &dir).await;
    let github = github(&server, &dir).await;
    let aws = aws(&server, &dir).await;

    let outcomes = [
        vault.execute(&action(ActionKind::RevokeCredentials, person(OWNER), "vault")).await,
        github.execute(&action(ActionKind::RevokeCredentials, person(OWNER), "github")).await,
        aws.execute(&action(ActionKind::RevokeCredentials, person(OWNER), "aws")).await,
    ];

    let logs = capture.text();
    assert!(outcomes.iter().all(|o| o.status == OutcomeStatus::Failed));
    assert!(logs.contains("retrying"), "the capture saw the retries: {logs}");
    for secret in [VAULT_TOKEN, GITHUB_TOKEN, AWS_SECRET] {
        assert!(!logs.contains(secret), "{secret} logged: {logs}");
        assert!(outcomes.iter().all(|o| !o.details.contains(secret)));
    }
}
