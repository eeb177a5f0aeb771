//! `catch_signals` on Windows: Ctrl-C, Ctrl-Break and the console window being
//! closed, through the console control handler.
//!
//! Windows calls the handler routine on a new thread of its own, so the exit
//! handlers run there; the routine then ends the process with the status Windows
//! gives an interrupted console program. For a closed window (and a shutdown) Windows
//! ends the process itself a few seconds after calling the routine, so that run gets
//! a deadline a little shorter, unless the program set one. A logoff is left alone:
//! only services get it, for any user's.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use windows_sys::core::BOOL;
use windows_sys::Win32::System::Console::{
    SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT, CTRL_C_EVENT, CTRL_LOGOFF_EVENT,
    CTRL_SHUTDOWN_EVENT,
};
use windows_sys::Win32::System::Threading::ExitProcess;

use crate::exit;

/// What `ExitProcess` is given: `STATUS_CONTROL_C_EXIT`, as for a console program
/// interrupted without a handler.
const INTERRUPTED: u32 = 0xC000_013A;

/// The C runtime's numbers for the signals the console events stand for, which
/// `ExitReason::Signal` reports: SIGINT for Ctrl-C, SIGBREAK for Ctrl-Break, SIGTERM
/// for a closed window, a logoff or a shutdown.
const SIGINT: i32 = 2;
const SIGBREAK: i32 = 21;
const SIGTERM: i32 = 15;

static INSTALLED: AtomicBool = AtomicBool::new(false);

pub(crate) fn catch_signals() -> io::Result<()> {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
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
    // A second event during a run, or one during a normal exit, ends the process at
    // once, as it would without `catch_signals`.
    if !exit::is_exiting() {
        exit::for_console_event(signal, closing);
    }
    // SAFETY: `ExitProcess` has no preconditions; the handlers have run.
    unsafe { ExitProcess(INTERRUPTED) }
}
