//! The containment scenario at library level. A credential phish reaches
//! 20 people, and the proxy log shows three clicks (one a link preview)
//! and one credential POST. Only the person who submitted is contained:
//! the password is reset in a real slapd, sessions are revoked in Graph
//! and Okta (mocks), and the attacker's forwarding rule is removed. The
//! two API keys that person owns are deactivated in AWS IAM (mock).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::slapd::{ADMIN_DN, ADMIN_PASSWORD, SUFFIX, attribute, start_slapd};
use common::{action, fast_http, person, secret_file};
use phishloop_identity::{
    AwsIamConfig, AwsIamConnector, Campaign, ClickFilter, DirectorySchema, FieldMap, GraphConfig, GraphConnector,
    HttpConfig, Inventory, LdapConfig, LdapConnector, LogSource, OktaConfig, OktaConnector, RuleCheck, Verdict,
    classify_clicks, parse_csv,
};
use phishloop_response::{ActionKind, Connector, OutcomeStatus};
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const LURE: &str = "https://sso.examp1e-login.test/auth";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
}

fn proxy_log() -> String {
    format!(
        "time,user,client_ip,method,url,user_agent\n\
         2026-12-01T09:02:00Z,user03@example.test,10.0.0.3,GET,{LURE},facebookexternalhit/1.1\n\
         2026-12-01T09:05:00Z,user05@example.test,10.0.0.5,GET,{LURE},Mozilla/5.0 (X11; Linux x86_64)\n\
         2026-12-01T09:06:30Z,user05@example.test,10.0.0.5,POST,{LURE},Mozilla/5.0 (X11; Linux x86_64)\n\
         2026-12-01T09:08:00Z,user12@example.test,10.0.0.12,GET,{LURE},Mozilla/5.0 (Macintosh)\n"
    )
}

fn inventory() -> Arc<Inventory> {
    let csv = "id,kind,owner,provider,reference,parent,reaches\n\
        key-deploy,api_key,user05@example.test,aws,AKIAUSER05DEPLOY0001,user05-ci,deployment bucket\n\
        key-reports,api_key,user05@example.test,aws,AKIAUSER05REPORT0002,user05-ci,reporting database\n\
        key-user12,api_key,user12@example.test,aws,AKIAUSER12ONLY000003,user12-ci,analytics\n";
    Arc::new(Inventory::from_csv(csv.as_bytes()).expect("inventory"))
}

#[tokio::test]
async fn only_submitter_is_contained() {
    let Some(slapd) = start_slapd().await else { return };
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");

    // Who clicked.
    let campaign = Campaign {
        urls: vec![LURE.to_string()],
        domains: vec!["examp1e-login.test".to_string()],
        delivered_at: at("2026-12-01T09:00:00Z"),
        recipients: (1..=20).map(|n| format!("user{n:02}@example.test")).collect(),
        ip_owners: BTreeMap::new(),
    };
    let log = parse_csv(proxy_log().as_bytes(), &FieldMap::proxy(), LogSource::Proxy).expect("proxy log");
    let report = classify_clicks(&campaign, &log.entries, &ClickFilter::default());
    let submitters: Vec<&str> = report
        .people
        .iter()
        .filter(|p| p.verdict == Verdict::SubmittedCredentials)
        .map(|p| p.address.as_str())
        .collect();
    let clicked = report.people.iter().filter(|p| p.verdict == Verdict::Clicked).count();
    assert_eq!(submitters, vec!["user05@example.test"]);
    assert_eq!(clicked, 1, "user12 clicked; the link preview of user03 is not a click");

    // Mocks: Graph, Okta and IAM accept calls for user05 only.
    Mock::given(method("POST"))
        .and(path("/tenant/token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "access_token": "t-graph", "expires_in": 3600 })),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/users/user05@example.test/revokeSignInSessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "value": true })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/user05@example.test/mailFolders/inbox/messageRules"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "value": [
            { "id": "fwd", "displayName": "", "actions": { "redirectTo": [{ "emailAddress": { "address": "keep@attacker.test" } }] } },
            { "id": "own", "displayName": "Team", "conditions": { "senderContains": ["team@example.test"] }, "actions": { "markImportance": "high" } }
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1.0/users/user05@example.test/mailFolders/inbox/messageRules/fwd"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/user05@example.test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "00u5" })))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/users/00u5/sessions"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    for (key, times) in [("AKIAUSER05DEPLOY0001", 1), ("AKIAUSER05REPORT0002", 1), ("AKIAUSER12ONLY000003", 0)] {
        Mock::given(method("POST"))
            .and(path("/iam/"))
            .and(body_string_contains(format!("AccessKeyId={key}&Status=Inactive")))
            .respond_with(ResponseTemplate::new(200).set_body_string("<UpdateAccessKeyResponse/>"))
            .expect(times)
            .mount(&server)
            .await;
    }

    let graph = GraphConnector::new(&GraphConfig {
        name: "graph".to_string(),
        base_url: format!("{}/v1.0", server.uri()),
        token_url: format!("{}/tenant/token", server.uri()),
        client_id: "client".to_string(),
        client_secret: secret_file(&dir, "graph", "graph-secret"),
        scope: "https://graph.microsoft.com/.default".to_string(),
        purge_mailboxes: Vec::new(),
        purge_folder: "deleteditems".to_string(),
        rules: RuleCheck { internal_domains: vec!["example.test".to_string()], ..RuleCheck::default() },
        http: fast_http(),
    })
    .expect("graph");
    let okta = OktaConnector::new(&OktaConfig {
        name: "okta".to_string(),
        base_url: server.uri(),
        api_token: secret_file(&dir, "okta", "okta-token"),
        oauth_client_ids: Vec::new(),
        http: fast_http(),
    })
    .expect("okta");
    let aws = AwsIamConnector::new(
        &AwsIamConfig {
            name: "aws".to_string(),
            base_url: format!("{}/iam/", server.uri()),
            region: "us-east-1".to_string(),
            access_key_id: "AKIDCALLER".to_string(),
            secret_access_key: secret_file(&dir, "aws", "aws-secret"),
            http: fast_http(),
        },
        inventory(),
    )
    .expect("aws");
    let ldap = LdapConnector::new(&LdapConfig {
        name: "ldap".to_string(),
        url: slapd.url.clone(),
        starttls: false,
        bind_dn: ADMIN_DN.to_string(),
        bind_password: secret_file(&dir, "ldap", ADMIN_PASSWORD),
        base_dn: SUFFIX.to_string(),
        user_filter: "(mail={address})".to_string(),
        schema: DirectorySchema::Openldap,
        retry: HttpConfig { timeout_ms: 5_000, max_attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 50 },
    })
    .expect("ldap");

    // Containment of each submitter.
    let mut outcomes = Vec::new();
    for address in &submitters {
        let target = person(address);
        outcomes.push(ldap.execute(&action(ActionKind::ResetPassword, target.clone(), "ldap")).await);
        outcomes.push(graph.execute(&action(ActionKind::RevokeSessions, target.clone(), "graph")).await);
        outcomes.push(okta.execute(&action(ActionKind::RevokeSessions, target.clone(), "okta")).await);
        outcomes.push(graph.execute(&action(ActionKind::RemoveMailboxRules, target.clone(), "graph")).await);
        outcomes.push(aws.execute(&action(ActionKind::RevokeCredentials, target, "aws")).await);
    }

    for outcome in &outcomes {
        assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}: {}", outcome.connector, outcome.details);
    }
    assert_eq!(attribute(&slapd.url, "user05", "pwdReset").await.as_deref(), Some("TRUE"));
    assert_eq!(
        attribute(&slapd.url, "user12", "pwdReset").await,
        None,
        "a clicker who did not submit keeps the password"
    );
    assert!(outcomes[3].details.contains("removed 1 rule from"), "{}", outcomes[3].details);
    assert!(outcomes[4].details.contains("AKIAUSER05DEPLOY0001"), "{}", outcomes[4].details);
    assert!(outcomes[4].details.contains("AKIAUSER05REPORT0002"), "{}", outcomes[4].details);
}
