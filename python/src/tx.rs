//! A transaction as a Python object: a tokio task owns the driver's guard (and, while they
//! live, its nested savepoints and the row stream of the current query) and serves the
//! commands the Python cursor sends it.
//!
//! The driver's guards borrow one another (a savepoint borrows its parent, a row stream its
//! guard), which a Python object cannot hold. A task can: it nests the guards on its own stack,
//! one level of [`serve`] per savepoint. Each command carries a reply channel; if the Python
//! side stops waiting (its task was cancelled), the reply channel closes and the task drops the
//! statement's future at once, which makes the driver interrupt the statement.

use std::future::Future;
use std::pin::Pin;

use futures_util::{FutureExt, StreamExt};
use pyo3::prelude::*;
use sqlvault::rusqlite::types::Value;
use sqlvault::rusqlite::{self, Row};
use sqlvault::{Database, ReadTx, RowStream, Savepoint, WriteTx};
use tokio::sync::{mpsc, oneshot};

use crate::errors::{ProgrammingError, to_py};
use crate::runtime::{awaitable, blocking};
use crate::values::{Bind, Rows};

/// Where a command's answer goes.
type Reply<T> = oneshot::Sender<PyResult<T>>;

/// What `execute` tells the cursor: column names (for a statement that returned rows; from its
/// first row), the row count (-1 unless an INSERT, UPDATE, DELETE or REPLACE) and the last
/// inserted rowid (after an INSERT or REPLACE).
pub type Outcome = (Option<Vec<String>>, i64, Option<i64>);

/// A row as converted on the connection thread: its values, and the column names with the
/// first row of a query.
struct RawRow {
    columns: Option<Vec<String>>,
    values: Vec<Value>,
}

enum Cmd {
    Execute {
        sql: String,
        params: Vec<Value>,
        reply: Reply<Outcome>,
    },
    ExecuteMany {
        sql: String,
        params: Vec<Vec<Value>>,
        reply: Reply<Outcome>,
    },
    Script {
        sql: String,
        reply: Reply<()>,
    },
    Fetch {
        max: usize,
        reply: Reply<Rows>,
    },
    Savepoint {
        reply: Reply<()>,
    },
    /// Commit (or release the innermost savepoint) if `keep`, else roll back.
    End {
        keep: bool,
        reply: Reply<()>,
    },
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = sqlvault::Result<T>> + Send + 'a>>;

/// What the task needs from a guard: the same statements on [`ReadTx`], [`WriteTx`] and
/// [`Savepoint`].
trait Guard: Send {
    fn exec(&mut self, sql: String, params: Vec<Value>) -> BoxFut<'_, usize>;
    fn exec_many(&mut self, sql: String, params: Vec<Vec<Value>>) -> BoxFut<'_, usize>;
    fn batch(&mut self, sql: String) -> BoxFut<'_, ()>;
    fn columns(&mut self, sql: String) -> BoxFut<'_, Vec<String>>;
    fn last_rowid(&mut self) -> BoxFut<'_, i64>;
    fn rows(&mut self, sql: String, params: Vec<Value>) -> RowStream<'_, RawRow>;
    /// `None` where savepoints are not offered (read transactions).
    fn savepoint(&mut self) -> Option<BoxFut<'_, Savepoint<'_>>>;
}

/// Reads a row's values (and, for the first row, the column names).
fn row_reader() -> impl FnMut(&Row<'_>) -> rusqlite::Result<RawRow> + Send + 'static {
    let mut first = true;
    move |row| {
        let stmt = row.as_ref();
        let n = stmt.column_count();
        let columns = if first {
            first = false;
            Some(stmt.column_names().map(str::to_owned).collect())
        } else {
            None
        };
        let values = (0..n)
            .map(|i| row.get::<_, Value>(i))
            .collect::<rusqlite::Result<_>>()?;
        Ok(RawRow { columns, values })
    }
}

macro_rules! guard_impl {
    ($ty:ty, savepoints: $sp:ident) => {
        impl Guard for $ty {
            fn exec(&mut self, sql: String, params: Vec<Value>) -> BoxFut<'_, usize> {
                Box::pin(self.execute(sql, rusqlite::params_from_iter(params)))
            }
            fn exec_many(&mut self, sql: String, params: Vec<Vec<Value>>) -> BoxFut<'_, usize> {
                let sets: Vec<_> = params.into_iter().map(rusqlite::params_from_iter).collect();
                Box::pin(self.execute_many(sql, sets))
            }
            fn batch(&mut self, sql: String) -> BoxFut<'_, ()> {
                Box::pin(self.execute_batch(sql))
            }
            fn columns(&mut self, sql: String) -> BoxFut<'_, Vec<String>> {
                Box::pin(self.column_names(sql))
            }
            fn last_rowid(&mut self) -> BoxFut<'_, i64> {
                Box::pin(self.query_row("SELECT last_insert_rowid()", (), |r| r.get(0)))
            }
            fn rows(&mut self, sql: String, params: Vec<Value>) -> RowStream<'_, RawRow> {
                self.query(sql, rusqlite::params_from_iter(params), row_reader())
            }
            fn savepoint(&mut self) -> Option<BoxFut<'_, Savepoint<'_>>> {
                guard_impl!(@savepoint $sp self)
            }
        }
    };
    (@savepoint yes $g:ident) => {
        Some(Box::pin($g.savepoint()))
    };
    (@savepoint no $g:ident) => {{
        let _ = $g;
        None
    }};
}

guard_impl!(WriteTx, savepoints: yes);
guard_impl!(Savepoint<'_>, savepoints: yes);
guard_impl!(ReadTx, savepoints: no);

/// How one level of [`serve`] ended.
enum Exit {
    /// The cursor asked to end this level.
    End { keep: bool, reply: Reply<()> },
    /// Every handle on the transaction is gone: drop the guards (the driver rolls back).
    Gone,
}

/// The first keyword of a statement, upper-cased, past whitespace and comments.
pub fn first_keyword(sql: &str) -> String {
    let mut s = sql;
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix("--") {
            s = rest.find('\n').map_or("", |i| &rest[i..]);
        } else if let Some(rest) = s.strip_prefix("/*") {
            s = rest.find("*/").map_or("", |i| &rest[i + 2..]);
        } else {
            break;
        }
    }
    s.chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Whether a statement is a data change whose row count `rowcount` reports.
pub fn is_dml(keyword: &str) -> bool {
    matches!(keyword, "INSERT" | "UPDATE" | "DELETE" | "REPLACE")
}

/// Whether a statement sets `lastrowid`.
pub fn sets_rowid(keyword: &str) -> bool {
    matches!(keyword, "INSERT" | "REPLACE")
}

/// Runs `fut` unless the caller stops waiting for `reply` first (then `None`: the future is
/// dropped, which interrupts its statement).
async fn unless_abandoned<T, R>(reply: &mut Reply<R>, fut: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        r = fut => Some(r),
        () = reply.closed() => None,
    }
}

async fn execute_one<G: Guard>(
    g: &mut G,
    sql: &str,
    params: Vec<Value>,
    want_rowid: bool,
) -> sqlvault::Result<(usize, Option<i64>)> {
    let n = g.exec(sql.to_owned(), params).await?;
    let rowid = if want_rowid {
        Some(g.last_rowid().await?)
    } else {
        None
    };
    Ok((n, rowid))
}

/// Serves commands on one guard until the cursor ends it (or goes away).
fn serve<'a, G: Guard>(
    g: &'a mut G,
    rx: &'a mut mpsc::Receiver<Cmd>,
) -> Pin<Box<dyn Future<Output = Exit> + Send + 'a>> {
    Box::pin(async move {
        let mut pending: Option<Cmd> = None;
        loop {
            let cmd = match pending.take() {
                Some(cmd) => cmd,
                None => match rx.recv().await {
                    Some(cmd) => cmd,
                    None => return Exit::Gone,
                },
            };
            match cmd {
                Cmd::Execute {
                    sql,
                    params,
                    mut reply,
                } => {
                    let kw = first_keyword(&sql);
                    if is_dml(&kw) && !sql.to_ascii_uppercase().contains("RETURNING") {
                        let work = execute_one(g, &sql, params, sets_rowid(&kw));
                        if let Some(r) = unless_abandoned(&mut reply, work).await {
                            let _ = reply.send(
                                r.map(|(n, rowid)| (None, i64::try_from(n).unwrap_or(i64::MAX), rowid))
                                    .map_err(to_py),
                            );
                        }
                        continue;
                    }
                    let mut stream = g.rows(sql.clone(), params);
                    let Some(first) = unless_abandoned(&mut reply, stream.next()).await else {
                        continue;
                    };
                    let mut buffered = match first {
                        None => {
                            // No row to take the column names from: ask for them (the
                            // statement is prepared and cached already). None for a
                            // statement that returns no columns, as in DB-API.
                            drop(stream);
                            let Some(columns) = unless_abandoned(&mut reply, g.columns(sql)).await else {
                                continue;
                            };
                            let outcome = columns.map(|c| ((!c.is_empty()).then_some(c), -1, None));
                            let _ = reply.send(outcome.map_err(to_py));
                            continue;
                        }
                        Some(Err(e)) => {
                            let _ = reply.send(Err(to_py(e)));
                            continue;
                        }
                        Some(Ok(row)) => {
                            let _ = reply.send(Ok((row.columns, -1, None)));
                            Some(row.values)
                        }
                    };
                    // Rows are handed out as the cursor asks; any other command ends the query.
                    let mut exhausted = false;
                    loop {
                        match rx.recv().await {
                            None => return Exit::Gone,
                            Some(Cmd::Fetch { max, mut reply }) => {
                                let mut out = Vec::new();
                                if let Some(row) = buffered.take() {
                                    out.push(row);
                                }
                                let mut failed = None;
                                let mut abandoned = false;
                                while !exhausted && out.len() < max.max(1) {
                                    // Waits for the first row only; then takes what has
                                    // already arrived, so a slow query's rows still trickle.
                                    let next = if out.is_empty() {
                                        unless_abandoned(&mut reply, stream.next()).await
                                    } else {
                                        match stream.next().now_or_never() {
                                            Some(next) => Some(next),
                                            None => break,
                                        }
                                    };
                                    match next {
                                        None => {
                                            abandoned = true;
                                            break;
                                        }
                                        Some(None) => exhausted = true,
                                        Some(Some(Ok(row))) => out.push(row.values),
                                        Some(Some(Err(e))) => {
                                            failed = Some(e);
                                            exhausted = true;
                                        }
                                    }
                                }
                                if abandoned {
                                    // The rows read so far are lost with the cancelled fetch;
                                    // the query ends.
                                    break;
                                }
                                let _ = reply.send(match failed {
                                    Some(e) => Err(to_py(e)),
                                    None => Ok(Rows(out)),
                                });
                            }
                            Some(other) => {
                                pending = Some(other);
                                break;
                            }
                        }
                    }
                }
                Cmd::ExecuteMany {
                    sql,
                    params,
                    mut reply,
                } => {
                    let kw = first_keyword(&sql);
                    let want_rowid = sets_rowid(&kw);
                    let work = async {
                        let total = g.exec_many(sql, params).await?;
                        let rowid = if want_rowid {
                            Some(g.last_rowid().await?)
                        } else {
                            None
                        };
                        Ok::<_, sqlvault::Error>((total, rowid))
                    };
                    if let Some(r) = unless_abandoned(&mut reply, work).await {
                        let rowcount = |n: usize| {
                            if is_dml(&kw) {
                                i64::try_from(n).unwrap_or(i64::MAX)
                            } else {
                                -1
                            }
                        };
                        let _ = reply.send(r.map(|(n, rowid)| (None, rowcount(n), rowid)).map_err(to_py));
                    }
                }
                Cmd::Script { sql, mut reply } => {
                    if let Some(r) = unless_abandoned(&mut reply, g.batch(sql)).await {
                        let _ = reply.send(r.map_err(to_py));
                    }
                }
                Cmd::Fetch { reply, .. } => {
                    let _ = reply.send(Ok(Rows(Vec::new())));
                }
                Cmd::Savepoint { mut reply } => {
                    let Some(start) = g.savepoint() else {
                        let _ = reply.send(Err(ProgrammingError::new_err(
                            "savepoints are only offered inside write transactions",
                        )));
                        continue;
                    };
                    let Some(started) = unless_abandoned(&mut reply, start).await else {
                        continue;
                    };
                    match started {
                        Err(e) => {
                            let _ = reply.send(Err(to_py(e)));
                        }
                        Ok(mut sp) => {
                            if reply.send(Ok(())).is_err() {
                                // Nobody saw it start: dropping it undoes it.
                                continue;
                            }
                            match serve(&mut sp, rx).await {
                                Exit::Gone => return Exit::Gone,
                                Exit::End { keep, reply } => {
                                    let r = if keep {
                                        sp.release().await
                                    } else {
                                        sp.rollback().await
                                    };
                                    let _ = reply.send(r.map_err(to_py));
                                }
                            }
                        }
                    }
                }
                Cmd::End { keep, reply } => return Exit::End { keep, reply },
            }
        }
    })
}

/// A read or write transaction, driven from Python (`_sqlvault.Transaction`).
#[pyclass(module = "sqlvault._sqlvault", name = "Transaction", frozen)]
pub struct PyTx {
    /// Taken by `abandon`: once every sender is gone the task drops its guards.
    commands: std::sync::Mutex<Option<mpsc::Sender<Cmd>>>,
}

/// Starts a transaction's task; the reply says when its `BEGIN` went through.
pub fn begin(db: Database, write: bool) -> impl Future<Output = PyResult<PyTx>> + Send {
    let (commands, mut rx) = mpsc::channel(4);
    let (ready, started) = oneshot::channel::<PyResult<()>>();
    crate::runtime::get().spawn(async move {
        let mut ready = ready;
        if write {
            let Some(begun) = unless_abandoned(&mut ready, db.write()).await else {
                return;
            };
            let mut tx = match begun {
                Ok(tx) => tx,
                Err(e) => {
                    let _ = ready.send(Err(to_py(e)));
                    return;
                }
            };
            if ready.send(Ok(())).is_err() {
                return; // dropping `tx` rolls it back
            }
            if let Exit::End { keep, reply } = serve(&mut tx, &mut rx).await {
                let r = if keep {
                    tx.commit().await
                } else {
                    tx.rollback().await
                };
                let _ = reply.send(r.map_err(to_py));
            }
        } else {
            let Some(begun) = unless_abandoned(&mut ready, db.read()).await else {
                return;
            };
            let mut tx = match begun {
                Ok(tx) => tx,
                Err(e) => {
                    let _ = ready.send(Err(to_py(e)));
                    return;
                }
            };
            if ready.send(Ok(())).is_err() {
                return;
            }
            if let Exit::End { reply, .. } = serve(&mut tx, &mut rx).await {
                let _ = reply.send(tx.finish().await.map_err(to_py));
            }
        }
    });
    async move {
        started.await.map_err(|_| ended())??;
        Ok(PyTx {
            commands: std::sync::Mutex::new(Some(commands)),
        })
    }
}

fn ended() -> PyErr {
    ProgrammingError::new_err("the transaction has ended")
}

impl PyTx {
    fn call<T: Send + 'static>(
        &self,
        make: impl FnOnce(Reply<T>) -> Cmd,
    ) -> impl Future<Output = PyResult<T>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let cmd = make(reply);
        let commands = self
            .commands
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        async move {
            let commands = commands.ok_or_else(ended)?;
            commands.send(cmd).await.map_err(|_| ended())?;
            answer.await.map_err(|_| ended())?
        }
    }

    fn execute_fut(
        &self,
        sql: String,
        params: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<impl Future<Output = PyResult<Outcome>> + Send + 'static> {
        let params = Bind::from_py(params)?
            .resolve(&sql)
            .map_err(ProgrammingError::new_err)?;
        Ok(self.call(|reply| Cmd::Execute { sql, params, reply }))
    }

    fn executemany_fut(
        &self,
        sql: String,
        seq: &Bound<'_, PyAny>,
    ) -> PyResult<impl Future<Output = PyResult<Outcome>> + Send + 'static> {
        let mut params = Vec::new();
        for p in seq.try_iter()? {
            let p = p?;
            params.push(
                Bind::from_py(Some(&p))?
                    .resolve(&sql)
                    .map_err(ProgrammingError::new_err)?,
            );
        }
        Ok(self.call(|reply| Cmd::ExecuteMany { sql, params, reply }))
    }
}

#[pymethods]
impl PyTx {
    /// Runs one statement; returns `(columns or None, rowcount, lastrowid or None)`.
    #[pyo3(signature = (sql, params=None))]
    fn execute<'py>(
        &self,
        py: Python<'py>,
        sql: String,
        params: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.execute_fut(sql, params)?)
    }

    /// Blocking twin of `execute`.
    #[pyo3(signature = (sql, params=None))]
    fn execute_sync(
        &self,
        py: Python<'_>,
        sql: String,
        params: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        blocking(py, self.execute_fut(sql, params)?)
    }

    /// Runs one statement once per parameter set.
    fn executemany<'py>(
        &self,
        py: Python<'py>,
        sql: String,
        seq: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.executemany_fut(sql, seq)?)
    }

    /// Blocking twin of `executemany`.
    fn executemany_sync(&self, py: Python<'_>, sql: String, seq: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        blocking(py, self.executemany_fut(sql, seq)?)
    }

    /// Runs `;`-separated statements without parameters.
    fn executescript<'py>(&self, py: Python<'py>, sql: String) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.call(|reply| Cmd::Script { sql, reply }))
    }

    /// Blocking twin of `executescript`.
    fn executescript_sync(&self, py: Python<'_>, sql: String) -> PyResult<()> {
        blocking(py, self.call(|reply| Cmd::Script { sql, reply }))
    }

    /// Up to `max` more rows of the current query (an empty list once it is done).
    fn fetch<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.call(|reply| Cmd::Fetch { max, reply }))
    }

    /// Blocking twin of `fetch`.
    fn fetch_sync(&self, py: Python<'_>, max: usize) -> PyResult<Rows> {
        blocking(py, self.call(|reply| Cmd::Fetch { max, reply }))
    }

    /// Starts a savepoint nested in the innermost open level.
    fn savepoint<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.call(|reply| Cmd::Savepoint { reply }))
    }

    /// Blocking twin of `savepoint`.
    fn savepoint_sync(&self, py: Python<'_>) -> PyResult<()> {
        blocking(py, self.call(|reply| Cmd::Savepoint { reply }))
    }

    /// Ends the innermost level: commit / release if `keep`, else roll back.
    fn end<'py>(&self, py: Python<'py>, keep: bool) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.call(|reply| Cmd::End { keep, reply }))
    }

    /// Lets go of the transaction without waiting: if it has not ended, the driver rolls it
    /// back (savepoints included) before the connection serves anyone else.
    fn abandon(&self) {
        drop(
            self.commands
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(),
        );
    }

    /// Blocking twin of `end`.
    fn end_sync(&self, py: Python<'_>, keep: bool) -> PyResult<()> {
        blocking(py, self.call(|reply| Cmd::End { keep, reply }))
    }
}
