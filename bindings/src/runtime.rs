//! The bindings' own multi-thread tokio runtime.
//!
//! UniFFI polls exported futures from the foreign language's executor (Kotlin coroutines,
//! Swift tasks, Python asyncio); the core needs a tokio runtime under it (timers, TCP,
//! btleplug, `tokio::spawn` inside sessions). UniFFI's own `async_runtime = "tokio"` runs on
//! a single current-thread runtime where `tokio::spawn` from sync exports panics
//! (uniffi #2811), so every export hands its work to this runtime with [`run`] instead.

use std::future::Future;
use std::sync::OnceLock;

use crate::error::PosmateError;

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// The runtime, started on first use. Two workers: a phone talks to a handful of
/// terminals, and the work is I/O bound.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder
            .worker_threads(2)
            .thread_name("posmate-rt")
            .enable_all();
        crate::platform::on_runtime_build(&mut builder);
        builder
            .build()
            .expect("posmate: the tokio runtime could not start (no threads or timers available)")
    })
}

/// Runs `work` on the runtime and waits for it from whatever executor polls the returned
/// future. Dropping the returned future does not stop `work`: the core's steps are made to
/// finish (a flow is stopped between steps through its cancel token, see `FlowControl`).
pub(crate) async fn run<T, F>(work: F) -> Result<T, PosmateError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, PosmateError>> + Send + 'static,
{
    match runtime().spawn(work).await {
        Ok(result) => result,
        Err(e) => Err(PosmateError::internal(if e.is_panic() {
            "the operation panicked inside posmate; please report it with the steps that led here"
        } else {
            "the operation was stopped before it finished"
        })),
    }
}
