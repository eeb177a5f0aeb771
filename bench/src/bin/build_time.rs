//! Clean release build of a hello world with one `#[on_exit]` handler, against one
//! with a one-element `linkme` slice; see `atexit_bench::build_time`.
//!
//! `cargo run --release -p atexit-bench --bin build_time [RUNS] [ATEXIT_DIR...]`
//! (default 3 runs): each `ATEXIT_DIR`, another checkout of `atexit`, is timed too.

use std::path::PathBuf;
use std::time::Duration;

use atexit_bench::build_time::{measure_against, PROGRAMS};

fn main() {
    let mut args = std::env::args().skip(1);
    let runs = args
        .next()
        .map_or(3, |runs| runs.parse().expect("RUNS is a number"));
    let others: Vec<PathBuf> = args.map(PathBuf::from).collect();
    let times = measure_against(runs, &others);
    let seconds = |time: Duration| time.as_secs_f64();
    println!("clean release build, median of {runs}: wall time, CPU time (user + system)");
    let mut rows = vec![PROGRAMS[0].to_owned(), PROGRAMS[1].to_owned()];
    rows.extend(
        others
            .iter()
            .map(|other| format!("{} against {}", PROGRAMS[0], other.display())),
    );
    for (row, time) in rows.iter().zip(&times) {
        println!(
            "  {row}: {:.2} s, {:.2} s",
            seconds(time.wall),
            seconds(time.cpu)
        );
    }
    println!(
        "  difference {}: {:+.2} s wall, {:+.2} s CPU",
        PROGRAMS[0],
        seconds(times[0].wall) - seconds(times[1].wall),
        seconds(times[0].cpu) - seconds(times[1].cpu)
    );
}
