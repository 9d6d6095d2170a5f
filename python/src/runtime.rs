//! The tokio runtime shared by every database of the process, and the two ways Python waits
//! for it: an asyncio awaitable, or a blocking call with the GIL released.

use std::future::Future;

use pyo3::prelude::*;

/// The runtime (pyo3-async-runtimes' own, so that its asyncio bridge and our tasks share it).
pub fn get() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// `fut` as an asyncio awaitable. Cancelling the awaitable drops `fut`.
pub fn awaitable<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    pyo3_async_runtimes::tokio::future_into_py(py, fut)
}

/// Waits for `fut` on the calling thread with the GIL released, so other Python threads
/// (and an event loop in another thread) run meanwhile.
pub fn blocking<F, T>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = PyResult<T>> + Send,
    T: Send,
{
    py.detach(|| get().block_on(fut))
}

/// How long `wait_idle` keeps the GIL released after the runtime's tasks are done.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(20);

/// Called by `atexit` (the Python package registers it): waits, with the GIL released, until
/// no task runs on the runtime (at most `timeout` seconds), then a little longer.
///
/// pyo3-async-runtimes hands each result to asyncio from a blocking-pool thread
/// (`call_soon_threadsafe`). That thread may still be finishing, waiting for the GIL, when
/// the main thread returns from `asyncio.run`; if the interpreter finalizes first, Python
/// ends the thread by unwinding it, and its last reference drops touch freed interpreter
/// state (a crash at exit). Releasing the GIL here lets such threads finish. Open
/// transactions keep their tasks alive: the wait then ends at `timeout`.
#[pyfunction]
pub fn wait_idle(py: Python<'_>, timeout: f64) {
    let start = std::time::Instant::now();
    let limit = std::time::Duration::from_secs_f64(timeout.clamp(0.0, 60.0));
    py.detach(|| {
        while get().metrics().num_alive_tasks() > 0 && start.elapsed() < limit {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        std::thread::sleep(SETTLE);
    });
}
