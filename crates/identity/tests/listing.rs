//! Listing non-human credentials from Entra, GitHub, AWS IAM and Vault into
//! the inventory, against mock servers on 127.0.0.1.

mod common;

use common::{fast_http, secret_file};
use phishloop_identity::{
    AwsIamConfig, AwsListing, GithubConfig, GithubListing, GraphConfig, IdentityConfig, IdentitySystems,
    InventorySource, Provider, RuleCheck, VaultConfig, VaultListing,
};
use serde_json::json;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn graph(server: &MockServer, dir: &tempfile::TempDir) -> GraphConfig {
    GraphConfig {
        name: "graph".to_string(),
        base_url: format!("{}/v1.0", server.uri()),
        token_url: format!("{}/tenant/oauth2/v2.0/token", server.uri()),
        client_id: "client".to_string(),
        client_secret: secret_file(dir, "graph", "graph-secret-Lq2"),
        scope: "https://graph.microsoft.com/.default".to_string(),
        purge_mailboxes: Vec::new(),
        purge_folder: "deleteditems".to_string(),
        rules: RuleCheck::default(),
        http: fast_http(),
    }
}

fn github(server: &MockServer, dir: &tempfile::TempDir) -> GithubConfig {
    GithubConfig {
        name: "github".to_string(),
        base_url: server.uri(),
        token: secret_file(dir, "github", "ghs_installation-token-Vn4"),
        http: fast_http(),
    }
}

fn aws(server: &MockServer, dir: &tempfile::TempDir) -> AwsIamConfig {
    AwsIamConfig {
        name: "aws".to_string(),
        base_url: format!("{}/iam/", server.uri()),
        region: "us-east-1".to_string(),
        access_key_id: "AKIDLISTING".to_string(),
        secret_access_key: secret_file(dir, "aws", "aws-secret-Hy6"),
        http: fast_http(),
    }
}

fn vault(server: &MockServer, dir: &tempfile::TempDir) -> VaultConfig {
    VaultConfig {
        name: "vault".to_string(),
        base_url: server.uri(),
        token: secret_file(dir, "vault", "hvs.listing-token-Pw8"),
        namespace: None,
        http: fast_http(),
    }
}

async fn mount_graph(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/tenant/oauth2/v2.0/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "access_token": "t", "expires_in": 3600 })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications"))
        .and(query_param("$select", "id,appId,displayName,passwordCredentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [
                { "id": "app-billing", "appId": "11111111-1111-1111-1111-111111111111", "displayName": "Billing sync",
                  "passwordCredentials": [{ "keyId": "key-a", "displayName": "ci" }, { "keyId": "key-b" }] },
                { "id": "app-orphan", "displayName": "Old importer", "passwordCredentials": [{ "keyId": "key-c" }] },
                { "id": "app-nosecret", "displayName": "Certificate only", "passwordCredentials": [] }
            ],
            "@odata.nextLink": format!("{}/v1.0/applications?$skiptoken=page2", server.uri())
        })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications"))
        .and(query_param("$skiptoken", "page2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "value": [
            { "id": "app-portal", "displayName": "Dev portal", "passwordCredentials": [{ "keyId": "key-d" }] }
        ]})))
        .mount(server)
        .await;
    for (application, owners) in [
        (
            "app-billing",
            json!([{ "mail": "Ann@Corp-Example.com" }, { "mail": null, "userPrincipalName": "bo@corp-example.com" }]),
        ),
        ("app-orphan", json!([{ "@odata.type": "#microsoft.graph.servicePrincipal", "mail": null }])),
        ("app-portal", json!([{ "mail": "cy@corp-example.com" }])),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/v1.0/applications/{application}/owners")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "value": owners })))
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn entra_secrets_listed_per_owner() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    mount_graph(&server).await;
    let config = IdentityConfig {
        graph: Some(graph(&server, &dir)),
        inventory: InventorySource { entra: true, ..InventorySource::default() },
        ..IdentityConfig::default()
    };

    let (systems, problems) = IdentitySystems::build(&config).await.expect("systems");

    let ann = systems.inventory.credentials_owned_by("ann@corp-example.com");
    assert_eq!(ann.len(), 2, "both secrets of Billing sync");
    assert_eq!(ann[0].provider, Provider::Entra);
    assert_eq!(ann[0].parent.as_deref(), Some("app-billing"));
    assert_eq!(ann[0].reference, "key-a");
    assert_eq!(systems.inventory.credentials_owned_by("bo@corp-example.com").len(), 2, "an owner without mail");
    assert_eq!(systems.inventory.credentials_owned_by("cy@corp-example.com").len(), 1, "the second page");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("Old importer"), "{problems:?}");
}

#[tokio::test]
async fn github_tokens_listed_with_owner_addresses() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    Mock::given(method("GET"))
        .and(path("/orgs/corp/personal-access-tokens"))
        .and(header("authorization", "Bearer ghs_installation-token-Vn4"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "id": 25381, "owner": { "login": "octocat" }, "repository_selection": "subset" },
            { "id": 25382, "owner": { "login": "stranger" }, "repository_selection": "all" }
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let listing = GithubListing {
        organizations: vec!["corp".to_string()],
        owner_emails: [("octocat".to_string(), "ann@corp-example.com".to_string())].into_iter().collect(),
        owner_domain: None,
    };
    let config = IdentityConfig {
        github: Some(github(&server, &dir)),
        inventory: InventorySource { github: Some(listing), ..InventorySource::default() },
        ..IdentityConfig::default()
    };

    let (systems, problems) = IdentitySystems::build(&config).await.expect("systems");

    let tokens = systems.inventory.credentials_owned_by("ann@corp-example.com");
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].reference, "25381");
    assert_eq!(tokens[0].parent.as_deref(), Some("corp"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("stranger"), "{problems:?}");
}

#[tokio::test]
async fn aws_keys_listed_by_owner_tag() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let reply = |body: &str| ResponseTemplate::new(200).set_body_string(body.to_string());
    Mock::given(method("POST"))
        .and(body_string_contains("Action=ListUsers"))
        .respond_with(reply(
            "<ListUsersResponse><ListUsersResult><Users>\
             <member><UserName>deploy-ci</UserName></member><member><UserName>untagged</UserName></member>\
             </Users><IsTruncated>false</IsTruncated></ListUsersResult></ListUsersResponse>",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=ListUserTags"))
        .and(body_string_contains("UserName=deploy-ci"))
        .respond_with(reply(
            "<ListUserTagsResponse><ListUserTagsResult><Tags>\
             <member><Key>team</Key><Value>platform</Value></member>\
             <member><Key>Owner</Key><Value>dev@corp-example.com</Value></member>\
             </Tags><IsTruncated>false</IsTruncated></ListUserTagsResult></ListUserTagsResponse>",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=ListUserTags"))
        .and(body_string_contains("UserName=untagged"))
        .respond_with(reply(
            "<ListUserTagsResponse><ListUserTagsResult><Tags/></ListUserTagsResult></ListUserTagsResponse>",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=ListAccessKeys"))
        .and(body_string_contains("UserName=deploy-ci"))
        .respond_with(reply(
            "<ListAccessKeysResponse><ListAccessKeysResult><AccessKeyMetadata>\
             <member><UserName>deploy-ci</UserName><AccessKeyId>AKIADEPLOY0000000001</AccessKeyId><Status>Active</Status></member>\
             </AccessKeyMetadata><IsTruncated>false</IsTruncated></ListAccessKeysResult></ListAccessKeysResponse>",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let config = IdentityConfig {
        aws: Some(aws(&server, &dir)),
        inventory: InventorySource { aws: Some(AwsListing::default()), ..InventorySource::default() },
        ..IdentityConfig::default()
    };

    let (systems, problems) = IdentitySystems::build(&config).await.expect("systems");

    let keys = systems.inventory.credentials_owned_by("dev@corp-example.com");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].reference, "AKIADEPLOY0000000001");
    assert_eq!(keys[0].parent.as_deref(), Some("deploy-ci"));
    assert_eq!(systems.inventory.credentials().len(), 1, "the untagged user's keys are not listed");
}

#[tokio::test]
async fn vault_leases_listed_under_prefixes() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    Mock::given(method("GET"))
        .and(path("/v1/sys/leases/lookup/database/creds/billing-ro/"))
        .and(query_param("list", "true"))
        .and(header("x-vault-token", "hvs.listing-token-Pw8"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "keys": ["Ab12", "nested/"] } })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/sys/leases/lookup/database/creds/billing-ro/nested/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "keys": ["Cd34"] } })))
        .mount(&server)
        .await;
    let listing = VaultListing {
        prefixes: [("database/creds/billing-ro/".to_string(), "dev@corp-example.com".to_string())]
            .into_iter()
            .collect(),
    };
    let config = IdentityConfig {
        vault: Some(vault(&server, &dir)),
        inventory: InventorySource { vault: Some(listing), ..InventorySource::default() },
        ..IdentityConfig::default()
    };

    let (systems, problems) = IdentitySystems::build(&config).await.expect("systems");

    let mut leases: Vec<&str> =
        systems.inventory.credentials_owned_by("dev@corp-example.com").iter().map(|c| c.reference.as_str()).collect();
    leases.sort_unstable();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(leases, vec!["database/creds/billing-ro/Ab12", "database/creds/billing-ro/nested/Cd34"]);
}

#[tokio::test]
async fn failed_listing_keeps_the_file() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(json!({ "message": "Resource not accessible by integration" })),
        )
        .mount(&server)
        .await;
    let file = dir.path().join("inventory.csv");
    std::fs::write(
        &file,
        "id,kind,owner,provider,reference,parent\nk1,api_key,dev@corp-example.com,aws,AKIAFILE000000000001,ci\n",
    )
    .expect("file");
    let config = IdentityConfig {
        github: Some(github(&server, &dir)),
        inventory: InventorySource {
            file: Some(file),
            github: Some(GithubListing { organizations: vec!["corp".to_string()], ..GithubListing::default() }),
            ..InventorySource::default()
        },
        ..IdentityConfig::default()
    };

    let (systems, problems) = IdentitySystems::build(&config).await.expect("systems");

    assert_eq!(systems.inventory.credentials().len(), 1, "the file's credential stays");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("permission denied"), "{problems:?}");
}

#[tokio::test]
async fn listing_without_its_table_is_rejected() {
    let config = IdentityConfig {
        inventory: InventorySource { entra: true, ..InventorySource::default() },
        ..IdentityConfig::default()
    };

    let error = IdentitySystems::build(&config).await.expect_err("no [identity.graph]");

    assert!(error.to_string().contains("[identity.graph]"), "{error}");
}
