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
