//! `dynamic_atexit N [OPTION]...`: registers N (default 1,000,000) closures with
//! `atexit`, then exits, so that the exit run calls them all. Options:
//!
//! - `timeout` sets a handler timeout first, which the exit run then watches;
//! - `ascending` registers the i-th with `register_with(i, ..)`: each a new highest
//!   priority;
//! - `descending` registers it with `register_with(-i, ..)`: each a new lowest
//!   priority, the way to get first-in first-out order;
//! - `same` (the default) registers all with `register`, at priority 0.

use atexit_bench::{arg_or, leaving_main, monotonic_ns, report, ExitProbe};

static PROBE: ExitProbe = ExitProbe::new(0);

fn main() {
    let main_start = monotonic_ns();
    let handlers = arg_or(1, 1_000_000);
    let mut priorities = "same".to_owned();
    for option in std::env::args().skip(2) {
        match option.as_str() {
            "timeout" => atexit::set_handler_timeout(Some(std::time::Duration::from_secs(60))),
            "same" | "ascending" | "descending" => priorities = option,
            other => {
                panic!("unknown option {other:?}: expected timeout, same, ascending or descending")
            }
        }
    }
    PROBE.expect(handlers);
    // A reference, not the static itself, so that each closure captures one word, as
    // a typical exit closure (an `Arc`, a `&'static`) does.
    let probe: &'static ExitProbe = &PROBE;
    let count = i32::try_from(handlers).expect("at most i32::MAX handlers");
    match priorities.as_str() {
        "same" => {
            for _ in 0..count {
                atexit::register(move || probe.hit());
            }
        }
        "ascending" => {
            for priority in 0..count {
                atexit::register_with(priority, move || probe.hit());
            }
        }
        "descending" => {
            for priority in 0..count {
                atexit::register_with(-priority, move || probe.hit());
            }
        }
        other => panic!("unknown priorities {other:?}: expected same, ascending or descending"),
    }
    report("registered", monotonic_ns());
    leaving_main(main_start);
}
