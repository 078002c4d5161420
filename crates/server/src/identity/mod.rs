//! Identity containment in the service: click evidence becomes per-person
//! verdicts on cases, the verdicts plan the identity steps of the
//! playbooks, the people who clicked get a lesson about the lure, and the
//! API shows each case's identity blast radius.
//!
//! - `clicks.rs` reads proxy, DNS and Defender evidence, matches it against
//!   the effective URLs and domains of open cases and stores the verdicts.
//! - `contain.rs` runs the `identity.contain` jobs that an import queues:
//!   it plans the case again with its clickers and submitters, carries out
//!   the automatic actions, and queues the clickers' lessons.
//! - `defender.rs` polls Defender URL-click events through Graph.
//! - `secrets.rs` tells the owner of a credential whose secret a reported
//!   message contains.
//! - `api.rs` serves `POST /api/v1/clicks` and the blast-radius views.
//!
//! A verdict change and its `click_recorded` event are one transaction.
//! The containment job is queued after that transaction under a key of the
//! case and import, so a retried import never plans twice, and a lost job
//! is made good by the next import or decision of the case, which plan
//! again from the stored verdicts.

pub(crate) mod api;
mod case;
pub(crate) mod clicks;
pub(crate) mod contain;
pub(crate) mod defender;
pub(crate) mod secrets;

use std::collections::BTreeSet;
use std::sync::Arc;

use phishloop_identity::{ClickSettings, IdentityConfig, IdentitySystems, Inventory};
use phishloop_model::{Category, Decision};
use phishloop_response::{ActionKind, Connector, ResponseConfig};
use phishloop_store::{IdentityPerson, PersonVerdict};

use crate::error::ServiceError;

pub(crate) use case::CaseContext;

/// The job kind of a containment run after new click verdicts.
pub(crate) const CONTAIN_JOB: &str = "identity.contain";

/// Action kinds that change accounts or credentials: only an admin or an
/// identity token may approve or undo them.
pub(crate) const IDENTITY_ACTION_KINDS: [ActionKind; 5] = [
    ActionKind::ResetPassword,
    ActionKind::RevokeSessions,
    ActionKind::RemoveMailboxRules,
    ActionKind::RevokeCredentials,
    ActionKind::RotateCredentials,
];

/// True when `kind` (as stored) is one of `IDENTITY_ACTION_KINDS`.
pub(crate) fn is_identity_kind(kind: &str) -> bool {
    IDENTITY_ACTION_KINDS.iter().any(|identity| identity.as_str() == kind)
}

/// The `[identity]` table once built: its connectors, the inventory and
/// the click settings.
pub(crate) struct IdentityParts {
    pub(crate) systems: Arc<IdentitySystems>,
    pub(crate) clicks: ClickSettings,
    /// The `[response]` table, whose exclusions decide which URLs and
    /// domains of a case count as the lure's.
    pub(crate) response: ResponseConfig,
}

impl std::fmt::Debug for IdentityParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityParts").field("systems", &self.systems).finish_non_exhaustive()
    }
}

impl Default for IdentityParts {
    fn default() -> Self {
        let systems = Arc::new(IdentitySystems {
            inventory: Arc::new(Inventory::default()),
            graph: None,
            connectors: Vec::new(),
        });
        IdentityParts { systems, clicks: ClickSettings::default(), response: ResponseConfig::default() }
    }
}

impl IdentityParts {
    /// Builds every configured connector, reads the connectors' secrets and
    /// the inventory file, and lists the credentials of the systems the
    /// inventory names.
    pub(crate) async fn new(config: &IdentityConfig) -> Result<Self, ServiceError> {
        let (systems, problems) = IdentitySystems::build(config)
            .await
            .map_err(|error| ServiceError::Config(format!("invalid [identity] table: {error}")))?;
        for problem in &problems {
            tracing::warn!(%problem, "inventory listing incomplete");
        }
        // The fan-out `identity` connector is always built, so the systems
        // configured are read from the table itself.
        let configured = config.graph.is_some()
            || config.okta.is_some()
            || config.google.is_some()
            || config.ldap.is_some()
            || config.vault.is_some()
            || config.github.is_some()
            || config.aws.is_some();
        if !configured && systems.inventory.credentials().is_empty() {
            tracing::info!("no identity systems configured");
        } else {
            tracing::info!(
                connectors = ?systems.connectors.iter().map(|c| c.name()).collect::<Vec<_>>(),
                credentials = systems.inventory.credentials().len(),
                "identity systems configured"
            );
        }
        Ok(IdentityParts {
            systems: Arc::new(systems),
            clicks: config.clicks.clone(),
            response: ResponseConfig::default(),
        })
    }

    /// Returns the parts with `response` as the `[response]` table.
    pub(crate) fn with_response(&self, response: &ResponseConfig) -> Self {
        IdentityParts { systems: Arc::clone(&self.systems), clicks: self.clicks.clone(), response: response.clone() }
    }

    /// Returns the connectors the responder registers.
    pub(crate) fn connectors(&self) -> Vec<Arc<dyn Connector>> {
        self.systems.connectors.clone()
    }

    pub(crate) fn inventory(&self) -> &Inventory {
        &self.systems.inventory
    }
}

/// The people of a case as the planner needs them: clickers (clicked or
/// submitted), submitters, and owners of non-human credentials at risk.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PeopleFacts {
    pub(crate) clickers: Vec<String>,
    pub(crate) submitters: Vec<String>,
    pub(crate) credential_owners: Vec<String>,
}

/// Derives the planner's people from stored verdicts. A credential owner is
/// a clicker who owns a credential in the inventory or, for a lure of
/// developer credentials, any person of the case who owns one, because
/// such a lure aims at exactly those credentials.
pub(crate) fn people_facts(people: &[IdentityPerson], inventory: &Inventory, decision: &Decision) -> PeopleFacts {
    let mut facts = PeopleFacts::default();
    let mut owners = BTreeSet::new();
    let developer_lure = decision.category == Category::DeveloperCredential;
    for person in people {
        let clicked = person.verdict != PersonVerdict::Received;
        if clicked {
            facts.clickers.push(person.address.clone());
        }
        if person.verdict == PersonVerdict::SubmittedCredentials {
            facts.submitters.push(person.address.clone());
        }
        let owns = !inventory.credentials_owned_by(&person.address).is_empty();
        if owns && (clicked || developer_lure) {
            owners.insert(person.address.clone());
        }
    }
    facts.credential_owners = owners.into_iter().collect();
    facts
}
