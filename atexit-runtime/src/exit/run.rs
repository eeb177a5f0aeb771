//! The exit run: takes the pending handlers one at a time, in exit order, and
//! executes each with no lock held.

use std::time::Instant;

use crate::pending;
use crate::registry::Drain;
use crate::report;
use crate::statics;
use crate::threads::{InFlight, InRun};

use super::job::Job;
use super::request;
use super::watchdog::{Executed, Watchdog};

/// How a run ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum RunEnd {
    /// No handler is left.
    Completed,
    /// Some were left when the deadline passed; they were reported as skipped.
    DeadlinePassed,
    /// A handler panicked where nothing could unwind (`panic = "abort"`); the rest
    /// ran.
    HandlerPanicked,
}

/// What a run may do.
#[derive(Clone, Copy)]
pub(super) enum Mode {
    /// The run that ends the process, within `deadline`.
    Exit { deadline: Option<Instant> },
    /// `run_exit_handlers`: no deadline, ever.
    Explicit,
    /// Where no thread may start (a shared object being unloaded, a Windows process
    /// detaching): every handler runs on this thread, with no time limit, and async
    /// ones, which need a thread, are reported and skipped.
    Threadless,
    /// Windows, after `ExitProcess` ended every other thread: as `Threadless`, and a
    /// registry shard's lock one of them held is given up on, with the handlers
    /// behind it, after `THREADLESS_LOCK_PATIENCE`.
    #[cfg(windows)]
    ThreadsEnded,
}

/// How long a threadless run waits for a registry shard's lock. On Windows, the run
/// after `ExitProcess` comes after every other thread was ended, and a lock one of
/// them held then is held forever; no user code runs under these locks, so a live
/// thread never holds one nearly this long.
#[cfg(windows)]
const THREADLESS_LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs every pending handler, in exit order, until none is left, including those
/// registered meanwhile, or until the deadline.
pub(super) fn run_pending(mode: Mode) -> RunEnd {
    let (deadline, may_start_threads) = match mode {
        Mode::Exit { deadline } => (deadline, true),
        Mode::Explicit => (None, true),
        Mode::Threadless => (None, false),
        #[cfg(windows)]
        Mode::ThreadsEnded => (None, false),
    };
    let _in_run = InRun::enter();
    // The run counts as a handler in flight from before its first handler leaves the
    // registry until its last is done (or abandoned), so that an exit on another
    // thread never sees one in neither place.
    let _in_flight = InFlight::begin();
    let exit_run = matches!(mode, Mode::Exit { .. });
    let mut watchdog = Watchdog::new(
        report::trace_enabled(),
        deadline,
        exit_run,
        finish_in_forked_child,
    );
    let mut drain = match mode {
        #[cfg(windows)]
        Mode::ThreadsEnded => Drain::start_with_patience(THREADLESS_LOCK_PATIENCE),
        _ => Drain::start(),
    };
    let declared = statics::exit_order();
    let mut next_declared = 0;
    loop {
        while declared
            .get(next_declared)
            .is_some_and(|declared| !declared.is_pending())
        {
            next_declared += 1;
        }
        // Checked at each step: a handler may fork, and the child then goes on here.
        let candidate = declared.get(next_declared).filter(|_| statics::owned());
        let job = if let Some(taken) = drain.take_next(candidate.map(|declared| declared.rank)) {
            Job::registered(taken)
        } else if let Some(declared) = candidate {
            next_declared += 1;
            if !declared.claim() {
                continue;
            }
            Job::declared(declared)
        } else if drain.is_empty() {
            break;
        } else {
            continue;
        };
        if !may_start_threads {
            if job.is_async() {
                report::line(format_args!(
                    "skipped async handler {}: no thread may start while a library is unloaded or the process detaches",
                    job.subject.info().label()
                ));
            } else {
                job.run(report::trace_enabled());
            }
            continue;
        }
        let executed = if deadline_passed(watchdog.deadline()) {
            report_skipped(&[job.subject.info()]);
            Executed::DeadlinePassed
        } else {
            watchdog.execute(job)
        };
        if let Executed::DeadlinePassed = executed {
            report_skipped(&pending::in_exit_order());
            return RunEnd::DeadlinePassed;
        }
    }
    #[cfg(windows)]
    if drain.shards_given_up() > 0 {
        report::line(format_args!(
            "skipped the dynamic handlers of {} registry shard(s): a thread that ended without releasing its lock (as ExitProcess ends threads) held it for more than {THREADLESS_LOCK_PATIENCE:?}",
            drain.shards_given_up()
        ));
    }
    if watchdog.handler_panicked {
        RunEnd::HandlerPanicked
    } else {
        RunEnd::Completed
    }
}

fn deadline_passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|deadline| Instant::now() >= deadline)
}

fn report_skipped(skipped: &[crate::info::HandlerInfo]) {
    for info in skipped {
        report::line(format_args!(
            "skipped handler {}: the exit deadline passed",
            info.label()
        ));
    }
}

/// A handler forked on a watchdog worker, and this is the child: the worker is its
/// only thread. It runs what the child owns and exits itself, or aborts if the handler
/// panicked where nothing could unwind.
fn finish_in_forked_child(panicked: bool) -> ! {
    run_pending(Mode::Exit { deadline: None });
    if panicked {
        std::process::abort();
    }
    // The parent's exit status is not known here; a handler may have asked for one.
    let code = request::take().unwrap_or(0);
    // SAFETY: `exit` may be called from any thread; in this child no other thread
    // exists, and `std::process::exit` would wait forever for the parent's exiting
    // thread, whose copy does not exist here.
    unsafe { libc::exit(code) }
}
