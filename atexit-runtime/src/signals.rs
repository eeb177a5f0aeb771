//! `catch_signals`: run the exit handlers on SIGINT, SIGTERM, SIGHUP and SIGQUIT, then
//! die by the same signal.
//!
//! signal-hook does the signal-safe part. Its iterator wakes a normal thread, which
//! runs the handlers; before it, one action of ours per signal decides whether the
//! signal is the first (let the thread run the handlers) or not (die at once).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;
use signal_hook::low_level;

use crate::{hook, run};

/// The signals that [`catch_signals`](crate::catch_signals) handles.
const CAUGHT: [libc::c_int; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// Set by the first caught signal, inside its signal handler, and by the start of a
/// normal exit run. From then on a caught signal takes its default action, which
/// ends the process at once.
static DIE_ON_SIGNAL: AtomicBool = AtomicBool::new(false);

/// Whether our signal actions are registered. They survive `fork()`, so this is set
/// once per program, never reset: a child that catches signals again must not add a
/// second set.
static ACTIONS_REGISTERED: AtomicBool = AtomicBool::new(false);

/// Whether this process has a signal thread: `NONE`, `STARTING` or `RUNNING`.
static THREAD: AtomicU8 = AtomicU8::new(NONE);
const NONE: u8 = 0;
const STARTING: u8 = 1;
const RUNNING: u8 = 2;

pub(crate) fn catch_signals() -> io::Result<()> {
    loop {
        match THREAD.compare_exchange(NONE, STARTING, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(RUNNING) => return Ok(()),
            // Another thread is starting it; its answer is ours.
            Err(_) => thread::yield_now(),
        }
    }
    match start() {
        Ok(()) => {
            THREAD.store(RUNNING, Ordering::Release);
            Ok(())
        }
        Err(error) => {
            THREAD.store(NONE, Ordering::Release);
            Err(error)
        }
    }
}

fn start() -> io::Result<()> {
    hook::ensure_installed();
    // Until the signal thread is ready, or if it cannot be started, a caught signal
    // does what it would do if it were not caught.
    DIE_ON_SIGNAL.store(true, Ordering::SeqCst);
    if !ACTIONS_REGISTERED.load(Ordering::Acquire) {
        for signal in CAUGHT {
            // SAFETY: the action only swaps an atomic and, on a later signal, calls
            // `emulate_default_handler`, which signal-hook documents as safe to call in
            // a signal handler; both are async-signal-safe.
            unsafe {
                low_level::register(signal, move || {
                    if DIE_ON_SIGNAL.swap(true, Ordering::SeqCst) {
                        let _ = low_level::emulate_default_handler(signal);
                    }
                })?;
            }
        }
        ACTIONS_REGISTERED.store(true, Ordering::Release);
    }
    let mut signals = Signals::new(CAUGHT)?;
    thread::Builder::new()
        .name("atexit-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                run::for_signal();
                die_by(signal);
            }
        })?;
    if !run::is_exiting() {
        DIE_ON_SIGNAL.store(false, Ordering::SeqCst);
    }
    Ok(())
}

/// Restores the default action of `signal` and raises it, so that the parent sees the
/// true cause of death.
fn die_by(signal: libc::c_int) -> ! {
    if let Err(error) = low_level::emulate_default_handler(signal) {
        run::log(format_args!("cannot re-raise signal {signal}: {error}"));
    }
    // The default action of every caught signal ends the process; should it somehow
    // return, end it the way a shell reports a death by signal.
    // SAFETY: `_exit` has no preconditions; the handlers have already run.
    unsafe { libc::_exit(128 + signal) }
}

/// Called when the libc exit hook begins its run: a caught signal during that run
/// ends the process at once, as it would without `catch_signals`.
pub(crate) fn exit_run_began() {
    DIE_ON_SIGNAL.store(true, Ordering::SeqCst);
}

/// Called in a forked child, which has no signal thread: until it calls
/// `catch_signals` itself, a caught signal takes its default action at once rather
/// than being swallowed.
pub(crate) fn after_fork_in_child() {
    DIE_ON_SIGNAL.store(true, Ordering::SeqCst);
    THREAD.store(NONE, Ordering::SeqCst);
}
