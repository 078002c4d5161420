//! Response: turning a triage decision into actions.
//!
//! [`plan`] is pure: from a [`Decision`](phishloop_model::Decision), the
//! reported original's [`MessageAnalysis`](phishloop_model::MessageAnalysis),
//! [`CaseFacts`] and the [`ResponseConfig`] it returns a [`Plan`] of
//! [`PlannedAction`]s, each with a concrete target, a mode, a connector and
//! an idempotency key. The [`Connector`]s are the only code here that does
//! I/O; the service decides when to run them and stores their
//! [`Outcome`]s.

mod action;
mod config;
mod connector;
mod defaults;
mod exclusion;
mod planner;

pub use action::{ActionKind, Mode, PlannedAction, Target, idempotency_key};
pub use config::{
    BUILT_IN_CONNECTORS, ConfigError, Playbook, ResponseConfig, SecretSource, Selector, Step, WebhookConfig,
};
pub use connector::{
    ATTEMPT_HEADER, BlockEntry, BlockKind, BlockList, BlockListConnector, BlockListError, Connector, DryRunRecord,
    IDEMPOTENCY_HEADER, LogConnector, Operation, Outcome, OutcomeStatus, SIGNATURE_HEADER, TIMESTAMP_HEADER,
    WebhookConnector, WebhookError, sign,
};
pub use defaults::default_playbooks;
pub use exclusion::SkipReason;
pub use planner::{CaseFacts, FALLBACK_PLAYBOOK, Plan, SkippedAction, plan};
