//! `sqlvault rekey`: re-encrypt a database under a new key, crash-safely.
//!
//! 1. The source is opened with the old key; a WAL is checkpointed and the source is put in
//!    rollback-journal mode (same content, no `-wal` file left to pair with the wrong
//!    database later), and an exclusive locking mode keeps other writers out.
//! 2. [`sqlvault_vfs::rekey::reencrypt_copy`] copies the pages into a new file in the same
//!    directory, encrypted under the new key (fresh salt), WAL mode restored if it was on,
//!    and checks the copy (`integrity_check`).
//! 3. The copy is flushed to disk, renamed over the original (atomic on POSIX), and the
//!    directory is flushed.
//!
//! A crash before step 3's rename leaves the original untouched (plus a stray
//! `.NAME.*.sqlvault-tmp` file); after it, the new database. Never a mix.

use std::path::PathBuf;

use clap::Args;

use super::Ui;
use super::db::open_existing;
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

    let bar = ui.progress("rekey", 0);
    let copy = sqlvault_vfs::rekey::reencrypt_copy(
        &src,
        &args.db,
        &new_key,
        params,
        args.key.limits(),
        was_wal.then_some("WAL"),
        &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )?;
    bar.finish_and_clear();
    // Fsync, atomic rename over the original, fsync of the directory.
    copy.commit()?;
    drop(src);
    ui.say(format_args!("rekeyed {}", args.db.display()));
    Ok(())
}
