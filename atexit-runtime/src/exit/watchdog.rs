//! The handler timeout: `set_handler_timeout` and `ATEXIT_TIMEOUT_MS`, and the
//! watchdog that enforces it.
//!
//! With a timeout, handlers run on a worker thread that the exiting thread watches;
//! a handler that overruns is abandoned together with its worker, and a new worker
//! takes the rest, so the exiting thread always gets control back. Without one (the
//! default), handlers run on the exiting thread and nothing watches them.

use std::mem;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::report;
use crate::threads;

use super::job::Job;

/// The timeout in nanoseconds, `OFF`, or `FROM_ENV` until the variable is read.
static TIMEOUT: AtomicU64 = AtomicU64::new(FROM_ENV);
const FROM_ENV: u64 = u64::MAX;
const OFF: u64 = u64::MAX - 1;

pub(crate) fn set_timeout(timeout: Option<Duration>) {
    TIMEOUT.store(encode(timeout), Ordering::SeqCst);
}

fn encode(timeout: Option<Duration>) -> u64 {
    match timeout {
        Some(timeout) if !timeout.is_zero() => {
            u64::try_from(timeout.as_nanos()).map_or(OFF - 1, |nanos| nanos.min(OFF - 1))
        }
        _ => OFF,
    }
}

/// The handler timeout now in force. The variable is read once, so a bad value is
/// reported once.
pub(super) fn timeout() -> Option<Duration> {
    let mut setting = TIMEOUT.load(Ordering::SeqCst);
    if setting == FROM_ENV {
        let from_env = encode(timeout_from_env());
        // `set_handler_timeout` may have been called meanwhile; it wins.
        setting = match TIMEOUT.compare_exchange(
            FROM_ENV,
            from_env,
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            Ok(_) => from_env,
            Err(set) => set,
        };
    }
    (setting != OFF).then(|| Duration::from_nanos(setting))
}

/// `ATEXIT_TIMEOUT_MS`: unset, empty or `0` is no timeout.
fn timeout_from_env() -> Option<Duration> {
    let value = std::env::var_os("ATEXIT_TIMEOUT_MS")?;
    if value.is_empty() {
        return None;
    }
    match value
        .to_str()
        .and_then(|text| text.trim().parse::<u64>().ok())
    {
        Some(millis) => Some(Duration::from_millis(millis)),
        None => {
            report::line(format_args!(
                "ignoring ATEXIT_TIMEOUT_MS={value:?}: not a whole number of milliseconds"
            ));
            None
        }
    }
}

/// Executes the jobs of one run, each within the timeout in force when it starts.
pub(super) struct Watchdog {
    trace: bool,
    worker: Option<Arc<Worker>>,
    /// What a worker does when it finds itself the only thread of a forked child.
    finish_in_forked_child: fn() -> !,
}

impl Watchdog {
    pub(super) fn new(trace: bool, finish_in_forked_child: fn() -> !) -> Self {
        Watchdog {
            trace,
            worker: None,
            finish_in_forked_child,
        }
    }

    pub(super) fn execute(&mut self, job: Job) {
        match timeout() {
            None => job.run(self.trace),
            Some(timeout) => self.execute_watched(job, timeout),
        }
    }

    fn execute_watched(&mut self, job: Job, timeout: Duration) {
        let info = job.info();
        let worker = match self.worker.take() {
            Some(worker) => worker,
            None => match Worker::spawn(self.trace, self.finish_in_forked_child) {
                Ok(worker) => worker,
                Err(error) => {
                    report::line(format_args!(
                        "cannot start the watchdog's worker ({error}); running {} without a timeout",
                        info.label()
                    ));
                    job.run(self.trace);
                    return;
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
        // A timeout too long to represent is no timeout at all.
        let deadline = Instant::now().checked_add(timeout);
        while !matches!(*state, WorkerState::Done) {
            let Some(left) =
                deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()))
            else {
                state = worker.wait(state);
                continue;
            };
            if left.is_zero() {
                *state = WorkerState::Released;
                worker.abandoned.store(true, Ordering::SeqCst);
                drop(state);
                report::line(format_args!(
                    "handler {} did not finish within {timeout:?}; abandoned it and went on",
                    info.label()
                ));
                return;
            }
            state = worker
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *state = WorkerState::Idle;
        drop(state);
        self.worker = Some(worker);
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

struct Worker {
    state: Mutex<WorkerState>,
    changed: Condvar,
    /// Set when the watchdog gives up on the worker's handler; leaked, so that the
    /// worker's thread can keep a `'static` reference to it.
    abandoned: &'static AtomicBool,
    /// The process that started the worker; see `serve`.
    process: u32,
}

enum WorkerState {
    Idle,
    Assigned(Job),
    Running,
    Done,
    /// The watchdog gave up on the worker, or the run is over.
    Released,
}

impl Worker {
    fn spawn(trace: bool, finish_in_forked_child: fn() -> !) -> std::io::Result<Arc<Worker>> {
        let worker = Arc::new(Worker {
            state: Mutex::new(WorkerState::Idle),
            changed: Condvar::new(),
            abandoned: Box::leak(Box::new(AtomicBool::new(false))),
            process: std::process::id(),
        });
        let shared = Arc::clone(&worker);
        thread::Builder::new()
            .name("atexit-watchdog".into())
            .spawn(move || shared.serve(trace, finish_in_forked_child))?;
        Ok(worker)
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

    fn serve(&self, trace: bool, finish_in_forked_child: fn() -> !) {
        let _in_run = threads::InRun::enter();
        threads::watch_abandonment(self.abandoned);
        let mut state = self.lock();
        loop {
            match mem::replace(&mut *state, WorkerState::Running) {
                WorkerState::Assigned(job) => {
                    self.changed.notify_all();
                    drop(state);
                    job.run(trace);
                    // A handler forked, and this is the child: its only thread is
                    // this worker, with no exiting thread to report to.
                    if std::process::id() != self.process {
                        finish_in_forked_child();
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
