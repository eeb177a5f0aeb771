//! Cleanup that runs when the process exits: Python's `atexit`, for Rust.
//!
//! Functions marked [`#[on_exit]`](on_exit) are gathered by the linker and run when
//! the process exits, beside a dynamic API ([`register`], [`unregister`], [`guard`]).
//! Handlers run newest first, ordered by the priorities they declare, also after
//! [`std::process::exit`], after a panic in `main`, and (with [`catch_signals`]) after
//! Ctrl-C or `kill`.
//!
//! ```
//! #[atexit::on_exit]
//! fn flush_logs() {
//!     println!("flushing the logs");
//! }
//!
//! fn main() {
//!     let path = std::env::temp_dir().join("atexit-doc-example.tmp");
//!     std::fs::write(&path, "scratch").unwrap();
//!     atexit::register(move || {
//!         let _ = std::fs::remove_file(&path);
//!     });
//!     // ... on exit: the file is removed, then the logs are flushed.
//! }
//! ```
//!
//! # Python to Rust
//!
//! | Python | Rust |
//! |---|---|
//! | `atexit.register(func)` | [`register(func)`](register) |
//! | `atexit.register(func, *args)` | `register(move \|\| func(args))` |
//! | `@atexit.register` | [`#[atexit::on_exit]`](on_exit) |
//! | `atexit.unregister(func)` | [`unregister_fn(func)`](unregister_fn), or [`unregister(handle)`](unregister) |
//! | register in `__enter__`, unregister in `__exit__` | [`guard(f)`](guard) |
//! | `atexit._run_exitfuncs()` | [`run_exit_handlers()`](run_exit_handlers) |
//! | `atexit._clear()` | [`clear()`](clear) |
//! | `atexit._ncallbacks()` | [`pending()`](pending) |
//! | `sys.exit(n)` inside a handler | [`atexit::exit(n)`](exit) |
//!
//! # Order
//!
//! Higher [priority](on_exit#options) runs first. At equal priority the newest
//! handler runs first: dynamic handlers newest first, then `#[on_exit]` functions in
//! reverse declaration order, since they count as registered before `main`, in
//! declaration order. Between threads, newer means "happened after": a registration
//! made after another on the same thread, or on a thread that synchronised with the
//! first one's after it registered (a lock, a channel, a join, an atomic), runs before
//! it; registrations on threads that race each other run in either order. Within a file that is source order, exactly. Across files and
//! crates, each file's handlers stay together and the files come in an order that is
//! fixed but arbitrary (a hash of crate name and file path, computed at compile time):
//! to order handlers of different files, give them different priorities. None of this
//! depends on how the program is built: the linker lays the handlers out differently
//! in debug and release builds, so the runtime sorts them on that key.
//! [`handlers()`](handlers) lists the pending handlers in the order they will run.
//!
//! A handler registered while the exit run is going on (by a handler or by another
//! thread) still runs, once: the run always takes the first pending handler in this
//! order next. Handlers that other threads are running when the process exits (an
//! early [`run_exit_handlers`], a [`Guard`] being dropped) are waited for: for the
//! handler timeout if one is set, else for at most a second.
//!
//! # When handlers run, and when they do not
//!
//! They run when `main` returns, on [`std::process::exit`] (and [`exit`]), and when
//! `main` panics (the status stays 101). With [`catch_signals`], also on SIGINT,
//! SIGTERM, SIGHUP and SIGQUIT: at once, or, with a [stop grace](set_stop_grace),
//! once the program has stopped by itself (see [Graceful stop](#graceful-stop)). A
//! handler asks why with [`exit_reason`].
//!
//! Handlers run on a thread of the runtime's, one for the whole run, made with the
//! main thread's stack, while the thread that began the exit waits: its
//! thread-locals are gone on glibc by then, and handlers need live ones to log
//! through `tracing`, use `rand::thread_rng()` or enter a tokio runtime.
//!
//! With `panic = "abort"`, a panic in `main` or in any thread prints its message,
//! runs the pending handlers (within 10 seconds, unless [`set_exit_deadline`] sets a
//! deadline of its own), then aborts the process. A handler that
//! panics there is reported and the others run; [`exit`] in a handler still runs the
//! others and exits with its code, without dropping the handler's locals. A program
//! that sets its own panic hook calls [`on_panic`] from it.
//!
//! [`set_exit_deadline`] (or `ATEXIT_DEADLINE_MS`) bounds the whole exit: when it
//! passes, what has not run is reported as skipped and the process ends at once.
//!
//! They do not run on [`std::process::abort`], `libc::_exit`, SIGKILL, an uncaught
//! signal, or a crash (a segmentation fault, a stack overflow): nothing runs then.
//!
//! # Graceful stop
//!
//! A service stops in three steps: a signal asks it to stop, it stops taking work
//! and finishes what is in flight, and then the final cleanup runs. With
//! [`catch_signals`] and a [grace](set_stop_grace), the first signal only requests
//! the stop: [`stopping`] (a future that needs no particular runtime) completes,
//! [`wait_for_stop`] returns, and the exit handlers run once the program ends by
//! itself, or when the grace passes, or at a second signal. The process still dies
//! by the signal. [`request_stop`] asks for the same stop from inside the program,
//! without any exit.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! #[atexit::on_exit]
//! fn close_the_pool() {
//!     println!("runs after main returned");
//! }
//!
//! #[tokio::main]
//! async fn main() {
//!     atexit::catch_signals().unwrap();
//!     atexit::set_stop_grace(Some(Duration::from_secs(20)));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     loop {
//!         tokio::select! {
//!             _ = atexit::stopping() => break, // SIGTERM: stop accepting
//!             accepted = listener.accept() => {
//!                 let (socket, _) = accepted.unwrap();
//!                 tokio::spawn(async move { drop(socket) });
//!             }
//!         }
//!     }
//!     // finish the requests in flight, then return: the handlers run
//! }
//! ```
//!
//! # Async handlers
//!
//! With the `tokio` feature, `#[on_exit] async fn` and `register_async` register
//! async cleanup (flushing an exporter, saying goodbye to a peer, finishing a file
//! with `tokio::fs`). The exit run makes a current-thread tokio runtime on a thread of
//! its own when it first needs one and runs each future to completion there, in exit
//! order with the sync handlers, whichever way the process exits. A handler must not
//! depend on the program's own runtime, which may be gone or stuck in the exiting
//! thread by then.
//!
//! # Failures
//!
//! A handler that panics or returns `Err` is reported on stderr with its name,
//! location and message; every other handler still runs and the exit status does not
//! change. With [`set_handler_timeout`] or `ATEXIT_TIMEOUT_MS`, a handler that hangs is
//! abandoned after the timeout and the rest run. `ATEXIT_TRACE=1` logs each handler
//! to stderr as it runs, with how long it took.
//!
//! # Caveats
//!
//! - **Never call [`std::process::exit`] in a handler**: when the exit began in std,
//!   std lets only the thread that began it exit, so on Linux the handler's thread
//!   stops for good and the run waits for it as for a hung handler (until the
//!   handler timeout or the deadline), and on Windows the process ends at once. Call
//!   [`atexit::exit`](exit), which is safe on any thread during the exit run: it
//!   records the code and unwinds the calling thread.
//! - **Thread-locals**: handlers run on the run's own thread, whose thread-locals
//!   are fresh, so `tracing`, `thread_local!` and tokio's context work there. They
//!   are that thread's, not `main`'s: a handler cannot read a value `main` left in a
//!   thread-local (on glibc those are destroyed before exit handlers run). Where no
//!   thread may start (a library being unloaded, Windows after `ExitProcess`) or
//!   none can (the thread limit is reached: one line on stderr says so), handlers
//!   run on the exiting thread, where thread-locals with destructors may be gone.
//! - **Your own signal handling**: [`catch_signals`] ends the process by the signal
//!   once the handlers ran. A program that waits for SIGTERM to shut down calls it
//!   with a [grace](set_stop_grace) and waits on [`stopping`] instead of the signal:
//!   its shutdown path runs first, then the handlers.
//! - **A crate nothing refers to is not linked**, and its `#[on_exit]` functions with
//!   it. If a binary depends on a crate only for its handlers, write
//!   `use that_crate as _;`.
//! - **`fork()`**: a handler runs only in the process that registered it (static
//!   handlers belong to the process that started the program), so a forked child does
//!   not run its parent's cleanup; [`adopt_inherited`] takes it over.
//! - **Platforms**: tested on Linux with glibc and musl, and on Windows (under Wine);
//!   macOS builds. On Windows, `std::process::exit` skips the C runtime's exit
//!   handlers: the runtime runs them as the process goes away, on the exiting thread
//!   alone (no timeout, deadline or async handler there); [`exit`] runs them as
//!   returning from `main` does, and is the path that always works.
//! - **A shared library** has its own copy of the runtime; on glibc and Windows its
//!   handlers run when it is unloaded, on the unloading thread, with no timeout or
//!   async handler.

#![warn(missing_docs)]

/// Runs the function when the process exits.
///
/// The function takes no arguments and returns `()` or `Result<(), E>` with
/// `E: Display`; an `Err` is reported like a panic. It is registered at link time:
/// no code runs before `main` for it.
///
/// ```
/// #[atexit::on_exit]
/// fn remove_pid_file() -> std::io::Result<()> {
///     std::fs::remove_file("/run/my-daemon.pid")
/// }
///
/// #[atexit::on_exit(priority = 10, name = "stop-workers")]
/// fn stop_workers() {
///     // runs before every handler of a lower priority
/// }
/// # fn main() {
/// # assert!(atexit::handlers().iter().any(|h| h.name() == "stop-workers"));
/// # atexit::clear();
/// # }
/// ```
///
/// # Options
///
/// - `priority = <const i32 expression>`: higher runs first; the default is 0.
/// - `name = "..."`: the name in reports and [`handlers()`](crate::handlers); the
///   default is the function's path.
///
/// # Associated functions
///
/// An associated function without receiver can be a handler too. Its body may not use
/// `Self` (the handler is reached from outside the `impl`), unless the `impl` block
/// itself is marked `#[on_exit]`: then every function marked inside it is a handler
/// and may use `Self`.
///
/// ```
/// struct Cache;
///
/// impl Cache {
///     #[atexit::on_exit]
///     fn flush() {
///         println!("flushing the cache");
///     }
/// }
///
/// struct Service;
///
/// #[atexit::on_exit]
/// impl Service {
///     const NAME: &'static str = "service";
///
///     #[on_exit(priority = 1)]
///     fn cleanup_all() {
///         println!("cleaning up every {}", Self::NAME);
///     }
/// }
/// # fn main() {
/// # assert_eq!(atexit::unregister_fn(Cache::flush), 1);
/// # atexit::clear();
/// # }
/// ```
///
/// With the `tokio` feature, the function may be `async` (its future must be `Send`);
/// it then runs to completion on a tokio runtime of the exit run's own, in exit order
/// with the other handlers.
///
/// Misuse is a compile error that points at the offending tokens: arguments, a
/// receiver, `async` without the `tokio` feature, `unsafe`, generics, an unknown or
/// repeated option, a priority that is not an `i32`, a return type other than `()` or
/// `Result<(), E>`.
pub use atexit_macros::on_exit;

pub use atexit_runtime::{
    adopt_inherited, clear, exit, exit_reason, guard, handlers, is_exiting, on_panic, pending,
    register, register_with, request_stop, run_exit_handlers, set_exit_deadline,
    set_handler_timeout, set_stop_grace, stop_request, stop_requested, stopping, unregister,
    unregister_fn, wait_for_stop, wait_for_stop_timeout, ExitReason, Guard, Handle, HandlerInfo,
    HandlerTable, StopRequest, Stopping,
};

#[cfg(feature = "signals")]
#[cfg_attr(docsrs, doc(cfg(feature = "signals")))]
pub use atexit_runtime::catch_signals;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use atexit_runtime::{register_async, register_async_with};

/// What `#[on_exit]` expands to. Not public API: versioned so that two incompatible
/// versions of `atexit` in one binary cannot mix their handlers.
#[doc(hidden)]
pub use atexit_runtime::__private as __private_v0_1;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
