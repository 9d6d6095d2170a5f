//! The `sqlvault` command line: argument parsing, dispatch and exit codes.
//!
//! Each subcommand lives in its own module; shared pieces are [`keys`] (where keys come
//! from), [`db`] (opening databases, atomic replacement), [`copy`] (logical copy for
//! import/export), [`output`] (tables, CSV, JSON) and [`error`] (exit codes).

mod bench;
mod create;
mod db;
mod demo;
mod error;
mod exec;
mod export;
mod header;
mod import;
mod info;
mod keys;
mod output;
mod rekey;
mod secret_env;
mod verify;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use error::CliError;

/// Encrypted SQLite databases from the terminal: create, query, import from SQLCipher or
/// plaintext SQLite, export, rekey, verify.
#[derive(Parser, Debug)]
#[command(name = "sqlvault", version, after_help = error::EXIT_CODES)]
pub struct Cli {
    /// No progress bars or informational messages (errors are still printed).
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new, empty encrypted database.
    Create(create::CreateArgs),
    /// Interactive SQL shell on an encrypted database (line editing; history kept in memory only).
    Shell(exec::ShellArgs),
    /// Run SQL on an encrypted database and print the results.
    Exec(exec::ExecArgs),
    /// Import a plaintext SQLite or SQLCipher 2/3/4 database into a new encrypted database.
    Import(import::ImportArgs),
    /// Write a PLAINTEXT copy of an encrypted database (needs --i-know-this-writes-plaintext).
    Export(export::ExportArgs),
    /// Change the key of a database (crash-safe: old or new database, never a mix).
    Rekey(rekey::RekeyArgs),
    /// Authenticate every page of the database and its WAL, then run integrity_check.
    Verify(verify::VerifyArgs),
    /// Show format version, page size, page count, KDF parameters and WAL state (no key needed).
    Info(info::InfoArgs),
    /// Quick plain-SQLite vs sqlvault comparison on a temporary database.
    ///
    /// A few thousand rows per workload, one run each: a smoke test of what encryption
    /// costs on this machine. The real measurements are the criterion benchmarks in
    /// `benches/` (`cargo bench -p sqlvault-benches`), which report ratios against plain
    /// SQLite and SQLCipher measured in the same run.
    Bench(bench::BenchArgs),
    /// The demonstration: an encrypted database in a temporary directory, concurrent async
    /// readers and writers with nested savepoints, checks, a plaintext scan and timings.
    Demo,
}

/// Parses the command line, runs the command and returns its exit status.
///
/// Key variables (`SQLVAULT_KEY`, …) are taken out of the environment before anything
/// else happens, so no child process inherits them and `/proc/PID/environ` no longer
/// shows them.
pub fn main() -> ExitCode {
    // The first thing the process does, while it has one thread.
    secret_env::take(&keys::KEY_VARIABLES);
    let cli = Cli::parse();
    let status = match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sqlvault: error: {e}");
            e.exit_code()
        }
    };
    secret_env::clear();
    status
}

fn run(cli: Cli) -> Result<(), CliError> {
    let ui = Ui { quiet: cli.quiet };
    match cli.command {
        Command::Create(a) => create::run(a, ui),
        Command::Shell(a) => exec::shell(a, ui),
        Command::Exec(a) => exec::exec(a, ui),
        Command::Import(a) => import::run(a, ui),
        Command::Export(a) => export::run(a, ui),
        Command::Rekey(a) => rekey::run(a, ui),
        Command::Verify(a) => verify::run(a, ui),
        Command::Info(a) => info::run(a, ui),
        Command::Bench(a) => bench::run(a, ui),
        Command::Demo => demo::run().map_err(CliError::Failed),
    }
}

/// What every command needs to know about the user interface.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// `--quiet`: no progress, no informational messages.
    pub quiet: bool,
}

impl Ui {
    /// A progress bar on stderr (hidden with `--quiet` or when stderr is not a terminal).
    pub fn progress(&self, what: &str, len: u64) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// Prints an informational line on stderr unless `--quiet`.
    pub fn say(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }
}
