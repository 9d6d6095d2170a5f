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
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tracing::{Instrument, Span};

use crate::call::{ADAPTIVE_WINDOW, Adaptive, Call, ReplyWait, SpinClock};
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

/// A command on its way to a connection thread, not yet sent. If the thread turns out to be
/// gone, sending gives it back, so it can go to another connection.
pub(crate) struct Job {
    task: Task,
    /// Set when the caller no longer wants the result.
    cancel: Option<Arc<AtomicBool>>,
    /// The command's span, entered on the connection thread while it runs.
    span: Span,
}

/// A slot in a connection's queue: the bound on how many commands wait there.
pub(crate) type QueueSlot = OwnedSemaphorePermit;

enum Msg {
    Job {
        job: Job,
        /// `sqlvault.queued`, a child of the command's span: open from the moment the command is
        /// queued until the connection thread takes it, so it times the wait in the queue.
        queued: Span,
        /// Released once the command has run. `None` for the few commands that bypass
        /// the bound (the rollback a guard's drop queues, row streams: at most one per guard).
        _slot: Option<QueueSlot>,
    },
    Shutdown {
        /// Threads to wait for before closing (the readers, so that the writer closes last and
        /// its close checkpoints the WAL).
        join_first: Vec<JoinHandle<Result<()>>>,
        ack: Option<oneshot::Sender<Result<()>>>,
    },
    /// Test support: the thread dies as a panic outside `catch_unwind` would make it.
    Die,
}

/// A started connection thread: its handle, its join handle, and the receiver of its
/// readiness (what `open` returned besides the connection, or why it failed).
pub(crate) type Spawned<R> = (ConnHandle, JoinHandle<Result<()>>, oneshot::Receiver<Result<R>>);

/// The sending side of a connection thread. Clones talk to the same thread.
#[derive(Clone)]
pub(crate) struct ConnHandle {
    tx: mpsc::Sender<Msg>,
    /// How callers wait for replies.
    wait: ReplyWait,
    /// Which pool the thread belongs to (for [`Error::Reentrant`]).
    pool: u64,
    /// Free slots in the thread's queue (a slot is held until its command has run).
    slots: Arc<Semaphore>,
    capacity: usize,
    /// Cleared once the thread has exited (or is exiting and takes no more commands).
    alive: Arc<AtomicBool>,
}

thread_local! {
    /// The cancel flag of the command running on this connection thread, read by the progress
    /// handler. Thread-local because the handler runs on the connection's own thread.
    static CURRENT_CANCEL: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
    /// The row stream running on this thread, if any: how to send its partly filled chunk, and
    /// when that chunk must go. The progress handler sends it while SQLite is busy between rows.
    static STREAM_FLUSH: RefCell<Option<Box<dyn FnMut()>>> = const { RefCell::new(None) };
    static FLUSH_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The pool this thread is a connection thread of, if it is one.
    static POOL: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Whether the calling thread is one of pool `pool`'s connection threads. Such a thread must
/// never wait for the pool: it may be the very thread the wait depends on.
pub(crate) fn on_pool_thread(pool: u64) -> bool {
    POOL.with(|p| p.get() == Some(pool))
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

/// How a connection thread is started.
pub(crate) struct SpawnOptions {
    pub(crate) name: String,
    pub(crate) pool: u64,
    pub(crate) spin: Duration,
    pub(crate) reply_spin: Duration,
    pub(crate) adaptive_spin: bool,
    pub(crate) queue_capacity: usize,
}

impl ConnHandle {
    /// Starts a connection thread. `open` runs on the new thread; what it returns besides the
    /// connection is delivered through the returned receiver once the thread is ready.
    pub(crate) fn spawn<R, F>(options: SpawnOptions, open: F) -> Result<Spawned<R>>
    where
        R: Send + 'static,
        F: FnOnce() -> Result<(Connection, R)> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let alive = Arc::new(AtomicBool::new(true));
        let exit = Exit {
            rx: Some(rx),
            alive: Arc::clone(&alive),
        };
        let pool = options.pool;
        let wait = idle_wait(options.spin, options.adaptive_spin);
        let join = thread::Builder::new()
            .name(options.name)
            .spawn(move || thread_main(exit, pool, wait, open, ready_tx))?;
        let handle = ConnHandle {
            tx,
            wait: reply_wait(options.reply_spin, options.adaptive_spin),
            pool,
            slots: Arc::new(Semaphore::new(options.queue_capacity)),
            capacity: options.queue_capacity,
            alive,
        };
        Ok((handle, join, ready_rx))
    }

    /// Whether the thread still takes commands.
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// How many commands that took a slot are queued or running.
    pub(crate) fn busy(&self) -> usize {
        self.capacity.saturating_sub(self.slots.available_permits())
    }

    /// Whether two handles talk to the same thread.
    pub(crate) fn same_thread(&self, other: &ConnHandle) -> bool {
        Arc::ptr_eq(&self.alive, &other.alive)
    }

    /// Fails with [`Error::Reentrant`] on one of this pool's own connection threads.
    pub(crate) fn check_not_reentrant(&self) -> Result<()> {
        if on_pool_thread(self.pool) {
            return Err(Error::Reentrant);
        }
        Ok(())
    }

    /// A free slot in the queue, if there is one now.
    pub(crate) fn try_reserve(&self) -> Option<QueueSlot> {
        Arc::clone(&self.slots).try_acquire_owned().ok()
    }

    /// Waits for a free slot in the queue (first come, first served), in a
    /// `sqlvault.queue_wait` span under `parent`, the command's span.
    pub(crate) async fn reserve(&self, parent: &Span) -> Result<QueueSlot> {
        Arc::clone(&self.slots)
            .acquire_owned()
            .instrument(tracing::trace_span!(parent: parent, "sqlvault.queue_wait", on = "queue slot"))
            .await
            .map_err(|_| Error::ConnectionLost)
    }

    /// Queues `f` (after waiting for a slot in the queue) and waits for its result. If
    /// `interruptible`, dropping the future skips the command if it has not started, and
    /// interrupts its statement if it has.
    pub(crate) async fn call<T, F>(&self, interruptible: bool, span: Span, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut ConnState) -> Result<T> + Send + 'static,
    {
        self.check_not_reentrant()?;
        let slot = match self.try_reserve() {
            Some(slot) => slot,
            None => self.reserve(&span).await?,
        };
        let (job, reply) = command(interruptible, span, f);
        self.send(job, Some(slot)).map_err(|_| Error::ConnectionLost)?;
        reply.into_call(self).await
    }

    /// Queues a command nobody waits for (rollbacks of dropped guards). It needs no slot, so a
    /// `Drop` can queue it, and it never waits.
    pub(crate) fn fire(&self, span: Span, f: impl FnOnce(&mut ConnState) + Send + 'static) {
        let _ = self.send(
            Job {
                task: Box::new(f),
                cancel: None,
                span,
            },
            None,
        );
    }

    /// Queues a command with its own way of replying (row streams), without a slot. `cancel`
    /// as for [`call`].
    ///
    /// [`call`]: ConnHandle::call
    pub(crate) fn send_job(
        &self,
        cancel: Option<Arc<AtomicBool>>,
        span: Span,
        f: impl FnOnce(&mut ConnState) + Send + 'static,
    ) {
        let _ = self.send(
            Job {
                task: Box::new(f),
                cancel,
                span,
            },
            None,
        );
    }

    /// Sends a command; gives it back if the thread is gone (and marks the thread dead).
    pub(crate) fn send(&self, job: Job, slot: Option<QueueSlot>) -> std::result::Result<(), Job> {
        let queued = tracing::trace_span!(parent: &job.span, "sqlvault.queued");
        match self.tx.send(Msg::Job {
            job,
            queued,
            _slot: slot,
        }) {
            Ok(()) => Ok(()),
            Err(mpsc::SendError(msg)) => {
                self.alive.store(false, Ordering::Release);
                match msg {
                    Msg::Job { job, .. } => Err(job),
                    // Only jobs are sent here.
                    Msg::Shutdown { .. } | Msg::Die => unreachable!("send only sends jobs"),
                }
            }
        }
    }

    /// Asks the thread to close its connection after the commands already queued.
    pub(crate) fn shutdown(
        &self,
        join_first: Vec<JoinHandle<Result<()>>>,
        ack: Option<oneshot::Sender<Result<()>>>,
    ) {
        let _ = self.tx.send(Msg::Shutdown { join_first, ack });
    }

    /// Test support: makes the thread die, as a panic outside `catch_unwind` would.
    pub(crate) fn kill(&self) {
        let _ = self.tx.send(Msg::Die);
    }
}

/// Builds a command that runs `f` and replies with its result, and the future of that reply.
pub(crate) fn command<T, F>(interruptible: bool, span: Span, f: F) -> (Job, CallReply<T>)
where
    T: Send + 'static,
    F: FnOnce(&mut ConnState) -> Result<T> + Send + 'static,
{
    let (reply, rx) = oneshot::channel();
    let cancel = interruptible.then(|| Arc::new(AtomicBool::new(false)));
    let task = move |state: &mut ConnState| {
        let started = Instant::now();
        let result = run_guarded(state, f);
        tracing::trace!(
            elapsed_us = started.elapsed().as_micros() as u64,
            "statement done"
        );
        let _ = reply.send(result);
    };
    let job = Job {
        task: Box::new(task),
        cancel: cancel.clone(),
        span,
    };
    (job, CallReply { rx, cancel })
}

/// The reply side of a [`command`] before it becomes a [`Call`] (which needs the handle's spin
/// setting).
pub(crate) struct CallReply<T> {
    rx: oneshot::Receiver<Result<T>>,
    cancel: Option<Arc<AtomicBool>>,
}

impl<T> CallReply<T> {
    /// The future of the reply, once the command is sent to `conn`.
    pub(crate) fn into_call(self, conn: &ConnHandle) -> Call<T> {
        Call::new(self.rx, self.cancel, conn.wait.clone())
    }
}

/// The receiving side of a connection thread, owned by the thread. Dropping it (when the thread
/// exits, normally or by a panic) first disconnects the queue, so later sends fail and come
/// back, then marks the thread dead.
struct Exit {
    rx: Option<mpsc::Receiver<Msg>>,
    alive: Arc<AtomicBool>,
}

impl Drop for Exit {
    fn drop(&mut self) {
        drop(self.rx.take());
        self.alive.store(false, Ordering::Release);
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
    exit: Exit,
    pool: u64,
    wait: ReplyWait,
    open: F,
    ready: oneshot::Sender<Result<R>>,
) -> Result<()>
where
    F: FnOnce() -> Result<(Connection, R)>,
{
    POOL.with(|p| p.set(Some(pool)));
    let opened = catch_unwind(AssertUnwindSafe(open)).unwrap_or_else(|p| Err(Error::panicked(p)));
    let (mut conn, extra) = match opened {
        Ok(v) => v,
        Err(e) => {
            // Nobody waits for a replacement's open: say why it failed.
            if let Err(Err(e)) = ready.send(Err(e)) {
                tracing::error!(error = %e, "a connection thread could not open its connection");
            }
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
    // Nobody may be waiting (an abandoned open, or a replacement thread): then the loop below
    // ends as soon as every handle is gone.
    let _ = ready.send(Ok(extra));
    let Some(rx) = exit.rx.as_ref() else {
        return close(state);
    };
    loop {
        match recv_spinning(rx, &wait) {
            None => return close(state),
            // The slot is freed once the command has run (or been skipped).
            Some(Msg::Job { job, queued, _slot }) => {
                // Out of the queue: that wait is over.
                drop(queued);
                let Job { task, cancel, span } = job;
                if let Some(flag) = &cancel
                    && flag.load(Ordering::Acquire)
                {
                    // The caller went away before the command started: skip it.
                    continue;
                }
                CURRENT_CANCEL.with(|c| *c.borrow_mut() = cancel);
                // Commands catch their own panics; this catches what happens around them (a
                // reply value whose drop panics after its caller left, a panicking tracing
                // subscriber), so that the thread keeps serving.
                let ran = catch_unwind(AssertUnwindSafe(|| {
                    let _entered = span.enter();
                    task(&mut state);
                }));
                if let Err(payload) = ran {
                    tracing::error!(
                        panic = %Error::panicked(payload),
                        "a command panicked outside its own guard; the connection keeps serving"
                    );
                }
                CURRENT_CANCEL.with(|c| *c.borrow_mut() = None);
            }
            Some(Msg::Shutdown { join_first, ack }) => {
                let mut result = Ok(());
                for handle in join_first {
                    // A thread that died (a panic) has no connection left to close.
                    let joined = handle.join().unwrap_or_else(|_| {
                        tracing::warn!("a connection thread had died before the pool closed");
                        Ok(())
                    });
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
            Some(Msg::Die) => {
                // As a panic outside `catch_unwind` would: unwinding drops the connection (and
                // rolls back whatever it had open), then `exit` marks the thread dead.
                std::panic::resume_unwind(Box::new("connection thread killed on purpose (test)"));
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

/// How a connection thread waits for its next command: a fixed spin, adaptive spinning, or
/// none.
fn idle_wait(spin: Duration, adaptive: bool) -> ReplyWait {
    if !spin.is_zero() {
        ReplyWait::Spin(spin)
    } else if adaptive {
        ReplyWait::Adaptive(Arc::new(Adaptive::default()))
    } else {
        ReplyWait::Park
    }
}

/// How the callers of a connection wait for its replies (adaptive state shared among them).
fn reply_wait(spin: Duration, adaptive: bool) -> ReplyWait {
    idle_wait(spin, adaptive)
}

/// Takes the next message, busy-waiting as `wait` says before blocking. `None` once every
/// sender is gone.
fn recv_spinning(rx: &mpsc::Receiver<Msg>, wait: &ReplyWait) -> Option<Msg> {
    match rx.try_recv() {
        Ok(m) => return Some(m),
        Err(mpsc::TryRecvError::Disconnected) => return None,
        Err(mpsc::TryRecvError::Empty) => {}
    }
    let spun = match wait {
        ReplyWait::Park => Err(true),
        ReplyWait::Spin(spin) => spin_for(rx, *spin),
        ReplyWait::Adaptive(adaptive) => {
            let spun = if adaptive.should_spin() {
                let spun = spin_for(rx, ADAPTIVE_WINDOW);
                // A hit is a message, or the end of the queue: both came while spinning.
                adaptive.record(!matches!(spun, Err(true)));
                spun
            } else {
                Err(true)
            };
            match spun {
                // Yielding while other threads want the cores would put this thread at the
                // back of the queue, far from the wake-up a parked thread gets.
                Err(true) if crate::call::cores_free() => snooze(rx),
                other => other,
            }
        }
    };
    match spun {
        Ok(m) => Some(m),
        Err(false) => None,
        Err(true) => rx.recv().ok(),
    }
}

/// The short back-off before parking that crossbeam's channels do (and std's do not): a
/// microsecond of spinning, then a few `yield_now`s, which cost nothing when other threads
/// want the core and catch a command that follows its predecessor's reply closely when
/// nobody does. Same results as [`spin_for`].
fn snooze(rx: &mpsc::Receiver<Msg>) -> std::result::Result<Msg, bool> {
    for step in 0..=SNOOZE_STEPS {
        if step <= SPIN_STEPS {
            for _ in 0..(1u32 << step) {
                std::hint::spin_loop();
            }
        } else {
            thread::yield_now();
        }
        match rx.try_recv() {
            Ok(m) => return Ok(m),
            Err(mpsc::TryRecvError::Disconnected) => return Err(false),
            Err(mpsc::TryRecvError::Empty) => {}
        }
    }
    Err(true)
}

/// [`snooze`]: steps that spin `2^step` times, and the last step (the others yield).
const SPIN_STEPS: u32 = 6;
const SNOOZE_STEPS: u32 = 10;

/// Busy-waits up to `spin` for a message: `Ok` with it, `Err(false)` once every sender is gone,
/// `Err(true)` if none came.
fn spin_for(rx: &mpsc::Receiver<Msg>, spin: Duration) -> std::result::Result<Msg, bool> {
    let start = Instant::now();
    let mut clock = SpinClock::start();
    let mut rounds = 0u32;
    loop {
        for _ in 0..32 {
            std::hint::spin_loop();
            match rx.try_recv() {
                Ok(m) => return Ok(m),
                Err(mpsc::TryRecvError::Disconnected) => return Err(false),
                Err(mpsc::TryRecvError::Empty) => {}
            }
        }
        if start.elapsed() >= spin {
            return Err(true);
        }
        if !clock.still_on_core() {
            // Preempted: whatever we wait for needs the core more than we do.
            return Err(true);
        }
        rounds += 1;
        // Past the first few microseconds, let other threads on this core run between polls.
        if rounds > 8 {
            thread::yield_now();
        }
    }
}
