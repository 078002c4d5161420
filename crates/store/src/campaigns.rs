//! Campaigns: cases grouped by the keys of their campaign signatures.
//!
//! Each key (`key_type`, `key_value`) belongs to at most one campaign, and
//! each case to at most one. `assign_campaign` looks up the campaign of each
//! of a case's keys by primary key, never by scanning, and then:
//!
//! - creates a campaign when no key is known;
//! - joins the campaign that artefact keys (exact URL, file hash, free-mail
//!   address) or the case's current campaign point to, and merges them when
//!   they point to more than one. The one with the most cases survives (the
//!   oldest on a tie), and every key and case of the others moves to it. Each
//!   merged campaign keeps its row with `merged_into` set, and a
//!   `campaign_merges` row names the linking case;
//! - otherwise joins the campaign with the most matching infrastructure keys
//!   (domains, sender IP address), or else the most matching text bands,
//!   without merging. `KeyStrength` in the campaign crate gives the reason.
//!
//! # Concurrency
//!
//! Assignments run one at a time per database. On PostgreSQL the transaction
//! takes a transaction-scoped advisory lock first; on SQLite it starts with
//! `BEGIN IMMEDIATE`, which takes the write lock. Two workers assigning
//! related cases therefore never both miss each other's keys and create two
//! campaigns. An assignment is a few indexed statements per key, so this
//! serialisation costs little at the rate reports arrive.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use phishloop_campaign::{KeyStrength, SignatureKey};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{Sql, Tx, Writes, on_reader, on_tx, sqlite_now};
use crate::error::{Result, StoreError, invalid};
use crate::store::Store;
use sqlx::Connection as _;

/// Maximum number of keys per assignment. A message with the 500 URLs that
/// the analysis keeps gives at most about 1,000 keys plus 18 bands.
const MAX_KEYS: usize = 2_000;
/// Maximum length of a key value. Campaign signatures keep URL keys under 300 bytes.
const MAX_KEY_VALUE_BYTES: usize = 1_024;

/// The PostgreSQL advisory lock id that serialises campaign assignments (the
/// ASCII bytes of `plcampgn`).
const ASSIGN_LOCK_ID: i64 = 0x706c_6361_6d70_676e;

/// The result of `assign_campaign`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignAssignment {
    /// The campaign the case is now in.
    pub campaign_id: Uuid,
    /// Whether this call created the campaign.
    pub created: bool,
    /// Campaigns that this call merged into `campaign_id`.
    pub merged_from: Vec<Uuid>,
    /// Cases in the campaign after the assignment.
    pub case_count: u64,
    /// Distinct reporters over every report of every case of the campaign.
    pub reporter_count: u64,
    /// The campaign the case was in before this call, if any.
    pub previous: Option<Uuid>,
}

/// A stored campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Time of the first case assignment, over merged campaigns too.
    pub first_seen_at: DateTime<Utc>,
    /// Time of the latest case assignment.
    pub last_seen_at: DateTime<Utc>,
    /// Cases at the latest assignment; zero once merged.
    pub case_count: u64,
    /// The campaign this one was merged into, if it was.
    pub merged_into: Option<Uuid>,
}

/// A campaign with its cases and reporters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignDetail {
    pub campaign: Campaign,
    /// Its cases, in the order they joined.
    pub cases: Vec<Uuid>,
    /// Distinct reporter addresses (ignoring ASCII case) over every report of
    /// every case, counted when read, so reports added to a case after its
    /// assignment count too.
    pub reporter_count: u64,
    /// Campaigns merged into this one, oldest merge first.
    pub merged_from: Vec<Uuid>,
}

/// Columns of `CampaignRow`, in order.
macro_rules! campaign_columns {
    () => {
        "id, created_at, first_seen_at, last_seen_at, case_count, merged_into"
    };
}

type CampaignRow = (Uuid, DateTime<Utc>, DateTime<Utc>, DateTime<Utc>, i64, Option<Uuid>);

const TAKE_ASSIGN_LOCK: Sql = Sql::same("SELECT pg_advisory_xact_lock($1)");

const SELECT_CASE_EXISTS: Sql = Sql::same("SELECT count(*) FROM cases WHERE id = $1");

const SELECT_CASE_CAMPAIGN: Sql = Sql::same("SELECT campaign_id FROM campaign_cases WHERE case_id = $1");

/// The campaigns of the keys in `$1`, a JSON array of `[key type, value]`
/// pairs, in one statement instead of one per key.
const SELECT_KEY_CAMPAIGNS: Sql = Sql::each(
    "SELECT ck.key_type, ck.key_value, ck.campaign_id FROM json_each($1) AS pair \
     JOIN campaign_keys AS ck \
       ON ck.key_type = json_extract(pair.value, '$[0]') AND ck.key_value = json_extract(pair.value, '$[1]')",
    "SELECT ck.key_type, ck.key_value, ck.campaign_id FROM jsonb_array_elements($1::jsonb) AS pair \
     JOIN campaign_keys AS ck ON ck.key_type = pair ->> 0 AND ck.key_value = pair ->> 1",
);

const SELECT_CASE_COUNT: Sql = Sql::same("SELECT case_count FROM campaigns WHERE id = $1");

const INSERT_CAMPAIGN: Sql = Sql::each(
    concat!(
        "INSERT INTO campaigns (id, created_at, first_seen_at, last_seen_at, case_count, reporter_count) VALUES ($1, ",
        sqlite_now!(),
        ", ",
        sqlite_now!(),
        ", ",
        sqlite_now!(),
        ", 0, 0)"
    ),
    "INSERT INTO campaigns (id, created_at, first_seen_at, last_seen_at, case_count, reporter_count) \
     VALUES ($1, now(), now(), now(), 0, 0)",
);

const MOVE_KEYS: Sql = Sql::same("UPDATE campaign_keys SET campaign_id = $1 WHERE campaign_id = $2");

const MOVE_CASES: Sql = Sql::same("UPDATE campaign_cases SET campaign_id = $1 WHERE campaign_id = $2");

/// Keeps `merged_into` pointing at a live campaign after a second merge.
const REPOINT_MERGED: Sql = Sql::same("UPDATE campaigns SET merged_into = $1 WHERE merged_into = $2");

/// Moves the survivor's `first_seen_at` back to the merged campaign's when
/// that one is older. SQLite compares the fixed-width time text.
const TAKE_FIRST_SEEN: Sql = Sql::same(
    "UPDATE campaigns SET first_seen_at = (SELECT first_seen_at FROM campaigns WHERE id = $2) \
     WHERE id = $1 AND first_seen_at > (SELECT first_seen_at FROM campaigns WHERE id = $2)",
);

const MARK_MERGED: Sql =
    Sql::same("UPDATE campaigns SET merged_into = $1, case_count = 0, reporter_count = 0 WHERE id = $2");

const INSERT_MERGE: Sql = Sql::each(
    concat!(
        "INSERT INTO campaign_merges (merged_id, survivor_id, case_id, merged_at) VALUES ($1, $2, $3, ",
        sqlite_now!(),
        ")"
    ),
    "INSERT INTO campaign_merges (merged_id, survivor_id, case_id, merged_at) VALUES ($1, $2, $3, now())",
);

/// Adds a key to the campaign unless another campaign owns it already. That
/// happens only for infrastructure and text band keys, because the campaigns
/// they point to are joined or left alone, never merged.
const INSERT_KEYS: Sql = Sql::each(
    // `WHERE true` tells SQLite's parser that ON CONFLICT belongs to the
    // INSERT, not to a join of the SELECT.
    concat!(
        "INSERT INTO campaign_keys (key_type, key_value, campaign_id, added_at) \
         SELECT json_extract(pair.value, '$[0]'), json_extract(pair.value, '$[1]'), $2, ",
        sqlite_now!(),
        " FROM json_each($1) AS pair WHERE true ON CONFLICT (key_type, key_value) DO NOTHING"
    ),
    "INSERT INTO campaign_keys (key_type, key_value, campaign_id, added_at) \
     SELECT pair ->> 0, pair ->> 1, $2, now() FROM jsonb_array_elements($1::jsonb) AS pair \
     ON CONFLICT (key_type, key_value) DO NOTHING",
);

const UPSERT_CASE: Sql = Sql::each(
    concat!(
        "INSERT INTO campaign_cases (case_id, campaign_id, joined_at) VALUES ($1, $2, ",
        sqlite_now!(),
        ") ON CONFLICT (case_id) DO UPDATE SET campaign_id = excluded.campaign_id"
    ),
    "INSERT INTO campaign_cases (case_id, campaign_id, joined_at) VALUES ($1, $2, now()) \
     ON CONFLICT (case_id) DO UPDATE SET campaign_id = excluded.campaign_id",
);

const COUNT_CASES: Sql = Sql::same("SELECT count(*) FROM campaign_cases WHERE campaign_id = $1");

const SELECT_REPORTERS: Sql = Sql::same(
    "SELECT DISTINCT r.reporter FROM reports r JOIN campaign_cases c ON c.case_id = r.case_id \
     WHERE c.campaign_id = $1",
);

/// The reporters of every case in the campaign of case `$1`.
const SELECT_CASE_CAMPAIGN_REPORTERS: Sql = Sql::same(
    "SELECT DISTINCT r.reporter FROM campaign_cases own JOIN campaign_cases c ON c.campaign_id = own.campaign_id \
     JOIN reports r ON r.case_id = c.case_id WHERE own.case_id = $1",
);

const UPDATE_COUNTS: Sql = Sql::each(
    concat!(
        "UPDATE campaigns SET case_count = $2, reporter_count = $3, last_seen_at = ",
        sqlite_now!(),
        " WHERE id = $1"
    ),
    "UPDATE campaigns SET case_count = $2, reporter_count = $3, last_seen_at = now() WHERE id = $1",
);

const SELECT_CAMPAIGN: Sql = Sql::same(concat!("SELECT ", campaign_columns!(), " FROM campaigns WHERE id = $1"));

const SELECT_CAMPAIGN_CASES: Sql =
    Sql::same("SELECT case_id FROM campaign_cases WHERE campaign_id = $1 ORDER BY joined_at, case_id");

const SELECT_MERGED_FROM: Sql =
    Sql::same("SELECT merged_id FROM campaign_merges WHERE survivor_id = $1 ORDER BY merged_at, merged_id");

/// Campaigns that a case's keys point to.
#[derive(Default)]
struct Matches {
    /// The case's campaign before the assignment.
    current: Option<Uuid>,
    /// Campaigns reached by an artefact key or holding the case already.
    artefacts: BTreeSet<Uuid>,
    /// Matching infrastructure keys per campaign.
    infrastructure: BTreeMap<Uuid, usize>,
    /// Matching text bands per campaign.
    bands: BTreeMap<Uuid, usize>,
}

impl Store {
    /// Puts a case into the campaign its signature keys point to, creating,
    /// joining or merging campaigns as the module documentation describes,
    /// and stores the keys under that campaign.
    ///
    /// Calling it again for a case (for example after another report joined
    /// the case) is safe: the case stays in its campaign unless new keys link
    /// it to another, and the counts are refreshed. Fails with `CaseNotFound`
    /// when the case does not exist, and with `InvalidInput` for more than
    /// 2,000 keys or an empty or over-long key value.
    pub async fn assign_campaign(&self, case_id: Uuid, keys: &[SignatureKey]) -> Result<CampaignAssignment> {
        check_keys(keys)?;

        let assignment = match &self.db {
            Writes::Sqlite(writer) => {
                let mut guard = writer.lock().await?;
                let mut tx = Tx::Sqlite(guard.connection()?.begin_with("BEGIN IMMEDIATE").await?);
                let assignment = assign_in(&mut tx, case_id, keys).await?;
                tx.commit().await?;
                assignment
            }
            Writes::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                take_assign_lock(&mut tx).await?;
                let mut tx = Tx::Postgres(tx);
                let assignment = assign_in(&mut tx, case_id, keys).await?;
                tx.commit().await?;
                assignment
            }
        };

        tracing::debug!(
            %case_id,
            campaign_id = %assignment.campaign_id,
            created = assignment.created,
            merged = assignment.merged_from.len(),
            "case assigned to campaign"
        );
        Ok(assignment)
    }

    /// Returns the campaign with its cases, reporter count and merged
    /// campaigns. A merged campaign is returned too, with `merged_into` set
    /// and no cases.
    pub async fn get_campaign(&self, campaign_id: Uuid) -> Result<Option<CampaignDetail>> {
        let (row, cases, merged_from, reporters) = on_reader!(&self.reads, |pool, backend| {
            #[allow(unused_mut)]
            let mut conn = sqlx::Acquire::acquire(pool).await?;
            let row: Option<CampaignRow> =
                sqlx::query_as(SELECT_CAMPAIGN.text(backend)).bind(campaign_id).fetch_optional(&mut *conn).await?;
            let cases: Vec<Uuid> =
                sqlx::query_scalar(SELECT_CAMPAIGN_CASES.text(backend)).bind(campaign_id).fetch_all(&mut *conn).await?;
            let merged_from: Vec<Uuid> =
                sqlx::query_scalar(SELECT_MERGED_FROM.text(backend)).bind(campaign_id).fetch_all(&mut *conn).await?;
            let reporters: Vec<String> =
                sqlx::query_scalar(SELECT_REPORTERS.text(backend)).bind(campaign_id).fetch_all(&mut *conn).await?;
            (row, cases, merged_from, reporters)
        });
        let Some(row) = row else {
            return Ok(None);
        };

        Ok(Some(CampaignDetail {
            campaign: campaign_from_row(row)?,
            cases,
            reporter_count: distinct_reporters(&reporters),
            merged_from,
        }))
    }

    /// Returns the reporter count of the campaign that the case is in,
    /// counted as `get_campaign` counts it, in one statement. Returns 0 when
    /// the case is in no campaign.
    pub async fn campaign_reporter_count(&self, case_id: Uuid) -> Result<u64> {
        let reporters: Vec<String> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_scalar(SELECT_CASE_CAMPAIGN_REPORTERS.text(backend)).bind(case_id).fetch_all(pool).await?
        });
        Ok(distinct_reporters(&reporters))
    }

    /// Returns the campaign of a case, if the case was assigned to one.
    pub async fn campaign_of_case(&self, case_id: Uuid) -> Result<Option<Uuid>> {
        Ok(on_reader!(&self.reads, |pool, backend| {
            sqlx::query_scalar(SELECT_CASE_CAMPAIGN.text(backend)).bind(case_id).fetch_optional(pool).await?
        }))
    }
}

/// Takes the PostgreSQL lock that serialises campaign assignments, until
/// the transaction ends. Two assignments at once could each create a
/// campaign for keys that should have joined one.
pub(crate) async fn take_assign_lock(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>) -> Result<()> {
    sqlx::query(TAKE_ASSIGN_LOCK.text(crate::db::Backend::Postgres)).bind(ASSIGN_LOCK_ID).execute(&mut **tx).await?;
    Ok(())
}

pub(crate) fn check_keys(keys: &[SignatureKey]) -> Result<()> {
    if keys.len() > MAX_KEYS {
        return Err(invalid("campaign keys", format!("{} keys, more than the maximum of {MAX_KEYS}", keys.len())));
    }
    for key in keys {
        if key.value.is_empty() || key.value.len() > MAX_KEY_VALUE_BYTES {
            let reason =
                format!("{} key of {} bytes: expected 1 to {MAX_KEY_VALUE_BYTES} bytes", key.kind, key.value.len());
            return Err(invalid("campaign key", reason));
        }
    }
    Ok(())
}

/// The steps of `assign_campaign` inside the locked transaction.
pub(crate) async fn assign_in(tx: &mut Tx<'_>, case_id: Uuid, keys: &[SignatureKey]) -> Result<CampaignAssignment> {
    if !case_exists(tx, case_id).await? {
        return Err(StoreError::CaseNotFound(case_id));
    }

    let matches = find_matches(tx, case_id, keys).await?;
    let targets = targets_of(&matches);
    let (campaign_id, created, merged_from) = if targets.is_empty() {
        (create_campaign(tx).await?, true, Vec::new())
    } else {
        let survivor = choose_survivor(tx, &targets).await?;
        let merged_from: Vec<Uuid> = targets.into_iter().filter(|id| *id != survivor).collect();
        for merged in &merged_from {
            merge_into(tx, survivor, *merged, case_id).await?;
        }
        (survivor, false, merged_from)
    };

    let pairs = key_pairs(keys);
    on_tx!(tx, |conn, backend| {
        sqlx::query(INSERT_KEYS.text(backend)).bind(&pairs).bind(campaign_id).execute(conn).await?.rows_affected()
    });
    on_tx!(tx, |conn, backend| {
        sqlx::query(UPSERT_CASE.text(backend)).bind(case_id).bind(campaign_id).execute(conn).await?.rows_affected()
    });

    let (case_count, reporter_count) = refresh_counts(tx, campaign_id).await?;
    Ok(CampaignAssignment { campaign_id, created, merged_from, case_count, reporter_count, previous: matches.current })
}

async fn case_exists(tx: &mut Tx<'_>, case_id: Uuid) -> Result<bool> {
    let count: i64 = on_tx!(tx, |conn, backend| {
        sqlx::query_scalar(SELECT_CASE_EXISTS.text(backend)).bind(case_id).fetch_one(conn).await?
    });
    Ok(count > 0)
}

/// Looks up the campaign of each key, all in one statement, and the case's
/// current campaign.
async fn find_matches(tx: &mut Tx<'_>, case_id: Uuid, keys: &[SignatureKey]) -> Result<Matches> {
    let mut matches = Matches::default();
    let current: Option<Uuid> = on_tx!(tx, |conn, backend| {
        sqlx::query_scalar(SELECT_CASE_CAMPAIGN.text(backend)).bind(case_id).fetch_optional(conn).await?
    });
    matches.artefacts.extend(current);
    matches.current = current;

    let pairs = key_pairs(keys);
    let owners: Vec<(String, String, Uuid)> = on_tx!(tx, |conn, backend| {
        sqlx::query_as(SELECT_KEY_CAMPAIGNS.text(backend)).bind(&pairs).fetch_all(conn).await?
    });
    let owners: HashMap<(&str, &str), Uuid> =
        owners.iter().map(|(kind, value, owner)| ((kind.as_str(), value.as_str()), *owner)).collect();
    // Counted per key given, as the lookups one key at a time did, so a key
    // listed twice counts twice.
    for key in keys {
        let Some(owner) = owners.get(&(key.kind.as_str(), key.value.as_str())).copied() else {
            continue;
        };
        match key.kind.strength() {
            KeyStrength::Artefact => {
                matches.artefacts.insert(owner);
            }
            KeyStrength::Infrastructure => *matches.infrastructure.entry(owner).or_default() += 1,
            KeyStrength::Text => *matches.bands.entry(owner).or_default() += 1,
        }
    }
    Ok(matches)
}

/// Returns the campaigns the case joins: every one reached by an artefact
/// key, or else the one with the most infrastructure matches, or else the
/// one with the most text band matches.
fn targets_of(matches: &Matches) -> BTreeSet<Uuid> {
    if !matches.artefacts.is_empty() {
        return matches.artefacts.clone();
    }
    if !matches.infrastructure.is_empty() {
        return most_matched(&matches.infrastructure);
    }
    most_matched(&matches.bands)
}

/// Returns the campaign with the most matches, the oldest on a tie (UUIDv7
/// ids sort by creation time).
fn most_matched(matches: &BTreeMap<Uuid, usize>) -> BTreeSet<Uuid> {
    let best =
        matches.iter().max_by(|(left_id, left), (right_id, right)| left.cmp(right).then_with(|| right_id.cmp(left_id)));
    best.map(|(id, _)| *id).into_iter().collect()
}

/// Returns the target with the most cases, the oldest on a tie, so the
/// fewest rows move.
async fn choose_survivor(tx: &mut Tx<'_>, targets: &BTreeSet<Uuid>) -> Result<Uuid> {
    let mut best: Option<(i64, Uuid)> = None;
    for id in targets {
        let case_count: i64 = on_tx!(tx, |conn, backend| {
            sqlx::query_scalar(SELECT_CASE_COUNT.text(backend)).bind(*id).fetch_one(conn).await?
        });
        // Targets are visited oldest first, so only a strictly larger count replaces the best.
        if best.is_none_or(|(count, _)| case_count > count) {
            best = Some((case_count, *id));
        }
    }
    best.map(|(_, id)| id).ok_or_else(|| invalid("campaign targets", "expected at least one"))
}

async fn create_campaign(tx: &mut Tx<'_>) -> Result<Uuid> {
    let id = Uuid::now_v7();
    on_tx!(tx, |conn, backend| sqlx::query(INSERT_CAMPAIGN.text(backend))
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected());
    Ok(id)
}

/// Moves every key and case of `merged` to `survivor` and records the merge.
async fn merge_into(tx: &mut Tx<'_>, survivor: Uuid, merged: Uuid, case_id: Uuid) -> Result<()> {
    for statement in [&MOVE_KEYS, &MOVE_CASES, &REPOINT_MERGED, &TAKE_FIRST_SEEN, &MARK_MERGED] {
        on_tx!(tx, |conn, backend| {
            sqlx::query(statement.text(backend)).bind(survivor).bind(merged).execute(conn).await?.rows_affected()
        });
    }
    on_tx!(tx, |conn, backend| {
        sqlx::query(INSERT_MERGE.text(backend))
            .bind(merged)
            .bind(survivor)
            .bind(case_id)
            .execute(conn)
            .await?
            .rows_affected()
    });
    tracing::debug!(%survivor, %merged, %case_id, "campaigns merged");
    Ok(())
}

/// Recounts the campaign's cases and reporters and stores the counts.
async fn refresh_counts(tx: &mut Tx<'_>, campaign_id: Uuid) -> Result<(u64, u64)> {
    let (case_count, reporters) = on_tx!(tx, |conn, backend| {
        let case_count: i64 =
            sqlx::query_scalar(COUNT_CASES.text(backend)).bind(campaign_id).fetch_one(&mut *conn).await?;
        let reporters: Vec<String> =
            sqlx::query_scalar(SELECT_REPORTERS.text(backend)).bind(campaign_id).fetch_all(&mut *conn).await?;
        (case_count, reporters)
    });
    let reporter_count = distinct_reporters(&reporters);

    on_tx!(tx, |conn, backend| {
        sqlx::query(UPDATE_COUNTS.text(backend))
            .bind(campaign_id)
            .bind(case_count)
            .bind(i64::try_from(reporter_count).unwrap_or(i64::MAX))
            .execute(conn)
            .await?
            .rows_affected()
    });
    Ok((u64::try_from(case_count).unwrap_or_default(), reporter_count))
}

/// Counts addresses ignoring ASCII case, as `get_case` groups reporters.
fn distinct_reporters(reporters: &[String]) -> u64 {
    let distinct: HashSet<String> = reporters.iter().map(|address| address.to_ascii_lowercase()).collect();
    distinct.len() as u64
}

fn campaign_from_row(row: CampaignRow) -> Result<Campaign> {
    let (id, created_at, first_seen_at, last_seen_at, case_count, merged_into) = row;
    let case_count = u64::try_from(case_count).map_err(|_| StoreError::InvalidStoredValue {
        column: "campaigns.case_count",
        value: case_count.to_string(),
    })?;
    Ok(Campaign { id, created_at, first_seen_at, last_seen_at, case_count, merged_into })
}

/// The keys as the JSON array of `[key type, value]` pairs that
/// `SELECT_KEY_CAMPAIGNS` and `INSERT_KEYS` read.
fn key_pairs(keys: &[SignatureKey]) -> String {
    let pair = |key: &SignatureKey| serde_json::json!([key.kind.as_str(), key.value.as_str()]);
    serde_json::Value::Array(keys.iter().map(pair).collect()).to_string()
}

#[cfg(test)]
mod tests {
    use phishloop_campaign::KeyKind;

    use super::*;

    #[test]
    fn stored_kind_names_parse() {
        for name in ["url", "domain", "attachment", "sender_address", "reply_to_address", "sender_ip", "text_band"] {
            assert!(KeyKind::from_name(name).is_some(), "{name}");
        }
    }

    #[test]
    fn matches_pick_strongest_tier_then_most_then_oldest() {
        let older = Uuid::from_u128(1);
        let newer = Uuid::from_u128(2);
        let mut matches = Matches::default();
        matches.bands.insert(older, 2);
        matches.bands.insert(newer, 2);

        assert_eq!(targets_of(&matches), BTreeSet::from([older]));
        matches.bands.insert(newer, 3);
        assert_eq!(targets_of(&matches), BTreeSet::from([newer]));
        matches.infrastructure.insert(older, 1);
        assert_eq!(targets_of(&matches), BTreeSet::from([older]));
        matches.artefacts.extend([older, newer]);
        assert_eq!(targets_of(&matches), BTreeSet::from([older, newer]));
    }
}
