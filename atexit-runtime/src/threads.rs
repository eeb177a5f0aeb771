//! What the runtime knows of each thread: its slot (which registry shard it uses),
//! whether it is running exit handlers, and the handlers in flight on it; and how
//! the runtime starts threads of its own.
//!
//! All of it is kept in thread-locals that are initialised by a constant and have no
//! destructor. glibc destroys the exiting thread's thread-locals before the exit
//! handlers run, but only those with destructors: these stay readable to the end.

use std::cell::Cell;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many slots threads are spread over. Threads beyond this share slots, which
/// costs only contention.
pub(crate) const SLOTS: usize = 16;

const UNASSIGNED: usize = usize::MAX;

thread_local! {
    static SLOT: Cell<usize> = const { Cell::new(UNASSIGNED) };
    /// How many exit runs this thread is inside (a handler may start a nested one).
    static RUN_DEPTH: Cell<u32> = const { Cell::new(0) };
    /// How many of the handlers counted in `IN_FLIGHT` are on this thread's stack.
    static OWN_IN_FLIGHT: Cell<usize> = const { Cell::new(0) };
    /// Set by the constructor that runs before `main`, on the main thread.
    static IS_MAIN: Cell<bool> = const { Cell::new(false) };
    /// How many runs where no thread may start this thread is inside.
    static NO_THREADS_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Threads take slots in turn, so that two threads get different ones.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// Handlers being executed right now, by the slot of the thread executing them: in a
/// run, or by a guard being dropped. One line per slot, so that threads do not
/// contend when they count.
static IN_FLIGHT: [CachePadded<AtomicUsize>; SLOTS] =
    [const { CachePadded::new(AtomicUsize::new(0)) }; SLOTS];

/// A value alone in its cache line (and the next, which x86 prefetches in pairs), so
/// that threads writing the values of different slots do not contend.
#[repr(align(128))]
pub(crate) struct CachePadded<T>(T);

impl<T> CachePadded<T> {
    pub(crate) const fn new(value: T) -> Self {
        CachePadded(value)
    }
}

impl<T> Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// The calling thread's slot, in `0..SLOTS`.
#[inline]
pub(crate) fn slot() -> usize {
    match SLOT.get() {
        UNASSIGNED => {
            let assigned = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS;
            SLOT.set(assigned);
            assigned
        }
        assigned => assigned,
    }
}

/// Marks one handler as executing on this thread while it lives. Taken before the
/// handler leaves the registry, so that an exit on another thread never finds it in
/// neither place.
pub(crate) struct InFlight {
    slot: usize,
}

impl InFlight {
    #[inline]
    pub(crate) fn begin() -> Self {
        let slot = slot();
        IN_FLIGHT[slot].fetch_add(1, Ordering::SeqCst);
        OWN_IN_FLIGHT.set(OWN_IN_FLIGHT.get() + 1);
        InFlight { slot }
    }
}

impl Drop for InFlight {
    #[inline]
    fn drop(&mut self) {
        OWN_IN_FLIGHT.set(OWN_IN_FLIGHT.get() - 1);
        IN_FLIGHT[self.slot].fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts guard closures executing on this thread in its own guard block (see
/// `registry::guards`), which keeps their shared count itself: `delta` is 1 as one
/// begins, -1 as it ends.
#[inline]
pub(crate) fn count_own_in_flight(delta: isize) {
    OWN_IN_FLIGHT.with(|own| own.set(own.get().wrapping_add_signed(delta)));
}

/// For the exit run's own thread: the run it executes is counted in flight by the
/// thread waiting for it, and is this thread's as much, so that a run nested on this
/// thread does not wait for it. The thread lives for one run.
pub(crate) fn count_waiting_run_as_own() {
    OWN_IN_FLIGHT.set(OWN_IN_FLIGHT.get() + 1);
}

/// Marks this thread as running a run where no thread may start (a library being
/// unloaded under the loader's lock), while it lives: a run nested in it, by
/// `run_exit_handlers`, must not start one either.
pub(crate) struct NoThreads(());

impl NoThreads {
    pub(crate) fn enter() -> Self {
        NO_THREADS_DEPTH.set(NO_THREADS_DEPTH.get() + 1);
        NoThreads(())
    }
}

impl Drop for NoThreads {
    fn drop(&mut self) {
        NO_THREADS_DEPTH.set(NO_THREADS_DEPTH.get() - 1);
    }
}

/// Whether the calling thread may start a thread: not inside a run where none may.
pub(crate) fn may_start_threads() -> bool {
    NO_THREADS_DEPTH.get() == 0
}

/// Handlers executing on other threads right now, given `counted_elsewhere`: those
/// counted outside `InFlight` (the guard blocks' own counts, this thread's included).
pub(crate) fn in_flight_elsewhere(counted_elsewhere: usize) -> usize {
    let all: usize = IN_FLIGHT
        .iter()
        .map(|count| count.load(Ordering::SeqCst))
        .sum::<usize>()
        + counted_elsewhere;
    all.saturating_sub(OWN_IN_FLIGHT.get())
}

/// Marks this thread as running exit handlers while it lives.
pub(crate) struct InRun(());

impl InRun {
    pub(crate) fn enter() -> Self {
        RUN_DEPTH.set(RUN_DEPTH.get() + 1);
        InRun(())
    }
}

impl Drop for InRun {
    fn drop(&mut self) {
        RUN_DEPTH.set(RUN_DEPTH.get() - 1);
    }
}

/// Whether the calling thread is running exit handlers.
pub(crate) fn is_running_handlers() -> bool {
    RUN_DEPTH.get() > 0
}

/// Called before `main`, on the main thread.
pub(crate) fn mark_main() {
    IS_MAIN.set(true);
}

/// Whether this is the thread that runs `main`.
pub(crate) fn is_main() -> bool {
    IS_MAIN.get()
}

/// Windows: whether `ExitProcess` is under way. It ends every other thread before
/// it calls the loader's callbacks, so a lock one of them held stays held; when only
/// a thread ends or a DLL is freed, the others live on.
#[cfg(windows)]
pub(crate) fn others_were_ended() -> bool {
    // Imported by name, as windows-sys imports its functions, so that no import
    // library is needed on either toolchain.
    #[link(name = "ntdll.dll", kind = "raw-dylib", modifiers = "+verbatim")]
    extern "system" {
        /// True in the callbacks `ExitProcess` calls. Not in windows-sys.
        fn RtlDllShutdownInProgress() -> u8;
    }
    // SAFETY: no arguments, no preconditions; it reads a flag of the loader's.
    unsafe { RtlDllShutdownInProgress() != 0 }
}

/// Starts a thread of the runtime's, named `name`, with a stack of `stack_size`
/// bytes if given, else std's default, and lets it run on its own. Every thread the
/// runtime starts goes through here with its body boxed, so that std's thread start
/// is compiled once rather than once per body.
#[inline(never)]
pub(crate) fn spawn(
    name: &str,
    stack_size: Option<usize>,
    body: Box<dyn FnOnce() + Send>,
) -> std::io::Result<std::thread::Thread> {
    let mut builder = std::thread::Builder::new().name(name.to_owned());
    if let Some(stack_size) = stack_size {
        builder = builder.stack_size(stack_size);
    }
    builder.spawn(body).map(|started| started.thread().clone())
}

/// Stops the calling thread for good: for a thread that must not return and cannot
/// unwind. Sleeps rather than parks: parking needs the thread's handle, a
/// thread-local that glibc may have destroyed.
pub(crate) fn park_forever() -> ! {
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

#[cfg(unix)]
/// Called in a forked child: the parent's other threads, and what they were running,
/// do not exist here. This thread's own handlers still count, but `counted_elsewhere`
/// of them, which its guard block counts.
pub(crate) fn after_fork_in_child(counted_elsewhere: usize) {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
    for count in &IN_FLIGHT {
        count.store(0, Ordering::SeqCst);
    }
    let own = OWN_IN_FLIGHT.get().saturating_sub(counted_elsewhere);
    IN_FLIGHT[slot()].store(own, Ordering::SeqCst);
}

/// How many times this process's line was forked: bumped in each child, so that a
/// thread can tell, with one load, that it now runs in a child.
#[cfg(unix)]
static FORK_GENERATION: AtomicUsize = AtomicUsize::new(0);

/// See `FORK_GENERATION`; always 0 where there is no `fork`.
#[inline]
pub(crate) fn fork_generation() -> usize {
    #[cfg(unix)]
    return FORK_GENERATION.load(Ordering::Relaxed);
    #[cfg(not(unix))]
    0
}

/// The main thread's stack where nothing says otherwise: Linux's default limit.
pub(crate) const DEFAULT_MAIN_STACK: usize = 8 << 20;

/// The largest stack asked for a thread: a limit far above what any stack uses
/// would only make the thread fail to start.
#[cfg(unix)]
const LARGEST_STACK: usize = 1 << 30;

/// The stack the main thread gets: the soft `RLIMIT_STACK` where there is one and
/// it is finite (up to 1 GiB), else 8 MiB. The exit run's thread gets at least
/// this, so that a handler that works on the main thread works there too.
pub(crate) fn main_thread_stack_size() -> usize {
    const DEFAULT: usize = DEFAULT_MAIN_STACK;
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `getrlimit` writes the limit into the struct it is given, which
        // lives for the call.
        if unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut limit) } == 0
            && limit.rlim_cur != libc::RLIM_INFINITY
        {
            return usize::try_from(limit.rlim_cur)
                .map_or(LARGEST_STACK, |size| size.clamp(DEFAULT, LARGEST_STACK));
        }
    }
    DEFAULT
}
