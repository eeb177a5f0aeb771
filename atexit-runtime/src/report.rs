//! The runtime's lines on stderr: failures, reports and `ATEXIT_TRACE`.
//!
//! Lines go straight to file descriptor 2, not through `std::io::stderr()`: a handler
//! that hangs may hold std's stderr lock, and the watchdog must still report it.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::mem::ManuallyDrop;

/// Writes `atexit: {message}` and a newline to stderr in one `write` where the line
/// fits. Errors are ignored: there is nowhere left to report them.
pub(crate) fn line(message: fmt::Arguments<'_>) {
    let line = format!("atexit: {message}\n");
    let _ = (&*stderr()).write_all(line.as_bytes());
}

/// The process's stderr as a `File` that does not close it when dropped.
fn stderr() -> ManuallyDrop<File> {
    #[cfg(unix)]
    {
        use std::os::fd::{AsRawFd, FromRawFd};
        // SAFETY: the descriptor is the process's stderr, open as long as it runs;
        // `ManuallyDrop` keeps this borrowed `File` from closing it.
        ManuallyDrop::new(unsafe { File::from_raw_fd(std::io::stderr().as_raw_fd()) })
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::{AsRawHandle, FromRawHandle};
        // SAFETY: the handle is the process's stderr, open as long as it runs;
        // `ManuallyDrop` keeps this borrowed `File` from closing it.
        ManuallyDrop::new(unsafe { File::from_raw_handle(std::io::stderr().as_raw_handle()) })
    }
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
