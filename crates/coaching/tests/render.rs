use phishloop_analysis::{Analyzer, Config, Mode};
use phishloop_coaching::{Audience, CaseSummary, Coach, CoachingConfig, Impact, Person, embedded_template_names};
use phishloop_model::{Category, Decision, MessageAnalysis, Verdict};

fn analyze(message: &str) -> MessageAnalysis {
    let mut config = Config::default();
    config.organization.domains = vec!["corp-example.com".to_string()];
    let analyzer = Analyzer::new(config, Mode::default()).expect("valid analysis config");
    let records = analyzer.analyze_input(None, message.replace('\n', "\r\n").as_bytes()).expect("readable input");
    records.into_iter().next().and_then(|record| record.message).expect("an analysed message")
}

fn decision(verdict: Verdict, category: Category) -> Decision {
    Decision {
        verdict,
        category,
        confidence: 0.95,
        needs_review: verdict == Verdict::Suspicious,
        review_reasons: Vec::new(),
        score: 0.95,
        model: None,
        evidence: Vec::new(),
    }
}

const LURE: &str = r#"From: "Examplebank Security" <security@examp1ebank.com>
To: dana.lee@corp-example.com
Subject: <script>alert(1)</script> Verify examplebank.com account
Message-ID: <lure-2@examp1ebank.com>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><body>
<p>Your account is locked. Sign in within 24 hours or call 1-800-555-0199.</p>
<p><a href="https://example-phish.net/login">examplebank.com</a></p>
<p>Please buy gift cards for the client today.</p>
</body></html>
"#;

fn case() -> CaseSummary {
    CaseSummary {
        case_id: "case-42".to_string(),
        reporter: Some(Person { name: Some("Dana".to_string()), address: "dana.lee@corp-example.com".to_string() }),
        recipient: Some(Person { name: Some("Sam".to_string()), address: "sam@corp-example.com".to_string() }),
        impact: Impact {
            copies_removed: 12,
            people_protected: 11,
            urls_blocked: 1,
            domains_blocked: 1,
            senders_blocked: 0,
        },
    }
}

fn coach() -> Coach {
    Coach::new(CoachingConfig::default()).expect("default config")
}

/// No URL or domain of the lure may appear live in any part.
fn assert_defanged(text: &str) {
    for live in ["example-phish.net", "examplebank.com", "https://", "http://", "examp1ebank.com"] {
        assert!(!text.contains(live), "live indicator {live:?} in:\n{text}");
    }
}

#[test]
fn outcome_renders_for_every_verdict() {
    let message = analyze(LURE);
    for verdict in [Verdict::Malicious, Verdict::Suspicious, Verdict::Spam, Verdict::Benign, Verdict::Simulation] {
        let rendered = coach().outcome(&decision(verdict, Category::CredentialHarvesting), Some(&message), &case());
        assert!(rendered.issues.is_empty(), "{verdict:?}: {:?}", rendered.issues);
        assert!(!rendered.subject.is_empty(), "{verdict:?}");
        assert!(!rendered.subject.contains('\n'), "{verdict:?}");
        assert!(rendered.text.to_lowercase().contains("thank") || rendered.text.contains("Well done"), "{verdict:?}");
        assert!(rendered.html.starts_with("<!DOCTYPE html>"), "{verdict:?}");
        assert_defanged(&rendered.subject);
        assert_defanged(&rendered.text);
        assert_defanged(&rendered.html);
    }
}

#[test]
fn malicious_outcome_quotes_this_lure() {
    let message = analyze(LURE);
    let rendered =
        coach().outcome(&decision(Verdict::Malicious, Category::CredentialHarvesting), Some(&message), &case());

    assert!(
        rendered.text.contains("The link showed examplebank[.]com but led to example-phish[.]net"),
        "{}",
        rendered.text
    );
    assert!(rendered.text.contains("hxxps://example-phish[.]net/login"));
    assert!(rendered.text.contains("1-800-555-0199"));
    assert!(rendered.text.contains("gift cards"));
    assert!(rendered.text.contains("your report helped us stop it"));
    assert!(rendered.text.contains("12 copies removed"));
    assert!(rendered.text.contains("11 people protected"));
    assert!(rendered.text.contains("Hello Dana"));
    assert!(rendered.html.contains("<code>example-phish[.]net</code>"));
    assert!(!rendered.html.contains("<a "), "a clickable link in the HTML");
}

#[test]
fn malicious_outcome_without_impact_claims_nothing() {
    let message = analyze(LURE);
    let nothing_done = CaseSummary { impact: Impact::default(), ..case() };
    let rendered =
        coach().outcome(&decision(Verdict::Malicious, Category::CredentialHarvesting), Some(&message), &nothing_done);

    assert!(rendered.issues.is_empty(), "{:?}", rendered.issues);
    assert!(!rendered.text.contains("helped us stop it"), "{}", rendered.text);
    assert!(rendered.text.contains("Our security team is acting on it now."), "{}", rendered.text);
    assert!(!rendered.html.contains("helped us stop it"));
    assert!(!rendered.text.contains("What your report changed"));
}

#[test]
fn lookalike_sender_is_explained() {
    let message = analyze(&LURE.replace("security@examp1ebank.com", "it-desk@corp-examp1e.com"));
    assert!(!message.sender.from_lookalikes.is_empty(), "the analyser should flag corp-examp1e.com");
    let rendered = coach().lesson(
        &decision(Verdict::Malicious, Category::CredentialHarvesting),
        Some(&message),
        &case(),
        Audience::Recipient,
    );
    assert!(rendered.text.contains("corp-examp1e[.]com imitates corp-example[.]com"), "{}", rendered.text);
}

#[test]
fn script_in_subject_is_escaped_in_html() {
    let message = analyze(LURE);
    let rendered =
        coach().outcome(&decision(Verdict::Malicious, Category::CredentialHarvesting), Some(&message), &case());

    assert!(!rendered.html.contains("<script>"));
    assert!(rendered.html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{}", rendered.html);
    let ack = coach().acknowledgement(Some(&message), &case());
    assert!(!ack.html.contains("<script>"));
    assert!(ack.subject.starts_with("We received your report"));
}

#[test]
fn lessons_render_for_main_categories() {
    let message = analyze(LURE);
    let categories = [
        (Category::CredentialHarvesting, "bookmarks"),
        (Category::MalwareDelivery, "macros"),
        (Category::PaymentFraud, "bank details"),
        (Category::CallbackScam, "look the company up"),
        (Category::QrPhishing, "QR code"),
        (Category::DeveloperCredential, "tokens or keys"),
    ];
    for (category, advice) in categories {
        for audience in [Audience::Recipient, Audience::Clicker] {
            let rendered = coach().lesson(&decision(Verdict::Malicious, category), Some(&message), &case(), audience);
            assert!(rendered.issues.is_empty(), "{category:?}: {:?}", rendered.issues);
            assert!(rendered.text.contains(advice), "{category:?} {audience:?}:\n{}", rendered.text);
            assert!(rendered.html.contains(advice), "{category:?} {audience:?}");
            assert_defanged(&rendered.text);
            assert_defanged(&rendered.html);
        }
    }
    let clicker = coach().lesson(
        &decision(Verdict::Malicious, Category::CredentialHarvesting),
        Some(&message),
        &case(),
        Audience::Clicker,
    );
    assert!(clicker.subject.starts_with("Action needed"));
}

#[test]
fn lesson_claims_removal_only_when_copies_were_removed() {
    let message = analyze(LURE);
    let decided = decision(Verdict::Malicious, Category::CredentialHarvesting);
    let removed = coach().lesson(&decided, Some(&message), &case(), Audience::Recipient);
    let mut nothing_done = case();
    nothing_done.impact = Impact::default();
    let pending = coach().lesson(&decided, Some(&message), &nothing_done, Audience::Recipient);

    assert!(removed.text.contains("we removed it from the mailboxes"), "{}", removed.text);
    assert!(removed.html.contains("we removed it from the mailboxes"));
    assert!(!pending.text.contains("removed it"), "{}", pending.text);
    assert!(pending.text.contains("delete it if it is still in your mailbox"), "{}", pending.text);
    assert!(pending.html.contains("delete it if it is still in your mailbox"));
}

#[test]
fn quoted_links_hide_recipient_addresses() {
    let message = analyze(
        "From: \"IT Desk\" <desk@example-phish.net>\r\nTo: kim.park@corp-example.com\r\n\
         Subject: Mailbox full\r\nMessage-ID: <m1@example-phish.net>\r\nDate: Thu, 3 Dec 2026 09:00:00 +0000\r\n\
         Content-Type: text/plain\r\n\r\n\
         Your mailbox is full. Sign in at https://login.example-phish.net/verify?user=kim.park@corp-example.com today.\r\n",
    );
    let decided = decision(Verdict::Malicious, Category::CredentialHarvesting);
    assert!(message.urls.iter().any(|url| url.embedded_recipient.is_some()), "the analysis finds the address");

    let lesson = coach().lesson(&decided, Some(&message), &case(), Audience::Recipient);
    let outcome = coach().outcome(&decided, Some(&message), &case());

    for text in [&lesson.text, &lesson.html, &outcome.text, &outcome.html] {
        assert!(!text.contains("kim.park"), "{text}");
    }
    assert!(lesson.text.contains("hxxps://login[.]example-phish[.]net/..."), "{}", lesson.text);
}

#[test]
fn benign_outcome_is_honest_and_thanks() {
    let rendered = coach().outcome(&decision(Verdict::Benign, Category::None), None, &case());
    assert!(rendered.subject.contains("safe"));
    assert!(rendered.text.contains("Thank you"));
    assert!(rendered.text.contains("legitimate"));
}

#[test]
fn simulation_outcome_reveals_no_internals() {
    let message = analyze(LURE);
    let rendered =
        coach().outcome(&decision(Verdict::Simulation, Category::CredentialHarvesting), Some(&message), &case());
    assert!(rendered.text.contains("Well done"));
    for internal in ["case-42", "rule", "score", "confidence", "header"] {
        assert!(!rendered.text.contains(internal), "{internal} in:\n{}", rendered.text);
    }
}

fn override_folder(test: &str) -> std::path::PathBuf {
    let folder = std::env::temp_dir().join(format!("phishloop-coaching-{}-{test}", std::process::id()));
    std::fs::create_dir_all(folder.join("outcome")).expect("writable temp folder");
    folder
}

#[test]
fn broken_override_falls_back_and_names_file_and_line() {
    let folder = override_folder("broken");
    let file = folder.join("outcome/benign.body.txt");
    std::fs::write(&file, "Hello {{ reporter.name }},\n\nThis line is fine.\n{% if %}broken\n").expect("writable");
    let coach =
        Coach::new(CoachingConfig { templates: Some(folder.clone()), ..CoachingConfig::default() }).expect("folder");

    let rendered = coach.outcome(&decision(Verdict::Benign, Category::None), None, &case());

    assert_eq!(rendered.issues.len(), 1, "{:?}", rendered.issues);
    let issue = &rendered.issues[0];
    assert_eq!(issue.file, file.display().to_string());
    assert_eq!(issue.line, Some(4));
    assert!(issue.to_string().contains(":4: syntax error"), "{issue}");
    assert!(rendered.text.contains("found it to be legitimate"), "the embedded default was not used");
}

#[test]
fn override_replaces_one_template() {
    let folder = override_folder("good");
    std::fs::write(folder.join("outcome/benign.subject.txt"), "All clear for {{ organization }}").expect("writable");
    let config = CoachingConfig {
        templates: Some(folder),
        organization: "Example Corp".to_string(),
        ..CoachingConfig::default()
    };
    let coach = Coach::new(config).expect("folder");

    let rendered = coach.outcome(&decision(Verdict::Benign, Category::None), None, &case());

    assert_eq!(rendered.subject, "All clear for Example Corp");
    assert!(rendered.issues.is_empty());
    assert!(rendered.text.contains("legitimate"), "other parts keep the embedded templates");
}

#[test]
fn endless_override_is_stopped() {
    let folder = override_folder("fuel");
    std::fs::write(
        folder.join("outcome/benign.body.txt"),
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    )
    .expect("writable");
    let coach = Coach::new(CoachingConfig { templates: Some(folder), ..CoachingConfig::default() }).expect("folder");

    let rendered = coach.outcome(&decision(Verdict::Benign, Category::None), None, &case());

    assert_eq!(rendered.issues.len(), 1);
    assert!(rendered.text.contains("legitimate"));
}

#[test]
fn every_embedded_template_is_listed() {
    let names = embedded_template_names();
    for kind in ["acknowledgement/default", "outcome/default", "lesson/default"] {
        for part in ["subject.txt", "body.txt", "body.html"] {
            assert!(names.contains(&format!("{kind}.{part}").as_str()), "{kind}.{part}");
        }
    }
}
