//! The pool as a Python object (`_sqlvault.Database`), and `open`.

use std::future::Future;
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sqlvault::rusqlite::types::Value;
use sqlvault::rusqlite::{self, Connection};
use sqlvault::{Argon2Params, Database, Key, MasterKey, Options, Passphrase, Synchronous};

use crate::errors::{ProgrammingError, to_py};
use crate::runtime::{awaitable, blocking};
use crate::tx::{PyTx, begin, first_keyword, is_dml, sets_rowid};
use crate::values::{Bind, Rows};

/// What a one-statement shortcut returns: columns, rowcount, lastrowid and the rows.
type RunOutcome = (Option<Vec<String>>, i64, Option<i64>, Rows);

/// An open pool (one writer, N readers).
#[pyclass(module = "sqlvault._sqlvault", name = "Database", frozen)]
pub struct PyDb {
    db: Database,
}

/// The key from Python: exactly one of a passphrase or 32 raw bytes.
pub fn key_from_py(passphrase: Option<Vec<u8>>, raw: Option<Vec<u8>>) -> PyResult<Key> {
    match (passphrase, raw) {
        (Some(p), None) => Ok(Key::Passphrase(Passphrase::new(p))),
        (None, Some(r)) => {
            let bytes: [u8; 32] = r
                .try_into()
                .map_err(|_| PyValueError::new_err("a raw key is exactly 32 bytes"))?;
            Ok(Key::Raw(MasterKey::from_bytes(bytes)))
        }
        _ => Err(PyTypeError::new_err("give a passphrase or a raw key")),
    }
}

/// Driver options from the keyword arguments of `sqlvault.open`.
pub fn options_from_py(opts: Option<&Bound<'_, PyDict>>) -> PyResult<Options> {
    let mut o = Options::new();
    let Some(opts) = opts else { return Ok(o) };
    for (k, v) in opts.iter() {
        let name: String = k.extract()?;
        if v.is_none() {
            continue;
        }
        o = match name.as_str() {
            "readers" => o.readers(v.extract()?),
            "page_size" => o.page_size(v.extract()?),
            "busy_timeout" => o.busy_timeout(
                Duration::try_from_secs_f64(v.extract()?)
                    .map_err(|e| PyValueError::new_err(e.to_string()))?,
            ),
            "cache_size_kib" => o.cache_size_kib(v.extract()?),
            "statement_cache" => o.statement_cache(v.extract()?),
            "queue_capacity" => o.queue_capacity(v.extract()?),
            "create_if_missing" => o.create_if_missing(v.extract()?),
            "synchronous" => match v.extract::<String>()?.to_ascii_lowercase().as_str() {
                "full" => o.synchronous(Synchronous::Full),
                "normal" => o.synchronous(Synchronous::Normal),
                other => {
                    return Err(PyValueError::new_err(format!(
                        "synchronous must be 'full' or 'normal', not {other:?}"
                    )));
                }
            },
            "argon2" => {
                let (memory_kib, iterations, parallelism): (u32, u32, u32) = v.extract()?;
                o.argon2(Argon2Params {
                    memory_kib,
                    iterations,
                    parallelism,
                })
            }
            other => {
                return Err(PyTypeError::new_err(format!(
                    "open() got an unexpected option {other:?}"
                )));
            }
        };
    }
    Ok(o)
}

/// Opens (or creates) a database; the future resolves to a [`PyDb`].
pub async fn open_fut(path: String, key: Key, options: Options) -> PyResult<PyDb> {
    let db = Database::open(path, key, options).await.map_err(to_py)?;
    Ok(PyDb { db })
}

/// Runs one statement on `conn`, or `None` if it writes and `conn` may not (a reader).
fn run_unit(
    conn: &Connection,
    sql: &str,
    params: Vec<Value>,
    max_rows: usize,
    may_write: bool,
) -> sqlvault::Result<Option<RunOutcome>> {
    let mut stmt = conn.prepare_cached(sql)?;
    if !may_write && !stmt.readonly() {
        return Ok(None);
    }
    let kw = first_keyword(sql);
    if stmt.column_count() == 0 {
        let n = stmt.execute(rusqlite::params_from_iter(params))?;
        let rowcount = if is_dml(&kw) {
            i64::try_from(n).unwrap_or(i64::MAX)
        } else {
            -1
        };
        let rowid = sets_rowid(&kw).then(|| conn.last_insert_rowid());
        return Ok(Some((None, rowcount, rowid, Rows(Vec::new()))));
    }
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let n = columns.len();
    let mut out = Vec::new();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    while out.len() < max_rows {
        let Some(row) = rows.next()? else { break };
        out.push(
            (0..n)
                .map(|i| row.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<_>>>()?,
        );
    }
    drop(rows);
    let rowid = sets_rowid(&kw).then(|| conn.last_insert_rowid());
    Ok(Some((Some(columns), -1, rowid, Rows(out))))
}

impl PyDb {
    fn run_fut(
        &self,
        sql: String,
        params: Option<&Bound<'_, PyAny>>,
        max_rows: Option<usize>,
    ) -> PyResult<impl Future<Output = PyResult<RunOutcome>> + Send + 'static> {
        let params = Bind::from_py(params)?
            .resolve(&sql)
            .map_err(ProgrammingError::new_err)?;
        let max_rows = max_rows.unwrap_or(usize::MAX);
        let db = self.db.clone();
        Ok(async move {
            let (s, p) = (sql.clone(), params.clone());
            if let Some(done) = db
                .read_with(move |conn| run_unit(conn, &s, p, max_rows, false))
                .await
                .map_err(to_py)?
            {
                return Ok(done);
            }
            let done = db
                .write_with(move |tx| run_unit(tx, &sql, params, max_rows, true))
                .await
                .map_err(to_py)?;
            done.ok_or_else(|| ProgrammingError::new_err("the writer refused the statement"))
        })
    }

    fn rekey_fut(
        &self,
        passphrase: Option<Vec<u8>>,
        raw: Option<Vec<u8>>,
    ) -> PyResult<impl Future<Output = PyResult<()>> + Send + 'static> {
        let key = key_from_py(passphrase, raw)?;
        let db = self.db.clone();
        Ok(async move { db.rekey(key).await.map_err(to_py) })
    }

    fn close_fut(&self) -> impl Future<Output = PyResult<()>> + Send + 'static {
        let db = self.db.clone();
        async move { db.close().await.map_err(to_py) }
    }
}

#[pymethods]
impl PyDb {
    /// Starts a read (`write=False`) or write transaction.
    fn begin<'py>(&self, py: Python<'py>, write: bool) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, begin(self.db.clone(), write))
    }

    /// Blocking twin of `begin`.
    fn begin_sync(&self, py: Python<'_>, write: bool) -> PyResult<PyTx> {
        blocking(py, begin(self.db.clone(), write))
    }

    /// Runs one statement on a free reader if it only reads, else on the writer, in one trip;
    /// returns `(columns, rowcount, lastrowid, rows)` with at most `max_rows` rows.
    #[pyo3(signature = (sql, params=None, max_rows=None))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        sql: String,
        params: Option<&Bound<'py, PyAny>>,
        max_rows: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.run_fut(sql, params, max_rows)?)
    }

    /// Blocking twin of `run`.
    #[pyo3(signature = (sql, params=None, max_rows=None))]
    fn run_sync(
        &self,
        py: Python<'_>,
        sql: String,
        params: Option<&Bound<'_, PyAny>>,
        max_rows: Option<usize>,
    ) -> PyResult<RunOutcome> {
        blocking(py, self.run_fut(sql, params, max_rows)?)
    }

    /// Re-encrypts the database under a new key while it stays open.
    #[pyo3(signature = (passphrase=None, raw=None))]
    fn rekey<'py>(
        &self,
        py: Python<'py>,
        passphrase: Option<Vec<u8>>,
        raw: Option<Vec<u8>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.rekey_fut(passphrase, raw)?)
    }

    /// Blocking twin of `rekey`.
    #[pyo3(signature = (passphrase=None, raw=None))]
    fn rekey_sync(&self, py: Python<'_>, passphrase: Option<Vec<u8>>, raw: Option<Vec<u8>>) -> PyResult<()> {
        blocking(py, self.rekey_fut(passphrase, raw)?)
    }

    /// Closes the pool once running transactions have ended.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.close_fut())
    }

    /// Blocking twin of `close`.
    fn close_sync(&self, py: Python<'_>) -> PyResult<()> {
        blocking(py, self.close_fut())
    }

    /// The path the database was opened at.
    #[getter]
    fn path(&self) -> String {
        self.db.path().display().to_string()
    }

    /// How many reader connections the pool has.
    #[getter]
    fn readers(&self) -> usize {
        self.db.reader_count()
    }
}
