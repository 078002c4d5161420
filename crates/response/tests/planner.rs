mod common;

use common::{LURE, ORG_DOMAIN, analyze, decision};
use phishloop_model::{Category, Verdict};
use phishloop_response::{
    ActionKind, CaseFacts, FALLBACK_PLAYBOOK, Mode, Plan, ResponseConfig, SkipReason, Target, plan,
};

fn facts(case_id: &str) -> CaseFacts {
    CaseFacts {
        case_id: case_id.to_string(),
        reporter_count: 1,
        reporters: vec!["dana.lee@corp-example.com".to_string()],
        clickers: Vec::new(),
        submitters: Vec::new(),
        credential_owners: Vec::new(),
    }
}

fn targets(plan: &Plan, kind: ActionKind) -> Vec<Target> {
    plan.actions.iter().filter(|a| a.kind == kind).map(|a| a.target.clone()).collect()
}

fn url(value: &str) -> Target {
    Target::Url { url: value.to_string() }
}

fn domain(value: &str) -> Target {
    Target::Domain { domain: value.to_string() }
}

const ALL_VERDICTS: [Verdict; 5] =
    [Verdict::Malicious, Verdict::Suspicious, Verdict::Spam, Verdict::Benign, Verdict::Simulation];

#[test]
fn every_verdict_gets_an_action() {
    let message = analyze(LURE);
    let config = ResponseConfig::default();
    for verdict in ALL_VERDICTS {
        for needs_review in [false, true] {
            for confidence in [0.2, 0.95] {
                let decision = decision(verdict, Category::CredentialHarvesting, confidence, needs_review);
                let with_message = plan(&decision, Some(&message), &facts("case-1"), &config);
                let without_message = plan(&decision, None, &facts("case-1"), &config);
                assert!(!with_message.actions.is_empty(), "{verdict:?} review={needs_review} {confidence}");
                assert!(!without_message.actions.is_empty(), "{verdict:?} without a message");
            }
        }
    }
}

#[test]
fn malicious_credential_harvesting_blocks_the_lure() {
    let message = analyze(LURE);
    let decision = decision(Verdict::Malicious, Category::CredentialHarvesting, 0.95, false);
    let plan = plan(&decision, Some(&message), &facts("case-7"), &ResponseConfig::default());

    assert_eq!(
        targets(&plan, ActionKind::BlockUrl),
        vec![url("https://login.example-phish.net/wp/verify.php"), url("https://bit.ly/3xYzAbC"),]
    );
    assert_eq!(targets(&plan, ActionKind::BlockDomain), vec![domain("example-phish.net")]);
    assert_eq!(targets(&plan, ActionKind::PurgeCopies).len(), 1);
    let click_targets = targets(&plan, ActionKind::FindClicks);
    assert!(click_targets.contains(&url("https://login.example-phish.net/wp/verify.php")));
    assert!(
        !click_targets.contains(&url("https://www.microsoft.com/en-us/privacy")),
        "a visit to the brand's real site is no click on the lure: {click_targets:?}"
    );
    assert!(plan.playbooks.contains(&"malicious-credential-harvesting".to_string()));

    let blocks: Vec<&phishloop_response::PlannedAction> =
        plan.actions.iter().filter(|a| a.kind == ActionKind::BlockUrl || a.kind == ActionKind::BlockDomain).collect();
    assert!(blocks.iter().all(|a| a.mode == Mode::Auto));
}

#[test]
fn internal_and_shared_domains_are_never_blocked() {
    let message = analyze(LURE);
    let decision = decision(Verdict::Malicious, Category::CredentialHarvesting, 0.99, false);
    let plan = plan(&decision, Some(&message), &facts("case-8"), &ResponseConfig::default());

    for action in &plan.actions {
        let text = action.target.canonical();
        let blocking = matches!(action.kind, ActionKind::BlockDomain | ActionKind::BlockUrl | ActionKind::BlockSender);
        if blocking {
            assert!(!text.contains(ORG_DOMAIN), "blocked internal target {text}");
            assert!(!text.contains("microsoft.com"), "blocked a brand's real site {text}");
            assert_ne!(text, "domain:gmail.com");
            assert_ne!(text, "domain:bit.ly");
            assert!(!text.contains("example-cdn.net"), "blocked an image reference {text}");
        }
    }

    let reason_for =
        |target: &Target| plan.skipped.iter().find(|s| s.target.as_ref() == Some(target)).map(|s| s.reason);
    assert_eq!(reason_for(&domain(ORG_DOMAIN)), Some(SkipReason::Internal));
    assert_eq!(reason_for(&domain("bit.ly")), Some(SkipReason::SharedService));
    assert_eq!(reason_for(&url("https://www.microsoft.com/en-us/privacy")), Some(SkipReason::BrandDomain));
    assert_eq!(reason_for(&url("https://images.example-cdn.net/logo.png")), Some(SkipReason::EmbeddedResource));
    let explained = plan.skipped.iter().find(|s| s.reason == SkipReason::Internal).map(|s| s.explanation.clone());
    assert!(explained.is_some_and(|e| e.contains(ORG_DOMAIN)));
}

#[test]
fn sender_block_skips_free_mail_domain_but_blocks_address() {
    let message = analyze(LURE);
    let decision = decision(Verdict::Malicious, Category::PaymentFraud, 0.95, false);
    let config = ResponseConfig {
        playbooks: vec![
            toml::from_str(
                r#"
            name = "senders"
            steps = [
              { action = "block_sender", target = "sender", mode = "auto" },
              { action = "block_domain", target = "sender_domains", mode = "auto" },
            ]
            "#,
            )
            .expect("valid playbook"),
        ],
        ..ResponseConfig::default()
    };
    let plan = plan(&decision, Some(&message), &facts("case-9"), &config);

    let senders = targets(&plan, ActionKind::BlockSender);
    assert!(senders.contains(&Target::Sender { address: "alerts.team@gmail.com".to_string() }));
    assert!(senders.contains(&Target::Sender { address: "helpdesk@example-phish.net".to_string() }));
    let domains = targets(&plan, ActionKind::BlockDomain);
    assert!(domains.contains(&domain("example-phish.net")));
    assert!(!domains.contains(&domain("gmail.com")));
    let gmail = plan.skipped.iter().find(|s| s.target == Some(domain("gmail.com")));
    assert_eq!(gmail.map(|s| s.reason), Some(SkipReason::SharedService));
}

#[test]
fn configured_internal_domains_are_never_blocked() {
    let message = analyze(LURE);
    let decision = decision(Verdict::Malicious, Category::CredentialHarvesting, 0.95, false);
    let config = ResponseConfig { never_block: vec!["example-phish.net".to_string()], ..ResponseConfig::default() };
    let plan = plan(&decision, Some(&message), &facts("case-10"), &config);

    assert!(targets(&plan, ActionKind::BlockDomain).is_empty());
    assert!(!targets(&plan, ActionKind::BlockUrl).contains(&url("https://login.example-phish.net/wp/verify.php")));
    assert!(plan.skipped.iter().any(|s| s.reason == SkipReason::NeverBlock));
}

#[test]
fn idempotency_keys_are_stable_and_differ_per_target() {
    let message = analyze(LURE);
    let decision = decision(Verdict::Malicious, Category::CredentialHarvesting, 0.95, false);
    let config = ResponseConfig::default();
    let first = plan(&decision, Some(&message), &facts("case-11"), &config);
    let again = plan(&decision, Some(&message), &facts("case-11"), &config);
    let other_case = plan(&decision, Some(&message), &facts("case-12"), &config);

    let keys = |plan: &Plan| plan.actions.iter().map(|a| a.idempotency_key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&first), keys(&again));
    let unique: std::collections::HashSet<String> = keys(&first).into_iter().collect();
    assert_eq!(unique.len(), first.actions.len(), "two actions share a key");
    assert!(keys(&first).iter().all(|key| !keys(&other_case).contains(key)));

    let blocks: Vec<String> =
        first.actions.iter().filter(|a| a.kind == ActionKind::BlockUrl).map(|a| a.idempotency_key.clone()).collect();
    assert_eq!(blocks.len(), 2);
    assert_ne!(blocks[0], blocks[1]);
}

#[test]
fn off_steps_are_left_out_and_approve_steps_wait() {
    let message = analyze(LURE);
    let decision = decision(Verdict::Malicious, Category::CredentialHarvesting, 0.95, false);
    let config = ResponseConfig::from_toml_str(
        r#"
        [[playbooks]]
        name = "cautious"
        verdicts = ["malicious"]
        steps = [
          { action = "block_domain", target = "url_domains", mode = "off" },
          { action = "purge_copies", target = "message", mode = "approve" },
        ]
        "#,
    )
    .expect("valid config");
    let plan = plan(&decision, Some(&message), &facts("case-13"), &config);

    assert!(targets(&plan, ActionKind::BlockDomain).is_empty(), "an off step switches the default step off");
    assert!(plan.skipped.iter().any(|s| s.kind == ActionKind::BlockDomain && s.reason == SkipReason::StepOff));
    let purge: Vec<_> = plan.actions.iter().filter(|a| a.kind == ActionKind::PurgeCopies).collect();
    assert_eq!(purge.len(), 1);
    assert!(purge[0].awaits_approval());
    assert_eq!(purge[0].playbook, "cautious");
}

#[test]
fn review_cases_wait_for_approval() {
    let message = analyze(LURE);
    let decision = decision(Verdict::Suspicious, Category::CredentialHarvesting, 0.4, true);
    let plan = plan(&decision, Some(&message), &facts("case-14"), &ResponseConfig::default());

    let changing: Vec<_> = plan.actions.iter().filter(|a| !a.kind.is_read_only()).collect();
    assert!(!changing.is_empty());
    assert!(changing.iter().all(|a| a.mode == Mode::Approve), "{changing:?}");
    assert!(plan.actions.iter().any(|a| a.kind == ActionKind::OpenTicket && a.mode == Mode::Auto));
}

#[test]
fn auto_steps_are_downgraded_when_review_is_needed() {
    let message = analyze(LURE);
    let decision = decision(Verdict::Malicious, Category::CredentialHarvesting, 0.95, true);
    let config = ResponseConfig::from_toml_str(
        r#"
        default_playbooks = false
        [[playbooks]]
        name = "eager"
        steps = [{ action = "block_url", target = "urls", mode = "auto" }]
        "#,
    )
    .expect("valid config");
    let plan = plan(&decision, Some(&message), &facts("case-15"), &config);

    assert!(!plan.actions.is_empty());
    assert!(plan.actions.iter().all(|a| a.mode == Mode::Approve && a.note.is_some()));
}

#[test]
fn simulations_are_thanked_and_never_acted_on() {
    let message = analyze(LURE);
    let decision = decision(Verdict::Simulation, Category::CredentialHarvesting, 1.0, false);
    let config = ResponseConfig::from_toml_str(
        r#"
        [[playbooks]]
        name = "block-everything"
        steps = [{ action = "block_url", target = "urls", mode = "auto" }]
        "#,
    )
    .expect("valid config");
    let plan = plan(&decision, Some(&message), &facts("case-16"), &config);

    let kinds: Vec<ActionKind> = plan.actions.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, vec![ActionKind::DismissWithThanks]);
    assert!(plan.skipped.iter().any(|s| s.reason == SkipReason::Simulation));
}

#[test]
fn benign_gets_dismissed_with_thanks() {
    let message = analyze(LURE);
    let decision = decision(Verdict::Benign, Category::None, 0.9, false);
    let plan = plan(&decision, Some(&message), &facts("case-17"), &ResponseConfig::default());

    let dismiss: Vec<_> = plan.actions.iter().filter(|a| a.kind == ActionKind::DismissWithThanks).collect();
    assert_eq!(dismiss.len(), 1);
    assert_eq!(dismiss[0].target, Target::Case { case_id: "case-17".to_string() });
    assert!(!plan.actions.iter().any(|a| a.kind == ActionKind::BlockUrl));
}

#[test]
fn exposed_secrets_are_revoked_after_approval() {
    let message = analyze(LURE);
    assert!(!message.secrets.is_empty(), "the analyser should find the token");
    let decision = decision(Verdict::Benign, Category::None, 0.9, false);
    let plan = plan(&decision, Some(&message), &facts("case-18"), &ResponseConfig::default());

    let revoke: Vec<_> = plan.actions.iter().filter(|a| a.kind == ActionKind::RevokeCredentials).collect();
    assert_eq!(revoke.len(), 1);
    assert!(revoke[0].awaits_approval());
    let Target::Secret { redacted, location, .. } = &revoke[0].target else { panic!("not a secret target") };
    assert_ne!(redacted, "ghp_1234567890abcdefghijABCDEFGHIJ123456");
    assert!(!location.is_empty());
    let json = serde_json::to_string(&plan).expect("serialisable plan");
    assert!(!json.contains("ghp_1234567890abcdefghijABCDEFGHIJ123456"), "the plan leaks the secret");
}

#[test]
fn submitters_get_approval_gated_resets() {
    let message = analyze(LURE);
    let decision = decision(Verdict::Malicious, Category::CredentialHarvesting, 0.95, false);
    let mut facts = facts("case-19");
    let before = plan(&decision, Some(&message), &facts, &ResponseConfig::default());
    assert!(targets(&before, ActionKind::ResetPassword).is_empty());

    facts.clickers = vec!["Sam.Doe@corp-example.com".to_string(), "kim@corp-example.com".to_string()];
    facts.submitters = vec!["Sam.Doe@corp-example.com".to_string()];
    let after = plan(&decision, Some(&message), &facts, &ResponseConfig::default());
    let resets: Vec<_> = after.actions.iter().filter(|a| a.kind == ActionKind::ResetPassword).collect();
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0].target, Target::Person { address: "sam.doe@corp-example.com".to_string() });
    assert!(resets[0].awaits_approval());
    let unchanged = |key: &str| after.actions.iter().any(|a| a.idempotency_key == key);
    assert!(before.actions.iter().all(|a| unchanged(&a.idempotency_key)));
}

#[test]
fn clickers_lose_rules_submitters_sessions() {
    let message = analyze(LURE);
    let decision = decision(Verdict::Malicious, Category::CredentialHarvesting, 0.95, false);
    let mut facts = facts("case-21");
    facts.clickers = vec!["sam@corp-example.com".to_string(), "kim@corp-example.com".to_string()];
    facts.submitters = vec!["sam@corp-example.com".to_string()];
    facts.credential_owners = vec!["kim@corp-example.com".to_string()];

    let plan = plan(&decision, Some(&message), &facts, &ResponseConfig::default());

    let person = |address: &str| Target::Person { address: address.to_string() };
    assert_eq!(targets(&plan, ActionKind::RevokeSessions), vec![person("sam@corp-example.com")]);
    assert_eq!(
        targets(&plan, ActionKind::RemoveMailboxRules),
        vec![person("sam@corp-example.com"), person("kim@corp-example.com")]
    );
    let revoked_people: Vec<Target> = targets(&plan, ActionKind::RevokeCredentials)
        .into_iter()
        .filter(|target| matches!(target, Target::Person { .. }))
        .collect();
    assert!(revoked_people.is_empty(), "a click rotates credentials, it does not revoke them: {revoked_people:?}");
    assert_eq!(targets(&plan, ActionKind::RotateCredentials), vec![person("kim@corp-example.com")]);
    let rotate = plan
        .actions
        .iter()
        .find(|a| a.kind == ActionKind::RotateCredentials && a.target == person("kim@corp-example.com"))
        .expect("rotate");
    assert!(rotate.awaits_approval(), "non-human credentials are rotated only after approval");
}

/// A lure outside the credential categories, and a suspicious case in
/// review, still contain the people the click evidence names.
#[test]
fn submitters_of_any_lure_get_approval_gated_containment() {
    let message = analyze(LURE);
    let mut facts = facts("case-22");
    facts.clickers = vec!["sam@corp-example.com".to_string()];
    facts.submitters = vec!["sam@corp-example.com".to_string()];
    let person = Target::Person { address: "sam@corp-example.com".to_string() };

    for decision in [
        decision(Verdict::Malicious, Category::MalwareDelivery, 0.95, false),
        decision(Verdict::Suspicious, Category::PaymentFraud, 0.4, true),
    ] {
        let plan = plan(&decision, Some(&message), &facts, &ResponseConfig::default());
        for kind in [ActionKind::ResetPassword, ActionKind::RevokeSessions, ActionKind::RemoveMailboxRules] {
            let planned: Vec<_> = plan.actions.iter().filter(|a| a.kind == kind).collect();
            assert_eq!(planned.len(), 1, "{kind} for {:?} {:?}", decision.verdict, decision.category);
            assert_eq!(planned[0].target, person);
            assert!(planned[0].awaits_approval());
        }
    }

    let benign = decision(Verdict::Benign, Category::None, 0.9, false);
    let plan = plan(&benign, Some(&message), &facts, &ResponseConfig::default());
    assert!(targets(&plan, ActionKind::ResetPassword).is_empty(), "a benign decision resets nobody");
}

#[test]
fn empty_plan_falls_back_to_notifying_analysts() {
    let decision = decision(Verdict::Malicious, Category::CredentialHarvesting, 0.95, false);
    let config = ResponseConfig { default_playbooks: false, ..ResponseConfig::default() };
    let plan = plan(&decision, None, &facts("case-20"), &config);

    assert_eq!(plan.actions.len(), 1);
    assert_eq!(plan.actions[0].playbook, FALLBACK_PLAYBOOK);
    assert_eq!(plan.actions[0].kind, ActionKind::Notify);
}

#[test]
fn min_reporters_and_confidence_gate_playbooks() {
    let message = analyze(LURE);
    let config = ResponseConfig::from_toml_str(
        r#"
        default_playbooks = false
        [[playbooks]]
        name = "campaign"
        verdicts = ["malicious"]
        min_confidence = 0.9
        min_reporters = 3
        steps = [{ action = "purge_copies", target = "message", mode = "auto" }]
        "#,
    )
    .expect("valid config");
    let confident = decision(Verdict::Malicious, Category::CredentialHarvesting, 0.95, false);
    let unsure = decision(Verdict::Malicious, Category::CredentialHarvesting, 0.85, false);
    let mut many = facts("case-21");
    many.reporter_count = 3;

    assert_eq!(plan(&confident, Some(&message), &many, &config).playbooks, vec!["campaign"]);
    assert!(plan(&confident, Some(&message), &facts("case-21"), &config).playbooks.is_empty());
    assert!(plan(&unsure, Some(&message), &many, &config).playbooks.is_empty());
}

#[test]
fn same_action_through_other_connector_is_planned() {
    let message = analyze(LURE);
    let config = ResponseConfig::from_toml_str(
        r#"
        default_playbooks = false
        [[webhooks]]
        name = "soar"
        url = "http://127.0.0.1:9/hook"
        secret = { env = "PHISHLOOP_TEST_SOAR_SECRET" }
        [[playbooks]]
        name = "first-report"
        verdicts = ["malicious"]
        steps = [{ action = "notify", target = "analysts", mode = "auto", connector = "log" }]
        [[playbooks]]
        name = "third-report"
        verdicts = ["malicious"]
        min_reporters = 3
        steps = [{ action = "notify", target = "analysts", mode = "auto", connector = "soar" }]
        "#,
    )
    .expect("valid config");
    let decision = decision(Verdict::Malicious, Category::CredentialHarvesting, 0.95, false);
    let mut three = facts("case-22");
    three.reporter_count = 3;

    let first = plan(&decision, Some(&message), &facts("case-22"), &config);
    let third = plan(&decision, Some(&message), &three, &config);

    let connectors: Vec<&str> = third.actions.iter().map(|action| action.connector.as_str()).collect();
    assert_eq!(connectors, ["log", "soar"]);
    assert_eq!(first.actions.len(), 1);
    assert_eq!(first.actions[0].idempotency_key, third.actions[0].idempotency_key);
    assert_ne!(third.actions[0].idempotency_key, third.actions[1].idempotency_key);
}

#[test]
fn config_rejects_unknown_keys_and_bad_selectors() {
    let unknown = ResponseConfig::from_toml_str("default_playbook = false");
    assert!(unknown.is_err_and(|e| e.to_string().contains("default_playbook")));

    let bad_selector = ResponseConfig::from_toml_str(
        r#"
        [[playbooks]]
        name = "wrong"
        steps = [{ action = "block_url", target = "sender" }]
        "#,
    );
    assert!(bad_selector.is_err_and(|e| e.to_string().contains("block_url cannot target sender")));

    let bad_connector = ResponseConfig::from_toml_str(
        r#"
        [[playbooks]]
        name = "wrong"
        steps = [{ action = "block_url", target = "urls", connector = "firewall" }]
        "#,
    );
    assert!(bad_connector.is_err_and(|e| e.to_string().contains("firewall")));
}

#[test]
fn default_playbooks_are_valid() {
    let config = ResponseConfig {
        playbooks: phishloop_response::default_playbooks(),
        default_playbooks: false,
        ..Default::default()
    };
    assert_eq!(config.validate(&[]), Ok(()));
}

#[test]
fn connector_override_routes_purge() {
    let message = analyze(LURE);
    let decision = decision(Verdict::Malicious, Category::CredentialHarvesting, 0.95, false);
    let config = ResponseConfig::from_toml_str("[connectors]\npurge_copies = \"blocklist\"\n").expect("config");

    let plan = plan(&decision, Some(&message), &facts("case-9"), &config);

    let purge = plan.actions.iter().find(|action| action.kind == ActionKind::PurgeCopies).expect("a purge");
    assert_eq!(purge.connector, "blocklist");
    let clicks = plan.actions.iter().find(|action| action.kind == ActionKind::FindClicks).expect("a click search");
    assert_eq!(clicks.connector, "log", "other kinds keep their connector");
}

#[test]
fn connector_override_keeps_named_connectors() {
    let config = ResponseConfig::from_toml_str(
        r#"
        connectors = { block_url = "log" }
        [[playbooks]]
        name = "gateway"
        steps = [{ action = "block_url", target = "urls", mode = "auto", connector = "blocklist" }]
        "#,
    )
    .expect("config");

    let steps: Vec<String> = config.effective_playbooks()[0].steps.iter().map(|step| step.connector.clone()).collect();

    assert_eq!(steps, vec!["blocklist".to_owned()]);
}

#[test]
fn connector_override_must_name_known_connector() {
    let text = "[connectors]\npurge_copies = \"imap\"\n";

    let error = ResponseConfig::from_toml_str(text).expect_err("imap is not registered here");
    let parsed: ResponseConfig = toml::from_str(text).expect("valid TOML");

    assert!(error.to_string().contains("\"imap\""), "{error}");
    assert!(error.to_string().contains("purge_copies"), "{error}");
    assert!(parsed.validate(&["imap"]).is_ok(), "a connector the service registers is accepted");
    assert!(ResponseConfig::from_toml_str("[connectors]\nsend_flowers = \"log\"\n").is_err());
}
