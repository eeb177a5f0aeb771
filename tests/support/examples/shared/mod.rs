//! What several fixtures share (a module, not an example: cargo takes only
//! `examples/*.rs` and `examples/*/main.rs` as examples).

/// Leaves the process with `code` by a path where the handler timeout and the exit
/// deadline apply: `std::process::exit`, except on Windows. There it ends in
/// `ExitProcess`, after which the handlers run on the exiting thread alone (no thread
/// may start then: no timeout, no deadline), so `atexit::exit` is used instead.
pub fn exit_with_limits(code: i32) -> ! {
    #[cfg(windows)]
    atexit::exit(code);
    #[cfg(not(windows))]
    std::process::exit(code)
}

/// Writes `line` and a newline to stdout with one `write`, bypassing std's buffer and
/// lock: what a child forked from a threaded process may do, what an abandoned
/// handler writes without holding std's stdout lock, and what the deadline cannot
/// lose.
#[cfg(unix)]
#[allow(dead_code)] // each fixture uses its own part of this module
pub fn say(line: &str) {
    let line = format!("{line}\n");
    // SAFETY: the pointer and length describe `line`, alive for the call.
    unsafe { libc::write(1, line.as_ptr().cast(), line.len()) };
}

/// Writes `line` and a newline to stdout at once (no fork on Windows).
#[cfg(not(unix))]
#[allow(dead_code)] // each fixture uses its own part of this module
pub fn say(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}
