//! The reply side of a call to a connection thread, and a tiny executor for the blocking API.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::{Error, Result};

/// How long an adaptive spin waits before it gives up and parks.
pub(crate) const ADAPTIVE_WINDOW: Duration = Duration::from_micros(50);
/// While spinning does not pay, one hand-off in this many still tries it (to notice when it
/// would pay again).
const PROBE_EVERY: u32 = 32;
/// How many hits in a row spinning can bank.
const MAX_SCORE: u32 = 8;

/// Adaptive spinning: spin before parking only while recent spins caught the hand-off.
///
/// Spinning needs a free core: while more threads are runnable than there are cores, nobody
/// spins. Otherwise, a spin that catches its message within [`ADAPTIVE_WINDOW`] is a hit and
/// keeps spinning on; a miss stops it. While stopped, one hand-off in [`PROBE_EVERY`] spins anyway, as a probe. On
/// idle cores, where a parked thread's wake-up costs tens of microseconds, nearly every spin
/// hits and both hand-offs of a call cost a few microseconds; when the cores are busy the
/// other side cannot run while we spin, spins miss and the thread parks, as without spinning.
#[derive(Debug, Default)]
pub(crate) struct Adaptive {
    score: AtomicU32,
    turns: AtomicU32,
}

impl Adaptive {
    /// Whether this hand-off should spin: recent spins paid (or it is a probe's turn) and
    /// every runnable thread has a core.
    pub(crate) fn should_spin(&self) -> bool {
        self.wants_to_spin() && cores_free()
    }

    fn wants_to_spin(&self) -> bool {
        self.score.load(Ordering::Relaxed) > 0
            || self
                .turns
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(PROBE_EVERY)
    }

    /// Records whether a spin caught its hand-off.
    pub(crate) fn record(&self, hit: bool) {
        if hit {
            let score = self.score.load(Ordering::Relaxed);
            if score < MAX_SCORE {
                self.score.store(score + 1, Ordering::Relaxed);
            }
        } else {
            self.score.store(0, Ordering::Relaxed);
        }
    }
}

/// Whether the caller may spin on its thread without holding up other tasks: outside a
/// runtime, or in one with no more tasks alive than worker threads.
fn caller_may_spin() -> bool {
    match tokio::runtime::Handle::try_current() {
        Err(_) => true,
        Ok(handle) => {
            let metrics = handle.metrics();
            metrics.num_alive_tasks() <= metrics.num_workers()
        }
    }
}

/// How often the machine's run queue is sampled, at most.
const LOAD_SAMPLE_EVERY: Duration = Duration::from_millis(1);

/// When the run queue was last sampled (µs since [`epoch`]).
static LOAD_SAMPLED_AT: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn cores() -> u32 {
    static CORES: OnceLock<u32> = OnceLock::new();
    *CORES.get_or_init(|| {
        std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
    })
}

/// How many consecutive samples must find every runnable thread on a core before anyone spins.
const FREE_SAMPLES: u32 = 2;
/// How long nobody spins after a sample found the cores busy or a spinner was preempted.
const COOL_DOWN: Duration = Duration::from_millis(5);
/// A gap this long between two polls of a spin means the spinner lost its core.
const PREEMPTED: Duration = Duration::from_micros(20);

/// Consecutive samples that found the cores free, and until when (µs since [`epoch`]) nobody
/// spins.
static FREE_STREAK: AtomicU32 = AtomicU32::new(0);
static COOL_UNTIL: AtomicU64 = AtomicU64::new(0);

fn now_us() -> u64 {
    u64::try_from(epoch().elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Nobody spins for a while: the cores are busy, or a spinner was just preempted (spinning
/// then takes the core that the thread it waits for needs).
pub(crate) fn cool_down() {
    FREE_STREAK.store(0, Ordering::Relaxed);
    let until = now_us().saturating_add(u64::try_from(COOL_DOWN.as_micros()).unwrap_or(u64::MAX));
    COOL_UNTIL.store(until, Ordering::Relaxed);
}

/// Whether every runnable thread of the machine has had a core for a while, so that a spinning
/// thread takes nobody's: the number of runnable threads (the fourth field of Linux's
/// `/proc/loadavg`, the spinner included) was at most the number of cores in the last
/// [`FREE_SAMPLES`] samples, and no spinner was preempted in the last [`COOL_DOWN`]. Sampled at
/// most once a millisecond for the whole process; where the file does not exist, the cores
/// count as free and only preemption and the hits and misses of [`Adaptive`] decide.
pub(crate) fn cores_free() -> bool {
    let now = now_us();
    let last = LOAD_SAMPLED_AT.load(Ordering::Relaxed);
    let every = u64::try_from(LOAD_SAMPLE_EVERY.as_micros()).unwrap_or(u64::MAX);
    if (last == 0 || now.saturating_sub(last) >= every)
        && LOAD_SAMPLED_AT
            .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        match runnable_threads() {
            Some(n) if n > cores() => cool_down(),
            _ => {
                let _ = FREE_STREAK.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                    Some(s.saturating_add(1))
                });
            }
        }
    }
    FREE_STREAK.load(Ordering::Relaxed) >= FREE_SAMPLES && now >= COOL_UNTIL.load(Ordering::Relaxed)
}

/// Tracks a spin's polls: `false` (and a cool-down) once the spinner has lost its core.
pub(crate) struct SpinClock {
    last: Instant,
}

impl SpinClock {
    pub(crate) fn start() -> SpinClock {
        SpinClock { last: Instant::now() }
    }

    /// Called between rounds of polling; `false` if this spin should stop.
    pub(crate) fn still_on_core(&mut self) -> bool {
        let now = Instant::now();
        let gap = now.duration_since(self.last);
        self.last = now;
        if gap >= PREEMPTED {
            cool_down();
            return false;
        }
        true
    }
}

/// Runnable threads right now, from `/proc/loadavg` ("0.52 0.58 0.59 3/467 12345").
fn runnable_threads() -> Option<u32> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let field = text.split_whitespace().nth(3)?;
    field.split('/').next()?.parse().ok()
}

/// How the caller of one connection waits for its replies.
#[derive(Debug, Clone)]
pub(crate) enum ReplyWait {
    /// Park at once (no spinning).
    Park,
    /// Spin this long, then park.
    Spin(Duration),
    /// Spin adaptively (shared by every caller of the connection).
    Adaptive(Arc<Adaptive>),
}

/// The future of one command's reply.
///
/// On its first poll it busy-waits up to `spin` for the reply, which for a short statement on a
/// connection thread that is itself spinning arrives in a few microseconds; only then does it
/// register its waker and sleep. Dropping it before the reply arrives tells the connection
/// thread to skip or interrupt the command.
pub(crate) struct Call<T> {
    rx: oneshot::Receiver<Result<T>>,
    cancel: Option<Arc<AtomicBool>>,
    wait: ReplyWait,
    spun: bool,
    done: bool,
}

impl<T> Call<T> {
    pub(crate) fn new(
        rx: oneshot::Receiver<Result<T>>,
        cancel: Option<Arc<AtomicBool>>,
        wait: ReplyWait,
    ) -> Call<T> {
        Call {
            rx,
            cancel,
            wait,
            spun: false,
            done: false,
        }
    }

    /// The first poll's spin, if this call should spin: `Some(reply)` if it came meanwhile.
    fn spin_first(&mut self) -> Option<Result<T>> {
        match &self.wait {
            ReplyWait::Park => None,
            ReplyWait::Spin(spin) => spin_recv(&mut self.rx, *spin),
            ReplyWait::Adaptive(adaptive) => {
                if !(adaptive.should_spin() && caller_may_spin()) {
                    return None;
                }
                let got = spin_recv(&mut self.rx, ADAPTIVE_WINDOW);
                adaptive.record(got.is_some());
                got
            }
        }
    }
}

/// Busy-waits up to `spin` for a value on `rx`; `None` if none came.
fn spin_recv<T>(rx: &mut oneshot::Receiver<Result<T>>, spin: Duration) -> Option<Result<T>> {
    if spin.is_zero() {
        return None;
    }
    let start = Instant::now();
    let mut clock = SpinClock::start();
    loop {
        for _ in 0..32 {
            match rx.try_recv() {
                Ok(v) => return Some(v),
                Err(oneshot::error::TryRecvError::Closed) => return Some(Err(Error::ConnectionLost)),
                Err(oneshot::error::TryRecvError::Empty) => std::hint::spin_loop(),
            }
        }
        if start.elapsed() >= spin || !clock.still_on_core() {
            return None;
        }
    }
}

impl<T> Future for Call<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.get_mut();
        if !this.spun {
            this.spun = true;
            if let Some(v) = this.spin_first() {
                this.done = true;
                return Poll::Ready(v);
            }
        }
        match Pin::new(&mut this.rx).poll(cx) {
            Poll::Ready(v) => {
                this.done = true;
                Poll::Ready(v.unwrap_or(Err(Error::ConnectionLost)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for Call<T> {
    fn drop(&mut self) {
        if !self.done
            && let Some(cancel) = &self.cancel
        {
            cancel.store(true, Ordering::Release);
        }
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    static WAKER: Waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
}

/// What a blocking call on a current-thread runtime's own thread panics with.
pub(crate) const CURRENT_THREAD_PANIC: &str = "sqlvault_driver::blocking was called on the thread of a \
current-thread tokio runtime: blocking there stops every task of that runtime and deadlocks as soon as \
one of them holds the connection the call waits for. Use the async API there, or call the blocking \
API through tokio::task::spawn_blocking (or from a multi-thread runtime).";

/// Runs a future to completion on the calling thread, for the blocking API.
///
/// Outside any tokio runtime it parks the thread between polls. Inside one it goes through
/// [`tokio::task::block_in_place`]: on a multi-thread runtime's worker that first hands the
/// worker's other tasks (including the one in its LIFO slot, which no other worker could steal)
/// to a new worker thread, so a task this call waits for can still run; on a thread that only
/// entered a runtime (its blocking pool, `Runtime::enter`) it just runs. On a current-thread
/// runtime's own thread blocking cannot be safe, and this panics at once with
/// [`CURRENT_THREAD_PANIC`] (after tokio's own panic message, which it turns into this one).
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    if tokio::runtime::Handle::try_current().is_err() {
        return park_on(fut);
    }
    let mut slot = Some(fut);
    let ran = catch_unwind(AssertUnwindSafe(|| {
        tokio::task::block_in_place(|| match slot.take() {
            Some(fut) => park_on(fut),
            None => unreachable!("the future is taken once"),
        })
    }));
    match ran {
        Ok(v) => v,
        // `block_in_place` refused before running the future: a current-thread runtime.
        Err(_) if slot.is_some() => panic!("{CURRENT_THREAD_PANIC}"),
        Err(payload) => resume_unwind(payload),
    }
}

/// Polls `fut` to completion, parking the calling thread between polls. The driver's futures
/// only wait on channels and semaphores fed by other threads, so they need no runtime.
fn park_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
            thread::park();
        }
    })
}
