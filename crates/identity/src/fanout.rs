//! The `identity` connector: carries one identity action out on every
//! configured system that handles its kind, so a playbook step such as
//! `reset_password` through `identity` forces the change in the directory,
//! in Entra ID and in Okta at once.
//!
//! | kind | systems |
//! |---|---|
//! | reset_password | ldap, graph, okta |
//! | revoke_sessions | graph, okta, google |
//! | remove_mailbox_rules | graph |
//! | revoke_credentials | graph (Entra application secrets), vault, aws, github |
//! | rotate_credentials | graph (Entra application secrets), vault, aws, github |
//!
//! Undo runs on the systems that can undo the action, today AWS for
//! deactivated access keys, and the details name the others.
//!
//! The outcome succeeds when every system that took part succeeded, fails
//! when any failed, and is `unsupported` when no configured system handles
//! the kind or target. Its `data.systems` lists each system's outcome.
//! Each system keeps its own record of succeeded keys, so a retry after a
//! partial failure sends nothing again to the systems that succeeded.

use std::sync::Arc;

use async_trait::async_trait;
use phishloop_response::{ActionKind, Connector, Operation, Outcome, OutcomeStatus, PlannedAction};
use serde_json::json;

/// The name of the fan-out connector in playbook steps.
pub const IDENTITY_CONNECTOR: &str = "identity";

/// One system of the fan-out and the kinds it takes part in.
struct Member {
    connector: Arc<dyn Connector>,
    kinds: &'static [ActionKind],
}

/// Carries identity actions out on every configured system at once.
pub struct IdentityConnector {
    members: Vec<Member>,
    /// Whether `[identity.rotation]` is configured. Without it a rotation
    /// fails before any system acts, so that a Vault lease is not revoked
    /// while the AWS keys of the same action stay as they were.
    rotation: bool,
}

impl IdentityConnector {
    /// Builds the fan-out over `members`, each with the kinds it takes
    /// part in (see the `*_KINDS` constants).
    pub(crate) fn new(members: Vec<(Arc<dyn Connector>, &'static [ActionKind])>, rotation: bool) -> Self {
        let members = members.into_iter().map(|(connector, kinds)| Member { connector, kinds }).collect();
        IdentityConnector { members, rotation }
    }

    fn members_for(&self, kind: ActionKind) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(move |member| member.kinds.contains(&kind))
    }

    async fn fan_out(&self, action: &PlannedAction, operation: Operation) -> Outcome {
        if action.kind == ActionKind::RotateCredentials && operation == Operation::Execute && !self.rotation {
            let details = "rotate_credentials needs [identity.rotation] and [identity.vault] to keep the new \
                           secrets; nothing was changed. Configure them, or use revoke_credentials";
            return Outcome::new(IDENTITY_CONNECTOR, action, operation, OutcomeStatus::Failed, details.to_string());
        }
        let mut outcomes = Vec::new();
        let mut not_undone = Vec::new();
        for member in self.members_for(action.kind) {
            let outcome = match operation {
                Operation::Execute => member.connector.execute(action).await,
                Operation::Undo if member.connector.can_undo(action) => member.connector.undo(action).await,
                Operation::Undo => {
                    not_undone.push(member.connector.name().to_string());
                    continue;
                }
            };
            outcomes.push(outcome);
        }
        let mut outcome = combine(action, operation, &outcomes);
        if !not_undone.is_empty() {
            outcome.details =
                format!("{}; not undone on {}, which cannot undo it", outcome.details, not_undone.join(", "));
        }
        outcome
    }
}

// The kinds each connector type takes part in. The lists keep a kind away
// from a system whose version of it means something else here: Okta's and
// Google's revoke_credentials revoke a person's own OAuth grants, not the
// non-human credentials the fan-out's revoke_credentials is for, and
// purges belong to mail, not identity.
pub(crate) const GRAPH_KINDS: &[ActionKind] = &[
    ActionKind::ResetPassword,
    ActionKind::RevokeSessions,
    ActionKind::RemoveMailboxRules,
    ActionKind::RevokeCredentials,
    ActionKind::RotateCredentials,
];
pub(crate) const OKTA_KINDS: &[ActionKind] = &[ActionKind::ResetPassword, ActionKind::RevokeSessions];
pub(crate) const GOOGLE_KINDS: &[ActionKind] = &[ActionKind::RevokeSessions];
pub(crate) const LDAP_KINDS: &[ActionKind] = &[ActionKind::ResetPassword];
pub(crate) const CREDENTIAL_KINDS: &[ActionKind] = &[ActionKind::RevokeCredentials, ActionKind::RotateCredentials];

fn combine(action: &PlannedAction, operation: Operation, outcomes: &[Outcome]) -> Outcome {
    let taking_part: Vec<&Outcome> =
        outcomes.iter().filter(|outcome| outcome.status != OutcomeStatus::Unsupported).collect();
    let status = if taking_part.is_empty() {
        OutcomeStatus::Unsupported
    } else if taking_part.iter().any(|outcome| outcome.status == OutcomeStatus::Failed) {
        OutcomeStatus::Failed
    } else {
        OutcomeStatus::Succeeded
    };
    let details = if taking_part.is_empty() {
        format!("no configured identity system carries out {} for {}", action.kind, action.target.canonical())
    } else {
        let parts: Vec<String> =
            taking_part.iter().map(|outcome| format!("{}: {}", outcome.connector, outcome.details)).collect();
        parts.join("; ")
    };

    let mut outcome = Outcome::new(IDENTITY_CONNECTOR, action, operation, status, details);
    outcome.attempts = outcomes.iter().map(|outcome| outcome.attempts).sum::<u32>().max(1);
    let systems: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|outcome| {
            json!({
                "connector": outcome.connector,
                "status": outcome.status,
                "details": outcome.details,
                "attempts": outcome.attempts,
                "at": outcome.at,
            })
        })
        .collect();
    outcome.data = Some(json!({ "systems": systems }));
    outcome
}

#[async_trait]
impl Connector for IdentityConnector {
    fn name(&self) -> &str {
        IDENTITY_CONNECTOR
    }

    /// True when a system of the fan-out can undo this action, such as
    /// AWS for a deactivated access key.
    fn can_undo(&self, action: &PlannedAction) -> bool {
        self.members_for(action.kind).any(|member| member.connector.can_undo(action))
    }

    async fn execute(&self, action: &PlannedAction) -> Outcome {
        self.fan_out(action, Operation::Execute).await
    }

    async fn undo(&self, action: &PlannedAction) -> Outcome {
        self.fan_out(action, Operation::Undo).await
    }
}
