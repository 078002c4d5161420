//! IMAP intake: turns each message of a reporting mailbox into a report.
//!
//! Crash safety comes from the order of steps and from the source key. A
//! message is moved to the processed folder only after the sink has stored
//! its report, so a crash before the move leaves it in the mailbox and the
//! next pass submits it again with the same key
//! `imap:{account}:{mailbox}:{uidvalidity}:{uid}`. The sink must recognise
//! that key and return the existing report (`created = false`) instead of
//! storing a second one. UIDVALIDITY is part of the key because a server
//! that renumbers a mailbox changes it, and a reused UID must not match an
//! older message.

use std::sync::Arc;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_trait::async_trait;
use futures::TryStreamExt;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::classify::{Disposition, classify};
use crate::config::{ConfigError, IntakeAccount, MailConfig};
use crate::connection::{Connector, ImapError, ImapSession, ensure_folder, with_timeout};
use crate::tls;

/// The error a sink returns; its text is logged, so it must not contain a
/// secret.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// The stored report for one submitted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub report_id: String,
    /// False when a report with the same source key already existed, after
    /// a crash between storing and moving.
    pub created: bool,
}

/// The destination of each message: the service's normal report intake.
#[async_trait]
pub trait ReportSink: Send + Sync {
    /// Stores a report for `raw` (the message as fetched, unchanged) unless
    /// one with `source_key` exists. Returning `Ok` means the report is
    /// durably stored: only then is the message moved out of the mailbox.
    async fn submit(&self, raw: Vec<u8>, source_key: String) -> Result<Submitted, SinkError>;
}

/// Counts of one pass over one reporting mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassSummary {
    pub account: String,
    /// Reports the sink created.
    pub reported: usize,
    /// Messages whose report already existed (a retry after a crash).
    pub duplicates: usize,
    /// Bounces, auto-replies and own messages moved to the ignored folder.
    pub ignored: usize,
    /// Messages left in the mailbox because the sink or a move failed.
    pub failed: usize,
}

/// Watches the configured reporting mailboxes.
pub struct Intake {
    accounts: Vec<Account>,
    own_domains: Arc<Vec<String>>,
}

struct Account {
    config: IntakeAccount,
    password: String,
    connector: Connector,
}

/// The first wait after a failed connection; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// RFC 2177 advises clients to re-issue IDLE at least every 29 minutes.
const IDLE_RENEWAL: Duration = Duration::from_secs(25 * 60);
/// Time allowed for connecting and logging in, and for one command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

impl Intake {
    /// Validates every `[[mail.intake]]` account and reads its secret.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`] found, naming the account.
    pub fn new(config: &MailConfig) -> Result<Self, ConfigError> {
        let mut accounts = Vec::with_capacity(config.intake.len());
        for account in &config.intake {
            account.validate()?;
            if accounts.iter().any(|existing: &Account| existing.config.name == account.name) {
                return Err(ConfigError::Invalid {
                    field: "mail.intake.name".to_string(),
                    value: account.name.clone(),
                    reason: "two accounts share this name; names must be unique".to_string(),
                });
            }
            let field = format!("mail.intake[{}]", account.name);
            let password = account.secret().resolve(&field)?;
            let tls = tls::client_config(&field, account.ca_file.as_deref())?;
            let connector = Connector { server: account.server()?, tls, timeout: COMMAND_TIMEOUT };
            accounts.push(Account { config: account.clone(), password, connector });
        }
        Ok(Intake { accounts, own_domains: Arc::new(config.own_domains()) })
    }

    /// Processes every message in every account once and returns the counts.
    /// An account that fails is returned as an error in its place.
    pub async fn process_once(&self, sink: &dyn ReportSink) -> Vec<Result<PassSummary, ImapError>> {
        let mut results = Vec::with_capacity(self.accounts.len());
        for account in &self.accounts {
            let pass = async {
                let mut watched = account.open().await?;
                let summary = watched.drain(sink, &self.own_domains).await;
                let _ = watched.session.logout().await;
                Ok(summary)
            };
            results.push(pass.await);
        }
        results
    }

    /// Watches every account until `shutdown` becomes true or its sender is
    /// dropped. Each account runs in its own task and reconnects with
    /// exponential backoff, so one failing server does not stop the others.
    pub async fn run(self, sink: Arc<dyn ReportSink>, shutdown: watch::Receiver<bool>) {
        let own_domains = self.own_domains.clone();
        let mut tasks = tokio::task::JoinSet::new();
        for account in self.accounts {
            let sink = sink.clone();
            let shutdown = shutdown.clone();
            let own_domains = own_domains.clone();
            tasks.spawn(async move { account.watch(sink, own_domains, shutdown).await });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Err(error) = joined {
                warn!(%error, "intake account task ended abnormally");
            }
        }
    }
}

impl Account {
    async fn open(&self) -> Result<Watched, ImapError> {
        let config = &self.config;
        let mut session = self.connector.login(&config.username, &self.password).await?;
        let operation = format!("preparing mailbox {} of account {}", config.mailbox, config.name);
        let (uid_validity, capabilities) = with_timeout(COMMAND_TIMEOUT, operation, async {
            ensure_folder(&mut session, &config.processed_folder).await?;
            ensure_folder(&mut session, &config.ignored_folder).await?;
            let capabilities = session.capabilities().await.map_err(ImapError::command("CAPABILITY"))?;
            let selected = session
                .select(&config.mailbox)
                .await
                .map_err(ImapError::command(format!("SELECT {}", config.mailbox)))?;
            Ok((selected.uid_validity.unwrap_or(0), capabilities))
        })
        .await?;
        Ok(Watched {
            session,
            account: config.clone(),
            uid_validity,
            has_move: capabilities.has_str("MOVE"),
            has_uidplus: capabilities.has_str("UIDPLUS"),
            has_idle: capabilities.has_str("IDLE"),
        })
    }

    async fn watch(
        self,
        sink: Arc<dyn ReportSink>,
        own_domains: Arc<Vec<String>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let name = self.config.name.clone();
        let mut backoff = FIRST_BACKOFF;
        loop {
            if *shutdown.borrow() {
                break;
            }
            // A login can take seconds when the server delays failed
            // attempts, so shutdown does not wait for it.
            let opened = tokio::select! {
                opened = self.open() => opened,
                _ = shutdown_requested(&mut shutdown) => break,
            };
            let error = match opened {
                Ok(watched) => {
                    info!(account = %name, idle = watched.uses_idle(), "watching reporting mailbox");
                    backoff = FIRST_BACKOFF;
                    match watched.serve(sink.as_ref(), &own_domains, &mut shutdown).await {
                        Ok(()) => break,
                        Err(error) => error,
                    }
                }
                Err(error) => error,
            };
            warn!(account = %name, %error, retry_in_secs = backoff.as_secs(), "reporting mailbox failed; reconnecting");
            if wait_or_shutdown(backoff, &mut shutdown).await {
                break;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        info!(account = %name, "stopped watching reporting mailbox");
    }
}

/// A logged-in session with the reporting mailbox selected.
struct Watched {
    session: ImapSession,
    account: IntakeAccount,
    uid_validity: u32,
    has_move: bool,
    has_uidplus: bool,
    has_idle: bool,
}

impl Watched {
    fn uses_idle(&self) -> bool {
        self.account.idle && self.has_idle
    }

    /// Drains the mailbox, then waits for new mail with IDLE or by polling,
    /// until shutdown (`Ok`) or a connection error (`Err`).
    async fn serve(
        mut self,
        sink: &dyn ReportSink,
        own_domains: &[String],
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), ImapError> {
        let poll_interval = Duration::from_secs(self.account.poll_interval_secs);
        loop {
            let summary = self.drain(sink, own_domains).await;
            if summary.failed > 0 {
                warn!(account = %summary.account, failed = summary.failed, "messages left in the reporting mailbox for a retry");
            }
            // A message that failed is retried after the poll interval even
            // when IDLE would otherwise wait for new mail.
            let wait = if summary.failed > 0 { poll_interval } else { IDLE_RENEWAL };
            if self.uses_idle() {
                let (session, stop) = idle(self.session, wait, shutdown).await?;
                self.session = session;
                if stop {
                    return Ok(());
                }
            } else if wait_or_shutdown(poll_interval, shutdown).await {
                return Ok(());
            }
        }
    }

    /// Handles every message now in the mailbox, oldest first. Errors are
    /// counted and logged, never returned, so one bad message does not hold
    /// up the others.
    async fn drain(&mut self, sink: &dyn ReportSink, own_domains: &[String]) -> PassSummary {
        let mut summary = PassSummary { account: self.account.name.clone(), ..PassSummary::default() };
        let uids = match self.session.uid_search("ALL").await {
            Ok(uids) => uids,
            Err(source) => {
                warn!(account = %summary.account, error = %source, "UID SEARCH failed");
                summary.failed += 1;
                return summary;
            }
        };
        let mut uids: Vec<u32> = uids.into_iter().collect();
        uids.sort_unstable();

        for uid in uids {
            if let Err(error) = self.handle(uid, sink, own_domains, &mut summary).await {
                warn!(account = %summary.account, uid, %error, "message left in the reporting mailbox");
                summary.failed += 1;
            }
        }
        summary
    }

    async fn handle(
        &mut self,
        uid: u32,
        sink: &dyn ReportSink,
        own_domains: &[String],
        summary: &mut PassSummary,
    ) -> Result<(), HandleError> {
        // NOTE: the whole message is held in memory; the server's own size
        // limit bounds it, phishloop sets none here.
        let Some(raw) = self.fetch(uid).await? else { return Ok(()) };
        let account = self.account.name.clone();

        let disposition = classify(&raw, own_domains);
        if disposition != Disposition::Report {
            let folder = self.account.ignored_folder.clone();
            self.move_to(uid, &folder).await?;
            debug!(%account, uid, kind = disposition.as_str(), "message moved to the ignored folder");
            summary.ignored += 1;
            return Ok(());
        }

        let key = format!("imap:{}:{}:{}:{uid}", account, self.account.mailbox, self.uid_validity);
        let submitted = sink.submit(raw, key.clone()).await.map_err(HandleError::Sink)?;
        let folder = self.account.processed_folder.clone();
        self.move_to(uid, &folder).await?;
        if submitted.created {
            info!(%account, uid, report_id = %submitted.report_id, source_key = %key, "report stored from mailbox");
            summary.reported += 1;
        } else {
            info!(%account, uid, report_id = %submitted.report_id, source_key = %key, "report already stored; message moved");
            summary.duplicates += 1;
        }
        Ok(())
    }

    async fn fetch(&mut self, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
        let operation = format!("UID FETCH {uid}");
        let fetches: Vec<_> = self
            .session
            .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
            .await
            .map_err(ImapError::command(operation.clone()))?
            .try_collect()
            .await
            .map_err(ImapError::command(operation))?;
        Ok(fetches.iter().find(|fetch| fetch.uid == Some(uid)).and_then(|fetch| fetch.body()).map(<[u8]>::to_vec))
    }

    async fn move_to(&mut self, uid: u32, folder: &str) -> Result<(), ImapError> {
        move_uids(&mut self.session, &uid.to_string(), folder, self.has_move, self.has_uidplus).await
    }
}

/// Moves the messages `uid_set` of the selected folder to `folder`: UID MOVE
/// (RFC 6851) when offered, otherwise COPY, then flag `\Deleted` and
/// expunge. Without UIDPLUS the expunge also removes other messages already
/// flagged `\Deleted` in the folder, as any client's EXPUNGE would.
pub(crate) async fn move_uids(
    session: &mut ImapSession,
    uid_set: &str,
    folder: &str,
    has_move: bool,
    has_uidplus: bool,
) -> Result<(), ImapError> {
    if has_move {
        return session.uid_mv(uid_set, folder).await.map_err(ImapError::command(format!("UID MOVE to {folder}")));
    }
    session.uid_copy(uid_set, folder).await.map_err(ImapError::command(format!("UID COPY to {folder}")))?;
    let _: Vec<_> = session
        .uid_store(uid_set, "+FLAGS.SILENT (\\Deleted)")
        .await
        .map_err(ImapError::command("UID STORE \\Deleted"))?
        .try_collect()
        .await
        .map_err(ImapError::command("UID STORE \\Deleted"))?;
    if has_uidplus {
        let _: Vec<_> = session
            .uid_expunge(uid_set)
            .await
            .map_err(ImapError::command("UID EXPUNGE"))?
            .try_collect()
            .await
            .map_err(ImapError::command("UID EXPUNGE"))?;
    } else {
        let _: Vec<_> = session
            .expunge()
            .await
            .map_err(ImapError::command("EXPUNGE"))?
            .try_collect()
            .await
            .map_err(ImapError::command("EXPUNGE"))?;
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
enum HandleError {
    #[error("the report sink failed: {0}")]
    Sink(SinkError),
    #[error(transparent)]
    Imap(#[from] ImapError),
}

/// Waits in IDLE until the server reports a change, `wait` passes or
/// shutdown is requested. Returns the session and true on shutdown.
async fn idle(
    session: ImapSession,
    wait: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(ImapSession, bool), ImapError> {
    let mut handle = session.idle();
    handle.init().await.map_err(ImapError::command("IDLE"))?;
    let stop = {
        let (response, _interrupt) = handle.wait_with_timeout(wait);
        tokio::select! {
            response = response => {
                match response.map_err(ImapError::command("IDLE"))? {
                    IdleResponse::NewData(_) => debug!("IDLE reported new data"),
                    IdleResponse::Timeout | IdleResponse::ManualInterrupt => {}
                }
                false
            }
            _ = shutdown_requested(shutdown) => true,
        }
    };
    let session = handle.done().await.map_err(ImapError::command("DONE"))?;
    Ok((session, stop))
}

/// Resolves when shutdown is requested or the sender is gone.
async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Sleeps for `wait`; returns true when shutdown came first.
async fn wait_or_shutdown(wait: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => *shutdown.borrow(),
        _ = shutdown_requested(shutdown) => true,
    }
}
