//! The phishloop service: the HTTP API and the background analysis workers
//! of `phishloop serve`.
//!
//! Intake stores each report with its raw message and queues a
//! `report.analyse` job in the store. Workers in any process sharing the
//! database claim those jobs under a lease, run analysis and triage, join the
//! report to its case and record `analysed` and `decided` events. Then the
//! same job closes the loop: it plans the decision's actions with
//! `phishloop_response`, carries out the automatic ones through their
//! connectors, and queues the reporter's outcome and the recipients'
//! lessons rendered by `phishloop_coaching`. The API reads reports, cases,
//! actions, the outbox, the block-list feeds and the loop's metrics, and
//! lets analysts approve and undo actions. With `[mail]` configured, the
//! service also reads reporting mailboxes over IMAP, purges copies through
//! the `imap` connector and sends the outbox over SMTP (`mail.rs`). The
//! same listener serves the analysts' web interface at `/` (`web/`). See
//! docs/service.md for running it and docs/web.md for the interface.

mod api;
mod api_loop;
mod auth;
mod block_feed;
mod config;
mod error;
mod identity;
mod intake;
mod mail;
mod metrics;
mod notify;
mod pipeline;
mod respond;
mod web;
mod worker;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use phishloop_analysis::{Analyzer, Mode};
use phishloop_coaching::CoachingConfig;
use phishloop_mail::MailConfig;
use phishloop_response::ResponseConfig;
use phishloop_store::{Store, StoreConfig};
use phishloop_triage::Triage;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use api::{AcceptedReport, CaseView, EventView, JobView, ReportView, ReporterView};
pub use api_loop::{ActionView, OutboxMessageView};
pub use auth::{ADMIN_TOKEN_VARIABLE, check_admin_token, create_token, generate_token};
pub use config::{DEFAULT_PORT, ServerConfig};
pub use error::ServiceError;
pub use identity::api::{
    CampaignIdentityView, CaseIdentityView, CredentialView, IdentityStep, ImportView, PersonView, VerdictCounts,
};
pub use identity::clicks::{CaseClicks, ClickImportSummary, RaisedVerdict};
pub use intake::{ANALYSE_JOB, Accepted, Submission, UNKNOWN_REPORTER, submit};
pub use metrics::{MetricsSnapshot, Percentiles};
pub use pipeline::Pipeline;
pub use web::config::WebConfig;
pub use web::password::{MIN_PASSWORD_CHARS, hash_password};

/// How long a stopping service waits for jobs in progress.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// Connects to the database named by `config`, creating the data folder of
/// the default SQLite file when it is missing, and migrates it.
pub async fn connect_store(config: &ServerConfig) -> Result<Store, ServiceError> {
    config.validate().map_err(ServiceError::Config)?;
    if config.database.is_none() {
        std::fs::create_dir_all(&config.data_dir).map_err(|error| {
            ServiceError::Config(format!(
                "cannot create the data folder {}: {error}; set server.data_dir or --data to a writable folder",
                config.data_dir.display()
            ))
        })?;
    }
    let mut store_config = StoreConfig::new(config.database_url());
    store_config.max_message_bytes = config.max_message_bytes;
    store_config.default_max_attempts = config.max_attempts;
    store_config.sqlite_synchronous = config.sqlite_synchronous;
    Ok(Store::connect_with(store_config).await?)
}

/// A configured service, ready to start.
pub struct Service {
    store: Store,
    pipeline: Arc<Pipeline>,
    responder: Arc<respond::Responder>,
    notifier: Arc<notify::Notifier>,
    config: Arc<ServerConfig>,
    admin_token: Option<String>,
    response: ResponseConfig,
    coaching: CoachingConfig,
    mail: mail::MailParts,
    /// The `[identity]` parts; empty until `with_identity`.
    identity: Arc<identity::IdentityParts>,
    /// Defender polling settings, when `[identity.clicks.defender]` is set.
    defender: Option<phishloop_identity::DefenderPolling>,
    /// Notified when this process queues an outbox message.
    outbox_queued: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The admin token is a secret: show only whether one is set.
        f.debug_struct("Service")
            .field("config", &self.config)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("mail", &self.mail)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Builds the analyser and triage from their configuration, with the
    /// default `[response]` and `[coaching]` settings; `with_loop` replaces them.
    ///
    /// `admin_token` is the bootstrap admin token, normally the value of
    /// `PHISHLOOP_ADMIN_TOKEN`; it must be at least 32 characters long.
    pub fn new(
        store: Store,
        analysis: phishloop_analysis::Config,
        triage: phishloop_triage::Config,
        config: ServerConfig,
        admin_token: Option<String>,
    ) -> Result<Self, ServiceError> {
        config.validate().map_err(ServiceError::Config)?;
        let analyzer = Analyzer::new(analysis, Mode::Auto)
            .map_err(|error| ServiceError::Config(format!("invalid analysis configuration: {error}")))?;
        let triage = Triage::new(triage)
            .map_err(|error| ServiceError::Config(format!("invalid triage configuration: {error}")))?;
        let pipeline = Arc::new(Pipeline::new(analyzer, triage));
        let outbox_queued = Arc::new(tokio::sync::Notify::new());
        let (response, coaching, mail) =
            (ResponseConfig::default(), CoachingConfig::default(), mail::MailParts::default());
        let identity = Arc::new(identity::IdentityParts::default());
        let parts = LoopInputs { response: &response, coaching: &coaching, mail: &mail, identity: &identity };
        let (responder, notifier) = build_loop(&store, &pipeline, &parts, &outbox_queued, &config)?;
        Ok(Self {
            store,
            pipeline,
            responder,
            notifier,
            config: Arc::new(config),
            admin_token,
            response,
            coaching,
            mail,
            identity,
            defender: None,
            outbox_queued,
        })
    }

    /// Replaces the response playbooks and connectors and the coaching
    /// settings. Fails with `Config` for an invalid playbook, a webhook whose
    /// secret cannot be read, or a template folder that cannot be read.
    /// Call `with_mail` first when steps name the `imap` connector, because
    /// the connector is known only once `[mail.purge]` is set.
    pub fn with_loop(mut self, response: ResponseConfig, coaching: CoachingConfig) -> Result<Self, ServiceError> {
        self.response = response;
        self.coaching = coaching;
        self.rebuild_loop()?;
        Ok(self)
    }

    /// Adds the mail parts that `mail` configures: IMAP intake from each
    /// `[[mail.intake]]` account, the `imap` purge connector from
    /// `[mail.purge]` and outbox delivery from `[mail.smtp]`. Secrets are
    /// read here and the current `[response]` table is checked again. Fails
    /// with `Config` for an invalid section, a secret that cannot be read,
    /// or a call outside a Tokio runtime when `[mail.smtp]` is set.
    pub fn with_mail(mut self, mail: MailConfig) -> Result<Self, ServiceError> {
        self.mail = mail::MailParts::new(&mail)?;
        self.rebuild_loop()?;
        Ok(self)
    }

    /// Adds the identity systems that `identity` configures: their
    /// connectors join the responder (each under its name, and all of them
    /// as `identity`), the inventory names the owners of non-human
    /// credentials, and `[identity.clicks.defender]` starts the polling of
    /// Defender click events. Secrets and the inventory file are read, and
    /// the credentials of the systems `[identity.inventory]` names are
    /// listed, here; a listing that fails is logged and the service starts
    /// with the rest. Call it before `with_loop` when playbooks name these
    /// connectors.
    pub async fn with_identity(mut self, identity: phishloop_identity::IdentityConfig) -> Result<Self, ServiceError> {
        self.defender = identity.clicks.defender.clone();
        if self.defender.is_some() && identity.graph.is_none() {
            return Err(ServiceError::Config(
                "[identity.clicks.defender] reads events through Graph: add [identity.graph]".to_owned(),
            ));
        }
        self.identity = Arc::new(identity::IdentityParts::new(&identity).await?);
        self.rebuild_loop()?;
        Ok(self)
    }

    fn rebuild_loop(&mut self) -> Result<(), ServiceError> {
        self.identity = Arc::new(self.identity.with_response(&self.response));
        let parts = LoopInputs {
            response: &self.response,
            coaching: &self.coaching,
            mail: &self.mail,
            identity: &self.identity,
        };
        let (responder, notifier) = build_loop(&self.store, &self.pipeline, &parts, &self.outbox_queued, &self.config)?;
        self.responder = responder;
        self.notifier = notifier;
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Starts the workers and, unless `listener` is `None`, the HTTP API on
    /// it. Returns at once; stop with `RunningService::stop`.
    pub fn start(mut self, listener: Option<TcpListener>) -> Result<RunningService, ServiceError> {
        let auth = auth::Authenticator::new(self.store.clone(), self.admin_token.as_deref())?;
        let (shutdown, shutdown_receiver) = watch::channel(false);
        let mut tasks = JoinSet::new();

        // Intake wakes an idle worker at once instead of leaving the job to
        // the next poll; workers of other processes still find it by polling.
        let jobs_queued = Arc::new(tokio::sync::Notify::new());
        if self.config.workers > 0 {
            let (store, wake, receiver) = (self.store.clone(), Arc::clone(&jobs_queued), shutdown_receiver.clone());
            tasks.spawn(async move {
                forward_job_notifications(store, wake, receiver).await;
                Ok(())
            });
        }
        let process = std::process::id();
        for index in 0..self.config.workers {
            let worker = worker::Worker {
                id: format!("worker-{process}-{index}-{}", uuid::Uuid::new_v4().simple()),
                store: self.store.clone(),
                pipeline: Arc::clone(&self.pipeline),
                responder: Arc::clone(&self.responder),
                notifier: Arc::clone(&self.notifier),
                config: Arc::clone(&self.config),
                jobs_queued: Arc::clone(&jobs_queued),
            };
            let receiver = shutdown_receiver.clone();
            tasks.spawn(async move {
                worker.run(receiver).await;
                Ok(())
            });
        }

        self.start_mail(&mut tasks, &jobs_queued, &shutdown_receiver);
        let contain_wake = Arc::new(tokio::sync::Notify::new());
        self.start_identity(&mut tasks, &contain_wake, &shutdown_receiver);

        let mut address = None;
        if let Some(listener) = listener {
            let local = listener.local_addr().map_err(ServiceError::Serve)?;
            address = Some(local);
            let state = api::AppState {
                store: self.store.clone(),
                pipeline: Arc::clone(&self.pipeline),
                responder: Arc::clone(&self.responder),
                notifier: Arc::clone(&self.notifier),
                auth,
                prometheus: Arc::new(metrics::Prometheus::default()),
                jobs_queued,
                identity: Arc::clone(&self.identity),
                contain_wake,
            };
            // Room for the multipart framing around the largest message.
            let body_limit = self.config.max_message_bytes.saturating_add(64 * 1024);
            let router = api::router(state.clone(), body_limit).merge(web::router(state, &self.config));
            let mut receiver = shutdown_receiver.clone();
            tasks.spawn(async move {
                tracing::info!(address = %local, "HTTP API listening");
                let stopped = async move {
                    let _ = receiver.wait_for(|stop| *stop).await;
                };
                // The client address feeds the web interface's sign-in throttle.
                let service = router.into_make_service_with_connect_info::<SocketAddr>();
                axum::serve(listener, service).with_graceful_shutdown(stopped).await.map_err(ServiceError::Serve)
            });
        }

        tracing::info!(workers = self.config.workers, http = address.is_some(), backend = ?self.store.backend(), "service started");
        Ok(RunningService { address, shutdown, tasks })
    }

    /// Spawns IMAP intake and outbox delivery when they are configured.
    fn start_mail(
        &mut self,
        tasks: &mut JoinSet<Result<(), ServiceError>>,
        jobs_queued: &Arc<tokio::sync::Notify>,
        shutdown: &watch::Receiver<bool>,
    ) {
        if let Some(intake) = self.mail.intake.take() {
            let sink = Arc::new(mail::ServiceSink {
                store: self.store.clone(),
                pipeline: Arc::clone(&self.pipeline),
                notifier: Arc::clone(&self.notifier),
                jobs_queued: Arc::clone(jobs_queued),
            });
            let receiver = shutdown.clone();
            tasks.spawn(async move {
                tracing::info!("IMAP intake started");
                intake.run(sink, receiver).await;
                tracing::info!("IMAP intake stopped");
                Ok(())
            });
        }
        if let Some(delivery) = self.mail.delivery.take() {
            let (store, wake, receiver) = (self.store.clone(), Arc::clone(&self.outbox_queued), shutdown.clone());
            tasks.spawn(async move {
                delivery.run(store, wake, receiver).await;
                Ok(())
            });
        }
    }

    /// Spawns the containment worker, which runs the `identity.contain`
    /// jobs that click imports queue, and Defender polling when configured.
    /// Both need workers, so a process started with none runs neither.
    fn start_identity(
        &self,
        tasks: &mut JoinSet<Result<(), ServiceError>>,
        contain_wake: &Arc<tokio::sync::Notify>,
        shutdown: &watch::Receiver<bool>,
    ) {
        if self.config.workers == 0 {
            return;
        }
        let worker = identity::contain::ContainWorker {
            id: format!("contain-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            store: self.store.clone(),
            responder: Arc::clone(&self.responder),
            notifier: Arc::clone(&self.notifier),
            lease: self.config.lease(),
            poll: self.config.poll_interval(),
            wake: Arc::clone(contain_wake),
        };
        let receiver = shutdown.clone();
        tasks.spawn(async move {
            worker.run(receiver).await;
            Ok(())
        });
        if let (Some(polling), Some(graph)) = (self.defender.clone(), self.identity.systems.graph.clone()) {
            let poller = identity::defender::DefenderPoller {
                store: self.store.clone(),
                parts: Arc::clone(&self.identity),
                notifier: Arc::clone(&self.notifier),
                graph,
                polling,
                contain_wake: Arc::clone(contain_wake),
            };
            let receiver = shutdown.clone();
            tasks.spawn(async move {
                poller.run(receiver).await;
                Ok(())
            });
        }
    }

    /// Runs until `stop` completes: binds `server.listen` unless
    /// `worker_only`, starts the workers, then shuts down gracefully.
    pub async fn run(self, worker_only: bool, stop: impl Future<Output = ()>) -> Result<(), ServiceError> {
        let listener = if worker_only {
            None
        } else {
            let address = self.config.listen;
            Some(bind(address).await?)
        };
        let running = self.start(listener)?;
        stop.await;
        tracing::info!("stopping: finishing jobs in progress");
        running.stop().await
    }
}

/// Wakes a worker of this process for each job that any process queues on
/// PostgreSQL. Returns at once on SQLite. A failed listener is retried every
/// few seconds, and the workers' polling covers the gap.
async fn forward_job_notifications(store: Store, wake: Arc<tokio::sync::Notify>, mut shutdown: watch::Receiver<bool>) {
    const RETRY: std::time::Duration = std::time::Duration::from_secs(5);
    while !*shutdown.borrow() {
        let mut notifications = match store.job_notifications().await {
            Ok(Some(notifications)) => notifications,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "listening for queued jobs failed; workers poll until it works again");
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => continue,
                    _ = shutdown.changed() => return,
                }
            }
        };
        loop {
            tokio::select! {
                received = notifications.recv() => match received {
                    Ok(_) => wake.notify_one(),
                    Err(error) => {
                        tracing::warn!(%error, "job notifications stopped; listening again");
                        break;
                    }
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}

type LoopParts = (Arc<respond::Responder>, Arc<notify::Notifier>);

/// The settings the responder and notifier are built from.
struct LoopInputs<'a> {
    response: &'a ResponseConfig,
    coaching: &'a CoachingConfig,
    mail: &'a mail::MailParts,
    identity: &'a identity::IdentityParts,
}

/// Builds the responder, with the mail and identity connectors, and the
/// notifier. Lessons go to recipients at the analysis configuration's
/// organisation domains and at `internal_domains`.
fn build_loop(
    store: &Store,
    pipeline: &Pipeline,
    parts: &LoopInputs<'_>,
    outbox_queued: &Arc<tokio::sync::Notify>,
    config: &ServerConfig,
) -> Result<LoopParts, ServiceError> {
    let LoopInputs { response, coaching, mail, identity } = parts;
    let mut domains = pipeline.organization_domains().to_vec();
    domains.extend(response.internal_domains.iter().cloned());
    let mut connectors = mail.connectors();
    connectors.extend(identity.connectors());
    let responder = respond::Responder::new(store.clone(), (*response).clone(), &connectors)?
        .with_running_stale_after(config.lease() / 2)
        .with_inventory(Arc::clone(&identity.systems.inventory));
    let notifier = notify::Notifier::new(store.clone(), (*coaching).clone(), domains, Arc::clone(outbox_queued))?;
    Ok((Arc::new(responder), Arc::new(notifier)))
}

async fn bind(address: SocketAddr) -> Result<TcpListener, ServiceError> {
    TcpListener::bind(address).await.map_err(|source| ServiceError::Listen { address: address.to_string(), source })
}

/// A started service.
pub struct RunningService {
    address: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<Result<(), ServiceError>>,
}

impl RunningService {
    /// Returns the address the HTTP API listens on; `None` for workers only.
    pub fn address(&self) -> Option<SocketAddr> {
        self.address
    }

    /// Stops taking work and waits up to 30 seconds for jobs in progress
    /// and open requests. A job still running then is left to its lease.
    pub async fn stop(mut self) -> Result<(), ServiceError> {
        let _ = self.shutdown.send(true);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            let mut first_error = None;
            while let Some(joined) = self.tasks.join_next().await {
                let result = joined.map_err(ServiceError::from).and_then(|result| result);
                if let Err(error) = result {
                    tracing::error!(%error, "service task failed");
                    first_error.get_or_insert(error);
                }
            }
            first_error
        })
        .await;
        match drained {
            Ok(None) => {
                tracing::info!("service stopped");
                Ok(())
            }
            Ok(Some(error)) => Err(error),
            Err(_) => {
                tracing::warn!("jobs still running after the grace period; their leases will expire");
                self.tasks.abort_all();
                Ok(())
            }
        }
    }
}
