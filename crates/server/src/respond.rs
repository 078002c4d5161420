//! Closing the loop after a decision: planning and carrying out actions,
//! approvals and undo.
//!
//! Every step is safe to repeat. Actions are stored under the planner's
//! idempotency key, so a retried job finds its earlier actions instead of
//! planning new ones. An action moves to its next status only from the
//! status it was read in, so two approvers never both carry it out.
//! Connectors are idempotent per key, so an action left `running` by a
//! crashed worker runs again on the next attempt.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use phishloop_model::{Decision, MessageAnalysis};
use phishloop_response::{
    CaseFacts, Connector, LogConnector, Mode, Operation, OutcomeStatus, PlannedAction, ResponseConfig,
    WebhookConnector, plan,
};
use phishloop_store::{
    Action, ActionMode, ActionStatus, ActionTransition, EventSubject, NewAction, Report, Store, StoreError,
};
use serde_json::json;
use uuid::Uuid;

use crate::block_feed::StoredBlockList;
use crate::error::ServiceError;
use crate::intake::UNKNOWN_REPORTER;

/// The result of `Responder::respond` for a case, which the notifier reports.
#[derive(Debug)]
pub(crate) struct Responded {
    /// Every action of the case afterwards.
    pub(crate) actions: Vec<Action>,
    /// The case's reporter addresses in lowercase, as read for the plan.
    pub(crate) reporters: BTreeSet<String>,
}

/// The planner's configuration and the connectors that carry actions out.
pub(crate) struct Responder {
    store: Store,
    config: ResponseConfig,
    connectors: HashMap<String, Arc<dyn Connector>>,
    /// See `with_running_stale_after`.
    running_stale_after: Duration,
    /// Owners of non-human credentials, for the `credential_owners` targets.
    inventory: Arc<phishloop_identity::Inventory>,
    /// The `blocklist` connector, also under its name in `connectors`.
    block_list: Arc<StoredBlockList>,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.connectors.keys().collect();
        names.sort();
        f.debug_struct("Responder").field("connectors", &names).finish_non_exhaustive()
    }
}

impl Responder {
    /// Validates `config` and builds its connectors: `log`, `blocklist`,
    /// the service's `extra` connectors (such as `imap`) under their names,
    /// and one per webhook, whose secret is read here.
    pub(crate) fn new(
        store: Store,
        config: ResponseConfig,
        extra: &[Arc<dyn Connector>],
    ) -> Result<Self, ServiceError> {
        let extra_names: Vec<&str> = extra.iter().map(|connector| connector.name()).collect();
        config
            .validate(&extra_names)
            .map_err(|error| ServiceError::Config(format!("invalid [response] table: {error}")))?;
        let mut connectors: HashMap<String, Arc<dyn Connector>> = HashMap::new();
        connectors.insert("log".to_owned(), Arc::new(LogConnector::new()));
        let block_list = Arc::new(StoredBlockList::new(store.clone()));
        connectors.insert("blocklist".to_owned(), Arc::clone(&block_list) as Arc<dyn Connector>);
        for connector in extra {
            connectors.insert(connector.name().to_owned(), Arc::clone(connector));
        }
        for webhook in &config.webhooks {
            let connector = WebhookConnector::new(webhook)
                .map_err(|error| ServiceError::Config(format!("response.webhooks {:?}: {error}", webhook.name)))?;
            connectors.insert(webhook.name.clone(), Arc::new(connector));
        }
        Ok(Self {
            store,
            config,
            connectors,
            running_stale_after: Duration::from_secs(30),
            inventory: Arc::new(phishloop_identity::Inventory::default()),
            block_list,
        })
    }

    /// The inventory of non-human credentials and their owners.
    pub(crate) fn inventory(&self) -> &phishloop_identity::Inventory {
        &self.inventory
    }

    /// Sets the inventory whose owners become `credential_owners` targets.
    pub(crate) fn with_inventory(mut self, inventory: Arc<phishloop_identity::Inventory>) -> Self {
        self.inventory = inventory;
        self
    }

    /// Sets how long a `running` action may go without a heartbeat before
    /// another worker takes it over. The service uses half the job lease, so
    /// the retry of a killed worker's job finds the action free.
    pub(crate) fn with_running_stale_after(mut self, stale_after: Duration) -> Self {
        self.running_stale_after = stale_after.max(Duration::from_millis(300));
        self
    }

    /// Plans the actions for a decided report, stores them and carries out
    /// the `auto` ones. Returns every action of the case afterwards, with
    /// the case's reporters.
    pub(crate) async fn respond(
        &self,
        report: &Report,
        case_id: Uuid,
        decision: &Decision,
        message: Option<&MessageAnalysis>,
    ) -> Result<Responded, ServiceError> {
        let (facts, reporters) = self.case_facts(case_id, decision).await?;
        let planned = plan(decision, message, &facts, &self.config);
        self.store_planned(report.id, case_id, &planned.actions).await?;

        let mut actions = self.store.actions_for_case(case_id).await?;
        let mut local = Vec::new();
        let mut remote = Vec::new();
        for action in &actions {
            if action.mode != ActionMode::Auto {
                continue;
            }
            let action = match action.status {
                ActionStatus::Planned => action.clone(),
                // Another worker may be running it right now: take it over
                // only when its heartbeat stopped, as after a killed worker.
                ActionStatus::Running => {
                    match self.store.claim_running_action(action.id, self.running_stale_after).await? {
                        Some(action) => action,
                        None => continue,
                    }
                }
                _ => continue,
            };
            if is_local(&action.connector) && self.connectors.contains_key(&action.connector) {
                local.push(action);
            } else {
                remote.push(action);
            }
        }
        // The block list and the dry-run log act at once, so they go first
        // and their outcomes are stored together.
        let mut moved = self.execute_local(local).await?;
        for action in remote {
            match self.execute(action).await {
                Ok(action) => moved.push(Some(action)),
                // Another worker moved it on first, such as the job of a second report of the case.
                Err(ServiceError::Store(StoreError::ActionStatusConflict { .. })) => moved.push(None),
                Err(error) => return Err(error),
            }
        }

        // The list read above plus the outcomes of this call is the case's
        // state, unless another worker moved an action meanwhile.
        if moved.iter().any(Option::is_none) {
            actions = self.store.actions_for_case(case_id).await?;
        } else {
            for action in moved.into_iter().flatten() {
                if let Some(listed) = actions.iter_mut().find(|listed| listed.id == action.id) {
                    *listed = action;
                }
            }
        }
        Ok(Responded { actions, reporters })
    }

    /// Returns the case's reporters and people as the planner needs them.
    /// The reporter `unknown` counts as a report but has no address. The
    /// reporter count is the larger of the case's and its campaign's. The
    /// clickers, submitters and credential owners come from the case's
    /// stored click verdicts and the identity inventory.
    /// Also returns every reporter address of the case in lowercase.
    async fn case_facts(
        &self,
        case_id: Uuid,
        decision: &Decision,
    ) -> Result<(CaseFacts, BTreeSet<String>), ServiceError> {
        // Only the reporters are read, not the case's reports with their analyses.
        let case_reporters = self.store.case_reporters(case_id).await?;
        if case_reporters.is_empty() && self.store.get_case(case_id).await?.is_none() {
            return Err(ServiceError::NotFound { what: "case", id: case_id });
        }
        let reporters: Vec<String> = case_reporters
            .iter()
            .filter(|reporter| reporter.address != UNKNOWN_REPORTER)
            .map(|reporter| reporter.address.to_lowercase())
            .collect();
        // A playbook's reporter threshold counts the whole campaign: ten people
        // reporting ten per-recipient variants of one lure are ten reports of it.
        let case_count = u64::try_from(case_reporters.len()).unwrap_or(u64::MAX);
        let reporter_count = case_count.max(self.store.campaign_reporter_count(case_id).await?);
        let people = self.store.identity_people(case_id).await?;
        let people = crate::identity::people_facts(&people, &self.inventory, decision);
        let all_reporters = case_reporters.iter().map(|reporter| reporter.address.to_lowercase()).collect();
        let facts = CaseFacts {
            case_id: case_id.to_string(),
            reporter_count: u32::try_from(reporter_count).unwrap_or(u32::MAX),
            reporters,
            clickers: people.clickers,
            submitters: people.submitters,
            credential_owners: people.credential_owners,
        };
        Ok((facts, all_reporters))
    }

    /// Stores the planned actions with an `action_planned` event for each
    /// new one, in one transaction.
    async fn store_planned(
        &self,
        report_id: Uuid,
        case_id: Uuid,
        planned: &[PlannedAction],
    ) -> Result<(), ServiceError> {
        let mut actions = Vec::with_capacity(planned.len());
        for action in planned {
            actions.push(NewAction {
                case_id,
                kind: action.kind.as_str().to_owned(),
                target: serde_json::to_value(&action.target).map_err(json_error)?,
                mode: if action.mode == Mode::Auto { ActionMode::Auto } else { ActionMode::Approve },
                connector: action.connector.clone(),
                playbook: action.playbook.clone(),
                reversible: action.reversible,
                note: action.note.clone(),
                idempotency_key: action.idempotency_key.clone(),
            });
        }
        let payload = |stored: &Action| {
            json!({
                "action_id": stored.id,
                "report_id": report_id,
                "kind": stored.kind,
                "target": stored.target,
                "mode": stored.mode,
                "connector": stored.connector,
                "playbook": stored.playbook,
                "status": stored.status,
            })
        };
        let created = self.store.create_actions_recorded(&actions, "action_planned", payload).await?;
        for stored in created.iter().filter(|created| created.created).map(|created| &created.action) {
            tracing::info!(%case_id, action_id = %stored.id, kind = %stored.kind, mode = %stored.mode, "action planned");
        }
        Ok(())
    }

    /// Carries out an action that is `planned`, `approved` or left `running`
    /// by an earlier attempt, stores the outcome and appends
    /// `action_executed` or `action_failed` in the same transaction.
    ///
    /// An action of a connector that works inside phishloop (`log`,
    /// `blocklist`) goes straight to its final status, because such a
    /// connector finishes or fails in the same process and a `running`
    /// status would carry no information. Any other action is `running` while its connector
    /// works, so a crash leaves a trace that the next attempt picks up.
    pub(crate) async fn execute(&self, action: Action) -> Result<Action, ServiceError> {
        let Some(connector) = self.connectors.get(&action.connector) else {
            let details = format!("connector {:?} is not configured in this process", action.connector);
            let outcome = json!({ "operation": "execute", "status": "failed", "details": details });
            return self.finish(action.id, action.status, ActionStatus::Failed, outcome, "action_failed").await;
        };
        let planned = planned_action(&action)?;
        let from = if is_local(&action.connector) || action.status == ActionStatus::Running {
            action.status
        } else {
            self.store.transition_action(action.id, action.status, ActionStatus::Running, None).await?.status
        };

        let outcome = if is_local(&action.connector) {
            connector.execute(&planned).await
        } else {
            self.execute_with_heartbeat(connector.as_ref(), &planned, action.id).await
        };
        let status = match outcome.status {
            OutcomeStatus::Succeeded => ActionStatus::Succeeded,
            OutcomeStatus::Failed => ActionStatus::Failed,
            OutcomeStatus::Unsupported => ActionStatus::Skipped,
        };
        let event = if status == ActionStatus::Failed { "action_failed" } else { "action_executed" };
        let outcome = serde_json::to_value(&outcome).map_err(json_error)?;
        self.finish(action.id, from, status, outcome, event).await
    }

    /// Carries out actions of the connectors that work inside phishloop and
    /// stores all their outcomes and events in one transaction, with the
    /// block-list entries that the `blocklist` actions list. An action
    /// that another worker moved on meanwhile keeps that worker's outcome and
    /// gets `None` in the result, which lists the others as they are now.
    async fn execute_local(&self, actions: Vec<Action>) -> Result<Vec<Option<Action>>, ServiceError> {
        let mut transitions = Vec::with_capacity(actions.len());
        for action in &actions {
            let Some(connector) = self.connectors.get(&action.connector) else {
                continue;
            };
            let planned = planned_action(action)?;
            let (outcome, listing) = if action.connector == self.block_list.name() {
                match self.block_list.listing(&planned, Operation::Execute) {
                    Ok(listing) => (self.block_list.listed(&planned, &listing), Some(listing)),
                    Err(outcome) => (*outcome, None),
                }
            } else {
                (connector.execute(&planned).await, None)
            };
            let to = match outcome.status {
                OutcomeStatus::Succeeded => ActionStatus::Succeeded,
                OutcomeStatus::Failed => ActionStatus::Failed,
                OutcomeStatus::Unsupported => ActionStatus::Skipped,
            };
            transitions.push(ActionTransition {
                action_id: action.id,
                from: action.status,
                to,
                outcome: Some(serde_json::to_value(&outcome).map_err(json_error)?),
                event_kind: if to == ActionStatus::Failed { "action_failed" } else { "action_executed" },
                listing,
            });
        }
        let done = self
            .store
            .transition_actions_recorded(&transitions, |done, transition| {
                outcome_payload(done, transition.outcome.as_ref().unwrap_or(&serde_json::Value::Null))
            })
            .await?;
        for done in done.iter().flatten() {
            log_outcome(done);
        }
        Ok(done)
    }

    /// Runs a connector while stamping the `running` action every third of
    /// `running_stale_after`, so no other worker takes it over meanwhile.
    async fn execute_with_heartbeat(
        &self,
        connector: &dyn Connector,
        planned: &PlannedAction,
        action_id: Uuid,
    ) -> phishloop_response::Outcome {
        let work = connector.execute(planned);
        tokio::pin!(work);
        let mut beats = tokio::time::interval(self.running_stale_after / 3);
        beats.tick().await;
        loop {
            tokio::select! {
                outcome = &mut work => return outcome,
                _ = beats.tick() => {
                    if let Err(error) = self.store.claim_running_action(action_id, Duration::ZERO).await {
                        tracing::warn!(%action_id, %error, "stamping the running action failed");
                    }
                }
            }
        }
    }

    async fn finish(
        &self,
        action_id: Uuid,
        from: ActionStatus,
        status: ActionStatus,
        outcome: serde_json::Value,
        event: &str,
    ) -> Result<Action, ServiceError> {
        let done = self
            .store
            .transition_action_recorded(action_id, from, status, Some(&outcome), event, |done| {
                outcome_payload(done, &outcome)
            })
            .await?;
        log_outcome(&done);
        Ok(done)
    }

    /// Records the approval of `approved_by` and carries the action out.
    pub(crate) async fn approve(&self, action_id: Uuid, approved_by: &str) -> Result<Action, ServiceError> {
        let approved = self.store.approve_action(action_id, approved_by).await?;
        let payload = json!({ "action_id": action_id, "kind": approved.kind, "approved_by": approved_by });
        self.store.append_event(EventSubject::Case(approved.case_id), "action_approved", &payload).await?;
        tracing::info!(case_id = %approved.case_id, %action_id, %approved_by, "action approved");
        self.execute(approved).await
    }

    /// Carries a failed action out again, as approved before, and appends
    /// `action_retried` with who asked. The connector remembers which of
    /// its systems already succeeded for the action's idempotency key, so
    /// a partial failure is retried only where it failed, while the
    /// process lives. Fails with `Conflict` for an action that did not
    /// fail.
    pub(crate) async fn retry(&self, action_id: Uuid, requested_by: &str) -> Result<Action, ServiceError> {
        let action =
            self.store.get_action(action_id).await?.ok_or(ServiceError::NotFound { what: "action", id: action_id })?;
        if action.status != ActionStatus::Failed {
            return Err(ServiceError::Conflict(format!(
                "only a failed action can be retried, and action {action_id} has status {}. {}",
                action.status,
                next_step(action.status)
            )));
        }
        let payload = json!({ "action_id": action_id, "kind": action.kind, "requested_by": requested_by });
        self.store.append_event(EventSubject::Case(action.case_id), "action_retried", &payload).await?;
        tracing::info!(case_id = %action.case_id, %action_id, %requested_by, "action retried");
        self.execute(action).await
    }

    /// Reverses a succeeded, reversible action whose connector can undo it
    /// and sets it to `undone`. Fails with `Conflict` for any other action.
    pub(crate) async fn undo(&self, action_id: Uuid, requested_by: &str) -> Result<Action, ServiceError> {
        let action =
            self.store.get_action(action_id).await?.ok_or(ServiceError::NotFound { what: "action", id: action_id })?;
        if action.status != ActionStatus::Succeeded {
            return Err(ServiceError::Conflict(format!(
                "only a succeeded action can be undone, and action {action_id} has status {}. {}",
                action.status,
                next_step(action.status)
            )));
        }
        let planned = planned_action(&action)?;
        // The log connector claims it can undo anything, so for the local
        // connectors the action's own reversibility is checked as well. A
        // connector outside phishloop decides per action: the identity
        // connector can reactivate AWS keys although revoke_credentials is
        // not reversible in general.
        let connector = self
            .connectors
            .get(&action.connector)
            .filter(|connector| connector.can_undo(&planned) && (action.reversible || !is_local(&action.connector)));
        let Some(connector) = connector else {
            return Err(ServiceError::Conflict(format!(
                "action {action_id} ({} through {}) cannot be undone because phishloop has no reverse for it. If \
                 it changed anything in the target system, reverse that there by hand",
                action.kind, action.connector
            )));
        };

        let outcome = connector.undo(&planned).await;
        if outcome.status != OutcomeStatus::Succeeded {
            return Err(ServiceError::Conflict(format!(
                "undoing action {action_id} failed: {}; the action stays succeeded, so try the undo again once the \
                 cause is fixed",
                outcome.details
            )));
        }
        let outcome_json = serde_json::to_value(&outcome).map_err(json_error)?;
        let undone = self
            .store
            .transition_action(action_id, ActionStatus::Succeeded, ActionStatus::Undone, Some(&outcome_json))
            .await?;
        let payload = json!({
            "action_id": action_id,
            "kind": undone.kind,
            "requested_by": requested_by,
            "details": outcome.details,
        });
        self.store.append_event(EventSubject::Case(undone.case_id), "action_undone", &payload).await?;
        tracing::info!(case_id = %undone.case_id, %action_id, %requested_by, "action undone");
        Ok(undone)
    }
}

/// The payload of `action_executed` and `action_failed`.
fn outcome_payload(done: &Action, outcome: &serde_json::Value) -> serde_json::Value {
    json!({
        "action_id": done.id,
        "kind": done.kind,
        "connector": done.connector,
        "status": done.status,
        "details": outcome.get("details"),
        "dry_run": outcome.get("dry_run"),
    })
}

fn log_outcome(done: &Action) {
    if done.status == ActionStatus::Failed {
        let details = done.outcome.as_ref().and_then(|outcome| outcome.get("details")).and_then(|d| d.as_str());
        tracing::warn!(case_id = %done.case_id, action_id = %done.id, kind = %done.kind, connector = %done.connector, details = details.unwrap_or("none given"), "action failed");
    } else {
        tracing::info!(case_id = %done.case_id, action_id = %done.id, kind = %done.kind, status = %done.status, "action carried out");
    }
}

/// Connectors that work inside phishloop's own process and store.
const LOCAL_CONNECTORS: [&str; 2] = ["log", "blocklist"];

fn is_local(connector: &str) -> bool {
    LOCAL_CONNECTORS.contains(&connector)
}

/// Rebuilds the planner's action from its stored row, as connectors take it.
fn planned_action(action: &Action) -> Result<PlannedAction, ServiceError> {
    let invalid = |what: &str, error: serde_json::Error| {
        ServiceError::Store(StoreError::InvalidStoredValue {
            column: "actions",
            value: format!("{what} of action {}: {error}", action.id),
        })
    };
    Ok(PlannedAction {
        case_id: action.case_id.to_string(),
        kind: serde_json::from_value(json!(action.kind)).map_err(|error| invalid("kind", error))?,
        target: serde_json::from_value(action.target.clone()).map_err(|error| invalid("target", error))?,
        mode: if action.mode == ActionMode::Auto { Mode::Auto } else { Mode::Approve },
        connector: action.connector.clone(),
        idempotency_key: action.idempotency_key.clone(),
        playbook: action.playbook.clone(),
        reversible: action.reversible,
        note: action.note.clone(),
    })
}

fn json_error(error: serde_json::Error) -> ServiceError {
    ServiceError::Config(format!("value cannot be written as JSON: {error}"))
}

/// Returns the next step for a person whose retry or undo of an action in
/// `status` was rejected.
fn next_step(status: ActionStatus) -> &'static str {
    match status {
        ActionStatus::Planned | ActionStatus::Approved | ActionStatus::Running => {
            "It has not finished yet, so wait for its outcome."
        }
        ActionStatus::AwaitingApproval => "Approve or reject it first.",
        ActionStatus::Succeeded => "It needs no retry.",
        ActionStatus::Failed => "Nothing was carried out, so retry it instead.",
        ActionStatus::Skipped => {
            "Its connector cannot carry out this kind of action; route the kind to another connector."
        }
        ActionStatus::Undone | ActionStatus::Rejected => "Its status is final.",
    }
}
