//! Opening sqlvault databases from the CLI, and writing new files atomically.

use std::fs;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use sqlvault_vfs::{Argon2Params, DatabaseKey, KdfLimits, Key, open_connection};

use super::error::CliError;

/// Flags for opening an existing database: no `CREATE`, so a typo never makes a new file.
pub fn existing_flags(read_only: bool) -> OpenFlags {
    let mode = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    mode | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI
}

/// Flags for creating a new database.
pub use sqlvault::import::create_flags;

/// Fails unless `bytes` is a page size SQLite accepts (a power of two, 512..=65536);
/// SQLite itself silently ignores any other value.
pub fn check_page_size(bytes: u32) -> Result<(), CliError> {
    Ok(sqlvault::import::check_page_size(bytes)?)
}

/// Fails with exit status 5 unless `path` is an existing file.
pub fn require_file(path: &Path) -> Result<(), CliError> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(CliError::Io(format!("{} is not a file", path.display()))),
        Err(e) => Err(CliError::Io(format!("{}: {e}", path.display()))),
    }
}

/// Fails unless `path` does not exist (or is an empty file).
pub fn require_absent(path: &Path) -> Result<(), CliError> {
    Ok(sqlvault::import::require_absent(path)?)
}

/// Runs the KDF for the existing database at `path`, its cost held to `limits`, and opens it.
pub fn open_existing(
    path: &Path,
    key: &Key,
    read_only: bool,
    limits: KdfLimits,
) -> Result<(Connection, DatabaseKey), CliError> {
    require_file(path)?;
    // The parameters only matter for a new file; an existing one records its own.
    let dbkey = DatabaseKey::resolve_with_limits(path, key, Argon2Params::default(), limits)?;
    let conn = open_connection(path, &dbkey, existing_flags(read_only))?;
    Ok((conn, dbkey))
}

/// A file written next to its final path and renamed over it only when complete.
pub use sqlvault_vfs::rekey::PendingFile;
