//! `sqlvault create`: a new, empty encrypted database.

use std::path::PathBuf;

use clap::Args;
use sqlvault_vfs::{DatabaseKey, open_connection};

use super::Ui;
use super::db::{check_page_size, create_flags, require_absent};
use super::error::CliError;
use super::keys::{ENV_KEY, KdfOpts, KeyOpts, KeySource};

/// Arguments of `sqlvault create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The database file to create (must not exist).
    pub db: PathBuf,
    #[command(flatten)]
    pub key: KeyOpts,
    #[command(flatten)]
    pub kdf: KdfOpts,
    /// Page size in bytes (a power of two from 512 to 65536).
    #[arg(long, default_value_t = 4096)]
    pub page_size: u32,
    /// Put the database in WAL mode (what the async driver uses).
    #[arg(long)]
    pub wal: bool,
}

/// Runs `sqlvault create`.
pub fn run(args: CreateArgs, ui: Ui) -> Result<(), CliError> {
    require_absent(&args.db)?;
    check_page_size(args.page_size)?;
    let params = args.kdf.params()?;
    let key = KeySource {
        file: args.key.key_file.as_deref(),
        env: ENV_KEY,
        prompt: "new key",
        confirm: true,
    }
    .sqlvault_key()?;
    let dbkey = DatabaseKey::resolve_with_limits(&args.db, &key, params, args.key.limits())?;
    let conn = open_connection(&args.db, &dbkey, create_flags())?;
    conn.pragma_update(None, "page_size", args.page_size)?;
    // Writing the schema once makes SQLite write page 1 (salt, header, reserve).
    conn.execute_batch("CREATE TABLE sqlvault_create_tmp(x); DROP TABLE sqlvault_create_tmp;")?;
    if args.wal {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(CliError::Failed(format!(
                "could not switch to WAL (journal_mode is {mode})"
            )));
        }
    }
    let actual: u32 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    if actual != args.page_size {
        return Err(CliError::Failed(format!(
            "SQLite kept page size {actual}, not {}",
            args.page_size
        )));
    }
    drop(conn);
    ui.say(format_args!("created {}", args.db.display()));
    Ok(())
}
