//! What every guard shares: a leased connection with a transaction open on it, and the
//! statements that run there.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Params, Row};
use tokio::sync::mpsc;

use crate::Result;
use crate::database::Lease;
use crate::stream::RowStream;
use crate::worker::{self, ConnHandle, ConnState, run_guarded};

/// Which kind of connection a guard holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Read,
    Write,
}

/// Rows per chunk sent from the connection thread to a [`RowStream`], at most.
const MAX_CHUNK: usize = 256;
/// Chunks in flight between the connection thread and a [`RowStream`]: the back-pressure bound.
const CHUNKS_IN_FLIGHT: usize = 2;
/// A partly filled chunk is sent anyway once it is this old, so slow queries still trickle.
const CHUNK_MAX_AGE: Duration = Duration::from_millis(1);

/// A leased connection with a transaction open on it.
pub(crate) struct Session {
    lease: Lease,
    /// Savepoints open through guards (the innermost one is `sqlvault_sp_{depth}`).
    pub(crate) depth: u32,
}

/// The name of the driver's savepoint at `depth`.
pub(crate) fn savepoint_name(depth: u32) -> String {
    format!("sqlvault_sp_{depth}")
}

impl Session {
    /// Opens the transaction on a fresh lease: `BEGIN` plus a read that pins the snapshot for a
    /// reader, `BEGIN IMMEDIATE` for the writer.
    pub(crate) async fn begin(mut lease: Lease, kind: Kind) -> Result<Session> {
        lease.dirty = true;
        let span = tracing::debug_span!("sqlvault.begin");
        lease
            .conn()
            .call(true, span, move |state: &mut ConnState| {
                match kind {
                    Kind::Read => {
                        state.conn.prepare_cached("BEGIN")?.execute([])?;
                        // A deferred transaction takes its snapshot at its first read: take it now.
                        state
                            .conn
                            .prepare_cached("PRAGMA schema_version")?
                            .query_row([], |_| Ok(()))?;
                    }
                    Kind::Write => {
                        state.conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
                    }
                }
                state.savepoints = 0;
                Ok(())
            })
            .await?;
        Ok(Session { lease, depth: 0 })
    }

    pub(crate) fn conn(&self) -> &ConnHandle {
        self.lease.conn()
    }

    /// Marks the transaction as properly ended (no rollback needed when the lease drops).
    pub(crate) fn mark_clean(&mut self) {
        self.lease.dirty = false;
    }

    /// Runs a statement job inside the open transaction.
    async fn run<T, F>(&mut self, span: tracing::Span, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T> + Send + 'static,
    {
        self.conn()
            .call(true, span, move |state: &mut ConnState| {
                state.require_tx()?;
                f(&state.conn)
            })
            .await
    }

    pub(crate) async fn execute<P>(&mut self, sql: Cow<'static, str>, params: P) -> Result<usize>
    where
        P: Params + Send + 'static,
    {
        let span = tracing::debug_span!("sqlvault.statement", op = "execute", sql = %sql);
        self.run(span, move |conn| {
            Ok(conn.prepare_cached(&sql)?.execute(params)?)
        })
        .await
    }

    pub(crate) async fn execute_many<I>(&mut self, sql: Cow<'static, str>, params: I) -> Result<usize>
    where
        I: IntoIterator + Send + 'static,
        I::IntoIter: Send,
        I::Item: Params + Send,
    {
        let span = tracing::debug_span!("sqlvault.statement", op = "execute_many", sql = %sql);
        self.run(span, move |conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut changed = 0;
            for p in params {
                changed += stmt.execute(p)?;
            }
            Ok(changed)
        })
        .await
    }

    pub(crate) async fn column_names(&mut self, sql: Cow<'static, str>) -> Result<Vec<String>> {
        let span = tracing::debug_span!("sqlvault.statement", op = "column_names", sql = %sql);
        self.run(span, move |conn| {
            let stmt = conn.prepare_cached(&sql)?;
            Ok(stmt.column_names().map(str::to_owned).collect())
        })
        .await
    }

    pub(crate) async fn execute_batch(&mut self, sql: Cow<'static, str>) -> Result<()> {
        let span = tracing::debug_span!("sqlvault.statement", op = "execute_batch", sql = %sql);
        self.run(span, move |conn| Ok(conn.execute_batch(&sql)?)).await
    }

    pub(crate) async fn query_row<T, P, F>(&mut self, sql: Cow<'static, str>, params: P, map: F) -> Result<T>
    where
        T: Send + 'static,
        P: Params + Send + 'static,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        let span = tracing::debug_span!("sqlvault.statement", op = "query_row", sql = %sql);
        self.run(span, move |conn| {
            Ok(conn.prepare_cached(&sql)?.query_row(params, map)?)
        })
        .await
    }

    pub(crate) fn query<T, P, F>(&mut self, sql: Cow<'static, str>, params: P, mut map: F) -> RowStream<'_, T>
    where
        T: Send + 'static,
        P: Params + Send + 'static,
        F: FnMut(&Row<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        let span = tracing::debug_span!("sqlvault.statement", op = "query", sql = %sql);
        let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let cancel = Arc::new(AtomicBool::new(false));
        // Set once the query has ended and said so (last rows or an error sent): a channel that
        // closes without it means the connection thread died, not that the rows ran out.
        let finished = Arc::new(AtomicBool::new(false));
        if let Err(e) = self.conn().check_not_reentrant() {
            // Reading the rows here would wait on a connection thread from one of them.
            let _ = tx.try_send(Err(e));
            finished.store(true, Ordering::Release);
            return RowStream::new(rx, cancel, finished);
        }
        let tx_err = tx.clone();
        let done = Arc::clone(&finished);
        self.conn()
            .send_job(Some(cancel.clone()), span, move |state: &mut ConnState| {
                let streamed = run_guarded(state, |state| {
                    state.require_tx()?;
                    stream_rows(&state.conn, &sql, params, &mut map, &tx)
                });
                if let Err(e) = streamed {
                    let _ = tx_err.blocking_send(Err(e));
                }
                done.store(true, Ordering::Release);
            });
        RowStream::new(rx, cancel, finished)
    }
}

/// A row stream's partly filled chunk, shared between the loop that fills it and the flush
/// the progress handler may run while SQLite works on the next row.
struct Pending<T> {
    rows: Vec<T>,
    /// When the oldest row in `rows` was added.
    since: Option<Instant>,
    /// How many rows make the current chunk full.
    target: usize,
    /// The consumer has gone away.
    gone: bool,
}

/// Sends the pending chunk, if any; marks the stream gone if the consumer has left.
fn flush<T>(pending: &RefCell<Pending<T>>, tx: &mpsc::Sender<Result<Vec<T>>>) {
    let rows = {
        let mut p = pending.borrow_mut();
        if p.rows.is_empty() || p.gone {
            return;
        }
        p.since = None;
        let capacity = p.target;
        std::mem::replace(&mut p.rows, Vec::with_capacity(capacity))
    };
    worker::arm_stream_flush(None);
    if tx.blocking_send(Ok(rows)).is_err() {
        pending.borrow_mut().gone = true;
    }
}

/// Unregisters the stream's flush from the progress handler, however `stream_rows` ends.
struct FlushRegistration;

impl Drop for FlushRegistration {
    fn drop(&mut self) {
        worker::set_stream_flush(None);
    }
}

/// Runs a query and sends its rows in chunks, blocking while the consumer is behind.
/// Returns early (`Ok`) if the consumer has gone away.
///
/// A chunk is sent when it is full (1 row, then twice as many each time, up to
/// [`MAX_CHUNK`]) or when its oldest row is [`CHUNK_MAX_AGE`] old: checked at every row, and
/// by the progress handler while SQLite works towards the next one.
fn stream_rows<T, P, F>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: P,
    map: &mut F,
    tx: &mpsc::Sender<Result<Vec<T>>>,
) -> Result<()>
where
    T: Send + 'static,
    P: Params,
    F: FnMut(&Row<'_>) -> rusqlite::Result<T>,
{
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let pending = Rc::new(RefCell::new(Pending {
        rows: Vec::with_capacity(1),
        since: None,
        target: 1,
        gone: false,
    }));
    {
        let (pending, tx) = (Rc::clone(&pending), tx.clone());
        worker::set_stream_flush(Some(Box::new(move || flush(&pending, &tx))));
    }
    let _registered = FlushRegistration;
    let streamed = stream_each(&mut rows, map, &pending, tx);
    // Rows read before an error are delivered before it.
    flush(&pending, tx);
    streamed
}

fn stream_each<T, F>(
    rows: &mut rusqlite::Rows<'_>,
    map: &mut F,
    pending: &RefCell<Pending<T>>,
    tx: &mpsc::Sender<Result<Vec<T>>>,
) -> Result<()>
where
    F: FnMut(&Row<'_>) -> rusqlite::Result<T>,
{
    while let Some(row) = rows.next()? {
        if pending.borrow().gone {
            // The consumer left while the progress handler was sending: convert no more rows.
            return Ok(());
        }
        let value = map(row)?;
        let now = Instant::now();
        let send = {
            let mut p = pending.borrow_mut();
            if p.gone {
                return Ok(());
            }
            let since = *p.since.get_or_insert(now);
            if p.rows.is_empty() {
                worker::arm_stream_flush(Some(since + CHUNK_MAX_AGE));
            }
            p.rows.push(value);
            let full = p.rows.len() >= p.target;
            if full {
                p.target = (p.target * 2).min(MAX_CHUNK);
            }
            full || now.duration_since(since) >= CHUNK_MAX_AGE
        };
        if send {
            flush(pending, tx);
        }
    }
    Ok(())
}
