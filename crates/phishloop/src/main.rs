//! The `phishloop` command.

mod analyze;
mod bench;
mod clicks;
mod config;
mod demo;
mod eval;
mod files;
mod labelled;
mod load;
mod report;
mod rules;
mod serve;
mod summary;
mod train;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Analysis and rule evaluation allocate many small strings and maps per
/// message; with mimalloc, `phishloop bench` measured analysis 3 % and
/// analysis with triage 30 % faster than with the system allocator (see
/// docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the `mi_option_e` enum of mimalloc 3
/// (`include/mimalloc.h`), which the `mimalloc` crate does not export.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Milliseconds that freed memory stays with the process before mimalloc
/// returns it to the kernel. At mimalloc 3's default of one second, the
/// multi-megabyte buffers of decoded images and attachment bodies went back
/// to the kernel during a run, and each new one was faulted in and zeroed
/// again. `phishloop bench` on 6,460 messages spent 0.62 s of system time
/// with the default and 0.20 s with ten seconds. The cost is that a service
/// keeps freed buffers for ten seconds longer.
const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

#[allow(unsafe_code)]
unsafe extern "C" {
    /// Sets a mimalloc option (`mimalloc.h`).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// Applies [`PURGE_DELAY_MS`] unless `MIMALLOC_PURGE_DELAY` sets the delay.
#[allow(unsafe_code)]
fn configure_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set stores the value in mimalloc's option table,
        // and 15 is an option of the mimalloc 3 that libmimalloc-sys builds.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

/// Closed-loop phishing defence: analyse reported email, decide, act,
/// coach and measure.
#[derive(Debug, Parser)]
#[command(name = "phishloop", version, about, long_about = None)]
struct Cli {
    /// Configuration file (TOML). Without it, built-in defaults apply.
    #[arg(long, global = true, env = "PHISHLOOP_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse messages: .eml, mbox and Outlook .msg files, or folders of
    /// them (searched recursively). Report wrappers are unwrapped.
    Analyze {
        /// Files and folders to analyse.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Print one JSON object per message (JSON Lines) instead of a
        /// summary.
        #[arg(long)]
        json: bool,
        /// How to treat messages that may be report wrappers.
        #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
        mode: ModeArg,
        /// Only analyse; do not decide (no rules, no model).
        #[arg(long)]
        no_triage: bool,
    },
    /// Measure analysis throughput on one core against a bare MIME parse
    /// of the same messages.
    Bench {
        /// Folder of messages (searched recursively).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Print the figures as one JSON object.
        #[arg(long)]
        json: bool,
        /// Passes over the messages for each measurement; the fastest pass
        /// is reported.
        #[arg(long, default_value_t = 3, value_name = "N")]
        repeat: usize,
    },
    /// Print the JSON Schema of the analysis output.
    Schema,
    /// Test or list detection rules.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Train the statistical model on labelled folders of messages.
    Train {
        /// Folder of phishing messages (may be given more than once).
        #[arg(long, required = true, value_name = "DIR")]
        phish: Vec<PathBuf>,
        /// Folder of legitimate messages (may be given more than once).
        #[arg(long, required = true, value_name = "DIR")]
        ham: Vec<PathBuf>,
        /// Folder of spam (may be given more than once).
        #[arg(long, value_name = "DIR")]
        spam: Vec<PathBuf>,
        /// Where to write the model.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Share of the messages, chosen by SHA-256, to train on; the rest
        /// is held out for `phishloop eval`.
        #[arg(long, default_value_t = 0.7, value_name = "SHARE")]
        train_share: f64,
        /// Name stored in the model and shown in decisions.
        #[arg(long, default_value = "phishloop-model")]
        name: String,
        /// Passes over the training messages.
        #[arg(long, default_value_t = phishloop_triage::model::TrainOptions::default().epochs)]
        epochs: usize,
        /// L2 regularisation strength; larger values give a smoother,
        /// less confident model.
        #[arg(long, default_value_t = phishloop_triage::model::TrainOptions::default().l2)]
        l2: f64,
        /// Count every training message alike instead of weighing each by
        /// one over the square root of the size of its source folder (the
        /// first subfolder under --phish, --ham or --spam).
        #[arg(long)]
        no_source_balance: bool,
    },
    /// Run the service: the HTTP API and the analysis workers. Without
    /// options it keeps a SQLite database in ./phishloop-data and listens
    /// on 127.0.0.1:8025.
    Serve {
        /// Address of the HTTP listener, such as 127.0.0.1:8025.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Database URL: sqlite://PATH or postgres://USER@HOST:PORT/DATABASE.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// Folder of the default SQLite database, created if missing.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Analysis workers in this process.
        #[arg(long, value_name = "N")]
        workers: Option<usize>,
        /// Run workers only, without the HTTP listener, so that several
        /// processes share one PostgreSQL database.
        #[arg(long)]
        worker_only: bool,
    },
    /// Submit message files (and the files below folders) to a running service and print each report id.
    Report {
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
        /// Base URL of the service, such as http://127.0.0.1:8025.
        #[arg(long, value_name = "URL")]
        server: String,
        /// API token with the reporter, analyst or admin role.
        #[arg(long, env = "PHISHLOOP_TOKEN", hide_env_values = true, value_name = "TOKEN")]
        token: String,
        /// Address of the person who reported; without it, the sender of a
        /// report wrapper.
        #[arg(long, value_name = "ADDR")]
        reporter: Option<String>,
        /// The reporter's own words.
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
    },
    /// Run the whole loop on a folder of messages: start the service on
    /// 127.0.0.1 with a temporary SQLite database, submit every file over
    /// HTTP, and print each report's decision, actions and messages, then
    /// the loop metrics.
    Demo {
        /// Folder of messages (searched recursively).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Database URL instead of the temporary SQLite file, such as
        /// postgres://USER@HOST:PORT/DATABASE.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// Reporter address sent with every message. Without it the
        /// service takes the reporter from each report wrapper, and a bare
        /// message has no reporter to tell.
        #[arg(long, value_name = "ADDR")]
        reporter: Option<String>,
    },
    /// Offer reports to a running service at a fixed rate and print how
    /// fast they were accepted and decided.
    Load {
        /// Folder of messages to send (searched recursively); files are
        /// sent again when the run needs more reports than the folder has.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Base URL of the service, such as http://127.0.0.1:8025.
        #[arg(long, value_name = "URL")]
        server: String,
        /// API token with the reporter, analyst or admin role.
        #[arg(long, env = "PHISHLOOP_TOKEN", hide_env_values = true, value_name = "TOKEN")]
        token: String,
        /// Reports offered per second.
        #[arg(long, default_value_t = 100.0, value_name = "N")]
        rate: f64,
        /// Seconds of sending.
        #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
        duration: f64,
        /// Reporter address sent with every report.
        #[arg(long, value_name = "ADDR")]
        reporter: Option<String>,
        /// Print the figures as one JSON object.
        #[arg(long)]
        json: bool,
        /// After the decisions, check that every report's case has an
        /// action and that its reporter has an outcome message.
        #[arg(long)]
        verify: bool,
    },
    /// Send click evidence to a running service.
    Clicks {
        #[command(subcommand)]
        command: ClicksCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Check the event log's hash chain: recompute every event's hash and
    /// its link to the event before it, and report the first break.
    VerifyEvents {
        /// Database URL, as for `serve`.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// Folder of the default SQLite database, as for `serve`.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
    /// Manage the accounts of the web interface.
    User {
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// Evaluate decisions on labelled folders: each DIR holds subfolders
    /// named phish, spam and ham.
    Eval {
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Print the figures as one JSON object.
        #[arg(long)]
        json: bool,
        /// Evaluate every message, also those whose SHA-256 falls in the
        /// model's training share: for mail the model never saw, such as
        /// your own.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Run the examples of every rule: the built-in rules and the
    /// configured rule folders, or the rule files in the given folders.
    Test {
        #[arg(value_name = "DIR")]
        dirs: Vec<PathBuf>,
    },
    /// List the rules with weight, category and file.
    List {
        #[arg(value_name = "DIR")]
        dirs: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ClicksCommand {
    /// Import a proxy, DNS or Defender log: the service matches it against
    /// open cases (or the one given), records who clicked and who submitted
    /// credentials, and plans containment for them.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Base URL of the service, such as http://127.0.0.1:8025.
        #[arg(long, value_name = "URL")]
        server: String,
        /// API token with the analyst, identity or admin role.
        #[arg(long, env = "PHISHLOOP_TOKEN", hide_env_values = true, value_name = "TOKEN")]
        token: String,
        /// Log format.
        #[arg(long, value_parser = ["proxy_csv", "proxy_jsonl", "dns_csv", "dns_jsonl", "defender"])]
        format: String,
        /// Field map: proxy, dns or a name under [identity.clicks.field_maps].
        #[arg(long, value_name = "NAME")]
        field_map: Option<String>,
        /// Match only this case id.
        #[arg(long, value_name = "ID", conflicts_with = "campaign")]
        case: Option<String>,
        /// Match only the cases of this campaign id.
        #[arg(long, value_name = "ID")]
        campaign: Option<String>,
        /// Print the service's answer as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token, print it once and store only its SHA-256.
    Create {
        /// Who or what uses the token, such as report-button or alice.
        #[arg(long)]
        name: String,
        /// admin, analyst, identity or reporter.
        #[arg(long, default_value = "reporter", value_parser = ["admin", "analyst", "identity", "reporter"])]
        role: String,
        /// Database URL, as for `serve`.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// Folder of the default SQLite database, as for `serve`.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
    /// List every token with its id, name, role and state (never the token itself).
    List {
        /// Database URL, as for `serve`.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// Folder of the default SQLite database, as for `serve`.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
    /// Revoke a token by the id that `token create` and `token list` print.
    Revoke {
        /// The token's id.
        id: uuid::Uuid,
        /// Database URL, as for `serve`.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// Folder of the default SQLite database, as for `serve`.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
}

/// Report-wrapper handling, see `phishloop analyze --help`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    /// Unwrap a message when it carries an original and looks like a report
    /// (report button format, forward or report subject, reporting
    /// address).
    Auto,
    /// Treat every message as a report; without an extractable original it
    /// is marked for manual review.
    Report,
    /// Treat every message as the suspicious message itself.
    Direct,
}

impl From<ModeArg> for phishloop_analysis::Mode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Auto => phishloop_analysis::Mode::Auto,
            ModeArg::Report => phishloop_analysis::Mode::Report,
            ModeArg::Direct => phishloop_analysis::Mode::Direct,
        }
    }
}

/// Exit codes, documented in docs/cli.md.
pub mod exit {
    /// Every input was read and analysed.
    pub const OK: u8 = 0;
    /// At least one input could not be read; the others were analysed.
    pub const INPUT_FAILED: u8 = 1;
    /// Invalid command line or configuration; nothing was analysed.
    pub const USAGE: u8 = 2;
}

fn main() -> ExitCode {
    configure_allocator();
    let cli = Cli::parse();
    let settings = match config::Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("phishloop: {error:#}");
            return ExitCode::from(exit::USAGE);
        }
    };

    let result = match cli.command {
        Command::Analyze { paths, json, mode, no_triage } => {
            analyze::run(&settings, &paths, json, mode.into(), !no_triage)
        }
        Command::Bench { dir, json, repeat } => bench::run(&settings, &dir, json, repeat.max(1)),
        Command::Rules { command: RulesCommand::Test { dirs } } => rules::test(&settings, &dirs),
        Command::Rules { command: RulesCommand::List { dirs } } => rules::list(&settings, &dirs),
        Command::Train { phish, ham, spam, out, train_share, name, epochs, l2, no_source_balance } => train::run(
            &settings,
            &train::TrainArguments {
                phish,
                ham,
                spam,
                out,
                train_share,
                name,
                epochs,
                l2,
                balance_sources: !no_source_balance,
            },
        ),
        Command::Eval { dirs, json, all } => eval::run(&settings, &dirs, json, all),
        Command::Serve { listen, database, data, workers, worker_only } => {
            serve::run(settings, serve::ServeOptions { listen, database, data, workers, worker_only })
        }
        Command::Report { files, server, token, reporter, comment } => {
            report::run(&files, &report::ReportOptions { server, token, reporter, comment })
        }
        Command::Load { dir, server, token, rate, duration, reporter, json, verify } => {
            load::run(load::LoadOptions { dir, server, token, rate, duration, reporter, json, verify })
        }
        Command::Demo { dir, database, reporter } => demo::run(settings, demo::DemoOptions { dir, database, reporter }),
        Command::Clicks {
            command: ClicksCommand::Import { file, server, token, format, field_map, case, campaign, json },
        } => clicks::import(&file, &clicks::ImportOptions { server, token, format, field_map, case, campaign, json }),
        Command::Token { command: TokenCommand::Create { name, role, database, data } } => {
            serve::create_token(settings, database, data, &name, &role)
        }
        Command::VerifyEvents { database, data } => serve::verify_events(settings, database, data),
        Command::Token { command: TokenCommand::List { database, data } } => {
            serve::list_tokens(settings, database, data)
        }
        Command::Token { command: TokenCommand::Revoke { id, database, data } } => {
            serve::revoke_token(settings, database, data, id)
        }
        Command::User { command } => user::run(settings, command),
        Command::Schema => {
            let schema = schemars::schema_for!(phishloop_model::AnalysisRecord);
            match serde_json::to_string_pretty(&schema) {
                Ok(text) => {
                    println!("{text}");
                    Ok(exit::OK)
                }
                Err(error) => Err(error.into()),
            }
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("phishloop: {error:#}");
            ExitCode::from(exit::USAGE)
        }
    }
}
