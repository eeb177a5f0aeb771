//! `catch_signals`: run the exit handlers on SIGINT, SIGTERM, SIGHUP and SIGQUIT, then
//! die by the same signal.
//!
//! signal-hook does the signal-safe part: its iterator wakes a normal thread, which
//! runs the handlers, and a conditional default action makes a second signal during
//! that run end the process at once.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use parking_lot::{const_mutex, Mutex};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::{hook, run};

/// The signals that [`catch_signals`](crate::catch_signals) handles.
const CAUGHT: [libc::c_int; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// Set when a caught signal starts the exit run. From then on a caught signal takes
/// its default action, which ends the process.
static HANDLING: AtomicBool = AtomicBool::new(false);

static INSTALLED: Mutex<bool> = const_mutex(false);

pub(crate) fn catch_signals() -> io::Result<()> {
    let mut installed = INSTALLED.lock();
    if *installed {
        return Ok(());
    }
    hook::ensure_installed();
    for signal in CAUGHT {
        signal_hook::flag::register_conditional_default(signal, &HANDLING)?;
    }
    let mut signals = Signals::new(CAUGHT)?;
    thread::Builder::new()
        .name("atexit-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                HANDLING.store(true, Ordering::SeqCst);
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

/// Called by the exit hook: while a signal's exit run is under way, the process is
/// about to die by that signal, so a concurrent `exit` (say, `main` returning) waits
/// for it rather than racing it with a second run and another exit status.
pub(crate) fn wait_if_handling_signal() {
    if HANDLING.load(Ordering::SeqCst) && !run::is_running_handlers() {
        loop {
            thread::sleep(Duration::from_secs(3600));
        }
    }
}
