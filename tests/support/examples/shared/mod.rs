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
