//! The runtime's lines on stderr: failures, reports and `ATEXIT_TRACE`.
//!
//! Lines go straight to file descriptor 2, not through `std::io::stderr()`: a handler
//! that hangs may hold std's stderr lock, and the watchdog must still report it.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;

/// Writes `atexit: {message}` and a newline to stderr in one `write` where the line
/// fits. Errors are ignored: there is nowhere left to report them.
pub(crate) fn line(message: fmt::Arguments<'_>) {
    let line = format!("atexit: {message}\n");
    // SAFETY: descriptor 2 is the process's stderr for as long as it runs; the
    // `ManuallyDrop` keeps this borrowed `File` from closing it.
    let stderr = ManuallyDrop::new(unsafe { File::from_raw_fd(libc::STDERR_FILENO) });
    let _ = (&*stderr).write_all(line.as_bytes());
}

/// A failure of the runtime itself, as opposed to a handler's.
pub(crate) fn internal(message: &str) {
    line(format_args!("internal error: {message}"));
}

/// Whether `ATEXIT_TRACE` asks for a line per handler: set to anything but an empty
/// value or `0`.
pub(crate) fn trace_enabled() -> bool {
    std::env::var_os("ATEXIT_TRACE").is_some_and(|value| !value.is_empty() && value != "0")
}
