//! `sqlvault._sqlvault`: the native half of the `sqlvault` Python package.
//!
//! A thin layer over `sqlvault-driver`: every SQLite call and key derivation runs on the
//! driver's connection threads; Python waits either through an asyncio awaitable
//! (pyo3-async-runtimes bridges tokio and asyncio) or, for `db.sync`, in a blocking call with
//! the GIL released. The Python half (`python/sqlvault/__init__.py`) builds the DB-API cursors
//! and context managers on top.

mod db;
mod errors;
mod import;
mod runtime;
mod tx;
mod values;

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Opens a database without blocking the event loop; resolves to a `Database`.
#[pyfunction]
#[pyo3(signature = (path, passphrase=None, raw=None, options=None))]
fn open<'py>(
    py: Python<'py>,
    path: String,
    passphrase: Option<Vec<u8>>,
    raw: Option<Vec<u8>>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let key = db::key_from_py(passphrase, raw)?;
    let options = db::options_from_py(options)?;
    runtime::awaitable(py, db::open_fut(path, key, options))
}

/// Opens a database, blocking the calling thread (GIL released).
#[pyfunction]
#[pyo3(signature = (path, passphrase=None, raw=None, options=None))]
fn open_sync(
    py: Python<'_>,
    path: String,
    passphrase: Option<Vec<u8>>,
    raw: Option<Vec<u8>>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<db::PyDb> {
    let key = db::key_from_py(passphrase, raw)?;
    let options = db::options_from_py(options)?;
    runtime::blocking(py, db::open_fut(path, key, options))
}

/// The native module.
#[pymodule]
fn _sqlvault(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<db::PyDb>()?;
    m.add_class::<tx::PyTx>()?;
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::wait_idle, m)?)?;
    m.add_function(wrap_pyfunction!(open_sync, m)?)?;
    m.add_function(wrap_pyfunction!(import::import_sqlcipher, m)?)?;
    m.add_function(wrap_pyfunction!(import::import_sqlite, m)?)?;
    Ok(())
}
