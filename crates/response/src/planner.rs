//! The planner: a pure function from a decision and its message to the
//! actions the playbooks ask for.

use std::collections::HashSet;

use phishloop_model::{Decision, Mailbox, MessageAnalysis, Verdict};
use serde::{Deserialize, Serialize};

use crate::action::{ActionKind, Mode, PlannedAction, Target, idempotency_key};
use crate::config::{Playbook, ResponseConfig, Selector, Step};
use crate::exclusion::{
    Exclusion, ExclusionPolicy, SkipReason, check_blockable_url, check_blockable_url_domain, check_followed_web_url,
    normalize,
};

/// Facts about the case that the message alone does not show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFacts {
    pub case_id: String,
    /// People who reported the campaign, counting every merged report.
    pub reporter_count: u32,
    /// Addresses of the reporters, where known.
    pub reporters: Vec<String>,
    /// Addresses of people known to have clicked or submitted credentials,
    /// for example from an earlier `find_clicks` outcome. Planning again
    /// with more clickers adds actions for the new people only, because the
    /// others' keys are unchanged.
    pub clickers: Vec<String>,
    /// Addresses of the people among the clickers whose evidence shows a
    /// credential submission (a POST to the phishing host).
    #[serde(default)]
    pub submitters: Vec<String>,
    /// Addresses of people whose non-human credentials the lure put at
    /// risk: clickers who own credentials in the inventory and, for a lure
    /// of developer credentials, every recipient who owns one. The service
    /// fills it from its inventory.
    #[serde(default)]
    pub credential_owners: Vec<String>,
}

/// The actions planned for one decision, and what was left out and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub case_id: String,
    /// Names of the playbooks that matched, in order.
    pub playbooks: Vec<String>,
    /// At least one action for every decision.
    pub actions: Vec<PlannedAction>,
    pub skipped: Vec<SkippedAction>,
}

/// A step or target left out of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkippedAction {
    pub playbook: String,
    pub kind: ActionKind,
    /// The target that was left out; `None` when the step found none.
    pub target: Option<Target>,
    pub reason: SkipReason,
    /// The reason in words, for the analyst reading the plan.
    pub explanation: String,
}

/// Name recorded on the action added when no playbook planned anything.
pub const FALLBACK_PLAYBOOK: &str = "fallback";

/// A target found by a selector, with the reason to leave it out, if any.
struct Candidate {
    target: Target,
    exclusion: Option<Exclusion>,
}

/// Plans the actions for a decision.
///
/// Playbooks are tried in the order of [`ResponseConfig::effective_playbooks`]
/// and every matching one contributes its steps. When two steps give the same
/// kind and target, the first one decides the mode and connector. So an
/// `off` step switches that action off for later playbooks too. Targets come
/// only from `message`, the reported original, and from `facts`.
///
/// Three rules hold whatever the configuration says: simulations get
/// only thanks and notifications, internal and shared domains are never
/// blocked, and when no step yields an action an analyst notification is
/// planned through the `log` connector, so every decision gets one.
pub fn plan(
    decision: &Decision,
    message: Option<&MessageAnalysis>,
    facts: &CaseFacts,
    config: &ResponseConfig,
) -> Plan {
    let policy = ExclusionPolicy::new(config, message);
    let mut planner = Planner { decision, message, facts, config, policy: &policy, seen: HashSet::new() };
    let mut plan =
        Plan { case_id: facts.case_id.clone(), playbooks: Vec::new(), actions: Vec::new(), skipped: Vec::new() };

    for playbook in config.effective_playbooks() {
        if !matches(&playbook, decision, facts) {
            continue;
        }
        plan.playbooks.push(playbook.name.clone());
        for step in &playbook.steps {
            planner.plan_step(&playbook, step, &mut plan);
        }
    }

    if plan.actions.is_empty() {
        plan.actions.push(fallback_action(facts));
    }
    plan
}

/// True when a playbook applies to the decision and case.
fn matches(playbook: &Playbook, decision: &Decision, facts: &CaseFacts) -> bool {
    (playbook.verdicts.is_empty() || playbook.verdicts.contains(&decision.verdict))
        && (playbook.categories.is_empty() || playbook.categories.contains(&decision.category))
        && decision.confidence >= playbook.min_confidence
        && facts.reporter_count >= playbook.min_reporters
        && playbook.needs_review.is_none_or(|needs_review| needs_review == decision.needs_review)
}

fn fallback_action(facts: &CaseFacts) -> PlannedAction {
    let target = Target::Team { name: "analysts".to_string() };
    PlannedAction {
        case_id: facts.case_id.clone(),
        kind: ActionKind::Notify,
        idempotency_key: idempotency_key(&facts.case_id, ActionKind::Notify, &target, "log"),
        target,
        mode: Mode::Auto,
        connector: "log".to_string(),
        playbook: FALLBACK_PLAYBOOK.to_string(),
        reversible: false,
        note: Some("no playbook step planned an action for this decision".to_string()),
    }
}

struct Planner<'a> {
    decision: &'a Decision,
    message: Option<&'a MessageAnalysis>,
    facts: &'a CaseFacts,
    config: &'a ResponseConfig,
    policy: &'a ExclusionPolicy,
    /// Idempotency keys already decided, planned or not.
    seen: HashSet<String>,
}

impl Planner<'_> {
    fn plan_step(&mut self, playbook: &Playbook, step: &Step, plan: &mut Plan) {
        let candidates = self.resolve(step.target);
        if candidates.is_empty() {
            plan.skipped.push(SkippedAction {
                playbook: playbook.name.clone(),
                kind: step.action,
                target: None,
                reason: SkipReason::NoTargets,
                explanation: format!("no {} in this case", step.target.as_str().replace('_', " ")),
            });
            return;
        }

        for candidate in candidates {
            let key = idempotency_key(&self.facts.case_id, step.action, &candidate.target, &step.connector);
            if !self.seen.insert(key.clone()) {
                continue;
            }
            let skip = |reason, explanation| SkippedAction {
                playbook: playbook.name.clone(),
                kind: step.action,
                target: Some(candidate.target.clone()),
                reason,
                explanation,
            };
            if let Some(exclusion) = candidate.exclusion {
                plan.skipped.push(skip(exclusion.reason, exclusion.explanation));
            } else if step.mode == Mode::Off {
                plan.skipped.push(skip(SkipReason::StepOff, "the step is configured off".to_string()));
            } else if self.decision.verdict == Verdict::Simulation && !step.action.allowed_for_simulation() {
                let explanation = "authorised simulations are thanked and never acted on".to_string();
                plan.skipped.push(skip(SkipReason::Simulation, explanation));
            } else {
                plan.actions.push(self.action(playbook, step, candidate.target, key));
            }
        }
    }

    fn action(&self, playbook: &Playbook, step: &Step, target: Target, key: String) -> PlannedAction {
        let downgrade = step.mode == Mode::Auto
            && self.decision.needs_review
            && self.config.review_requires_approval
            && !step.action.is_read_only();
        let (mode, note) = if downgrade {
            (Mode::Approve, Some("approval required because the decision needs review".to_string()))
        } else {
            (step.mode, None)
        };
        PlannedAction {
            case_id: self.facts.case_id.clone(),
            kind: step.action,
            target,
            mode,
            connector: step.connector.clone(),
            idempotency_key: key,
            playbook: playbook.name.clone(),
            reversible: step.action.is_reversible(),
            note,
        }
    }

    fn resolve(&self, selector: Selector) -> Vec<Candidate> {
        match selector {
            Selector::Urls => self.urls(),
            Selector::UrlDomains => self.url_domains(),
            Selector::Sender => self.senders(),
            Selector::SenderDomains => self.sender_domains(),
            Selector::Message => self.message_target().into_iter().collect(),
            Selector::Clickers => people(&self.facts.clickers),
            Selector::Submitters => people(&self.facts.submitters),
            Selector::CredentialOwners => people(&self.facts.credential_owners),
            Selector::Reporters => people(&self.facts.reporters),
            Selector::Secrets => self.secrets(),
            Selector::Analysts => vec![allowed(Target::Team { name: "analysts".to_string() })],
            Selector::Case => vec![allowed(Target::Case { case_id: self.facts.case_id.clone() })],
        }
    }

    /// Effective URLs that a reader follows, without wrappers that could
    /// not be unwrapped and real brand sites: neither is blocked, and a
    /// visit to either is no click on the lure.
    fn urls(&self) -> Vec<Candidate> {
        let Some(message) = self.message else { return Vec::new() };
        let mut seen = HashSet::new();
        let mut candidates = Vec::new();

        for url in &message.urls {
            if !seen.insert(url.effective.as_str()) {
                continue;
            }
            let exclusion = check_followed_web_url(url)
                .or_else(|| self.policy.check_url_host(url))
                .or_else(|| check_blockable_url(url));
            candidates.push(Candidate { target: Target::Url { url: url.effective.clone() }, exclusion });
        }
        candidates
    }

    fn url_domains(&self) -> Vec<Candidate> {
        let Some(message) = self.message else { return Vec::new() };
        let mut seen = HashSet::new();
        let mut candidates = Vec::new();

        for url in &message.urls {
            if check_followed_web_url(url).is_some() {
                continue;
            }
            let Some(domain) = url.registrable_domain.as_deref().or(url.host.as_deref()) else { continue };
            let domain = normalize(domain);
            if !seen.insert(domain.clone()) {
                continue;
            }
            let exclusion = self.policy.check_domain(&domain).or_else(|| check_blockable_url_domain(url));
            candidates.push(Candidate { target: Target::Domain { domain }, exclusion });
        }
        candidates
    }

    /// Returns the From and Reply-To mailboxes that have a well-formed address,
    /// each with whether it is a From mailbox.
    fn sender_mailboxes(&self) -> Vec<(&Mailbox, bool)> {
        let Some(message) = self.message else { return Vec::new() };
        let from = message.headers.from.iter().map(|mailbox| (mailbox, true));
        let reply_to = message.headers.reply_to.iter().map(|mailbox| (mailbox, false));
        from.chain(reply_to).filter(|(mailbox, _)| mailbox.address.is_some() && mailbox.domain.is_some()).collect()
    }

    /// Returns the From registrable domain and its brand, when analysis found
    /// that a known brand owns it.
    fn sender_brand_domain(&self) -> Option<(&str, &str)> {
        let sender = &self.message?.sender;
        Some((sender.from_registrable_domain.as_deref()?, sender.from_brand.as_deref()?))
    }

    fn senders(&self) -> Vec<Candidate> {
        let mut seen = HashSet::new();
        let mut candidates = Vec::new();

        for (mailbox, is_from) in self.sender_mailboxes() {
            let address = mailbox.address.as_deref().unwrap_or_default().to_lowercase();
            if !seen.insert(address.clone()) {
                continue;
            }
            let domain = mailbox.registrable_domain.as_deref().or(mailbox.domain.as_deref()).unwrap_or_default();
            let exclusion = self.sender_exclusion(domain, is_from, &address);
            candidates.push(Candidate { target: Target::Sender { address }, exclusion });
        }
        candidates
    }

    /// Blocking one address at a free-mail provider is fine; blocking an
    /// internal address or a brand's real address (forged in the From
    /// header) is not.
    fn sender_exclusion(&self, domain: &str, is_from: bool, address: &str) -> Option<Exclusion> {
        match self.policy.check_domain(domain) {
            // An address at a free-mail provider is the sender's own.
            Some(exclusion) if exclusion.reason == SkipReason::SharedService => return None,
            Some(exclusion) => return Some(exclusion),
            None => {}
        }
        match self.sender_brand_domain() {
            Some((brand_domain, brand)) if is_from && brand_domain == domain => Some(Exclusion {
                reason: SkipReason::BrandDomain,
                explanation: format!("{address} is at a real domain of {brand}, probably forged"),
            }),
            _ => None,
        }
    }

    fn sender_domains(&self) -> Vec<Candidate> {
        let mut seen = HashSet::new();
        let mut candidates = Vec::new();

        for (mailbox, is_from) in self.sender_mailboxes() {
            let Some(domain) = mailbox.registrable_domain.as_deref().or(mailbox.domain.as_deref()) else { continue };
            let domain = normalize(domain);
            if !seen.insert(domain.clone()) {
                continue;
            }
            let exclusion = self.policy.check_domain(&domain).or_else(|| match self.sender_brand_domain() {
                Some((brand_domain, brand)) if is_from && brand_domain == domain => Some(Exclusion {
                    reason: SkipReason::BrandDomain,
                    explanation: format!("{domain} is a real domain of {brand}"),
                }),
                _ => None,
            });
            candidates.push(Candidate { target: Target::Domain { domain }, exclusion });
        }
        candidates
    }

    fn message_target(&self) -> Option<Candidate> {
        let message = self.message?;
        if message.content_fingerprint.is_empty() && message.headers.message_id.is_none() {
            return None;
        }
        Some(allowed(Target::Message {
            message_id: message.headers.message_id.clone(),
            content_fingerprint: message.content_fingerprint.clone(),
            subject: message.headers.subject.clone(),
            sender: message
                .headers
                .from
                .first()
                .and_then(|mailbox| mailbox.address.as_deref())
                .map(|address| address.trim().to_lowercase()),
        }))
    }

    fn secrets(&self) -> Vec<Candidate> {
        let Some(message) = self.message else { return Vec::new() };
        let mut seen = HashSet::new();
        message
            .secrets
            .iter()
            .filter(|secret| seen.insert(secret.sha256.as_str()))
            .map(|secret| {
                allowed(Target::Secret {
                    kind: secret.kind,
                    location: secret.location.clone(),
                    redacted: secret.redacted.clone(),
                    sha256: secret.sha256.clone(),
                })
            })
            .collect()
    }
}

fn allowed(target: Target) -> Candidate {
    Candidate { target, exclusion: None }
}

fn people(addresses: &[String]) -> Vec<Candidate> {
    let mut seen = HashSet::new();
    addresses
        .iter()
        .map(|address| address.trim().to_lowercase())
        .filter(|address| !address.is_empty() && seen.insert(address.clone()))
        .map(|address| allowed(Target::Person { address }))
        .collect()
}
