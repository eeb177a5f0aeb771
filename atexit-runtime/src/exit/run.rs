//! The exit run: takes the pending handlers one at a time, in exit order, and
//! executes each with no lock held.

use crate::registry::Drain;
use crate::report;
use crate::statics;
use crate::threads::{InFlight, InRun};

use super::job::Job;
use super::request;
use super::watchdog::Watchdog;

/// Runs every pending handler, in exit order, until none is left, including those
/// registered meanwhile.
pub(super) fn run_pending() {
    let _in_run = InRun::enter();
    let mut watchdog = Watchdog::new(report::trace_enabled(), finish_in_forked_child);
    let mut drain = Drain::start();
    let declared = statics::exit_order();
    let mut next_declared = 0;
    loop {
        // Counted from before the handler leaves the registry until it is done (or
        // abandoned), so that an exit on another thread never sees it in neither place.
        let _in_flight = InFlight::begin();
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
        watchdog.execute(job);
    }
}

/// A handler forked on a watchdog worker, and this is the child: the worker is its
/// only thread. It runs what the child owns and exits itself.
fn finish_in_forked_child() -> ! {
    run_pending();
    // The parent's exit status is not known here; a handler may have asked for one.
    let code = request::take().unwrap_or(0);
    // SAFETY: `exit` may be called from any thread; in this child no other thread
    // exists, and `std::process::exit` would wait forever for the parent's exiting
    // thread, whose copy does not exist here.
    unsafe { libc::exit(code) }
}
