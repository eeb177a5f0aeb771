//! The physical baseline of `dynamic_atexit`: registers N (default 1,000,000) times an
//! `extern "C" fn` with libc's `atexit`, then exits.

use atexit_bench::{arg_or, leaving_main, monotonic_ns, report, ExitProbe};

static PROBE: ExitProbe = ExitProbe::new(0);

extern "C" fn bump() {
    PROBE.hit();
}

fn main() {
    let main_start = monotonic_ns();
    let handlers = arg_or(1, 1_000_000);
    PROBE.expect(handlers);
    for _ in 0..handlers {
        // SAFETY: `bump` is an `extern "C" fn()` that does not unwind and lives as
        // long as the program.
        let status = unsafe { libc::atexit(bump) };
        assert_eq!(status, 0, "libc's atexit refused a registration");
    }
    report("registered", monotonic_ns());
    leaving_main(main_start);
}
