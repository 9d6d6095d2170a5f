//! A connection thread: a named OS thread that opens its own connection and runs the commands
//! sent to it, one at a time, in the order they were sent.
//!
//! Ordering is what makes guard drops safe: a guard that is dropped with its transaction open
//! queues a rollback on its connection *before* it hands the connection back to the pool, so
//! whoever gets the connection next has its commands queued behind that rollback.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;
use tracing::Span;

use crate::call::Call;
use crate::connect;
use crate::{Error, Result};

/// How many SQLite VM instructions run between checks of the current command's cancel flag.
const PROGRESS_OPS: i32 = 256;

/// The state a connection thread owns.
pub(crate) struct ConnState {
    /// The connection itself.
    pub(crate) conn: Connection,
    /// How many of the driver's savepoints are open on it (`sqlvault_sp_1` … `sqlvault_sp_N`).
    pub(crate) savepoints: u32,
}

impl ConnState {
    /// Rolls back whatever transaction is open (after a panic, or when a lease ends dirty).
    pub(crate) fn rollback_if_open(&mut self) {
        if !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(error = %e, "rollback of an abandoned transaction failed");
        }
        if self.conn.is_autocommit() {
            self.savepoints = 0;
        }
    }

    /// Fails with [`Error::TransactionEnded`] unless a transaction is open.
    pub(crate) fn require_tx(&mut self) -> Result<()> {
        if self.conn.is_autocommit() {
            self.savepoints = 0;
            return Err(Error::TransactionEnded);
        }
        Ok(())
    }
}

type Task = Box<dyn FnOnce(&mut ConnState) + Send>;

enum Msg {
    Job {
        task: Task,
        /// Set when the caller no longer wants the result.
        cancel: Option<Arc<AtomicBool>>,
    },
    Shutdown {
        /// Threads to wait for before closing (the readers, so that the writer closes last and
        /// its close checkpoints the WAL).
        join_first: Vec<JoinHandle<Result<()>>>,
        ack: Option<oneshot::Sender<Result<()>>>,
    },
}

/// A started connection thread: its handle, its join handle, and the receiver of its
/// readiness (what `open` returned besides the connection, or why it failed).
pub(crate) type Spawned<R> = (ConnHandle, JoinHandle<Result<()>>, oneshot::Receiver<Result<R>>);

/// The sending side of a connection thread.
pub(crate) struct ConnHandle {
    tx: mpsc::Sender<Msg>,
    spin: Duration,
}

thread_local! {
    /// The cancel flag of the command running on this connection thread, read by the progress
    /// handler. Thread-local because the handler runs on the connection's own thread.
    static CURRENT_CANCEL: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
    /// The row stream running on this thread, if any: how to send its partly filled chunk, and
    /// when that chunk must go. The progress handler sends it while SQLite is busy between rows.
    static STREAM_FLUSH: RefCell<Option<Box<dyn FnMut()>>> = const { RefCell::new(None) };
    static FLUSH_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Registers (or with `None` removes) the flush of the row stream running on this thread.
pub(crate) fn set_stream_flush(flush: Option<Box<dyn FnMut()>>) {
    FLUSH_DEADLINE.with(|d| d.set(None));
    STREAM_FLUSH.with(|f| *f.borrow_mut() = flush);
}

/// Asks the progress handler to run the stream's flush once `deadline` has passed (`None`:
/// nothing is waiting to be sent).
pub(crate) fn arm_stream_flush(deadline: Option<Instant>) {
    FLUSH_DEADLINE.with(|d| d.set(deadline));
}

/// The progress handler: sends a row stream's partly filled chunk once it is due, and
/// interrupts the statement once its command is cancelled.
fn progress() -> bool {
    let due = FLUSH_DEADLINE.with(|d| d.get().is_some_and(|deadline| Instant::now() >= deadline));
    if due {
        FLUSH_DEADLINE.with(|d| d.set(None));
        STREAM_FLUSH.with(|f| {
            // Not re-entered: the flush itself runs no SQL.
            if let Ok(mut flush) = f.try_borrow_mut()
                && let Some(flush) = flush.as_mut()
            {
                flush();
            }
        });
    }
    current_command_cancelled()
}

impl ConnHandle {
    /// Starts a connection thread. `open` runs on the new thread; what it returns besides the
    /// connection is delivered through the returned receiver once the thread is ready.
    pub(crate) fn spawn<R, F>(
        name: String,
        spin: Duration,
        reply_spin: Duration,
        open: F,
    ) -> Result<Spawned<R>>
    where
        R: Send + 'static,
        F: FnOnce() -> Result<(Connection, R)> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let join = thread::Builder::new()
            .name(name)
            .spawn(move || thread_main(rx, spin, open, ready_tx))?;
        Ok((ConnHandle { tx, spin: reply_spin }, join, ready_rx))
    }

    /// Queues `f` and returns the future of its result. If `interruptible`, dropping the future
    /// skips the command if it has not started, and interrupts its statement if it has.
    pub(crate) fn call<T, F>(&self, interruptible: bool, span: Span, f: F) -> Call<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut ConnState) -> Result<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let cancel = interruptible.then(|| Arc::new(AtomicBool::new(false)));
        self.send_job(cancel.clone(), move |state| {
            let started = Instant::now();
            let _entered = span.enter();
            let result = run_guarded(state, f);
            tracing::trace!(
                elapsed_us = started.elapsed().as_micros() as u64,
                "statement done"
            );
            let _ = reply.send(result);
        });
        Call::new(rx, cancel, self.spin)
    }

    /// Queues a command nobody waits for (rollbacks of dropped guards).
    pub(crate) fn fire(&self, f: impl FnOnce(&mut ConnState) + Send + 'static) {
        self.send_job(None, f);
    }

    /// Queues a command with its own way of replying (row streams). `cancel` as for [`call`].
    ///
    /// [`call`]: ConnHandle::call
    pub(crate) fn send_job(
        &self,
        cancel: Option<Arc<AtomicBool>>,
        f: impl FnOnce(&mut ConnState) + Send + 'static,
    ) {
        // If the thread is gone the message comes back and is dropped, which drops any reply
        // sender inside it: the caller then sees `ConnectionLost`.
        let _ = self.tx.send(Msg::Job {
            task: Box::new(f),
            cancel,
        });
    }

    /// Asks the thread to close its connection after the commands already queued.
    pub(crate) fn shutdown(
        &self,
        join_first: Vec<JoinHandle<Result<()>>>,
        ack: Option<oneshot::Sender<Result<()>>>,
    ) {
        let _ = self.tx.send(Msg::Shutdown { join_first, ack });
    }
}

/// Runs a command, naming SQLite errors and turning a panic into an error (with its
/// transaction rolled back, since nobody knows what state it left).
pub(crate) fn run_guarded<T>(
    state: &mut ConnState,
    f: impl FnOnce(&mut ConnState) -> Result<T>,
) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(|| f(state))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(Error::Sqlite(e))) => Err(connect::classify_error(&state.conn, e)),
        Ok(Err(e)) => Err(e),
        Err(payload) => {
            state.rollback_if_open();
            Err(Error::panicked(payload))
        }
    }
}

fn thread_main<R, F>(
    rx: mpsc::Receiver<Msg>,
    spin: Duration,
    open: F,
    ready: oneshot::Sender<Result<R>>,
) -> Result<()>
where
    F: FnOnce() -> Result<(Connection, R)>,
{
    let opened = catch_unwind(AssertUnwindSafe(open)).unwrap_or_else(|p| Err(Error::panicked(p)));
    let (mut conn, extra) = match opened {
        Ok(v) => v,
        Err(e) => {
            let _ = ready.send(Err(e));
            return Ok(());
        }
    };
    // The progress handler interrupts the running statement once its command is cancelled; the
    // commit hook turns any commit attempted after that into a rollback. Without the hook a
    // closure that ignores the interrupt error would run its next statement in autocommit
    // mode (SQLite rolled its transaction back) and commit it.
    let hooks = conn
        .progress_handler(PROGRESS_OPS, Some(progress))
        .and_then(|()| conn.commit_hook(Some(current_command_cancelled)));
    if let Err(e) = hooks {
        let _ = ready.send(Err(Error::Sqlite(e)));
        return Ok(());
    }
    let mut state = ConnState { conn, savepoints: 0 };
    if ready.send(Ok(extra)).is_err() {
        // Nobody is waiting for this connection any more (the open was abandoned).
        return close(state);
    }
    loop {
        match recv_spinning(&rx, spin) {
            None => return close(state),
            Some(Msg::Job { task, cancel }) => {
                if let Some(flag) = &cancel
                    && flag.load(Ordering::Acquire)
                {
                    // The caller went away before the command started: skip it.
                    continue;
                }
                CURRENT_CANCEL.with(|c| *c.borrow_mut() = cancel);
                task(&mut state);
                CURRENT_CANCEL.with(|c| *c.borrow_mut() = None);
            }
            Some(Msg::Shutdown { join_first, ack }) => {
                let mut result = Ok(());
                for handle in join_first {
                    let joined = handle.join().unwrap_or(Err(Error::ConnectionLost));
                    if result.is_ok() {
                        result = joined;
                    }
                }
                let closed = close(state);
                if result.is_ok() {
                    result = closed;
                }
                if let Some(ack) = ack {
                    let _ = ack.send(result);
                    return Ok(());
                }
                return result;
            }
        }
    }
}

/// Whether the command running on this connection thread has been cancelled (its caller went
/// away). Read by the progress handler and the commit hook, which run on this thread.
fn current_command_cancelled() -> bool {
    CURRENT_CANCEL.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Acquire))
    })
}

fn close(state: ConnState) -> Result<()> {
    let mut state = state;
    state.rollback_if_open();
    state.conn.close().map_err(|(_, e)| Error::Sqlite(e))
}

/// Takes the next message, busy-waiting up to `spin` before blocking. `None` once every sender
/// is gone.
fn recv_spinning(rx: &mpsc::Receiver<Msg>, spin: Duration) -> Option<Msg> {
    match rx.try_recv() {
        Ok(m) => return Some(m),
        Err(mpsc::TryRecvError::Disconnected) => return None,
        Err(mpsc::TryRecvError::Empty) => {}
    }
    if !spin.is_zero() {
        let start = Instant::now();
        let mut rounds = 0u32;
        loop {
            for _ in 0..32 {
                std::hint::spin_loop();
                match rx.try_recv() {
                    Ok(m) => return Some(m),
                    Err(mpsc::TryRecvError::Disconnected) => return None,
                    Err(mpsc::TryRecvError::Empty) => {}
                }
            }
            if start.elapsed() >= spin {
                break;
            }
            rounds += 1;
            // Past the first few microseconds, let other threads on this core run between polls.
            if rounds > 8 {
                thread::yield_now();
            }
        }
    }
    rx.recv().ok()
}
