//! The exit run: takes handlers one at a time in exit order and runs each with no lock
//! held, catching panics, `Err`s and `atexit::exit`, timing them for `ATEXIT_TRACE`
//! and, when a timeout is set, watching them from another thread.
//!
//! Nothing here uses thread-locals: on glibc the exiting thread's are destroyed before
//! atexit handlers run. `std`'s locks are futex words that need none, and the state
//! shared across runs is atomics, so that a `fork()` at any moment leaves no lock
//! held in the child.

use std::any::Any;
use std::fmt;
use std::mem;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::registry::{self, Entry};
use crate::statics::{self, Described};

/// Who runs the exit: nobody yet, the libc exit hook, or a caught signal. Whichever
/// comes first owns it; see `at_process_exit` and `for_signal` for the other.
static EXIT_OWNER: AtomicU8 = AtomicU8::new(NOBODY);
const NOBODY: u8 = 0;
const PROCESS_EXIT: u8 = 1;
#[cfg(feature = "signals")]
const SIGNAL: u8 = 2;

/// The code a handler asked for with `atexit::exit`, or `NO_REQUEST`; the last
/// request wins.
static EXIT_REQUEST: AtomicI64 = AtomicI64::new(NO_REQUEST);
const NO_REQUEST: i64 = i64::MIN;

/// Threads currently inside an exit run, by `pthread_self`; 0 marks a free place.
static RUNNING_THREADS: [AtomicUsize; MAX_RUNNING_THREADS] =
    [const { AtomicUsize::new(0) }; MAX_RUNNING_THREADS];
/// More threads than this in exit runs at once is not a real program; the excess
/// are not recognised by `atexit::exit`, which then exits the plain way.
const MAX_RUNNING_THREADS: usize = 64;

/// The threads executing a handler right now, in any run or by dropping a guard, one
/// place per handler; 0 marks a free place. The process waits for them to finish
/// before it exits, except for the exiting thread's own, which are below it on its
/// stack.
static IN_FLIGHT: [AtomicUsize; MAX_IN_FLIGHT] = [const { AtomicUsize::new(0) }; MAX_IN_FLIGHT];
/// Handlers executing at once beyond this are not waited for.
const MAX_IN_FLIGHT: usize = 64;

/// The handler timeout in nanoseconds, or `TIMEOUT_FROM_ENV` or `TIMEOUT_OFF`.
static TIMEOUT: AtomicU64 = AtomicU64::new(TIMEOUT_FROM_ENV);
const TIMEOUT_FROM_ENV: u64 = u64::MAX;
const TIMEOUT_OFF: u64 = u64::MAX - 1;

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
    run_to_the_end();
    if let Some(code) = take_exit_request() {
        exit_with_new_status(code);
    }
}

/// The exit run of the process: every pending handler, then those other threads are
/// still running.
fn run_to_the_end() {
    if panic::catch_unwind(run_pending).is_err() {
        report_internal("the exit run itself panicked; handlers may have been skipped");
    }
    wait_for_handlers_in_flight();
}

/// Ends the process with `code`, from inside the libc exit hook.
fn exit_with_new_status(code: i32) -> ! {
    #[cfg(target_env = "gnu")]
    // SAFETY: we are inside glibc's `exit`, in an atexit handler. glibc allows `exit`
    // there: it carries on with the remaining atexit handlers and then exits with the
    // new status. `std::process::exit` would abort instead (it refuses to be
    // re-entered), which is why libc's is called.
    unsafe {
        libc::exit(code)
    }
    #[cfg(not(target_env = "gnu"))]
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
fn wait_for_handlers_in_flight() {
    let this = this_thread();
    let others_in_flight = || {
        IN_FLIGHT
            .iter()
            .map(|place| place.load(Ordering::Acquire))
            .filter(|&thread| thread != 0 && thread != this)
            .count()
    };
    let grace = timeout().unwrap_or(GRACE_FOR_OTHER_THREADS);
    let deadline = Instant::now().checked_add(grace);
    while others_in_flight() > 0 {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            log(format_args!(
                "{} handler(s) still running on other threads; exiting without them",
                others_in_flight()
            ));
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// Marks a handler as executing on this thread while it lives.
pub(crate) struct InFlight(Option<&'static AtomicUsize>);

impl InFlight {
    pub(crate) fn begin() -> Self {
        InFlight(take_place(&IN_FLIGHT))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(place) = self.0 {
            place.store(0, Ordering::Release);
        }
    }
}

/// Writes this thread's id into a free place of `places`; `None` if all are taken.
fn take_place(places: &'static [AtomicUsize]) -> Option<&'static AtomicUsize> {
    let this = this_thread();
    places.iter().find(|place| {
        place
            .compare_exchange(0, this, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    })
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
    if claim_exit(SIGNAL) {
        run_to_the_end();
    }
}

pub(crate) fn is_exiting() -> bool {
    EXIT_OWNER.load(Ordering::Acquire) != NOBODY
}

/// `atexit::exit` inside a handler: end the handler, remember the code.
pub(crate) fn exit_from_handler(code: i32) -> ! {
    EXIT_REQUEST.store(i64::from(code), Ordering::SeqCst);
    panic::resume_unwind(Box::new(ExitRequest))
}

fn take_exit_request() -> Option<i32> {
    let code = EXIT_REQUEST.swap(NO_REQUEST, Ordering::SeqCst);
    i32::try_from(code).ok()
}

fn this_thread() -> usize {
    // SAFETY: `pthread_self` has no preconditions.
    let this = unsafe { libc::pthread_self() };
    // A thread's id is never zero, the free mark; it is an integer or a pointer.
    this as usize
}

/// Whether the calling thread is running exit handlers.
pub(crate) fn is_running_handlers() -> bool {
    let this = this_thread();
    RUNNING_THREADS
        .iter()
        .any(|place| place.load(Ordering::Acquire) == this)
}

/// Marks the calling thread as running handlers while it lives.
struct RunningThread(Option<&'static AtomicUsize>);

impl RunningThread {
    fn enter() -> Self {
        RunningThread(take_place(&RUNNING_THREADS))
    }
}

impl Drop for RunningThread {
    fn drop(&mut self) {
        if let Some(place) = self.0 {
            place.store(0, Ordering::Release);
        }
    }
}

/// Called in a forked child: the parent's exit, if it had begun, is not the child's,
/// and the parent's other threads, with what they were running, do not exist here.
pub(crate) fn forget_parent_exit() {
    EXIT_OWNER.store(NOBODY, Ordering::SeqCst);
    EXIT_REQUEST.store(NO_REQUEST, Ordering::SeqCst);
    let this = this_thread();
    // This thread's own places stay: it may be inside a run or a handler, whose
    // guards will free them.
    for place in RUNNING_THREADS.iter().chain(&IN_FLIGHT) {
        if place.load(Ordering::SeqCst) != this {
            place.store(0, Ordering::SeqCst);
        }
    }
}

pub(crate) fn set_timeout(timeout: Option<Duration>) {
    let setting = match timeout {
        Some(timeout) if !timeout.is_zero() => u64::try_from(timeout.as_nanos())
            .map_or(TIMEOUT_OFF - 1, |nanos| nanos.min(TIMEOUT_OFF - 1)),
        _ => TIMEOUT_OFF,
    };
    TIMEOUT.store(setting, Ordering::SeqCst);
}

fn timeout() -> Option<Duration> {
    match TIMEOUT.load(Ordering::SeqCst) {
        TIMEOUT_FROM_ENV => {}
        TIMEOUT_OFF => return None,
        nanos => return Some(Duration::from_nanos(nanos)),
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
    let order = statics::exit_order();
    let mut next_static = 0;
    loop {
        // Counted from before the handler leaves the registry until it is done (or
        // abandoned), so that an exit on another thread never sees it in neither place.
        let _in_flight = InFlight::begin();
        while order
            .get(next_static)
            .is_some_and(|described| !described.handler.is_pending())
        {
            next_static += 1;
        }
        // Checked at each step: a handler may fork, and the child then goes on here.
        let candidate = order.get(next_static).filter(|_| statics::owned());
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

/// Writes one line to stderr, straight to the file descriptor: `std`'s stderr lock
/// may be held by a handler that hangs, the one the watchdog is reporting. Errors are
/// ignored: there is nowhere left to report them.
pub(crate) fn log(message: fmt::Arguments<'_>) {
    let line = format!("atexit: {message}\n");
    let mut rest = line.as_bytes();
    while !rest.is_empty() {
        // SAFETY: `rest` is valid for reads of `rest.len()` bytes.
        let written = unsafe { libc::write(libc::STDERR_FILENO, rest.as_ptr().cast(), rest.len()) };
        match usize::try_from(written) {
            Ok(0) => return,
            Ok(written) => rest = &rest[written..],
            Err(_) if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {
            }
            Err(_) => return,
        }
    }
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
    /// The process that started the worker; see `serve`.
    process: u32,
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
        let mut state = worker.lock();
        *state = WorkerState::Assigned(job);
        worker.changed.notify_all();
        // The clock starts when the handler does, not when its worker gets scheduled.
        while matches!(*state, WorkerState::Assigned(_)) {
            state = worker.wait(state);
        }
        // A timeout too long to represent is no timeout at all.
        let deadline = Instant::now().checked_add(self.timeout);
        while !matches!(*state, WorkerState::Done) {
            let Some(left) =
                deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()))
            else {
                state = worker.wait(state);
                continue;
            };
            if left.is_zero() {
                *state = WorkerState::Released;
                drop(state);
                log(format_args!(
                    "handler {label} did not finish within {:?}; abandoned it and went on",
                    self.timeout
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

/// A handler forked, and this is the child: its only thread is this worker, with
/// no exiting thread to report to. It runs what the child owns and exits itself.
fn finish_in_forked_child() -> ! {
    run_pending();
    // The parent's exit status is not known here; a handler may have asked for one.
    let code = take_exit_request().unwrap_or(0);
    // SAFETY: `exit` may be called from any thread; in this child no other thread
    // exists, and `std::process::exit` would wait forever for the parent's exiting
    // thread, whose copy does not exist here.
    unsafe { libc::exit(code) }
}

impl Worker {
    fn spawn(trace: bool) -> std::io::Result<Arc<Worker>> {
        let worker = Arc::new(Worker {
            state: Mutex::new(WorkerState::Idle),
            changed: Condvar::new(),
            process: std::process::id(),
        });
        let shared = Arc::clone(&worker);
        thread::Builder::new()
            .name("atexit-watchdog".into())
            .spawn(move || shared.serve(trace))?;
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

    fn serve(&self, trace: bool) {
        let _running = RunningThread::enter();
        let mut state = self.lock();
        loop {
            match mem::replace(&mut *state, WorkerState::Running) {
                WorkerState::Assigned(job) => {
                    self.changed.notify_all();
                    drop(state);
                    job.run(trace);
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
