//! The loop after the decision, end to end over HTTP on SQLite and
//! PostgreSQL: planned actions and their outcomes, approval and undo,
//! block-list feeds, the outbox, job reruns, webhooks and metrics.

mod common;

use common::{ADMIN_TOKEN, TestService, benign_message, service_test, wait_for};
use phishloop_model::Verdict;
use phishloop_response::{ActionKind, Mode, Playbook, ResponseConfig, SecretSource, Selector, Step, WebhookConfig};
use phishloop_store::TokenRole;
use serde_json::Value;

const REPORTER: &str = "alice@corp-example.com";

/// Builds a credential lure written for these tests: a password-expiry
/// notice whose link goes to a lookalike domain, sent to two people of the
/// organisation and one outside it.
fn credential_lure(tag: &str) -> Vec<u8> {
    format!(
        "From: \"Mail Administrator\" <no-reply@0utlook-account-verify.example>\r\n\
         To: alice@corp-example.com, dan@corp-example.com, someone@partner-example.org\r\n\
         Subject: Action required: confirm your password to keep your mailbox\r\n\
         Message-ID: <confirm-{tag}@0utlook-account-verify.example>\r\n\
         Date: Tue, 7 May 2024 08:01:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n\
         <p>Dear employee,</p>\r\n\
         <p>Your mailbox password expires today. Confirm your password within 24 hours or your account will be locked.</p>\r\n\
         <p><a href=\"http://0utlook-account-verify.example/signin/confirm.php?id={tag}\">Confirm password</a></p>\r\n"
    )
    .into_bytes()
}

fn step(action: ActionKind, target: Selector, mode: Mode, connector: &str) -> Step {
    Step { action, target, mode, connector: connector.to_owned() }
}

/// Built-in playbooks plus one tried first that sends URL and domain blocks
/// of malicious decisions to the block list, in `domain_mode` for domains.
fn blocking_config(domain_mode: Mode) -> ResponseConfig {
    ResponseConfig {
        internal_domains: vec!["corp-example.com".to_owned()],
        playbooks: vec![Playbook {
            name: "block-lures".to_owned(),
            verdicts: vec![Verdict::Malicious],
            categories: Vec::new(),
            min_confidence: 0.0,
            min_reporters: 0,
            needs_review: None,
            steps: vec![
                step(ActionKind::BlockUrl, Selector::Urls, Mode::Auto, "blocklist"),
                step(ActionKind::BlockDomain, Selector::UrlDomains, domain_mode, "blocklist"),
            ],
        }],
        ..ResponseConfig::default()
    }
}

async fn actions_of(service: &TestService, case_id: &str) -> Vec<Value> {
    let (status, actions) = service.get(&format!("/api/v1/cases/{case_id}/actions")).await;
    assert_eq!(status, 200, "{actions}");
    actions.as_array().expect("action array").clone()
}

async fn outbox_of(service: &TestService, case_id: &str) -> Vec<Value> {
    let (status, messages) = service.get(&format!("/api/v1/outbox?case={case_id}")).await;
    assert_eq!(status, 200, "{messages}");
    messages.as_array().expect("message array").clone()
}

fn find<'a>(items: &'a [Value], key: &str, value: &str) -> Vec<&'a Value> {
    items.iter().filter(|item| item[key] == value).collect()
}

/// Submits, waits for the job and returns the report and its case id.
async fn report_and_wait(service: &TestService, message: &[u8]) -> (Value, String) {
    let report_id = service.submit_ok(message, Some(REPORTER)).await;
    let report = service.wait_done(&report_id).await;
    let case_id = report["case_id"].as_str().expect("case id").to_owned();
    (report, case_id)
}

service_test!(credential_lure_blocked_and_people_told, |env| {
    let service = env.start_responding(blocking_config(Mode::Auto)).await;

    let (report, case_id) = report_and_wait(&service, &credential_lure("closed")).await;
    let actions = actions_of(&service, &case_id).await;
    let messages = outbox_of(&service, &case_id).await;
    let (_, urls) = service.get_text("/feeds/urls.txt").await;
    let (feed_status, domains) = service.get_text("/feeds/domains.txt").await;

    assert_eq!(report["decision"]["verdict"], "malicious", "{report}");
    let url_blocks = find(&actions, "kind", "block_url");
    assert_eq!(url_blocks.len(), 1, "{actions:?}");
    assert_eq!(url_blocks[0]["status"], "succeeded", "{actions:?}");
    assert_eq!(url_blocks[0]["connector"], "blocklist");
    assert_eq!(url_blocks[0]["outcome"]["dry_run"], false);
    assert!(find(&actions, "status", "planned").is_empty(), "every auto action ran: {actions:?}");
    assert_eq!(feed_status, 200);
    assert!(urls.lines().any(|line| line.starts_with("http://0utlook-account-verify.example/signin/")), "{urls}");
    assert!(domains.lines().any(|line| line == "0utlook-account-verify.example"), "{domains}");

    let acknowledgements = find(&messages, "kind", "acknowledgement");
    let outcomes = find(&messages, "kind", "outcome");
    let lessons = find(&messages, "kind", "lesson");
    assert_eq!(acknowledgements.len(), 1, "{messages:?}");
    assert_eq!(outcomes.len(), 1, "{messages:?}");
    assert_eq!(outcomes[0]["recipient"], REPORTER);
    assert!(!outcomes[0]["subject"].as_str().expect("subject").is_empty());
    let lesson_recipients: Vec<&str> = lessons.iter().map(|m| m["recipient"].as_str().expect("recipient")).collect();
    assert_eq!(lesson_recipients, vec!["dan@corp-example.com"], "the reporter and outside people get no lesson");
    assert!(!lessons[0]["text"].as_str().expect("text").contains("http://0utlook"), "links are defanged");
    service.stop().await;
});

service_test!(timeline_orders_the_loop, |env| {
    let service = env.start_responding(blocking_config(Mode::Auto)).await;

    let (_, case_id) = report_and_wait(&service, &credential_lure("timeline")).await;
    let (status, timeline) = service.get(&format!("/api/v1/cases/{case_id}/timeline")).await;

    assert_eq!(status, 200, "{timeline}");
    let kinds: Vec<&str> =
        timeline.as_array().expect("events").iter().map(|event| event["kind"].as_str().expect("kind")).collect();
    let first = |kind: &str| kinds.iter().position(|k| *k == kind).unwrap_or_else(|| panic!("no {kind} in {kinds:?}"));
    assert_eq!(first("received"), 0, "{kinds:?}");
    assert!(first("received") < first("analysed"), "{kinds:?}");
    assert!(first("analysed") < first("decided"), "{kinds:?}");
    assert!(first("decided") < first("action_planned"), "{kinds:?}");
    assert!(first("action_planned") < first("action_executed"), "{kinds:?}");
    assert!(first("action_executed") < first("reporter_told"), "{kinds:?}");
    assert!(kinds.contains(&"reporter_acknowledged"), "{kinds:?}");
    assert!(kinds.contains(&"lesson_queued"), "{kinds:?}");
    let actions = actions_of(&service, &case_id).await;
    let planned = kinds.iter().filter(|kind| **kind == "action_planned").count();
    assert_eq!(planned, actions.len(), "one action_planned event per action");
    service.stop().await;
});

service_test!(benign_report_dismissed_with_thanks, |env| {
    let service = env.start_responding(blocking_config(Mode::Auto)).await;

    let (report, case_id) = report_and_wait(&service, &benign_message("thanks")).await;
    let actions = actions_of(&service, &case_id).await;
    let messages = outbox_of(&service, &case_id).await;

    assert_eq!(report["decision"]["verdict"], "benign", "{report}");
    let dismissals = find(&actions, "kind", "dismiss_with_thanks");
    assert_eq!(dismissals.len(), 1, "{actions:?}");
    assert_eq!(dismissals[0]["status"], "succeeded");
    assert!(find(&actions, "kind", "block_url").is_empty(), "{actions:?}");
    assert_eq!(find(&messages, "kind", "outcome").len(), 1, "{messages:?}");
    assert!(find(&messages, "kind", "lesson").is_empty(), "a benign message teaches nothing: {messages:?}");
    service.stop().await;
});

service_test!(approval_gated_block_runs_after_approve, |env| {
    let service = env.start_responding(blocking_config(Mode::Approve)).await;

    let (_, case_id) = report_and_wait(&service, &credential_lure("approve")).await;
    let actions = actions_of(&service, &case_id).await;
    let waiting = find(&actions, "kind", "block_domain");
    let (_, domains_before) = service.get_text("/feeds/domains.txt").await;

    assert_eq!(waiting.len(), 1, "{actions:?}");
    assert_eq!(waiting[0]["status"], "awaiting_approval");
    assert!(!domains_before.contains("0utlook-account-verify.example"), "{domains_before}");

    let action_id = waiting[0]["id"].as_str().expect("action id").to_owned();
    let (status, approved) = service.post(&format!("/api/v1/actions/{action_id}/approve")).await;
    let (again_status, again) = service.post(&format!("/api/v1/actions/{action_id}/approve")).await;
    let (_, domains_after) = service.get_text("/feeds/domains.txt").await;

    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "succeeded", "{approved}");
    assert_eq!(approved["approved_by"], "bootstrap-admin");
    assert!(approved["approved_at"].is_string());
    assert_eq!(again_status, 409, "{again}");
    assert!(domains_after.lines().any(|line| line == "0utlook-account-verify.example"), "{domains_after}");

    let (undo_status, undone) = service.post(&format!("/api/v1/actions/{action_id}/undo")).await;
    let (_, domains_undone) = service.get_text("/feeds/domains.txt").await;
    let (undo_again_status, _) = service.post(&format!("/api/v1/actions/{action_id}/undo")).await;

    assert_eq!(undo_status, 200, "{undone}");
    assert_eq!(undone["status"], "undone");
    assert!(!domains_undone.contains("0utlook-account-verify.example"), "{domains_undone}");
    assert_eq!(undo_again_status, 409);
    let (_, timeline) = service.get(&format!("/api/v1/cases/{case_id}/timeline")).await;
    let kinds: Vec<&str> = timeline.as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"action_approved"), "{kinds:?}");
    assert!(kinds.contains(&"action_undone"), "{kinds:?}");
    service.stop().await;
});

service_test!(irreversible_action_cannot_be_undone, |env| {
    let service = env.start_responding(blocking_config(Mode::Auto)).await;

    let (_, case_id) = report_and_wait(&service, &benign_message("no-undo")).await;
    let actions = actions_of(&service, &case_id).await;
    let dismissal = find(&actions, "kind", "dismiss_with_thanks")[0]["id"].as_str().expect("id").to_owned();
    let (status, body) = service.post(&format!("/api/v1/actions/{dismissal}/undo")).await;
    let (missing_status, _) = service.post(&format!("/api/v1/actions/{}/approve", uuid::Uuid::now_v7())).await;

    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "conflict");
    assert_eq!(missing_status, 404);
    service.stop().await;
});

service_test!(rerun_job_adds_no_action_or_message, |env| {
    let service = env.start_responding(blocking_config(Mode::Auto)).await;
    let (report, case_id) = report_and_wait(&service, &credential_lure("rerun")).await;
    let actions_before = actions_of(&service, &case_id).await;
    let messages_before = outbox_of(&service, &case_id).await;
    let job_id = report["job"]["id"].as_str().expect("job id").to_owned();

    let requeue = "UPDATE jobs SET status = 'queued', finished_at = NULL, due_at = ";
    env.execute(
        &format!("{requeue}strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = X'{}'", job_id.replace('-', "")),
        &format!("{requeue}now() WHERE id = '{job_id}'"),
    )
    .await;
    let report_id = report["id"].as_str().expect("report id").to_owned();
    wait_for("the job to run a second time", || async {
        let (_, report) = service.get(&format!("/api/v1/reports/{report_id}")).await;
        (report["job"]["status"] == "done" && report["job"]["attempts"] == 2).then_some(())
    })
    .await;
    let actions_after = actions_of(&service, &case_id).await;
    let messages_after = outbox_of(&service, &case_id).await;
    let (_, timeline) = service.get(&format!("/api/v1/cases/{case_id}/timeline")).await;

    assert_eq!(actions_after.len(), actions_before.len(), "{actions_after:?}");
    let ids = |items: &[Value]| items.iter().map(|item| item["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&actions_after), ids(&actions_before));
    assert_eq!(ids(&messages_after), ids(&messages_before));
    let kinds: Vec<&str> = timeline.as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|kind| **kind == "reporter_told").count(), 1, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|kind| **kind == "action_planned").count(), actions_before.len(), "{kinds:?}");
    service.stop().await;
});

/// Blocks the sender through a webhook named `soar` at `receiver`, with
/// two attempts per request and its secret in `folder`.
fn soar_config(receiver: &wiremock::MockServer, folder: &tempfile::TempDir) -> ResponseConfig {
    let secret_path = folder.path().join("soar-secret");
    std::fs::write(&secret_path, "test-webhook-secret\n").expect("write secret");
    let mut config = blocking_config(Mode::Auto);
    config.webhooks.push(WebhookConfig {
        name: "soar".to_owned(),
        url: format!("{}/phishloop", receiver.uri()),
        secret: SecretSource::File(secret_path),
        max_attempts: 2,
        initial_backoff_ms: 10,
        max_backoff_ms: 100,
        timeout_ms: 5_000,
    });
    config.playbooks[0].steps.push(step(ActionKind::BlockSender, Selector::Sender, Mode::Auto, "soar"));
    config
}

service_test!(webhook_receives_signed_request, |env| {
    let receiver = wiremock::MockServer::builder()
        .listener(std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .start()
        .await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let folder = tempfile::tempdir().expect("temporary folder");
    let config = soar_config(&receiver, &folder);
    let service = env.start_responding(config).await;

    let (_, case_id) = report_and_wait(&service, &credential_lure("webhook")).await;
    let actions = actions_of(&service, &case_id).await;
    let requests = receiver.received_requests().await.expect("recorded requests");

    let sender_blocks = find(&actions, "connector", "soar");
    assert_eq!(sender_blocks.len(), 1, "{actions:?}");
    assert_eq!(sender_blocks[0]["status"], "succeeded", "{actions:?}");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok()).expect(name).to_owned();
    let timestamp: i64 = header("X-Phishloop-Timestamp").parse().expect("timestamp");
    let expected = phishloop_response::sign(b"test-webhook-secret", timestamp, &request.body);
    assert_eq!(header("X-Phishloop-Signature"), expected);
    assert_eq!(header("Idempotency-Key"), sender_blocks[0]["idempotency_key"].as_str().expect("key"));
    let body: Value = serde_json::from_slice(&request.body).expect("JSON body");
    assert_eq!(body["operation"], "execute");
    assert_eq!(body["action"]["kind"], "block_sender");
    service.stop().await;
});

service_test!(failed_webhook_action_retried, |env| {
    let receiver = wiremock::MockServer::builder()
        .listener(std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .start()
        .await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(500))
        .up_to_n_times(2)
        .mount(&receiver)
        .await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let folder = tempfile::tempdir().expect("temporary folder");
    let config = soar_config(&receiver, &folder);
    let service = env.start_responding(config).await;
    let (_, case_id) = report_and_wait(&service, &credential_lure("retry")).await;
    let actions = actions_of(&service, &case_id).await;
    let failed = find(&actions, "connector", "soar");
    assert_eq!(failed[0]["status"], "failed", "two 500 replies fail the action: {actions:?}");
    let action_id = failed[0]["id"].as_str().expect("action id").to_owned();
    let retry = |token: &'static str| {
        service.client.post(service.url(&format!("/api/v1/actions/{action_id}/retry"))).bearer_auth(token).send()
    };

    let retried = retry(ADMIN_TOKEN).await.expect("POST retry");
    let status = retried.status();
    let retried: Value = retried.json().await.expect("JSON");
    let again = retry(ADMIN_TOKEN).await.expect("POST retry again");
    let (_, timeline) = service.get(&format!("/api/v1/cases/{case_id}/timeline")).await;

    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["status"], "succeeded", "{retried}");
    assert_eq!(again.status(), 409, "only a failed action is retried");
    let again: Value = again.json().await.expect("JSON");
    let text = again["error"].as_str().unwrap_or_default();
    assert!(text.contains("has status succeeded. It needs no retry."), "{again}");
    let kinds: Vec<&str> = timeline.as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"action_retried"), "{kinds:?}");
    service.stop().await;
});

service_test!(feeds_need_no_token_but_actions_do, |env| {
    let service = env.start_responding(blocking_config(Mode::Auto)).await;
    let case_id = uuid::Uuid::now_v7();

    let (feed_status, feed) = service.get_text("/feeds/urls.txt").await;
    let unauthenticated = service.client.get(service.url("/api/v1/outbox")).send().await.expect("GET");
    let (missing_status, _) = service.get(&format!("/api/v1/cases/{case_id}/actions")).await;
    let (bad_status, _) = service.get("/api/v1/outbox?status=lost").await;

    assert_eq!(feed_status, 200);
    assert!(feed.starts_with("# phishloop block list: urls\n"), "{feed}");
    assert!(feed.contains("# entries 0\n"), "{feed}");
    assert_eq!(unauthenticated.status(), 401);
    assert_eq!(missing_status, 404);
    assert_eq!(bad_status, 400);
    service.stop().await;
});

service_test!(metrics_count_the_loop, |env| {
    let service = env.start_responding(blocking_config(Mode::Auto)).await;
    report_and_wait(&service, &credential_lure("metrics")).await;
    report_and_wait(&service, &benign_message("metrics")).await;

    let (status, metrics) = service.get("/api/v1/metrics").await;
    let prometheus = service.client.get(service.url("/metrics")).send().await.expect("GET").text().await.expect("text");

    assert_eq!(status, 200, "{metrics}");
    assert_eq!(metrics["reports_leading_to_blocking"], 1, "{metrics}");
    assert_eq!(metrics["reports_leading_to_containment"], 1, "{metrics}");
    assert_eq!(metrics["reports_leading_to_training"], 1, "{metrics}");
    assert_eq!(metrics["reporters_told"], 2, "{metrics}");
    assert_eq!(metrics["time_to_containment_seconds"]["count"], 1, "{metrics}");
    assert!(metrics["time_to_containment_seconds"]["p50"].as_f64().expect("p50") >= 0.0);
    assert!(metrics["actions_by_status"]["succeeded"].as_u64().expect("succeeded") >= 3, "{metrics}");
    assert!(prometheus.contains("phishloop_reports_leading_to{effect=\"blocking\"} 1"), "{prometheus}");
    service.stop().await;
});

service_test!(openapi_lists_loop_routes, |env| {
    let service = env.start().await;

    let (status, document) = service.get("/api/v1/openapi.json").await;

    assert_eq!(status, 200);
    for path in [
        "/api/v1/cases/{id}/actions",
        "/api/v1/actions/{id}/approve",
        "/api/v1/actions/{id}/undo",
        "/api/v1/actions/{id}/retry",
        "/api/v1/outbox",
        "/feeds/urls.txt",
        "/feeds/domains.txt",
        "/metrics",
        "/healthz",
    ] {
        assert!(document["paths"][path].is_object(), "{path} missing from the API document");
    }
    service.stop().await;
});

service_test!(reporter_token_cannot_approve_or_read_outbox, |env| {
    let service = env.start_responding(blocking_config(Mode::Approve)).await;
    let (_, case_id) = report_and_wait(&service, &credential_lure("roles")).await;
    let actions = actions_of(&service, &case_id).await;
    let waiting = find(&actions, "status", "awaiting_approval")[0]["id"].as_str().expect("id").to_owned();
    let (_, token) = phishloop_server::create_token(&service.store, "report-button", TokenRole::Reporter)
        .await
        .expect("reporter token");
    let (_, analyst) =
        phishloop_server::create_token(&service.store, "bob", TokenRole::Analyst).await.expect("analyst token");

    let approve = |token: String| {
        let url = service.url(&format!("/api/v1/actions/{waiting}/approve"));
        let client = service.client.clone();
        async move { client.post(url).bearer_auth(token).send().await.expect("POST").status().as_u16() }
    };
    let outbox = service.client.get(service.url("/api/v1/outbox")).bearer_auth(&token).send().await.expect("GET");
    let by_reporter = approve(token.clone()).await;
    let by_analyst = approve(analyst).await;
    let approved = actions_of(&service, &case_id).await;

    assert_eq!(outbox.status(), 403);
    assert_eq!(by_reporter, 403);
    assert_eq!(by_analyst, 200);
    let approved_by: Vec<&Value> = approved.iter().filter(|action| action["id"] == waiting.as_str()).collect();
    assert_eq!(approved_by[0]["approved_by"], "bob");
    service.stop().await;
});

// Two per-recipient variants of one lure (their own Message-IDs and
// texts, the same landing host) reported by two people: two cases in one
// campaign, and a playbook that waits for two reporters acts on the second.
service_test!(campaign_reporters_reach_the_playbook_threshold, |env| {
    let config = ResponseConfig {
        playbooks: vec![Playbook {
            name: "two-reporters".to_owned(),
            verdicts: vec![Verdict::Malicious],
            categories: Vec::new(),
            min_confidence: 0.0,
            min_reporters: 2,
            needs_review: None,
            steps: vec![step(ActionKind::BlockDomain, Selector::UrlDomains, Mode::Auto, "blocklist")],
        }],
        ..ResponseConfig::default()
    };
    let service = env.start_responding(config).await;

    let first_id = service.submit_ok(&credential_lure("variant-a"), Some("alice@corp-example.com")).await;
    let first = service.wait_done(&first_id).await;
    let first_case = first["case_id"].as_str().expect("case id").to_owned();
    let blocks_after_one = find(&actions_of(&service, &first_case).await, "connector", "blocklist").len();

    let second_id = service.submit_ok(&credential_lure("variant-b"), Some("dan@corp-example.com")).await;
    let second = service.wait_done(&second_id).await;
    let second_case = second["case_id"].as_str().expect("case id").to_owned();
    let (_, first_view) = service.get(&format!("/api/v1/cases/{first_case}")).await;
    let (_, second_view) = service.get(&format!("/api/v1/cases/{second_case}")).await;
    let campaign_id = first_view["campaign_id"].as_str().expect("the case has a campaign").to_owned();
    let (status, campaign) = service.get(&format!("/api/v1/campaigns/{campaign_id}")).await;
    let second_actions = actions_of(&service, &second_case).await;
    let (_, timeline) = service.get(&format!("/api/v1/cases/{second_case}/timeline")).await;

    assert_ne!(first_case, second_case, "different Message-IDs make different cases");
    assert_eq!(second_view["campaign_id"], campaign_id.as_str(), "{second_view}");
    assert_eq!(status, 200, "{campaign}");
    assert_eq!(campaign["cases"].as_array().expect("cases").len(), 2, "{campaign}");
    assert_eq!(campaign["reporter_count"], 2, "{campaign}");
    assert_eq!(blocks_after_one, 0, "one reporter is below the threshold");
    let blocks = find(&second_actions, "connector", "blocklist");
    assert_eq!(blocks.len(), 1, "{second_actions:?}");
    assert_eq!(blocks[0]["kind"], "block_domain", "{second_actions:?}");
    assert_eq!(blocks[0]["status"], "succeeded", "{second_actions:?}");
    let kinds: Vec<&str> = timeline.as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"campaign_joined"), "{kinds:?}");
    service.stop().await;
});

service_test!(unknown_campaign_is_404, |env| {
    let service = env.start_with(|config| config.workers = 0).await;

    let (status, body) = service.get("/api/v1/campaigns/01a2440e-0000-7000-8000-000000000000").await;

    assert_eq!(status, 404, "{body}");
    service.stop().await;
});
