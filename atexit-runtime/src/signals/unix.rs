//! `catch_signals` on Unix: run the exit handlers on SIGINT, SIGTERM, SIGHUP and
//! SIGQUIT, then die by the same signal.
//!
//! signal-hook does the signal-safe part. Its iterator wakes a normal thread, which
//! runs the handlers; before it, one action of ours per signal decides whether the
//! signal is the first (let the thread run the handlers) or not (die at once).
//!
//! A signal that is ignored when `catch_signals` is first called stays ignored, as
//! Unix programs do: `nohup` ignores SIGHUP, and a shell starts background jobs with
//! SIGINT and SIGQUIT ignored.

use std::io;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::thread;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;
use signal_hook::low_level;

use crate::exit;
use crate::report;

/// The signals that [`catch_signals`](crate::catch_signals) handles.
const CAUGHT: [libc::c_int; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// Set by the first caught signal, inside its signal handler. From then on, and
/// during a normal exit run, a caught signal takes its default action, which ends the
/// process at once.
static DIE_ON_SIGNAL: AtomicBool = AtomicBool::new(false);

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
enum Thread {
    None = 0,
    Starting = 1,
    Running = 2,
}

static THREAD: AtomicU8 = AtomicU8::new(Thread::None as u8);

pub(crate) fn catch_signals() -> io::Result<()> {
    loop {
        match THREAD.compare_exchange(
            Thread::None as u8,
            Thread::Starting as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => break,
            Err(state) if state == Thread::Running as u8 => return Ok(()),
            // Another thread is starting it; its answer is ours.
            Err(_) => thread::yield_now(),
        }
    }
    match start() {
        Ok(()) => {
            THREAD.store(Thread::Running as u8, Ordering::Release);
            Ok(())
        }
        Err(error) => {
            THREAD.store(Thread::None as u8, Ordering::Release);
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
            // SAFETY: the action only swaps and loads atomics and, on a later signal,
            // calls `emulate_default_handler`, which signal-hook documents as safe to
            // call in a signal handler; all of it is async-signal-safe.
            unsafe {
                low_level::register(signal, move || {
                    if DIE_ON_SIGNAL.swap(true, Ordering::SeqCst) || exit::is_exiting() {
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
    thread::Builder::new()
        .name("atexit-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                exit::for_signal(signal);
                die_by(signal);
            }
        })?;
    if !exit::is_exiting() {
        DIE_ON_SIGNAL.store(false, Ordering::SeqCst);
    }
    Ok(())
}

/// Restores the default action of `signal` and raises it, so that the parent sees the
/// true cause of death.
fn die_by(signal: libc::c_int) -> ! {
    if let Err(error) = low_level::emulate_default_handler(signal) {
        report::line(format_args!("cannot re-raise signal {signal}: {error}"));
    }
    // The default action of every caught signal ends the process; should it somehow
    // return, end it the way a shell reports a death by signal.
    // SAFETY: `_exit` has no preconditions; the handlers have already run.
    unsafe { libc::_exit(128 + signal) }
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
    THREAD.store(Thread::None as u8, Ordering::SeqCst);
}
