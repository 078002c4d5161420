//! The `phishloop` command.

mod analyze;
mod bench;
mod config;
mod files;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Analysis allocates many small strings per message; mimalloc serves them
/// markedly faster than the system allocator (measured with
/// `phishloop bench`, see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let cli = Cli::parse();
    let settings = match config::Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("phishloop: {error:#}");
            return ExitCode::from(exit::USAGE);
        }
    };

    let result = match cli.command {
        Command::Analyze { paths, json, mode } => analyze::run(&settings, &paths, json, mode.into()),
        Command::Bench { dir, json, repeat } => bench::run(&settings, &dir, json, repeat.max(1)),
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
