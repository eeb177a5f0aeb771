//! A handler that never returns, abandoned after the handler timeout.
//!
//! Usage: `timeout [api|huge|stderr]`: the timeout comes from `ATEXIT_TIMEOUT_MS`, or
//! with `api` from `atexit::set_handler_timeout` (300 ms). With `huge`, the timeout is
//! `Duration::MAX` and no handler hangs. With `stderr`, the hung handler holds the
//! lock of `std::io::stderr` while it hangs. Exits with status 3 in every case.

mod shared;

use std::time::Duration;

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    if mode == "huge" {
        atexit::set_handler_timeout(Some(Duration::MAX));
        atexit::register(|| println!("first registered ran"));
        atexit::register(|| println!("second registered ran"));
        shared::exit_with_limits(3);
    }
    if mode == "api" {
        atexit::set_handler_timeout(Some(Duration::from_millis(300)));
    }
    atexit::register(|| println!("handler after the hung one ran"));
    let hold_stderr = mode == "stderr";
    atexit::register(move || {
        let _stderr = hold_stderr.then(|| std::io::stderr().lock());
        loop {
            std::thread::sleep(Duration::from_secs(60));
        }
    });
    atexit::register(|| println!("handler before the hung one ran"));
    shared::exit_with_limits(3);
}
