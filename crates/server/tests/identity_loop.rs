//! Identity containment end to end over HTTP, on SQLite and PostgreSQL. A
//! credential phish reaches 20 people, and the proxy log shows three clicks
//! (one a link preview) and one credential POST. The submitter alone gets
//! a password reset in a real slapd, in Graph and in Okta, and loses the
//! sessions in Graph and Okta; the attacker's forwarding rule is removed;
//! after an identity administrator approves, the two AWS keys the
//! submitter owns are rotated: new keys go to Vault, the old ones are
//! deactivated; the people who clicked get a lesson. Graph, Okta, AWS IAM
//! and Vault are wiremock servers on 127.0.0.1 that check the documented
//! paths, methods and bodies.

mod common;

#[allow(dead_code)]
#[path = "../../identity/tests/common/slapd.rs"]
mod slapd;

use std::io::Write;
use std::path::PathBuf;

use chrono::{Duration, SecondsFormat, Utc};
use common::{ADMIN_TOKEN, TestEnv, TestService, fast_config, service_test, wait_for};
use phishloop_identity::{
    AwsIamConfig, ClickSettings, DirectorySchema, GraphConfig, HttpConfig, IdentityConfig, InventorySource, LdapConfig,
    OktaConfig, RotationConfig, RuleCheck, VaultConfig,
};
use phishloop_model::Verdict;
use phishloop_response::{ActionKind, Mode, Playbook, ResponseConfig, SecretSource, Selector, Step};
use phishloop_server::Service;
use phishloop_store::TokenRole;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const LURE: &str = "https://sso.examp1e-login.test/auth/signin";
const SUBMITTER: &str = "user05@example.test";
const CLICKER: &str = "user12@example.test";
const PREVIEWED: &str = "user03@example.test";
const REPORTER: &str = "user20@example.test";
/// The value of the submitter's deployment key, as an AWS access key id.
const DEPLOY_KEY: &str = "AKIAUSER05DEPLOY0001";

fn at(minutes_ago: i64) -> String {
    (Utc::now() - Duration::minutes(minutes_ago)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A credential phish to user01 ... user20, sent an hour ago.
fn phish() -> Vec<u8> {
    let to: Vec<String> = (1..=20).map(|n| format!("user{n:02}@example.test")).collect();
    let date = (Utc::now() - Duration::minutes(60)).to_rfc2822();
    format!(
        "From: \"Example IT Service Desk\" <it-desk@examp1e-login.test>\r\n\
         To: {}\r\n\
         Subject: Your password expires today: confirm it to keep your mailbox\r\n\
         Message-ID: <expiry-20-users@examp1e-login.test>\r\n\
         Date: {date}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n\
         <p>Dear employee,</p>\r\n\
         <p>Your password expires today. Confirm your password within 24 hours or your account will be locked.</p>\r\n\
         <p><a href=\"{LURE}?id=20\">Confirm password</a></p>\r\n",
        to.join(", ")
    )
    .into_bytes()
}

/// Three visits (one by a link previewer), one credential POST and a line
/// for another site.
fn proxy_log() -> String {
    format!(
        "time,user,client_ip,method,url,user_agent\n\
         {},{PREVIEWED},10.0.0.3,GET,{LURE}?id=20,facebookexternalhit/1.1\n\
         {},{SUBMITTER},10.0.0.5,GET,{LURE}?id=20,Mozilla/5.0 (X11; Linux x86_64)\n\
         {},{SUBMITTER},10.0.0.5,POST,{LURE},Mozilla/5.0 (X11; Linux x86_64)\n\
         {},{CLICKER},10.0.0.12,GET,{LURE}?id=20,Mozilla/5.0 (Macintosh)\n\
         {},user07@example.test,10.0.0.7,GET,https://intranet.example.test/,Mozilla/5.0\n",
        at(50),
        at(45),
        at(44),
        at(40),
        at(39)
    )
}

fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    let mut file = std::fs::File::create(&path).expect("create file");
    file.write_all(text.as_bytes()).expect("write file");
    path
}

fn fast_http() -> HttpConfig {
    HttpConfig { timeout_ms: 5_000, max_attempts: 3, initial_backoff_ms: 10, max_backoff_ms: 50 }
}

fn step(action: ActionKind, target: Selector, mode: Mode) -> Step {
    Step { action, target, mode, connector: "identity".to_owned() }
}

/// Identity steps through the `identity` connector, tried before the
/// built-in playbooks; credentials wait for approval.
fn response_config() -> ResponseConfig {
    ResponseConfig {
        internal_domains: vec!["example.test".to_owned()],
        review_requires_approval: false,
        playbooks: vec![Playbook {
            name: "identity-containment".to_owned(),
            verdicts: vec![Verdict::Malicious, Verdict::Suspicious],
            categories: Vec::new(),
            min_confidence: 0.0,
            min_reporters: 0,
            needs_review: None,
            steps: vec![
                step(ActionKind::ResetPassword, Selector::Submitters, Mode::Auto),
                step(ActionKind::RevokeSessions, Selector::Submitters, Mode::Auto),
                step(ActionKind::RemoveMailboxRules, Selector::Clickers, Mode::Auto),
                step(ActionKind::RotateCredentials, Selector::CredentialOwners, Mode::Approve),
            ],
        }],
        // The built-in exposed-secrets playbook revokes secrets found in a message.
        connectors: [(ActionKind::RevokeCredentials, "identity".to_owned())].into_iter().collect(),
        ..ResponseConfig::default()
    }
}

/// Returns the inventory: two AWS keys of the submitter, each of its own
/// IAM user (IAM allows two keys per user, so rotating needs room for a new
/// one), and one of the clicker. The deployment key's row carries the
/// SHA-256 of its value.
fn inventory_csv() -> String {
    let deploy_sha256 = hex_sha256(DEPLOY_KEY);
    format!(
        "id,kind,owner,provider,reference,parent,reaches,secret_sha256\n\
         key-deploy,api_key,user05@example.test,aws,{DEPLOY_KEY},user05-ci,deployment bucket,{deploy_sha256}\n\
         key-reports,api_key,user05@example.test,aws,AKIAUSER05REPORT0002,user05-reports,reporting database,\n\
         key-user12,api_key,user12@example.test,aws,AKIAUSER12ONLY000003,user12-ci,analytics,\n"
    )
}

fn hex_sha256(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

fn identity_config(server: &MockServer, ldap_url: &str, dir: &tempfile::TempDir) -> IdentityConfig {
    let secret = |name: &str, value: &str| SecretSource::File(write_file(dir, name, value));
    let inventory = write_file(dir, "inventory.csv", &inventory_csv());
    IdentityConfig {
        graph: Some(GraphConfig {
            name: "graph".to_owned(),
            base_url: format!("{}/v1.0", server.uri()),
            token_url: format!("{}/tenant/oauth2/v2.0/token", server.uri()),
            client_id: "phishloop-app".to_owned(),
            client_secret: secret("graph-secret", "graph-client-secret-Qw7"),
            scope: "https://graph.microsoft.com/.default".to_owned(),
            purge_mailboxes: Vec::new(),
            purge_folder: "deleteditems".to_owned(),
            rules: RuleCheck { internal_domains: vec!["example.test".to_owned()], ..RuleCheck::default() },
            http: fast_http(),
        }),
        okta: Some(OktaConfig {
            name: "okta".to_owned(),
            base_url: server.uri(),
            api_token: secret("okta-token", "okta-api-token-Zr5"),
            oauth_client_ids: Vec::new(),
            http: fast_http(),
        }),
        ldap: Some(LdapConfig {
            name: "ldap".to_owned(),
            url: ldap_url.to_owned(),
            starttls: false,
            bind_dn: slapd::ADMIN_DN.to_owned(),
            bind_password: secret("ldap-password", slapd::ADMIN_PASSWORD),
            base_dn: slapd::SUFFIX.to_owned(),
            user_filter: "(mail={address})".to_owned(),
            schema: DirectorySchema::Openldap,
            retry: fast_http(),
        }),
        aws: Some(AwsIamConfig {
            name: "aws".to_owned(),
            base_url: format!("{}/iam/", server.uri()),
            region: "us-east-1".to_owned(),
            access_key_id: "AKIDPHISHLOOP".to_owned(),
            secret_access_key: secret("aws-secret", "aws-secret-access-key-Jm2"),
            http: fast_http(),
        }),
        vault: Some(VaultConfig {
            name: "vault".to_owned(),
            base_url: server.uri(),
            token: secret("vault-token", VAULT_TOKEN),
            namespace: None,
            http: fast_http(),
        }),
        rotation: Some(RotationConfig::default()),
        inventory: InventorySource { file: Some(inventory), ..InventorySource::default() },
        clicks: ClickSettings::default(),
        ..IdentityConfig::default()
    }
}

/// Mounts the documented requests for the submitter, each expected once,
/// and the rule listing of the other clicker. Anything else gets wiremock's
/// 404, which fails the action that sent it.
async fn mount_mocks(server: &MockServer) {
    let json_reply = |body: Value| ResponseTemplate::new(200).set_body_json(body);
    Mock::given(method("POST"))
        .and(path("/tenant/oauth2/v2.0/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(json_reply(json!({ "access_token": "graph-access-token", "expires_in": 3600 })))
        .mount(server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/v1.0/users/{SUBMITTER}")))
        .and(header("authorization", "Bearer graph-access-token"))
        .and(body_json(json!({ "passwordProfile": { "forceChangePasswordNextSignIn": true } })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v1.0/users/{SUBMITTER}/revokeSignInSessions")))
        .respond_with(json_reply(json!({ "value": true })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/users/{SUBMITTER}/mailFolders/inbox/messageRules")))
        .respond_with(json_reply(json!({ "value": [
            { "id": "AQAAAJ5dZp8=", "displayName": ".", "isEnabled": true,
              "actions": { "forwardTo": [{ "emailAddress": { "address": "drop@attacker-mail.test" } }], "stopProcessingRules": true } },
            { "id": "AQAAAJ5dZp9=", "displayName": "Team mail", "isEnabled": true,
              "conditions": { "senderContains": ["team@example.test"] }, "actions": { "markImportance": "high" } }
        ]})))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/v1.0/users/{SUBMITTER}/mailFolders/inbox/messageRules/AQAAAJ5dZp8=")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/users/{CLICKER}/mailFolders/inbox/messageRules")))
        .respond_with(json_reply(json!({ "value": [] })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/users/{SUBMITTER}")))
        .and(header("authorization", "SSWS okta-api-token-Zr5"))
        .respond_with(json_reply(
            json!({ "id": "00u1submit05", "status": "ACTIVE", "profile": { "login": SUBMITTER } }),
        ))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/users/00u1submit05/lifecycle/expire_password"))
        .respond_with(json_reply(json!({ "id": "00u1submit05", "status": "PASSWORD_EXPIRED" })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/users/00u1submit05/sessions"))
        .and(query_param("oauthTokens", "true"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(server)
        .await;
    // Rotation of the submitter's two keys: each old key is listed, a new
    // one issued and written to Vault, then the old one deactivated.
    for (user, old, new) in [
        ("user05-ci", "AKIAUSER05DEPLOY0001", NEW_DEPLOY_KEY),
        ("user05-reports", "AKIAUSER05REPORT0002", NEW_REPORTS_KEY),
    ] {
        Mock::given(method("POST"))
            .and(path("/iam/"))
            .and(body_string_contains(format!("Action=ListAccessKeys&Version=2010-05-08&UserName={user}")))
            .respond_with(iam_reply(
                "ListAccessKeys",
                &format!(
                    "<AccessKeyMetadata><member><UserName>{user}</UserName><AccessKeyId>{old}</AccessKeyId>\
                     <Status>Active</Status></member></AccessKeyMetadata><IsTruncated>false</IsTruncated>"
                ),
            ))
            .mount(server)
            .await;
        Mock::given(method("POST"))
            .and(path("/iam/"))
            .and(body_string_contains(format!("Action=CreateAccessKey&Version=2010-05-08&UserName={user}")))
            .respond_with(iam_reply(
                "CreateAccessKey",
                &format!(
                    "<AccessKey><UserName>{user}</UserName><AccessKeyId>{new}</AccessKeyId><Status>Active</Status>\
                     <SecretAccessKey>{NEW_SECRET_PREFIX}{new}</SecretAccessKey></AccessKey>"
                ),
            ))
            .expect(1)
            .mount(server)
            .await;
    }
    for id in ["key-deploy", "key-reports"] {
        let record = format!("/v1/secret/data/phishloop/rotated/aws/{id}");
        Mock::given(method("GET"))
            .and(path(record.as_str()))
            .and(header("x-vault-token", VAULT_TOKEN))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "errors": [] })))
            .mount(server)
            .await;
        Mock::given(method("POST"))
            .and(path(record.as_str()))
            .and(header("x-vault-token", VAULT_TOKEN))
            .and(body_string_contains(NEW_SECRET_PREFIX))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "version": 1 } })))
            .expect(1)
            .mount(server)
            .await;
    }
    for (key, times) in [("AKIAUSER05DEPLOY0001", 1), ("AKIAUSER05REPORT0002", 1), ("AKIAUSER12ONLY000003", 0)] {
        Mock::given(method("POST"))
            .and(path("/iam/"))
            .and(body_string_contains(format!("AccessKeyId={key}&Status=Inactive")))
            .respond_with(iam_reply("UpdateAccessKey", ""))
            .expect(times)
            .mount(server)
            .await;
    }
}

const VAULT_TOKEN: &str = "hvs.rotation-token-Lp4";
const NEW_DEPLOY_KEY: &str = "AKIAUSER05DEPLOY0NEW";
const NEW_REPORTS_KEY: &str = "AKIAUSER05REPORT0NEW";
/// The start of the new keys' secrets, which must reach Vault and nothing
/// else.
const NEW_SECRET_PREFIX: &str = "rotated-secret-access-key/";

fn iam_reply(action: &str, result: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_string(format!(
        "<{action}Response xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata></{action}Response>"
    ))
}

async fn start(env: &TestEnv, identity: IdentityConfig) -> TestService {
    let config = fast_config(&env.url);
    let store = env.store(&config).await;
    let mut analysis = phishloop_analysis::Config::default();
    analysis.organization.domains = vec!["example.test".to_owned()];
    let service = Service::new(
        store.clone(),
        analysis,
        phishloop_triage::Config::default(),
        config,
        Some(ADMIN_TOKEN.to_owned()),
    )
    .expect("service")
    .with_identity(identity)
    .await
    .expect("identity settings")
    .with_loop(response_config(), phishloop_coaching::CoachingConfig::default())
    .expect("response settings");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let running = service.start(Some(listener)).expect("start service");
    let base = format!("http://{}", running.address().expect("listening"));
    TestService { running, base, store, client: reqwest::Client::new() }
}

async fn token(service: &TestService, name: &str, role: TokenRole) -> String {
    phishloop_server::create_token(&service.store, name, role).await.expect("token").1
}

async fn get_as(service: &TestService, token: &str, path: &str) -> Value {
    let response = service.client.get(service.url(path)).bearer_auth(token).send().await.expect("GET");
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("JSON")
}

fn actions_of<'a>(actions: &'a [Value], kind: &str) -> Vec<&'a Value> {
    actions.iter().filter(|action| action["kind"] == kind).collect()
}

fn target_of(action: &Value) -> &str {
    action["target"]["address"].as_str().unwrap_or_default()
}

service_test!(submitter_contained_scanner_ignored, |env| {
    let Some(ldap) = slapd::start_slapd().await else { return };
    let mocks = MockServer::start().await;
    mount_mocks(&mocks).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let service = start(&env, identity_config(&mocks, &ldap.url, &dir)).await;
    let identity_admin = token(&service, "iam-admin", TokenRole::Identity).await;
    let analyst = token(&service, "soc-analyst", TokenRole::Analyst).await;

    // The phish is reported and decided.
    let report_id = service.submit_ok(&phish(), Some(REPORTER)).await;
    let report = service.wait_done(&report_id).await;
    let case_id = report["case_id"].as_str().expect("case id").to_owned();
    assert!(
        matches!(report["decision"]["verdict"].as_str(), Some("malicious" | "suspicious")),
        "the lure must be an attack: {report}"
    );

    // The proxy log arrives.
    let response = service
        .client
        .post(service.url("/api/v1/clicks"))
        .query(&[("format", "proxy_csv")])
        .bearer_auth(&analyst)
        .body(proxy_log())
        .send()
        .await
        .expect("POST /api/v1/clicks");
    assert_eq!(response.status(), 200);
    let imported: Value = response.json().await.expect("JSON");
    let cases = imported["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 1, "{imported}");
    assert_eq!(cases[0]["case_id"], case_id.as_str());
    assert_eq!(cases[0]["matched"], 4, "the intranet line is not the lure's: {imported}");
    assert_eq!(cases[0]["excluded"], 1, "the link preview is excluded: {imported}");
    assert_eq!(cases[0]["clicked"], 2, "the submitter clicked too: {imported}");
    assert_eq!(cases[0]["submitted_credentials"], 1);

    // Containment runs for the submitter and the clicker.
    let actions = wait_for("identity actions carried out", || async {
        let (_, actions) = service.get(&format!("/api/v1/cases/{case_id}/actions")).await;
        let actions = actions.as_array().cloned().unwrap_or_default();
        let done = |kind: &str| actions_of(&actions, kind).iter().filter(|a| a["status"] == "succeeded").count();
        (done("reset_password") == 1 && done("revoke_sessions") == 1 && done("remove_mailbox_rules") == 2)
            .then_some(actions)
    })
    .await;
    let resets = actions_of(&actions, "reset_password");
    let sessions = actions_of(&actions, "revoke_sessions");
    assert_eq!(resets.len(), 1, "only the submitter's password: {actions:?}");
    assert_eq!(target_of(resets[0]), SUBMITTER);
    assert_eq!(sessions.len(), 1, "only the submitter's sessions: {actions:?}");
    assert_eq!(target_of(sessions[0]), SUBMITTER);
    let systems: Vec<&str> = resets[0]["outcome"]["data"]["systems"]
        .as_array()
        .expect("systems")
        .iter()
        .map(|system| system["connector"].as_str().expect("connector"))
        .collect();
    assert_eq!(systems, vec!["graph", "okta", "ldap"]);
    let rules = actions_of(&actions, "remove_mailbox_rules");
    let submitter_rules = rules.iter().find(|a| target_of(a) == SUBMITTER).expect("submitter's rules");
    let details = submitter_rules["outcome"]["details"].as_str().expect("details");
    assert!(details.contains("removed 1 rule from"), "{details}");
    assert!(details.contains("forwards_externally"), "{details}");
    assert!(actions.iter().all(|a| target_of(a) != PREVIEWED), "the previewed recipient is untouched");
    assert_eq!(slapd::attribute(&ldap.url, "user05", "pwdReset").await.as_deref(), Some("TRUE"));
    assert_eq!(slapd::attribute(&ldap.url, "user12", "pwdReset").await, None, "a click alone keeps the password");

    // The submitter's keys wait for an identity administrator.
    let rotations = actions_of(&actions, "rotate_credentials");
    let own = rotations.iter().find(|a| target_of(a) == SUBMITTER).expect("rotation for the submitter");
    assert_eq!(own["status"], "awaiting_approval");
    let action_id = own["id"].as_str().expect("action id");
    let refused = service
        .client
        .post(service.url(&format!("/api/v1/actions/{action_id}/approve")))
        .bearer_auth(&analyst)
        .send()
        .await
        .expect("approve as analyst");
    assert_eq!(refused.status(), 403, "an analyst may not rotate credentials");
    let approved = service
        .client
        .post(service.url(&format!("/api/v1/actions/{action_id}/approve")))
        .bearer_auth(&identity_admin)
        .send()
        .await
        .expect("approve as identity admin");
    assert_eq!(approved.status(), 200);
    let approved: Value = approved.json().await.expect("JSON");
    assert_eq!(approved["status"], "succeeded", "{approved}");
    assert_eq!(approved["approved_by"], "iam-admin");
    let details = approved["outcome"]["details"].as_str().expect("details");
    assert!(details.contains("AKIAUSER05DEPLOY0001") && details.contains("AKIAUSER05REPORT0002"), "{details}");
    for stored in [
        format!("new credential {NEW_DEPLOY_KEY} stored at vault:secret/phishloop/rotated/aws/key-deploy"),
        format!("new credential {NEW_REPORTS_KEY} stored at vault:secret/phishloop/rotated/aws/key-reports"),
    ] {
        assert!(details.contains(&stored), "{details}");
    }
    assert!(!approved.to_string().contains(NEW_SECRET_PREFIX), "a new secret reached the API: {approved}");

    // Lessons for the two people who clicked, none for the previewed one.
    let (_, timeline) = service.get(&format!("/api/v1/cases/{case_id}/timeline")).await;
    let events = timeline.as_array().expect("events").clone();
    let clicker_lessons: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "lesson_queued" && e["payload"]["audience"] == "clicker")
        .map(|e| e["payload"]["recipient"].as_str().expect("recipient"))
        .collect();
    assert_eq!(clicker_lessons.len(), 2, "{clicker_lessons:?}");
    assert!(clicker_lessons.contains(&SUBMITTER) && clicker_lessons.contains(&CLICKER), "{clicker_lessons:?}");
    let (_, outbox) = service.get(&format!("/api/v1/outbox?case={case_id}")).await;
    let to_submitter = outbox
        .as_array()
        .expect("outbox")
        .iter()
        .filter(|m| m["kind"] == "lesson" && m["recipient"] == SUBMITTER)
        .count();
    assert_eq!(to_submitter, 2, "the recipient lesson and the lesson about clicking");

    // All of it is in the timeline, in order.
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().expect("kind")).collect();
    let first = |kind: &str| kinds.iter().position(|k| *k == kind).unwrap_or_else(|| panic!("no {kind} in {kinds:?}"));
    assert!(first("decided") < first("click_recorded"), "{kinds:?}");
    assert!(first("click_recorded") < first("clicks_imported"), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "click_recorded").count(), 2, "{kinds:?}");
    assert!(kinds.contains(&"action_approved"), "{kinds:?}");
    let planned_identity =
        events.iter().filter(|e| e["kind"] == "action_planned" && e["payload"]["kind"] == "reset_password").count();
    assert_eq!(planned_identity, 1);

    // The blast radius.
    let radius = get_as(&service, &identity_admin, &format!("/api/v1/cases/{case_id}/identity")).await;
    assert_eq!(radius["counts"]["received"], 20, "{}", radius["counts"]);
    assert_eq!(radius["counts"]["clicked"], 2);
    assert_eq!(radius["counts"]["submitted_credentials"], 1);
    let people = radius["people"].as_array().expect("people");
    let person = |address: &str| people.iter().find(|p| p["address"] == address).expect("person");
    assert_eq!(person(PREVIEWED)["verdict"], "received", "a link preview is not a click");
    assert_eq!(person(SUBMITTER)["verdict"], "submitted_credentials");
    assert_eq!(person(SUBMITTER)["evidence"].as_array().expect("evidence").len(), 2);
    assert_eq!(person(SUBMITTER)["credentials"], json!(["key-deploy", "key-reports"]));
    let submitter_steps: Vec<&str> = person(SUBMITTER)["actions"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(
        submitter_steps,
        vec!["reset_password", "revoke_sessions", "remove_mailbox_rules", "rotate_credentials"]
    );
    let credentials = radius["credentials"].as_array().expect("credentials");
    let deploy = credentials.iter().find(|c| c["id"] == "key-deploy").expect("key-deploy");
    assert_eq!(deploy["actions"][0]["status"], "succeeded");
    assert_eq!(deploy["result"], "succeeded");
    assert_eq!(radius["imports"][0]["excluded_entries"][0]["exclusion"]["reason"], "scanner_user_agent");

    // Identity actions count toward the time to containment.
    let (_, metrics) = service.get("/api/v1/metrics").await;
    assert!(metrics["time_to_containment_seconds"]["count"].as_u64().unwrap_or(0) >= 1, "{metrics}");
    assert_eq!(metrics["reports_leading_to_containment"], 1, "{metrics}");

    service.stop().await;
    mocks.verify().await;
});

/// A colleague's message with the submitter's key in it.
fn leaked_key_message() -> Vec<u8> {
    format!(
        "From: Sam Builder <user09@example.test>\r\n\
         To: user11@example.test\r\n\
         Subject: deploy access for the release\r\n\
         Message-ID: <deploy-key@example.test>\r\n\
         Date: {}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Hi, use the deploy key AKIAUSER05DEPLOY0001 for tonight's release, user05 said it is fine.\r\n",
        (Utc::now() - Duration::minutes(30)).to_rfc2822()
    )
    .into_bytes()
}

service_test!(exposed_secret_owner_told_and_revoked, |env| {
    let mocks = MockServer::start().await;
    for status in ["Inactive", "Active"] {
        Mock::given(method("POST"))
            .and(path("/iam/"))
            .and(body_string_contains(format!("AccessKeyId={DEPLOY_KEY}&Status={status}")))
            .respond_with(ResponseTemplate::new(200).set_body_string("<UpdateAccessKeyResponse/>"))
            .expect(1)
            .mount(&mocks)
            .await;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let service = start(&env, identity_config(&mocks, "ldap://127.0.0.1:9", &dir)).await;
    let identity_admin = token(&service, "iam-admin", TokenRole::Identity).await;

    let report_id = service.submit_ok(&leaked_key_message(), Some("user11@example.test")).await;
    let report = service.wait_done(&report_id).await;
    let case_id = report["case_id"].as_str().expect("case id").to_owned();
    let (_, outbox) = service.get(&format!("/api/v1/outbox?case={case_id}")).await;
    let (_, actions) = service.get(&format!("/api/v1/cases/{case_id}/actions")).await;
    let (_, timeline) = service.get(&format!("/api/v1/cases/{case_id}/timeline")).await;

    let notices: Vec<&Value> =
        outbox.as_array().expect("outbox").iter().filter(|m| m["recipient"] == SUBMITTER).collect();
    assert_eq!(notices.len(), 1, "{outbox}");
    assert!(notices[0]["subject"].as_str().expect("subject").contains("key-deploy"));
    let text = notices[0]["text"].as_str().expect("text");
    assert!(text.contains("AKIA************0001"), "the secret as found, redacted: {text}");
    // An access key id is an identifier, not the key's secret, so the
    // notice names it as the credential's reference.
    assert!(text.contains(&format!("aws {DEPLOY_KEY}")), "{text}");
    assert!(timeline.as_array().expect("events").iter().any(|e| e["kind"] == "secret_owner_told"), "{timeline}");

    let actions = actions.as_array().expect("actions").clone();
    let revoke = actions
        .iter()
        .find(|a| a["kind"] == "revoke_credentials" && a["target"]["type"] == "secret")
        .expect("revoke of the exposed secret");
    assert_eq!(revoke["status"], "awaiting_approval");
    assert_eq!(revoke["connector"], "identity");
    let action_id = revoke["id"].as_str().expect("id");
    let approved = service
        .client
        .post(service.url(&format!("/api/v1/actions/{action_id}/approve")))
        .bearer_auth(&identity_admin)
        .send()
        .await
        .expect("approve");
    let approved: Value = approved.json().await.expect("JSON");
    assert_eq!(approved["status"], "succeeded", "{approved}");

    let radius = get_as(&service, &identity_admin, &format!("/api/v1/cases/{case_id}/identity")).await;
    let credentials = radius["credentials"].as_array().expect("credentials");
    assert_eq!(credentials.len(), 1, "{radius}");
    assert_eq!(credentials[0]["id"], "key-deploy");
    assert_eq!(credentials[0]["found_in_message"], true);
    assert_eq!(credentials[0]["actions"][0]["status"], "succeeded");

    // The key can be reactivated, by an identity administrator only.
    let undo = |token: String| {
        let request = service.client.post(service.url(&format!("/api/v1/actions/{action_id}/undo"))).bearer_auth(token);
        async move { request.send().await.expect("undo") }
    };
    let analyst = token(&service, "soc-analyst", TokenRole::Analyst).await;
    assert_eq!(undo(analyst).await.status(), 403);
    let undone: Value = undo(identity_admin.clone()).await.json().await.expect("JSON");
    assert_eq!(undone["status"], "undone", "{undone}");

    service.stop().await;
    mocks.verify().await;
});

service_test!(defender_clicks_polled_into_case, |env| {
    let mocks = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/tenant/oauth2/v2.0/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "access_token": "graph-access-token", "expires_in": 3600 })),
        )
        .mount(&mocks)
        .await;
    let events = json!({
        "schema": [{ "name": "Timestamp", "type": "DateTime" }],
        "results": [
            { "Timestamp": at(40), "Url": format!("{LURE}?id=20"), "ActionType": "ClickAllowed",
              "AccountUpn": CLICKER, "IPAddress": "10.0.0.12", "IsClickedThrough": false },
            { "Timestamp": at(41), "Url": format!("{LURE}?id=20"), "ActionType": "ClickBlocked",
              "AccountUpn": PREVIEWED, "IPAddress": "10.0.0.3", "IsClickedThrough": false }
        ]
    });
    Mock::given(method("POST"))
        .and(path("/v1.0/security/runHuntingQuery"))
        .and(body_string_contains("UrlClickEvents"))
        .respond_with(ResponseTemplate::new(200).set_body_json(events))
        .mount(&mocks)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/users/{CLICKER}/mailFolders/inbox/messageRules")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "value": [] })))
        .mount(&mocks)
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut identity = identity_config(&mocks, "ldap://127.0.0.1:9", &dir);
    identity.clicks.defender = Some(phishloop_identity::DefenderPolling { interval_seconds: 1, lookback_minutes: 120 });
    let service = start(&env, identity).await;

    let report_id = service.submit_ok(&phish(), Some(REPORTER)).await;
    let report = service.wait_done(&report_id).await;
    let case_id = report["case_id"].as_str().expect("case id").to_owned();
    let radius = wait_for("the polled click on the case", || async {
        let (_, radius) = service.get(&format!("/api/v1/cases/{case_id}/identity")).await;
        (radius["counts"]["clicked"] == 1).then_some(radius)
    })
    .await;

    let people = radius["people"].as_array().expect("people");
    let person = |address: &str| people.iter().find(|p| p["address"] == address).expect("person");
    assert_eq!(person(CLICKER)["verdict"], "clicked");
    assert_eq!(person(CLICKER)["evidence"][0]["kind"], "defender_click");
    assert_eq!(person(PREVIEWED)["verdict"], "received", "a click Defender blocked is not a click");
    assert_eq!(radius["imports"][0]["requested_by"], "defender-poll");
    let (_, document) = service.get("/api/v1/openapi.json").await;
    for route in ["/api/v1/clicks", "/api/v1/cases/{id}/identity", "/api/v1/campaigns/{id}/identity"] {
        assert!(document["paths"][route].is_object(), "{route} is missing from the API document");
    }
    assert_eq!(radius["imports"][0]["excluded_entries"][0]["exclusion"]["reason"], "blocked_by_defender");
    service.stop().await;
});
