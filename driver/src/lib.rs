//! The async driver for sqlvault databases.
//!
//! A [`Database`] is a pool of one writer connection and N read-only reader connections (WAL
//! mode), each owned by its own OS thread. Async code talks to them through channels, so no
//! tokio worker thread ever runs SQLite, does file I/O or derives a key.
//!
//! - [`Database::read`] → [`ReadTx`]: a consistent snapshot on a reader until it ends.
//! - [`Database::write`] → [`WriteTx`]: `BEGIN IMMEDIATE` on the writer. Writers queue first
//!   come, first served, in the driver; none of them ever sees `SQLITE_BUSY` from another writer
//!   of this process.
//! - [`WriteTx::savepoint`] → [`Savepoint`], nested to any depth. Each borrows its parent
//!   mutably, so using a parent while a child is alive does not compile.
//! - `commit` / `release` / `rollback` consume a guard; dropping an unfinished guard rolls it
//!   back. The drop cannot wait, so it queues the rollback on the guard's connection before the
//!   connection goes back to the pool: the next user's commands run after it.
//! - Statements on every guard: `execute`, `execute_many`, `execute_batch`, `query_row`, and
//!   `query`, a [`RowStream`] with back-pressure; `column_names` prepares a statement only. Parameters are rusqlite [`Params`](rusqlite::Params)
//!   that own their values; rows are read with rusqlite's [`Row`](rusqlite::Row) on the
//!   connection thread.
//! - [`Database::read_with`] / [`Database::write_with`]: a closure that runs a whole unit of work
//!   in one trip to the connection thread.
//! - [`Database::rekey`]: re-encrypts the database under a new key while the pool is open
//!   (callers wait for it, then carry on under the new key), crash-safely.
//! - [`blocking`]: the same pool for synchronous code.
//!
//! ## Cancellation
//!
//! Every future here may be dropped at any await point. A dropped statement future skips its
//! statement if it has not started and interrupts it if it has (a progress handler checks the
//! command's own cancel flag every few hundred VM instructions; unlike a bare
//! `sqlite3_interrupt` it cannot hit the next command that happens to run on the connection).
//! An interrupted write statement ends its whole transaction — SQLite's rule — and later
//! statements on that guard fail with [`Error::TransactionEnded`] instead of silently running
//! outside a transaction. A closure (`write_with`) gets the same guarantee from a commit hook:
//! once its command is cancelled, every commit it attempts is turned into a rollback, so a
//! closure that ignores the interrupt error cannot commit the rest of its work in autocommit
//! mode. `commit` and `rollback` are not interrupted once queued: a dropped
//! commit either commits the whole transaction or none of it.
//!
//! ## Robustness
//!
//! - Each connection's command queue is bounded ([`Options::queue_capacity`]); a caller past
//!   the bound waits for a slot.
//! - Code running on one of the pool's own connection threads (inside a closure) that calls
//!   back into the same pool gets [`Error::Reentrant`] at once instead of a deadlock.
//! - A connection thread that dies is replaced by a new thread with a new connection.
//! - The [`blocking`] API may be called on a multi-thread runtime's worker (it uses
//!   `block_in_place`); on a current-thread runtime's own thread it panics at once.
//!
//! ## Latency
//!
//! A call costs two cross-thread hand-offs: the command to the connection thread and the
//! reply back. [`Database::read_with`] adds nothing to that: a closure is a whole transaction
//! in one command, so it is queued directly on the least busy reader that no guard holds,
//! without waiting for a lease. By default both sides spin briefly before sleeping, but only
//! while a core is free and recent spins paid ([`Options::adaptive_spin`]); fixed spins can be
//! set instead ([`Options::spin`], [`Options::reply_spin`]).
//!
//! ## Tracing
//!
//! Every command gets the same spans. On the caller's side: `sqlvault.checkout` (waiting for a
//! connection and starting the transaction) with `sqlvault.queue_wait` inside it for a guard or
//! `write_with`, and `sqlvault.queue_wait` (under the command's span) when a command waits for
//! a slot in a full queue. Then `sqlvault.queued`, a child of the command's span, open from the
//! moment the command is queued until its connection thread takes it: the time spent in that
//! thread's queue. Finally the command's own span (`sqlvault.statement` with its SQL,
//! `sqlvault.read_with`, `sqlvault.write_with`, `sqlvault.begin`, `sqlvault.commit`,
//! `sqlvault.drop_rollback`, …), entered on the connection thread while it runs.
#![forbid(unsafe_code)]

pub mod blocking;
mod call;
mod connect;
mod database;
mod error;
mod options;
mod savepoint;
mod session;
mod stream;
mod transaction;
mod worker;

pub use database::Database;
pub use error::{Error, Result};
pub use options::{Options, Synchronous};
pub use savepoint::Savepoint;
pub use sqlvault_crypto::{Argon2Params, Key, MasterKey, Passphrase};
pub use sqlvault_crypto::{KdfLimits, KdfParameter};
/// The vfs's error (inside [`Error::Vfs`]) and the file kinds it names.
pub use sqlvault_vfs::{Error as VfsError, FileKind};
pub use stream::RowStream;
pub use transaction::{ReadTx, WriteTx};

/// rusqlite, re-exported so that callers use the same version the driver does.
pub use rusqlite;
