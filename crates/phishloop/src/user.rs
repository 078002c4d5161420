//! `phishloop user`: accounts of the web interface.
//!
//! Passwords never come from the command line, where other users of the
//! machine and the shell history could read them: they come from the first
//! line of a file (`--password-file`) or of standard input.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use phishloop_store::{Store, UserRole};

use crate::config::Settings;
use crate::exit;
use crate::serve::runtime;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is the first line of standard input
    /// or of --password-file, at least 12 characters.
    Add {
        /// Sign-in name: letters, digits, '.', '_', '-' and '@', stored in lowercase.
        name: String,
        /// admin, analyst, identity, awareness or auditor (see docs/web.md).
        #[arg(long, value_parser = ["admin", "analyst", "identity", "awareness", "auditor"])]
        role: String,
        /// Read the password from the first line of this file instead of standard input.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List the accounts with role and state.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Disable an account and end its sessions.
    Disable {
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Enable a disabled account.
    Enable {
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Set a new password, read like the one of `add`; ends the account's
    /// sessions and clears a sign-in lock.
    Password {
        name: String,
        /// Read the password from the first line of this file instead of standard input.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// The database options of `serve`.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Database URL, as for `serve`.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Folder of the default SQLite database, as for `serve`.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

pub fn run(settings: Settings, command: UserCommand) -> Result<u8> {
    match command {
        UserCommand::Add { name, role, password_file, database } => {
            let role: UserRole = role.parse()?;
            let hash = read_and_hash_password(password_file.as_deref())?;
            with_store(settings, database, |store| async move {
                let user = store.create_user(&name, role, &hash).await?;
                eprintln!("created user {:?} with role {}", user.name, user.role);
                Ok(())
            })
        }
        UserCommand::List { database } => with_store(settings, database, |store| async move {
            let users = store.list_users().await?;
            println!("NAME\tROLE\tSTATE\tLAST SIGN-IN");
            for user in users {
                let state = match (user.disabled_at.is_some(), user.locked) {
                    (true, _) => "disabled",
                    (false, true) => "locked",
                    (false, false) => "enabled",
                };
                let last = user.last_login_at.map(|at| at.to_rfc3339()).unwrap_or_else(|| "never".to_owned());
                println!("{}\t{}\t{state}\t{last}", user.name, user.role);
            }
            Ok(())
        }),
        UserCommand::Disable { name, database } => with_store(settings, database, |store| async move {
            let user = store.set_user_disabled(&name, true).await?;
            eprintln!("disabled user {:?}; its sessions ended", user.name);
            Ok(())
        }),
        UserCommand::Enable { name, database } => with_store(settings, database, |store| async move {
            let user = store.set_user_disabled(&name, false).await?;
            eprintln!("enabled user {:?}", user.name);
            Ok(())
        }),
        UserCommand::Password { name, password_file, database } => {
            let hash = read_and_hash_password(password_file.as_deref())?;
            with_store(settings, database, |store| async move {
                let user = store.set_user_password(&name, &hash).await?;
                eprintln!("set a new password for user {:?}; its sessions ended", user.name);
                Ok(())
            })
        }
    }
}

/// Opens the database named by the settings and the options, runs `work`
/// and closes it.
fn with_store<F, Fut>(settings: Settings, database: DatabaseArgs, work: F) -> Result<u8>
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut server = settings.server;
    if let Some(url) = database.database {
        server.database = Some(url);
    }
    if let Some(data) = database.data {
        server.data_dir = data;
    }
    runtime()?.block_on(async move {
        let store = phishloop_server::connect_store(&server).await.context("cannot open the database")?;
        let result = work(store.clone()).await;
        store.close().await;
        result?;
        Ok(exit::OK)
    })
}

/// Reads the password from the first line of `file` or of standard input
/// and hashes it.
fn read_and_hash_password(file: Option<&Path>) -> Result<String> {
    let line = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the password file {}", path.display()))?;
            text.lines().next().unwrap_or_default().to_owned()
        }
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!("Password (the input is shown; pipe it in or use --password-file to avoid that):");
            }
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
            line
        }
    };
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!(
            "the password is empty: give it on the first line of standard input or of --password-file, at least {} characters",
            phishloop_server::MIN_PASSWORD_CHARS
        );
    }
    Ok(phishloop_server::hash_password(password)?)
}
