//! `phishloop serve` and `phishloop token`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use phishloop_server::{ADMIN_TOKEN_VARIABLE, Service, check_admin_token};
use phishloop_store::Store;
use phishloop_store::TokenRole;

use crate::config::Settings;
use crate::exit;

/// Command-line overrides of the `[server]` table.
#[derive(Debug, Default)]
pub struct ServeOptions {
    pub listen: Option<SocketAddr>,
    pub database: Option<String>,
    pub data: Option<PathBuf>,
    pub workers: Option<usize>,
    pub worker_only: bool,
}

/// Runs the service until SIGINT or SIGTERM.
pub fn run(settings: Settings, options: ServeOptions) -> Result<u8> {
    init_logs();
    let mut server = settings.server;
    if let Some(listen) = options.listen {
        server.listen = listen;
    }
    if let Some(database) = options.database {
        server.database = Some(database);
    }
    if let Some(data) = options.data {
        server.data_dir = data;
    }
    if let Some(workers) = options.workers {
        server.workers = workers;
    }
    if options.worker_only && server.workers == 0 {
        anyhow::bail!("--worker-only with 0 workers would do nothing: set --workers to 1 or more");
    }
    // A set but empty variable is rejected too, because it was meant to hold a token.
    let admin_token = std::env::var(ADMIN_TOKEN_VARIABLE).ok();
    if let Some(token) = &admin_token {
        check_admin_token(token)?;
    }

    runtime()?.block_on(async move {
        let store = phishloop_server::connect_store(&server).await.context("cannot open the database")?;
        if admin_token.is_none() && !options.worker_only {
            hint_without_tokens(&store).await;
        }
        let service = Service::new(store, settings.analysis, settings.triage, server, admin_token)?
            .with_mail(settings.mail)?
            .with_identity(settings.identity)
            .await?
            .with_loop(settings.response, settings.coaching)?;
        service.run(options.worker_only, stop_signal()).await?;
        Ok(exit::OK)
    })
}

/// Logs how to create the first API token when no valid one exists, because
/// every API request then gets `401` and a new user would not know why.
async fn hint_without_tokens(store: &Store) {
    match store.list_api_tokens().await {
        Ok(tokens) if tokens.iter().all(|token| token.revoked_at.is_some()) => tracing::warn!(
            "no valid API token exists, so every API request gets 401: create one with `phishloop token create \
             --name NAME --role admin` (same --data or --database as this service), or set {ADMIN_TOKEN_VARIABLE}"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "cannot list the API tokens"),
    }
}

/// Creates an API token, prints it once and stores only its SHA-256.
pub fn create_token(
    settings: Settings,
    database: Option<String>,
    data: Option<PathBuf>,
    name: &str,
    role: &str,
) -> Result<u8> {
    let role: TokenRole = role.parse()?;
    let server = store_command_config(settings, database, data);
    runtime()?.block_on(async move {
        let store = phishloop_server::connect_store(&server).await.context("cannot open the database")?;
        let (stored, token) = phishloop_server::create_token(&store, name, role).await?;
        store.close().await;
        eprintln!(
            "created token {} named {:?} with role {}; it is shown only this once:",
            stored.id, stored.name, stored.role
        );
        println!("{token}");
        Ok(exit::OK)
    })
}

/// Prints one line per stored token: id, role, state, creation time and name.
pub fn list_tokens(settings: Settings, database: Option<String>, data: Option<PathBuf>) -> Result<u8> {
    let server = store_command_config(settings, database, data);
    runtime()?.block_on(async move {
        let store = phishloop_server::connect_store(&server).await.context("cannot open the database")?;
        let tokens = store.list_api_tokens().await;
        store.close().await;
        for token in tokens? {
            let state = match token.revoked_at {
                Some(revoked_at) => format!("revoked {}", revoked_at.to_rfc3339()),
                None => "valid".to_owned(),
            };
            println!("{}\t{}\t{}\t{}\t{}", token.id, token.role, state, token.created_at.to_rfc3339(), token.name);
        }
        Ok(exit::OK)
    })
}

/// Verifies the event log's hash chain up to its current head. Prints how
/// many events were checked; a break is named on standard error with its
/// position, event and problem, and the exit code is 1.
pub fn verify_events(settings: Settings, database: Option<String>, data: Option<PathBuf>) -> Result<u8> {
    let server = store_command_config(settings, database, data);
    // Opening a SQLite file that is not there would create an empty one,
    // whose empty log passes: a mistyped folder must fail instead.
    if server.database.is_none() {
        let file = server.data_dir.join("phishloop.db");
        if !file.is_file() {
            anyhow::bail!(
                "no phishloop database at {}: pass the service's --data folder or its --database URL",
                file.display()
            );
        }
    }
    runtime()?.block_on(async move {
        let store = phishloop_server::connect_store(&server).await.context("cannot open the database")?;
        let verification = store.verify_chain().await;
        store.close().await;
        let verification = verification.context("cannot read the event log")?;
        let head = &verification.head;
        match &verification.first_break {
            None => {
                println!(
                    "intact: {} events verified, head at {} with hash {}",
                    verification.events_verified, head.seq, head.hash
                );
                Ok(exit::OK)
            }
            Some(found) => {
                let event = found.event_id.map_or_else(|| "missing".to_owned(), |id| id.to_string());
                let problem = serde_json::to_value(found.problem)
                    .ok()
                    .and_then(|value| value.as_str().map(str::to_owned))
                    .unwrap_or_else(|| format!("{:?}", found.problem));
                println!(
                    "broken at event {} (id {event}): {problem}: {}; {} events before it verified",
                    found.seq, found.detail, verification.events_verified
                );
                eprintln!(
                    "phishloop: the event log was changed outside phishloop; restore it from a backup and \
                     compare the two"
                );
                Ok(exit::INPUT_FAILED)
            }
        }
    })
}

/// Revokes the token with `id`; requests with it get `401` from then on.
pub fn revoke_token(settings: Settings, database: Option<String>, data: Option<PathBuf>, id: uuid::Uuid) -> Result<u8> {
    let server = store_command_config(settings, database, data);
    runtime()?.block_on(async move {
        let store = phishloop_server::connect_store(&server).await.context("cannot open the database")?;
        let tokens = store.list_api_tokens().await;
        let earlier = tokens.ok().and_then(|tokens| tokens.into_iter().find(|token| token.id == id));
        if let Some(token) = earlier.filter(|token| token.revoked_at.is_some()) {
            store.close().await;
            let revoked_at = token.revoked_at.map(|time| time.to_rfc3339()).unwrap_or_default();
            eprintln!("token {} named {:?} was already revoked at {revoked_at}; nothing changed", token.id, token.name);
            return Ok(exit::OK);
        }
        let revoked = store.revoke_api_token(id).await;
        store.close().await;
        let revoked =
            revoked.with_context(|| format!("cannot revoke token {id}; `phishloop token list` shows the ids"))?;
        eprintln!("revoked token {} named {:?} with role {}", revoked.id, revoked.name, revoked.role);
        Ok(exit::OK)
    })
}

/// Returns the server settings with the `--database` and `--data` options of
/// a command that opens the store (`token`, `verify-events`) applied.
fn store_command_config(
    settings: Settings,
    database: Option<String>,
    data: Option<PathBuf>,
) -> phishloop_server::ServerConfig {
    let mut server = settings.server;
    if let Some(database) = database {
        server.database = Some(database);
    }
    if let Some(data) = data {
        server.data_dir = data;
    }
    server
}

/// The async runtime of the service and the commands that talk to it: one
/// thread for all I/O. Analysis, hashing, compression and password checks
/// run on tokio's blocking pool, so nothing slow holds that thread. With
/// one thread a database reply wakes one parked thread instead of two or
/// more. On SQLite, whose driver runs each statement on a thread of its own,
/// those wake-ups were most of the service's CPU time (see
/// docs/benchmarks.md).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
}

/// Logs to standard error, filtered by `RUST_LOG` (default `info`).
pub(crate) fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(colours).with_writer(std::io::stderr).try_init();
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; stop with Ctrl-C");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
