//! Watched execution: handlers run on a worker thread that the run's thread watches,
//! when a time limit is in force (the handler timeout, the exit deadline), when
//! nothing can unwind (`panic = "abort"`), and for async handlers.
//!
//! A handler that overruns is abandoned together with its worker, and a new worker
//! takes the rest, so the run's thread always gets control back. With
//! `panic = "abort"`, a handler that panics or calls `atexit::exit` cannot return to
//! its worker: the worker says so and stops for good, and a new worker takes the
//! rest. Without any of these (the default), handlers run on the run's own thread and
//! nothing watches them.

use std::cell::Cell;
use std::mem;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::report;
use crate::threads;

use super::executor::Executor;
use super::job::{Job, Subject};
use super::limits::{earliest, Setting, DEADLINE, DEADLINE_AFTER_PANIC, TIMEOUT};

/// How a job ended, for the run.
pub(super) enum Executed {
    /// It finished, failed, or was abandoned after the handler timeout.
    Done,
    /// The exit deadline passed before it finished; it was abandoned.
    DeadlinePassed,
}

/// Executes the jobs of one run.
pub(super) struct Watchdog {
    trace: bool,
    worker: Option<&'static Worker>,
    deadline: Option<Instant>,
    /// Whether a handler's panic bounds the rest of the run: in the run that ends
    /// the process, which must not hang on what the handler held.
    bound_after_panic: bool,
    /// What a worker does when it finds itself the only thread of a forked child,
    /// told whether its handler panicked.
    finish_in_forked_child: fn(bool) -> !,
    /// Whether a handler panicked where nothing could unwind.
    pub(super) handler_panicked: bool,
}

impl Watchdog {
    pub(super) fn new(
        trace: bool,
        deadline: Option<Instant>,
        bound_after_panic: bool,
        finish_in_forked_child: fn(bool) -> !,
    ) -> Self {
        Watchdog {
            trace,
            worker: None,
            deadline,
            bound_after_panic,
            finish_in_forked_child,
            handler_panicked: false,
        }
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Runs `job` within the handler timeout in force when it starts, and within the
    /// deadline.
    #[inline]
    pub(super) fn execute(&mut self, job: Job) -> Executed {
        let watched =
            cfg!(panic = "abort") || self.deadline.is_some() || TIMEOUT.is_set() || job.is_async();
        if !watched {
            job.run(self.trace);
            return Executed::Done;
        }
        self.execute_watched(job)
    }

    fn execute_watched(&mut self, job: Job) -> Executed {
        let timeout = TIMEOUT.duration();
        let subject = job.subject.clone();
        let worker = match self.worker.take() {
            Some(worker) => worker,
            None => match Worker::spawn(self.trace, self.finish_in_forked_child) {
                Ok(worker) => worker,
                Err(error) => {
                    report::line(format_args!(
                        "cannot start the watchdog's worker ({error}); running {} without a time limit",
                        subject.info().label()
                    ));
                    job.run(self.trace);
                    return Executed::Done;
                }
            },
        };
        let mut state = worker.lock();
        *state = WorkerState::Assigned(job);
        worker.changed.notify_all();
        // The clock starts when the handler does, not when its worker gets scheduled.
        while matches!(*state, WorkerState::Assigned(_)) {
            state = worker.wait(state);
        }
        let timeout_at = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let limit = earliest(timeout_at, self.deadline);
        loop {
            match *state {
                WorkerState::Done => {
                    *state = WorkerState::Idle;
                    drop(state);
                    self.worker = Some(worker);
                    return Executed::Done;
                }
                WorkerState::Ended { panicked } => {
                    // The worker stopped for good inside the handler, keeping what it
                    // held: the rest of the run is bounded, as after any panic.
                    self.handler_panicked |= panicked;
                    if panicked
                        && self.bound_after_panic
                        && self.deadline.is_none()
                        && DEADLINE.get() == Setting::Unset
                    {
                        self.deadline = Instant::now().checked_add(DEADLINE_AFTER_PANIC);
                    }
                    return Executed::Done;
                }
                _ => {}
            }
            let left = limit.map(|limit| limit.saturating_duration_since(Instant::now()));
            match left {
                None => state = worker.wait(state),
                Some(left) if !left.is_zero() => {
                    state = worker
                        .changed
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                Some(_) => {
                    *state = WorkerState::Released;
                    worker.abandoned.store(true, Ordering::SeqCst);
                    drop(state);
                    let label = subject.info();
                    let label = label.label();
                    if limit == timeout_at {
                        report::line(format_args!(
                            "handler {label} did not finish within {:?}; abandoned it and went on",
                            timeout.unwrap_or_default()
                        ));
                        return Executed::Done;
                    }
                    report::line(format_args!(
                        "handler {label} did not finish before the exit deadline; abandoned it"
                    ));
                    return Executed::DeadlinePassed;
                }
            }
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            *worker.lock() = WorkerState::Released;
            worker.changed.notify_all();
        }
    }
}

/// A worker thread and what it is doing. Workers live as long as the process: one
/// is made per run that needs one, and one more per handler that did not return.
pub(super) struct Worker {
    state: Mutex<WorkerState>,
    changed: Condvar,
    /// Set when the watchdog gives up on the worker's handler.
    abandoned: AtomicBool,
    /// The process that started the worker; see `serve`.
    process: u32,
    finish_in_forked_child: fn(bool) -> !,
}

enum WorkerState {
    Idle,
    Assigned(Job),
    /// Who runs, for the report of a panic that cannot unwind.
    Running(#[cfg_attr(not(panic = "abort"), allow(dead_code))] Subject),
    Done,
    /// The handler ended without returning to the worker, which stopped for good.
    #[cfg_attr(not(panic = "abort"), allow(dead_code))]
    Ended {
        panicked: bool,
    },
    /// The watchdog gave up on the worker, or the run is over.
    Released,
}

thread_local! {
    /// The worker this thread is, if it is one.
    static THIS_WORKER: Cell<Option<&'static Worker>> = const { Cell::new(None) };
}

/// The worker the calling thread is, if it is one.
pub(super) fn this_worker() -> Option<&'static Worker> {
    THIS_WORKER.with(Cell::get)
}

impl Worker {
    fn spawn(
        trace: bool,
        finish_in_forked_child: fn(bool) -> !,
    ) -> std::io::Result<&'static Worker> {
        let worker: &'static Worker = Box::leak(Box::new(Worker {
            state: Mutex::new(WorkerState::Idle),
            changed: Condvar::new(),
            abandoned: AtomicBool::new(false),
            process: std::process::id(),
            finish_in_forked_child,
        }));
        thread::Builder::new()
            .name("atexit-watchdog".into())
            .spawn(move || worker.serve(trace))?;
        Ok(worker)
    }

    /// Whether this is a forked child of the process that started the worker: its
    /// only thread is this worker, with no run's thread to report to.
    fn in_forked_child(&self) -> bool {
        std::process::id() != self.process
    }

    /// The worker's state. Its lock is never held while a handler runs, so it is
    /// never poisoned by one; a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, WorkerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, state: MutexGuard<'a, WorkerState>) -> MutexGuard<'a, WorkerState> {
        self.changed
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the watchdog gave up on this worker's handler: what it does no longer
    /// counts.
    pub(super) fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }

    /// The handler this worker is running.
    #[cfg(panic = "abort")]
    pub(super) fn subject(&self) -> Option<Subject> {
        match &*self.lock() {
            WorkerState::Running(subject) => Some(subject.clone()),
            _ => None,
        }
    }

    /// Called on the worker's thread when its handler cannot return (a panic or
    /// `atexit::exit` with `panic = "abort"`): tells the watchdog, and stops.
    #[cfg(panic = "abort")]
    pub(super) fn end_handler(&self, panicked: bool) -> ! {
        if self.in_forked_child() {
            (self.finish_in_forked_child)(panicked);
        }
        let mut state = self.lock();
        if matches!(*state, WorkerState::Running(_)) {
            *state = WorkerState::Ended { panicked };
            self.changed.notify_all();
        }
        drop(state);
        threads::park_forever()
    }

    fn serve(&'static self, trace: bool) {
        let _in_run = threads::InRun::enter();
        THIS_WORKER.with(|this| this.set(Some(self)));
        let mut executor = Executor::on_worker();
        let mut state = self.lock();
        loop {
            match mem::replace(&mut *state, WorkerState::Idle) {
                WorkerState::Assigned(Job { subject, call }) => {
                    *state = WorkerState::Running(subject.clone());
                    self.changed.notify_all();
                    drop(state);
                    call.run(&subject, trace, &mut executor);
                    if self.in_forked_child() {
                        (self.finish_in_forked_child)(false);
                    }
                    state = self.lock();
                    if matches!(*state, WorkerState::Released) {
                        return;
                    }
                    *state = WorkerState::Done;
                    self.changed.notify_all();
                }
                WorkerState::Released => return,
                idle => {
                    *state = idle;
                    state = self.wait(state);
                }
            }
        }
    }
}

/// How long the exit waits for handlers on other threads: the handler timeout if one
/// is set, else a second, since such a handler may be waiting for the exiting thread.
pub(super) fn grace_for_other_threads() -> Duration {
    TIMEOUT.duration().unwrap_or(Duration::from_secs(1))
}
