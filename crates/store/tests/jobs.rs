//! The job queue: idempotent enqueue, exclusive claims, leases, retries and
//! dead jobs.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::store_test;
use phishloop_store::{Backend, ClaimedJob, JobOptions, JobStatus, Store, StoreError};
use serde_json::json;
use uuid::Uuid;

const LONG_LEASE: Duration = Duration::from_secs(60);
const SHORT_LEASE: Duration = Duration::from_millis(300);

/// Claims until a job comes back or `timeout` passes; for waiting out a lease.
async fn claim_within(store: &Store, worker: &str, kinds: &[&str], timeout: Duration) -> Option<ClaimedJob> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(claimed) = store.claim(worker, kinds, LONG_LEASE).await.expect("claim") {
            return Some(claimed);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

store_test!(enqueue_same_key_returns_existing_job, |db| {
    let payload = json!({ "report": "r-1" });

    let first = db.store.enqueue("analyse", &payload, "report:r-1").await.expect("first enqueue");
    let second = db.store.enqueue("analyse", &json!({ "other": true }), "report:r-1").await.expect("second enqueue");
    let other_kind = db.store.enqueue("notify", &payload, "report:r-1").await.expect("other kind");

    assert!(first.created);
    assert!(!second.created);
    assert_eq!(second.job, first.job, "the existing job comes back unchanged");
    assert_eq!(second.job.payload, payload);
    assert!(other_kind.created, "keys are unique per kind");
    assert_ne!(other_kind.job.id, first.job.id);
    assert_eq!(db.count("SELECT count(*) FROM jobs").await, 2);
});

store_test!(enqueue_same_key_concurrently, |db| {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move { store.enqueue("purge", &json!({ "task": i }), "campaign:42").await }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task").expect("enqueue"));
    }

    assert_eq!(results.iter().filter(|r| r.created).count(), 1);
    assert!(results.iter().all(|r| r.job.id == results[0].job.id));
    assert_eq!(db.count("SELECT count(*) FROM jobs").await, 1);
});

store_test!(enqueue_rejects_invalid_input, |db| {
    let bad_kind = db.store.enqueue("Not A Kind", &json!({}), "k").await;
    let blank_key = db.store.enqueue("analyse", &json!({}), "").await;
    let zero_attempts = db
        .store
        .enqueue_with("analyse", &json!({}), "k", JobOptions { max_attempts: Some(0), ..Default::default() })
        .await;

    assert!(matches!(bad_kind, Err(StoreError::InvalidInput { field: "job kind", .. })), "{bad_kind:?}");
    assert!(matches!(blank_key, Err(StoreError::InvalidInput { field: "idempotency key", .. })), "{blank_key:?}");
    assert!(matches!(zero_attempts, Err(StoreError::InvalidInput { field: "max_attempts", .. })), "{zero_attempts:?}");
});

store_test!(claim_takes_oldest_due_job_of_kinds, |db| {
    let first = db.store.enqueue("analyse", &json!({ "n": 1 }), "1").await.expect("enqueue").job;
    let second = db.store.enqueue("analyse", &json!({ "n": 2 }), "2").await.expect("enqueue").job;
    db.store.enqueue("notify", &json!({}), "3").await.expect("enqueue");
    let later = JobOptions { delay: Duration::from_secs(3600), ..Default::default() };
    db.store.enqueue_with("analyse", &json!({}), "4", later).await.expect("enqueue");

    let first_claim = db.store.claim("w", &["analyse"], LONG_LEASE).await.expect("claim").expect("first job");
    let second_claim = db.store.claim("w", &["analyse"], LONG_LEASE).await.expect("claim").expect("second job");
    let none = db.store.claim("w", &["analyse"], LONG_LEASE).await.expect("claim");

    assert_eq!(first_claim.job.id, first.id);
    assert_eq!(second_claim.job.id, second.id);
    assert!(none.is_none(), "the delayed job is not due and notify is another kind: {none:?}");
    assert_eq!(first_claim.job.status, JobStatus::Running);
    assert_eq!(first_claim.job.attempts, 1);
    assert_eq!(first_claim.lease.attempt, 1);
    assert_eq!(first_claim.job.lease_owner.as_deref(), Some("w"));
    assert_eq!(first_claim.lease.expires_at, first_claim.job.due_at);
    assert!(
        first_claim.lease.expires_at > chrono::Utc::now() + chrono::Duration::seconds(50),
        "{}",
        first_claim.lease.expires_at
    );
});

store_test!(claim_rejects_invalid_input, |db| {
    let no_kinds = db.store.claim("w", &[], LONG_LEASE).await;
    let zero_lease = db.store.claim("w", &["analyse"], Duration::ZERO).await;
    let blank_worker = db.store.claim("", &["analyse"], LONG_LEASE).await;

    assert!(matches!(no_kinds, Err(StoreError::InvalidInput { field: "kinds", .. })), "{no_kinds:?}");
    assert!(matches!(zero_lease, Err(StoreError::InvalidInput { field: "lease duration", .. })), "{zero_lease:?}");
    assert!(matches!(blank_worker, Err(StoreError::InvalidInput { field: "worker id", .. })), "{blank_worker:?}");
});

store_test!(concurrent_claimers_never_share_a_job, |db| {
    const JOBS: usize = 40;
    for i in 0..JOBS {
        db.store.enqueue("analyse", &json!({ "n": i }), &format!("job-{i}")).await.expect("enqueue");
    }
    let claims: Arc<Mutex<HashMap<Uuid, Vec<String>>>> = Arc::default();

    let mut workers = Vec::new();
    for w in 0..6 {
        let store = db.store.clone();
        let claims = Arc::clone(&claims);
        workers.push(tokio::spawn(async move {
            let worker = format!("worker-{w}");
            while let Some(claimed) = store.claim(&worker, &["analyse"], LONG_LEASE).await.expect("claim") {
                claims.lock().expect("lock").entry(claimed.job.id).or_default().push(worker.clone());
                tokio::time::sleep(Duration::from_millis(3)).await;
                store.complete(&claimed.lease).await.expect("the lease holder completes");
            }
        }));
    }
    for worker in workers {
        worker.await.expect("worker");
    }

    let claims = claims.lock().expect("lock").clone();
    assert_eq!(claims.len(), JOBS, "every job claimed");
    let shared: Vec<_> = claims.iter().filter(|(_, workers)| workers.len() > 1).collect();
    assert!(shared.is_empty(), "jobs claimed more than once: {shared:?}");
    assert_eq!(db.count("SELECT count(*) FROM jobs WHERE status = 'done'").await, JOBS as i64);
});

store_test!(expired_lease_is_taken_over, |db| {
    let job = db.store.enqueue("analyse", &json!({}), "k").await.expect("enqueue").job;
    let first = db.store.claim("worker-a", &["analyse"], SHORT_LEASE).await.expect("claim").expect("job");

    let while_leased = db.store.claim("worker-b", &["analyse"], LONG_LEASE).await.expect("claim");
    let second = claim_within(&db.store, "worker-b", &["analyse"], Duration::from_secs(10)).await.expect("takeover");

    assert!(while_leased.is_none(), "a leased job must not be claimed: {while_leased:?}");
    assert_eq!(second.job.id, job.id);
    assert_eq!(second.job.attempts, 2);
    assert_eq!(second.lease.attempt, 2);
    assert_eq!(second.job.lease_owner.as_deref(), Some("worker-b"));
    assert_ne!(second.lease.token, first.lease.token);
});

store_test!(stale_owner_cannot_finish_job, |db| {
    db.store.enqueue("analyse", &json!({}), "k").await.expect("enqueue");
    let stale = db.store.claim("worker-a", &["analyse"], SHORT_LEASE).await.expect("claim").expect("job");
    let current = claim_within(&db.store, "worker-b", &["analyse"], Duration::from_secs(10)).await.expect("takeover");

    let complete = db.store.complete(&stale.lease).await;
    let heartbeat = db.store.heartbeat(&stale.lease, LONG_LEASE).await;
    let fail = db.store.fail(&stale.lease, "stale failure", Some(Duration::ZERO)).await;
    let job = db.store.get_job(current.job.id).await.expect("get_job").expect("job exists");

    for result in [complete.map(|_| ()), heartbeat.map(|_| ()), fail.map(|_| ())] {
        let error = result.expect_err("the stale lease must be rejected");
        assert!(matches!(error, StoreError::LeaseLost { .. }), "{error:?}");
        let text = error.to_string();
        assert!(text.contains("worker-a"), "{text}");
        assert!(text.contains("\"worker-b\" claimed the job for attempt 2"), "{text}");
    }
    assert_eq!(job.status, JobStatus::Running, "the stale owner changed nothing");
    assert_eq!(job.last_error, None);
    assert_eq!(job.lease_owner.as_deref(), Some("worker-b"));

    let done = db.store.complete(&current.lease).await.expect("current owner completes");
    assert_eq!(done.status, JobStatus::Done);
    assert!(done.finished_at.is_some());
});

store_test!(same_worker_id_with_old_lease_is_stale, |db| {
    // A restarted worker that reuses its id still cannot finish the attempt
    // of its previous run: the lease token differs.
    db.store.enqueue("analyse", &json!({}), "k").await.expect("enqueue");
    let before_restart = db.store.claim("worker-a", &["analyse"], SHORT_LEASE).await.expect("claim").expect("job");
    let after_restart = claim_within(&db.store, "worker-a", &["analyse"], Duration::from_secs(10)).await.expect("job");

    let error = db.store.complete(&before_restart.lease).await.expect_err("old lease");

    assert!(matches!(error, StoreError::LeaseLost { attempt: 1, .. }), "{error:?}");
    db.store.complete(&after_restart.lease).await.expect("new lease completes");
});

store_test!(heartbeat_keeps_lease, |db| {
    db.store.enqueue("analyse", &json!({}), "k").await.expect("enqueue");
    let claimed = db.store.claim("worker-a", &["analyse"], SHORT_LEASE).await.expect("claim").expect("job");

    let extended = db.store.heartbeat(&claimed.lease, LONG_LEASE).await.expect("heartbeat");
    tokio::time::sleep(SHORT_LEASE * 2).await;
    let other = db.store.claim("worker-b", &["analyse"], LONG_LEASE).await.expect("claim");

    assert!(extended > claimed.lease.expires_at, "{extended} <= {}", claimed.lease.expires_at);
    assert!(other.is_none(), "the extended lease must hold: {other:?}");
    db.store.complete(&claimed.lease).await.expect("complete");
});

store_test!(expired_lease_not_taken_over_can_complete, |db| {
    db.store.enqueue("analyse", &json!({}), "k").await.expect("enqueue");
    let claimed =
        db.store.claim("worker-a", &["analyse"], Duration::from_millis(50)).await.expect("claim").expect("job");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let done = db.store.complete(&claimed.lease).await.expect("nobody took the job over");

    assert_eq!(done.status, JobStatus::Done);
    let none = db.store.claim("worker-b", &["analyse"], LONG_LEASE).await.expect("claim");
    assert!(none.is_none(), "a done job is never claimed: {none:?}");
});

store_test!(failed_job_is_dead_after_max_attempts, |db| {
    let options = JobOptions { max_attempts: Some(3), ..Default::default() };
    let job = db.store.enqueue_with("analyse", &json!({}), "k", options).await.expect("enqueue").job;

    let mut statuses = Vec::new();
    for attempt in 1..=3 {
        let claimed = db.store.claim("w", &["analyse"], LONG_LEASE).await.expect("claim").expect("job is due");
        assert_eq!(claimed.lease.attempt, attempt);
        let failed = db.store.fail(&claimed.lease, &format!("parse error {attempt}"), Some(Duration::ZERO)).await;
        statuses.push(failed.expect("fail").status);
    }
    let after = db.store.claim("w", &["analyse"], LONG_LEASE).await.expect("claim");
    let dead = db.store.get_job(job.id).await.expect("get_job").expect("job exists");
    let listed = db.store.jobs_with_status(JobStatus::Dead, 10).await.expect("jobs_with_status");

    assert_eq!(statuses, vec![JobStatus::Queued, JobStatus::Queued, JobStatus::Dead]);
    assert!(after.is_none(), "a dead job is never claimed: {after:?}");
    assert_eq!(dead.status, JobStatus::Dead);
    assert_eq!(dead.attempts, 3);
    assert_eq!(dead.last_error.as_deref(), Some("parse error 3"));
    assert!(dead.finished_at.is_some());
    assert_eq!(listed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![job.id]);
});

store_test!(fail_waits_retry_delay, |db| {
    db.store.enqueue("analyse", &json!({}), "k").await.expect("enqueue");
    let claimed = db.store.claim("w", &["analyse"], LONG_LEASE).await.expect("claim").expect("job");

    let failed = db.store.fail(&claimed.lease, "smtp timeout", Some(Duration::from_secs(3600))).await.expect("fail");
    let again = db.store.claim("w", &["analyse"], LONG_LEASE).await.expect("claim");

    assert_eq!(failed.status, JobStatus::Queued);
    assert_eq!(failed.last_error.as_deref(), Some("smtp timeout"));
    assert!(failed.due_at > chrono::Utc::now() + chrono::Duration::minutes(59), "{}", failed.due_at);
    assert!(again.is_none(), "the retry is not due yet: {again:?}");
});

store_test!(fail_without_retry_is_dead_at_once, |db| {
    db.store.enqueue("analyse", &json!({}), "k").await.expect("enqueue");
    let claimed = db.store.claim("w", &["analyse"], LONG_LEASE).await.expect("claim").expect("job");

    let failed = db.store.fail(&claimed.lease, "payload is not a report id", None).await.expect("fail");

    assert_eq!(failed.status, JobStatus::Dead);
    assert_eq!(failed.attempts, 1);
    assert_eq!(failed.last_error.as_deref(), Some("payload is not a report id"));
});

store_test!(abandoned_last_attempt_is_dead, |db| {
    let options = JobOptions { max_attempts: Some(1), ..Default::default() };
    let job = db.store.enqueue_with("analyse", &json!({}), "k", options).await.expect("enqueue").job;
    let claimed =
        db.store.claim("crashed", &["analyse"], Duration::from_millis(50)).await.expect("claim").expect("job");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let next = db.store.claim("w", &["analyse"], LONG_LEASE).await.expect("claim");
    let dead = db.store.get_job(job.id).await.expect("get_job").expect("job exists");
    let late = db.store.complete(&claimed.lease).await;

    assert!(next.is_none(), "no attempt is left: {next:?}");
    assert_eq!(dead.status, JobStatus::Dead);
    let error = dead.last_error.unwrap_or_default();
    assert!(error.contains("lease of worker crashed expired on attempt 1 of 1"), "{error}");
    assert!(matches!(late, Err(StoreError::LeaseLost { .. })), "{late:?}");
});

store_test!(retry_dead_queues_job_again, |db| {
    let job = db.store.enqueue("analyse", &json!({}), "k").await.expect("enqueue").job;
    let not_dead = db.store.retry_dead(job.id).await;
    let claimed = db.store.claim("w", &["analyse"], LONG_LEASE).await.expect("claim").expect("job");
    db.store.fail(&claimed.lease, "bad input", None).await.expect("fail");

    let queued = db.store.retry_dead(job.id).await.expect("retry_dead");
    let reclaimed = db.store.claim("w", &["analyse"], LONG_LEASE).await.expect("claim").expect("job is due");
    let missing = db.store.retry_dead(Uuid::now_v7()).await;

    assert!(matches!(not_dead, Err(StoreError::JobNotDead { .. })), "{not_dead:?}");
    assert_eq!(queued.status, JobStatus::Queued);
    assert_eq!(queued.attempts, 0);
    assert_eq!(queued.last_error.as_deref(), Some("bad input"));
    assert_eq!(reclaimed.job.id, job.id);
    assert_eq!(reclaimed.lease.attempt, 1);
    assert!(matches!(missing, Err(StoreError::JobNotFound(_))), "{missing:?}");
});

store_test!(job_payload_round_trip, |db| {
    let payload = json!({ "report_id": Uuid::now_v7(), "actions": ["purge", "block"], "depth": { "n": 1.5 } });

    db.store.enqueue("respond", &payload, "k").await.expect("enqueue");
    let claimed = db.store.claim("w", &["respond"], LONG_LEASE).await.expect("claim").expect("job");

    assert_eq!(claimed.job.payload, payload);
    assert_eq!(claimed.job.kind, "respond");
    assert_eq!(claimed.job.idempotency_key, "k");
});

store_test!(enqueue_notifies_listeners_on_postgres, |db| {
    let listener = db.store.job_notifications().await.expect("listen");
    let Some(mut listener) = listener else {
        assert_eq!(db.backend, Backend::Sqlite, "only SQLite has no notifications");
        return;
    };

    db.store.enqueue("wake-test", &json!({}), "wake:1").await.expect("enqueue");
    // Tests on other schemas of the same database announce their jobs on the
    // same channel, so wait for this test's kind.
    let received = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if listener.recv().await.expect("notification") == "wake-test" {
                break;
            }
        }
    })
    .await;

    assert!(received.is_ok(), "no notification within 10 s");
});
