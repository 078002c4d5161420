//! The service end to end: intake over HTTP, the workers, cases, timelines,
//! access control, metrics and job failures, on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{ADMIN_TOKEN, TestEnv, benign_message, phishing_message, service_test, wait_for};
use phishloop_server::{ANALYSE_JOB, Submission};
use phishloop_store::{EventSubject, JobStatus, ReportSource, TokenRole};
use serde_json::Value;

fn kinds_of(events: &Value, subject: &str) -> Vec<String> {
    events
        .as_array()
        .expect("event array")
        .iter()
        .filter(|event| event["subject"] == subject)
        .map(|event| event["kind"].as_str().expect("kind").to_owned())
        .collect()
}

service_test!(phishing_report_decided_with_timeline, |env| {
    let service = env.start().await;

    let report_id = service.submit_ok(&phishing_message("timeline"), Some("alice@corp-example.com")).await;
    let report = service.wait_done(&report_id).await;

    let verdict = report["decision"]["verdict"].as_str().expect("verdict");
    assert!(matches!(verdict, "malicious" | "suspicious"), "{report}");
    assert_eq!(report["reporter"], "alice@corp-example.com");
    assert_eq!(report["job"]["status"], "done", "{report}");
    let case_id = report["case_id"].as_str().expect("case id").to_owned();
    let (status, timeline) = service.get(&format!("/api/v1/cases/{case_id}/timeline")).await;
    assert_eq!(status, 200, "{timeline}");
    // The acknowledgement is queued after intake returns, so a worker woken
    // at once may analyse the report first: only its place after `received`
    // is fixed.
    let mut report_kinds = kinds_of(&timeline, "report");
    let acknowledged = report_kinds.iter().position(|kind| kind == "reporter_acknowledged");
    assert!(acknowledged.is_some_and(|at| at > 0), "{report_kinds:?}");
    report_kinds.retain(|kind| kind != "reporter_acknowledged");
    assert_eq!(report_kinds, vec!["received", "analysed", "decided", "reporter_told"]);
    let case_kinds = kinds_of(&timeline, "case");
    assert_eq!(case_kinds.first().map(String::as_str), Some("report_joined"), "{case_kinds:?}");
    assert!(case_kinds.iter().any(|kind| kind == "action_executed"), "{case_kinds:?}");
    let seqs: Vec<u64> = timeline.as_array().expect("array").iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "{seqs:?}");
    service.stop().await;
});

service_test!(multipart_benign_report_decided, |env| {
    let service = env.start().await;
    let form = reqwest::multipart::Form::new()
        .part("message", reqwest::multipart::Part::bytes(benign_message("multipart")).file_name("lunch.eml"))
        .text("reporter", "dave@corp-example.com")
        .text("comment", "not sure about this one");

    let response = service.submit_form(form).await;
    assert_eq!(response.status(), 202);
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body: Value = response.json().await.expect("JSON");
    let report_id = body["report_id"].as_str().expect("report_id").to_owned();
    let report = service.wait_decided(&report_id).await;

    assert_eq!(location.as_deref(), Some(body["status_url"].as_str().expect("status_url")));
    assert_eq!(report["decision"]["verdict"], "benign", "{report}");
    assert_eq!(report["status"], "decided");
    assert_eq!(report["reporter"], "dave@corp-example.com");
    assert_eq!(report["comment"], "not sure about this one");
    service.stop().await;
});

service_test!(repeated_parts_and_unknown_parameters_rejected, |env| {
    let service = env.start_with(|config| config.workers = 0).await;
    let form = reqwest::multipart::Form::new()
        .part("message", reqwest::multipart::Part::bytes(benign_message("one")).file_name("one.eml"))
        .part("message", reqwest::multipart::Part::bytes(benign_message("two")).file_name("two.eml"));
    let repeated = service.submit_form(form).await;
    let repeated_status = repeated.status();
    let repeated_body: Value = repeated.json().await.expect("JSON");
    let misspelt = service
        .client
        .post(service.url("/api/v1/reports?reportr=alice@corp-example.com"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "message/rfc822")
        .body(benign_message("misspelt"))
        .send()
        .await
        .expect("POST");
    let misspelt_status = misspelt.status();
    let misspelt_body: Value = misspelt.json().await.expect("JSON");

    assert_eq!(repeated_status, 400, "{repeated_body}");
    assert!(repeated_body["error"].as_str().expect("error").contains("\"message\" appears twice"), "{repeated_body}");
    assert_eq!(misspelt_status, 400, "{misspelt_body}");
    assert!(misspelt_body["error"].as_str().expect("error").contains("reportr"), "{misspelt_body}");
    let (_, metrics) = service.get("/api/v1/metrics").await;
    assert_eq!(metrics["reports_received"], 0, "nothing was stored: {metrics}");
    service.stop().await;
});

service_test!(three_reporters_make_one_case, |env| {
    let service = env.start().await;
    let message = phishing_message("campaign");
    let reporters = ["alice@corp-example.com", "bob@corp-example.com", "carol@corp-example.com"];

    let mut case_ids = Vec::new();
    let mut decided_times = Vec::new();
    for reporter in reporters {
        let report_id = service.submit_ok(&message, Some(reporter)).await;
        let report = service.wait_decided(&report_id).await;
        case_ids.push(report["case_id"].as_str().expect("case id").to_owned());
        decided_times.push(report["decided_at"].clone());
    }
    let (status, case) = service.get(&format!("/api/v1/cases/{}", case_ids[0])).await;

    assert_eq!(status, 200, "{case}");
    assert!(case_ids.iter().all(|id| *id == case_ids[0]), "{case_ids:?}");
    assert_eq!(case["reports"].as_array().expect("reports").len(), 3);
    let case_decided_times: Vec<Value> =
        case["reports"].as_array().expect("reports").iter().map(|report| report["decided_at"].clone()).collect();
    assert!(decided_times.iter().all(Value::is_string), "{decided_times:?}");
    assert_eq!(case_decided_times, decided_times, "the case shows each report's decision time");
    let addresses: Vec<&str> = case["reporters"]
        .as_array()
        .expect("reporters")
        .iter()
        .map(|r| r["address"].as_str().expect("address"))
        .collect();
    assert_eq!(addresses, reporters);
    assert!(case["join_key"].as_str().expect("join key").starts_with("mid:expire-campaign@"), "{case}");
    service.stop().await;
});

service_test!(different_messages_make_different_cases, |env| {
    let service = env.start().await;

    let first = service.submit_ok(&phishing_message("one"), Some("alice@corp-example.com")).await;
    let second = service.submit_ok(&benign_message("two"), Some("alice@corp-example.com")).await;
    let first = service.wait_decided(&first).await;
    let second = service.wait_decided(&second).await;

    assert_ne!(first["case_id"], second["case_id"]);
    service.stop().await;
});

service_test!(reporter_taken_from_wrapper, |env| {
    let service = env.start().await;
    let original = String::from_utf8(phishing_message("wrapped")).expect("UTF-8");
    let wrapper = format!(
        "From: Erin Example <erin@corp-example.com>\r\n\
         To: phishing-report@corp-example.com\r\n\
         Subject: Fwd: Urgent: your mailbox password expires today\r\n\
         Message-ID: <report-wrapper-1@corp-example.com>\r\n\
         Date: Mon, 6 May 2024 09:30:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"wrap\"\r\n\r\n\
         --wrap\r\nContent-Type: text/plain\r\n\r\nThis looks like phishing.\r\n\
         --wrap\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"original.eml\"\r\n\r\n\
         {original}\r\n--wrap--\r\n"
    );

    let report_id = service.submit_ok(wrapper.as_bytes(), None).await;
    let report = service.wait_decided(&report_id).await;

    assert_eq!(report["reporter"], "erin@corp-example.com", "{report}");
    let (_, case) = service.get(&format!("/api/v1/cases/{}", report["case_id"].as_str().expect("case"))).await;
    assert!(case["join_key"].as_str().expect("join key").starts_with("mid:expire-wrapped@"), "{case}");
    service.stop().await;
});

service_test!(unreadable_message_goes_to_review, |env| {
    let service = env.start().await;
    // An OLE compound-file signature followed by garbage: not a readable .msg.
    let mut broken = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    broken.extend_from_slice(&[0x42; 600]);

    let report_id = service.submit_ok(&broken, Some("frank@corp-example.com")).await;
    let report = service.wait_decided(&report_id).await;

    assert_eq!(report["status"], "needs_review", "{report}");
    assert_eq!(report["decision"]["verdict"], "suspicious");
    assert_eq!(report["decision"]["needs_review"], true);
    assert!(!report["decision"]["review_reasons"][0].as_str().expect("reason").is_empty());
    assert!(report["case_id"].is_string());
    service.stop().await;
});

service_test!(requests_without_token_get_401, |env| {
    let service = env.start_with(|config| config.workers = 0).await;

    for path in ["/api/v1/metrics", "/api/v1/openapi.json", "/api/v1/reports/0190a5b4-0000-7000-8000-000000000000"] {
        let response = service.client.get(service.url(path)).send().await.expect("GET");
        assert_eq!(response.status(), 401, "{path}");
    }
    let response = service
        .client
        .post(service.url("/api/v1/reports"))
        .header("content-type", "message/rfc822")
        .body(benign_message("anonymous"))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 401);
    let wrong =
        service.client.get(service.url("/api/v1/metrics")).bearer_auth("plk_not-a-token").send().await.expect("GET");
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.expect("JSON error");
    assert_eq!(body["code"], "invalid_token");
    service.stop().await;
});

service_test!(reporter_role_limited, |env| {
    let service = env.start_with(|config| config.workers = 0).await;
    let (_, token) =
        phishloop_server::create_token(&service.store, "report-button", TokenRole::Reporter).await.expect("token");

    let submitted = service
        .client
        .post(service.url("/api/v1/reports"))
        .bearer_auth(&token)
        .header("content-type", "message/rfc822")
        .body(benign_message("role"))
        .send()
        .await
        .expect("POST");
    let metrics = service.client.get(service.url("/api/v1/metrics")).bearer_auth(&token).send().await.expect("GET");

    assert_eq!(submitted.status(), 202);
    assert_eq!(metrics.status(), 403);
    service.stop().await;
});

service_test!(revoked_token_rejected, |env| {
    let service = env.start_with(|config| config.workers = 0).await;
    let (stored, token) =
        phishloop_server::create_token(&service.store, "old", TokenRole::Analyst).await.expect("token");
    let before = service.client.get(service.url("/api/v1/metrics")).bearer_auth(&token).send().await.expect("GET");

    service.store.revoke_api_token(stored.id).await.expect("revoke");
    let after = service.client.get(service.url("/api/v1/metrics")).bearer_auth(&token).send().await.expect("GET");

    assert_eq!(before.status(), 200);
    assert_eq!(after.status(), 401);
    service.stop().await;
});

service_test!(oversized_message_gets_413, |env| {
    let service = env
        .start_with(|config| {
            config.workers = 0;
            config.max_message_bytes = 2_000;
        })
        .await;
    let mut message = benign_message("large");
    message.extend(std::iter::repeat_n(b'x', 5_000));

    let response = service.submit(&message, Some("alice@corp-example.com")).await;

    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.expect("JSON error");
    assert_eq!(body["code"], "message_too_large");
    assert!(body["error"].as_str().expect("error").contains("max_message_bytes"), "{body}");
    service.stop().await;
});

service_test!(expired_lease_retried_by_other_worker, |env| {
    let idle = env.start_with(|config| config.workers = 0).await;
    let report_id = idle.submit_ok(&phishing_message("lease"), Some("alice@corp-example.com")).await;
    // A worker that claims the job and then never heartbeats or completes.
    let stuck = idle.store.claim("stuck-worker", &[ANALYSE_JOB], Duration::from_millis(500)).await.expect("claim");
    let stuck = stuck.expect("the queued job");
    idle.stop().await;

    let service = env.start_with(|config| config.workers = 1).await;
    let report = service.wait_done(&report_id).await;

    let job = service.store.get_job(stuck.job.id).await.expect("get_job").expect("job");
    assert_eq!(job.status, JobStatus::Done);
    assert_eq!(job.attempts, 2, "the stuck attempt and the retry");
    assert_ne!(job.lease_owner.as_deref(), Some("stuck-worker"));
    let events = service
        .store
        .events_for(EventSubject::Report(report["id"].as_str().expect("id").parse().expect("uuid")))
        .await
        .expect("events");
    assert_eq!(events.iter().filter(|e| e.kind == "decided").count(), 1);
    service.stop().await;
});

service_test!(failing_job_ends_dead_and_report_shows_it, |env| {
    let service = env
        .start_with(|config| {
            config.max_attempts = 2;
            config.workers = 0;
        })
        .await;
    let report_id = service.submit_ok(&benign_message("corrupt"), Some("alice@corp-example.com")).await;
    // Corrupt the stored raw message, so every attempt fails to read it.
    env.execute("UPDATE raw_messages SET data = X'00'", "UPDATE raw_messages SET data = '\\x00'::bytea").await;
    service.stop().await;
    let service = env.start_with(|config| config.max_attempts = 2).await;

    let report = wait_for("dead job", || async {
        let (_, report) = service.get(&format!("/api/v1/reports/{report_id}")).await;
        (report["job"]["status"] == "dead").then_some(report)
    })
    .await;

    assert_eq!(report["job"]["attempts"], 2, "{report}");
    assert!(report["job"]["last_error"].as_str().expect("last error").contains("corrupt"), "{report}");
    assert_eq!(report["status"], "received");
    let events =
        service.store.events_for(EventSubject::Report(report_id.parse().expect("uuid"))).await.expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, vec!["received", "reporter_acknowledged", "analysis_failed"]);
    service.stop().await;
});

service_test!(metrics_count_decisions, |env| {
    let service = env.start().await;
    let first = service.submit_ok(&phishing_message("metrics"), Some("alice@corp-example.com")).await;
    let second = service.submit_ok(&benign_message("metrics"), Some("bob@corp-example.com")).await;
    service.wait_decided(&first).await;
    service.wait_decided(&second).await;

    let (status, metrics) = service.get("/api/v1/metrics").await;
    let prometheus =
        service.client.get(service.url("/metrics")).send().await.expect("GET /metrics").text().await.expect("text");

    assert_eq!(status, 200, "{metrics}");
    assert_eq!(metrics["reports_received"], 2, "{metrics}");
    assert_eq!(metrics["reports_waiting"], 0);
    assert_eq!(metrics["decisions_by_verdict"]["benign"], 1, "{metrics}");
    assert_eq!(metrics["time_to_decision_seconds"]["count"], 2);
    assert!(metrics["time_to_decision_seconds"]["p95"].as_f64().is_some());
    assert!(prometheus.contains("phishloop_reports_received 2"), "{prometheus}");
    assert!(prometheus.contains("phishloop_decisions{verdict=\"benign\"} 1"), "{prometheus}");
    assert!(prometheus.contains("phishloop_metrics_complete 1"), "{prometheus}");
    // Every gauge has its help and type lines.
    let names: std::collections::BTreeSet<&str> = prometheus
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .collect();
    for name in names {
        assert!(prometheus.contains(&format!("# HELP {name} ")), "no help line for {name}: {prometheus}");
        assert!(prometheus.contains(&format!("# TYPE {name} gauge")), "no type line for {name}: {prometheus}");
    }
    service.stop().await;
});

service_test!(openapi_and_health_served, |env| {
    let service = env.start_with(|config| config.workers = 0).await;

    let (status, document) = service.get("/api/v1/openapi.json").await;
    let health = service.client.get(service.url("/healthz")).send().await.expect("GET /healthz");

    assert_eq!(status, 200);
    assert!(document["paths"]["/api/v1/reports"]["post"].is_object(), "{document}");
    assert!(document["paths"]["/api/v1/cases/{id}/timeline"]["get"].is_object());
    assert_eq!(health.status(), 200);
    let form = &document["paths"]["/api/v1/reports"]["post"]["requestBody"]["content"]["multipart/form-data"];
    assert!(form["schema"].is_object(), "the multipart form of a report is documented");
    let problems = openapi_problems(&document);
    assert!(problems.is_empty(), "{problems:#?}");
    service.stop().await;
});

/// Lists what OpenAPI 3 requires and the document lacks: a path parameter
/// must appear in the path template, and every response needs a description.
fn openapi_problems(document: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let paths = document["paths"].as_object().expect("paths object");
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().expect("operations object") {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap_or_default();
                if parameter["in"] == "path" && !path.contains(&format!("{{{name}}}")) {
                    problems.push(format!("{method} {path}: path parameter {name} is not in the path"));
                }
            }
            for (status, response) in operation["responses"].as_object().expect("responses object") {
                if !response["description"].is_string() {
                    problems.push(format!("{method} {path}: response {status} has no description"));
                }
            }
        }
    }
    problems
}

service_test!(received_report_without_job_is_queued, |env| {
    // A report stored before a crash that lost its job: the workers find it.
    let config = common::fast_config(&env.url);
    let store = env.store(&config).await;
    let raw_sha256 = store.put_raw(&benign_message("orphan")).await.expect("put_raw");
    let report = store
        .create_report(&phishloop_store::NewReport {
            reporter: "alice@corp-example.com".to_owned(),
            comment: None,
            source: ReportSource::Api,
            raw_sha256,
            source_key: None,
        })
        .await
        .expect("create_report");

    let service = env.start().await;
    let decided = wait_for("orphan decided", || async {
        let found = service.store.get_report(report.id).await.expect("get_report")?;
        found.decision.is_some().then_some(found)
    })
    .await;

    assert_eq!(decided.status, phishloop_store::ReportStatus::Decided);
    store.close().await;
    service.stop().await;
});

#[tokio::test]
async fn submit_rejects_empty_message() {
    common::run(phishloop_store::Backend::Sqlite, |env: TestEnv| async move {
        let service = env.start_with(|config| config.workers = 0).await;
        let pipeline_error = phishloop_server::submit(
            &service.store,
            &std::sync::Arc::new(test_pipeline()),
            Submission {
                message: Vec::new(),
                reporter: None,
                comment: None,
                source: ReportSource::Api,
                source_key: None,
            },
        )
        .await
        .expect_err("empty message");

        assert!(pipeline_error.to_string().contains("empty"), "{pipeline_error}");
        service.stop().await;
    })
    .await;
}

fn test_pipeline() -> phishloop_server::Pipeline {
    let analyzer =
        phishloop_analysis::Analyzer::new(phishloop_analysis::Config::default(), phishloop_analysis::Mode::Auto)
            .expect("analyzer");
    let triage = phishloop_triage::Triage::new(phishloop_triage::Config::default()).expect("triage");
    phishloop_server::Pipeline::new(analyzer, triage)
}

service_test!(long_message_id_still_decided_and_joined, |env| {
    let service = env.start().await;
    let long_id = format!("{}@micros0ft-support-login.example", "x".repeat(1_500));
    let message = String::from_utf8(phishing_message("unused"))
        .expect("UTF-8")
        .replace("expire-unused@micros0ft-support-login.example", &long_id);

    let first = service.submit_ok(message.as_bytes(), Some("alice@corp-example.com")).await;
    let second = service.submit_ok(message.as_bytes(), Some("bob@corp-example.com")).await;
    let first = service.wait_done(&first).await;
    let second = service.wait_done(&second).await;
    let (_, case) = service.get(&format!("/api/v1/cases/{}", first["case_id"].as_str().expect("case id"))).await;

    assert_eq!(first["decision"]["verdict"], "malicious", "{first}");
    assert_eq!(first["case_id"], second["case_id"], "the same original joins one case");
    assert!(case["join_key"].as_str().expect("join key").starts_with("sha256:"), "{case}");
    service.stop().await;
});

service_test!(bad_path_and_unknown_route_answer_json, |env| {
    let service = env.start_with(|config| config.workers = 0).await;

    let (bad_status, bad) = service.get("/api/v1/cases/not-a-uuid").await;
    let (missing_status, missing) = service.get("/api/v1/no-such-thing").await;
    let (query_status, query) = service.get("/api/v1/outbox?case=not-a-uuid").await;
    let (anonymous_status, anonymous) = service.get_text("/api/v1/cases/not-a-uuid").await;

    assert_eq!(anonymous_status, 401, "the token is checked before the path: {anonymous}");
    assert_eq!(bad_status, 400, "{bad}");
    assert_eq!(bad["code"], "bad_request", "{bad}");
    assert!(bad["error"].as_str().expect("error").contains("invalid id in the path"), "{bad}");
    assert_eq!(query_status, 400, "{query}");
    assert_eq!(query["code"], "bad_request", "{query}");
    let reason = query["error"].as_str().expect("error");
    assert!(reason.starts_with("invalid query string: case: UUID parsing failed"), "{query}");
    assert!(reason.contains("the parameters are status"), "{query}");
    assert_eq!(missing_status, 404, "{missing}");
    assert_eq!(missing["code"], "not_found", "{missing}");
    service.stop().await;
});

service_test!(reporter_role_sees_status_not_evidence, |env| {
    let service = env.start().await;
    let (_, token) =
        phishloop_server::create_token(&service.store, "report-button", TokenRole::Reporter).await.expect("token");
    let report_id = service.submit_ok(&phishing_message("status"), Some("alice@corp-example.com")).await;
    let full = service.wait_done(&report_id).await;

    let response = service
        .client
        .get(service.url(&format!("/api/v1/reports/{report_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET");
    let status = response.status().as_u16();
    let limited: Value = response.json().await.expect("JSON");

    assert!(full["decision"]["evidence"].is_array(), "an admin sees the evidence: {full}");
    assert_eq!(status, 200);
    assert_eq!(limited["status"], full["status"]);
    assert_eq!(limited["decision"]["verdict"], full["decision"]["verdict"]);
    assert!(limited["decision"].get("evidence").is_none(), "{limited}");
    assert!(limited["job"].is_null(), "{limited}");
    service.stop().await;
});
