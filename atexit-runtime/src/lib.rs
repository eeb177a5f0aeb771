//! The runtime of the [`atexit`](https://docs.rs/atexit) crate: the slice of
//! `#[on_exit]` handlers, the registry of dynamic ones, and the exit hook that runs
//! them. Depend on `atexit`, which re-exports everything public here; the items
//! documented there are the supported API.
//!
//! Modules, each using only those listed before it:
//! - `report`: the runtime's lines on stderr, and `ATEXIT_TRACE`;
//! - `payload`: the type-erased closure a dynamic handler stores;
//! - `order`: the exit order: the rank that decides which handler runs next;
//! - `info`: the one description of a handler, which `handlers()` lists;
//! - `threads`: what the runtime knows of each thread, with no thread-local that
//!   glibc destroys at exit;
//! - `statics`: the link-time slice of `#[on_exit]` handlers, sorted into exit order;
//! - `registry`: the dynamic handlers, in per-thread shards;
//! - `pending`: the pending handlers of both kinds, in exit order;
//! - `guard`: the [`Guard`] type;
//! - `exit`: the exit run: who owns it and why, the `atexit::exit` code, each
//!   handler's job and report, the one thread a run executes its handlers on (fresh
//!   thread-locals, the main thread's stack) and the thread waiting for it, which
//!   watches the time limits, panics, and how an exit after a signal's stop request
//!   ends;
//! - `stop`: the graceful stop: the request, the waiters it wakes, the grace;
//! - `signals`: `catch_signals`;
//! - `fork`: what a forked child inherits, and `adopt_inherited`;
//! - `install`: the libc `atexit` and `fork` hooks, installed before `main`.
//!
//! This file is the API, on top of them all.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod exit;
#[cfg(unix)]
mod fork;
mod guard;
mod info;
mod install;
mod order;
mod payload;
mod pending;
mod registry;
mod report;
#[cfg(feature = "signals")]
mod signals;
mod statics;
mod stop;
mod threads;

use std::any::{Any, TypeId};
use std::panic::{self, AssertUnwindSafe, Location};
use std::time::Duration;

pub use exit::ExitReason;
pub use guard::Guard;
pub use info::{HandlerInfo, HandlerTable};
pub use registry::Handle;
pub use stop::{StopRequest, Stopping};

use payload::Payload;

/// Registers `f` to run when the process exits, at priority 0.
///
/// Handlers run newest first; see [`register_with`] to order them by priority. The
/// closure must own what it uses (`move`), so each registration captures the values
/// of the moment it was made.
///
/// ```
/// for name in ["a.txt", "b.txt"] {
///     atexit::register(move || println!("cleanup {name}"));
/// }
/// assert_eq!(atexit::pending(), 2);
/// # atexit::clear();
/// ```
#[track_caller]
pub fn register<F>(f: F) -> Handle
where
    F: FnOnce() + Send + 'static,
{
    register_with(0, f)
}

/// Registers `f` to run when the process exits, at `priority`.
///
/// Higher priorities run first; within a priority, the newest handler runs first,
/// and dynamic handlers run before `#[on_exit]` functions of the same priority.
/// Between threads, newest means "happened after": a registration made after
/// another, on the same thread or on one that synchronised with the first one's
/// (through a lock, a channel, a join...), runs before it; registrations racing on
/// different threads run in either order. Any mix of priorities costs O(log P) per
/// registration (amortised), for P distinct priorities pending; one priority, or a
/// new highest one each time, O(1).
///
/// ```
/// atexit::register_with(-10, || println!("runs last: closes the log"));
/// atexit::register_with(10, || println!("runs first: stops the workers"));
/// let order: Vec<i32> = atexit::handlers().iter().map(|h| h.priority()).collect();
/// assert_eq!(order, [10, -10]);
/// # atexit::clear();
/// ```
#[track_caller]
pub fn register_with<F>(priority: i32, f: F) -> Handle
where
    F: FnOnce() + Send + 'static,
{
    install::ensure_installed();
    registry::insert(priority, Payload::new(f), Location::caller())
}

/// Runs `f` exactly once: when the returned guard drops, or at exit if the guard is
/// still alive then (say, `std::process::exit` was called while it was in scope).
///
/// This is Python's "register in `__enter__`, unregister in `__exit__`" done in one
/// value: there is no window in which the cleanup is registered twice or not at all.
/// [`Guard::dismiss`] cancels it. Like any destructor, a closure that panics while
/// its guard is dropped during another panic aborts the process.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// static RELEASED: AtomicUsize = AtomicUsize::new(0);
///
/// {
///     let _connection = atexit::guard(|| {
///         RELEASED.fetch_add(1, Ordering::SeqCst);
///     });
///     assert_eq!(atexit::pending(), 1);
/// } // released here, and never again at exit
/// assert_eq!(RELEASED.load(Ordering::SeqCst), 1);
/// assert_eq!(atexit::pending(), 0);
/// ```
#[track_caller]
#[inline]
pub fn guard<F>(f: F) -> Guard
where
    F: FnOnce() + Send + 'static,
{
    install::ensure_installed();
    Guard::new(Payload::new(f), Location::caller())
}

/// Registers `future` to run to completion when the process exits, at priority 0.
///
/// Async handlers are ordered with the others by the same rule (priority, then
/// newest first) and run one at a time, each to completion, on a current-thread
/// tokio runtime with time and I/O enabled that the exit run makes when it first
/// needs one, on a thread of its own. The handler timeout and the exit deadline
/// apply: a future that never completes is abandoned and the rest run.
///
/// ```
/// let handle = atexit::register_async(async {
///     tokio::time::sleep(std::time::Duration::from_millis(1)).await;
///     println!("flushed the exporter");
/// });
/// assert!(atexit::handlers()[0].is_async());
/// # atexit::unregister(handle);
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[track_caller]
pub fn register_async<F>(future: F) -> Handle
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    register_async_with(0, future)
}

/// Registers `future` to run to completion when the process exits, at `priority`;
/// see [`register_async`] and [`register_with`].
///
/// ```
/// atexit::register_async_with(5, async { println!("runs before priority 0") });
/// assert_eq!(atexit::handlers()[0].priority(), 5);
/// # atexit::clear();
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[track_caller]
pub fn register_async_with<F>(priority: i32, future: F) -> Handle
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    install::ensure_installed();
    registry::insert(priority, Payload::new_async(future), Location::caller())
}

/// Removes the handler `handle` names. Returns true if it was pending and now never
/// runs; false if it already ran, is running, or was removed before.
///
/// The closure is dropped (not called) before this returns. If dropping it panics,
/// the handler is removed all the same and the panic reaches the caller.
///
/// ```
/// let handle = atexit::register(|| println!("this won't run"));
/// assert!(atexit::unregister(handle));
/// assert_eq!(atexit::pending(), 0);
/// ```
pub fn unregister(handle: Handle) -> bool {
    registry::remove(&handle).is_some()
}

/// Python's `atexit.unregister(func)`: removes every pending handler that is the
/// function `f`, and returns how many.
///
/// That is every `#[on_exit]` handler declared on `f` (it will not run), and every
/// handler registered by passing `f` itself to [`register`]. Pass the function item
/// (`unregister_fn(my_cleanup)`): a function pointer or a capturing closure does not
/// name one function, and is refused at compile time. Functions are told apart by
/// their path, so two functions at the same path (declared in two blocks of one
/// function body) are removed together. It looks at every pending
/// handler, so it takes time in proportion to their number; [`unregister`] with a
/// handle is O(1). If dropping a closure panics, every handler is still removed and
/// the first such panic then reaches the caller.
///
/// ```
/// fn my_cleanup() {
///     println!("this won't run");
/// }
///
/// atexit::register(my_cleanup);
/// atexit::register(my_cleanup);
/// assert_eq!(atexit::unregister_fn(my_cleanup), 2);
/// assert_eq!(atexit::unregister_fn(my_cleanup), 0);
/// ```
pub fn unregister_fn<F: 'static>(f: F) -> usize {
    const {
        assert!(
            std::mem::size_of::<F>() == 0,
            "`unregister_fn` takes a function item such as `my_cleanup`, not a function pointer or a closure that captures"
        )
    };
    let path = statics::function_path(&f);
    drop(f);
    let removed = registry::remove_all_of_type(TypeId::of::<F>());
    let count = removed.len() + statics::disable_function(path);
    drop_all(removed);
    count
}

/// Drops every closure, even when one's destructor panics; the first such panic is
/// then resumed.
fn drop_all(payloads: Vec<Payload>) {
    let mut first_panic: Option<Box<dyn Any + Send>> = None;
    for payload in payloads {
        if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(|| drop(payload))) {
            first_panic.get_or_insert(panic);
        }
    }
    if let Some(panic) = first_panic {
        panic::resume_unwind(panic);
    }
}

/// Python's `atexit._run_exitfuncs`: runs every pending handler now, in exit order.
///
/// Each handler runs at most once per process, however runs overlap: the handlers
/// this runs will not run again at exit, and a handler registered later still runs
/// then. If a handler calls [`exit`], the rest still run and then the process exits.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// static FLUSHED: AtomicBool = AtomicBool::new(false);
///
/// atexit::register(|| FLUSHED.store(true, Ordering::SeqCst));
/// atexit::run_exit_handlers();
/// assert!(FLUSHED.load(Ordering::SeqCst));
/// assert_eq!(atexit::pending(), 0);
/// ```
pub fn run_exit_handlers() {
    exit::run_explicitly();
}

/// Python's `atexit._clear`: drops every pending handler without running it, and
/// returns how many there were.
///
/// If dropping a closure panics, every handler is still removed, and the first such
/// panic then reaches the caller.
///
/// ```
/// atexit::register(|| println!("never printed"));
/// atexit::clear();
/// assert_eq!(atexit::pending(), 0);
/// ```
pub fn clear() -> usize {
    let removed = registry::take_all();
    let count = removed.len() + statics::disable_all();
    drop_all(removed);
    count
}

/// The exact number of handlers that would run if the process exited now.
///
/// ```
/// let before = atexit::pending();
/// let handle = atexit::register(|| {});
/// assert_eq!(atexit::pending(), before + 1);
/// atexit::unregister(handle);
/// assert_eq!(atexit::pending(), before);
/// ```
pub fn pending() -> usize {
    pending::count()
}

/// The pending handlers, in the order they will run.
///
/// Meant for debugging and tests; [`HandlerInfo::table`] formats the list.
///
/// ```
/// atexit::register_with(1, || {});
/// for handler in atexit::handlers() {
///     println!("{handler}");
/// }
/// println!("{}", atexit::HandlerInfo::table(&atexit::handlers()));
/// # atexit::clear();
/// ```
pub fn handlers() -> Vec<HandlerInfo> {
    pending::in_exit_order()
}

/// Exits the process with `code`, running the exit handlers: the one way to exit that
/// is safe inside a handler.
///
/// Outside an exit run it is [`std::process::exit`] (on Windows, the C runtime's
/// `exit`, which, unlike `std::process::exit` there, runs the handlers as returning
/// from `main` does); like C's `exit`, not from inside another library's exit
/// functions. Inside a handler, or on any
/// thread while the process is running its exit handlers, it records `code` and
/// unwinds the calling thread: a handler ends there (its locals are dropped), a
/// helper thread that a handler joins ends and the handler's `join` returns `Err`,
/// the remaining handlers still run, and the process then exits with `code`. If
/// several calls are made, the last one wins, except that a handler the timeout
/// abandoned no longer changes anything.
///
/// `std::process::exit` inside a handler does not do this, and what it does depends
/// on where the exit began. When it began in std (`main` returned,
/// `std::process::exit`, `atexit::exit`), std lets only the thread that began it
/// exit: on Linux the handler's thread stops for good, and the rest of the run waits
/// for it as for a hung handler, until the handler timeout or the deadline (without
/// either, forever); on Windows the process ends at once. In a run started by a
/// caught signal or by [`run_exit_handlers`], it is the process's first call to
/// `exit`: the remaining handlers run, and the process exits with that code. On
/// macOS the C library's `exit` is called a second time, which C leaves undefined.
///
/// With `panic = "abort"` nothing unwinds: the calling handler ends without its
/// locals being dropped and the run goes on, and another thread calling it during the
/// run stops for good, so that a handler joining that thread waits until the handler
/// timeout or the exit deadline abandons it. In a run started by a signal caught with
/// [`catch_signals`], or by a panic, the process ends that way whatever code a
/// handler asks for. After a signal's [graceful stop](set_stop_grace), when the
/// program ended by itself, this is how it chooses its status: the process exits
/// with `code` rather than dying by the signal.
///
/// ```no_run
/// atexit::register(|| {
///     if std::path::Path::new("/tmp/half-written").exists() {
///         atexit::exit(3); // the exit status now says the shutdown was not clean
///     }
/// });
/// atexit::exit(0);
/// ```
pub fn exit(code: i32) -> ! {
    exit::exit(code)
}

/// True once the process has begun its exit run: from the libc exit hook, from a
/// signal caught by [`catch_signals`], or from a panic with `panic = "abort"`; false
/// in a run started by [`run_exit_handlers`].
///
/// ```
/// assert!(!atexit::is_exiting());
/// ```
pub fn is_exiting() -> bool {
    exit::is_exiting()
}

/// Why the handlers are running: `Some` inside an exit run (in static, dynamic and
/// guard handlers alike, on any thread the run uses), `None` outside one, also once
/// [`run_exit_handlers`] has returned.
///
/// On Linux with glibc, [`ExitReason::Exit`] carries the exact status passed to
/// `exit`; other C libraries do not tell it, and the reason is then
/// [`ExitReason::ExitStatusUnknown`].
///
/// The reason is the process's, not the calling thread's: while one thread runs
/// [`run_exit_handlers`], every thread sees `Some(Explicit)`. A shared library's copy
/// of the runtime reports `ExitStatusUnknown` while the library is unloaded, though
/// the process goes on. A child forked inside a handler sees its parent's reason (it
/// goes on with that run); one forked by any other thread starts with `None`.
///
/// A panic in `main` is [`ExitReason::Panic`] when the panic hook saw it: `main`
/// ending by [`std::panic::resume_unwind`] (say, with tokio's
/// `JoinError::into_panic`) skips the hook, and the reason is then `Exit(101)`. The
/// other way round, a program that caught a panic of the main thread and then calls
/// `exit(101)` gets `Panic`.
///
/// ```
/// use atexit::ExitReason;
///
/// assert_eq!(atexit::exit_reason(), None);
/// atexit::register(|| assert_eq!(atexit::exit_reason(), Some(ExitReason::Explicit)));
/// atexit::run_exit_handlers();
/// assert_eq!(atexit::exit_reason(), None);
/// ```
pub fn exit_reason() -> Option<ExitReason> {
    exit::reason()
}

/// Sets how long the whole exit may take, overriding `ATEXIT_DEADLINE_MS` (a whole
/// number of milliseconds). `None` or a zero duration means no deadline, the default.
///
/// The deadline counts from the start of the exit run (`main` returned, `exit` was
/// called, a caught signal, a panic), and is read then: a call made during a run
/// applies to the next run, not to the one in progress. When it passes, the running
/// handler is abandoned, every handler that has not run is reported on stderr as
/// skipped (none of its code runs, its closure's destructor included), and the
/// process ends at once with the status it was exiting with: C's buffered output is
/// flushed if that takes less than 100 ms (an abandoned handler may hold a stream's
/// lock, or write to a pipe nobody reads: what such a stream buffered is lost),
/// nothing else runs, and a run started by a signal dies by that signal. Where the C
/// library does not tell the status (not glibc), the runtime returns to it instead,
/// and it ends the process with that status after the exit handlers of other
/// libraries, within a second (else with status 1, said on stderr: its stream flush
/// may wait for a lock an abandoned handler holds). Each handler is still limited by
/// the [handler timeout](set_handler_timeout). It does not apply to
/// [`run_exit_handlers`]. A thread that registers handlers without pause during the
/// run keeps it going until the deadline (every handler registered during the run
/// runs).
///
/// Supervisors kill a process that does not stop in time (systemd after
/// `TimeoutStopSec`, Kubernetes after `terminationGracePeriodSeconds`, Docker after
/// 10 s): a deadline below theirs leaves a report of what was skipped rather than
/// nothing. After a panic with `panic = "abort"` the run is bounded by 10 seconds
/// unless the program set a deadline of its own: a lock the panic left held must not
/// turn the crash into a hang, so `None`, zero and an empty `ATEXIT_DEADLINE_MS` do
/// not remove that bound; a positive deadline replaces it.
///
/// ```
/// use std::time::Duration;
/// atexit::set_exit_deadline(Some(Duration::from_secs(25)));
/// ```
pub fn set_exit_deadline(deadline: Option<Duration>) {
    exit::set_deadline(deadline);
}

/// For a program that sets its own panic hook: call this from it, so that a panic
/// still runs the exit handlers where it must.
///
/// The runtime installs a panic hook before `main`, in front of the one in place, and
/// so it runs after any hook set before. `std::panic::set_hook` called later replaces
/// it; the new hook then calls this. With `panic = "abort"`, this is what runs the
/// exit handlers before the process aborts; with unwinding, what tells a panic in
/// `main` ([`ExitReason::Panic`]) from `exit(101)`.
///
/// ```
/// std::panic::set_hook(Box::new(|info| {
///     eprintln!("my program crashed: {info}");
///     atexit::on_panic(info);
/// }));
/// # let _ = std::panic::take_hook();
/// ```
pub fn on_panic(info: &std::panic::PanicHookInfo<'_>) {
    exit::on_panic(info);
}

/// Sets how long each handler may run at exit, overriding `ATEXIT_TIMEOUT_MS` (a
/// whole number of milliseconds). `None` or a zero duration turns the timeout off.
///
/// A handler that overruns is abandoned: its name and location go to stderr, the
/// remaining handlers run, and the process exits with the status it was exiting with.
/// [`set_exit_deadline`] bounds the whole exit instead.
/// Handlers run on the exit run's own thread; with a timeout, the thread that began
/// the exit watches it, sampling which handler runs, so a handler is abandoned once
/// it has run for the timeout and at most a sixteenth of it more (a watched handler
/// costs one atomic compare-and-swap). Without one (the default) nothing watches them.
/// Each handler takes the timeout in force when it starts, so a call made during a
/// run applies to the handlers that start after it.
///
/// `ATEXIT_TIMEOUT_MS` is read once, the first time a timeout is needed; an empty
/// value or `0` means none, and a value that is not a whole number of milliseconds
/// is reported on stderr and ignored.
///
/// ```
/// use std::time::Duration;
/// atexit::set_handler_timeout(Some(Duration::from_secs(2)));
/// ```
pub fn set_handler_timeout(timeout: Option<Duration>) {
    exit::set_timeout(timeout);
}

/// Makes SIGINT, SIGTERM, SIGHUP and SIGQUIT ask the program to stop, then run the
/// exit handlers, then end the process by that same signal, so a parent or shell
/// sees the true cause (130 after Ctrl-C in a shell, 143 after SIGTERM).
///
/// The first signal requests the stop: [`stopping`] futures complete and
/// [`wait_for_stop`] returns, with [`stop_request`] telling the signal. With no
/// [stop grace](set_stop_grace) (the default), the handlers then run at once, on a
/// thread of their own, never inside a signal handler, while the rest of the program
/// keeps running; the process then dies by the signal. With a grace, nothing else
/// happens until the program ends by itself (its handlers run as in any exit, and
/// the process still dies by the signal, unless it called [`exit`] or panicked), the
/// grace passes, or a second signal comes (the handlers run then, as with no grace).
///
/// A signal while the handlers run ends the process at once, and so does a caught
/// signal that arrives while the process is already running its handlers on its way
/// out (after `main` returned, say), as it would without `catch_signals`: Ctrl-C
/// stops a shutdown that hangs, and three Ctrl-C always end a program. A copy of the
/// signal before it, within about 100 ms, counts as the same signal: `timeout`
/// sends its signal to the process and then to its process group, and a person
/// takes longer to press Ctrl-C twice. Calling this again does nothing, except in a
/// forked child, whose signals take their default action until it calls this itself.
///
/// A signal that is ignored when this is first called stays ignored, as Unix
/// programs do (`nohup` ignores SIGHUP; a shell starts background jobs with SIGINT and
/// SIGQUIT ignored).
///
/// A program that waits for these signals to shut down calls this, sets a grace,
/// and waits on [`stopping`] (or [`wait_for_stop`]) rather than on the signals
/// themselves (through `signal-hook` or `tokio::signal`): the handlers then run once
/// its shutdown path is done, whichever way it ends.
///
/// ```
/// use std::time::Duration;
///
/// atexit::catch_signals().expect("signal handlers installed");
/// atexit::set_stop_grace(Some(Duration::from_secs(20)));
/// ```
#[cfg(feature = "signals")]
#[cfg_attr(docsrs, doc(cfg(feature = "signals")))]
pub fn catch_signals() -> std::io::Result<()> {
    install::ensure_installed();
    signals::catch_signals()
}

/// Sets how long a signal caught by [`catch_signals`] waits for the program to stop
/// by itself before the exit handlers run, overriding `ATEXIT_GRACE_MS` (a whole
/// number of milliseconds). `None` or a zero duration means no grace, the default:
/// the handlers run as soon as the signal comes.
///
/// With a grace, the first signal only [requests the stop](stop_request). Then,
/// whichever comes first:
/// - the program ends by itself: the handlers run as in any exit, and the process
///   then dies by the signal, with [`exit_reason`] `Signal(n)`, if it returned from
///   `main` or called [`std::process::exit`] (whatever status it passed). A program
///   that wants another status calls [`exit`]`(code)`: the process exits with that,
///   and from then on the reason is `Exit(code)`. A panic stays a panic;
/// - the grace passes: the handlers run at once, on a thread of the runtime's, while
///   the program's threads still run, and the process dies by the signal;
/// - a second signal comes: as if the grace had passed, now. The reason and the
///   signal the process dies by stay those of the first.
///
/// The [exit deadline](set_exit_deadline) counts from the start of the handler run,
/// not from the signal: grace and deadline add up, and together they must fit in
/// what a supervisor allows (Kubernetes' `terminationGracePeriodSeconds`, 30 s by
/// default). On Windows a closed console or a shutdown allows about 5 s in all: the
/// grace is cut to half of that there, and the handlers get the rest.
///
/// `ATEXIT_GRACE_MS` is read once, at the latest when [`catch_signals`] is called; an
/// empty value or `0` means none, and a value that is not a whole number of
/// milliseconds is reported once on stderr and ignored. A forked child keeps the
/// setting.
///
/// ```
/// use std::time::Duration;
///
/// atexit::catch_signals().expect("signal handlers installed");
/// atexit::set_stop_grace(Some(Duration::from_secs(20)));
/// # atexit::set_stop_grace(None);
/// ```
pub fn set_stop_grace(grace: Option<Duration>) {
    stop::set_grace(grace);
}

/// Whether the program was asked to stop: by a signal caught with
/// [`catch_signals`], or by [`request_stop`].
///
/// ```
/// assert!(!atexit::stop_requested());
/// atexit::request_stop();
/// assert!(atexit::stop_requested());
/// ```
pub fn stop_requested() -> bool {
    stop::STOP.request().is_some()
}

/// What asked the program to stop, if anything did. The first request stays: it
/// never changes once set.
///
/// ```
/// use atexit::StopRequest;
///
/// assert_eq!(atexit::stop_request(), None);
/// atexit::request_stop();
/// assert_eq!(atexit::stop_request(), Some(StopRequest::Program));
/// ```
pub fn stop_request() -> Option<StopRequest> {
    stop::STOP.request()
}

/// A future that completes once the program is asked to stop, at once if it
/// already was: the shutdown signal of a server.
///
/// It needs no feature and no particular runtime, so it works with `tokio::select!`
/// and any executor, and as the shutdown future of a server: axum's
/// `axum::serve(listener, app).with_graceful_shutdown(atexit::stopping())`, tonic's
/// `serve_with_shutdown(address, atexit::stopping())`. Any number of them may be
/// created, before or after the request. Set a [grace](set_stop_grace) so that the
/// exit handlers run after the program has stopped, not while it drains.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut ticks = tokio::time::interval(std::time::Duration::from_millis(10));
/// # atexit::request_stop();
/// loop {
///     tokio::select! {
///         _ = atexit::stopping() => break,
///         _ = ticks.tick() => println!("working"),
///     }
/// }
/// println!("stopped: {:?}", atexit::stop_request());
/// # }
/// ```
pub fn stopping() -> Stopping {
    stop::STOP.stopping()
}

/// Blocks the calling thread until the program is asked to stop: for programs with
/// threads and no async runtime.
///
/// ```
/// let worker = std::thread::spawn(|| {
///     atexit::wait_for_stop();
///     println!("worker: finishing the last job");
/// });
/// atexit::request_stop();
/// worker.join().unwrap();
/// ```
pub fn wait_for_stop() {
    stop::STOP.wait(None);
}

/// Blocks the calling thread until the program is asked to stop or `timeout`
/// passes. Returns `true` when a stop was requested (at once if it already was),
/// `false` when the time ran out.
///
/// ```
/// use std::time::Duration;
///
/// while !atexit::wait_for_stop_timeout(Duration::from_millis(10)) {
///     // one round of work between checks
/// #   atexit::request_stop();
/// }
/// assert!(atexit::wait_for_stop_timeout(Duration::ZERO));
/// ```
pub fn wait_for_stop_timeout(timeout: Duration) -> bool {
    stop::STOP.wait(Some(timeout))
}

/// The program asks itself to stop (an admin endpoint, a fatal error in one
/// worker): every [`stopping`] future completes and every [`wait_for_stop`]
/// returns, and [`stop_request`] is `Some(Program)`. Nothing else happens: no grace
/// starts and the process does not exit. The first request wins: a signal caught
/// later leaves [`stop_request`] as it is, but still starts the grace.
///
/// A forked child starts with no stop requested, whatever its parent did.
///
/// ```
/// atexit::request_stop();
/// assert_eq!(atexit::stop_request(), Some(atexit::StopRequest::Program));
/// ```
pub fn request_stop() {
    stop::request(StopRequest::Program);
}

/// In a child made by `fork()`, takes over the handlers inherited from the parent,
/// which otherwise never run in the child. Returns how many it took over.
///
/// By default a handler runs only in the process that registered it (`#[on_exit]`
/// handlers belong to the process that started the program), so a forked child that
/// exits does not delete its parent's temporary files or flush its buffers twice.
/// A daemon that forks and lets the parent exit calls this in the child. A handler
/// the child removed before (an inherited [`Guard`] it dropped, a [`Handle`] it
/// unregistered) is not taken over: it never runs in the child. In a process that was
/// not forked it does nothing.
///
/// ```
/// assert_eq!(atexit::adopt_inherited(), 0);
/// ```
pub fn adopt_inherited() -> usize {
    #[cfg(unix)]
    return fork::adopt_inherited();
    #[cfg(not(unix))]
    0
}

/// What the `#[on_exit]` attribute expands to. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::__atexit_keep_linked_v0_1 as keep_linked;
    pub use crate::install::link_exit_hook;
    pub use crate::order::{OrderKey, Source};
    #[cfg(feature = "tokio")]
    pub use crate::payload::BoxFuture;
    pub use crate::statics::{
        function_path, HandlerReturn, Reply, Request, StaticHandler, StaticInfo,
        ATEXIT_V0_1_HANDLERS,
    };
    pub use linkme;
}
