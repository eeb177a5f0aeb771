//! Clean release build of a hello world with one `#[on_exit]` handler, against one
//! with a one-element `linkme` slice; see `atexit_bench::build_time`.
//!
//! `cargo run --release -p atexit-bench --bin build_time [RUNS] [ATEXIT_DIR...]`
//! (default 3 runs): each `ATEXIT_DIR`, another checkout of `atexit`, is timed too.

use std::path::PathBuf;

use atexit_bench::build_time::{measure_against, PROGRAMS};

fn main() {
    let mut args = std::env::args().skip(1);
    let runs = args
        .next()
        .map_or(3, |runs| runs.parse().expect("RUNS is a number"));
    let others: Vec<PathBuf> = args.map(PathBuf::from).collect();
    let times = measure_against(runs, &others);
    let (one_handler, linkme_slice) = (times[0].as_secs_f64(), times[1].as_secs_f64());
    println!("clean release build, median of {runs}:");
    println!("  {} {one_handler:.2} s", PROGRAMS[0]);
    println!("  {} {linkme_slice:.2} s", PROGRAMS[1]);
    println!("  difference {:+.2} s", one_handler - linkme_slice);
    for (other, time) in others.iter().zip(&times[2..]) {
        println!(
            "  {} against {}: {:.2} s",
            PROGRAMS[0],
            other.display(),
            time.as_secs_f64()
        );
    }
}
