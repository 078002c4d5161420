//! Campaigns: creating, joining and merging by signature keys, reporter
//! counts, concurrent assignment, and grouping of analysed messages.

mod common;

use std::collections::BTreeSet;

use common::{report_from, store_test};
use phishloop_analysis::{Analyzer, Config, Mode};
use phishloop_campaign::{CampaignConfig, KeyKind, SignatureKey, signature};
use phishloop_store::{Store, StoreError};
use uuid::Uuid;

fn key(kind: KeyKind, value: &str) -> SignatureKey {
    SignatureKey::new(kind, value)
}

/// Creates a case with one report from each of `reporters`.
async fn case_reported_by(store: &Store, join_key: &str, reporters: &[&str]) -> Uuid {
    let mut case_id = None;
    for reporter in reporters {
        let message = format!("Subject: {join_key}\r\n\r\nreported by {reporter}");
        let report = report_from(store, reporter, message.as_bytes()).await;
        case_id = Some(store.join_case(report.id, join_key).await.expect("join_case").case_id);
    }
    case_id.expect("at least one reporter")
}

/// Number of campaigns that were not merged into another.
async fn live_campaigns(db: &common::TestDb) -> i64 {
    db.count("SELECT count(*) FROM campaigns WHERE merged_into IS NULL").await
}

store_test!(first_case_creates_campaign, |db| {
    let case_id = case_reported_by(&db.store, "case-a", &["alice@example.org", "bob@example.org"]).await;

    let assignment = db.store.assign_campaign(case_id, &[key(KeyKind::Domain, "evil.example")]).await.expect("assign");
    let detail = db.store.get_campaign(assignment.campaign_id).await.expect("get").expect("campaign exists");

    assert!(assignment.created);
    assert!(assignment.merged_from.is_empty());
    assert_eq!(assignment.case_count, 1);
    assert_eq!(assignment.reporter_count, 2);
    assert_eq!(detail.cases, vec![case_id]);
    assert_eq!(detail.reporter_count, 2);
    assert_eq!(detail.campaign.case_count, 1);
    assert_eq!(detail.campaign.merged_into, None);
    assert_eq!(db.store.campaign_of_case(case_id).await.expect("campaign_of_case"), Some(assignment.campaign_id));
});

store_test!(case_without_keys_gets_own_campaign, |db| {
    let first = case_reported_by(&db.store, "case-a", &["alice@example.org"]).await;
    let second = case_reported_by(&db.store, "case-b", &["bob@example.org"]).await;

    let first_assignment = db.store.assign_campaign(first, &[]).await.expect("assign first");
    let second_assignment = db.store.assign_campaign(second, &[]).await.expect("assign second");

    assert!(first_assignment.created);
    assert!(second_assignment.created);
    assert_ne!(first_assignment.campaign_id, second_assignment.campaign_id);
});

store_test!(shared_strong_key_joins_campaign, |db| {
    let first = case_reported_by(&db.store, "case-a", &["alice@example.org"]).await;
    let second = case_reported_by(&db.store, "case-b", &["ALICE@example.org", "carol@example.org"]).await;

    let one = db.store.assign_campaign(first, &[key(KeyKind::Url, "https://evil.example/login/1")]).await.expect("one");
    let keys = [key(KeyKind::Url, "https://evil.example/login/1"), key(KeyKind::Attachment, "ab12")];
    let two = db.store.assign_campaign(second, &keys).await.expect("two");

    assert_eq!(two.campaign_id, one.campaign_id);
    assert!(!two.created);
    assert_eq!(two.case_count, 2);
    assert_eq!(two.reporter_count, 2, "alice counts once whatever the case of her address");
    assert_eq!(db.count("SELECT count(*) FROM campaign_keys").await, 2);
});

store_test!(reassigning_case_is_stable, |db| {
    let case_id = case_reported_by(&db.store, "case-a", &["alice@example.org"]).await;
    let keys = [key(KeyKind::SenderIp, "203.0.113.9")];
    let first = db.store.assign_campaign(case_id, &keys).await.expect("first");
    let report = report_from(&db.store, "dave@example.org", b"Subject: case-a\r\n\r\nagain").await;
    db.store.join_case(report.id, "case-a").await.expect("join_case");

    let again = db.store.assign_campaign(case_id, &keys).await.expect("again");

    assert_eq!(again.campaign_id, first.campaign_id);
    assert!(!again.created);
    assert_eq!(again.case_count, 1);
    assert_eq!(again.reporter_count, 2, "the later report counts after reassignment");
});

store_test!(later_case_merges_two_campaigns, |db| {
    let a1 = case_reported_by(&db.store, "a1", &["alice@example.org"]).await;
    let a2 = case_reported_by(&db.store, "a2", &["bob@example.org"]).await;
    let b1 = case_reported_by(&db.store, "b1", &["carol@example.org"]).await;
    let link = case_reported_by(&db.store, "link", &["dave@example.org"]).await;
    let after = case_reported_by(&db.store, "after", &["erin@example.org"]).await;

    let a = db.store.assign_campaign(a1, &[key(KeyKind::Url, "https://first.example/a")]).await.expect("a1");
    db.store.assign_campaign(a2, &[key(KeyKind::Url, "https://first.example/a")]).await.expect("a2");
    let b = db.store.assign_campaign(b1, &[key(KeyKind::SenderAddress, "x@mail.example")]).await.expect("b1");
    let linking = [key(KeyKind::Url, "https://first.example/a"), key(KeyKind::SenderAddress, "x@mail.example")];
    let merged = db.store.assign_campaign(link, &linking).await.expect("link");
    let later = db.store.assign_campaign(after, &[key(KeyKind::SenderAddress, "x@mail.example")]).await.expect("after");
    let survivor = db.store.get_campaign(a.campaign_id).await.expect("get").expect("survivor");
    let gone = db.store.get_campaign(b.campaign_id).await.expect("get").expect("merged row stays");

    assert_ne!(a.campaign_id, b.campaign_id);
    assert_eq!(merged.campaign_id, a.campaign_id, "the campaign with more cases survives");
    assert_eq!(merged.merged_from, vec![b.campaign_id]);
    assert_eq!(merged.case_count, 4);
    assert_eq!(merged.reporter_count, 4);
    assert_eq!(later.campaign_id, a.campaign_id, "keys of the merged campaign moved to the survivor");
    assert_eq!(survivor.cases.len(), 5);
    assert_eq!(survivor.merged_from, vec![b.campaign_id]);
    assert!(survivor.campaign.first_seen_at <= gone.campaign.first_seen_at);
    assert_eq!(gone.campaign.merged_into, Some(a.campaign_id));
    assert!(gone.cases.is_empty());
    assert_eq!(live_campaigns(&db).await, 1);
    assert_eq!(db.count("SELECT count(*) FROM campaign_merges").await, 1);
});

store_test!(text_band_joins_without_merging, |db| {
    let a1 = case_reported_by(&db.store, "a1", &["alice@example.org"]).await;
    let b1 = case_reported_by(&db.store, "b1", &["bob@example.org"]).await;
    let b2 = case_reported_by(&db.store, "b2", &["carol@example.org"]).await;
    let probe = case_reported_by(&db.store, "probe", &["dave@example.org"]).await;

    let a = db.store.assign_campaign(a1, &[key(KeyKind::TextBand, "b00-1")]).await.expect("a1");
    let b_keys = [key(KeyKind::TextBand, "b01-2"), key(KeyKind::TextBand, "b02-3")];
    let b = db.store.assign_campaign(b1, &b_keys).await.expect("b1");
    db.store.assign_campaign(b2, &b_keys).await.expect("b2");
    let probe_keys =
        [key(KeyKind::TextBand, "b00-1"), key(KeyKind::TextBand, "b01-2"), key(KeyKind::TextBand, "b02-3")];
    let joined = db.store.assign_campaign(probe, &probe_keys).await.expect("probe");

    assert_eq!(joined.campaign_id, b.campaign_id, "the campaign with more matching bands wins");
    assert!(joined.merged_from.is_empty(), "text bands never merge campaigns");
    assert_eq!(live_campaigns(&db).await, 2);
    let a_after = db.store.get_campaign(a.campaign_id).await.expect("get").expect("a");
    assert_eq!(a_after.cases, vec![a1]);
});

store_test!(infrastructure_joins_without_merging, |db| {
    let a1 = case_reported_by(&db.store, "a1", &["alice@example.org"]).await;
    let b1 = case_reported_by(&db.store, "b1", &["bob@example.org"]).await;
    let b2 = case_reported_by(&db.store, "b2", &["carol@example.org"]).await;
    let probe = case_reported_by(&db.store, "probe", &["dave@example.org"]).await;

    let a = db.store.assign_campaign(a1, &[key(KeyKind::Domain, "a.example")]).await.expect("a1");
    let b_keys = [key(KeyKind::Domain, "b.example"), key(KeyKind::SenderIp, "198.51.100.7")];
    let b = db.store.assign_campaign(b1, &b_keys).await.expect("b1");
    db.store.assign_campaign(b2, &b_keys).await.expect("b2");
    let probe_keys = [key(KeyKind::Domain, "a.example"), key(KeyKind::Domain, "b.example"), b_keys[1].clone()];
    let joined = db.store.assign_campaign(probe, &probe_keys).await.expect("probe");

    assert_eq!(joined.campaign_id, b.campaign_id, "the campaign with more matching keys wins");
    assert!(joined.merged_from.is_empty(), "domains and addresses never merge campaigns");
    assert_eq!(live_campaigns(&db).await, 2);
    let a_after = db.store.get_campaign(a.campaign_id).await.expect("get").expect("a");
    assert_eq!(a_after.cases, vec![a1]);
});

store_test!(strong_key_beats_text_band, |db| {
    let a1 = case_reported_by(&db.store, "a1", &["alice@example.org"]).await;
    let b1 = case_reported_by(&db.store, "b1", &["bob@example.org"]).await;
    let probe = case_reported_by(&db.store, "probe", &["carol@example.org"]).await;

    let a = db.store.assign_campaign(a1, &[key(KeyKind::Domain, "evil.example")]).await.expect("a1");
    db.store.assign_campaign(b1, &[key(KeyKind::TextBand, "b00-1")]).await.expect("b1");
    let keys = [key(KeyKind::Domain, "evil.example"), key(KeyKind::TextBand, "b00-1")];
    let joined = db.store.assign_campaign(probe, &keys).await.expect("probe");

    assert_eq!(joined.campaign_id, a.campaign_id);
    assert!(joined.merged_from.is_empty());
    assert_eq!(live_campaigns(&db).await, 2);
});

store_test!(unknown_case_rejected, |db| {
    let missing = Uuid::now_v7();

    let error = db.store.assign_campaign(missing, &[key(KeyKind::Domain, "evil.example")]).await.expect_err("missing");

    assert!(matches!(error, StoreError::CaseNotFound(id) if id == missing), "{error:?}");
    assert_eq!(db.count("SELECT count(*) FROM campaigns").await, 0);
});

store_test!(invalid_keys_rejected, |db| {
    let case_id = case_reported_by(&db.store, "case-a", &["alice@example.org"]).await;

    let empty = db.store.assign_campaign(case_id, &[key(KeyKind::Url, "")]).await;
    let long = db.store.assign_campaign(case_id, &[key(KeyKind::Url, &"a".repeat(1025))]).await;

    assert!(matches!(empty, Err(StoreError::InvalidInput { field: "campaign key", .. })), "{empty:?}");
    assert!(matches!(long, Err(StoreError::InvalidInput { field: "campaign key", .. })), "{long:?}");
});

store_test!(missing_campaign_is_none, |db| {
    assert_eq!(db.store.get_campaign(Uuid::now_v7()).await.expect("get"), None);
});

store_test!(concurrent_related_cases_form_one_campaign, |db| {
    const CASES: usize = 16;
    let mut cases = Vec::new();
    for index in 0..CASES {
        cases.push(case_reported_by(&db.store, &format!("case-{index}"), &[&format!("r{index}@example.org")]).await);
    }

    // Each case shares the domain with every other case, and has a key of its own.
    let mut tasks = Vec::new();
    for (index, case_id) in cases.iter().copied().enumerate() {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move {
            let keys =
                [key(KeyKind::Domain, "evil.example"), key(KeyKind::Url, &format!("https://evil.example/{index}"))];
            store.assign_campaign(case_id, &keys).await.expect("assign")
        }));
    }
    let mut campaign_ids = BTreeSet::new();
    let mut created = 0;
    for task in tasks {
        let assignment = task.await.expect("task");
        campaign_ids.insert(assignment.campaign_id);
        created += usize::from(assignment.created);
    }

    assert_eq!(campaign_ids.len(), 1, "{campaign_ids:?}");
    assert_eq!(created, 1);
    assert_eq!(db.count("SELECT count(*) FROM campaigns").await, 1);
    let campaign_id = *campaign_ids.first().expect("one campaign");
    let detail = db.store.get_campaign(campaign_id).await.expect("get").expect("campaign");
    assert_eq!(detail.cases.len(), CASES);
    assert_eq!(detail.reporter_count, CASES as u64);
});

store_test!(concurrent_chain_merges_into_one, |db| {
    const CASES: usize = 12;
    let mut cases = Vec::new();
    for index in 0..CASES {
        cases.push(case_reported_by(&db.store, &format!("case-{index}"), &[&format!("r{index}@example.org")]).await);
    }

    // Case i carries keys i and i + 1, so the cases form one chain whatever
    // order they are assigned in. Early assignments may create several
    // campaigns, which later links must merge.
    let mut tasks = Vec::new();
    for (index, case_id) in cases.iter().copied().enumerate().rev() {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move {
            let keys = [
                key(KeyKind::Attachment, &format!("sha-{index}")),
                key(KeyKind::Attachment, &format!("sha-{}", index + 1)),
            ];
            store.assign_campaign(case_id, &keys).await.expect("assign")
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }

    assert_eq!(live_campaigns(&db).await, 1);
    let mut survivors = BTreeSet::new();
    for case_id in &cases {
        survivors.insert(db.store.campaign_of_case(*case_id).await.expect("campaign_of_case").expect("assigned"));
    }
    assert_eq!(survivors.len(), 1, "{survivors:?}");
    let detail =
        db.store.get_campaign(*survivors.first().expect("one")).await.expect("get").expect("surviving campaign");
    assert_eq!(detail.cases.len(), CASES);
    assert_eq!(detail.campaign.case_count, CASES as u64);
    let merges = db.count("SELECT count(*) FROM campaign_merges").await;
    let campaigns = db.count("SELECT count(*) FROM campaigns").await;
    assert_eq!(merges, campaigns - 1, "every campaign but the survivor was merged once");
});

// Grouping of analysed messages. The messages below are written for these
// tests; every domain is under example or a documentation IP range.

/// A per-recipient copy of one mailbox-quota lure: a different greeting,
/// name and tracking id in the URL path, sent from one server.
fn quota_lure(name: &str, tracking_id: &str) -> String {
    format!(
        "From: IT Service Desk <helpdesk@mailbox-quota.example>\r\n\
         To: {name} <{lower}@corp.example>\r\n\
         Subject: Action required: mailbox storage limit reached\r\n\
         Message-ID: <{tracking_id}@mailbox-quota.example>\r\n\
         Received: from mx1.mailbox-quota.example (mx1.mailbox-quota.example [203.0.113.45])\r\n\
         \tby mx.corp.example with ESMTP id {tracking_id}; Tue, 1 Dec 2026 09:00:00 +0000\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Hello {name},\r\n\
         \r\n\
         Your mailbox has reached its storage limit and incoming messages are being held.\r\n\
         To avoid losing mail, confirm your account within 24 hours using the secure portal:\r\n\
         https://quota-portal.example/verify/{tracking_id}\r\n\
         \r\n\
         Failure to verify will result in permanent suspension of your email services.\r\n\
         \r\n\
         Thank you,\r\n\
         IT Service Desk\r\n",
        lower = name.to_lowercase(),
    )
}

/// A free-mail sender with a shortened link, as in many unrelated lures.
fn free_mail_message(sender: &str, subject: &str, body: &str, short_link: &str) -> String {
    format!(
        "From: {sender}\r\n\
         To: someone@corp.example\r\n\
         Subject: {subject}\r\n\
         Received: from mail-sor-f41.google.com (mail-sor-f41.google.com [209.85.220.41])\r\n\
         \tby mx.corp.example with ESMTPS; Tue, 1 Dec 2026 10:00:00 +0000\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         {body}\r\n\
         {short_link}\r\n"
    )
}

fn analyse(analyzer: &Analyzer, message: &str) -> Vec<SignatureKey> {
    let records = analyzer.analyze_input(None, message.as_bytes()).expect("readable message");
    let analysis = records.into_iter().next().and_then(|record| record.message).expect("analysed message");
    let config = CampaignConfig { organization_domains: vec!["corp.example".to_owned()], ..CampaignConfig::default() };
    signature(&analysis, &config).keys
}

fn analyzer() -> Analyzer {
    let mut config = Config::default();
    config.organization.domains = vec!["corp.example".to_owned()];
    Analyzer::new(config, Mode::Direct).expect("analyser")
}

fn shared_keys(left: &[SignatureKey], right: &[SignatureKey]) -> Vec<SignatureKey> {
    left.iter().filter(|key| right.contains(key)).cloned().collect()
}

async fn assign_message(store: &Store, analyzer: &Analyzer, join_key: &str, message: &str) -> Uuid {
    let case_id = case_reported_by(store, join_key, &[&format!("{join_key}@corp.example")]).await;
    store.assign_campaign(case_id, &analyse(analyzer, message)).await.expect("assign").campaign_id
}

store_test!(lure_variants_form_one_campaign, |db| {
    let analyzer = analyzer();

    let alice = assign_message(&db.store, &analyzer, "alice", &quota_lure("Alice", "a1b2c3")).await;
    let bob = assign_message(&db.store, &analyzer, "bob", &quota_lure("Bob", "d4e5f6")).await;
    let chandra = assign_message(&db.store, &analyzer, "chandra", &quota_lure("Chandrasekhar", "778899")).await;

    assert_eq!(alice, bob);
    assert_eq!(alice, chandra);
    let detail = db.store.get_campaign(alice).await.expect("get").expect("campaign");
    assert_eq!(detail.reporter_count, 3);
});

store_test!(lure_variants_meet_by_text_alone, |db| {
    let analyzer = analyzer();
    // The same text from two unrelated servers and link domains: only the text bands link them.
    let first = quota_lure("Alice", "a1b2c3");
    let second = quota_lure("Bob", "d4e5f6")
        .replace("quota-portal.example", "storage-check.example")
        .replace("mailbox-quota.example", "notice-desk.example")
        .replace("203.0.113.45", "198.51.100.77");

    let alice = assign_message(&db.store, &analyzer, "alice", &first).await;
    let bob = assign_message(&db.store, &analyzer, "bob", &second).await;

    assert_eq!(alice, bob);
    let shared = shared_keys(&analyse(&analyzer, &first), &analyse(&analyzer, &second));
    assert!(!shared.is_empty());
    assert!(shared.iter().all(|key| key.kind == KeyKind::TextBand), "{shared:?}");
});

store_test!(shared_free_mail_and_shortener_do_not_link, |db| {
    let analyzer = analyzer();
    let invoice = free_mail_message(
        "Accounts <accounts.dept77@gmail.com>",
        "Overdue invoice",
        "Please find the overdue invoice at the link below and settle it today to avoid late fees.",
        "https://bit.ly/3inv0ice",
    );
    let parcel = free_mail_message(
        "Parcel Service <parcel.tracking.desk@gmail.com>",
        "Your parcel is waiting",
        "We tried to deliver your parcel twice. Book a new delivery slot and pay the small customs charge.",
        "https://bit.ly/4parcel",
    );

    let first = assign_message(&db.store, &analyzer, "invoice", &invoice).await;
    let second = assign_message(&db.store, &analyzer, "parcel", &parcel).await;

    assert_ne!(first, second);
    assert_eq!(shared_keys(&analyse(&analyzer, &invoice), &analyse(&analyzer, &parcel)), Vec::<SignatureKey>::new());
    let keys = analyse(&analyzer, &invoice);
    assert!(keys.contains(&key(KeyKind::SenderAddress, "accounts.dept77@gmail.com")), "{keys:?}");
    assert!(keys.contains(&key(KeyKind::Url, "https://bit.ly/3inv0ice")), "{keys:?}");
    assert!(!keys.iter().any(|key| key.value == "gmail.com" || key.value == "bit.ly"), "{keys:?}");
    assert!(
        !keys.iter().any(|key| key.kind == KeyKind::SenderIp),
        "a free-mail relay IP is not the sender's: {keys:?}"
    );
});

store_test!(linking_message_merges_two_lures, |db| {
    let analyzer = analyzer();
    // The quota lure carries one PDF in every copy; the payroll lure asks for
    // replies to one free-mail address. A later message has both.
    let quota = with_attachment(&quota_lure("Alice", "a1b2c3"), INVOICE_PDF);
    let payroll = "From: Payroll <payroll@salary-update.example>\r\n\
                   Reply-To: payroll.office.desk@gmail.com\r\n\
                   To: bob@corp.example\r\n\
                   Subject: Confirm your new salary statement\r\n\
                   Content-Type: text/plain; charset=utf-8\r\n\
                   \r\n\
                   Your revised salary statement for this quarter is ready. Review the new pay\r\n\
                   grades and reply with your acknowledgement before Friday or the adjustment is void.\r\n";
    let linking = "From: Payroll <payroll@other-sender.example>\r\n\
                   Reply-To: payroll.office.desk@gmail.com\r\n\
                   To: carol@corp.example\r\n\
                   Subject: Statement attached\r\n\
                   Content-Type: text/plain; charset=utf-8\r\n\
                   \r\n\
                   See the attached statement and reply to confirm.\r\n";
    let linking = with_attachment(linking, INVOICE_PDF);

    let first = assign_message(&db.store, &analyzer, "quota", &quota).await;
    let second = assign_message(&db.store, &analyzer, "payroll", payroll).await;
    let case_id = case_reported_by(&db.store, "linking", &["carol@corp.example"]).await;
    let merged = db.store.assign_campaign(case_id, &analyse(&analyzer, &linking)).await.expect("assign");

    assert_ne!(first, second);
    assert_eq!(merged.merged_from.len(), 1, "{merged:?}");
    assert!([first, second].contains(&merged.campaign_id));
    assert_eq!(merged.case_count, 3);
    assert_eq!(live_campaigns(&db).await, 1);
});

/// Bytes of a small attachment, the same in every message that carries it.
const INVOICE_PDF: &[u8] = b"%PDF-1.4\n% statement template for the campaign tests\n%%EOF\n";

/// Turns a single-part plain-text message into multipart/mixed with a PDF
/// attachment of `content`, base64-encoded.
fn with_attachment(message: &str, content: &[u8]) -> String {
    let (headers, body) = message.split_once("\r\n\r\n").expect("header block");
    let headers =
        headers.replace("Content-Type: text/plain; charset=utf-8", "Content-Type: multipart/mixed; boundary=\"b1\"");
    format!(
        "{headers}\r\nMIME-Version: 1.0\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\
         --b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"statement.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        base64(content)
    )
}

/// Standard base64 with padding, enough for the test attachment.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let value = chunk.iter().enumerate().fold(0u32, |acc, (i, byte)| acc | u32::from(*byte) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(char::from(ALPHABET[((value >> (18 - 6 * i)) & 63) as usize]));
            } else {
                text.push('=');
            }
        }
    }
    text
}
