//! `threads T N`: T threads (default 1) register N closures in all (default 1,000,000),
//! N / T each, starting together; prints the wall time of the registration phase.
//!
//! That phase runs from the first worker starting to register to the last one
//! finishing, stamped with `CLOCK_MONOTONIC`, which all threads share: process start,
//! thread creation and the exit run are not part of it.

use std::sync::Barrier;

use atexit_bench::{arg_or, monotonic_ns, report, ExitProbe};

static PROBE: ExitProbe = ExitProbe::new(0);

fn main() {
    let threads = arg_or(1, 1).max(1);
    let total = arg_or(2, 1_000_000);
    let per_thread = total / threads;
    let probe: &'static ExitProbe = &PROBE;
    let start_line = Barrier::new(threads);
    // Each worker times itself: a coordinating thread would be a third thread on a
    // two-core machine, and its clock readings would lag whenever it is descheduled.
    let spans: Vec<(u64, u64)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    start_line.wait();
                    let started = monotonic_ns();
                    for _ in 0..per_thread {
                        atexit::register(move || probe.hit());
                    }
                    (started, monotonic_ns())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a registering thread panicked"))
            .collect()
    });
    let first_start = spans.iter().map(|span| span.0).min().unwrap_or(0);
    let last_end = spans.iter().map(|span| span.1).max().unwrap_or(0);
    assert_eq!(atexit::pending(), per_thread * threads);
    report("registrations", per_thread * threads);
    report("elapsed_ns", last_end - first_start);
    // The exit run is not what this program measures; dropping is quicker.
    atexit::clear();
}
