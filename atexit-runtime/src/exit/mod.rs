//! The exit of the process: who runs it, the code it ends with, and the ways in.
//!
//! Three things start an exit run: the libc exit hook (`main` returned, or something
//! called `exit`), a signal caught by `catch_signals`, and `run_exit_handlers`. The
//! first two end the process and are exclusive: whichever comes first owns the exit.
//! A handler that calls `atexit::exit` leaves its code here; whoever ends the process
//! applies the last one.

mod job;
mod request;
mod run;
mod watchdog;

use std::panic;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::report;
use crate::threads;

pub(crate) use watchdog::set_timeout;

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
}

static OWNER: AtomicU8 = AtomicU8::new(Owner::Nobody as u8);

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

/// Called by the libc exit hook.
pub(crate) fn at_process_exit() {
    if !claim(Owner::ProcessExit) && !threads::is_running_handlers() {
        // A caught signal's run owns the exit and ends it by that signal; a second
        // run here (say, `main` returned meanwhile) would race it and change the
        // status. Wait for the signal to end the process.
        loop {
            thread::sleep(Duration::from_secs(3600));
        }
    }
    run_to_the_end();
    if let Some(code) = request::take() {
        exit_with_new_status(code);
    }
}

/// Runs the handlers on the signal thread, unless the process is already exiting
/// (then that run is under way, and the signal ends it). The caller then dies by the
/// signal either way.
#[cfg(feature = "signals")]
pub(crate) fn for_signal() {
    if claim(Owner::Signal) {
        run_to_the_end();
    }
}

/// `atexit::run_exit_handlers`.
pub(crate) fn run_explicitly() {
    let nested = threads::is_running_handlers();
    run::run_pending();
    // An exit under way applies the code itself; this thread must not race it.
    if !nested && !is_exiting() {
        if let Some(code) = request::peek() {
            // Left in place: if another thread begins the exit first, std parks this
            // one, and that exit applies the code.
            std::process::exit(code);
        }
    }
}

/// `atexit::exit`.
pub(crate) fn exit(code: i32) -> ! {
    if threads::is_running_handlers() || is_exiting() {
        // A thread the watchdog gave up on no longer decides anything.
        if !threads::is_abandoned() {
            request::record(code);
        }
        panic::resume_unwind(Box::new(request::Unwinding))
    }
    std::process::exit(code)
}

/// The run that ends the process: every pending handler, then those other threads
/// are still running.
fn run_to_the_end() {
    if panic::catch_unwind(run::run_pending).is_err() {
        report::internal("the exit run itself panicked; handlers may have been skipped");
    }
    wait_for_handlers_elsewhere();
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
    // SAFETY: other C libraries do not promise a re-entered `exit` works, so the
    // process ends here: C streams are flushed, and the atexit handlers of other
    // libraries that had not run yet are skipped.
    unsafe {
        libc::fflush(std::ptr::null_mut());
        libc::_exit(code)
    }
}

/// How long the exit waits for handlers running on other threads when no handler
/// timeout is set: such a handler may itself wait for the exiting thread.
const GRACE_FOR_OTHER_THREADS: Duration = Duration::from_secs(1);

/// Handlers that other threads are running (an early `run_exit_handlers`, a guard
/// being dropped) finish before the process ends, within the handler timeout, or
/// `GRACE_FOR_OTHER_THREADS`.
fn wait_for_handlers_elsewhere() {
    let grace = watchdog::timeout().unwrap_or(GRACE_FOR_OTHER_THREADS);
    let deadline = Instant::now().checked_add(grace);
    while threads::in_flight_elsewhere() > 0 {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            report::line(format_args!(
                "{} handler(s) still running on other threads; exiting without them",
                threads::in_flight_elsewhere()
            ));
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// Called in a forked child: the parent's exit, if it had begun, is not the child's.
pub(crate) fn after_fork_in_child() {
    OWNER.store(Owner::Nobody as u8, Ordering::SeqCst);
    request::forget();
}
