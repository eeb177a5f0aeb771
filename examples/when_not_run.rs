//! The cheat sheet's "when handlers do not run", and when they do.
//!
//! Usage: `when_not_run MODE` with MODE one of `return`, `exit`, `panic` (handlers
//! run; the status is 0, 3 and 101) or `_exit`, `abort` (they do not).

fn main() {
    atexit::register(|| println!("cleanup ran"));
    match std::env::args().nth(1).as_deref() {
        Some("exit") => std::process::exit(3),
        Some("panic") => panic!("unhandled error in main"),
        // SAFETY: `_exit` has no preconditions; skipping all cleanup is the point.
        Some("_exit") => unsafe { libc_exit(1) },
        Some("abort") => std::process::abort(),
        _ => println!("returning from main"),
    }
}

/// `_exit(2)`, which ends the process without running any atexit handler.
unsafe fn libc_exit(status: i32) -> ! {
    extern "C" {
        fn _exit(status: i32) -> !;
    }
    // SAFETY: the caller accepts that no cleanup runs.
    unsafe { _exit(status) }
}
