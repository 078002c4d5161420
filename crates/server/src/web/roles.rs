//! What each role of the web interface may see and do.
//!
//! | permission | admin | analyst | identity | awareness | auditor |
//! |---|---|---|---|---|---|
//! | queue, cases, campaigns, the reported message | yes | yes | yes | no | yes |
//! | dashboard | yes | yes | yes | yes | yes |
//! | messages to people (coaching) | yes | yes | no | yes | yes |
//! | correct a verdict | yes | yes | no | no | no |
//! | approve, reject, retry, undo mail, block and case actions | yes | yes | no | no | no |
//! | approve, reject, retry, undo identity actions | yes | no | yes | no | no |
//! | approve, reject, retry, undo actions of a kind this version does not know | yes | no | no | no | no |
//!
//! Identity actions change accounts: password resets, session and
//! credential revocation, mailbox-rule removal. Every check runs on the
//! server for each request; pages hide the buttons a role may not use, but
//! a request without the permission gets 403 all the same.

use phishloop_response::ActionKind;
use phishloop_store::UserRole;

/// Something a signed-in person requests to see or do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Permission {
    ReadCases,
    ReadDashboard,
    ReadOutbox,
    CorrectVerdict,
    DecideMailAction,
    DecideIdentityAction,
    DecideUnknownAction,
}

impl Permission {
    /// The request in words, for the 403 page.
    pub(crate) fn action(self) -> &'static str {
        match self {
            Self::ReadCases => "read cases",
            Self::ReadDashboard => "read the dashboard",
            Self::ReadOutbox => "read the messages to people",
            Self::CorrectVerdict => "change verdicts",
            Self::DecideMailAction => "approve, reject, retry or undo mail, block and case actions",
            Self::DecideIdentityAction => "approve, reject, retry or undo identity actions",
            Self::DecideUnknownAction => "approve, reject, retry or undo actions of this kind",
        }
    }

    pub(crate) fn allowed(self, role: UserRole) -> bool {
        use UserRole::{Admin, Analyst, Auditor, Awareness, Identity};
        match self {
            Self::ReadCases => matches!(role, Admin | Analyst | Identity | Auditor),
            Self::ReadDashboard => true,
            Self::ReadOutbox => matches!(role, Admin | Analyst | Awareness | Auditor),
            Self::CorrectVerdict | Self::DecideMailAction => matches!(role, Admin | Analyst),
            Self::DecideIdentityAction => matches!(role, Admin | Identity),
            Self::DecideUnknownAction => role == Admin,
        }
    }

    /// Returns the permission that approving, rejecting or undoing an
    /// action of `kind` needs.
    pub(crate) fn to_decide(kind: &str) -> Self {
        let Ok(kind) = serde_json::from_value::<ActionKind>(serde_json::Value::String(kind.to_owned())) else {
            return Self::DecideUnknownAction;
        };
        match kind {
            ActionKind::ResetPassword
            | ActionKind::RevokeSessions
            | ActionKind::RemoveMailboxRules
            | ActionKind::RevokeCredentials
            | ActionKind::RotateCredentials => Self::DecideIdentityAction,
            ActionKind::PurgeCopies
            | ActionKind::BlockSender
            | ActionKind::BlockDomain
            | ActionKind::BlockUrl
            | ActionKind::FindClicks
            | ActionKind::Notify
            | ActionKind::OpenTicket
            | ActionKind::DismissWithThanks => Self::DecideMailAction,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_actions_need_identity_role() {
        let permission = Permission::to_decide("reset_password");

        assert_eq!(permission, Permission::DecideIdentityAction);
        assert!(permission.allowed(UserRole::Identity));
        assert!(permission.allowed(UserRole::Admin));
        assert!(!permission.allowed(UserRole::Analyst));
    }

    #[test]
    fn block_actions_need_analyst_role() {
        let permission = Permission::to_decide("block_domain");

        assert!(permission.allowed(UserRole::Analyst));
        assert!(!permission.allowed(UserRole::Identity));
        assert!(!permission.allowed(UserRole::Auditor));
    }

    #[test]
    fn unknown_kind_needs_admin() {
        let permission = Permission::to_decide("launch_rocket");

        assert!(permission.allowed(UserRole::Admin));
        assert!(!permission.allowed(UserRole::Analyst));
    }

    #[test]
    fn auditor_reads_but_changes_nothing() {
        assert!(Permission::ReadCases.allowed(UserRole::Auditor));
        assert!(Permission::ReadOutbox.allowed(UserRole::Auditor));
        assert!(!Permission::CorrectVerdict.allowed(UserRole::Auditor));
        assert!(!Permission::DecideMailAction.allowed(UserRole::Auditor));
    }

    #[test]
    fn awareness_reads_dashboard_not_cases() {
        assert!(Permission::ReadDashboard.allowed(UserRole::Awareness));
        assert!(Permission::ReadOutbox.allowed(UserRole::Awareness));
        assert!(!Permission::ReadCases.allowed(UserRole::Awareness));
    }
}
