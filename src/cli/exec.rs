//! `sqlvault exec` and `sqlvault shell`: SQL against an encrypted database.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::Args;
use rusqlite::Connection;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use super::Ui;
use super::db::open_existing;
use super::error::CliError;
use super::keys::{KeyOpts, database_key};
use super::output::{Format, run_sql};

/// Arguments of `sqlvault exec`.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// The encrypted database.
    pub db: PathBuf,
    /// SQL to run (several statements allowed); `-` reads it from stdin.
    pub sql: String,
    #[command(flatten)]
    pub key: KeyOpts,
    /// Output format for result rows.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Open the database read-only.
    #[arg(long)]
    pub read_only: bool,
}

/// Arguments of `sqlvault shell`.
#[derive(Args, Debug)]
pub struct ShellArgs {
    /// The encrypted database.
    pub db: PathBuf,
    #[command(flatten)]
    pub key: KeyOpts,
    /// Open the database read-only.
    #[arg(long)]
    pub read_only: bool,
}

fn classifier(conn: &Connection) -> impl Fn(rusqlite::Error) -> CliError + '_ {
    move |e| CliError::from(sqlvault_vfs::classify_error(conn, e))
}

/// Runs `sqlvault exec`.
pub fn exec(args: ExecArgs, _ui: Ui) -> Result<(), CliError> {
    let sql = if args.sql == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else {
        args.sql
    };
    let key = database_key(&args.key)?;
    let (conn, _) = open_existing(&args.db, &key, args.read_only, args.key.limits())?;
    let format = if args.json { Format::Json } else { args.format };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    run_sql(&conn, &sql, format, &mut out, &classifier(&conn))?;
    out.flush()?;
    Ok(())
}

const SHELL_HELP: &str = "\
.help               this text
.tables             list tables
.schema [NAME]      show CREATE statements
.mode table|csv|json  output format
.quit               leave (also Ctrl-D)
Anything else is SQL, run when a line ends with ';'.";

/// Runs `sqlvault shell`.
pub fn shell(args: ShellArgs, ui: Ui) -> Result<(), CliError> {
    let key = database_key(&args.key)?;
    let (conn, _) = open_existing(&args.db, &key, args.read_only, args.key.limits())?;
    let classify = classifier(&conn);
    // History stays in memory: a history file would keep SQL — and the data in it — in
    // plaintext next to an encrypted database.
    let mut editor = DefaultEditor::new().map_err(|e| CliError::Failed(format!("line editor: {e}")))?;
    if std::io::stdin().is_terminal() {
        ui.say(format_args!(
            "sqlvault shell on {} — .help for help",
            args.db.display()
        ));
    }
    let mut format = Format::Table;
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() {
            "sqlvault> "
        } else {
            "     ...> "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                pending.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(CliError::Io(e.to_string())),
        };
        let _ = editor.add_history_entry(line.as_str());
        let trimmed = line.trim();
        if pending.is_empty() && trimmed.starts_with('.') {
            let mut words = trimmed.split_whitespace();
            let sql = match (words.next(), words.next()) {
                (Some(".quit" | ".exit"), _) => break,
                (Some(".help"), _) => {
                    println!("{SHELL_HELP}");
                    continue;
                }
                (Some(".mode"), Some(m)) => {
                    match m {
                        "table" => format = Format::Table,
                        "csv" => format = Format::Csv,
                        "json" => format = Format::Json,
                        other => eprintln!("unknown mode {other}"),
                    }
                    continue;
                }
                (Some(".tables"), _) => {
                    "SELECT name FROM sqlite_schema WHERE type IN ('table','view') AND name NOT LIKE 'sqlite_%' ORDER BY name"
                        .to_string()
                }
                (Some(".schema"), Some(name)) => {
                    format!("SELECT sql FROM sqlite_schema WHERE tbl_name = '{}' AND sql IS NOT NULL", name.replace('\'', "''"))
                }
                (Some(".schema"), None) => "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL".to_string(),
                _ => {
                    eprintln!("unknown command {trimmed}; .help lists them");
                    continue;
                }
            };
            report(run_sql(&conn, &sql, format, &mut std::io::stdout(), &classify));
            continue;
        }
        pending.push_str(&line);
        pending.push('\n');
        if trimmed.ends_with(';') {
            report(run_sql(
                &conn,
                &pending,
                format,
                &mut std::io::stdout(),
                &classify,
            ));
            pending.clear();
        }
    }
    if !pending.trim().is_empty() {
        report(run_sql(
            &conn,
            &pending,
            format,
            &mut std::io::stdout(),
            &classify,
        ));
    }
    Ok(())
}

/// In the shell an error is printed and the session goes on.
fn report(result: Result<(), CliError>) {
    if let Err(e) = result {
        eprintln!("error: {e}");
    }
}
