//! sqlvault: encrypted, async SQLite for Rust.
//!
//! Every page of the database, its WAL, journals and temp files is sealed with AES-256-GCM by
//! a SQLite VFS (`sqlvault-vfs`) under the stock SQLite engine; this crate re-exports the async
//! driver (`sqlvault-driver`) on top of it:
//!
//! - [`Database::open`] opens or creates a database with a passphrase (Argon2id, run off the
//!   async runtime) or a raw key, as a pool of one writer and N read-only readers (WAL), each
//!   connection on its own thread.
//! - [`Database::read`] / [`Database::write`] give [`ReadTx`] / [`WriteTx`] guards;
//!   [`WriteTx::savepoint`] nests [`Savepoint`]s to any depth. Dropping a guard rolls it back.
//! - [`Database::read_with`] / [`Database::write_with`] run a closure in one trip.
//! - [`blocking`] offers the same pool to synchronous code.
//! - [`import`] turns a plaintext SQLite or SQLCipher 2/3/4 database into a new sqlvault one
//!   (what `sqlvault import` does).
//!
//! ## Example
//! ```
//! # async fn demo() -> Result<(), sqlvault::Error> {
//! use sqlvault::{Argon2Params, Database, Key, Options, Passphrase};
//! # let dir = std::env::temp_dir().join(format!("sqlvault-facade-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let db = Database::open(dir.join("app.db"), Key::Passphrase(Passphrase::from("pw")),
//!     Options::new().argon2(Argon2Params::INSECURE_FOR_TESTS)).await?;
//! let mut tx = db.write().await?;
//! tx.execute_batch("CREATE TABLE IF NOT EXISTS kv(k TEXT PRIMARY KEY, v TEXT)").await?;
//! {
//!     let mut sp = tx.savepoint().await?;
//!     sp.execute("INSERT OR REPLACE INTO kv VALUES (?1, ?2)", ("greeting", "hello")).await?;
//!     sp.release().await?;
//! }
//! tx.commit().await?;
//! let mut r = db.read().await?;
//! let v: String = r.query_row("SELECT v FROM kv WHERE k = ?1", ("greeting",), |row| row.get(0)).await?;
//! assert_eq!(v, "hello");
//! r.finish().await?;
//! db.close().await?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo()).unwrap();
//! ```
#![forbid(unsafe_code)]

pub use sqlvault_driver::*;

pub mod copy;
pub mod import;
pub mod sqlcipher;

/// The examples of `docs/migrating.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/migrating.md")]
pub struct MigratingGuideExamples;
