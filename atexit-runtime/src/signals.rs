//! `catch_signals`: run the exit handlers on SIGINT, SIGTERM, SIGHUP and SIGQUIT, then
//! die by the same signal.
//!
//! signal-hook does the signal-safe part: its iterator wakes a normal thread, which
//! runs the handlers, and a conditional default action makes a second signal during
//! that run end the process at once.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::{hook, run};

/// The signals that [`catch_signals`](crate::catch_signals) handles.
const CAUGHT: [libc::c_int; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// Set, inside the signal handler, by the first caught signal, and by the start of a
/// normal exit run. From then on a caught signal takes its default action, which ends
/// the process at once.
static DIE_ON_SIGNAL: AtomicBool = AtomicBool::new(false);

static INSTALLED: Mutex<bool> = Mutex::new(false);

pub(crate) fn catch_signals() -> io::Result<()> {
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if *installed {
        return Ok(());
    }
    hook::ensure_installed();
    DIE_ON_SIGNAL.store(false, Ordering::SeqCst);
    for signal in CAUGHT {
        // In this order: the first signal finds the flag clear and then sets it, so a
        // second one, however soon, finds it set.
        signal_hook::flag::register_conditional_default(signal, &DIE_ON_SIGNAL)?;
        signal_hook::flag::register(signal, &DIE_ON_SIGNAL)?;
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
    *installed = true;
    Ok(())
}

/// Restores the default action of `signal` and raises it, so that the parent sees the
/// true cause of death.
fn die_by(signal: libc::c_int) -> ! {
    if let Err(error) = signal_hook::low_level::emulate_default_handler(signal) {
        run::log(format_args!("cannot re-raise signal {signal}: {error}"));
    }
    // The default action of every caught signal ends the process; should it somehow
    // return, end it the way a shell reports a death by signal.
    // SAFETY: `_exit` has no preconditions; the handlers have already run.
    unsafe { libc::_exit(128 + signal) }
}

/// Called when the libc exit hook begins its run: a caught signal during that run
/// ends the process at once, as a second signal would.
pub(crate) fn exit_run_began() {
    DIE_ON_SIGNAL.store(true, Ordering::SeqCst);
}

/// Called in a forked child, which has no signal thread: until it calls
/// `catch_signals` again, a caught signal takes its default action at once, rather
/// than being swallowed.
pub(crate) fn after_fork_in_child() {
    DIE_ON_SIGNAL.store(true, Ordering::SeqCst);
    // SAFETY-free: the parent's lock, if it was held at the fork, belongs to a thread
    // that does not exist here, so the child starts with a fresh answer.
    if let Ok(mut installed) = INSTALLED.try_lock() {
        *installed = false;
    }
}
