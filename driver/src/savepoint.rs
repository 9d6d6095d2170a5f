//! Savepoints: nested transactions inside a write transaction.

use crate::session::{Session, savepoint_name};
use crate::transaction::statement_methods;
use crate::worker::ConnState;
use crate::{Error, Result};

/// A savepoint inside a [`WriteTx`](crate::WriteTx) or inside another savepoint.
///
/// It borrows its parent mutably, so the parent cannot run statements, commit or start another
/// savepoint until this one ends: wrong nesting does not compile. [`Savepoint::release`] keeps
/// its changes as part of the parent; [`Savepoint::rollback`] or dropping it undoes them (and
/// those of any savepoint released inside it).
///
/// ```
/// # async fn f(db: sqlvault_driver::Database) -> sqlvault_driver::Result<()> {
/// let mut tx = db.write().await?;
/// tx.execute("INSERT INTO t VALUES (1)", ()).await?;
/// let mut sp = tx.savepoint().await?;
/// sp.execute("INSERT INTO t VALUES (2)", ()).await?;
/// sp.rollback().await?; // 2 is gone, 1 stays
/// tx.commit().await?;
/// # Ok(()) }
/// ```
///
/// Using the parent while a savepoint is alive is a compile error:
///
/// ```compile_fail,E0499
/// # async fn f(db: sqlvault_driver::Database) -> sqlvault_driver::Result<()> {
/// let mut tx = db.write().await?;
/// let sp = tx.savepoint().await?;
/// tx.execute("INSERT INTO t VALUES (1)", ()).await?; // `tx` is mutably borrowed by `sp`
/// sp.release().await?;
/// # Ok(()) }
/// ```
pub struct Savepoint<'p> {
    session: &'p mut Session,
    depth: u32,
    finished: bool,
}

impl<'p> Savepoint<'p> {
    pub(crate) async fn start(session: &'p mut Session) -> Result<Savepoint<'p>> {
        let depth = session.depth + 1;
        let span = tracing::debug_span!("sqlvault.savepoint", depth);
        // If this future is dropped after the SAVEPOINT was queued, the guard below queues its
        // undo, so no orphaned savepoint is left for the parent's later statements to run in.
        let mut undo = UndoOnDrop {
            session: &mut *session,
            depth,
            armed: true,
        };
        undo.session
            .conn()
            .call(false, span, move |state: &mut ConnState| {
                state.require_tx()?;
                state
                    .conn
                    .execute_batch(&format!("SAVEPOINT {}", savepoint_name(depth)))?;
                state.savepoints = depth;
                Ok(())
            })
            .await?;
        undo.armed = false;
        drop(undo);
        session.depth = depth;
        Ok(Savepoint {
            session,
            depth,
            finished: false,
        })
    }

    fn session_mut(&mut self) -> &mut Session {
        self.session
    }

    /// How deep this savepoint is nested: 1 directly inside the transaction.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Starts a savepoint nested inside this one.
    ///
    /// # Errors
    /// [`Error::TransactionEnded`] if SQLite already rolled the transaction back.
    pub async fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        Savepoint::start(self.session).await
    }

    /// Keeps this savepoint's changes as part of its parent (`RELEASE`).
    ///
    /// # Errors
    /// SQLite's error, or [`Error::TransactionEnded`] if the whole transaction was already
    /// rolled back.
    pub async fn release(mut self) -> Result<()> {
        let depth = self.depth;
        let span = tracing::debug_span!("sqlvault.release", depth);
        let result = self
            .session
            .conn()
            .call(false, span, move |state: &mut ConnState| {
                state.require_tx()?;
                if state.savepoints < depth {
                    return Err(Error::TransactionEnded);
                }
                state
                    .conn
                    .execute_batch(&format!("RELEASE {}", savepoint_name(depth)))?;
                state.savepoints = depth - 1;
                Ok(())
            })
            .await;
        // Released or not, this guard is done; on failure its drop undoes what is left.
        self.finished = result.is_ok();
        result
    }

    /// Undoes this savepoint's changes and ends it (`ROLLBACK TO` then `RELEASE`).
    ///
    /// # Errors
    /// SQLite's error, or [`Error::TransactionEnded`] if the whole transaction was already
    /// rolled back (which undid this savepoint too).
    pub async fn rollback(mut self) -> Result<()> {
        let depth = self.depth;
        let span = tracing::debug_span!("sqlvault.rollback_savepoint", depth);
        let result = self
            .session
            .conn()
            .call(false, span, move |state: &mut ConnState| {
                state.require_tx()?;
                if state.savepoints < depth {
                    return Err(Error::TransactionEnded);
                }
                undo_savepoint(state, depth)
            })
            .await;
        self.finished = true;
        result
    }
}

statement_methods!(['p] Savepoint<'p>);

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if !self.finished {
            queue_undo(self.session, self.depth);
        }
        self.session.depth = self.depth - 1;
    }
}

/// Rolls back to the savepoint at `depth` and releases it, if it is still open.
fn undo_savepoint(state: &mut ConnState, depth: u32) -> Result<()> {
    if state.conn.is_autocommit() || state.savepoints < depth {
        return Ok(());
    }
    let name = savepoint_name(depth);
    let result = state
        .conn
        .execute_batch(&format!("ROLLBACK TO {name}; RELEASE {name}"));
    if result.is_ok() {
        state.savepoints = depth - 1;
    }
    result.map_err(Error::Sqlite)
}

fn queue_undo(session: &Session, depth: u32) {
    let span = tracing::debug_span!("sqlvault.drop_savepoint", depth);
    session.conn().fire(span, move |state| {
        if let Err(e) = undo_savepoint(state, depth) {
            tracing::warn!(error = %e, depth, "rollback of a dropped savepoint failed");
            // The savepoint could not be undone: end the whole transaction rather than let the
            // parent commit changes that were meant to be discarded.
            state.rollback_if_open();
        }
    });
}

struct UndoOnDrop<'s> {
    session: &'s mut Session,
    depth: u32,
    armed: bool,
}

impl Drop for UndoOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            queue_undo(self.session, self.depth);
        }
    }
}
