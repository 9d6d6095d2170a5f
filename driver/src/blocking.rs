//! A blocking API over the same pool, for synchronous code (no async runtime needed).
//!
//! Every call parks the calling thread until the connection thread answers. The types mirror
//! the async ones and share their semantics: [`Database::write`] queues with async writers in
//! one FIFO queue, dropping a guard rolls back, and so on.
//!
//! ## Inside a tokio runtime
//!
//! Prefer the async API there, but a blocking call never deadlocks the runtime:
//!
//! - On a **multi-thread** runtime's worker, each call goes through
//!   [`tokio::task::block_in_place`], which first hands the worker's other tasks to a new worker
//!   thread, so the tasks this call may be waiting for (another holder of the writer) keep
//!   running. It costs a thread hand-over per call.
//! - On a **current-thread** runtime's own thread (inside `block_on` or one of its tasks)
//!   blocking would stop every task of the runtime, so every call **panics at once** with a
//!   message that says so (tokio's `block_in_place` panic message is printed first). Use
//!   [`tokio::task::spawn_blocking`] there: the runtime's blocking pool is fine, as is any thread
//!   that merely entered a runtime.
//! - From inside the pool's own closures (`read_with`, `write_with`, row closures) every call on
//!   the same pool fails with [`Error::Reentrant`](crate::Error::Reentrant) instead of waiting
//!   on the thread it blocks.
//!
//! ```
//! use sqlvault_driver::{Argon2Params, Key, Options, Passphrase, blocking::Database};
//! # fn main() -> Result<(), sqlvault_driver::Error> {
//! # let dir = std::env::temp_dir().join(format!("sqlvault-blocking-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let db = Database::open(dir.join("app.db"), Key::Passphrase(Passphrase::from("pw")),
//!     Options::new().argon2(Argon2Params::INSECURE_FOR_TESTS))?;
//! let mut tx = db.write()?;
//! tx.execute_batch("CREATE TABLE IF NOT EXISTS t(x)")?;
//! tx.execute("INSERT INTO t VALUES (?1)", (42,))?;
//! tx.commit()?;
//! let xs: Vec<i64> = db.read()?.query("SELECT x FROM t", (), |r| r.get(0)).collect::<Result<_, _>>()?;
//! assert!(xs.contains(&42));
//! db.close()?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::path::Path;
use std::pin::Pin;

use futures_core::Stream;
use rusqlite::{Connection, Params, Row, Transaction};
use sqlvault_crypto::Key;

use crate::call::block_on;
use crate::{Options, Result, RowStream};

/// A blocking handle on a pool; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct Database {
    db: crate::Database,
}

impl Database {
    /// Opens (or creates) the database, as [`crate::Database::open`].
    ///
    /// # Errors
    /// As [`crate::Database::open`].
    pub fn open(path: impl AsRef<Path>, key: Key, options: Options) -> Result<Database> {
        Ok(Database {
            db: block_on(crate::Database::open(path, key, options))?,
        })
    }

    pub(crate) fn from_async(db: crate::Database) -> Database {
        Database { db }
    }

    /// The async handle on the same pool.
    pub fn as_async(&self) -> crate::Database {
        self.db.clone()
    }

    /// Starts a read transaction, as [`crate::Database::read`].
    ///
    /// # Errors
    /// As [`crate::Database::read`].
    pub fn read(&self) -> Result<ReadTx> {
        block_on(self.db.read()).map(ReadTx)
    }

    /// Starts the write transaction, as [`crate::Database::write`].
    ///
    /// # Errors
    /// As [`crate::Database::write`].
    pub fn write(&self) -> Result<WriteTx> {
        block_on(self.db.write()).map(WriteTx)
    }

    /// Runs `f` in a read transaction on a reader thread, as [`crate::Database::read_with`].
    ///
    /// # Errors
    /// As [`crate::Database::read_with`].
    pub fn read_with<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        block_on(self.db.read_with(f))
    }

    /// Runs `f` in a write transaction on the writer thread, as [`crate::Database::write_with`].
    ///
    /// # Errors
    /// As [`crate::Database::write_with`].
    pub fn write_with<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Transaction<'_>) -> Result<T> + Send + 'static,
    {
        block_on(self.db.write_with(f))
    }

    /// Re-encrypts the database under `new_key`, as [`crate::Database::rekey`].
    ///
    /// # Errors
    /// As [`crate::Database::rekey`].
    pub fn rekey(&self, new_key: Key) -> Result<()> {
        block_on(self.db.rekey(new_key))
    }

    /// Closes the pool, as [`crate::Database::close`].
    ///
    /// # Errors
    /// As [`crate::Database::close`].
    pub fn close(&self) -> Result<()> {
        block_on(self.db.close())
    }
}

macro_rules! blocking_statement_methods {
    ([$($lt:lifetime)?] $ty:ty) => {
        impl $(<$lt>)? $ty {
            /// Runs one statement and returns the number of rows it changed; see the async
            /// guard's `execute`.
            ///
            /// # Errors
            /// SQLite's error, or [`Error::TransactionEnded`](crate::Error::TransactionEnded).
            pub fn execute<P>(&mut self, sql: impl Into<Cow<'static, str>>, params: P) -> Result<usize>
            where
                P: Params + Send + 'static,
            {
                block_on(self.0.execute(sql, params))
            }

            /// Runs one statement once per parameter set, in one trip; see the async guard's
            /// `execute_many`.
            ///
            /// # Errors
            /// SQLite's error for the first set that fails, or
            /// [`Error::TransactionEnded`](crate::Error::TransactionEnded).
            pub fn execute_many<I>(&mut self, sql: impl Into<Cow<'static, str>>, params: I) -> Result<usize>
            where
                I: IntoIterator + Send + 'static,
                I::IntoIter: Send,
                I::Item: Params + Send,
            {
                block_on(self.0.execute_many(sql, params))
            }

            /// The names of the columns `sql` returns; see the async guard's `column_names`.
            ///
            /// # Errors
            /// SQLite's error preparing `sql`, or
            /// [`Error::TransactionEnded`](crate::Error::TransactionEnded).
            pub fn column_names(&mut self, sql: impl Into<Cow<'static, str>>) -> Result<Vec<String>> {
                block_on(self.0.column_names(sql))
            }

            /// Runs several `;`-separated statements without parameters.
            ///
            /// # Errors
            /// SQLite's error for the first statement that fails.
            pub fn execute_batch(&mut self, sql: impl Into<Cow<'static, str>>) -> Result<()> {
                block_on(self.0.execute_batch(sql))
            }

            /// Runs a query and converts its first row with `map`.
            ///
            /// # Errors
            /// `QueryReturnedNoRows` if there is no row; SQLite's error or `map`'s.
            pub fn query_row<T, P, F>(
                &mut self,
                sql: impl Into<Cow<'static, str>>,
                params: P,
                map: F,
            ) -> Result<T>
            where
                T: Send + 'static,
                P: Params + Send + 'static,
                F: FnOnce(&Row<'_>) -> rusqlite::Result<T> + Send + 'static,
            {
                block_on(self.0.query_row(sql, params, map))
            }

            /// Runs a query; its rows come as an iterator, with the same back-pressure as the
            /// async stream.
            pub fn query<T, P, F>(
                &mut self,
                sql: impl Into<Cow<'static, str>>,
                params: P,
                map: F,
            ) -> Rows<'_, T>
            where
                T: Send + 'static,
                P: Params + Send + 'static,
                F: FnMut(&Row<'_>) -> rusqlite::Result<T> + Send + 'static,
            {
                Rows(self.0.query(sql, params, map))
            }
        }
    };
}

/// A blocking read transaction; see [`crate::ReadTx`].
pub struct ReadTx(crate::ReadTx);

impl ReadTx {
    /// Ends the transaction, as [`crate::ReadTx::finish`].
    ///
    /// # Errors
    /// As [`crate::ReadTx::finish`].
    pub fn finish(self) -> Result<()> {
        block_on(self.0.finish())
    }
}

blocking_statement_methods!([] ReadTx);

/// The blocking write transaction; see [`crate::WriteTx`].
pub struct WriteTx(crate::WriteTx);

impl WriteTx {
    /// Starts a savepoint, as [`crate::WriteTx::savepoint`].
    ///
    /// # Errors
    /// As [`crate::WriteTx::savepoint`].
    pub fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        block_on(self.0.savepoint()).map(Savepoint)
    }

    /// Commits, as [`crate::WriteTx::commit`].
    ///
    /// # Errors
    /// As [`crate::WriteTx::commit`].
    pub fn commit(self) -> Result<()> {
        block_on(self.0.commit())
    }

    /// Rolls back, as [`crate::WriteTx::rollback`].
    ///
    /// # Errors
    /// As [`crate::WriteTx::rollback`].
    pub fn rollback(self) -> Result<()> {
        block_on(self.0.rollback())
    }
}

blocking_statement_methods!([] WriteTx);

/// A blocking savepoint; see [`crate::Savepoint`].
pub struct Savepoint<'p>(crate::Savepoint<'p>);

impl Savepoint<'_> {
    /// How deep this savepoint is nested: 1 directly inside the transaction.
    pub fn depth(&self) -> u32 {
        self.0.depth()
    }

    /// Starts a nested savepoint.
    ///
    /// # Errors
    /// As [`crate::Savepoint::savepoint`].
    pub fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        block_on(self.0.savepoint()).map(Savepoint)
    }

    /// Keeps the changes, as [`crate::Savepoint::release`].
    ///
    /// # Errors
    /// As [`crate::Savepoint::release`].
    pub fn release(self) -> Result<()> {
        block_on(self.0.release())
    }

    /// Undoes the changes, as [`crate::Savepoint::rollback`].
    ///
    /// # Errors
    /// As [`crate::Savepoint::rollback`].
    pub fn rollback(self) -> Result<()> {
        block_on(self.0.rollback())
    }
}

blocking_statement_methods!(['p] Savepoint<'p>);

/// The rows of a query, read by blocking; see [`crate::RowStream`].
pub struct Rows<'g, T>(RowStream<'g, T>);

impl<T> Iterator for Rows<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        block_on(std::future::poll_fn(|cx| Pin::new(&mut self.0).poll_next(cx)))
    }
}
