//! The one place the driver touches the vfs: deriving the key, opening and configuring
//! connections, and naming errors.
//!
//! TEMPORARY until sqlvault_vfs::open_connection lands: this file opens plain (UNENCRYPTED)
//! SQLite connections with `rusqlite::Connection::open_with_flags` and ignores the key, so the
//! pool can be built and tested. Nothing else in the driver changes when the real seam arrives.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use sqlvault_crypto::{Argon2Params, Key};

use crate::{Error, Options, Result};

/// TEMPORARY until sqlvault_vfs::open_connection lands: stands in for `sqlvault_vfs::DatabaseKey`.
#[derive(Clone)]
pub(crate) struct DatabaseKey(());

/// Derives the database's master key (Argon2id for a passphrase: slow, so callers run this on a
/// connection thread, never on an async worker).
pub(crate) fn resolve_key(_path: &Path, _key: &Key, params: Argon2Params) -> Result<DatabaseKey> {
    // TEMPORARY until sqlvault_vfs::open_connection lands: the key is ignored.
    params
        .validate()
        .map_err(|_| Error::InvalidOptions("Argon2 parameters out of range"))?;
    Ok(DatabaseKey(()))
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

fn open(path: &Path, _key: &DatabaseKey, flags: OpenFlags) -> Result<Connection> {
    // TEMPORARY until sqlvault_vfs::open_connection lands: plain SQLite, no encryption.
    Connection::open_with_flags(path, flags).map_err(Error::Sqlite)
}

/// Names an error from a statement on one of the pool's connections.
pub(crate) fn classify_error(_conn: &Connection, err: rusqlite::Error) -> Error {
    // TEMPORARY until sqlvault_vfs::open_connection lands: no vfs errors to name yet.
    Error::Sqlite(err)
}
