//! rotate_credentials: AWS access keys and Entra application secrets are
//! replaced, the new secret goes to a Vault KV version 2 mount, and only
//! then is the old one retired. One mock on 127.0.0.1 plays IAM, Graph and
//! Vault, each on its documented paths and bodies.

mod common;

use std::sync::Arc;

use common::{LogCapture, action, fast_http, person, secret_file};
use phishloop_identity::{
    AwsIamConfig, GraphConfig, IdentityConfig, IdentitySystems, InventorySource, RotationConfig, RuleCheck, VaultConfig,
};
use phishloop_response::{ActionKind, Connector, Outcome, OutcomeStatus};
use serde_json::json;
use wiremock::matchers::{body_json, body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const OWNER: &str = "erin@example.com";
const VAULT_TOKEN: &str = "hvs.rotation-token-K3";
const AWS_CALLER_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const OLD_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const NEW_KEY: &str = "AKIANEWROTATED000001";
const NEW_AWS_SECRET: &str = "nEwSeCrEt/rotated+Key0123456789abcdefGHIJ";
const GRAPH_CLIENT_SECRET: &str = "graph-client-secret-R5";
const GRAPH_TOKEN: &str = "graph-access-token-R5";
const OLD_PASSWORD: &str = "5f1c0e0a-1111-4c2b-9a4e-000000000001";
const NEW_PASSWORD: &str = "9d2e7a41-2222-4f0b-8c1d-000000000002";
const NEW_CLIENT_SECRET: &str = "Qx8~rotated.client.secret_value-0042";
const RECORD_PATH: &str = "/v1/secret/data/phishloop/rotated/aws/aws-ci";

struct Rig {
    server: MockServer,
    dir: tempfile::TempDir,
}

impl Rig {
    async fn start() -> Rig {
        Rig { server: MockServer::start().await, dir: tempfile::tempdir().expect("temp dir") }
    }

    fn config(&self, rotation: bool, graph: bool) -> IdentityConfig {
        let inventory = self.dir.path().join("inventory.csv");
        std::fs::write(
            &inventory,
            format!(
                "id,kind,owner,provider,reference,parent,reaches\n\
                 aws-ci,api_key,{OWNER},aws,{OLD_KEY},ci-deployer,production S3 buckets\n\
                 entra-app,oauth_app,{OWNER},entra,{OLD_PASSWORD},app-object-1,billing API\n\
                 gh-deploy,token,{OWNER},github,4211,example-org,all repositories\n\
                 vault-db,token,{OWNER},vault,database/creds/billing/h2k9,,billing database\n"
            ),
        )
        .expect("inventory");
        let uri = self.server.uri();
        IdentityConfig {
            aws: Some(AwsIamConfig {
                name: "aws".to_string(),
                base_url: format!("{uri}/aws/"),
                region: "us-east-1".to_string(),
                access_key_id: "AKIDPHISHLOOPCALLER".to_string(),
                secret_access_key: secret_file(&self.dir, "aws-secret", AWS_CALLER_SECRET),
                http: fast_http(),
            }),
            vault: Some(VaultConfig {
                name: "vault".to_string(),
                base_url: uri.clone(),
                token: secret_file(&self.dir, "vault-token", VAULT_TOKEN),
                namespace: None,
                http: fast_http(),
            }),
            graph: graph.then(|| GraphConfig {
                name: "graph".to_string(),
                base_url: format!("{uri}/v1.0"),
                token_url: format!("{uri}/tenant-1/oauth2/v2.0/token"),
                client_id: "client-1".to_string(),
                client_secret: secret_file(&self.dir, "graph-secret", GRAPH_CLIENT_SECRET),
                scope: "https://graph.microsoft.com/.default".to_string(),
                purge_mailboxes: Vec::new(),
                purge_folder: "deleteditems".to_string(),
                rules: RuleCheck::default(),
                http: fast_http(),
            }),
            rotation: rotation.then(RotationConfig::default),
            inventory: InventorySource { file: Some(inventory), ..InventorySource::default() },
            ..IdentityConfig::default()
        }
    }

    fn connector(&self, rotation: bool, graph: bool, name: &str) -> Arc<dyn Connector> {
        let systems = IdentitySystems::new(&self.config(rotation, graph)).expect("identity systems");
        systems.connectors.into_iter().find(|c| c.name() == name).expect("connector")
    }

    async fn rotate(&self, name: &str) -> Outcome {
        let connector = self.connector(true, name == "graph", name);
        connector.execute(&action(ActionKind::RotateCredentials, person(OWNER), name)).await
    }

    async fn requests(&self) -> Vec<String> {
        let received = self.server.received_requests().await.unwrap_or_default();
        received.iter().map(|r| format!("{} {}", r.method, r.url.path())).collect()
    }
}

/// An IAM query with its exact form body.
fn iam(body: &str) -> wiremock::MockBuilder {
    Mock::given(method("POST")).and(path("/aws/")).and(body_string(body.to_string()))
}

fn iam_reply(action: &str, result: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_string(format!(
        "<{action}Response xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>4a9e</RequestId></ResponseMetadata></{action}Response>"
    ))
}

fn iam_error(status: u16, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_string(format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>test</Message></Error>\
         <RequestId>1</RequestId></ErrorResponse>"
    ))
}

const LIST_KEYS: &str = "Action=ListAccessKeys&Version=2010-05-08&UserName=ci-deployer";
const CREATE_KEY: &str = "Action=CreateAccessKey&Version=2010-05-08&UserName=ci-deployer";

async fn mount_key_listing(server: &MockServer) {
    let members = format!(
        "<AccessKeyMetadata><member><UserName>ci-deployer</UserName><AccessKeyId>{OLD_KEY}</AccessKeyId>\
         <Status>Active</Status></member></AccessKeyMetadata><IsTruncated>false</IsTruncated>"
    );
    iam(LIST_KEYS).respond_with(iam_reply("ListAccessKeys", &members)).mount(server).await;
}

fn created_key() -> ResponseTemplate {
    iam_reply(
        "CreateAccessKey",
        &format!(
            "<AccessKey><UserName>ci-deployer</UserName><AccessKeyId>{NEW_KEY}</AccessKeyId><Status>Active</Status>\
             <SecretAccessKey>{NEW_AWS_SECRET}</SecretAccessKey><CreateDate>2026-12-05T09:40:00Z</CreateDate></AccessKey>"
        ),
    )
}

fn deactivate_old() -> wiremock::MockBuilder {
    iam(&format!(
        "Action=UpdateAccessKey&Version=2010-05-08&AccessKeyId={OLD_KEY}&Status=Inactive&UserName=ci-deployer"
    ))
}

/// Vault KV version 2 read of a path without a record.
async fn mount_no_record(server: &MockServer, record: &str) {
    Mock::given(method("GET"))
        .and(path(record))
        .and(header("x-vault-token", VAULT_TOKEN))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "errors": [] })))
        .mount(server)
        .await;
}

fn vault_write(record: &str) -> wiremock::MockBuilder {
    Mock::given(method("POST")).and(path(record)).and(header("x-vault-token", VAULT_TOKEN))
}

fn written(version: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "request_id": "b1", "lease_id": "", "renewable": false, "lease_duration": 0,
        "data": { "created_time": "2026-12-05T09:40:01Z", "custom_metadata": null, "deletion_time": "",
                  "destroyed": false, "version": version },
        "wrap_info": null, "warnings": null, "auth": null
    }))
}

#[tokio::test]
async fn aws_key_rotation_order() {
    let (capture, _guard) = LogCapture::start();
    let rig = Rig::start().await;
    mount_key_listing(&rig.server).await;
    mount_no_record(&rig.server, RECORD_PATH).await;
    iam(CREATE_KEY).respond_with(created_key()).expect(1).mount(&rig.server).await;
    vault_write(RECORD_PATH)
        .and(body_json(json!({ "data": {
            "access_key_id": NEW_KEY,
            "secret_access_key": NEW_AWS_SECRET,
            "iam_user": "ci-deployer",
            "credential_id": NEW_KEY,
            "replaces": OLD_KEY,
            "provider": "aws",
            "issued_by": "phishloop",
        }})))
        .respond_with(written(1))
        .expect(1)
        .mount(&rig.server)
        .await;
    deactivate_old().respond_with(iam_reply("UpdateAccessKey", "")).expect(1).mount(&rig.server).await;

    let outcome = rig.rotate("aws").await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert!(outcome.details.contains(&format!("new credential {NEW_KEY}")), "{}", outcome.details);
    assert!(outcome.details.contains("vault:secret/phishloop/rotated/aws/aws-ci (version 1)"), "{}", outcome.details);
    assert!(outcome.details.contains(&format!("access key {OLD_KEY} of IAM user ci-deployer")), "{}", outcome.details);
    assert!(outcome.details.contains("to Inactive"), "{}", outcome.details);
    let requests = rig.requests().await;
    let write = requests.iter().position(|r| r.starts_with("POST /v1/secret")).expect("a Vault write");
    assert_eq!(requests.last().map(String::as_str), Some("POST /aws/"), "the old key is retired last: {requests:?}");
    assert!(write < requests.len() - 1);
    for text in [outcome.details.as_str(), &capture.text()] {
        assert!(!text.contains(NEW_AWS_SECRET), "the new secret leaked: {text}");
        assert!(!text.contains(VAULT_TOKEN), "the Vault token leaked: {text}");
        assert!(!text.contains(AWS_CALLER_SECRET), "the caller's AWS secret leaked: {text}");
    }
}

#[tokio::test]
async fn aws_rotation_resumes_from_record() {
    let rig = Rig::start().await;
    Mock::given(method("GET"))
        .and(path(RECORD_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {
                "data": { "credential_id": NEW_KEY, "replaces": OLD_KEY, "secret_access_key": NEW_AWS_SECRET },
                "metadata": { "version": 1, "destroyed": false, "deletion_time": "" }
            }
        })))
        .expect(1)
        .mount(&rig.server)
        .await;
    iam(CREATE_KEY).respond_with(created_key()).expect(0).mount(&rig.server).await;
    vault_write(RECORD_PATH).respond_with(written(2)).expect(0).mount(&rig.server).await;
    deactivate_old().respond_with(iam_reply("UpdateAccessKey", "")).expect(1).mount(&rig.server).await;

    let outcome = rig.rotate("aws").await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert!(outcome.details.contains("written by an earlier try"), "{}", outcome.details);
    assert!(outcome.details.contains(NEW_KEY), "{}", outcome.details);
    assert!(!outcome.details.contains(NEW_AWS_SECRET));
}

#[tokio::test]
async fn failed_store_deletes_new_key() {
    let rig = Rig::start().await;
    mount_key_listing(&rig.server).await;
    mount_no_record(&rig.server, RECORD_PATH).await;
    iam(CREATE_KEY).respond_with(created_key()).expect(1).mount(&rig.server).await;
    vault_write(RECORD_PATH)
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({ "errors": ["permission denied"] })))
        .expect(1)
        .mount(&rig.server)
        .await;
    iam(&format!("Action=DeleteAccessKey&Version=2010-05-08&AccessKeyId={NEW_KEY}&UserName=ci-deployer"))
        .respond_with(iam_reply("DeleteAccessKey", ""))
        .expect(1)
        .mount(&rig.server)
        .await;
    deactivate_old().respond_with(iam_reply("UpdateAccessKey", "")).expect(0).mount(&rig.server).await;

    let outcome = rig.rotate("aws").await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("permission denied (HTTP 403)"), "{}", outcome.details);
    assert!(
        outcome.details.contains(&format!("the new credential {NEW_KEY} was deleted again")),
        "{}",
        outcome.details
    );
    assert!(outcome.details.contains("is unchanged and still valid"), "{}", outcome.details);
    assert!(!outcome.details.contains(NEW_AWS_SECRET));
}

#[tokio::test]
async fn key_limit_and_missing_key() {
    let rig = Rig::start().await;
    mount_key_listing(&rig.server).await;
    mount_no_record(&rig.server, RECORD_PATH).await;
    iam(CREATE_KEY).respond_with(iam_error(409, "LimitExceeded")).expect(1).mount(&rig.server).await;
    deactivate_old().respond_with(iam_reply("UpdateAccessKey", "")).expect(0).mount(&rig.server).await;

    let outcome = rig.rotate("aws").await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.contains("already has two access keys"), "{}", outcome.details);

    let rig = Rig::start().await;
    let nothing = "<AccessKeyMetadata></AccessKeyMetadata><IsTruncated>false</IsTruncated>";
    iam(LIST_KEYS).respond_with(iam_reply("ListAccessKeys", nothing)).mount(&rig.server).await;
    mount_no_record(&rig.server, RECORD_PATH).await;
    iam(CREATE_KEY).respond_with(created_key()).expect(0).mount(&rig.server).await;

    let outcome = rig.rotate("aws").await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("target missing:"), "{}", outcome.details);

    let rig = Rig::start().await;
    let two = format!(
        "<AccessKeyMetadata><member><AccessKeyId>{OLD_KEY}</AccessKeyId></member>\
         <member><AccessKeyId>AKIASECONDKEY0000002</AccessKeyId></member></AccessKeyMetadata><IsTruncated>false</IsTruncated>"
    );
    iam(LIST_KEYS).respond_with(iam_reply("ListAccessKeys", &two)).mount(&rig.server).await;
    mount_no_record(&rig.server, RECORD_PATH).await;
    iam(CREATE_KEY).respond_with(created_key()).expect(0).mount(&rig.server).await;

    let outcome = rig.rotate("aws").await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.contains("delete AKIASECONDKEY0000002 if it is not in use"), "{}", outcome.details);
}

#[tokio::test]
async fn issue_retried_only_when_throttled() {
    let rig = Rig::start().await;
    mount_key_listing(&rig.server).await;
    mount_no_record(&rig.server, RECORD_PATH).await;
    iam(CREATE_KEY).respond_with(ResponseTemplate::new(503)).expect(1).mount(&rig.server).await;

    let outcome = rig.rotate("aws").await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.contains("not repeated"), "{}", outcome.details);

    let rig = Rig::start().await;
    mount_key_listing(&rig.server).await;
    mount_no_record(&rig.server, RECORD_PATH).await;
    iam(CREATE_KEY).respond_with(iam_error(400, "Throttling")).up_to_n_times(1).expect(1).mount(&rig.server).await;
    iam(CREATE_KEY).respond_with(created_key()).expect(1).mount(&rig.server).await;
    vault_write(RECORD_PATH).respond_with(written(1)).expect(1).mount(&rig.server).await;
    deactivate_old().respond_with(iam_reply("UpdateAccessKey", "")).expect(1).mount(&rig.server).await;

    let outcome = rig.rotate("aws").await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
}

#[tokio::test]
async fn rotation_without_store() {
    let rig = Rig::start().await;
    let connector = rig.connector(false, false, "aws");

    let outcome = connector.execute(&action(ActionKind::RotateCredentials, person(OWNER), "aws")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.contains("needs [identity.rotation]"), "{}", outcome.details);
    assert!(rig.requests().await.is_empty(), "no request without a store");
}

/// Through the `identity` connector, a rotation without a store fails
/// before any system acts: the Vault lease, which Vault could rotate
/// alone, is not revoked either.
#[tokio::test]
async fn fan_out_rotation_without_store() {
    let rig = Rig::start().await;
    let connector = rig.connector(false, false, "identity");

    let outcome = connector.execute(&action(ActionKind::RotateCredentials, person(OWNER), "identity")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.contains("nothing was changed"), "{}", outcome.details);
    assert!(rig.requests().await.is_empty(), "no system was called");
}

#[test]
fn rotation_needs_vault() {
    let config = IdentityConfig { rotation: Some(RotationConfig::default()), ..IdentityConfig::default() };

    let error = IdentitySystems::new(&config).expect_err("rotation without Vault");

    assert!(error.to_string().starts_with("[identity.rotation] needs the [identity.vault] table"), "{error}");
}

#[tokio::test]
async fn github_rotation_fails() {
    let rig = Rig::start().await;
    let systems = IdentitySystems::new(&IdentityConfig {
        github: Some(phishloop_identity::GithubConfig {
            name: "github".to_string(),
            base_url: rig.server.uri(),
            token: secret_file(&rig.dir, "github-token", "ghs_installation-token-R5"),
            http: fast_http(),
        }),
        ..rig.config(true, false)
    })
    .expect("systems");
    let github = systems.connectors.iter().find(|c| c.name() == "github").expect("github");

    let outcome = github.execute(&action(ActionKind::RotateCredentials, person(OWNER), "github")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.contains("token 4211 was not rotated"), "{}", outcome.details);
    assert!(outcome.details.contains("revoke_credentials"), "{}", outcome.details);
    assert!(rig.requests().await.is_empty());
}

const ENTRA_RECORD: &str = "/v1/secret/data/phishloop/rotated/entra/entra-app";

async fn mount_graph_token(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 3599, "access_token": GRAPH_TOKEN
        })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn entra_secret_rotation_order() {
    let (capture, _guard) = LogCapture::start();
    let rig = Rig::start().await;
    let bearer = format!("Bearer {GRAPH_TOKEN}");
    mount_graph_token(&rig.server).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications/app-object-1"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "app-object-1",
            "passwordCredentials": [{ "keyId": OLD_PASSWORD, "displayName": "ci", "hint": "abc" }]
        })))
        .mount(&rig.server)
        .await;
    mount_no_record(&rig.server, ENTRA_RECORD).await;
    Mock::given(method("POST"))
        .and(path("/v1.0/applications/app-object-1/addPassword"))
        .and(header("authorization", bearer.as_str()))
        .and(body_json(
            json!({ "passwordCredential": { "displayName": format!("phishloop rotation of {OLD_PASSWORD}") } }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.passwordCredential",
            "customKeyIdentifier": null,
            "displayName": format!("phishloop rotation of {OLD_PASSWORD}"),
            "endDateTime": "2028-12-05T09:40:00Z",
            "hint": "Qx8",
            "keyId": NEW_PASSWORD,
            "secretText": NEW_CLIENT_SECRET,
            "startDateTime": "2026-12-05T09:40:00Z"
        })))
        .expect(1)
        .mount(&rig.server)
        .await;
    vault_write(ENTRA_RECORD)
        .and(body_json(json!({ "data": {
            "client_secret": NEW_CLIENT_SECRET,
            "key_id": NEW_PASSWORD,
            "application": "app-object-1",
            "expires": "2028-12-05T09:40:00Z",
            "credential_id": NEW_PASSWORD,
            "replaces": OLD_PASSWORD,
            "provider": "entra",
            "issued_by": "phishloop",
        }})))
        .respond_with(written(3))
        .expect(1)
        .mount(&rig.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/applications/app-object-1/removePassword"))
        .and(body_json(json!({ "keyId": OLD_PASSWORD })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.rotate("graph").await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert!(outcome.details.contains(&format!("new credential {NEW_PASSWORD}")), "{}", outcome.details);
    assert!(
        outcome.details.contains("vault:secret/phishloop/rotated/entra/entra-app (version 3)"),
        "{}",
        outcome.details
    );
    assert!(outcome.details.contains(&format!("removed secret {OLD_PASSWORD}")), "{}", outcome.details);
    for text in [outcome.details.as_str(), &capture.text()] {
        assert!(!text.contains(NEW_CLIENT_SECRET), "the new secret leaked: {text}");
    }
}

#[tokio::test]
async fn unreadable_add_password_reply() {
    let rig = Rig::start().await;
    mount_graph_token(&rig.server).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications/app-object-1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "passwordCredentials": [{ "keyId": OLD_PASSWORD }] })),
        )
        .mount(&rig.server)
        .await;
    mount_no_record(&rig.server, ENTRA_RECORD).await;
    Mock::given(method("POST"))
        .and(path("/v1.0/applications/app-object-1/addPassword"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "secretText": NEW_CLIENT_SECRET, "keyId": 7 })))
        .expect(1)
        .mount(&rig.server)
        .await;

    let outcome = rig.rotate("graph").await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.contains("is not a passwordCredential"), "{}", outcome.details);
    assert!(!outcome.details.contains(NEW_CLIENT_SECRET), "{}", outcome.details);
}
