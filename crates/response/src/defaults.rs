//! The built-in playbooks. They give every verdict at least one action and
//! send everything through the `log` connector, a dry run, until an
//! installation names real connectors in its own playbooks.

use phishloop_model::{Category, Verdict};

use crate::action::{ActionKind, Mode};
use crate::config::{Playbook, Selector, Step};

/// Lowest confidence at which a malicious decision acts without approval.
const CONTAIN_CONFIDENCE: f64 = 0.8;

/// Returns the built-in playbooks in the order the planner tries them.
pub fn default_playbooks() -> Vec<Playbook> {
    vec![
        malicious_credential_harvesting(),
        identity_containment(),
        malicious(),
        review(),
        suspicious(),
        spam(),
        benign(),
        simulation(),
        exposed_secrets(),
    ]
}

fn step(action: ActionKind, target: Selector, mode: Mode) -> Step {
    Step { action, target, mode, connector: "log".to_string() }
}

fn playbook(name: &str, verdicts: &[Verdict], steps: Vec<Step>) -> Playbook {
    Playbook {
        name: name.to_string(),
        verdicts: verdicts.to_vec(),
        categories: Vec::new(),
        min_confidence: 0.0,
        min_reporters: 0,
        needs_review: None,
        steps,
    }
}

/// Contains a confident credential-harvesting decision: the links and their
/// domains are blocked, copies purged and clickers looked for. After
/// approval, the people who submitted credentials get a password reset and
/// lose their sessions, and everyone who clicked loses attacker mailbox
/// rules. The non-human credentials of clickers are rotated, because a
/// click may have given them away while the services that use them must
/// keep running.
fn malicious_credential_harvesting() -> Playbook {
    use ActionKind::*;
    use Selector::*;
    let steps = vec![
        step(BlockUrl, Urls, Mode::Auto),
        step(BlockDomain, UrlDomains, Mode::Auto),
        step(PurgeCopies, Message, Mode::Auto),
        step(FindClicks, Urls, Mode::Auto),
        step(ResetPassword, Submitters, Mode::Approve),
        step(RevokeSessions, Submitters, Mode::Approve),
        step(RemoveMailboxRules, Clickers, Mode::Approve),
        step(RotateCredentials, CredentialOwners, Mode::Approve),
    ];
    Playbook {
        categories: vec![
            Category::CredentialHarvesting,
            Category::QrPhishing,
            Category::OauthConsent,
            Category::DeveloperCredential,
        ],
        min_confidence: CONTAIN_CONFIDENCE,
        needs_review: Some(false),
        ..playbook("malicious-credential-harvesting", &[Verdict::Malicious], steps)
    }
}

/// Contains the people a malicious or suspicious lure of any category
/// reached, whatever the confidence. Once click evidence shows a click on
/// the lure site or a credential POST to it, the identity steps of the
/// credential-harvesting playbook apply, all after approval. A malware
/// lure whose landing page also requests a password leaves the same
/// exposed accounts, and so does a suspicious case still in review.
fn identity_containment() -> Playbook {
    use ActionKind::*;
    use Selector::*;
    let steps = vec![
        step(ResetPassword, Submitters, Mode::Approve),
        step(RevokeSessions, Submitters, Mode::Approve),
        step(RemoveMailboxRules, Clickers, Mode::Approve),
        step(RotateCredentials, CredentialOwners, Mode::Approve),
    ];
    playbook("identity-containment", &[Verdict::Malicious, Verdict::Suspicious], steps)
}

/// Contains any other confident malicious decision.
fn malicious() -> Playbook {
    use ActionKind::*;
    use Selector::*;
    let steps = vec![
        step(PurgeCopies, Message, Mode::Auto),
        step(BlockSender, Sender, Mode::Auto),
        step(BlockUrl, Urls, Mode::Auto),
        step(BlockDomain, UrlDomains, Mode::Approve),
        step(FindClicks, Urls, Mode::Auto),
        step(OpenTicket, Case, Mode::Auto),
        step(Notify, Analysts, Mode::Auto),
    ];
    Playbook {
        min_confidence: CONTAIN_CONFIDENCE,
        needs_review: Some(false),
        ..playbook("malicious", &[Verdict::Malicious], steps)
    }
}

/// Steps that wait for an analyst: the ticket and notification run at
/// once, containment only after approval.
fn review_steps() -> Vec<Step> {
    use ActionKind::*;
    use Selector::*;
    vec![
        step(OpenTicket, Case, Mode::Auto),
        step(Notify, Analysts, Mode::Auto),
        step(PurgeCopies, Message, Mode::Approve),
        step(BlockSender, Sender, Mode::Approve),
        step(BlockUrl, Urls, Mode::Approve),
        step(BlockDomain, UrlDomains, Mode::Approve),
        step(FindClicks, Urls, Mode::Auto),
    ]
}

/// Any decision that needs review, whatever its verdict.
fn review() -> Playbook {
    let verdicts = [Verdict::Malicious, Verdict::Suspicious, Verdict::Spam, Verdict::Benign];
    Playbook { needs_review: Some(true), ..playbook("review", &verdicts, review_steps()) }
}

/// Suspicious decisions, and malicious ones below the containment
/// confidence, that triage did not send to review.
fn suspicious() -> Playbook {
    playbook("suspicious", &[Verdict::Suspicious, Verdict::Malicious], review_steps())
}

fn spam() -> Playbook {
    let steps = vec![
        step(ActionKind::DismissWithThanks, Selector::Case, Mode::Auto),
        step(ActionKind::BlockSender, Selector::Sender, Mode::Approve),
    ];
    Playbook { needs_review: Some(false), ..playbook("spam", &[Verdict::Spam], steps) }
}

fn benign() -> Playbook {
    let steps = vec![step(ActionKind::DismissWithThanks, Selector::Case, Mode::Auto)];
    Playbook { needs_review: Some(false), ..playbook("benign", &[Verdict::Benign], steps) }
}

/// Authorised simulations: the reporter is thanked, nothing else happens.
fn simulation() -> Playbook {
    let steps = vec![step(ActionKind::DismissWithThanks, Selector::Case, Mode::Auto)];
    playbook("simulation", &[Verdict::Simulation], steps)
}

/// Secrets written in a message are exposed whatever the verdict: revoking
/// them needs approval because it can break the service that uses them.
fn exposed_secrets() -> Playbook {
    let verdicts = [Verdict::Malicious, Verdict::Suspicious, Verdict::Spam, Verdict::Benign];
    let steps = vec![step(ActionKind::RevokeCredentials, Selector::Secrets, Mode::Approve)];
    playbook("exposed-secrets", &verdicts, steps)
}
