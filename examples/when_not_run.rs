//! The cheat sheet's "when handlers do not run", and when they do.
//!
//! Usage: `when_not_run MODE` with MODE one of `return`, `exit`, `panic` (handlers
//! run; the status is 0, 3 and 101) or `_exit`, `abort`, `crash` (they do not: the
//! process ends at once, the last one by a segmentation fault).

extern "C" {
    fn _exit(status: i32) -> !;
    fn signal(signal: i32, handler: usize) -> usize;
    fn raise(signal: i32) -> i32;
}

const SIGSEGV: i32 = 11;
const SIG_DFL: usize = 0;

fn main() {
    atexit::register(|| println!("cleanup ran"));
    match std::env::args().nth(1).as_deref() {
        Some("exit") => std::process::exit(3),
        Some("panic") => panic!("unhandled error in main"),
        // SAFETY: `_exit` has no preconditions; skipping all cleanup is the point.
        Some("_exit") => unsafe { _exit(1) },
        Some("abort") => std::process::abort(),
        // SAFETY: both have no preconditions. Rust's runtime catches SIGSEGV to report
        // stack overflows; with the default action back, the signal ends the process
        // as a crash would.
        Some("crash") => unsafe {
            signal(SIGSEGV, SIG_DFL);
            raise(SIGSEGV);
        },
        _ => println!("returning from main"),
    }
}
