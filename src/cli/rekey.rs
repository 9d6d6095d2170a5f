//! `sqlvault rekey`: re-encrypt a database under a new key, crash-safely.
//!
//! 1. The source is opened with the old key; a WAL is checkpointed and the source is put in
//!    rollback-journal mode (same content, no `-wal` file left to pair with the wrong
//!    database later), and an exclusive locking mode keeps other writers out.
//! 2. The pages are copied with SQLite's backup API into a new file in the same
//!    directory, encrypted under the new key (fresh salt), WAL mode restored if it was on.
//! 3. The copy is checked (`integrity_check`), flushed to disk, renamed over the original
//!    (atomic on POSIX), and the directory is flushed.
//!
//! A crash before step 3's rename leaves the original untouched (plus a stray
//! `.NAME.*.sqlvault-tmp` file); after it, the new database. Never a mix.

use std::path::PathBuf;

use clap::Args;
use rusqlite::backup::{Backup, StepResult};
use sqlvault_vfs::{DatabaseKey, open_connection};

use super::Ui;
use super::db::{PendingFile, crash_after_pages, create_flags, open_existing};
use super::error::CliError;
use super::keys::{ENV_NEW_KEY, KdfOpts, KeyOpts, KeySource, database_key};

/// Arguments of `sqlvault rekey`.
#[derive(Args, Debug)]
pub struct RekeyArgs {
    /// The encrypted database (no other process may use it during the rekey).
    pub db: PathBuf,
    #[command(flatten)]
    pub key: KeyOpts,
    /// File holding the new key (else $SQLVAULT_NEW_KEY, else a prompt).
    #[arg(long, value_name = "PATH")]
    pub new_key_file: Option<PathBuf>,
    #[command(flatten)]
    pub kdf: KdfOpts,
}

/// Pages copied per backup step.
const PAGES_PER_STEP: i32 = 8;

/// Runs `sqlvault rekey`.
pub fn run(args: RekeyArgs, ui: Ui) -> Result<(), CliError> {
    let params = args.kdf.params()?;
    let old_key = database_key(&args.key)?;
    let new_key = KeySource {
        file: args.new_key_file.as_deref(),
        env: ENV_NEW_KEY,
        prompt: "new key",
        confirm: true,
    }
    .sqlvault_key()?;

    let (src, _) = open_existing(&args.db, &old_key, false, args.key.limits())?;
    let classify_src = |e| CliError::from(sqlvault_vfs::classify_error(&src, e));
    let mode: String = src
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .map_err(classify_src)?;
    let was_wal = mode.eq_ignore_ascii_case("wal");
    if was_wal {
        src.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .map_err(classify_src)?;
        let now: String = src
            .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
            .map_err(classify_src)?;
        if !now.eq_ignore_ascii_case("delete") {
            return Err(CliError::Failed(
                "could not leave WAL mode (is another process using the database?)".into(),
            ));
        }
    }
    // Exclusive locking mode: the shared lock taken by this read is kept until the
    // connection closes, so nobody commits to the old file while it is copied.
    let _: String = src
        .query_row("PRAGMA locking_mode = EXCLUSIVE", [], |r| r.get(0))
        .map_err(classify_src)?;
    src.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(classify_src)?;

    let pending = PendingFile::new(&args.db)?;
    {
        let dbkey = DatabaseKey::resolve_with_limits(pending.path(), &new_key, params, args.key.limits())?;
        let mut dst = open_connection(pending.path(), &dbkey, create_flags())?;
        {
            let backup = Backup::new(&src, &mut dst)?;
            let bar = ui.progress("rekey", 0);
            loop {
                let step = backup.step(PAGES_PER_STEP).map_err(classify_src)?;
                let p = backup.progress();
                let total = u64::try_from(p.pagecount).unwrap_or(0);
                let done = total.saturating_sub(u64::try_from(p.remaining).unwrap_or(0));
                bar.set_length(total);
                bar.set_position(done);
                crash_after_pages(done);
                match step {
                    StepResult::Done => break,
                    StepResult::More => {}
                    _ => {
                        return Err(CliError::Failed(
                            "the database is locked by another connection".into(),
                        ));
                    }
                }
            }
            bar.finish_and_clear();
        }
        let classify_dst = |e| CliError::from(sqlvault_vfs::classify_error(&dst, e));
        if was_wal {
            let _: String = dst
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(classify_dst)?;
        }
        let check: String = dst
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(classify_dst)?;
        if check != "ok" {
            return Err(CliError::Corrupt(format!(
                "the re-encrypted copy fails integrity_check: {check}"
            )));
        }
        dst.close().map_err(|(_, e)| CliError::from(e))?;
    }
    // Fsync, atomic rename over the original, fsync of the directory.
    pending.commit()?;
    drop(src);
    ui.say(format_args!("rekeyed {}", args.db.display()));
    Ok(())
}
