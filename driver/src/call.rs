//! The reply side of a call to a connection thread, and a tiny executor for the blocking API.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::{Error, Result};

/// The future of one command's reply.
///
/// On its first poll it busy-waits up to `spin` for the reply, which for a short statement on a
/// connection thread that is itself spinning arrives in a few microseconds; only then does it
/// register its waker and sleep. Dropping it before the reply arrives tells the connection
/// thread to skip or interrupt the command.
pub(crate) struct Call<T> {
    rx: oneshot::Receiver<Result<T>>,
    cancel: Option<Arc<AtomicBool>>,
    spin: Duration,
    spun: bool,
    done: bool,
}

impl<T> Call<T> {
    pub(crate) fn new(
        rx: oneshot::Receiver<Result<T>>,
        cancel: Option<Arc<AtomicBool>>,
        spin: Duration,
    ) -> Call<T> {
        Call {
            rx,
            cancel,
            spin,
            spun: false,
            done: false,
        }
    }
}

/// Busy-waits up to `spin` for a value on `rx`; `None` if none came.
fn spin_recv<T>(rx: &mut oneshot::Receiver<Result<T>>, spin: Duration) -> Option<Result<T>> {
    if spin.is_zero() {
        return None;
    }
    let start = Instant::now();
    loop {
        for _ in 0..32 {
            match rx.try_recv() {
                Ok(v) => return Some(v),
                Err(oneshot::error::TryRecvError::Closed) => return Some(Err(Error::ConnectionLost)),
                Err(oneshot::error::TryRecvError::Empty) => std::hint::spin_loop(),
            }
        }
        if start.elapsed() >= spin {
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
            if let Some(v) = spin_recv(&mut this.rx, this.spin) {
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
