//! `sqlvault import`: plaintext SQLite or SQLCipher 2/3/4 into a new sqlvault database.
//!
//! The source becomes a plaintext image in memory only (zeroized when dropped): SQLCipher
//! files through the native reader in `sqlvault::sqlcipher`, plaintext files through
//! `sqlite3_serialize` (which includes what is still in their WAL). The image is
//! deserialized into an in-memory schema on a connection whose main database is the new
//! encrypted file, and copied logically ([`super::copy`]). The new file is written under a
//! temporary name and renamed into place only once complete and checked.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use rusqlite::{Connection, MAIN_DB, OpenFlags};
use sqlvault::sqlcipher::{SqlcipherKey, SqlcipherParams, SqlcipherReader, SqlcipherSource};
use sqlvault_vfs::{DatabaseKey, open_connection};
use zeroize::Zeroizing;

use super::Ui;
use super::copy::{copy_all, load_image};
use super::db::{PendingFile, check_page_size, create_flags, require_absent, require_file};
use super::error::CliError;
use super::header::{Kind, read_kind};
use super::keys::{ENV_KEY, ENV_SOURCE_KEY, KdfOpts, KeyOpts, KeySource};

/// Arguments of `sqlvault import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The database to import: plaintext SQLite, or SQLCipher 2, 3 or 4 (detected).
    pub source: PathBuf,
    /// The new sqlvault database (must not exist).
    pub db: PathBuf,
    /// File holding the SQLCipher passphrase or x'<hex>' raw key (else $SQLVAULT_SOURCE_KEY,
    /// else a prompt). Not needed for a plaintext source.
    #[arg(long, value_name = "PATH")]
    pub source_key_file: Option<PathBuf>,
    /// SQLCipher: PBKDF2 iterations, if not the version's default.
    #[arg(long, value_name = "N")]
    pub kdf_iter: Option<u32>,
    /// SQLCipher: the source's page size (others are still tried after it).
    #[arg(long, value_name = "BYTES")]
    pub page_size: Option<u32>,
    /// SQLCipher: only try this major version's defaults (2, 3 or 4).
    #[arg(long, value_name = "VERSION")]
    pub legacy: Option<u8>,
    #[command(flatten)]
    pub key: KeyOpts,
    #[command(flatten)]
    pub kdf: KdfOpts,
    /// Page size of the new database.
    #[arg(long, default_value_t = 4096, value_name = "BYTES")]
    pub target_page_size: u32,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `sqlvault import`.
pub fn run(args: ImportArgs, ui: Ui) -> Result<(), CliError> {
    require_file(&args.source)?;
    require_absent(&args.db)?;
    check_page_size(args.target_page_size)?;
    let params = args.kdf.params()?;
    if let Kind::Sqlvault { .. } = read_kind(&args.source)? {
        return Err(CliError::Failed(format!(
            "{} is already a sqlvault database (use `sqlvault rekey` to change its key)",
            args.source.display()
        )));
    }
    let (image, kind) = if is_plaintext_sqlite(&args.source)? {
        (plaintext_image(&args.source)?, "plaintext SQLite".to_string())
    } else {
        sqlcipher_image(&args, ui)?
    };
    ui.say(format_args!("source: {kind}"));

    let key = KeySource {
        file: args.key.key_file.as_deref(),
        env: ENV_KEY,
        prompt: "key for the new database",
        confirm: true,
    }
    .sqlvault_key()?;
    let pending = PendingFile::new(&args.db)?;
    let report = {
        let dbkey = DatabaseKey::resolve_with_limits(pending.path(), &key, params, args.key.limits())?;
        let mut conn = open_connection(pending.path(), &dbkey, create_flags())?;
        conn.pragma_update(Some("main"), "page_size", args.target_page_size)?;
        load_image(&mut conn, &image)?;
        drop(image);
        let bar = ui.progress("copy", 0);
        let classify = |e| CliError::from(sqlvault_vfs::classify_error(&conn, e));
        let report = copy_all(&conn, &bar, &classify)?;
        bar.finish_and_clear();
        conn.execute_batch("DETACH DATABASE src")?;
        let check: String = conn
            .query_row("PRAGMA main.integrity_check", [], |r| r.get(0))
            .map_err(classify)?;
        if check != "ok" {
            return Err(CliError::Corrupt(format!(
                "integrity_check of the new database: {check}"
            )));
        }
        report
    };
    pending.commit()?;

    let rows: i64 = report.tables.iter().map(|(_, n)| n).sum();
    if args.json {
        let tables: serde_json::Map<String, serde_json::Value> = report
            .tables
            .iter()
            .map(|(t, n)| (t.clone(), (*n).into()))
            .collect();
        let v = serde_json::json!({
            "source": kind,
            "tables": tables,
            "other_objects": report.other_objects,
            "user_version": report.user_version,
            "application_id": report.application_id,
        });
        println!("{v}");
    }
    ui.say(format_args!(
        "imported {} tables ({rows} rows, row counts verified) and {} indexes/views/triggers into {}",
        report.tables.len(),
        report.other_objects,
        args.db.display()
    ));
    Ok(())
}

fn is_plaintext_sqlite(path: &Path) -> Result<bool, CliError> {
    let mut head = [0u8; 16];
    let mut f = File::open(path).map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n == 16 && &head == b"SQLite format 3\0")
}

/// The plaintext image of a stock SQLite database, WAL content included.
fn plaintext_image(path: &Path) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let data = conn.serialize(MAIN_DB)?;
    Ok(Zeroizing::new(data.to_vec()))
}

fn sqlcipher_image(args: &ImportArgs, ui: Ui) -> Result<(Zeroizing<Vec<u8>>, String), CliError> {
    let text = KeySource {
        file: args.source_key_file.as_deref(),
        env: ENV_SOURCE_KEY,
        prompt: "SQLCipher key of the source",
        confirm: false,
    }
    .read()?;
    let key = SqlcipherKey::parse(&text);
    let bases = match args.legacy {
        Some(v) => vec![SqlcipherParams::legacy(v)?],
        None => vec![
            SqlcipherParams::v4(),
            SqlcipherParams::v3(),
            SqlcipherParams::v2(),
        ],
    };
    let candidates: Vec<SqlcipherParams> = bases
        .into_iter()
        .map(|p| {
            let p = match args.kdf_iter {
                Some(n) => p.with_kdf_iter(n),
                None => p,
            };
            match args.page_size {
                Some(s) => p.with_page_size(s),
                None => p,
            }
        })
        .collect();
    ui.say("deriving the SQLCipher key (PBKDF2, trying each version's settings)…");
    let source = SqlcipherSource::open_path(&args.source)?;
    let reader = SqlcipherReader::detect_with(source, &key, &candidates)
        .map_err(|e| CliError::from(e).context(&args.source.display().to_string()))?;
    let version = reader.compatibility().map_or_else(
        || "SQLCipher (custom settings)".to_string(),
        |v| format!("SQLCipher {v}"),
    );
    let kind = format!("{version}, page size {}", reader.page_size());
    let bar = ui.progress("decrypt", u64::from(reader.page_count()));
    let image = reader
        .decrypt_image_with_progress(|done, _| bar.set_position(u64::from(done)))
        .map_err(CliError::from)?;
    bar.finish_and_clear();
    Ok((image, kind))
}
