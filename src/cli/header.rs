//! Reading what a sqlvault file shows in the clear: the salt (with the KDF record) and
//! SQLite's header bytes 16..24, plus the WAL's layout. Shared by `info` and `verify`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use sqlvault_crypto::{DatabaseSalt, SALT_LEN, SQLITE_MAGIC};

use super::error::CliError;

/// Bytes of a WAL header.
pub const WAL_HEADER_LEN: u64 = 32;
/// Bytes of a WAL frame header.
pub const WAL_FRAME_HEADER_LEN: u64 = 24;

/// What kind of file the first bytes show.
pub enum Kind {
    /// A sqlvault database.
    Sqlvault {
        /// Its salt (not secret).
        salt: DatabaseSalt,
        /// Page size from header bytes 16..18.
        page_size: u32,
        /// Reserved bytes per page (header byte 20).
        reserve: u8,
        /// Header bytes 18 and 19 are 2: WAL mode.
        wal_mode: bool,
    },
    /// A sqlvault database of a format version this build no longer reads.
    OlderSqlvault {
        /// The format version its salt records.
        version: u8,
        /// Page size from header bytes 16..18.
        page_size: u32,
    },
    /// A plaintext SQLite database.
    PlaintextSqlite,
    /// Neither: SQLCipher (its header is random), something else, or too short.
    Unknown,
}

/// Reads and classifies the first 24 bytes of `path`.
pub fn read_kind(path: &Path) -> Result<Kind, CliError> {
    let mut f = File::open(path).map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?;
    let mut head = [0u8; 24];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    if n < head.len() {
        return Ok(Kind::Unknown);
    }
    let page_size = match u32::from(u16::from_be_bytes([head[16], head[17]])) {
        1 => 65536,
        s => s,
    };
    if &head[..16] == SQLITE_MAGIC {
        return Ok(Kind::PlaintextSqlite);
    }
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&head[..SALT_LEN]);
    match DatabaseSalt::parse(salt) {
        Ok(salt) if page_size.is_power_of_two() && (512..=65536).contains(&page_size) => Ok(Kind::Sqlvault {
            salt,
            page_size,
            reserve: head[20],
            wal_mode: head[18] == 2 && head[19] == 2,
        }),
        Err(sqlvault_crypto::Error::UnsupportedFormatVersion(version)) => {
            Ok(Kind::OlderSqlvault { version, page_size })
        }
        _ => Ok(Kind::Unknown),
    }
}

/// The `-wal` file next to `db`.
pub fn wal_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

/// Length of the file at `path`, `None` if it does not exist.
pub fn file_len(path: &Path) -> Result<Option<u64>, CliError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::Io(format!("{}: {e}", path.display()))),
    }
}

/// Temporary files that an interrupted `import`, `export` or `rekey` left next to `db`
/// (`.NAME.*.sqlvault-tmp`): never the database itself, safe to delete.
pub fn leftovers(db: &Path) -> Vec<PathBuf> {
    let Some(name) = db.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = format!(".{name}.");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix) && n.ends_with(".sqlvault-tmp"))
        .map(|n| dir.join(n))
        .collect();
    found.sort();
    found
}
