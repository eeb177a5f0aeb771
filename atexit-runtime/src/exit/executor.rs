//! Where async handlers run: a current-thread tokio runtime, made by a worker thread
//! of the watchdog the first time one of its handlers is async, and kept until the
//! worker ends with the run.
//!
//! A worker is a thread of the runtime's own, where no other tokio runtime is
//! entered, and whose thread-locals (tokio's among them) are alive: the exiting
//! thread's are destroyed on glibc before exit handlers run.

#[cfg(feature = "tokio")]
use crate::payload::BoxFuture;

/// A thread's means to run async handlers, made when first needed.
pub(super) struct Executor {
    #[cfg(feature = "tokio")]
    runtime: Option<tokio::runtime::Runtime>,
    /// Whether this thread may run async handlers: only workers may.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    on_worker: bool,
}

impl Executor {
    /// The executor of a watchdog worker.
    pub(super) fn on_worker() -> Self {
        Executor::new(true)
    }

    /// The executor of a thread that is not a worker: it runs no async handler.
    pub(super) fn elsewhere() -> Self {
        Executor::new(false)
    }

    fn new(on_worker: bool) -> Self {
        Executor {
            #[cfg(feature = "tokio")]
            runtime: None,
            on_worker,
        }
    }

    /// Runs `future` to completion; `Err` if no runtime could be made for it.
    #[cfg(feature = "tokio")]
    pub(super) fn block_on<T>(&mut self, future: BoxFuture<T>) -> Result<T, String> {
        if !self.on_worker {
            return Err("async handlers run on a worker thread, and none could be started".into());
        }
        let runtime = match &mut self.runtime {
            Some(runtime) => runtime,
            empty => empty.insert(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .thread_name("atexit-async")
                    .build()
                    .map_err(|error| format!("cannot start a tokio runtime: {error}"))?,
            ),
        };
        Ok(runtime.block_on(future))
    }

    /// A handler panicked out of the runtime: the next async handler gets a new one.
    pub(super) fn after_panic(&mut self) {
        #[cfg(feature = "tokio")]
        if let Some(runtime) = self.runtime.take() {
            // Dropping a runtime waits for its blocking tasks; a panicked handler's
            // may never end.
            runtime.shutdown_background();
        }
    }
}
