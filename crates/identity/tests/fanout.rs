//! The `identity` connector, which carries one action out on every
//! configured system, against mock Okta, Vault and AWS servers on 127.0.0.1.

mod common;

use common::{LogCapture, action, fast_http, person, secret_file};
use phishloop_identity::{
    AwsIamConfig, IDENTITY_CONNECTOR, IdentityConfig, IdentitySystems, InventorySource, OktaConfig, VaultConfig,
};
use phishloop_response::{ActionKind, Connector, OutcomeStatus};
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const OWNER: &str = "dev@example.com";
const OKTA_TOKEN: &str = "okta-token-fan-7Hq";
const VAULT_TOKEN: &str = "hvs.fan-out-token-3Lp";
const AWS_SECRET: &str = "aws-secret-fan-9Xc";

fn systems(server: &MockServer, dir: &tempfile::TempDir) -> IdentitySystems {
    let inventory = dir.path().join("inventory.json");
    std::fs::write(
        &inventory,
        "{\"id\":\"lease-1\",\"kind\":\"token\",\"owner\":\"dev@example.com\",\"provider\":\"vault\",\"reference\":\"database/creds/dev/AbC1\"}\n\
         {\"id\":\"key-1\",\"kind\":\"api_key\",\"owner\":\"dev@example.com\",\"provider\":\"aws\",\"reference\":\"AKIADEV0000000000001\",\"parent\":\"dev-ci\"}\n",
    )
    .expect("inventory file");
    let config = IdentityConfig {
        okta: Some(OktaConfig {
            name: "okta".to_string(),
            base_url: server.uri(),
            api_token: secret_file(dir, "okta", OKTA_TOKEN),
            oauth_client_ids: Vec::new(),
            http: fast_http(),
        }),
        vault: Some(VaultConfig {
            name: "vault".to_string(),
            base_url: server.uri(),
            token: secret_file(dir, "vault", VAULT_TOKEN),
            namespace: None,
            http: fast_http(),
        }),
        aws: Some(AwsIamConfig {
            name: "aws".to_string(),
            base_url: format!("{}/iam/", server.uri()),
            region: "us-east-1".to_string(),
            access_key_id: "AKIDFANOUT".to_string(),
            secret_access_key: secret_file(dir, "aws", AWS_SECRET),
            http: fast_http(),
        }),
        inventory: InventorySource { file: Some(inventory), ..InventorySource::default() },
        ..IdentityConfig::default()
    };
    IdentitySystems::new(&config).expect("identity systems")
}

fn fan_out(systems: &IdentitySystems) -> &dyn Connector {
    systems.connectors.iter().find(|c| c.name() == IDENTITY_CONNECTOR).expect("identity connector").as_ref()
}

async fn mount_revokes(server: &MockServer, vault_status: u16) {
    Mock::given(method("PUT"))
        .and(path("/v1/sys/leases/revoke"))
        .respond_with(ResponseTemplate::new(vault_status))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/iam/"))
        .and(body_string_contains("AccessKeyId=AKIADEV0000000000001&Status=Inactive"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<UpdateAccessKeyResponse/>"))
        .mount(server)
        .await;
}

#[test]
fn systems_are_registered_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server_uri = "http://127.0.0.1:9";
    let config = IdentityConfig {
        vault: Some(VaultConfig {
            name: "vault".to_string(),
            base_url: server_uri.to_string(),
            token: secret_file(&dir, "vault", VAULT_TOKEN),
            namespace: None,
            http: fast_http(),
        }),
        ..IdentityConfig::default()
    };

    let systems = IdentitySystems::new(&config).expect("systems");
    let names: Vec<&str> = systems.connectors.iter().map(|c| c.name()).collect();

    assert_eq!(names, vec!["vault", "identity"]);
    assert!(systems.inventory.credentials().is_empty());
}

#[test]
fn duplicate_names_are_rejected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let vault = VaultConfig {
        name: "identity".to_string(),
        base_url: "http://127.0.0.1:9".to_string(),
        token: secret_file(&dir, "vault", VAULT_TOKEN),
        namespace: None,
        http: fast_http(),
    };

    let error = IdentitySystems::new(&IdentityConfig { vault: Some(vault), ..IdentityConfig::default() })
        .expect_err("the name identity is taken");

    assert!(error.to_string().contains("give each its own name"), "{error}");
}

#[test]
fn unreadable_inventory_names_file() {
    let config = IdentityConfig {
        inventory: InventorySource {
            file: Some("/nonexistent/phishloop-inventory.csv".into()),
            ..InventorySource::default()
        },
        ..IdentityConfig::default()
    };

    let error = IdentitySystems::new(&config).expect_err("missing file");

    assert!(error.to_string().contains("/nonexistent/phishloop-inventory.csv"), "{error}");
}

#[tokio::test]
async fn revoke_credentials_runs_on_every_credential_system() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    mount_revokes(&server, 204).await;
    let systems = systems(&server, &dir);

    let outcome = fan_out(&systems).execute(&action(ActionKind::RevokeCredentials, person(OWNER), "identity")).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert_eq!(outcome.connector, "identity");
    let systems_data = outcome.data.as_ref().expect("data")["systems"].as_array().expect("systems").clone();
    let names: Vec<&str> = systems_data.iter().map(|s| s["connector"].as_str().expect("name")).collect();
    assert_eq!(names, vec!["vault", "aws"], "okta's revoke_credentials is not part of the fan-out");
    assert!(outcome.details.contains("database/creds/dev/AbC1"), "{}", outcome.details);
    assert!(outcome.details.contains("AKIADEV0000000000001"), "{}", outcome.details);
}

#[tokio::test]
async fn one_failed_system_fails_and_retry_skips_done() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    mount_revokes(&server, 403).await;
    let systems = systems(&server, &dir);
    let planned = action(ActionKind::RevokeCredentials, person(OWNER), "identity");

    let first = fan_out(&systems).execute(&planned).await;
    let second = fan_out(&systems).execute(&planned).await;

    assert_eq!(first.status, OutcomeStatus::Failed);
    assert!(first.details.contains("vault: permission denied"), "{}", first.details);
    assert!(second.details.contains("aws: already done"), "{}", second.details);
    let aws_calls =
        server.received_requests().await.expect("requests").iter().filter(|r| r.url.path() == "/iam/").count();
    assert_eq!(aws_calls, 1, "the succeeded system is not called again");
}

#[tokio::test]
async fn sessions_without_session_system_are_unsupported() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config_without_okta = IdentityConfig {
        vault: Some(VaultConfig {
            name: "vault".to_string(),
            base_url: server.uri(),
            token: secret_file(&dir, "vault2", VAULT_TOKEN),
            namespace: None,
            http: fast_http(),
        }),
        ..IdentityConfig::default()
    };
    let only_vault = IdentitySystems::new(&config_without_okta).expect("systems");

    let outcome = fan_out(&only_vault).execute(&action(ActionKind::RevokeSessions, person(OWNER), "identity")).await;

    assert_eq!(outcome.status, OutcomeStatus::Unsupported);
    assert!(outcome.details.contains("no configured identity system"), "{}", outcome.details);
}

#[tokio::test]
async fn undo_reactivates_aws_keys_only() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    Mock::given(method("POST"))
        .and(path("/iam/"))
        .and(body_string_contains("AccessKeyId=AKIADEV0000000000001&Status=Active"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<UpdateAccessKeyResponse/>"))
        .expect(1)
        .mount(&server)
        .await;
    let systems = systems(&server, &dir);
    let planned = action(ActionKind::RevokeCredentials, person(OWNER), "identity");

    assert!(fan_out(&systems).can_undo(&planned));
    let outcome = fan_out(&systems).undo(&planned).await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert!(outcome.details.starts_with("aws: set access key"), "{}", outcome.details);
    assert!(outcome.details.contains("not undone on vault"), "{}", outcome.details);
}

#[tokio::test]
async fn fan_out_logs_no_secret() {
    let (capture, _guard) = LogCapture::start();
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .mount(&server)
        .await;
    Mock::given(method("PUT")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    let systems = systems(&server, &dir);

    let outcomes = [
        fan_out(&systems).execute(&action(ActionKind::RevokeCredentials, person(OWNER), "identity")).await,
        fan_out(&systems).execute(&action(ActionKind::RevokeSessions, person(OWNER), "identity")).await,
    ];

    let logs = capture.text();
    assert!(outcomes.iter().all(|o| o.status == OutcomeStatus::Failed));
    assert!(logs.contains("retrying"), "the capture saw the retries: {logs}");
    for secret in [OKTA_TOKEN, VAULT_TOKEN, AWS_SECRET] {
        assert!(!logs.contains(secret), "{secret} logged: {logs}");
        let data =
            serde_json::to_string(&outcomes.iter().map(|o| json!({ "d": o.details, "x": o.data })).collect::<Vec<_>>())
                .expect("json");
        assert!(!data.contains(secret), "{secret} in an outcome");
    }
}
