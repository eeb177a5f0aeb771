//! The baseline of `static_on_exit` and `static_dtor`: no exit functions at all.
//!
//! It does register one libc `atexit` probe in `main`, which cannot change the time to
//! reach `main`, so that its exit run measures the floor every program pays: from
//! leaving `main` to the first exit handler.

use atexit_bench::{leaving_main, monotonic_ns, ExitProbe};

static PROBE: ExitProbe = ExitProbe::new(1);

extern "C" fn probe() {
    PROBE.hit();
}

fn main() {
    let main_start = monotonic_ns();
    // SAFETY: `probe` is an `extern "C" fn()` that does not unwind and lives as long
    // as the program.
    let status = unsafe { libc::atexit(probe) };
    assert_eq!(status, 0, "libc's atexit refused the probe");
    leaving_main(main_start);
}
