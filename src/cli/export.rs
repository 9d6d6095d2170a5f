//! `sqlvault export`: a plaintext SQLite copy of an encrypted database — only when asked
//! for in so many words.

use std::path::PathBuf;

use clap::Args;
use rusqlite::{Connection, MAIN_DB};
use zeroize::Zeroizing;

use super::Ui;
use super::db::{PendingFile, check_page_size, create_flags, open_existing, require_absent};
use super::error::CliError;
use super::keys::{KeyOpts, database_key};
use sqlvault::copy::{copy_all, load_image};
use sqlvault::import::ImportError;

/// Arguments of `sqlvault export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The encrypted database.
    pub db: PathBuf,
    /// The plaintext SQLite file to write (must not exist).
    pub out: PathBuf,
    #[command(flatten)]
    pub key: KeyOpts,
    /// Required: confirms that OUT will hold the data unencrypted.
    #[arg(long)]
    pub i_know_this_writes_plaintext: bool,
    /// Page size of the plaintext copy.
    #[arg(long, default_value_t = 4096, value_name = "BYTES")]
    pub page_size: u32,
}

/// Runs `sqlvault export`.
pub fn run(args: ExportArgs, ui: Ui) -> Result<(), CliError> {
    if !args.i_know_this_writes_plaintext {
        return Err(CliError::Failed(
            "export writes the data UNENCRYPTED; add --i-know-this-writes-plaintext if that is what you want"
                .into(),
        ));
    }
    require_absent(&args.out)?;
    check_page_size(args.page_size)?;
    let key = database_key(&args.key)?;
    let (mut src, _) = open_existing(&args.db, &key, true, args.key.limits())?;
    let image = {
        let data = match src.serialize(MAIN_DB) {
            Ok(data) => Ok(Zeroizing::new(data.to_vec())),
            Err(e) => Err(e),
        };
        data.map_err(|e| CliError::from(sqlvault_vfs::classify_error(&src, e)))?
    };
    drop(src);

    let pending = PendingFile::new(&args.out)?;
    let report = {
        let mut conn = Connection::open_with_flags(pending.path(), create_flags())?;
        conn.pragma_update(Some("main"), "page_size", args.page_size)?;
        load_image(&mut conn, &image)?;
        drop(image);
        let bar = ui.progress("export", 0);
        let classify = |e| ImportError::from(e);
        let report = copy_all(
            &conn,
            &mut |p| {
                bar.set_length(p.total);
                bar.set_position(p.done);
                if let Some(item) = p.item {
                    bar.set_message(item.to_owned());
                }
            },
            &classify,
        )?;
        bar.finish_and_clear();
        conn.execute_batch("DETACH DATABASE src")?;
        report
    };
    pending.commit()?;
    ui.say(format_args!(
        "exported {} tables to {} — this file is NOT encrypted",
        report.tables.len(),
        args.out.display()
    ));
    Ok(())
}
