//! Who received, clicked or submitted credentials, per case, and each
//! import of click evidence that matched the case.
//!
//! A person's verdict only rises (`received`, `clicked`,
//! `submitted_credentials`). An import with less evidence, such as a DNS
//! log after a proxy log, keeps the higher verdict and adds its lines to
//! the evidence. `record_clicks` stores the import, the people and their
//! events in one transaction: `clicks_imported` once per import and
//! `click_recorded` for each person whose verdict rose above `received`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::types::Json;
use uuid::Uuid;

use crate::db::{Sql, on_reader, on_writer, sqlite_now};
use crate::error::{Result, StoreError};
use crate::events::{EventSubject, append_in_tx};
use crate::store::{Store, check_text};
use crate::text_enum::text_enum;

/// Evidence lines kept per person and case; further lines are dropped.
pub const MAX_EVIDENCE_PER_PERSON: usize = 100;
/// Excluded entries and unreadable lines kept per import.
pub const MAX_IMPORT_DETAILS: usize = 1_000;
/// Maximum length of an address: a 64-byte local part, `@` and a 255-byte domain.
const MAX_ADDRESS_BYTES: usize = 320;
const MAX_NAME_BYTES: usize = 200;

text_enum! {
    /// What a person did with the case's message.
    pub enum PersonVerdict in "identity_people.verdict" {
        /// Received the message; no click evidence.
        Received = "received",
        /// Visited a campaign URL, or resolved its host.
        Clicked = "clicked",
        /// Sent a POST to a campaign host: a credential submission.
        SubmittedCredentials = "submitted_credentials",
    }
}

impl PersonVerdict {
    fn rank(self) -> u8 {
        match self {
            Self::Received => 0,
            Self::Clicked => 1,
            Self::SubmittedCredentials => 2,
        }
    }

    /// Returns the higher of two verdicts.
    pub fn max(self, other: Self) -> Self {
        if other.rank() > self.rank() { other } else { self }
    }
}

/// One person of an import.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonEvidence {
    /// Lowercase address.
    pub address: String,
    pub verdict: PersonVerdict,
    /// False for someone who clicked a forwarded copy.
    pub recipient: bool,
    /// The log lines behind the verdict, oldest first, each a JSON object
    /// with at least `time`.
    pub evidence: Vec<Value>,
}

/// An import of click evidence for one case, to store with `record_clicks`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewClickImport {
    pub case_id: Uuid,
    /// The log format, such as `proxy_csv`.
    pub format: String,
    /// The API token name that sent the evidence.
    pub requested_by: String,
    /// Entries read from the log.
    pub entries: u64,
    /// Entries whose host is a campaign host of this case.
    pub matched: u64,
    /// Matching entries that were not counted, with the reason.
    pub excluded: Vec<Value>,
    /// Lines that could not be read.
    pub defects: Vec<Value>,
    pub people: Vec<PersonEvidence>,
}

/// A stored import.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClickImport {
    pub id: Uuid,
    pub case_id: Uuid,
    pub format: String,
    pub requested_by: String,
    pub entries: u64,
    pub matched: u64,
    pub excluded: Value,
    pub defects: Value,
    pub created_at: DateTime<Utc>,
}

/// A person's stored verdict for a case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdentityPerson {
    pub id: Uuid,
    pub case_id: Uuid,
    pub address: String,
    pub verdict: PersonVerdict,
    pub recipient: bool,
    pub evidence: Vec<Value>,
    /// Time of the earliest click evidence.
    pub first_clicked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A person whose verdict rose with an import.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerdictChange {
    pub person: IdentityPerson,
    /// The verdict before the import; `None` for a person seen first now.
    pub previous: Option<PersonVerdict>,
}

/// The result of `record_clicks`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedClicks {
    pub import: ClickImport,
    /// People whose verdict rose to `clicked` or `submitted_credentials`.
    pub changes: Vec<VerdictChange>,
}

macro_rules! person_columns {
    () => {
        "id, case_id, address, verdict, recipient, evidence, first_clicked_at, created_at, updated_at"
    };
}

type PersonRow = (Uuid, Uuid, String, String, bool, Value, Option<DateTime<Utc>>, DateTime<Utc>, DateTime<Utc>);

macro_rules! import_columns {
    () => {
        "id, case_id, format, requested_by, entries, matched, excluded, defects, created_at"
    };
}

type ImportRow = (Uuid, Uuid, String, String, i64, i64, Value, Value, DateTime<Utc>);

const INSERT_IMPORT: Sql = Sql::each(
    concat!(
        "INSERT INTO click_imports (id, case_id, format, requested_by, entries, matched, excluded, defects, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ",
        sqlite_now!(),
        ") RETURNING ",
        import_columns!()
    ),
    concat!(
        "INSERT INTO click_imports (id, case_id, format, requested_by, entries, matched, excluded, defects, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) RETURNING ",
        import_columns!()
    ),
);

const SELECT_PERSON: Sql =
    Sql::same(concat!("SELECT ", person_columns!(), " FROM identity_people WHERE case_id = $1 AND address = $2"));

const INSERT_PERSON: Sql = Sql::each(
    concat!(
        "INSERT INTO identity_people (id, case_id, address, verdict, recipient, evidence, first_clicked_at, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, ",
        sqlite_now!(),
        ", ",
        sqlite_now!(),
        ") RETURNING ",
        person_columns!()
    ),
    concat!(
        "INSERT INTO identity_people (id, case_id, address, verdict, recipient, evidence, first_clicked_at, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now()) RETURNING ",
        person_columns!()
    ),
);

const UPDATE_PERSON: Sql = Sql::each(
    concat!(
        "UPDATE identity_people SET verdict = $2, recipient = $3, evidence = $4, first_clicked_at = $5, \
         updated_at = ",
        sqlite_now!(),
        " WHERE id = $1 RETURNING ",
        person_columns!()
    ),
    concat!(
        "UPDATE identity_people SET verdict = $2, recipient = $3, evidence = $4, first_clicked_at = $5, \
         updated_at = now() WHERE id = $1 RETURNING ",
        person_columns!()
    ),
);

const SELECT_CASE_PEOPLE: Sql =
    Sql::same(concat!("SELECT ", person_columns!(), " FROM identity_people WHERE case_id = $1 ORDER BY address"));

const SELECT_CASE_IMPORTS: Sql =
    Sql::same(concat!("SELECT ", import_columns!(), " FROM click_imports WHERE case_id = $1 ORDER BY created_at, id"));

impl Store {
    /// Stores an import of click evidence for a case and merges its people
    /// into the case's verdicts, with the events `clicks_imported` and
    /// `click_recorded`, in one transaction. Returns the people whose
    /// verdict rose to `clicked` or `submitted_credentials`.
    ///
    /// Fails with `CaseNotFound` for an unknown case and with
    /// `InvalidInput` for an empty or overlong address or name.
    pub async fn record_clicks(&self, import: &NewClickImport) -> Result<RecordedClicks> {
        check_text("click import format", &import.format, MAX_NAME_BYTES)?;
        check_text("requested_by", &import.requested_by, MAX_NAME_BYTES)?;
        for person in &import.people {
            check_text("person address", &person.address, MAX_ADDRESS_BYTES)?;
        }
        let excluded = Value::Array(import.excluded.iter().take(MAX_IMPORT_DETAILS).cloned().collect());
        let defects = Value::Array(import.defects.iter().take(MAX_IMPORT_DETAILS).cloned().collect());
        self.check_payload("excluded click entries", &excluded.to_string())?;

        let recorded: RecordedClicks = on_writer!(&self.db, |pool, backend| {
            async {
                let mut tx = pool.begin().await?;
                let row: ImportRow = sqlx::query_as(INSERT_IMPORT.text(backend))
                    .bind(Uuid::now_v7())
                    .bind(import.case_id)
                    .bind(&import.format)
                    .bind(&import.requested_by)
                    .bind(i64::try_from(import.entries).unwrap_or(i64::MAX))
                    .bind(i64::try_from(import.matched).unwrap_or(i64::MAX))
                    .bind(Json(&excluded))
                    .bind(Json(&defects))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|error| case_missing(error, import.case_id))?;
                let stored_import = import_from_row(row);

                let mut changes = Vec::new();
                for person in &import.people {
                    let address = person.address.trim().to_lowercase();
                    let existing: Option<PersonRow> = sqlx::query_as(SELECT_PERSON.text(backend))
                        .bind(import.case_id)
                        .bind(&address)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let existing = existing.map(person_from_row).transpose()?;
                    let merged = merge(existing.as_ref(), person);
                    let row: PersonRow = match &existing {
                        None => {
                            sqlx::query_as(INSERT_PERSON.text(backend))
                                .bind(Uuid::now_v7())
                                .bind(import.case_id)
                                .bind(&address)
                                .bind(merged.verdict.as_str())
                                .bind(merged.recipient)
                                .bind(Json(&merged.evidence))
                                .bind(merged.first_clicked_at)
                                .fetch_one(&mut *tx)
                                .await?
                        }
                        Some(stored) => {
                            sqlx::query_as(UPDATE_PERSON.text(backend))
                                .bind(stored.id)
                                .bind(merged.verdict.as_str())
                                .bind(merged.recipient)
                                .bind(Json(&merged.evidence))
                                .bind(merged.first_clicked_at)
                                .fetch_one(&mut *tx)
                                .await?
                        }
                    };
                    let stored = person_from_row(row)?;
                    let previous = existing.as_ref().map(|p| p.verdict);
                    let rose = stored.verdict != PersonVerdict::Received
                        && previous.is_none_or(|before| stored.verdict.rank() > before.rank());
                    if rose {
                        let payload = json!({
                            "import_id": stored_import.id,
                            "address": stored.address,
                            "verdict": stored.verdict,
                            "previous": previous,
                            "recipient": stored.recipient,
                            "first_clicked_at": stored.first_clicked_at,
                            "evidence_lines": stored.evidence.len(),
                        })
                        .to_string();
                        self.check_payload("event payload", &payload)?;
                        append_in_tx!(tx, backend, EventSubject::Case(import.case_id), "click_recorded", &payload)
                            .await?;
                        changes.push(VerdictChange { person: stored, previous });
                    }
                }

                let payload = json!({
                    "import_id": stored_import.id,
                    "format": stored_import.format,
                    "requested_by": stored_import.requested_by,
                    "entries": stored_import.entries,
                    "matched": stored_import.matched,
                    "excluded": import.excluded.len(),
                    "defects": import.defects.len(),
                    "people": import.people.len(),
                    "verdicts_raised": changes.len(),
                })
                .to_string();
                append_in_tx!(tx, backend, EventSubject::Case(import.case_id), "clicks_imported", &payload).await?;
                tx.commit().await?;
                Ok::<_, StoreError>(RecordedClicks { import: stored_import, changes })
            }
            .await?
        });
        tracing::debug!(case_id = %import.case_id, import_id = %recorded.import.id, raised = recorded.changes.len(), "clicks recorded");
        Ok(recorded)
    }

    /// Returns every person of a case with a verdict, by address.
    pub async fn identity_people(&self, case_id: Uuid) -> Result<Vec<IdentityPerson>> {
        let rows: Vec<PersonRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_CASE_PEOPLE.text(backend)).bind(case_id).fetch_all(pool).await?
        });
        rows.into_iter().map(person_from_row).collect()
    }

    /// Returns the click imports of a case, oldest first.
    pub async fn click_imports(&self, case_id: Uuid) -> Result<Vec<ClickImport>> {
        let rows: Vec<ImportRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_CASE_IMPORTS.text(backend)).bind(case_id).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(import_from_row).collect())
    }
}

/// The values of a person's row after an import.
struct Merged {
    verdict: PersonVerdict,
    recipient: bool,
    evidence: Vec<Value>,
    first_clicked_at: Option<DateTime<Utc>>,
}

/// Merges new evidence into a stored person: the higher verdict, recipient
/// when either import marks the person one, and the evidence lines not
/// stored yet, oldest first.
fn merge(existing: Option<&IdentityPerson>, new: &PersonEvidence) -> Merged {
    let mut evidence: Vec<Value> = existing.map(|p| p.evidence.clone()).unwrap_or_default();
    for line in &new.evidence {
        if !evidence.contains(line) {
            evidence.push(line.clone());
        }
    }
    evidence.sort_by_key(|line| line.get("time").and_then(Value::as_str).unwrap_or_default().to_owned());
    evidence.truncate(MAX_EVIDENCE_PER_PERSON);

    let first_clicked_at = evidence
        .iter()
        .filter_map(|line| line.get("time").and_then(Value::as_str))
        .filter_map(|time| DateTime::parse_from_rfc3339(time).ok())
        .map(|time| time.with_timezone(&Utc))
        .min();
    Merged {
        verdict: existing.map_or(new.verdict, |p| p.verdict.max(new.verdict)),
        recipient: existing.is_some_and(|p| p.recipient) || new.recipient,
        evidence,
        first_clicked_at,
    }
}

fn case_missing(error: sqlx::Error, case_id: Uuid) -> StoreError {
    match error {
        sqlx::Error::Database(e) if e.is_foreign_key_violation() => StoreError::CaseNotFound(case_id),
        other => other.into(),
    }
}

fn person_from_row(row: PersonRow) -> Result<IdentityPerson> {
    let (id, case_id, address, verdict, recipient, evidence, first_clicked_at, created_at, updated_at) = row;
    let evidence = match evidence {
        Value::Array(lines) => lines,
        other => {
            return Err(StoreError::InvalidStoredValue {
                column: "identity_people.evidence",
                value: other.to_string(),
            });
        }
    };
    Ok(IdentityPerson {
        id,
        case_id,
        address,
        verdict: PersonVerdict::from_column(&verdict)?,
        recipient,
        evidence,
        first_clicked_at,
        created_at,
        updated_at,
    })
}

fn import_from_row(row: ImportRow) -> ClickImport {
    let (id, case_id, format, requested_by, entries, matched, excluded, defects, created_at) = row;
    ClickImport {
        id,
        case_id,
        format,
        requested_by,
        entries: u64::try_from(entries).unwrap_or(0),
        matched: u64::try_from(matched).unwrap_or(0),
        excluded,
        defects,
        created_at,
    }
}
