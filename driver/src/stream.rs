//! Rows of a query, streamed from the connection thread with back-pressure.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

use crate::Result;

/// The rows of a query, as a [`Stream`] of `Result<T>`.
///
/// Rows are converted on the connection thread by the closure given to `query` and arrive in
/// chunks through a small bounded channel: when the consumer falls behind, the connection thread
/// waits. If the connection thread dies mid-query the stream ends with
/// [`Error::ConnectionLost`](crate::Error::ConnectionLost), never as if the rows had run out. The stream borrows its guard mutably, so the guard runs nothing else until the stream
/// is dropped. Dropping it early stops the query (interrupting it if it is mid-step); the
/// transaction stays open.
#[must_use = "a query does nothing useful unless its rows are read"]
pub struct RowStream<'g, T> {
    rx: mpsc::Receiver<Result<Vec<T>>>,
    buffered: std::vec::IntoIter<T>,
    cancel: Arc<AtomicBool>,
    /// Set by the connection thread once the query has ended and said so.
    finished: Arc<AtomicBool>,
    /// The stream has returned its last item.
    ended: bool,
    _guard: PhantomData<&'g mut ()>,
}

impl<T> RowStream<'_, T> {
    pub(crate) fn new(
        rx: mpsc::Receiver<Result<Vec<T>>>,
        cancel: Arc<AtomicBool>,
        finished: Arc<AtomicBool>,
    ) -> Self {
        RowStream {
            rx,
            buffered: Vec::new().into_iter(),
            cancel,
            finished,
            ended: false,
            _guard: PhantomData,
        }
    }

    /// The next row, or `None` after the last one. The same as `StreamExt::next`, without
    /// needing the trait in scope.
    ///
    /// # Errors
    /// An error from SQLite or from the row closure ends the stream.
    pub async fn try_next(&mut self) -> Result<Option<T>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .transpose()
    }

    /// Reads every remaining row into a `Vec`.
    ///
    /// # Errors
    /// The first error the stream yields.
    pub async fn collect_vec(mut self) -> Result<Vec<T>> {
        let mut out = Vec::new();
        while let Some(row) = self.try_next().await? {
            out.push(row);
        }
        Ok(out)
    }
}

// Rows are only moved out of the buffer, never pinned in place.
impl<T> Unpin for RowStream<'_, T> {}

impl<T> Stream for RowStream<'_, T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let this = self.get_mut();
        loop {
            if let Some(row) = this.buffered.next() {
                return Poll::Ready(Some(Ok(row)));
            }
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.buffered = chunk.into_iter(),
                Poll::Ready(Some(Err(e))) => {
                    this.rx.close();
                    this.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    if this.ended || this.finished.load(Ordering::Acquire) {
                        return Poll::Ready(None);
                    }
                    // The connection thread went away mid-query: say so rather than end as if
                    // the rows had run out.
                    this.ended = true;
                    return Poll::Ready(Some(Err(crate::Error::ConnectionLost)));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<T> Drop for RowStream<'_, T> {
    fn drop(&mut self) {
        // Stops the query if it is still stepping; a finished one is unaffected.
        self.cancel.store(true, Ordering::Release);
    }
}
