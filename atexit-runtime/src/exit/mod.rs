//! The exit of the process: who runs it, why, the code it ends with, and the ways in.
//!
//! Four things start an exit run: the libc exit hook (`main` returned, or something
//! called `exit`), a signal caught by `catch_signals`, a panic when nothing can
//! unwind (`panic = "abort"`), and `run_exit_handlers`. The first three end the
//! process and are exclusive: whichever comes first owns the exit. A handler that
//! calls `atexit::exit` leaves its code here; whoever ends the process applies the
//! last one.

mod after_stop;
mod executor;
mod job;
mod limits;
mod panic;
mod reason;
mod request;
mod run;
mod run_thread;
mod watchdog;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::registry;
use crate::report;
use crate::threads;

#[cfg(all(unix, feature = "signals"))]
pub(crate) use after_stop::first_signal;
#[cfg(feature = "signals")]
pub(crate) use after_stop::{die_by, signal_arrived};
pub(crate) use limits::Limit;
pub(crate) use panic::{install_hook as install_panic_hook, on_panic};
pub(crate) use reason::current as reason;
pub use reason::ExitReason;

use executor::Executor;
use limits::{DEADLINE, TIMEOUT};
use run::Mode;
use watchdog::{RunEnd, Watchdog};

/// Who runs the exit of the process.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    Nobody = 0,
    /// The libc exit hook.
    ProcessExit = 1,
    /// The signal thread, after a caught signal.
    #[cfg_attr(not(feature = "signals"), allow(dead_code))]
    Signal = 2,
    /// A panicking thread, with `panic = "abort"`.
    #[cfg_attr(not(panic = "abort"), allow(dead_code))]
    Panic = 3,
    /// Windows: a TLS or fiber-local callback, as the process or the DLL goes away.
    #[cfg(windows)]
    ProcessDetach = 4,
}

static OWNER: AtomicU8 = AtomicU8::new(Owner::Nobody as u8);

/// In a child forked while its parent was exiting, by a thread that was not running
/// handlers, who owned the parent's exit: the child does not go on with that exit,
/// but its copy of the parent's `std::process::exit` is under way, so std refuses
/// another. `Nobody` everywhere else.
#[cfg(unix)]
static FORKED_FROM_AN_EXIT: AtomicU8 = AtomicU8::new(Owner::Nobody as u8);

/// Set when this copy of the runtime lives in a shared object: its exit hook then
/// runs while the library is unloaded, under the dynamic loader's lock, where a new
/// thread would wait for that lock forever.
static THREADLESS: AtomicBool = AtomicBool::new(false);

/// The mode of a run where no thread may start.
fn threadless_mode() -> Mode {
    #[cfg(windows)]
    if threads::others_were_ended() {
        return Mode::ThreadsEnded;
    }
    Mode::Threadless
}

/// Called when the runtime finds itself in a shared object (known on Linux with
/// glibc and on Windows).
pub(crate) fn start_no_threads() {
    THREADLESS.store(true, Ordering::SeqCst);
}

/// Makes `owner` the owner of the exit; false if someone else already is.
fn claim(owner: Owner) -> bool {
    OWNER
        .compare_exchange(
            Owner::Nobody as u8,
            owner as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
}

/// True once the process has begun the run that ends it.
pub(crate) fn is_exiting() -> bool {
    OWNER.load(Ordering::Acquire) != Owner::Nobody as u8
}

pub(crate) fn set_timeout(timeout: Option<Duration>) {
    TIMEOUT.set(timeout);
}

pub(crate) fn set_deadline(deadline: Option<Duration>) {
    DEADLINE.set(deadline);
}

/// Called by the libc exit hook, with the status passed to `exit` where the C
/// library tells it.
pub(crate) fn at_process_exit(status: Option<i32>) {
    if !claim(Owner::ProcessExit) && !threads::is_running_handlers() {
        // The loader's callbacks ran the handlers on this thread already: they come
        // before a DLL's C runtime runs its `atexit` table at `FreeLibrary`.
        #[cfg(windows)]
        if OWNER.load(Ordering::Acquire) == Owner::ProcessDetach as u8 {
            return;
        }
        // Another run owns the exit (a caught signal's, say) and ends the process
        // its own way; a second run here would race it and change the status.
        threads::park_forever();
    }
    let reason = match status {
        Some(101) if panic::main_panicked() => ExitReason::Panic,
        Some(status) => ExitReason::Exit(status),
        None if panic::main_panicked() => ExitReason::Panic,
        None => ExitReason::ExitStatusUnknown,
    };
    // A handler calling C's `exit` (`std::process::exit` in a signal's run) ends the
    // run with its status; only the program's own exit after a stop dies by it.
    let ending_signal = if threads::is_running_handlers() {
        None
    } else {
        after_stop::ending_signal(reason == ExitReason::Panic)
    };
    let reason = ending_signal.map_or(reason, ExitReason::Signal);
    if THREADLESS.load(Ordering::SeqCst) {
        run_threadless(reason);
        if let Some(code) = request::take() {
            // Not `exit`: when the library is being unloaded, the loader's lock is
            // held, and the exit handlers of the program (another copy of this
            // runtime's, say) could start a thread, which would wait for it forever.
            // On glibc nothing tells an unload from the process's exit, so both end
            // now; on Windows only termination changes the status once `ExitProcess`
            // is under way.
            end_from_threadless_run(code);
        }
    } else if run_to_the_end(reason, DEADLINE.duration()) == RunEnd::DeadlinePassed {
        let requested = request::take();
        if requested.is_none() {
            after_stop::die_if(ending_signal);
        }
        match requested.or(status) {
            Some(code) => end_at_deadline(code),
            // The C library did not tell the status, and knows it: it ends the process
            // with it once this returns, after the exit handlers of other libraries
            // and a flush of its streams, which may wait for a lock an abandoned
            // handler holds. That is bounded too.
            None => {
                end_unless_ended_within(C_EXIT_PATIENCE);
                return;
            }
        }
    }
    if let Some(code) = request::take() {
        exit_with_new_status(code);
    }
    after_stop::die_if(ending_signal);
}

/// Runs the handlers on the calling thread (the signal thread, or the grace timer),
/// unless the process is already exiting. Returns whether it ran them: the caller
/// then dies by the signal; otherwise the run under way ends the process.
#[cfg(all(unix, feature = "signals"))]
pub(crate) fn for_signal(signal: i32) -> bool {
    if !claim(Owner::Signal) {
        return false;
    }
    run_to_the_end(ExitReason::Signal(signal), DEADLINE.duration());
    true
}

/// Windows calls this when a console event caught by `catch_signals` arrives, on a
/// thread of its own; the caller then ends the process, if this ran the handlers
/// (otherwise the run under way ends it). For a closed window or a shutdown, Windows
/// ends it itself a few seconds later: the run gets the time left, `allowed`, as
/// its deadline unless the program set one.
#[cfg(all(windows, feature = "signals"))]
pub(crate) fn for_console_event(signal: i32, allowed: Option<Duration>) -> bool {
    if !claim(Owner::Signal) {
        return false;
    }
    let deadline = match DEADLINE.get() {
        limits::Setting::Unset if allowed.is_some() => allowed,
        setting => setting.duration(),
    };
    run_to_the_end(ExitReason::Signal(signal), deadline);
    true
}

/// Windows: the process is going away (`ExitProcess`, after `std::process::exit`
/// say: every other thread is gone) or this DLL copy of the runtime is being freed,
/// and nothing ran the handlers. The loader lock is held, so no thread may be
/// started: the handlers run here, one after the other, with no timeout, no deadline
/// and no async handler, and nothing waits for others.
#[cfg(windows)]
pub(crate) fn at_process_detach() {
    if !claim(Owner::ProcessDetach) {
        return;
    }
    run_threadless(ExitReason::ExitStatusUnknown);
    if let Some(code) = request::take() {
        end_from_threadless_run(code);
    }
}

/// A thread panicked and nothing can unwind: runs the handlers on it, within a
/// deadline. The process aborts when this returns.
#[cfg(panic = "abort")]
fn run_after_panic() {
    if !claim(Owner::Panic) {
        // Another run owns the exit: this panic ends the process now, as a crash
        // during the exit would.
        return;
    }
    // A crash must never hang: only a deadline the program set replaces the bound;
    // turning the deadline off does not remove it.
    let deadline = DEADLINE.duration().unwrap_or(limits::DEADLINE_AFTER_PANIC);
    run_to_the_end(ExitReason::Panic, Some(deadline));
}

/// `atexit::run_exit_handlers`.
pub(crate) fn run_explicitly() {
    let nested = threads::is_running_handlers();
    reason::explicit_run_begins();
    trace_start();
    let end = if threads::may_start_threads() {
        Watchdog::new(Mode::Explicit).pass()
    } else {
        // Inside a run where no thread may start (a library's handler, while the
        // library is unloaded): this one starts none either.
        let _in_flight = threads::InFlight::begin();
        run::take_and_run(threadless_mode(), None, &mut Executor::elsewhere());
        RunEnd::Completed
    };
    reason::explicit_run_ends();
    if end == RunEnd::HandlerPanicked {
        report::line(format_args!(
            "a handler panicked in run_exit_handlers() and nothing can unwind to its caller; aborting"
        ));
        std::process::abort();
    }
    // An exit under way applies the code itself; this thread must not race it.
    if !nested && !is_exiting() {
        if let Some(code) = request::peek() {
            // Left in place: if another thread begins the exit first, std parks this
            // one, and that exit applies the code.
            exit_process(code);
        }
    }
}

/// `atexit::exit`.
pub(crate) fn exit(code: i32) -> ! {
    if !threads::is_running_handlers() && !is_exiting() {
        #[cfg(unix)]
        exit_forked_from_an_exit(code);
        exit_process(code)
    }
    let thread = run_thread::this();
    // A handler the watchdog gave up on no longer decides anything (but in a child
    // it forked, where it is all there is).
    if !thread.is_some_and(|thread| thread.is_abandoned() && !thread.in_forked_child()) {
        request::record(code);
        reason::exit_requested(code);
    }
    #[cfg(not(panic = "abort"))]
    std::panic::resume_unwind(Box::new(request::Unwinding));
    #[cfg(panic = "abort")]
    match thread {
        Some(thread) => watchdog::stop_in_handler(thread, false, || {}),
        // A run on the thread that began it (where no thread may start): the rest
        // runs here, since nothing unwinds back to the run, and then the process ends.
        None if threads::is_running_handlers() => {
            let _ = run::take_and_run(threadless_mode(), None, &mut Executor::elsewhere());
            end_from_threadless_run(request::take().unwrap_or(code))
        }
        None => threads::park_forever(),
    }
}

/// `atexit::exit` in a child forked while its parent was exiting, by a thread that
/// was not running handlers: std's exit would wait forever for the parent's exiting
/// thread, which does not exist here, so C's is called. Returns if this is no such
/// child.
#[cfg(unix)]
fn exit_forked_from_an_exit(code: i32) {
    let parent_owner = FORKED_FROM_AN_EXIT.load(Ordering::SeqCst);
    if parent_owner == Owner::Nobody as u8 {
        return;
    }
    // The parent was inside C's `exit`, which had taken the runtime's exit hook off
    // its list: in this copy, the child's own handlers run here instead.
    if parent_owner == Owner::ProcessExit as u8 && claim(Owner::ProcessExit) {
        run_to_the_end(ExitReason::Exit(code), DEADLINE.duration());
    }
    let code = request::take().unwrap_or(code);
    // SAFETY: this child runs no exit of its own but the one just above, finished:
    // C's `exit` may be called (it runs the hook if the parent's exit had not begun
    // in C, and the C library's other exit functions).
    unsafe { libc::exit(code) }
}

/// Every pending handler on this thread, where no thread may start; nothing to
/// wait for elsewhere.
fn run_threadless(reason: ExitReason) {
    reason::set(reason);
    trace_start();
    let _in_flight = threads::InFlight::begin();
    let run = || run::take_and_run(threadless_mode(), None, &mut Executor::elsewhere());
    if std::panic::catch_unwind(run).is_err() {
        report::internal("the exit run itself panicked; handlers may have been skipped");
    }
}

fn trace_start() {
    if report::trace_enabled() {
        if let Some(reason) = reason::current() {
            report::line(format_args!("exit run started: {reason}"));
        }
    }
}

/// The run that ends the process: every pending handler, then those other threads
/// are still running, all within `deadline`.
fn run_to_the_end(reason: ExitReason, deadline: Option<Duration>) -> RunEnd {
    reason::set(reason);
    trace_start();
    let deadline = deadline.and_then(|deadline| Instant::now().checked_add(deadline));
    let mut watchdog = Watchdog::new(Mode::Exit { deadline });
    let end = pass_reporting_internal_panics(&mut watchdog);
    // A handler's panic may have bounded the rest of the run: `watchdog.deadline()`.
    if end == RunEnd::DeadlinePassed || !wait_for_handlers_elsewhere(watchdog.deadline()) {
        return end;
    }
    // They finished, and what they registered meanwhile runs too, in one more pass:
    // only one, since threads that keep registering would otherwise hold the exit.
    let end = pass_reporting_internal_panics(&mut watchdog);
    if end != RunEnd::DeadlinePassed {
        wait_for_handlers_elsewhere(watchdog.deadline());
    }
    end
}

fn pass_reporting_internal_panics(watchdog: &mut Watchdog) -> RunEnd {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| watchdog.pass())).unwrap_or_else(
        |_| {
            report::internal("the exit run itself panicked; handlers may have been skipped");
            RunEnd::Completed
        },
    )
}

/// The status a child forked in a handler ends with, when it asked for none: the
/// one its parent's run ends with, where it is known.
fn status_of_forked_run() -> i32 {
    match reason::current() {
        Some(ExitReason::Exit(status)) => status,
        Some(ExitReason::Panic) => 101,
        Some(ExitReason::Signal(signal)) => 128 + signal,
        _ => 0,
    }
}

/// Ends the process with `code` the way C's `exit` does, which runs the exit hook.
fn exit_process(code: i32) -> ! {
    after_stop::exit_chosen();
    // Windows' `std::process::exit` calls `ExitProcess`, which skips the C runtime's
    // `atexit` table (where only a TLS or fiber-local callback would catch it; Wine
    // calls neither for another thread): the C runtime's `exit` runs that table,
    // after Rust's stdout is flushed, as `std::process::exit` would.
    #[cfg(windows)]
    {
        let _ = std::io::Write::flush(&mut std::io::stdout());
        // SAFETY: Windows' C runtimes (msvcrt's and the UCRT's) take a lock of their
        // own in `exit`, so calls from two threads at once do not run the `atexit`
        // table twice: the second caller waits, and the process ends with either
        // caller's status. What C leaves undefined is re-entering `exit` on the
        // thread running it; no run of this runtime owns the exit (checked by the
        // caller), so this thread is not inside our exit hook, and a C `atexit`
        // function calling this is the same misuse as calling C's `exit` there,
        // documented for `exit`.
        unsafe { libc::exit(code) }
    }
    #[cfg(not(windows))]
    std::process::exit(code)
}

/// Ends the process with `code`, from inside the libc exit hook.
fn exit_with_new_status(code: i32) -> ! {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: we are inside glibc's `exit`, in an atexit handler. glibc allows `exit`
    // there: it carries on with the remaining atexit handlers and then exits with the
    // new status. `std::process::exit` would abort instead (it refuses to be
    // re-entered), which is why libc's is called.
    unsafe {
        libc::exit(code)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    end_now(code)
}

/// Ends the process at once with `code`: C streams are flushed, nothing else runs.
fn end_now(code: i32) -> ! {
    // SAFETY: `fflush(NULL)` flushes every C stream and `_exit` has no
    // preconditions; other C libraries do not promise that a re-entered `exit`
    // works, and after a deadline nothing else may run.
    unsafe {
        libc::fflush(std::ptr::null_mut());
        libc::_exit(code)
    }
}

/// How long the C library's own exit may take after the deadline, where the runtime
/// returns to it (it alone knows the status).
const C_EXIT_PATIENCE: Duration = Duration::from_secs(1);

/// Ends the process with status 1 unless it ended within `patience`: what the
/// deadline leaves to a C library that does not tell the status.
fn end_unless_ended_within(patience: Duration) {
    let ending = threads::spawn(
        "atexit-end",
        None,
        Box::new(move || {
            thread::sleep(patience);
            report::line(format_args!(
                "the C library's exit did not finish within {patience:?} of the exit deadline; ending the process with status 1"
            ));
            // SAFETY: `_exit` has no preconditions; after a deadline nothing else may
            // run.
            unsafe { libc::_exit(1) }
        }),
    );
    if ending.is_err() {
        report::internal("cannot bound the C library's exit after the deadline");
    }
}

/// How long the end at the deadline waits for C streams to be flushed.
const FLUSH_PATIENCE: Duration = Duration::from_millis(100);

/// Ends the process with `code` once the deadline passed: nothing else runs, and
/// C streams are flushed if that is done within `FLUSH_PATIENCE`. An abandoned
/// handler may hold a stream's lock, or a stream may write to a pipe nobody reads:
/// what such a stream buffered is then lost, rather than the process hung.
pub(crate) fn end_at_deadline(code: i32) -> ! {
    // Polled rather than waited on: this thread's thread-locals, which parking and
    // channels use, may be gone.
    static FLUSHED: AtomicBool = AtomicBool::new(false);
    let flushing = threads::spawn(
        "atexit-flush",
        None,
        Box::new(|| {
            // SAFETY: `fflush(NULL)` flushes every C stream; it has no preconditions.
            // It may wait for a stream's lock forever: nothing waits for it longer
            // than the patience below.
            unsafe { libc::fflush(std::ptr::null_mut()) };
            FLUSHED.store(true, Ordering::SeqCst);
        }),
    );
    if flushing.is_ok() {
        let given_up = Instant::now().checked_add(FLUSH_PATIENCE);
        while !FLUSHED.load(Ordering::SeqCst) && given_up.is_some_and(|at| Instant::now() < at) {
            thread::sleep(Duration::from_millis(1));
        }
    }
    // SAFETY: `_exit` has no preconditions; after a deadline nothing else may run.
    unsafe { libc::_exit(code) }
}

/// Ends the process with `code` from a run where no thread may start (a library
/// being unloaded, or Windows' process detach), so that nothing else runs: not the
/// program's exit handlers, and on Windows not the loader's callbacks either, which
/// `_exit` would call again (`ExitProcess`) and so run the program's handlers.
fn end_from_threadless_run(code: i32) -> ! {
    if THREADLESS.load(Ordering::SeqCst) {
        report::line(format_args!(
            "atexit::exit({code}) in the exit run of a shared library: the process ends \
             now; exit handlers of the program that had not run yet are skipped"
        ));
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::System::Threading::{GetCurrentProcess, TerminateProcess};
        // A thread that `ExitProcess` ended may hold a stream's lock.
        if !threads::others_were_ended() {
            // SAFETY: `fflush(NULL)` flushes every C stream; it has no preconditions.
            unsafe { libc::fflush(std::ptr::null_mut()) };
        }
        // SAFETY: `TerminateProcess` on the current process's pseudo-handle has no
        // preconditions; on it, the call does not return.
        unsafe { TerminateProcess(GetCurrentProcess(), code as u32) };
        // Not `end_now`: its `_exit` would call the loader's callbacks again.
        std::process::abort()
    }
    #[cfg(not(windows))]
    end_now(code)
}

/// Handlers that other threads are running (an early `run_exit_handlers`, a guard
/// being dropped) finish before the process ends, within the grace the watchdog
/// allows and the deadline. Returns whether there were any and they all finished.
fn wait_for_handlers_elsewhere(deadline: Option<Instant>) -> bool {
    let grace = Instant::now().checked_add(watchdog::grace_for_other_threads());
    let limit = limits::earliest(grace, deadline);
    let mut waited = false;
    let in_flight_elsewhere = || threads::in_flight_elsewhere(registry::guards_in_flight());
    while in_flight_elsewhere() > 0 {
        waited = true;
        if limit.is_some_and(|limit| Instant::now() >= limit) {
            report::line(format_args!(
                "{} handler(s) still running on other threads; exiting without them",
                in_flight_elsewhere()
            ));
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    waited
}

#[cfg(unix)]
/// Called in a forked child, on the thread that forked. A handler that forks goes on
/// with its run in the child, which sees the parent's exit as its own. Forked by any
/// other thread, the child does not go on with the parent's exit.
pub(crate) fn after_fork_in_child() {
    if threads::is_running_handlers() {
        return;
    }
    FORKED_FROM_AN_EXIT.store(OWNER.load(Ordering::SeqCst), Ordering::SeqCst);
    OWNER.store(Owner::Nobody as u8, Ordering::SeqCst);
    request::forget();
    reason::forget();
    after_stop::forget();
}
