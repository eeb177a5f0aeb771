//! The loop of an exit run: takes the pending handlers one at a time, in exit
//! order, and executes each with no lock held.
//!
//! It runs on the run's own thread (see `watchdog`), or, where no thread may start,
//! on the thread that began the run.

use std::time::Instant;

use crate::registry::{self, Drain};
use crate::report;
use crate::statics::{self, ExitOrder};
use crate::threads;

use super::executor::Executor;
use super::job::{self, Job, Subject};
use super::limits::TIMEOUT;
use super::request;
use super::run_thread::{self, RunThread};

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

impl Mode {
    pub(super) fn may_start_threads(self) -> bool {
        match self {
            Mode::Exit { .. } | Mode::Explicit => true,
            Mode::Threadless => false,
            #[cfg(windows)]
            Mode::ThreadsEnded => false,
        }
    }

    pub(super) fn deadline(self) -> Option<Instant> {
        match self {
            Mode::Exit { deadline } => deadline,
            _ => None,
        }
    }
}

/// How a pass of the loop ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum LoopEnd {
    /// No handler is left.
    Completed,
    /// The waiting thread gave up on this thread: it must stop touching the run.
    Abandoned,
    /// The deadline passed before the next handler started; that one was reported as
    /// skipped, and what remains pending is left for the waiting thread to report.
    DeadlinePassed,
}

/// How long a threadless run waits for a registry shard's lock. On Windows, the run
/// after `ExitProcess` comes after every other thread was ended, and a lock one of
/// them held then is held forever; no user code runs under these locks, so a live
/// thread never holds one nearly this long.
#[cfg(windows)]
const THREADLESS_LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs every pending handler, in exit order, until none is left, including those
/// registered meanwhile. `thread` is the run's thread this is, watched by another;
/// `None` runs everything here, unwatched.
pub(super) fn take_and_run(
    mode: Mode,
    thread: Option<&RunThread>,
    executor: &mut Executor,
) -> LoopEnd {
    let trace = report::trace_enabled();
    // Under a deadline every handler is watched; under a timeout, those that start
    // while one is set.
    let deadline = thread.and_then(|thread| thread.deadline);
    let watched_throughout = deadline.is_some();
    let mut watched = false;
    let mut number = 0;
    // Where the loop runs on the thread that began the run, that thread runs
    // handlers now (the run's own thread is marked for its whole life).
    let _in_run = thread.is_none().then(threads::InRun::enter);
    let _no_threads = (!mode.may_start_threads()).then(threads::NoThreads::enter);
    if let Some(thread) = thread {
        if !thread.begin_pass() {
            return LoopEnd::Abandoned;
        }
    }
    let mut drain = match mode {
        #[cfg(windows)]
        Mode::ThreadsEnded => Drain::start_with_patience(THREADLESS_LOCK_PATIENCE),
        _ => Drain::start(),
    };
    let declared = statics::exit_order();
    let mut next_declared = 0;
    // What most runs come down to: static handlers, on the run's thread, with nothing
    // watching or tracing them, and no dynamic handler to compare them with.
    let plain = thread.is_some() && !trace && !watched_throughout;
    loop {
        if plain {
            let first = next_declared;
            next_declared = run_declared_in_a_row(declared, next_declared);
            // Those ran unwatched: the waiting thread must be asked again.
            watched &= next_declared == first;
        }
        while declared
            .get(next_declared)
            .is_some_and(|handler| !handler.is_pending())
        {
            next_declared += 1;
        }
        // Checked at each step: a handler may fork, and the child then goes on here.
        let candidate = declared.get(next_declared).filter(|_| statics::owned());
        let candidate_rank = candidate.map(|_| declared.rank(next_declared));
        let job = if let Some(taken) = drain.take_next(candidate_rank) {
            Job::registered(taken)
        } else if let Some(handler) = candidate {
            next_declared += 1;
            if !handler.claim() {
                continue;
            }
            Job::declared(handler)
        } else if drain.is_empty() {
            break;
        } else {
            continue;
        };
        let Some(thread) = thread else {
            run_here(mode, job, trace, executor);
            continue;
        };
        let timeout = TIMEOUT.in_force();
        let watch = watched_throughout || timeout.is_some();
        if watch && !watched {
            thread.ask_to_be_watched();
        }
        watched = watch;
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            report_skipped(&job.subject.info());
            // Skipped means that none of its code runs, its destructor included.
            std::mem::forget(job);
            return LoopEnd::DeadlinePassed;
        }
        let Job { subject, call } = job;
        if watched {
            thread.publish_start(number, &subject, timeout);
        }
        {
            let _running = run_thread::running(&subject);
            call.run(&subject, trace, executor);
        }
        // In a child forked by the handler nothing watches: the loop goes on, and
        // the thread ends the child when it is done.
        if watched {
            if !thread.finish_published(number) {
                return LoopEnd::Abandoned;
            }
            number += 1;
        }
    }
    #[cfg(windows)]
    if drain.shards_given_up() > 0 {
        report::line(format_args!(
            "skipped the dynamic handlers of {} registry shard(s): a thread that ended without releasing its lock (as ExitProcess ends threads) held it for more than {THREADLESS_LOCK_PATIENCE:?}",
            drain.shards_given_up()
        ));
    }
    LoopEnd::Completed
}

/// Runs the static handlers from `next` on for as long as nothing else can be due
/// before them (no dynamic handler is pending, no timeout is set) and this process
/// owns them (a handler may fork). Returns the position of the first it left.
#[inline]
fn run_declared_in_a_row(order: &'static ExitOrder, mut next: usize) -> usize {
    // A guard made while this run is on goes to a shard, where `any_published` sees
    // it: one in a guard block is seen here.
    if registry::any_pending() {
        return next;
    }
    while let Some(handler) = order.get(next) {
        if handler.is_async() || registry::any_published() || TIMEOUT.is_set() || !statics::owned()
        {
            break;
        }
        next += 1;
        if handler.claim() {
            let subject = Subject::Declared(handler);
            let _running = run_thread::running(&subject);
            job::run_declared(handler);
        }
    }
    next
}

/// Reports a handler the deadline left unrun.
pub(super) fn report_skipped(info: &crate::info::HandlerInfo) {
    report::line(format_args!(
        "skipped handler {}: the exit deadline passed",
        info.label()
    ));
}

/// A handler on the thread that began the run: where no thread may start, or when
/// the run's thread could not be started.
fn run_here(mode: Mode, job: Job, trace: bool, executor: &mut Executor) {
    if job.is_async() && !mode.may_start_threads() {
        report::line(format_args!(
            "skipped async handler {}: no thread may start while a library is unloaded or the process detaches",
            job.subject.info().label()
        ));
        // Skipped means that none of its code runs, its destructor included.
        std::mem::forget(job);
    } else {
        let Job { subject, call } = job;
        let _running = run_thread::running(&subject);
        call.run(&subject, trace, executor);
    }
}

/// A handler forked on the run's thread, and this is the child: that thread is its
/// only one. With `panicked`, the handler could not return (`panic = "abort"`), so
/// the rest of the run, what the child owns, runs here first. Then the child ends as
/// the parent's run would have, or aborts if the handler panicked.
pub(super) fn end_forked_child(panicked: Option<bool>) -> ! {
    if panicked.is_some() {
        let _ = take_and_run(
            Mode::Exit { deadline: None },
            None,
            &mut Executor::on_run_thread(),
        );
    }
    if panicked == Some(true) {
        std::process::abort();
    }
    let code = request::take().unwrap_or_else(super::status_of_forked_run);
    // SAFETY: `exit` may be called from any thread; in this child no other thread
    // exists, and `std::process::exit` would wait forever for the parent's exiting
    // thread, whose copy does not exist here.
    unsafe { libc::exit(code) }
}
