//! Where async handlers run: a current-thread tokio runtime, made by the run's
//! thread the first time one of its handlers is async, and kept until the run ends.
//!
//! The run's thread is a thread of the runtime's own, where no other tokio runtime
//! is entered, and whose thread-locals (tokio's among them) are alive: the exiting
//! thread's are destroyed on glibc before exit handlers run.

#[cfg(feature = "tokio")]
use crate::payload::BoxFuture;

/// A thread's means to run async handlers, made when first needed.
pub(super) struct Executor {
    #[cfg(feature = "tokio")]
    runtime: Option<tokio::runtime::Runtime>,
    /// Whether this thread may run async handlers: only the run's own thread may.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    on_run_thread: bool,
}

impl Executor {
    /// The executor of the run's own thread.
    pub(super) fn on_run_thread() -> Self {
        Executor::new(true)
    }

    /// The executor of a thread that is not the run's own (one where no thread may
    /// start): it runs no async handler.
    pub(super) fn elsewhere() -> Self {
        Executor::new(false)
    }

    fn new(on_run_thread: bool) -> Self {
        Executor {
            #[cfg(feature = "tokio")]
            runtime: None,
            on_run_thread,
        }
    }

    /// Runs `future` to completion; `Err` if no runtime could be made for it.
    #[cfg(feature = "tokio")]
    pub(super) fn block_on<T>(&mut self, future: BoxFuture<T>) -> Result<T, String> {
        if !self.on_run_thread {
            return Err(
                "async handlers run on the exit run's own thread, and none could be started".into(),
            );
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

    /// The run is over: the tasks its async handlers spawned and did not await are
    /// dropped now.
    pub(super) fn end_of_run(&mut self) {
        self.after_panic();
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
