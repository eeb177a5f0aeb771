//! The thread that began an exit run waits here while the run's own thread executes
//! the handlers, and watches it when a time limit is in force.
//!
//! Every run that may start a thread executes its handlers on one thread of the
//! runtime's, made for the run with the main thread's stack: the exiting thread's
//! thread-locals are gone on glibc by the time C's exit handlers run, and a handler
//! that logs through `tracing` or touches a `thread_local!` needs live ones. The
//! thread runs the whole loop itself, so a handler costs nothing more there.
//!
//! When the handler timeout or the exit deadline is in force, the waiting thread
//! samples which handler runs, and sleeps until the earliest moment one could be
//! late. A handler that overruns is abandoned together with its thread, and a new
//! thread takes the rest. With `panic = "abort"`, a handler that panics or calls
//! `atexit::exit` cannot return to its thread: the thread says so and stops for good,
//! and a new one takes the rest.

use std::thread;
use std::time::{Duration, Instant};

use crate::pending;
use crate::report;
use crate::threads;

use super::executor::Executor;
use super::job::Subject;
use super::limits::{earliest, DEADLINE_AFTER_PANIC, TIMEOUT};
use super::run::{self, LoopEnd, Mode};
use super::run_thread::{PassEnd, RunThread};

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

/// How often, at most, the waiting thread looks at which handler runs while a
/// timeout is in force, as a fraction of it: a handler is abandoned after running
/// for at least the timeout and at most this much longer.
const SAMPLES_PER_TIMEOUT: u32 = 16;
/// The shortest time between two looks.
const SHORTEST_SAMPLE: Duration = Duration::from_micros(100);

/// One exit run, executed on threads of its own and watched from the calling one.
pub(super) struct Watchdog {
    mode: Mode,
    deadline: Option<Instant>,
    /// Whether a handler's panic bounds the rest of the run: in the run that ends
    /// the process, which must not hang on what the handler held.
    bound_after_panic: bool,
    thread: Option<&'static RunThread>,
    /// Whether a handler panicked where nothing could unwind.
    handler_panicked: bool,
}

/// How watching a pass ended.
enum Watched {
    Ended(PassEnd),
    /// The handler timeout abandoned the thread's handler, and the thread with it.
    TimedOut,
    DeadlinePassed,
    /// The thread did not begin the pass within `START_PATIENCE`, and was given up.
    NotStarted,
}

/// How long the run's thread may take to begin a pass. It first takes std's stdout
/// and stderr locks once, and blocks there when the thread that began the exit holds
/// one (a `StdoutLock` still alive in `main` when it called `std::process::exit`):
/// the handlers then run on that thread instead, where the lock is its own and a
/// handler that prints goes on.
const START_PATIENCE: Duration = Duration::from_secs(1);

impl Watchdog {
    pub(super) fn new(mode: Mode) -> Self {
        Watchdog {
            mode,
            deadline: mode.deadline(),
            bound_after_panic: matches!(mode, Mode::Exit { .. }),
            thread: None,
            handler_panicked: false,
        }
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Runs every pending handler, in exit order, until none is left (including
    /// those registered meanwhile) or the deadline passes.
    pub(super) fn pass(&mut self) -> RunEnd {
        // The run counts as a handler in flight on this thread from before its first
        // handler leaves the registry until its last is done (or abandoned), so that
        // an exit on another thread never sees one in neither place.
        let _in_flight = threads::InFlight::begin();
        loop {
            // Reporting an abandoned handler may itself have taken past the deadline.
            if self
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
            {
                return self.deadline_passed();
            }
            let thread = match self.thread {
                Some(thread) => thread,
                None => match spawn(self.mode, self.deadline) {
                    Ok(thread) => *self.thread.insert(thread),
                    Err(error) => {
                        return self.pass_here(format_args!(
                            "cannot start the exit run's thread ({error})"
                        ))
                    }
                },
            };
            thread.order_pass();
            match self.watch(thread) {
                Watched::Ended(PassEnd::Completed) => break,
                Watched::Ended(PassEnd::Stopped { panicked }) => {
                    self.thread = None;
                    self.handler_panicked |= panicked;
                    // The handler stopped holding whatever it held: the rest of the
                    // run is bounded, unless the program set a deadline of its own.
                    if panicked && self.bound_after_panic && self.deadline.is_none() {
                        self.deadline = Instant::now().checked_add(DEADLINE_AFTER_PANIC);
                    }
                }
                Watched::TimedOut => self.thread = None,
                Watched::NotStarted => {
                    self.thread = None;
                    return self.pass_here(format_args!(
                        "the exit run's thread did not start within {START_PATIENCE:?} (this thread may hold std's stdout or stderr lock)"
                    ));
                }
                Watched::Ended(PassEnd::DeadlinePassed) => return self.deadline_passed(),
                Watched::DeadlinePassed => {
                    self.thread = None;
                    return self.deadline_passed();
                }
            }
        }
        if self.handler_panicked {
            RunEnd::HandlerPanicked
        } else {
            RunEnd::Completed
        }
    }

    /// Reports every pending handler as skipped. Skipped means that none of their
    /// code runs: they stay where they are, destructors and all, until the process
    /// ends.
    fn deadline_passed(&self) -> RunEnd {
        for info in pending::in_exit_order() {
            run::report_skipped(&info);
        }
        RunEnd::DeadlinePassed
    }

    /// The run's thread could not be started: the handlers run on this one, with no
    /// time limit and no async handler, as where no thread may start.
    fn pass_here(&mut self, why: std::fmt::Arguments<'_>) -> RunEnd {
        report::line(format_args!(
            "{why}; running the handlers on the exiting thread, with no time limit (thread-locals such as tracing's may be gone there)"
        ));
        run::take_and_run(self.mode, None, &mut Executor::elsewhere());
        RunEnd::Completed
    }

    /// Waits for the pass on `thread` to end, abandoning a handler that overruns
    /// the timeout in force when it was first seen running, or the deadline.
    fn watch(&mut self, thread: &'static RunThread) -> Watched {
        // The handler last seen running, and when it was first seen.
        let mut seen: Option<(u64, Instant)> = None;
        let start_by = Instant::now().checked_add(START_PATIENCE);
        let mut begun = false;
        loop {
            let now = Instant::now();
            if self.deadline.is_some_and(|deadline| now >= deadline) {
                return abandon_at_deadline(thread);
            }
            let mut wake = self.deadline;
            if !begun {
                begun = thread.has_begun();
                if !begun {
                    if start_by.is_some_and(|start_by| now >= start_by)
                        && thread.abandon_before_start()
                    {
                        return Watched::NotStarted;
                    }
                    wake = earliest(wake, start_by);
                }
            }
            match thread.handler_running() {
                // Each handler keeps the timeout in force when it started, even if
                // it is turned off or changed while it runs.
                Some((number, Some(timeout))) => {
                    let since = match seen {
                        Some((seen_number, since)) if seen_number == number => since,
                        _ => {
                            seen = Some((number, now));
                            now
                        }
                    };
                    let late_at = since.checked_add(timeout);
                    if late_at.is_some_and(|late_at| now >= late_at) {
                        if thread.abandon(number, |subject| report_timeout(subject, timeout)) {
                            return Watched::TimedOut;
                        }
                        continue;
                    }
                    wake = earliest(wake, late_at);
                    wake = earliest(wake, now.checked_add(sample_every(timeout)));
                }
                Some((_, None)) | None => {
                    seen = None;
                    // A handler that starts under a timeout must be seen soon after.
                    if let Some(timeout) = TIMEOUT.duration() {
                        wake = earliest(wake, now.checked_add(sample_every(timeout)));
                    }
                }
            }
            let limit = wake.map(|wake| wake.saturating_duration_since(now));
            if let Some(end) = thread.wait_for_end(limit) {
                return Watched::Ended(end);
            }
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            thread.release();
        }
    }
}

fn sample_every(timeout: Duration) -> Duration {
    (timeout / SAMPLES_PER_TIMEOUT).max(SHORTEST_SAMPLE)
}

fn report_timeout(subject: &Subject, timeout: Duration) {
    report::line(format_args!(
        "handler {} did not finish within {timeout:?}; abandoned it and went on",
        subject.info().label()
    ));
}

/// The deadline passed: whatever the thread is doing, it does no more for the run.
/// Between two handlers it runs no user code, and is let reach the next one, which
/// is then what is abandoned.
fn abandon_at_deadline(thread: &'static RunThread) -> Watched {
    loop {
        if let Some(end) = thread.wait_for_end(Some(Duration::ZERO)) {
            return Watched::Ended(end);
        }
        if let Some((number, _)) = thread.handler_running() {
            if thread.abandon(number, |subject| {
                report::line(format_args!(
                    "handler {} did not finish before the exit deadline; abandoned it",
                    subject.info().label()
                ));
            }) {
                return Watched::DeadlinePassed;
            }
        } else if !thread.is_taking() && thread.abandon_before_start() {
            return Watched::DeadlinePassed;
        } else {
            thread::yield_now();
        }
    }
}

/// Starts a thread for the run, with the stack the main thread has, or, if that
/// much cannot be had, the 8 MiB the main thread gets by default.
fn spawn(mode: Mode, deadline: Option<Instant>) -> std::io::Result<&'static RunThread> {
    let thread = RunThread::new(deadline);
    let start = |stack_size| {
        threads::spawn(
            "atexit",
            Some(stack_size),
            Box::new(move || serve(thread, mode)),
        )
    };
    let wanted = threads::main_thread_stack_size();
    match start(wanted) {
        Ok(_) => Ok(thread),
        Err(_) if wanted > threads::DEFAULT_MAIN_STACK => {
            start(threads::DEFAULT_MAIN_STACK).map(|_| thread)
        }
        Err(error) => Err(error),
    }
}

/// The run's thread: a pass at each order, until released.
fn serve(thread: &'static RunThread, mode: Mode) {
    let _in_run = threads::InRun::enter();
    // The run is counted in flight by the thread waiting for this one: a run nested
    // here (C's `exit` called by a handler) must not wait for it.
    threads::count_waiting_run_as_own();
    thread.enter();
    let mut executor = Executor::on_run_thread();
    // See `START_PATIENCE`: blocks while the thread that began the exit holds one.
    drop(std::io::stdout().lock());
    drop(std::io::stderr().lock());
    while thread.next_order() {
        let end = run::take_and_run(mode, Some(thread), &mut executor);
        if thread.in_forked_child() {
            run::end_forked_child(None);
        }
        // Tasks the async handlers spawned and did not await are dropped now,
        // before the run is over, not while the process ends.
        executor.end_of_run();
        match end {
            LoopEnd::Completed => thread.end_pass(PassEnd::Completed),
            LoopEnd::DeadlinePassed => thread.end_pass(PassEnd::DeadlinePassed),
            LoopEnd::Abandoned => {
                // What it did no longer counts, and whatever the abandoned handler
                // left behind (tasks on the async runtime among it) must not run:
                // the thread stops here, with the executor.
                threads::park_forever();
            }
        }
    }
}

/// With `panic = "abort"`, on a run's thread: its handler cannot return (it
/// panicked, or called `atexit::exit`). The thread stops for good and the waiting
/// thread starts another; in a child the handler forked, the rest runs here.
#[cfg(panic = "abort")]
pub(super) fn stop_in_handler(
    thread: &'static RunThread,
    panicked: bool,
    report: impl FnOnce(),
) -> ! {
    if thread.in_forked_child() {
        report();
        run::end_forked_child(Some(panicked));
    }
    thread.stop_in_handler(panicked, report)
}

/// How long the exit waits for handlers on other threads: the handler timeout if one
/// is set, else a second, since such a handler may be waiting for the exiting thread.
pub(super) fn grace_for_other_threads() -> Duration {
    TIMEOUT.duration().unwrap_or(Duration::from_secs(1))
}
