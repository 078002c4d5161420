//! Block-list entries: the URLs and domains that the feeds publish to
//! proxies and firewalls.
//!
//! At most one entry per kind and value is listed at a time. Removing an
//! entry keeps its row, marked removed, so the record of what was blocked
//! and when stays.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{Sql, on_reader, on_writer, sqlite_now, sqlite_now_plus_ms};
use crate::error::{Result, StoreError};
use crate::store::{Store, check_text, duration_ms};
use crate::text_enum::text_enum;

/// Maximum value length in bytes, the maximum URL length of the feed.
const MAX_VALUE_BYTES: usize = 2048;

/// Maximum time to live of an entry: ten years.
const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

text_enum! {
    /// The kind of value an entry blocks.
    pub enum BlockEntryKind in "block_entries.kind" {
        Url = "url",
        Domain = "domain",
    }
}

/// A stored block-list entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBlockEntry {
    pub id: Uuid,
    pub kind: BlockEntryKind,
    pub value: String,
    /// The case whose action added the entry.
    pub case_id: Uuid,
    pub action_id: Option<Uuid>,
    pub added_at: DateTime<Utc>,
    /// When the feeds stop publishing the entry; `None` until it is removed.
    pub expires_at: Option<DateTime<Utc>>,
    pub removed: bool,
    pub removed_at: Option<DateTime<Utc>>,
}

macro_rules! entry_columns {
    () => {
        "id, kind, value, case_id, action_id, added_at, expires_at, removed, removed_at"
    };
}

type EntryRow =
    (Uuid, String, String, Uuid, Option<Uuid>, DateTime<Utc>, Option<DateTime<Utc>>, bool, Option<DateTime<Utc>>);

/// Adds an entry or, when the value is listed already, keeps the listed one
/// and takes the later expiry (no expiry wins). `$6` is the time to live in
/// milliseconds, NULL for none.
pub(crate) const UPSERT_ENTRY: Sql = Sql::each(
    concat!(
        "INSERT INTO block_entries (id, kind, value, case_id, action_id, added_at, expires_at, removed) \
         VALUES ($1, $2, $3, $4, $5, ",
        sqlite_now!(),
        ", CASE WHEN $6 IS NULL THEN NULL ELSE ",
        sqlite_now_plus_ms!("$6"),
        " END, 0) ON CONFLICT (kind, value) WHERE removed = 0 DO UPDATE SET expires_at = CASE \
         WHEN block_entries.expires_at IS NULL OR excluded.expires_at IS NULL THEN NULL \
         ELSE max(block_entries.expires_at, excluded.expires_at) END RETURNING ",
        entry_columns!()
    ),
    concat!(
        "INSERT INTO block_entries (id, kind, value, case_id, action_id, added_at, expires_at, removed) \
         VALUES ($1, $2, $3, $4, $5, now(), now() + $6 * interval '1 millisecond', false) \
         ON CONFLICT (kind, value) WHERE NOT removed DO UPDATE SET expires_at = CASE \
         WHEN block_entries.expires_at IS NULL OR excluded.expires_at IS NULL THEN NULL \
         ELSE greatest(block_entries.expires_at, excluded.expires_at) END RETURNING ",
        entry_columns!()
    ),
);

const REMOVE_ENTRY: Sql = Sql::each(
    concat!(
        "UPDATE block_entries SET removed = 1, removed_at = ",
        sqlite_now!(),
        " WHERE kind = $1 AND value = $2 AND removed = 0 RETURNING ",
        entry_columns!()
    ),
    concat!(
        "UPDATE block_entries SET removed = true, removed_at = now() WHERE kind = $1 AND value = $2 AND NOT removed \
         RETURNING ",
        entry_columns!()
    ),
);

const SELECT_LISTED: Sql = Sql::each(
    concat!(
        "SELECT ",
        entry_columns!(),
        " FROM block_entries WHERE kind = $1 AND removed = 0 AND (expires_at IS NULL OR expires_at > ",
        sqlite_now!(),
        ") ORDER BY value"
    ),
    concat!(
        "SELECT ",
        entry_columns!(),
        " FROM block_entries WHERE kind = $1 AND NOT removed AND (expires_at IS NULL OR expires_at > now()) \
         ORDER BY value"
    ),
);

const SELECT_CASE_ENTRIES: Sql =
    Sql::same(concat!("SELECT ", entry_columns!(), " FROM block_entries WHERE case_id = $1 ORDER BY added_at, id"));

/// Checks a value for the block list's `value` column.
pub(crate) fn check_block_value(value: &str) -> Result<()> {
    check_text("block-list value", value, MAX_VALUE_BYTES)
}

impl Store {
    /// Lists a URL or domain for `case_id`, published until `ttl` has passed
    /// (`None`: until removed). Listing a listed value again keeps the first
    /// entry and extends its expiry.
    ///
    /// The caller checks that the value fits on one feed line. Fails with
    /// `CaseNotFound` for an unknown case.
    pub async fn add_block_entry(
        &self,
        kind: BlockEntryKind,
        value: &str,
        case_id: Uuid,
        action_id: Option<Uuid>,
        ttl: Option<Duration>,
    ) -> Result<StoredBlockEntry> {
        check_block_value(value)?;
        let ttl_ms = ttl.map(|ttl| duration_ms("block-list ttl", ttl, MAX_TTL)).transpose()?;

        let id = Uuid::now_v7();
        let upserted: std::result::Result<EntryRow, sqlx::Error> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(UPSERT_ENTRY.text(backend))
                .bind(id)
                .bind(kind.as_str())
                .bind(value)
                .bind(case_id)
                .bind(action_id)
                .bind(ttl_ms)
                .fetch_one(pool)
                .await
        });
        let row = match upserted {
            Ok(row) => row,
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                return Err(StoreError::CaseNotFound(case_id));
            }
            Err(e) => return Err(e.into()),
        };
        let entry = entry_from_row(row)?;
        tracing::debug!(entry_id = %entry.id, %case_id, kind = %entry.kind, "block-list entry listed");
        Ok(entry)
    }

    /// Removes the listed entry of a kind and value from the feeds and
    /// returns it; `None` when the value is not listed.
    pub async fn remove_block_entry(&self, kind: BlockEntryKind, value: &str) -> Result<Option<StoredBlockEntry>> {
        let row: Option<EntryRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(REMOVE_ENTRY.text(backend)).bind(kind.as_str()).bind(value).fetch_optional(pool).await?
        });
        row.map(entry_from_row).transpose()
    }

    /// Returns the entries of a kind that the feeds publish now: not removed
    /// and not expired by the database clock, sorted by value.
    pub async fn listed_block_entries(&self, kind: BlockEntryKind) -> Result<Vec<StoredBlockEntry>> {
        let rows: Vec<EntryRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_LISTED.text(backend)).bind(kind.as_str()).fetch_all(pool).await?
        });
        rows.into_iter().map(entry_from_row).collect()
    }

    /// Returns every entry a case added, removed ones included, oldest first.
    pub async fn block_entries_for_case(&self, case_id: Uuid) -> Result<Vec<StoredBlockEntry>> {
        let rows: Vec<EntryRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_CASE_ENTRIES.text(backend)).bind(case_id).fetch_all(pool).await?
        });
        rows.into_iter().map(entry_from_row).collect()
    }
}

fn entry_from_row(row: EntryRow) -> Result<StoredBlockEntry> {
    let (id, kind, value, case_id, action_id, added_at, expires_at, removed, removed_at) = row;
    Ok(StoredBlockEntry {
        id,
        kind: BlockEntryKind::from_column(&kind)?,
        value,
        case_id,
        action_id,
        added_at,
        expires_at,
        removed,
        removed_at,
    })
}
