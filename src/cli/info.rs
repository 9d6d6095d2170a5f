//! `sqlvault info`: what can be known about a database without its key.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use sqlvault_crypto::KdfKind;

use super::Ui;
use super::db::require_file;
use super::error::CliError;
use super::header::{Kind, WAL_FRAME_HEADER_LEN, WAL_HEADER_LEN, file_len, leftovers, read_kind, wal_path};

/// Arguments of `sqlvault info`.
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The database file (no key needed).
    pub db: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `sqlvault info`.
pub fn run(args: InfoArgs, _ui: Ui) -> Result<(), CliError> {
    require_file(&args.db)?;
    let len = file_len(&args.db)?.unwrap_or(0);
    let Kind::Sqlvault {
        salt,
        page_size,
        reserve,
        wal_mode,
    } = read_kind(&args.db)?
    else {
        return Err(match read_kind(&args.db)? {
            Kind::OlderSqlvault { version, page_size } => {
                if args.json {
                    println!(
                        "{}",
                        json!({
                            "format": "sqlvault",
                            "format_version": version,
                            "supported": false,
                            "page_size": page_size,
                            "file_bytes": len,
                        })
                    );
                } else {
                    println!(
                        "format:          sqlvault, format version {version} (not supported: this version reads format {})",
                        sqlvault_crypto::FORMAT_VERSION
                    );
                    println!("page size:       {page_size} bytes");
                }
                return Err(CliError::WrongKey(format!(
                    "{} is a sqlvault database of format version {version}, which this version of sqlvault does not read",
                    args.db.display()
                )));
            }
            Kind::PlaintextSqlite => CliError::WrongKey(format!(
                "{} is a plaintext SQLite database, not a sqlvault one (see `sqlvault import`)",
                args.db.display()
            )),
            _ => CliError::WrongKey(format!(
                "{} is not a sqlvault database (a SQLCipher file looks like this too: see `sqlvault import`)",
                args.db.display()
            )),
        });
    };
    let kdf = match salt.kdf()? {
        KdfKind::RawKey => json!({ "kind": "raw key" }),
        KdfKind::Argon2id(p) => json!({
            "kind": "Argon2id",
            "memory_kib": p.memory_kib,
            "iterations": p.iterations,
            "parallelism": p.parallelism,
        }),
    };
    let wal_len = file_len(&wal_path(&args.db))?;
    let frame_len = u64::from(page_size) + WAL_FRAME_HEADER_LEN;
    let wal = wal_len.map(|l| {
        json!({
            "bytes": l,
            "frames": l.saturating_sub(WAL_HEADER_LEN) / frame_len,
        })
    });
    let v = json!({
        "format": "sqlvault",
        "format_version": salt.as_bytes()[12],
        "supported": true,
        "page_size": page_size,
        "reserved_bytes_per_page": reserve,
        "file_bytes": len,
        "pages_in_file": len / u64::from(page_size),
        "journal_mode": if wal_mode { "wal" } else { "rollback" },
        "kdf": kdf,
        "wal": wal,
        "leftover_temp_files": leftovers(&args.db).iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    });
    if args.json {
        println!("{v}");
        return Ok(());
    }
    println!(
        "format:          sqlvault, format version {}",
        salt.as_bytes()[12]
    );
    println!("page size:       {page_size} bytes ({reserve} reserved per page for the trailer)");
    println!("pages in file:   {} ({len} bytes)", len / u64::from(page_size));
    println!(
        "journal mode:    {}",
        if wal_mode { "WAL" } else { "rollback journal" }
    );
    match salt.kdf()? {
        KdfKind::RawKey => println!("key derivation:  none (raw 256-bit key)"),
        KdfKind::Argon2id(p) => println!(
            "key derivation:  Argon2id, {} KiB memory, {} iterations, {} lanes",
            p.memory_kib, p.iterations, p.parallelism
        ),
    }
    match wal_len {
        None => println!("WAL:             none"),
        Some(l) => println!(
            "WAL:             {l} bytes, {} frames (committed or not)",
            l.saturating_sub(WAL_HEADER_LEN) / frame_len
        ),
    }
    for p in leftovers(&args.db) {
        println!(
            "leftover:        {} (from an interrupted import/export/rekey; safe to delete)",
            p.display()
        );
    }
    Ok(())
}
