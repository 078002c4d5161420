//! Flagging attacker-like inbox rules and forwarding.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use phishloop_identity::{MessageRule, RuleCheck, RuleReason};
use serde_json::json;

fn check() -> RuleCheck {
    RuleCheck {
        internal_domains: vec!["corp.example".to_string()],
        phish_arrived_at: Some(at("2026-12-01T09:00:00Z")),
        ..RuleCheck::default()
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
}

fn rule(value: serde_json::Value) -> MessageRule {
    serde_json::from_value(value).expect("messageRule JSON")
}

fn flag(value: serde_json::Value) -> (bool, Vec<RuleReason>) {
    let flagged = check().flag_rule(&rule(value), &BTreeMap::new());
    (flagged.attacker_like, flagged.reasons)
}

#[test]
fn external_forward_is_flagged() {
    let (attacker_like, reasons) = flag(json!({
        "id": "r1", "displayName": "Sync",
        "actions": {
            "forwardTo": [{ "emailAddress": { "address": "Boss@CORP.example" } }],
            "redirectTo": [{ "emailAddress": { "address": "Collector@evil.example" } }]
        }
    }));

    assert!(attacker_like);
    assert_eq!(reasons, vec![RuleReason::ForwardsExternally { addresses: vec!["collector@evil.example".to_string()] }]);
}

#[test]
fn internal_forward_is_not_flagged() {
    let (attacker_like, reasons) = flag(json!({
        "id": "r2", "displayName": "To my assistant",
        "actions": { "forwardTo": [{ "emailAddress": { "address": "assistant@mail.corp.example" } }] }
    }));

    assert!(!attacker_like);
    assert!(reasons.is_empty(), "{reasons:?}");
}

#[test]
fn delete_on_security_words_is_flagged() {
    let (attacker_like, reasons) = flag(json!({
        "id": "r3", "displayName": "cleanup",
        "conditions": { "subjectContains": ["Suspicious sign-in", "Password reset"] },
        "actions": { "delete": true, "markAsRead": true }
    }));

    assert!(attacker_like);
    assert_eq!(
        reasons,
        vec![RuleReason::DeletesOnKeywords { keywords: vec!["password".to_string(), "suspicious".to_string()] }]
    );
}

#[test]
fn move_invoices_to_rss_feeds_is_flagged() {
    let folders = BTreeMap::from([("AAMkRSS".to_string(), "RSS Feeds".to_string())]);
    let rule = rule(json!({
        "id": "r4", "displayName": "..",
        "conditions": { "bodyOrSubjectContains": ["Invoice", "wire transfer"] },
        "actions": { "moveToFolder": "AAMkRSS", "markAsRead": true, "stopProcessingRules": true }
    }));

    let flagged = check().flag_rule(&rule, &folders);

    assert!(flagged.attacker_like);
    assert!(flagged.reasons.contains(&RuleReason::HidesInObscureFolder { folder: "RSS Feeds".to_string() }));
    assert!(flagged.reasons.contains(&RuleReason::MovesOnKeywords {
        keywords: vec!["invoice".to_string(), "transfer".to_string(), "wire".to_string()],
        folder: "RSS Feeds".to_string()
    }));
    assert!(flagged.reasons.contains(&RuleReason::MeaninglessName));
}

#[test]
fn well_known_folder_name_matches() {
    let (attacker_like, reasons) = flag(json!({
        "id": "r5", "displayName": "x",
        "actions": { "moveToFolder": "conversationhistory", "markAsRead": true }
    }));

    assert!(attacker_like);
    assert_eq!(reasons, vec![RuleReason::HidesInObscureFolder { folder: "conversationhistory".to_string() }]);
}

#[test]
fn delete_everything_is_flagged() {
    let (attacker_like, reasons) = flag(json!({
        "id": "r6", "displayName": "Quiet", "conditions": {}, "actions": { "permanentDelete": true }
    }));

    assert!(attacker_like);
    assert_eq!(reasons, vec![RuleReason::DeletesAllMail]);
}

#[test]
fn delete_with_sender_condition_is_not_delete_all() {
    let (attacker_like, _) = flag(json!({
        "id": "r7", "displayName": "Newsletters",
        "conditions": { "fromAddresses": [{ "emailAddress": { "address": "news@vendor.example" } }] },
        "actions": { "delete": true }
    }));

    assert!(!attacker_like);
}

#[test]
fn creation_after_phish_is_context_only() {
    let (attacker_like, reasons) = flag(json!({
        "id": "r8", "displayName": "Receipts", "createdDateTime": "2026-12-01T09:30:00Z",
        "conditions": { "senderContains": ["shop.example"] },
        "actions": { "moveToFolder": "AAMkReceipts" }
    }));

    assert!(!attacker_like, "a new ordinary rule is not enough");
    assert_eq!(
        reasons,
        vec![RuleReason::CreatedAfterPhish {
            created: at("2026-12-01T09:30:00Z"),
            arrived: at("2026-12-01T09:00:00Z")
        }]
    );
}

#[test]
fn no_internal_domains_makes_every_forward_external() {
    let rule = rule(json!({
        "id": "r9", "displayName": "Fwd",
        "actions": { "forwardAsAttachmentTo": [{ "emailAddress": { "address": "me@corp.example" } }] }
    }));

    let flagged = RuleCheck::default().flag_rule(&rule, &BTreeMap::new());

    assert!(flagged.attacker_like);
}

#[test]
fn mailbox_forwarding_checked() {
    let check = check();

    assert_eq!(
        check.flag_forwarding("smtp:Drop@Evil.example"),
        Some(RuleReason::ForwardsExternally { addresses: vec!["drop@evil.example".to_string()] })
    );
    assert_eq!(check.flag_forwarding("team@corp.example"), None);
    assert_eq!(check.flag_forwarding(""), None);
}

#[test]
fn flag_rules_keeps_order_and_ids() {
    let rules = vec![
        rule(json!({ "id": "a", "displayName": "Benign", "actions": { "markImportance": "high" } })),
        rule(
            json!({ "id": "b", "displayName": "Out", "actions": { "forwardTo": [{ "emailAddress": { "address": "x@evil.example" } }] } }),
        ),
    ];

    let flagged = check().flag_rules(&rules, &BTreeMap::new());

    let ids: Vec<(&str, bool)> = flagged.iter().map(|f| (f.id.as_str(), f.attacker_like)).collect();
    assert_eq!(ids, vec![("a", false), ("b", true)]);
}
