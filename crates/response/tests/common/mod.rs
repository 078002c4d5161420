//! Helpers shared by the planner tests: real analyses of small messages
//! written here, and decisions built by hand.

use phishloop_analysis::{Analyzer, Config, Mode};
use phishloop_model::{Category, Decision, MessageAnalysis, Verdict};

pub const ORG_DOMAIN: &str = "corp-example.com";

pub fn analyze(message: &str) -> MessageAnalysis {
    let mut config = Config::default();
    config.organization.domains = vec![ORG_DOMAIN.to_string()];
    let analyzer = Analyzer::new(config, Mode::default()).expect("valid analysis config");
    let records = analyzer.analyze_input(None, message.replace('\n', "\r\n").as_bytes()).expect("readable input");
    records.into_iter().next().and_then(|record| record.message).expect("an analysed message")
}

pub fn decision(verdict: Verdict, category: Category, confidence: f64, needs_review: bool) -> Decision {
    Decision {
        verdict,
        category,
        confidence,
        needs_review,
        review_reasons: Vec::new(),
        score: confidence,
        model: None,
        evidence: Vec::new(),
    }
}

/// A credential-harvesting lure with a deceptive link, an internal link, a
/// shortener, a free-mail sender, an image and an exposed token.
pub const LURE: &str = r#"From: "Microsoft Support" <alerts.team@gmail.com>
Reply-To: helpdesk@example-phish.net
To: dana.lee@corp-example.com
Subject: Your password expires today
Message-ID: <lure-1@example-phish.net>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><body>
<p>Your password expires today. Sign in within 24 hours to keep your mailbox.</p>
<p><a href="https://login.example-phish.net/wp/verify.php">https://www.examplebank.com/login</a></p>
<p><a href="https://intranet.corp-example.com/help">Help desk</a></p>
<p><a href="https://bit.ly/3xYzAbC">Short link</a></p>
<p><a href="https://www.microsoft.com/en-us/privacy">Privacy</a></p>
<img src="https://images.example-cdn.net/logo.png">
<p>Deploy token: ghp_1234567890abcdefghijABCDEFGHIJ123456</p>
</body></html>
"#;
