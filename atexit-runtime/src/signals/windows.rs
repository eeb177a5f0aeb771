//! `catch_signals` on Windows: Ctrl-C, Ctrl-Break and the console window being
//! closed, through the console control handler.
//!
//! Windows calls the handler routine on a new thread of its own for each event. The
//! first asks the program to stop, waits out the stop grace there (a second event
//! ends the wait), and runs the exit handlers; the routine then ends the process with
//! the status Windows gives an interrupted console program. For a closed window (and
//! a shutdown) Windows ends the process itself a few seconds after calling the
//! routine, so the grace is cut to half of that time, and the run gets what is left
//! as its deadline, unless the program set one. A logoff is left alone: only
//! services get it, for any user's.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use windows_sys::core::BOOL;
use windows_sys::Win32::System::Console::{
    SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT, CTRL_C_EVENT, CTRL_LOGOFF_EVENT,
    CTRL_SHUTDOWN_EVENT,
};

use crate::exit;
use crate::report;
use crate::stop::{self, StopRequest};

/// How long Windows lets a closed console's or a shutdown's routine run (about five
/// seconds), with a margin.
const CLOSING_ALLOWS: Duration = Duration::from_millis(4500);

/// The C runtime's numbers for the signals the console events stand for, which
/// `ExitReason::Signal` reports: SIGINT for Ctrl-C, SIGBREAK for Ctrl-Break, SIGTERM
/// for a closed window, a logoff or a shutdown.
const SIGINT: i32 = 2;
const SIGBREAK: i32 = 21;
const SIGTERM: i32 = 15;

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Set by a second event during the grace: the handlers run now.
static ESCALATED: AtomicBool = AtomicBool::new(false);

/// The thread of the first event, waiting out the grace.
static WAITING: OnceLock<Thread> = OnceLock::new();

pub(crate) fn catch_signals() -> io::Result<()> {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    // Read now, so that a bad `ATEXIT_GRACE_MS` is reported before any event comes.
    let _ = stop::grace();
    // SAFETY: `on_console_event` is an `extern "system"` function with the signature
    // of a `PHANDLER_ROUTINE` that never unwinds (the run catches every panic), and
    // it lives as long as the program.
    if unsafe { SetConsoleCtrlHandler(Some(on_console_event), 1) } == 0 {
        INSTALLED.store(false, Ordering::SeqCst);
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

unsafe extern "system" fn on_console_event(event: u32) -> BOOL {
    let (signal, closing) = match event {
        CTRL_C_EVENT => (SIGINT, false),
        CTRL_BREAK_EVENT => (SIGBREAK, false),
        CTRL_CLOSE_EVENT | CTRL_SHUTDOWN_EVENT => (SIGTERM, true),
        // Only services get it, whenever any user logs off: not a reason to stop.
        CTRL_LOGOFF_EVENT => return 0,
        // Not ours: the next routine, or Windows' default, decides.
        _ => return 0,
    };
    // An event during a run, a normal exit's included, ends the process at once, as
    // it would without `catch_signals`.
    if exit::is_exiting() {
        exit::die_by(signal);
    }
    if !exit::signal_arrived(signal) {
        // A second event: the grace ends now, and the first event's thread runs
        // the handlers. A third ends the process.
        if ESCALATED.swap(true, Ordering::SeqCst) {
            exit::die_by(signal);
        }
        if let Some(waiting) = WAITING.get() {
            waiting.unpark();
        }
        // Returning would let Windows end the process now after a closed window.
        crate::threads::park_forever();
    }
    let started = Instant::now();
    stop::request(StopRequest::Signal(signal));
    if let Some(grace) = stop::grace() {
        let grace = if closing {
            grace.min(CLOSING_ALLOWS / 2)
        } else {
            grace
        };
        wait_out_grace(grace);
    }
    let allowed = closing.then(|| CLOSING_ALLOWS.saturating_sub(started.elapsed()));
    if exit::for_console_event(signal, allowed) {
        exit::die_by(signal);
    }
    // The program ended by itself during the grace: its exit run ends the process.
    crate::threads::park_forever()
}

/// Waits until `grace` passes or a second event comes.
fn wait_out_grace(grace: Duration) {
    let _ = WAITING.set(thread::current());
    let end = Instant::now().checked_add(grace);
    while !ESCALATED.load(Ordering::SeqCst) {
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
                return;
            }
            None => thread::park(),
        }
    }
}
