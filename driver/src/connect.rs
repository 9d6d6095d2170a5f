//! The one place the driver touches the vfs: deriving the key, opening and configuring
//! connections through the sqlvault VFS, and naming errors.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use sqlvault_crypto::{Argon2Params, KdfLimits, Key};
use sqlvault_vfs::DatabaseKey;

use crate::{Error, Options, Result};

/// Derives the database's master key (Argon2id for a passphrase: slow, so callers run this on a
/// connection thread, never on an async worker), with the cost held to `limits`.
pub(crate) fn resolve_key(
    path: &Path,
    key: &Key,
    params: Argon2Params,
    limits: KdfLimits,
) -> Result<DatabaseKey> {
    Ok(DatabaseKey::resolve_with_limits(path, key, params, limits)?)
}

/// Opens the writer: creates the database if allowed, sets the page size of a new database,
/// WAL mode, and the per-connection settings.
pub(crate) fn open_writer(path: &Path, key: &DatabaseKey, options: &Options) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if options.create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = open(path, key, flags)?;
    let configure = || -> rusqlite::Result<()> {
        conn.busy_timeout(options.busy_timeout)?;
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        if pages == 0 {
            conn.pragma_update(None, "page_size", options.page_size)?;
        }
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::InvalidQuery);
        }
        conn.pragma_update(None, "synchronous", options.synchronous.pragma_value())?;
        common(&conn, options)
    };
    configure().map_err(|e| classify_error(&conn, e))?;
    Ok(conn)
}

/// Opens a read-only reader on a database the writer has already opened.
pub(crate) fn open_reader(path: &Path, key: &DatabaseKey, options: &Options) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = open(path, key, flags)?;
    let configure = || -> rusqlite::Result<()> {
        conn.busy_timeout(options.busy_timeout)?;
        common(&conn, options)
    };
    configure().map_err(|e| classify_error(&conn, e))?;
    Ok(conn)
}

fn common(conn: &Connection, options: &Options) -> rusqlite::Result<()> {
    conn.pragma_update(None, "cache_size", -i64::from(options.cache_size_kib))?;
    conn.set_prepared_statement_cache_capacity(options.statement_cache);
    Ok(())
}

/// Opens a connection through the VFS; it fails here (not at the first query) for a wrong key
/// or a file that is not a sqlvault database.
fn open(path: &Path, key: &DatabaseKey, flags: OpenFlags) -> Result<Connection> {
    Ok(sqlvault_vfs::open_connection(path, key, flags)?)
}

/// Names an error from a statement on one of the pool's connections (wrong key, tampered page…).
pub(crate) fn classify_error(conn: &Connection, err: rusqlite::Error) -> Error {
    Error::from(sqlvault_vfs::classify_error(conn, err))
}
