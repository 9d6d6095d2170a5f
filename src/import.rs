//! Importing a plaintext SQLite or a SQLCipher 2/3/4 database into a new sqlvault database:
//! what `sqlvault import` does, as a library (the Python package's `import_sqlcipher` and
//! `import_sqlite` call it too).
//!
//! Two steps, so that a caller can ask for the new key only once the source has opened:
//!
//! 1. [`SourceImage::plaintext`] or [`SourceImage::sqlcipher`] turns the source into a
//!    plaintext image in memory only (zeroized when dropped): SQLCipher files through the
//!    native reader in [`crate::sqlcipher`], plaintext files through `sqlite3_serialize`
//!    (which includes what is still in their WAL).
//! 2. [`SourceImage::write_to`] deserializes the image into an in-memory schema on a
//!    connection whose main database is the new encrypted file, copies it logically
//!    ([`crate::copy`]), runs `PRAGMA integrity_check`, and renames the new file into place
//!    only once it is complete and checked.
//!
//! ```no_run
//! use sqlvault::import::{Destination, SourceImage};
//! use sqlvault::sqlcipher::{SqlcipherKey, SqlcipherParams};
//! use sqlvault::{Key, Passphrase};
//! # fn main() -> Result<(), sqlvault::import::ImportError> {
//! let image = SourceImage::sqlcipher("old.db".as_ref(), &SqlcipherKey::parse("old secret"),
//!     &SqlcipherParams::all_versions(), &mut |_| {})?;
//! let key = Key::Passphrase(Passphrase::from("new secret"));
//! let report = image.write_to(&Destination::new("new.db", &key), &mut |p| eprintln!("{p:?}"))?;
//! println!("{} tables", report.tables.len());
//! # Ok(()) }
//! ```

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use rusqlite::{Connection, MAIN_DB, OpenFlags};
use sqlvault_crypto::{Argon2Params, DatabaseSalt, KdfLimits, Key, SALT_LEN, SQLITE_MAGIC};
use sqlvault_vfs::rekey::PendingFile;
use sqlvault_vfs::{DatabaseKey, open_connection};
use zeroize::Zeroizing;

use crate::copy::{CopyReport, copy_all, load_image};
use crate::sqlcipher::{self, SqlcipherKey, SqlcipherParams, SqlcipherReader, SqlcipherSource};

/// Why an import failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ImportError {
    /// The operation could not be done (the source is already a sqlvault database, the
    /// target exists, a virtual table, a bad page size…); the text says why.
    Failed(String),
    /// The copy does not match its source (a row count, `integrity_check`).
    Corrupt(String),
    /// Creating or writing the new sqlvault database failed (SQLite's errors are inside).
    Vfs(sqlvault_vfs::Error),
    /// Reading the SQLCipher source failed: a wrong key, a tampered page…
    Sqlcipher(sqlcipher::Error),
    /// An I/O error on the source or the target.
    Io(std::io::Error),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Failed(m) | ImportError::Corrupt(m) => f.write_str(m),
            ImportError::Vfs(e) => write!(f, "{e}"),
            ImportError::Sqlcipher(e) => write!(f, "{e}"),
            ImportError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ImportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ImportError::Vfs(e) => Some(e),
            ImportError::Sqlcipher(e) => Some(e),
            ImportError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for ImportError {
    fn from(e: rusqlite::Error) -> Self {
        ImportError::Vfs(sqlvault_vfs::Error::Sqlite(e))
    }
}

impl From<sqlvault_vfs::Error> for ImportError {
    fn from(e: sqlvault_vfs::Error) -> Self {
        ImportError::Vfs(e)
    }
}

impl From<sqlcipher::Error> for ImportError {
    fn from(e: sqlcipher::Error) -> Self {
        ImportError::Sqlcipher(e)
    }
}

impl From<std::io::Error> for ImportError {
    fn from(e: std::io::Error) -> Self {
        ImportError::Io(e)
    }
}

/// Which step a [`Progress`] report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Decrypting the SQLCipher source, page by page (`done`/`total` are pages).
    Decrypt,
    /// Copying the tables into the new database (`done`/`total` are tables).
    Copy,
}

/// A progress report: `done` of `total` units of `stage`, and what is being done (the table
/// just copied).
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// The step.
    pub stage: Stage,
    /// Units done so far.
    pub done: u64,
    /// Units in all.
    pub total: u64,
    /// The item just finished, if the step has named items (a table).
    pub item: Option<&'a str>,
}

/// What the first bytes of a source file show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceKind {
    /// A plaintext SQLite database.
    PlaintextSqlite,
    /// Already a sqlvault database (rekey it instead of importing it).
    Sqlvault,
    /// Anything else: a SQLCipher database (its header is random), or not a database.
    Other,
}

impl SourceKind {
    /// Classifies `path` by its first 24 bytes.
    ///
    /// # Errors
    /// [`ImportError::Io`] if the file cannot be read.
    pub fn detect(path: &Path) -> Result<SourceKind, ImportError> {
        let mut f = File::open(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let mut head = [0u8; 24];
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..])? {
                0 => break,
                k => n += k,
            }
        }
        if n >= 16 && &head[..16] == SQLITE_MAGIC {
            return Ok(SourceKind::PlaintextSqlite);
        }
        if n < head.len() {
            return Ok(SourceKind::Other);
        }
        let page_size = match u32::from(u16::from_be_bytes([head[16], head[17]])) {
            1 => 65536,
            s => s,
        };
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&head[..SALT_LEN]);
        let valid_page = page_size.is_power_of_two() && (512..=65536).contains(&page_size);
        match DatabaseSalt::parse(salt) {
            Ok(_) if valid_page => Ok(SourceKind::Sqlvault),
            Err(sqlvault_crypto::Error::UnsupportedFormatVersion(_)) => Ok(SourceKind::Sqlvault),
            _ => Ok(SourceKind::Other),
        }
    }
}

/// Where and how to write the new database.
pub struct Destination<'a> {
    /// The new database's path (must not exist, or be empty).
    pub path: &'a Path,
    /// Its key.
    pub key: &'a Key,
    /// Argon2id parameters if `key` is a passphrase.
    pub argon2: Argon2Params,
    /// Limits on the KDF cost (only checked when opening an existing file).
    pub limits: KdfLimits,
    /// Its page size (a power of two, 512..=65536).
    pub page_size: u32,
}

impl<'a> Destination<'a> {
    /// `path` under `key`, with the default Argon2id parameters and 4 KiB pages.
    pub fn new(path: &'a (impl AsRef<Path> + ?Sized), key: &'a Key) -> Destination<'a> {
        Destination {
            path: path.as_ref(),
            key,
            argon2: Argon2Params::default(),
            limits: KdfLimits::default(),
            page_size: 4096,
        }
    }
}

/// What an import did.
#[derive(Debug)]
pub struct ImportReport {
    /// Tables copied, with their row counts (checked equal in source and target).
    pub tables: Vec<(String, i64)>,
    /// Indexes, views and triggers created.
    pub other_objects: usize,
    /// `PRAGMA user_version` carried over.
    pub user_version: i64,
    /// `PRAGMA application_id` carried over.
    pub application_id: i64,
}

/// A source database as a plaintext image in memory (zeroized on drop), and what it was.
pub struct SourceImage {
    image: Zeroizing<Vec<u8>>,
    description: String,
}

impl fmt::Debug for SourceImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceImage")
            .field("description", &self.description)
            .field("bytes", &self.image.len())
            .finish_non_exhaustive()
    }
}

/// Fails unless `bytes` is a page size SQLite accepts (SQLite ignores any other silently).
///
/// # Errors
/// [`ImportError::Failed`] naming the value.
pub fn check_page_size(bytes: u32) -> Result<(), ImportError> {
    if (512..=65536).contains(&bytes) && bytes.is_power_of_two() {
        Ok(())
    } else {
        Err(ImportError::Failed(format!(
            "page size {bytes}: must be a power of two from 512 to 65536"
        )))
    }
}

impl SourceImage {
    /// Reads a plaintext SQLite database, WAL content included.
    ///
    /// # Errors
    /// [`ImportError::Failed`] if `path` is not a plaintext SQLite database; SQLite's error
    /// reading it.
    pub fn plaintext(path: &Path) -> Result<SourceImage, ImportError> {
        if SourceKind::detect(path)? != SourceKind::PlaintextSqlite {
            return Err(ImportError::Failed(format!(
                "{} is not a plaintext SQLite database",
                path.display()
            )));
        }
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let data = conn.serialize(MAIN_DB)?;
        Ok(SourceImage {
            image: Zeroizing::new(data.to_vec()),
            description: "plaintext SQLite".to_owned(),
        })
    }

    /// Decrypts a SQLCipher database, trying each of `candidates` (for example
    /// [`SqlcipherParams::all_versions`]); `progress` hears of the pages decrypted.
    ///
    /// # Errors
    /// [`ImportError::Sqlcipher`]: a wrong key (or not a SQLCipher file), a tampered page…;
    /// [`ImportError::Failed`] if the source is plaintext or already a sqlvault database.
    pub fn sqlcipher(
        path: &Path,
        key: &SqlcipherKey,
        candidates: &[SqlcipherParams],
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<SourceImage, ImportError> {
        match SourceKind::detect(path)? {
            SourceKind::PlaintextSqlite => {
                return Err(ImportError::Failed(format!(
                    "{} is a plaintext SQLite database, not a SQLCipher one",
                    path.display()
                )));
            }
            SourceKind::Sqlvault => return Err(already_sqlvault(path)),
            SourceKind::Other => {}
        }
        let source = SqlcipherSource::open_path(path)?;
        let reader = SqlcipherReader::detect_with(source, key, candidates)?;
        let version = reader.compatibility().map_or_else(
            || "SQLCipher (custom settings)".to_string(),
            |v| format!("SQLCipher {v}"),
        );
        let description = format!("{version}, page size {}", reader.page_size());
        let total = u64::from(reader.page_count());
        let image = reader.decrypt_image_with_progress(|done, _| {
            progress(Progress {
                stage: Stage::Decrypt,
                done: u64::from(done),
                total,
                item: None,
            });
        })?;
        Ok(SourceImage { image, description })
    }

    /// What the source was (`"plaintext SQLite"`, `"SQLCipher 4, page size 4096"`…).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Writes the image as a new sqlvault database at `dest` (see the module docs); the
    /// image is wiped as soon as it is loaded. `progress` hears of the tables copied.
    ///
    /// # Errors
    /// [`ImportError::Failed`] if `dest.path` exists or the page size is invalid;
    /// [`ImportError::Corrupt`] if the copy does not check; SQLite's and the vfs's errors.
    pub fn write_to(
        self,
        dest: &Destination<'_>,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<ImportReport, ImportError> {
        check_page_size(dest.page_size)?;
        require_absent(dest.path)?;
        let pending = PendingFile::new(dest.path)?;
        let report = {
            let dbkey = DatabaseKey::resolve_with_limits(pending.path(), dest.key, dest.argon2, dest.limits)?;
            let mut conn = open_connection(pending.path(), &dbkey, create_flags())?;
            conn.pragma_update(Some("main"), "page_size", dest.page_size)?;
            load_image(&mut conn, &self.image)?;
            drop(self);
            let classify = |e| ImportError::Vfs(sqlvault_vfs::classify_error(&conn, e));
            let report = copy_all(&conn, progress, &classify)?;
            conn.execute_batch("DETACH DATABASE src")?;
            let check: String = conn
                .query_row("PRAGMA main.integrity_check", [], |r| r.get(0))
                .map_err(classify)?;
            if check != "ok" {
                return Err(ImportError::Corrupt(format!(
                    "integrity_check of the new database: {check}"
                )));
            }
            report
        };
        pending.commit()?;
        let CopyReport {
            tables,
            other_objects,
            user_version,
            application_id,
        } = report;
        Ok(ImportReport {
            tables,
            other_objects,
            user_version,
            application_id,
        })
    }
}

fn already_sqlvault(path: &Path) -> ImportError {
    ImportError::Failed(format!(
        "{} is already a sqlvault database (use `sqlvault rekey` to change its key)",
        path.display()
    ))
}

/// Fails unless `path` does not exist (or is an empty file).
///
/// # Errors
/// [`ImportError::Failed`] if it exists and is not empty.
pub fn require_absent(path: &Path) -> Result<(), ImportError> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > 0 => Err(ImportError::Failed(format!(
            "{} already exists; refusing to overwrite it",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Flags for creating a new database.
pub fn create_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI
}
