//! Response actions of a case: what was planned, whether it waits for a
//! person, and the outcome of carrying it out.
//!
//! The store does not know the action kinds or targets; it keeps them as
//! text and JSON. The idempotency key is unique across all cases, so a job
//! that plans again finds the rows of its earlier attempt.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::block_list::{BlockEntryKind, UPSERT_ENTRY, check_block_value};
use crate::db::{Backend, Sql, on_reader, on_writer, sqlite_now, sqlite_now_plus_ms};
use crate::error::{Result, StoreError, invalid};
use crate::events::{EventSubject, append_all_in_tx};
use crate::store::{Store, check_kind, check_text};
use crate::text_enum::text_enum;

const MAX_NAME_BYTES: usize = 200;
const MAX_KEY_BYTES: usize = 200;
const MAX_NOTE_BYTES: usize = 4 * 1024;

text_enum! {
    /// The way an action starts.
    pub enum ActionMode in "actions.mode" {
        /// Runs as soon as it is planned.
        Auto = "auto",
        /// Waits until a person approves it.
        Approve = "approve",
    }
}

text_enum! {
    /// The state of an action.
    pub enum ActionStatus in "actions.status" {
        /// An `auto` action not carried out yet.
        Planned = "planned",
        /// An `approve` action waiting for a person.
        AwaitingApproval = "awaiting_approval",
        /// Approved, not carried out yet.
        Approved = "approved",
        /// A connector is carrying it out.
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        /// The connector cannot carry out this kind of action.
        Skipped = "skipped",
        /// Carried out and then reversed.
        Undone = "undone",
        /// A person declined it while it awaited approval.
        Rejected = "rejected",
    }
}

impl ActionStatus {
    /// Every status, in the order of the loop.
    pub const ALL: [ActionStatus; 9] = [
        ActionStatus::Planned,
        ActionStatus::AwaitingApproval,
        ActionStatus::Approved,
        ActionStatus::Running,
        ActionStatus::Succeeded,
        ActionStatus::Failed,
        ActionStatus::Skipped,
        ActionStatus::Undone,
        ActionStatus::Rejected,
    ];

    /// True for states in which no connector works on the action any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Skipped | Self::Undone | Self::Rejected)
    }
}

/// One status change for `transition_actions_recorded`.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionTransition<'a> {
    pub action_id: Uuid,
    /// The status the action must still be in.
    pub from: ActionStatus,
    pub to: ActionStatus,
    /// The connector's outcome, stored on the action when given.
    pub outcome: Option<Value>,
    /// The event appended to the action's case.
    pub event_kind: &'a str,
    /// A block-list entry to list for the action's case when the action
    /// moves, in the same transaction, so the entry is listed exactly when
    /// the action is stored as done.
    pub listing: Option<BlockListing>,
}

/// A value for the block list, as `Store::add_block_entry` lists it
/// without expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockListing {
    pub kind: BlockEntryKind,
    pub value: String,
}

/// An action to store with `create_action`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewAction {
    pub case_id: Uuid,
    /// The action kind, such as `block_url`.
    pub kind: String,
    /// The target as JSON.
    pub target: Value,
    pub mode: ActionMode,
    /// The connector that carries the action out.
    pub connector: String,
    /// The playbook that planned it.
    pub playbook: String,
    pub reversible: bool,
    /// The reason the mode differs from the playbook step's, when it does.
    pub note: Option<String>,
    /// Unique for the same case, kind and target.
    pub idempotency_key: String,
}

/// A stored action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub id: Uuid,
    pub case_id: Uuid,
    pub kind: String,
    pub target: Value,
    pub mode: ActionMode,
    pub connector: String,
    pub playbook: String,
    pub reversible: bool,
    pub note: Option<String>,
    pub idempotency_key: String,
    pub status: ActionStatus,
    /// The last outcome a connector returned, as JSON.
    pub outcome: Option<Value>,
    /// The name of the API token or web account that approved the action.
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// When the action last reached a final status.
    pub finished_at: Option<DateTime<Utc>>,
}

/// The result of `create_action`.
#[derive(Clone, Debug, PartialEq)]
pub struct CreatedAction {
    pub action: Action,
    /// False when an action with the same idempotency key existed already;
    /// `action` is then that one, unchanged.
    pub created: bool,
}

/// Columns of `ActionRow`, in order.
macro_rules! action_columns {
    () => {
        "id, case_id, kind, target, mode, connector, playbook, reversible, note, idempotency_key, status, outcome, \
         approved_by, approved_at, created_at, finished_at"
    };
}
pub(crate) use action_columns;

pub(crate) type ActionRow = (
    Uuid,
    Uuid,
    String,
    Value,
    String,
    String,
    String,
    bool,
    Option<String>,
    String,
    String,
    Option<Value>,
    Option<String>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// Bind parameters per row of the insert that `insert_actions_sql` returns.
const ACTION_PARAMETERS: usize = 11;

/// Rows per insert statement, far below the bind parameter limits of SQLite
/// (32,766) and PostgreSQL (65,535).
const ACTIONS_PER_INSERT: usize = 256;

/// Returns an insert of `rows` actions in one statement, which costs one round
/// trip to the database instead of one per action. An action whose
/// idempotency key is stored already is left out, and only new rows are
/// returned.
fn insert_actions_sql(backend: Backend, rows: usize) -> String {
    let now = match backend {
        Backend::Sqlite => sqlite_now!(),
        Backend::Postgres => "now()",
    };
    let mut sql = String::from(
        "INSERT INTO actions (id, case_id, kind, target, mode, connector, playbook, reversible, note, \
         idempotency_key, status, created_at, updated_at) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        let first = row * ACTION_PARAMETERS;
        let parameters: Vec<String> = (1..=ACTION_PARAMETERS).map(|n| format!("${}", first + n)).collect();
        sql.push_str(&format!("({}, {now}, {now})", parameters.join(", ")));
    }
    sql.push_str(concat!(" ON CONFLICT (idempotency_key) DO NOTHING RETURNING ", action_columns!()));
    sql
}

const SELECT_ACTION: Sql = Sql::same(concat!("SELECT ", action_columns!(), " FROM actions WHERE id = $1"));

const SELECT_ACTION_BY_KEY: Sql =
    Sql::same(concat!("SELECT ", action_columns!(), " FROM actions WHERE idempotency_key = $1"));

const SELECT_CASE_ACTIONS: Sql =
    Sql::same(concat!("SELECT ", action_columns!(), " FROM actions WHERE case_id = $1 ORDER BY created_at, id"));

const SELECT_ACTIONS: Sql =
    Sql::same(concat!("SELECT ", action_columns!(), " FROM actions ORDER BY created_at, id LIMIT $1"));

/// Changes the status only when it is still `$3`, so two workers or two
/// approvers cannot both move an action on. `finished_at` is set when the new
/// status is final (`$5`).
const UPDATE_ACTION_STATUS: Sql = Sql::each(
    concat!(
        "UPDATE actions SET status = $2, outcome = coalesce($4, outcome), updated_at = ",
        sqlite_now!(),
        ", finished_at = CASE WHEN $5 THEN ",
        sqlite_now!(),
        " ELSE finished_at END WHERE id = $1 AND status = $3 RETURNING ",
        action_columns!()
    ),
    concat!(
        "UPDATE actions SET status = $2, outcome = coalesce($4, outcome), updated_at = now(), \
         finished_at = CASE WHEN $5 THEN now() ELSE finished_at END WHERE id = $1 AND status = $3 RETURNING ",
        action_columns!()
    ),
);

/// Bind parameters per row of the update that `update_actions_sql` returns.
const TRANSITION_PARAMETERS: usize = 5;

/// Transitions per update statement, far below the bind parameter limits.
const ACTIONS_PER_UPDATE: usize = 256;

/// Returns an update that moves `rows` actions at once, each like
/// `UPDATE_ACTION_STATUS` and in one round trip to the database. Each row of
/// the bound list is (action id, new status, expected status, outcome or
/// NULL, whether the new status is final), and the statement returns the
/// actions it moved.
fn update_actions_sql(backend: Backend, rows: usize) -> String {
    let (now, row_types) = match backend {
        Backend::Sqlite => (sqlite_now!(), ["", "", "", "", ""]),
        Backend::Postgres => ("now()", ["::uuid", "::text", "::text", "::jsonb", "::boolean"]),
    };
    let mut sql = String::from("WITH moves (action_id, new_status, old_status, new_outcome, is_final) AS (VALUES ");
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        let first = row * TRANSITION_PARAMETERS;
        let parameters: Vec<String> =
            row_types.iter().enumerate().map(|(index, cast)| format!("${}{cast}", first + index + 1)).collect();
        sql.push_str(&format!("({})", parameters.join(", ")));
    }
    sql.push_str(&format!(
        ") UPDATE actions SET status = moves.new_status, outcome = coalesce(moves.new_outcome, actions.outcome), \
         updated_at = {now}, finished_at = CASE WHEN moves.is_final THEN {now} ELSE actions.finished_at END \
         FROM moves WHERE actions.id = moves.action_id AND actions.status = moves.old_status RETURNING "
    ));
    // Unqualified: SQLite's RETURNING may name only the updated table's
    // columns, and no column of `moves` has the name of one of them.
    sql.push_str(action_columns!());
    sql
}

/// Takes over a `running` action whose last sign of life (`updated_at`) is at
/// least `$2` milliseconds old, and stamps it now. Only one caller gets the row.
const CLAIM_RUNNING_ACTION: Sql = Sql::each(
    concat!(
        "UPDATE actions SET updated_at = ",
        sqlite_now!(),
        " WHERE id = $1 AND status = 'running' AND updated_at <= ",
        sqlite_now_plus_ms!("-$2"),
        " RETURNING ",
        action_columns!()
    ),
    concat!(
        "UPDATE actions SET updated_at = now() WHERE id = $1 AND status = 'running' \
         AND updated_at <= now() - $2 * interval '1 millisecond' RETURNING ",
        action_columns!()
    ),
);

const APPROVE_ACTION: Sql = Sql::each(
    concat!(
        "UPDATE actions SET status = 'approved', approved_by = $2, approved_at = ",
        sqlite_now!(),
        ", updated_at = ",
        sqlite_now!(),
        " WHERE id = $1 AND status = 'awaiting_approval' RETURNING ",
        action_columns!()
    ),
    concat!(
        "UPDATE actions SET status = 'approved', approved_by = $2, approved_at = now(), updated_at = now() \
         WHERE id = $1 AND status = 'awaiting_approval' RETURNING ",
        action_columns!()
    ),
);

impl Store {
    /// Stores a planned action, or returns the stored one with the same
    /// idempotency key. A new `auto` action is `planned`, a new `approve`
    /// action `awaiting_approval`.
    ///
    /// Safe under concurrency: callers creating the same key at once end up
    /// with one row. Fails with `CaseNotFound` for an unknown case.
    pub async fn create_action(&self, action: &NewAction) -> Result<CreatedAction> {
        let mut created = self.store_actions(std::slice::from_ref(action), None).await?;
        created.pop().ok_or_else(|| invalid("action", "was not stored".to_owned()))
    }

    /// Stores planned actions like `create_action` and, for each one that is
    /// new, appends the event `event_kind` to its case with the payload
    /// `payload` builds from it, all in one transaction. So a crash never
    /// leaves a new action without its event, and the whole plan costs one
    /// commit. Returns the actions in the order given.
    pub async fn create_actions_recorded(
        &self,
        actions: &[NewAction],
        event_kind: &str,
        payload: impl Fn(&Action) -> Value + Sync,
    ) -> Result<Vec<CreatedAction>> {
        self.store_actions(actions, Some((event_kind, &payload))).await
    }

    /// Stores `actions` in one transaction and, when `event` is given,
    /// appends that event kind with its payload for each new action.
    async fn store_actions(
        &self,
        actions: &[NewAction],
        event: Option<(&str, &ActionPayload<'_>)>,
    ) -> Result<Vec<CreatedAction>> {
        for action in actions {
            check_new_action(self, action)?;
        }
        let created: Vec<CreatedAction> = on_writer!(&self.db, |pool, backend| {
            async {
                let mut tx = pool.begin().await?;
                let mut created = Vec::with_capacity(actions.len());
                let mut events = Vec::new();
                for chunk in actions.chunks(ACTIONS_PER_INSERT) {
                    let mut insert = sqlx::query_as::<_, ActionRow>(sqlx::AssertSqlSafe(insert_actions_sql(
                        backend,
                        chunk.len(),
                    )));
                    for action in chunk {
                        insert = insert
                            .bind(Uuid::now_v7())
                            .bind(action.case_id)
                            .bind(&action.kind)
                            .bind(Json(&action.target))
                            .bind(action.mode.as_str())
                            .bind(&action.connector)
                            .bind(&action.playbook)
                            .bind(action.reversible)
                            .bind(&action.note)
                            .bind(&action.idempotency_key)
                            .bind(initial_status(action.mode).as_str());
                    }
                    // The insert returns the new rows; a key stored before returns nothing.
                    let rows = insert.fetch_all(&mut *tx).await.map_err(|error| case_missing(error, chunk[0].case_id))?;
                    let mut inserted: HashMap<String, ActionRow> =
                        rows.into_iter().map(|row| (row.9.clone(), row)).collect();
                    for action in chunk {
                        // A key given twice is new only the first time.
                        let (row, is_new) = match inserted.remove(&action.idempotency_key) {
                            Some(row) => (row, true),
                            None => {
                                let row: ActionRow = sqlx::query_as(SELECT_ACTION_BY_KEY.text(backend))
                                    .bind(&action.idempotency_key)
                                    .fetch_one(&mut *tx)
                                    .await?;
                                (row, false)
                            }
                        };
                        let stored = action_from_row(row)?;
                        if is_new {
                            tracing::debug!(action_id = %stored.id, case_id = %stored.case_id, kind = %stored.kind, "action stored");
                        }
                        if let (true, Some((event_kind, payload))) = (is_new, event) {
                            let payload_text = payload(&stored).to_string();
                            self.check_payload("event payload", &payload_text)?;
                            events.push((EventSubject::Case(stored.case_id), event_kind, payload_text));
                        }
                        created.push(CreatedAction { action: stored, created: is_new });
                    }
                }
                append_all_in_tx!(tx, backend, &events).await?;
                tx.commit().await?;
                Ok::<_, StoreError>(created)
            }
            .await?
        });
        Ok(created)
    }

    /// Moves an action from `from` to `to` like `transition_action` and
    /// appends the event `event_kind` to its case with the payload `payload`
    /// builds from the updated action, in one transaction.
    pub async fn transition_action_recorded(
        &self,
        action_id: Uuid,
        from: ActionStatus,
        to: ActionStatus,
        outcome: Option<&Value>,
        event_kind: &str,
        payload: impl Fn(&Action) -> Value,
    ) -> Result<Action> {
        let transition = ActionTransition { action_id, from, to, outcome: outcome.cloned(), event_kind, listing: None };
        let mut updated =
            self.transition_actions_recorded(std::slice::from_ref(&transition), |action, _| payload(action)).await?;
        match updated.pop().flatten() {
            Some(action) => Ok(action),
            None => Err(self.status_conflict(action_id, from).await),
        }
    }

    /// Makes every transition of `transitions` like
    /// `transition_action_recorded`, with all their events, in one
    /// transaction. An action that is no longer in its `from` status is left
    /// as it is and gets `None` in the result, which lists the actions in the
    /// order given.
    pub async fn transition_actions_recorded(
        &self,
        transitions: &[ActionTransition<'_>],
        payload: impl Fn(&Action, &ActionTransition<'_>) -> Value,
    ) -> Result<Vec<Option<Action>>> {
        if transitions.is_empty() {
            return Ok(Vec::new());
        }
        for transition in transitions {
            check_kind("event kind", transition.event_kind)?;
            if let Some(outcome) = &transition.outcome {
                self.check_payload("action outcome", &outcome.to_string())?;
            }
            if let Some(listing) = &transition.listing {
                check_block_value(&listing.value)?;
            }
        }
        let updated: Vec<Option<Action>> = on_writer!(&self.db, |pool, backend| {
            async {
                let mut tx = pool.begin().await?;
                let mut updated = Vec::with_capacity(transitions.len());
                let mut events = Vec::new();
                let mut moved: HashMap<Uuid, ActionRow> = HashMap::with_capacity(transitions.len());
                for chunk in transitions.chunks(ACTIONS_PER_UPDATE) {
                    let mut update =
                        sqlx::query_as::<_, ActionRow>(sqlx::AssertSqlSafe(update_actions_sql(backend, chunk.len())));
                    for transition in chunk {
                        update = update
                            .bind(transition.action_id)
                            .bind(transition.to.as_str())
                            .bind(transition.from.as_str())
                            .bind(transition.outcome.as_ref().map(Json))
                            .bind(transition.to.is_final());
                    }
                    moved.extend(update.fetch_all(&mut *tx).await?.into_iter().map(|row| (row.0, row)));
                }
                for transition in transitions {
                    // An action given twice moves only once.
                    let Some(row) = moved.remove(&transition.action_id) else {
                        updated.push(None);
                        continue;
                    };
                    let action = action_from_row(row)?;
                    if let Some(listing) = &transition.listing {
                        sqlx::query(UPSERT_ENTRY.text(backend))
                            .bind(Uuid::now_v7())
                            .bind(listing.kind.as_str())
                            .bind(&listing.value)
                            .bind(action.case_id)
                            .bind(action.id)
                            .bind(None::<i64>)
                            .execute(&mut *tx)
                            .await?;
                    }
                    let payload_text = payload(&action, transition).to_string();
                    self.check_payload("event payload", &payload_text)?;
                    events.push((EventSubject::Case(action.case_id), transition.event_kind, payload_text));
                    updated.push(Some(action));
                }
                append_all_in_tx!(tx, backend, &events).await?;
                tx.commit().await?;
                Ok::<_, StoreError>(updated)
            }
            .await?
        });
        for (transition, action) in transitions.iter().zip(&updated) {
            if action.is_some() {
                tracing::debug!(action_id = %transition.action_id, from = %transition.from, to = %transition.to, event_kind = transition.event_kind, "action status changed");
            }
        }
        Ok(updated)
    }

    /// Claims a `running` action whose connector has shown no sign of life
    /// for `stale_after`, such as one left by a killed worker, and stamps it
    /// as alive now. Returns `None` when the action is not running or was
    /// touched more recently, so two workers never run it at once. With
    /// `stale_after` zero it is the heartbeat of the worker running it.
    pub async fn claim_running_action(
        &self,
        action_id: Uuid,
        stale_after: std::time::Duration,
    ) -> Result<Option<Action>> {
        let stale_ms = i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX);
        let row: Option<ActionRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(CLAIM_RUNNING_ACTION.text(backend))
                .bind(action_id)
                .bind(stale_ms)
                .fetch_optional(pool)
                .await?
        });
        row.map(action_from_row).transpose()
    }

    pub async fn get_action(&self, action_id: Uuid) -> Result<Option<Action>> {
        let row: Option<ActionRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_ACTION.text(backend)).bind(action_id).fetch_optional(pool).await?
        });
        row.map(action_from_row).transpose()
    }

    /// Returns the actions of a case in the order they were planned.
    pub async fn actions_for_case(&self, case_id: Uuid) -> Result<Vec<Action>> {
        let rows: Vec<ActionRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_CASE_ACTIONS.text(backend)).bind(case_id).fetch_all(pool).await?
        });
        rows.into_iter().map(action_from_row).collect()
    }

    /// Returns up to `limit` actions of every case, oldest first.
    pub async fn list_actions(&self, limit: u32) -> Result<Vec<Action>> {
        let rows: Vec<ActionRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_ACTIONS.text(backend)).bind(i64::from(limit)).fetch_all(pool).await?
        });
        rows.into_iter().map(action_from_row).collect()
    }

    /// Moves an action from status `from` to `to` and, when given, replaces
    /// its outcome.
    ///
    /// Fails with `ActionNotFound` for an unknown id and with
    /// `ActionStatusConflict` when the action is no longer in `from`, which
    /// means someone else moved it on first.
    pub async fn transition_action(
        &self,
        action_id: Uuid,
        from: ActionStatus,
        to: ActionStatus,
        outcome: Option<&Value>,
    ) -> Result<Action> {
        if let Some(outcome) = outcome {
            self.check_payload("action outcome", &outcome.to_string())?;
        }

        let row: Option<ActionRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(UPDATE_ACTION_STATUS.text(backend))
                .bind(action_id)
                .bind(to.as_str())
                .bind(from.as_str())
                .bind(outcome.map(Json))
                .bind(to.is_final())
                .fetch_optional(pool)
                .await?
        });
        let Some(row) = row else {
            return Err(self.status_conflict(action_id, from).await);
        };
        tracing::debug!(%action_id, %from, %to, "action status changed");
        action_from_row(row)
    }

    /// Records that `approved_by` approved an action that awaits approval
    /// and sets it to `approved`.
    ///
    /// Fails with `ActionNotFound` for an unknown id and with
    /// `ActionStatusConflict` when the action does not await approval.
    pub async fn approve_action(&self, action_id: Uuid, approved_by: &str) -> Result<Action> {
        check_text("approved_by", approved_by, MAX_NAME_BYTES)?;

        let row: Option<ActionRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(APPROVE_ACTION.text(backend)).bind(action_id).bind(approved_by).fetch_optional(pool).await?
        });
        let Some(row) = row else {
            return Err(self.status_conflict(action_id, ActionStatus::AwaitingApproval).await);
        };
        tracing::debug!(%action_id, "action approved");
        action_from_row(row)
    }

    /// Builds the error for an update that matched no row: the action is
    /// missing or has another status than `expected`.
    async fn status_conflict(&self, action_id: Uuid, expected: ActionStatus) -> StoreError {
        match self.get_action(action_id).await {
            Ok(Some(action)) => StoreError::ActionStatusConflict { action_id, status: action.status, expected },
            Ok(None) => StoreError::ActionNotFound(action_id),
            Err(error) => error,
        }
    }
}

/// Builds an event payload from a stored action.
type ActionPayload<'a> = dyn Fn(&Action) -> Value + Sync + 'a;

/// Checks the sizes of a new action's fields.
fn check_new_action(store: &Store, action: &NewAction) -> Result<()> {
    check_text("action kind", &action.kind, MAX_NAME_BYTES)?;
    check_text("connector", &action.connector, MAX_NAME_BYTES)?;
    check_text("playbook", &action.playbook, MAX_NAME_BYTES)?;
    check_text("idempotency key", &action.idempotency_key, MAX_KEY_BYTES)?;
    if let Some(note) = &action.note
        && note.len() > MAX_NOTE_BYTES
    {
        return Err(invalid("note", format!("is {} bytes, more than the maximum of {MAX_NOTE_BYTES}", note.len())));
    }
    store.check_payload("action target", &action.target.to_string())
}

/// Returns the first status of a new action: `planned` for `auto`, `awaiting_approval` for `approve`.
fn initial_status(mode: ActionMode) -> ActionStatus {
    match mode {
        ActionMode::Auto => ActionStatus::Planned,
        ActionMode::Approve => ActionStatus::AwaitingApproval,
    }
}

/// Turns a foreign-key violation on insert into `CaseNotFound`.
fn case_missing(error: sqlx::Error, case_id: Uuid) -> StoreError {
    match error {
        sqlx::Error::Database(e) if e.is_foreign_key_violation() => StoreError::CaseNotFound(case_id),
        other => other.into(),
    }
}

pub(crate) fn action_from_row(row: ActionRow) -> Result<Action> {
    let (
        id,
        case_id,
        kind,
        target,
        mode,
        connector,
        playbook,
        reversible,
        note,
        idempotency_key,
        status,
        outcome,
        approved_by,
        approved_at,
        created_at,
        finished_at,
    ) = row;
    Ok(Action {
        id,
        case_id,
        kind,
        target,
        mode: ActionMode::from_column(&mode)?,
        connector,
        playbook,
        reversible,
        note,
        idempotency_key,
        status: ActionStatus::from_column(&status)?,
        outcome,
        approved_by,
        approved_at,
        created_at,
        finished_at,
    })
}
