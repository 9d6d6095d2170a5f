//! The reply side of a call to a connection thread, and a tiny executor for the blocking API.

use std::future::Future;
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

/// Runs a future to completion on the calling thread, parking it between polls.
///
/// The driver's futures only wait on channels fed by connection threads, so they need no runtime.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
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
