//! `catch_signals` on Unix: SIGINT, SIGTERM, SIGHUP and SIGQUIT ask the program to
//! stop, run the exit handlers (at once, or after the stop grace), then the process
//! dies by the same signal.
//!
//! signal-hook does the signal-safe part. Its iterator wakes a normal thread, which
//! requests the stop and runs the handlers, or starts the grace timer that will;
//! before it, one action of ours per signal decides what the signal means: the first
//! (let the thread act), a copy of the one before (nothing), a second during the
//! grace (the handlers run now), or one more (die at once).
//!
//! A signal that is ignored when `catch_signals` is first called stays ignored, as
//! Unix programs do: `nohup` ignores SIGHUP, and a shell starts background jobs with
//! SIGINT and SIGQUIT ignored.

use std::io;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;
use signal_hook::low_level;

use crate::exit;
use crate::report;
use crate::stop::{self, StopRequest};
use crate::threads;

/// The signals that [`catch_signals`](crate::catch_signals) handles.
const CAUGHT: [libc::c_int; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// Set while no signal thread can act on a signal (it is starting, or could not be
/// started, or this is a forked child): a caught signal then takes its default
/// action, which ends the process at once.
static DIE_ON_SIGNAL: AtomicBool = AtomicBool::new(false);

/// Set by the second caught signal (not a copy of the one before), inside its signal
/// handler: the grace, if one is running, ends now. A signal after it ends the
/// process at once.
static ESCALATED: AtomicBool = AtomicBool::new(false);

/// The last caught signal and when it came (milliseconds of the monotonic clock),
/// packed: a copy of it within [`REPEAT_WINDOW_MS`] counts as the same signal.
static LAST_SIGNAL: AtomicU64 = AtomicU64::new(0);

/// Two copies of one signal this close together are one: `timeout` (coreutils) sends
/// its signal to the process and then to its process group, microseconds apart; a
/// person pressing Ctrl-C twice takes longer.
const REPEAT_WINDOW_MS: u64 = 100;

/// Whether our signal actions are registered. They survive `fork()`, so this is set
/// once per program, never reset: a child that catches signals again must not add a
/// second set.
static ACTIONS_REGISTERED: AtomicBool = AtomicBool::new(false);

/// The signals of `CAUGHT` that were not ignored when the actions were registered,
/// as a bit mask by signal number: those this program catches.
static HANDLED: AtomicU32 = AtomicU32::new(0);

/// Whether this process has a signal thread.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq)]
enum SignalThread {
    None = 0,
    Starting = 1,
    Running = 2,
}

static THREAD: AtomicU8 = AtomicU8::new(SignalThread::None as u8);

pub(crate) fn catch_signals() -> io::Result<()> {
    loop {
        match THREAD.compare_exchange(
            SignalThread::None as u8,
            SignalThread::Starting as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => break,
            Err(state) if state == SignalThread::Running as u8 => return Ok(()),
            // Another thread is starting it; its answer is ours.
            Err(_) => thread::yield_now(),
        }
    }
    match start() {
        Ok(()) => {
            THREAD.store(SignalThread::Running as u8, Ordering::Release);
            Ok(())
        }
        Err(error) => {
            THREAD.store(SignalThread::None as u8, Ordering::Release);
            Err(error)
        }
    }
}

fn start() -> io::Result<()> {
    // Until the signal thread is ready, or if it cannot be started, a caught signal
    // does what it would do if it were not caught.
    DIE_ON_SIGNAL.store(true, Ordering::SeqCst);
    if !ACTIONS_REGISTERED.load(Ordering::Acquire) {
        for signal in CAUGHT {
            if is_ignored(signal)? {
                continue;
            }
            // SAFETY: the action only reads the monotonic clock (`clock_gettime`,
            // which POSIX lists as async-signal-safe), swaps and loads atomics and
            // calls `emulate_default_handler`, which signal-hook documents as safe to
            // call in a signal handler; all of it is async-signal-safe.
            unsafe {
                low_level::register(signal, move || {
                    if !DIE_ON_SIGNAL.load(Ordering::SeqCst) && is_repeat(signal) {
                        return;
                    }
                    // Recorded before the exit is looked at, so that an exit run
                    // claimed after this look knows the signal came.
                    let first = exit::signal_arrived(signal);
                    if DIE_ON_SIGNAL.load(Ordering::SeqCst)
                        || exit::is_exiting()
                        || !first && ESCALATED.swap(true, Ordering::SeqCst)
                    {
                        let _ = low_level::emulate_default_handler(signal);
                    }
                })?;
            }
            HANDLED.fetch_or(1 << signal, Ordering::SeqCst);
        }
        ACTIONS_REGISTERED.store(true, Ordering::Release);
    }
    let handled = HANDLED.load(Ordering::SeqCst);
    let mut signals = Signals::new(
        CAUGHT
            .into_iter()
            .filter(|&signal| handled & 1 << signal != 0),
    )?;
    // Read now, so that a bad `ATEXIT_GRACE_MS` is reported before any signal comes.
    let _ = stop::grace();
    threads::spawn(
        "atexit-signals",
        None,
        Box::new(move || {
            let mut grace_timer: Option<Thread> = None;
            // Every delivery wakes this thread, copies included: what the signals
            // mean was decided by the actions above.
            for _ in signals.forever() {
                let Some(signal) = exit::first_signal() else {
                    continue;
                };
                if let Some(timer) = &grace_timer {
                    if ESCALATED.load(Ordering::SeqCst) {
                        timer.unpark();
                    }
                    continue;
                }
                // Waiters wake before anything else happens, so that the program can
                // see the stop whatever comes next.
                stop::request(StopRequest::Signal(signal));
                grace_timer = stop::grace()
                    .filter(|_| !ESCALATED.load(Ordering::SeqCst))
                    .and_then(|grace| start_grace_timer(signal, grace));
                if grace_timer.is_none() {
                    run_handlers_then_die(signal);
                    return;
                }
            }
        }),
    )?;
    if !exit::is_exiting() {
        DIE_ON_SIGNAL.store(false, Ordering::SeqCst);
    }
    Ok(())
}

/// Runs the exit handlers for `signal`, then dies by it, unless the exit began
/// otherwise meanwhile (the program ended by itself after the stop request): that
/// run then ends the process.
fn run_handlers_then_die(signal: libc::c_int) {
    if exit::for_signal(signal) {
        exit::die_by(signal);
    }
}

/// Starts the thread that waits out the grace after the stop request: the handlers
/// run when it passes, or when another signal comes, unless the program ends by
/// itself first. `None` if the thread cannot be started.
fn start_grace_timer(signal: libc::c_int, grace: Duration) -> Option<Thread> {
    let started = Instant::now();
    let timer = threads::spawn(
        "atexit-grace",
        None,
        Box::new(move || {
            let end = started.checked_add(grace);
            loop {
                if ESCALATED.load(Ordering::SeqCst) {
                    if report::trace_enabled() {
                        report::line(format_args!(
                            "another signal during the stop grace: the exit handlers run now"
                        ));
                    }
                    break;
                }
                let now = Instant::now();
                match end {
                    Some(end) if now < end => thread::park_timeout(end - now),
                    Some(_) => {
                        if report::trace_enabled() {
                            report::line(format_args!(
                                "the stop grace of {} ms passed: the exit handlers run now",
                                grace.as_millis()
                            ));
                        }
                        break;
                    }
                    None => thread::park(),
                }
            }
            run_handlers_then_die(signal);
        }),
    );
    match timer {
        Ok(timer) => Some(timer),
        Err(error) => {
            report::line(format_args!(
                "cannot start the stop grace timer ({error}): the exit handlers run now"
            ));
            None
        }
    }
}

/// Whether `signal` is a copy of the caught signal before it, within the window;
/// records it otherwise. Async-signal-safe.
fn is_repeat(signal: libc::c_int) -> bool {
    let mut now = MaybeUninit::<libc::timespec>::zeroed();
    // SAFETY: `now` is valid for writes of a `timespec`; `clock_gettime` is
    // async-signal-safe, and `CLOCK_MONOTONIC` is always available where it is.
    let millis = if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, now.as_mut_ptr()) } == 0 {
        // SAFETY: `clock_gettime` returned 0, so it filled `now` in.
        let now = unsafe { now.assume_init() };
        (now.tv_sec as u64) * 1000 + (now.tv_nsec as u64) / 1_000_000
    } else {
        return false;
    };
    // The signal in the low byte, the time above it; 0 is "none yet".
    let this = millis << 8 | signal as u64 & 0xff;
    let last = LAST_SIGNAL.load(Ordering::SeqCst);
    if last != 0 && last & 0xff == this & 0xff && millis.wrapping_sub(last >> 8) < REPEAT_WINDOW_MS
    {
        return true;
    }
    LAST_SIGNAL.store(this, Ordering::SeqCst);
    false
}

/// Whether `signal` is ignored now.
fn is_ignored(signal: libc::c_int) -> io::Result<bool> {
    let mut current = MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: a null new action only reads the current one, into `current`, which is
    // valid for writes of a `sigaction`.
    if unsafe { libc::sigaction(signal, ptr::null(), current.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `sigaction` returned 0, so it filled `current` in.
    let current = unsafe { current.assume_init() };
    Ok(current.sa_sigaction == libc::SIG_IGN)
}

/// Called in a forked child, which has no signal thread: until it calls
/// `catch_signals` itself, a caught signal takes its default action at once rather
/// than being swallowed.
pub(crate) fn after_fork_in_child() {
    DIE_ON_SIGNAL.store(true, Ordering::SeqCst);
    ESCALATED.store(false, Ordering::SeqCst);
    LAST_SIGNAL.store(0, Ordering::SeqCst);
    THREAD.store(SignalThread::None as u8, Ordering::SeqCst);
}
