//! Read and write transaction guards.

use crate::savepoint::Savepoint;
use crate::session::Session;
use crate::worker::ConnState;
use crate::{Error, Result};

/// Adds the statement methods (`execute`, `execute_many`, `column_names`, `execute_batch`,
/// `query_row`, `query`) to a guard
/// type that has a `session_mut(&mut self) -> &mut Session`.
macro_rules! statement_methods {
    ([$($lt:lifetime)?] $ty:ty) => {
        impl $(<$lt>)? $ty {
            /// Runs one statement and returns the number of rows it changed. Parameters are
            /// anything rusqlite takes as [`rusqlite::Params`] that owns its values, such as a
            /// tuple `(1, "x".to_owned())`, an array, `()` or `rusqlite::params_from_iter(vec)`.
            /// The statement is prepared once per connection and cached.
            ///
            /// Dropping the returned future before it finishes interrupts the statement; an
            /// interrupted write ends the whole transaction (SQLite's rule), after which this
            /// guard's statements fail with [`Error::TransactionEnded`](crate::Error::TransactionEnded).
            ///
            /// # Errors
            /// SQLite's error for the statement, or [`Error::TransactionEnded`](crate::Error::TransactionEnded).
            pub async fn execute<P>(
                &mut self,
                sql: impl Into<std::borrow::Cow<'static, str>>,
                params: P,
            ) -> $crate::Result<usize>
            where
                P: rusqlite::Params + Send + 'static,
            {
                self.session_mut().execute(sql.into(), params).await
            }

            /// Runs one statement once for each parameter set of `params`, in one trip to the
            /// connection thread (the statement is prepared once), and returns the number of
            /// rows changed in all. Each item is anything [`execute`](Self::execute) takes as
            /// parameters, for example a `Vec<(i64, String)>` or a `Vec<Vec<rusqlite::types::Value>>`
            /// mapped through `rusqlite::params_from_iter`.
            ///
            /// Cancellation works as for `execute`; an interrupted run may have executed the
            /// first sets only, and an interrupted write ends the transaction.
            ///
            /// # Errors
            /// SQLite's error for the first set that fails (the sets before it stay done, as
            /// part of the transaction), or [`Error::TransactionEnded`](crate::Error::TransactionEnded).
            pub async fn execute_many<I>(
                &mut self,
                sql: impl Into<std::borrow::Cow<'static, str>>,
                params: I,
            ) -> $crate::Result<usize>
            where
                I: IntoIterator + Send + 'static,
                I::IntoIter: Send,
                I::Item: rusqlite::Params + Send,
            {
                self.session_mut().execute_many(sql.into(), params).await
            }

            /// The names of the columns `sql` returns (empty for a statement that returns no
            /// rows), from preparing it (the prepared statement is cached for the next run);
            /// nothing is executed. For a caller that needs the names of a query that
            /// returned no row, such as a DB-API `cursor.description`.
            ///
            /// # Errors
            /// SQLite's error preparing `sql`, or [`Error::TransactionEnded`](crate::Error::TransactionEnded).
            pub async fn column_names(
                &mut self,
                sql: impl Into<std::borrow::Cow<'static, str>>,
            ) -> $crate::Result<Vec<String>> {
                self.session_mut().column_names(sql.into()).await
            }

            /// Runs several `;`-separated statements without parameters.
            ///
            /// # Errors
            /// SQLite's error for the first statement that fails (the ones before it stay done).
            pub async fn execute_batch(
                &mut self,
                sql: impl Into<std::borrow::Cow<'static, str>>,
            ) -> $crate::Result<()> {
                self.session_mut().execute_batch(sql.into()).await
            }

            /// Runs a query and converts its first row with `map` (on the connection thread).
            ///
            /// # Errors
            /// `QueryReturnedNoRows` (inside [`Error::Sqlite`](crate::Error::Sqlite)) if there is
            /// no row; SQLite's error or `map`'s.
            pub async fn query_row<T, P, F>(
                &mut self,
                sql: impl Into<std::borrow::Cow<'static, str>>,
                params: P,
                map: F,
            ) -> $crate::Result<T>
            where
                T: Send + 'static,
                P: rusqlite::Params + Send + 'static,
                F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T> + Send + 'static,
            {
                self.session_mut().query_row(sql.into(), params, map).await
            }

            /// Runs a query and streams its rows, each converted by `map` on the connection
            /// thread. See [`RowStream`](crate::RowStream) for back-pressure and cancellation.
            pub fn query<T, P, F>(
                &mut self,
                sql: impl Into<std::borrow::Cow<'static, str>>,
                params: P,
                map: F,
            ) -> $crate::RowStream<'_, T>
            where
                T: Send + 'static,
                P: rusqlite::Params + Send + 'static,
                F: FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T> + Send + 'static,
            {
                self.session_mut().query(sql.into(), params, map)
            }
        }
    };
}
pub(crate) use statement_methods;

/// A read transaction on one of the readers: every statement sees the same snapshot, taken when
/// [`Database::read`](crate::Database::read) returned, whatever commits meanwhile.
///
/// Dropping it ends the transaction (a read transaction has nothing to roll back); the reader
/// goes back to the pool.
pub struct ReadTx {
    session: Session,
}

impl ReadTx {
    pub(crate) fn new(session: Session) -> ReadTx {
        ReadTx { session }
    }

    fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Ends the transaction and reports an error, if ending it failed (dropping it does the same
    /// without waiting).
    ///
    /// # Errors
    /// SQLite's error from `COMMIT`.
    pub async fn finish(mut self) -> Result<()> {
        let span = tracing::debug_span!("sqlvault.finish");
        self.session
            .conn()
            .call(false, span, |state: &mut ConnState| {
                end_tx(state, "COMMIT")?;
                Ok(())
            })
            .await?;
        self.session.mark_clean();
        Ok(())
    }
}

statement_methods!([] ReadTx);

/// The write transaction: holds the single writer until it ends.
///
/// [`WriteTx::commit`] makes its changes durable; [`WriteTx::rollback`] or dropping it
/// discards them. A drop only queues the rollback (it cannot wait), but the writer runs that
/// rollback before serving the next transaction.
pub struct WriteTx {
    session: Session,
}

impl WriteTx {
    pub(crate) fn new(session: Session) -> WriteTx {
        WriteTx { session }
    }

    fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Starts a savepoint (nested transaction) inside this transaction. While it lives it
    /// borrows the transaction, so statements go through the innermost guard.
    ///
    /// # Errors
    /// [`Error::TransactionEnded`] if SQLite already rolled the transaction back.
    pub async fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        Savepoint::start(&mut self.session).await
    }

    /// Commits. If `COMMIT` fails the transaction is rolled back, so nothing of it is left open.
    /// If this future is dropped before it finishes, the commit still runs to its end: the
    /// transaction is then either committed or rolled back as a whole.
    ///
    /// # Errors
    /// SQLite's error from `COMMIT` (nothing was committed), or
    /// [`Error::TransactionEnded`] if SQLite had already rolled the transaction back.
    pub async fn commit(mut self) -> Result<()> {
        let span = tracing::debug_span!("sqlvault.commit");
        self.session
            .conn()
            .call(false, span, |state: &mut ConnState| {
                state.require_tx()?;
                end_tx(state, "COMMIT")
            })
            .await?;
        self.session.mark_clean();
        Ok(())
    }

    /// Rolls back every change of this transaction. Succeeds also if SQLite had already rolled
    /// it back.
    ///
    /// # Errors
    /// SQLite's error from `ROLLBACK`.
    pub async fn rollback(mut self) -> Result<()> {
        let span = tracing::debug_span!("sqlvault.rollback");
        self.session
            .conn()
            .call(false, span, |state: &mut ConnState| end_tx(state, "ROLLBACK"))
            .await?;
        self.session.mark_clean();
        Ok(())
    }
}

statement_methods!([] WriteTx);

/// Runs `COMMIT` or `ROLLBACK` if a transaction is open; if it fails, rolls back so that no
/// transaction stays open, and returns the error.
fn end_tx(state: &mut ConnState, sql: &str) -> Result<()> {
    if state.conn.is_autocommit() {
        state.savepoints = 0;
        return Ok(());
    }
    let result = state.conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
    state.rollback_if_open();
    state.savepoints = 0;
    result.map(drop).map_err(Error::Sqlite)
}
