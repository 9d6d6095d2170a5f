//! A SQLite VFS that encrypts and authenticates every page SQLite writes — the database,
//! its WAL, rollback journals, statement journals and temp files — with AES-256-GCM,
//! on top of the stock SQLite engine.
//!
//! # Example
//!
//! ```
//! use sqlvault_vfs::{Argon2Params, DatabaseKey, Key, open_connection};
//! use rusqlite::OpenFlags;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("sqlvault-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("notes.db");
//! # let _ = std::fs::remove_file(&path);
//!
//! // Run the KDF once per database (slow on purpose), then open connections with it.
//! let key = DatabaseKey::resolve(&path, &Key::Passphrase("open sesame".into()), Argon2Params::INSECURE_FOR_TESTS)?;
//! let conn = open_connection(&path, &key, OpenFlags::default())?;
//! conn.execute_batch("CREATE TABLE notes(body TEXT); INSERT INTO notes VALUES ('meet at noon');")?;
//! drop(conn);
//!
//! // Nothing readable on disk…
//! let bytes = std::fs::read(&path)?;
//! assert!(!bytes.windows(12).any(|w| w == b"meet at noon"));
//! // …and a wrong key is refused by name.
//! let wrong = DatabaseKey::resolve(&path, &Key::Passphrase("guess".into()), Argon2Params::INSECURE_FOR_TESTS)?;
//! assert!(matches!(open_connection(&path, &wrong, OpenFlags::default()), Err(sqlvault_vfs::Error::WrongKey)));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! # What is sealed, and how
//!
//! | file | unit sealed | position bound into the associated data |
//! |---|---|---|
//! | main database | each page | page number; page 1 also its clear header bytes |
//! | `-wal` | each frame's page | frame index and the frame header's page number and commit size |
//! | `-journal` (DELETE, TRUNCATE, PERSIST) | each record's page | record offset and page number |
//! | temp db, statement journal, transient files | 4 KiB blocks | block index (and a fresh random key per file) |
//!
//! Headers SQLite needs to find its way (the WAL and journal headers, frame headers,
//! record page numbers and checksums) stay in the clear: they hold no user data.
//! Super-journals (names of the journals of a multi-database commit) stay in the clear too.
//! Memory-mapped I/O is refused (`xFetch` hands out no mapping).
//!
//! A page that does not authenticate is an error naming the page — except while SQLite
//! recovers: a WAL frame read with its header, or a journal record being played back,
//! comes back as zeros so that SQLite's own checksum ends the log at a torn write.
//!
//! # Three ways in
//!
//! - From Rust: [`DatabaseKey::resolve`] (or [`DatabaseKey::resolve_with_limits`], which caps
//!   the Argon2id cost a file's clear salt may demand) then [`open_connection`] / [`attach`].
//! - From SQL on a connection opened through the VFS: `PRAGMA key = 'passphrase'`,
//!   `PRAGMA key = "x'<64 hex digits>'"` or `PRAGMA hexkey = '<64 hex digits>'`, before
//!   the database is first used; `file:…?key=…` / `?hexkey=…` URIs for `ATTACH`.
//! - As a SQLite loadable extension (`extension/` builds `libsqlvault.so`): it registers
//!   this VFS as the default, so the `sqlite3` shell and Python's `sqlite3` get `PRAGMA key`.
//!   A connection given no key passes its files through untouched, as with SQLCipher.

mod block_file;
#[cfg(feature = "rusqlite")]
mod connection;
mod error;
mod extension;
mod ffi;
mod journal;
#[cfg(feature = "rusqlite")]
mod key;
#[cfg(feature = "rusqlite")]
mod key_limits;
mod main_db;
mod raw;
#[cfg(feature = "rusqlite")]
pub mod rekey;
mod shared;
#[cfg(not(feature = "loadable-extension"))]
pub mod testing;
mod wal;

#[cfg(feature = "rusqlite")]
pub use connection::{attach, classify_error, open_connection};
#[cfg(feature = "rusqlite")]
pub use error::Error;
pub use error::FileKind;
#[cfg(feature = "loadable-extension")]
pub use extension::sqlite3_sqlvault_init;
#[cfg(feature = "loadable-extension")]
pub use extension::sqlite3_sqlvault_strict_init;
pub use extension::{sqlvault_register, sqlvault_register_named};
pub use ffi::{TakenVariable, take_environment_variables};
#[cfg(feature = "rusqlite")]
pub use key::DatabaseKey;
pub use sqlvault_crypto::{Argon2Params, Key, MasterKey, Passphrase};
pub use sqlvault_crypto::{KdfLimits, KdfParameter};

/// The name the VFS is registered under by [`open_connection`].
pub const VFS_NAME: &str = "sqlvault";

#[cfg(feature = "rusqlite")]
/// Registers the sqlvault VFS under `name`, layered over the VFS named `parent`
/// (`None`: SQLite's default, the OS VFS). Registering a name twice is a no-op.
///
/// Tests put a fault-injecting VFS under it by naming it as `parent`.
///
/// # Errors
/// [`Error::Sqlite`] if `parent` is not a registered VFS or SQLite refuses.
pub fn register(name: &str, parent: Option<&str>, make_default: bool) -> Result<(), Error> {
    register_with_mode(name, parent, make_default, false)
}

#[cfg(feature = "rusqlite")]
/// Registers the sqlvault VFS like [`register`], in **strict mode**: a database opened
/// through it without a key fails at its first read or write with
/// [`Error::StrictNoKey`] (`sqlvault strict mode: this database has no key`), so no
/// plaintext database is ever created or changed through it. Keys inherited by `ATTACH`
/// and `VACUUM INTO` still apply; temp files are always sealed. Registering a name twice
/// is a no-op (the first registration's mode stays).
///
/// # Errors
/// As [`register`].
pub fn register_strict(name: &str, parent: Option<&str>, make_default: bool) -> Result<(), Error> {
    register_with_mode(name, parent, make_default, true)
}

#[cfg(feature = "rusqlite")]
fn register_with_mode(
    name: &str,
    parent: Option<&str>,
    make_default: bool,
    strict: bool,
) -> Result<(), Error> {
    ffi::register_vfs(name, parent, make_default, strict).map_err(|rc| {
        Error::Sqlite(rusqlite::Error::SqliteFailure(
            libsqlite3_sys::Error::new(rc),
            None,
        ))
    })
}
