//! Registers N (default 1,000,000) closures with `atexit::register`, then exits, so
//! that the exit run calls them all. `dynamic_atexit N timeout` sets a handler
//! timeout first, which the exit run then watches.

use atexit_bench::{arg_or, leaving_main, monotonic_ns, report, ExitProbe};

static PROBE: ExitProbe = ExitProbe::new(0);

fn main() {
    let main_start = monotonic_ns();
    let handlers = arg_or(1, 1_000_000);
    PROBE.expect(handlers);
    if std::env::args().nth(2).as_deref() == Some("timeout") {
        atexit::set_handler_timeout(Some(std::time::Duration::from_secs(60)));
    }
    // A reference, not the static itself, so that each closure captures one word, as
    // a typical exit closure (an `Arc`, a `&'static`) does.
    let probe: &'static ExitProbe = &PROBE;
    for _ in 0..handlers {
        atexit::register(move || probe.hit());
    }
    report("registered", monotonic_ns());
    leaving_main(main_start);
}
