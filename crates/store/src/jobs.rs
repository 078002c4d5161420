//! The durable job queue with leases.
//!
//! A job is `queued`, `running` (leased to one worker), `done` or `dead`.
//! Column `due_at` is the time a job may next be claimed: for a queued job
//! the time it becomes runnable, for a running job the end of its lease. So
//! one index finds both new work and jobs whose worker stopped.
//!
//! Each claim gives a fresh lease token. Heartbeat, complete and fail change
//! the job only while it is running under that token. An expired lease keeps
//! its token until another claim takes the job over, so a slow worker may
//! still finish when no other worker claimed the job. After a takeover, the
//! old worker gets `LeaseLost` and cannot overwrite the new attempt.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::db::{Reads, Sql, Writes, on_reader, on_writer, sqlite_now, sqlite_now_plus_ms};
use crate::error::{Result, StoreError, invalid};
use crate::store::{Store, check_kind, check_text, delay_ms, duration_ms};
use crate::text_enum::text_enum;

const MAX_LEASE: Duration = Duration::from_secs(24 * 60 * 60);
const MAX_DELAY: Duration = Duration::from_secs(366 * 24 * 60 * 60);
const MAX_ATTEMPTS: u32 = 1000;
const MAX_WORKER_ID_BYTES: usize = 200;
const MAX_IDEMPOTENCY_KEY_BYTES: usize = 1024;
/// Longer error texts are cut to this many bytes before they are stored.
const MAX_ERROR_BYTES: usize = 16 * 1024;

text_enum! {
    /// The state of a job.
    pub enum JobStatus in "jobs.status" {
        /// Waiting until `due_at`, then claimable.
        Queued = "queued",
        /// Leased to a worker until `due_at`; claimable again after that.
        Running = "running",
        Done = "done",
        /// Out of attempts, or failed without retry. `last_error` contains the reason.
        Dead = "dead",
    }
}

/// A job as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: Uuid,
    pub kind: String,
    /// Unique per kind: a second enqueue with the same kind and key returns
    /// this job.
    pub idempotency_key: String,
    pub payload: Value,
    pub status: JobStatus,
    /// Claims so far, the current one included.
    pub attempts: u32,
    pub max_attempts: u32,
    /// Queued: earliest time to run. Running: end of the lease.
    pub due_at: DateTime<Utc>,
    /// The worker that claimed the job last.
    pub lease_owner: Option<String>,
    /// The error of the last failed or abandoned attempt.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the job became done or dead.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Settings of one enqueue.
#[derive(Clone, Copy, Debug, Default)]
pub struct JobOptions {
    /// Attempts before the job is dead; `None` takes the store's
    /// `default_max_attempts`. At most 1000.
    pub max_attempts: Option<u32>,
    /// How long after the enqueue the job becomes claimable. At most 366 days.
    pub delay: Duration,
}

/// The result of an enqueue.
#[derive(Clone, Debug, PartialEq)]
pub struct Enqueued {
    pub job: Job,
    /// False when a job with the same kind and idempotency key existed.
    pub created: bool,
}

/// One worker's claim on one job, returned by `claim`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub job_id: Uuid,
    pub worker_id: String,
    /// Random per claim; only this claim's holder can extend, complete or fail the job.
    pub token: Uuid,
    /// The attempt number of this claim, starting at 1.
    pub attempt: u32,
    pub expires_at: DateTime<Utc>,
}

/// A claimed job and its lease.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimedJob {
    pub job: Job,
    pub lease: Lease,
}

/// Columns of `JobRow`, in order.
macro_rules! job_columns {
    () => {
        "id, kind, idempotency_key, payload, status, attempts, max_attempts, due_at, lease_owner, last_error, \
         created_at, updated_at, finished_at, lease_token"
    };
}

pub(crate) type JobRow = (
    Uuid,
    String,
    String,
    Value,
    String,
    i64,
    i64,
    DateTime<Utc>,
    Option<String>,
    Option<String>,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<Uuid>,
);

pub(crate) const INSERT_JOB: Sql = Sql::each(
    concat!(
        "INSERT INTO jobs (id, kind, idempotency_key, payload, status, attempts, max_attempts, due_at, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, 'queued', 0, $5, ",
        sqlite_now_plus_ms!("$6"),
        ", ",
        sqlite_now!(),
        ", ",
        sqlite_now!(),
        ") ON CONFLICT (kind, idempotency_key) DO NOTHING RETURNING ",
        job_columns!()
    ),
    concat!(
        "INSERT INTO jobs (id, kind, idempotency_key, payload, status, attempts, max_attempts, due_at, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, 'queued', 0, $5, now() + $6 * interval '1 millisecond', now(), now()) \
         ON CONFLICT (kind, idempotency_key) DO NOTHING RETURNING ",
        job_columns!()
    ),
);

const SELECT_JOB_BY_KEY: Sql =
    Sql::same(concat!("SELECT ", job_columns!(), " FROM jobs WHERE kind = $1 AND idempotency_key = $2"));

const SELECT_JOB: Sql = Sql::same(concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1"));

const SELECT_JOBS_WITH_STATUS: Sql =
    Sql::same(concat!("SELECT ", job_columns!(), " FROM jobs WHERE status = $1 ORDER BY due_at, id LIMIT $2"));

/// Marks dead the running jobs of the given kinds whose lease expired on
/// their last attempt: their worker stopped and no attempt is left.
const BURY_ABANDONED: Sql = Sql::each(
    concat!(
        "UPDATE jobs SET status = 'dead', lease_token = NULL, finished_at = ",
        sqlite_now!(),
        ", updated_at = ",
        sqlite_now!(),
        ", last_error = printf('the lease of worker %s expired on attempt %d of %d without complete or fail', \
         lease_owner, attempts, max_attempts) \
         WHERE status = 'running' AND due_at <= ",
        sqlite_now!(),
        " AND attempts >= max_attempts AND kind IN (SELECT value FROM json_each($1)) \
         RETURNING id, kind, lease_owner, attempts"
    ),
    "UPDATE jobs SET status = 'dead', lease_token = NULL, finished_at = now(), updated_at = now(), \
     last_error = format('the lease of worker %s expired on attempt %s of %s without complete or fail', \
     lease_owner, attempts, max_attempts) \
     WHERE status = 'running' AND due_at <= now() AND attempts >= max_attempts \
     AND kind IN (SELECT jsonb_array_elements_text($1)) \
     RETURNING id, kind, lease_owner, attempts",
);

/// Whether `BURY_ABANDONED` would change a row, as a read on SQLite.
const ANY_ABANDONED_SQLITE: &str = concat!(
    "SELECT 1 FROM jobs WHERE status = 'running' AND due_at <= ",
    sqlite_now!(),
    " AND attempts >= max_attempts AND kind IN (SELECT value FROM json_each($1)) LIMIT 1"
);

/// Takes the oldest due job in one statement. On SQLite the statement holds
/// the database's single write lock from the select to the update. On
/// PostgreSQL `FOR UPDATE SKIP LOCKED` makes concurrent claimers pass over a
/// row another claimer has locked, and re-checks the conditions on the latest
/// version of the row it locks.
const CLAIM_JOB: Sql = Sql::each(
    concat!(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = $2, lease_token = $3, due_at = ",
        sqlite_now_plus_ms!("$4"),
        ", updated_at = ",
        sqlite_now!(),
        " WHERE id = (SELECT id FROM jobs WHERE status IN ('queued', 'running') AND due_at <= ",
        sqlite_now!(),
        " AND attempts < max_attempts AND kind IN (SELECT value FROM json_each($1)) ORDER BY due_at, id LIMIT 1) \
         RETURNING ",
        job_columns!()
    ),
    concat!(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = $2, lease_token = $3, \
         due_at = now() + $4 * interval '1 millisecond', updated_at = now() \
         WHERE id = (SELECT id FROM jobs WHERE status IN ('queued', 'running') AND due_at <= now() \
         AND attempts < max_attempts AND kind IN (SELECT jsonb_array_elements_text($1)) \
         ORDER BY due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING ",
        job_columns!()
    ),
);

const HEARTBEAT: Sql = Sql::each(
    concat!(
        "UPDATE jobs SET due_at = ",
        sqlite_now_plus_ms!("$3"),
        ", updated_at = ",
        sqlite_now!(),
        " WHERE id = $1 AND lease_token = $2 AND status = 'running' RETURNING due_at"
    ),
    "UPDATE jobs SET due_at = now() + $3 * interval '1 millisecond', updated_at = now() \
     WHERE id = $1 AND lease_token = $2 AND status = 'running' RETURNING due_at",
);

const COMPLETE: Sql = Sql::each(
    concat!(
        "UPDATE jobs SET status = 'done', lease_token = NULL, finished_at = ",
        sqlite_now!(),
        ", updated_at = ",
        sqlite_now!(),
        " WHERE id = $1 AND lease_token = $2 AND status = 'running' RETURNING ",
        job_columns!()
    ),
    concat!(
        "UPDATE jobs SET status = 'done', lease_token = NULL, finished_at = now(), updated_at = now() \
         WHERE id = $1 AND lease_token = $2 AND status = 'running' RETURNING ",
        job_columns!()
    ),
);

/// Queues the job again after `$4` milliseconds, or marks it dead when this
/// was its last attempt.
const FAIL_RETRY: Sql = Sql::each(
    concat!(
        "UPDATE jobs SET status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
         due_at = CASE WHEN attempts >= max_attempts THEN due_at ELSE ",
        sqlite_now_plus_ms!("$4"),
        " END, finished_at = CASE WHEN attempts >= max_attempts THEN ",
        sqlite_now!(),
        " END, last_error = $3, lease_token = NULL, updated_at = ",
        sqlite_now!(),
        " WHERE id = $1 AND lease_token = $2 AND status = 'running' RETURNING ",
        job_columns!()
    ),
    concat!(
        "UPDATE jobs SET status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
         due_at = CASE WHEN attempts >= max_attempts THEN due_at ELSE now() + $4 * interval '1 millisecond' END, \
         finished_at = CASE WHEN attempts >= max_attempts THEN now() END, \
         last_error = $3, lease_token = NULL, updated_at = now() \
         WHERE id = $1 AND lease_token = $2 AND status = 'running' RETURNING ",
        job_columns!()
    ),
);

const FAIL_DEAD: Sql = Sql::each(
    concat!(
        "UPDATE jobs SET status = 'dead', finished_at = ",
        sqlite_now!(),
        ", last_error = $3, lease_token = NULL, updated_at = ",
        sqlite_now!(),
        " WHERE id = $1 AND lease_token = $2 AND status = 'running' RETURNING ",
        job_columns!()
    ),
    concat!(
        "UPDATE jobs SET status = 'dead', finished_at = now(), last_error = $3, lease_token = NULL, updated_at = now() \
         WHERE id = $1 AND lease_token = $2 AND status = 'running' RETURNING ",
        job_columns!()
    ),
);

const RETRY_DEAD: Sql = Sql::each(
    concat!(
        "UPDATE jobs SET status = 'queued', attempts = 0, finished_at = NULL, due_at = ",
        sqlite_now!(),
        ", updated_at = ",
        sqlite_now!(),
        " WHERE id = $1 AND status = 'dead' RETURNING ",
        job_columns!()
    ),
    concat!(
        "UPDATE jobs SET status = 'queued', attempts = 0, finished_at = NULL, due_at = now(), updated_at = now() \
         WHERE id = $1 AND status = 'dead' RETURNING ",
        job_columns!()
    ),
);

/// The PostgreSQL channel on which `enqueue` announces due jobs.
const JOB_CHANNEL: &str = "phishloop_jobs";

/// Notifications of jobs queued by any process sharing a PostgreSQL database.
#[derive(Debug)]
pub struct JobNotifications {
    listener: sqlx::postgres::PgListener,
}

impl JobNotifications {
    /// Waits for the next notification and returns the kind of the queued
    /// job. The listener reconnects after a lost connection by itself, and
    /// jobs announced meanwhile are missed, so workers keep polling too.
    pub async fn recv(&mut self) -> Result<String> {
        let notification = self.listener.recv().await?;
        Ok(notification.payload().to_owned())
    }
}

impl Store {
    /// Adds a job that is claimable now and gets `default_max_attempts`
    /// attempts, unless a job with the same kind and idempotency key exists:
    /// then returns that job and adds nothing.
    pub async fn enqueue(&self, kind: &str, payload: &Value, idempotency_key: &str) -> Result<Enqueued> {
        self.enqueue_with(kind, payload, idempotency_key, JobOptions::default()).await
    }

    /// Like `enqueue`, with a delay and a number of attempts. An existing job
    /// with the same kind and key is returned unchanged, whatever its options.
    pub async fn enqueue_with(
        &self,
        kind: &str,
        payload: &Value,
        idempotency_key: &str,
        options: JobOptions,
    ) -> Result<Enqueued> {
        let (max_attempts, delay) = self.check_job(kind, payload, idempotency_key, options)?;

        let id = Uuid::now_v7();
        // The insert returns the new row; only a key stored before costs a second statement.
        let (created, row) = on_writer!(&self.db, |pool, backend| {
            #[allow(unused_mut)]
            let mut conn = sqlx::Acquire::acquire(pool).await?;
            let inserted: Option<JobRow> = sqlx::query_as(INSERT_JOB.text(backend))
                .bind(id)
                .bind(kind)
                .bind(idempotency_key)
                .bind(Json(payload))
                .bind(i64::from(max_attempts))
                .bind(delay)
                .fetch_optional(&mut *conn)
                .await?;
            match inserted {
                Some(row) => (true, row),
                None => {
                    let row: JobRow = sqlx::query_as(SELECT_JOB_BY_KEY.text(backend))
                        .bind(kind)
                        .bind(idempotency_key)
                        .fetch_one(&mut *conn)
                        .await?;
                    (false, row)
                }
            }
        });

        let job = job_from_row(row)?.0;
        if created && delay == 0 {
            self.announce_job(kind).await;
        }
        tracing::debug!(job_id = %job.id, kind, created, "job enqueued");
        Ok(Enqueued { job, created })
    }

    /// Checks a new job against the limits and returns its number of
    /// attempts and its delay in milliseconds.
    pub(crate) fn check_job(
        &self,
        kind: &str,
        payload: &Value,
        idempotency_key: &str,
        options: JobOptions,
    ) -> Result<(u32, i64)> {
        check_kind("job kind", kind)?;
        check_text("idempotency key", idempotency_key, MAX_IDEMPOTENCY_KEY_BYTES)?;
        self.check_payload("job payload", &payload.to_string())?;
        let max_attempts = options.max_attempts.unwrap_or(self.config.default_max_attempts);
        if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
            return Err(invalid("max_attempts", format!("{max_attempts} is outside 1..={MAX_ATTEMPTS}")));
        }
        Ok((max_attempts, delay_ms("delay", options.delay, MAX_DELAY)?))
    }

    /// Tells workers in other processes that a job of `kind` is due, on
    /// PostgreSQL. A lost notification only delays the job to the next poll,
    /// so a failure is logged and not returned.
    pub(crate) async fn announce_job(&self, kind: &str) {
        let Writes::Postgres(pool) = &self.db else {
            return;
        };
        if let Err(error) = sqlx::query("SELECT pg_notify($1, $2)").bind(JOB_CHANNEL).bind(kind).execute(pool).await {
            tracing::warn!(%error, kind, "notifying workers of a new job failed; they find it at their next poll");
        }
    }

    /// Returns a listener that wakes when another process queues a job, on
    /// PostgreSQL; `None` on SQLite, whose workers share one process and poll.
    pub async fn job_notifications(&self) -> Result<Option<JobNotifications>> {
        let Writes::Postgres(pool) = &self.db else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(JOB_CHANNEL).await?;
        Ok(Some(JobNotifications { listener }))
    }

    pub async fn get_job(&self, job_id: Uuid) -> Result<Option<Job>> {
        let row: Option<JobRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_JOB.text(backend)).bind(job_id).fetch_optional(pool).await?
        });
        row.map(|row| job_from_row(row).map(|(job, _)| job)).transpose()
    }

    /// Returns up to `limit` jobs with `status`, earliest `due_at` first, such
    /// as the dead jobs an operator should look at.
    pub async fn jobs_with_status(&self, status: JobStatus, limit: u32) -> Result<Vec<Job>> {
        let rows: Vec<JobRow> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_JOBS_WITH_STATUS.text(backend))
                .bind(status.as_str())
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(|row| job_from_row(row).map(|(job, _)| job)).collect()
    }

    /// Takes the oldest due job of one of `kinds` for `worker_id`: a queued
    /// job whose `due_at` has passed, or a running job whose lease expired.
    /// The claim counts one attempt and leases the job for `lease_duration`
    /// (1 ms to 24 hours). Returns `None` when no such job is due.
    ///
    /// When no job is due, marks dead the jobs of `kinds` whose lease expired
    /// on their last attempt, and records that expiry as their `last_error`.
    /// Such a job is never claimed again, so it can wait until the queue is
    /// idle, and a busy queue does not pay for the check on every claim.
    pub async fn claim(&self, worker_id: &str, kinds: &[&str], lease_duration: Duration) -> Result<Option<ClaimedJob>> {
        check_text("worker id", worker_id, MAX_WORKER_ID_BYTES)?;
        if kinds.is_empty() {
            return Err(invalid("kinds", "list at least one job kind to claim"));
        }
        for kind in kinds {
            check_kind("job kind", kind)?;
        }
        let lease_ms = duration_ms("lease duration", lease_duration, MAX_LEASE)?;

        let token = Uuid::new_v4();
        let row: Option<JobRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(CLAIM_JOB.text(backend))
                .bind(Json(kinds))
                .bind(worker_id)
                .bind(token)
                .bind(lease_ms)
                .fetch_optional(pool)
                .await?
        });
        let Some(row) = row else {
            self.bury_abandoned(kinds).await?;
            return Ok(None);
        };

        let (job, _) = job_from_row(row)?;
        let lease = Lease {
            job_id: job.id,
            worker_id: worker_id.to_owned(),
            token,
            attempt: job.attempts,
            expires_at: job.due_at,
        };
        tracing::debug!(job_id = %job.id, kind = job.kind, worker_id, attempt = job.attempts, "job claimed");
        Ok(Some(ClaimedJob { job, lease }))
    }

    /// Extends a lease to `lease_duration` from now and returns the new end.
    ///
    /// Fails with `LeaseLost` when the job is no longer running under this
    /// lease, and then the worker should stop working on it.
    pub async fn heartbeat(&self, lease: &Lease, lease_duration: Duration) -> Result<DateTime<Utc>> {
        let lease_ms = duration_ms("lease duration", lease_duration, MAX_LEASE)?;

        let expires_at: Option<DateTime<Utc>> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_scalar(HEARTBEAT.text(backend))
                .bind(lease.job_id)
                .bind(lease.token)
                .bind(lease_ms)
                .fetch_optional(pool)
                .await?
        });
        match expires_at {
            Some(expires_at) => Ok(expires_at),
            None => Err(self.lease_lost(lease).await),
        }
    }

    /// Marks a job done. Fails with `LeaseLost` when the job is no longer
    /// running under this lease.
    pub async fn complete(&self, lease: &Lease) -> Result<Job> {
        let row: Option<JobRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(COMPLETE.text(backend)).bind(lease.job_id).bind(lease.token).fetch_optional(pool).await?
        });
        let Some(row) = row else {
            return Err(self.lease_lost(lease).await);
        };

        let (job, _) = job_from_row(row)?;
        tracing::debug!(job_id = %job.id, kind = job.kind, worker_id = lease.worker_id, "job done");
        Ok(job)
    }

    /// Records a failed attempt with its error.
    ///
    /// With `retry_after`, the job is queued again after that delay (up to 366
    /// days), unless this was its last attempt. Without it the job is dead at
    /// once, for errors that no retry can fix. A dead job keeps `error` as
    /// `last_error`. Fails with `LeaseLost` when the job is no longer running
    /// under this lease.
    pub async fn fail(&self, lease: &Lease, error: &str, retry_after: Option<Duration>) -> Result<Job> {
        let error = truncate_error(error);
        let row: Option<JobRow> = match retry_after {
            Some(delay) => {
                let delay = delay_ms("retry delay", delay, MAX_DELAY)?;
                on_writer!(&self.db, |pool, backend| {
                    sqlx::query_as(FAIL_RETRY.text(backend))
                        .bind(lease.job_id)
                        .bind(lease.token)
                        .bind(error)
                        .bind(delay)
                        .fetch_optional(pool)
                        .await?
                })
            }
            None => on_writer!(&self.db, |pool, backend| {
                sqlx::query_as(FAIL_DEAD.text(backend))
                    .bind(lease.job_id)
                    .bind(lease.token)
                    .bind(error)
                    .fetch_optional(pool)
                    .await?
            }),
        };
        let Some(row) = row else {
            return Err(self.lease_lost(lease).await);
        };

        let (job, _) = job_from_row(row)?;
        if job.status == JobStatus::Dead {
            tracing::warn!(job_id = %job.id, kind = job.kind, attempts = job.attempts, error, "job dead");
        } else {
            tracing::debug!(job_id = %job.id, kind = job.kind, attempts = job.attempts, error, "job failed, retry queued");
        }
        Ok(job)
    }

    /// Queues a dead job again with its attempt count reset, keeping its
    /// `last_error`. Fails with `JobNotDead` for a job in another status.
    pub async fn retry_dead(&self, job_id: Uuid) -> Result<Job> {
        let row: Option<JobRow> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(RETRY_DEAD.text(backend)).bind(job_id).fetch_optional(pool).await?
        });
        if let Some(row) = row {
            tracing::info!(%job_id, "dead job queued again");
            return job_from_row(row).map(|(job, _)| job);
        }

        match self.get_job(job_id).await? {
            Some(job) => Err(StoreError::JobNotDead { job_id, status: job.status.to_string() }),
            None => Err(StoreError::JobNotFound(job_id)),
        }
    }

    async fn bury_abandoned(&self, kinds: &[&str]) -> Result<()> {
        // On SQLite a read beside the writer finds out first whether there is
        // anything to bury, so that the common case costs the single writer
        // nothing. On PostgreSQL the update alone is one statement as well.
        if let Reads::Sqlite(readers) = &self.reads {
            let mut guard = readers.acquire().await?;
            let abandoned: Option<i64> =
                sqlx::query_scalar(ANY_ABANDONED_SQLITE).bind(Json(kinds)).fetch_optional(guard.connection()).await?;
            if abandoned.is_none() {
                return Ok(());
            }
        }
        let buried: Vec<(Uuid, String, Option<String>, i64)> = on_writer!(&self.db, |pool, backend| {
            sqlx::query_as(BURY_ABANDONED.text(backend)).bind(Json(kinds)).fetch_all(pool).await?
        });
        for (job_id, kind, worker_id, attempts) in buried {
            tracing::warn!(%job_id, kind, worker_id, attempts, "job dead: its lease expired on the last attempt");
        }
        Ok(())
    }

    /// Builds the error for a lease that no longer matches, saying what
    /// happened to the job.
    pub(crate) async fn lease_lost(&self, lease: &Lease) -> StoreError {
        let row: std::result::Result<Option<JobRow>, sqlx::Error> = async {
            Ok(on_writer!(&self.db, |pool, backend| {
                sqlx::query_as(SELECT_JOB.text(backend)).bind(lease.job_id).fetch_optional(pool).await?
            }))
        }
        .await;
        let reason = match row {
            Ok(None) => return StoreError::JobNotFound(lease.job_id),
            Ok(Some(row)) => match job_from_row(row) {
                Ok((job, token)) => lease_lost_reason(&job, token),
                Err(e) => format!("the job cannot be read: {e}"),
            },
            Err(e) => format!("the job cannot be read: {e}"),
        };
        StoreError::LeaseLost {
            job_id: lease.job_id,
            worker_id: lease.worker_id.clone(),
            attempt: i64::from(lease.attempt),
            reason,
        }
    }
}

fn lease_lost_reason(job: &Job, token: Option<Uuid>) -> String {
    let owner = job.lease_owner.as_deref().unwrap_or("unknown");
    match job.status {
        JobStatus::Running if token.is_some() => {
            format!("the lease expired and worker {owner:?} claimed the job for attempt {}", job.attempts)
        }
        JobStatus::Running => "the job is running under another lease".to_owned(),
        JobStatus::Queued => "the job was failed and is queued for another attempt".to_owned(),
        JobStatus::Done => format!("the job is done already, completed by worker {owner:?}"),
        JobStatus::Dead => {
            format!("the job is dead: {}", job.last_error.as_deref().unwrap_or("no error recorded"))
        }
    }
}

/// Returns the job and its current lease token.
pub(crate) fn job_from_row(row: JobRow) -> Result<(Job, Option<Uuid>)> {
    let (
        id,
        kind,
        idempotency_key,
        payload,
        status,
        attempts,
        max_attempts,
        due_at,
        lease_owner,
        last_error,
        created_at,
        updated_at,
        finished_at,
        lease_token,
    ) = row;
    let job = Job {
        id,
        kind,
        idempotency_key,
        payload,
        status: JobStatus::from_column(&status)?,
        attempts: count_from_column("jobs.attempts", attempts)?,
        max_attempts: count_from_column("jobs.max_attempts", max_attempts)?,
        due_at,
        lease_owner,
        last_error,
        created_at,
        updated_at,
        finished_at,
    };
    Ok((job, lease_token))
}

fn count_from_column(column: &'static str, value: i64) -> Result<u32> {
    u32::try_from(value).map_err(|_| StoreError::InvalidStoredValue { column, value: value.to_string() })
}

/// Cuts `error` to at most `MAX_ERROR_BYTES`, at a character boundary.
fn truncate_error(error: &str) -> &str {
    if error.len() <= MAX_ERROR_BYTES {
        return error;
    }
    let mut end = MAX_ERROR_BYTES;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    &error[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_error_keeps_char_boundary() {
        let long = "é".repeat(MAX_ERROR_BYTES);

        let cut = truncate_error(&long);

        assert!(cut.len() <= MAX_ERROR_BYTES);
        assert!(cut.len() >= MAX_ERROR_BYTES - 1);
        assert_eq!(truncate_error("short"), "short");
    }
}
