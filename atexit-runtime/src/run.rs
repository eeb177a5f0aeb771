//! The exit run: takes handlers one at a time in exit order and runs each with no lock
//! held, catching panics, `Err`s and `atexit::exit`, timing them for `ATEXIT_TRACE`
//! and, when a timeout is set, watching them from another thread.
//!
//! Nothing here uses thread-locals: on glibc the exiting thread's are destroyed before
//! atexit handlers run. Locks are `parking_lot`'s, which park correctly without them.

use std::any::Any;
use std::fmt;
use std::io::Write;
use std::mem;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{const_mutex, Condvar, Mutex};

use crate::registry::{self, Entry};
use crate::statics::{self, Described};

/// Who runs the exit: nobody yet, the libc exit hook, or a caught signal. Whichever
/// comes first owns it; see `at_process_exit` and `for_signal` for the other.
static EXIT_OWNER: AtomicU8 = AtomicU8::new(NOBODY);
const NOBODY: u8 = 0;
const PROCESS_EXIT: u8 = 1;
#[cfg(feature = "signals")]
const SIGNAL: u8 = 2;

/// The code a handler asked for with `atexit::exit`; the last request wins.
static EXIT_REQUEST: Mutex<Option<i32>> = const_mutex(None);

/// Threads currently inside an exit run, by `pthread_self`, one entry per run.
static RUNNING_THREADS: Mutex<Vec<libc::pthread_t>> = const_mutex(Vec::new());

/// `None`: not set through the API, so `ATEXIT_TIMEOUT_MS` decides.
static TIMEOUT_SETTING: Mutex<Option<Option<Duration>>> = const_mutex(None);

/// The panic payload `atexit::exit` unwinds a handler with.
struct ExitRequest;

fn claim_exit(owner: u8) -> bool {
    EXIT_OWNER
        .compare_exchange(NOBODY, owner, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// Called by the libc exit hook.
pub(crate) fn at_process_exit() {
    if !claim_exit(PROCESS_EXIT) && !is_running_handlers() {
        // A caught signal's run owns the exit and ends it by that signal; a second
        // run here (say, `main` returned meanwhile) would race it and change the
        // status. Wait for the signal to end the process.
        loop {
            thread::sleep(Duration::from_secs(3600));
        }
    }
    #[cfg(feature = "signals")]
    crate::signals::exit_run_began();
    if panic::catch_unwind(run_pending).is_err() {
        report_internal("the exit run itself panicked; handlers may have been skipped");
    }
    if let Some(code) = take_exit_request() {
        // SAFETY: we are inside glibc's `exit`, in an atexit handler. glibc allows
        // `exit` there: it carries on with the remaining atexit handlers and then exits
        // with the new status. `std::process::exit` would abort instead (it refuses to
        // be re-entered), which is why libc's is called.
        unsafe { libc::exit(code) }
    }
}

/// `atexit::run_exit_handlers`.
pub(crate) fn run_now() {
    let nested = is_running_handlers();
    run_pending();
    if !nested {
        if let Some(code) = take_exit_request() {
            std::process::exit(code);
        }
    }
}

/// Runs the handlers on the signal thread, unless the process is already exiting
/// (then that run is under way, and the signal ends it). The caller then dies by the
/// signal either way.
#[cfg(feature = "signals")]
pub(crate) fn for_signal() {
    if claim_exit(SIGNAL) && panic::catch_unwind(run_pending).is_err() {
        report_internal("the exit run itself panicked; handlers may have been skipped");
    }
}

pub(crate) fn is_exiting() -> bool {
    EXIT_OWNER.load(Ordering::Acquire) != NOBODY
}

/// `atexit::exit` inside a handler: end the handler, remember the code.
pub(crate) fn exit_from_handler(code: i32) -> ! {
    *EXIT_REQUEST.lock() = Some(code);
    panic::resume_unwind(Box::new(ExitRequest))
}

fn take_exit_request() -> Option<i32> {
    EXIT_REQUEST.lock().take()
}

/// Whether the calling thread is running exit handlers.
pub(crate) fn is_running_handlers() -> bool {
    // SAFETY: `pthread_self` has no preconditions.
    let this = unsafe { libc::pthread_self() };
    RUNNING_THREADS.lock().contains(&this)
}

/// Marks the calling thread as running handlers while it lives.
struct RunningThread(libc::pthread_t);

impl RunningThread {
    fn enter() -> Self {
        // SAFETY: `pthread_self` has no preconditions.
        let this = unsafe { libc::pthread_self() };
        RUNNING_THREADS.lock().push(this);
        RunningThread(this)
    }
}

impl Drop for RunningThread {
    fn drop(&mut self) {
        let mut threads = RUNNING_THREADS.lock();
        if let Some(index) = threads.iter().position(|&thread| thread == self.0) {
            threads.swap_remove(index);
        }
    }
}

pub(crate) fn set_timeout(timeout: Option<Duration>) {
    *TIMEOUT_SETTING.lock() = Some(timeout);
}

fn timeout() -> Option<Duration> {
    if let Some(setting) = *TIMEOUT_SETTING.lock() {
        return setting;
    }
    let value = std::env::var_os("ATEXIT_TIMEOUT_MS")?;
    match value
        .to_str()
        .and_then(|text| text.trim().parse::<u64>().ok())
    {
        Some(0) => None,
        Some(millis) => Some(Duration::from_millis(millis)),
        None => {
            log(format_args!(
                "ignoring ATEXIT_TIMEOUT_MS={value:?}: not a whole number of milliseconds"
            ));
            None
        }
    }
}

fn trace_enabled() -> bool {
    std::env::var_os("ATEXIT_TRACE").is_some_and(|value| !value.is_empty() && value != "0")
}

/// Runs every pending handler, in exit order, until none is left.
fn run_pending() {
    let _running = RunningThread::enter();
    let trace = trace_enabled();
    let mut executor = match timeout() {
        Some(timeout) => Executor::Watched(Watchdog::new(timeout, trace)),
        None => Executor::Inline { trace },
    };
    let statics: &[Described] = if statics::owned() {
        statics::exit_order()
    } else {
        &[]
    };
    let mut next_static = 0;
    loop {
        while statics
            .get(next_static)
            .is_some_and(|described| !described.handler.is_pending())
        {
            next_static += 1;
        }
        let candidate = statics.get(next_static);
        let static_priority = candidate.map(|described| described.handler.priority());
        if let Some(entry) = registry::take_next(static_priority) {
            executor.execute(Job::Dynamic(entry));
        } else if let Some(described) = candidate {
            next_static += 1;
            if described.handler.claim() {
                executor.execute(Job::Static(described));
            }
        } else {
            break;
        }
    }
}

/// One handler, taken out of the registry or claimed from the static slice.
enum Job {
    Static(&'static Described),
    Dynamic(Entry),
}

/// What the messages about a job say of it.
#[derive(Clone, Copy)]
struct Label {
    name: &'static str,
    file: &'static str,
    line: u32,
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({}:{})", self.name, self.file, self.line)
    }
}

impl Job {
    fn label(&self) -> Label {
        match self {
            Job::Static(Described { info, .. }) => Label {
                name: info.name,
                file: info.file,
                line: info.order.line(),
            },
            Job::Dynamic(entry) => {
                let location: &Location<'_> = entry.location;
                Label {
                    name: entry.payload.type_name(),
                    file: location.file(),
                    line: location.line(),
                }
            }
        }
    }

    fn call(self) -> Result<(), String> {
        match self {
            Job::Static(described) => (described.info.run)(),
            Job::Dynamic(entry) => {
                entry.payload.call();
                Ok(())
            }
        }
    }

    /// Runs the job on this thread and reports how it ended.
    fn run(self, trace: bool) {
        let label = self.label();
        if trace {
            log(format_args!("running {label}"));
        }
        // Reading the clock would double the cost of a run of trivial handlers.
        let started = trace.then(Instant::now);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| self.call()));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(message)) => log(format_args!("handler {label} failed: {message}")),
            Err(payload) if payload.is::<ExitRequest>() => {
                if trace {
                    log(format_args!("{label} called atexit::exit"));
                }
            }
            Err(payload) => {
                log(format_args!(
                    "handler {label} panicked: {}",
                    panic_message(&*payload)
                ));
                drop_panic_payload(payload);
            }
        }
        if let Some(started) = started {
            log(format_args!("finished {label} in {:?}", started.elapsed()));
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "<a panic payload that is not a string>"
    }
}

/// A payload's destructor may panic too; that second panic must not escape the run.
fn drop_panic_payload(payload: Box<dyn Any + Send>) {
    if let Err(second) = panic::catch_unwind(AssertUnwindSafe(|| drop(payload))) {
        mem::forget(second);
    }
}

/// Writes one line to stderr. Errors are ignored: there is nowhere left to report them.
pub(crate) fn log(message: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "atexit: {message}");
}

pub(crate) fn report_internal(message: &str) {
    log(format_args!("internal error: {message}"));
}

enum Executor {
    Inline { trace: bool },
    Watched(Watchdog),
}

impl Executor {
    fn execute(&mut self, job: Job) {
        match self {
            Executor::Inline { trace } => job.run(*trace),
            Executor::Watched(watchdog) => watchdog.execute(job),
        }
    }
}

/// Runs handlers on a worker thread and waits for each at most `timeout`. A handler
/// that overruns is abandoned together with its worker, and a new worker takes the
/// rest, so the exiting thread always gets control back.
struct Watchdog {
    timeout: Duration,
    trace: bool,
    worker: Option<Arc<Worker>>,
}

struct Worker {
    state: Mutex<WorkerState>,
    changed: Condvar,
}

enum WorkerState {
    Idle,
    Assigned(Job),
    Running,
    Done,
    /// The supervisor gave up on the worker, or the run is over.
    Released,
}

impl Watchdog {
    fn new(timeout: Duration, trace: bool) -> Self {
        Watchdog {
            timeout,
            trace,
            worker: None,
        }
    }

    fn execute(&mut self, job: Job) {
        let label = job.label();
        let worker = match self.worker.take() {
            Some(worker) => worker,
            None => match Worker::spawn(self.trace) {
                Ok(worker) => worker,
                Err(error) => {
                    log(format_args!(
                        "cannot start the watchdog's worker ({error}); running {label} without a timeout"
                    ));
                    job.run(self.trace);
                    return;
                }
            },
        };
        let mut state = worker.state.lock();
        *state = WorkerState::Assigned(job);
        worker.changed.notify_all();
        // The clock starts when the handler does, not when its worker gets scheduled.
        while matches!(*state, WorkerState::Assigned(_)) {
            worker.changed.wait(&mut state);
        }
        // A timeout too long to represent is no timeout at all.
        let deadline = Instant::now().checked_add(self.timeout);
        while !matches!(*state, WorkerState::Done) {
            let Some(deadline) = deadline else {
                worker.changed.wait(&mut state);
                continue;
            };
            if worker.changed.wait_until(&mut state, deadline).timed_out()
                && !matches!(*state, WorkerState::Done)
            {
                *state = WorkerState::Released;
                drop(state);
                log(format_args!(
                    "handler {label} did not finish within {:?}; abandoned it and went on",
                    self.timeout
                ));
                return;
            }
        }
        *state = WorkerState::Idle;
        drop(state);
        self.worker = Some(worker);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            *worker.state.lock() = WorkerState::Released;
            worker.changed.notify_all();
        }
    }
}

impl Worker {
    fn spawn(trace: bool) -> std::io::Result<Arc<Worker>> {
        let worker = Arc::new(Worker {
            state: Mutex::new(WorkerState::Idle),
            changed: Condvar::new(),
        });
        let shared = Arc::clone(&worker);
        thread::Builder::new()
            .name("atexit-watchdog".into())
            .spawn(move || shared.serve(trace))?;
        Ok(worker)
    }

    fn serve(&self, trace: bool) {
        let _running = RunningThread::enter();
        let mut state = self.state.lock();
        loop {
            match mem::replace(&mut *state, WorkerState::Running) {
                WorkerState::Assigned(job) => {
                    self.changed.notify_all();
                    drop(state);
                    job.run(trace);
                    state = self.state.lock();
                    if matches!(*state, WorkerState::Released) {
                        return;
                    }
                    *state = WorkerState::Done;
                    self.changed.notify_all();
                }
                WorkerState::Released => return,
                idle => {
                    *state = idle;
                    self.changed.wait(&mut state);
                }
            }
        }
    }
}
