//! A handler that never returns, abandoned after the handler timeout.
//!
//! Usage: `timeout [api]`: the timeout comes from `ATEXIT_TIMEOUT_MS`, or with `api`
//! from `atexit::set_handler_timeout` (300 ms). Exits with status 3 either way.

use std::time::Duration;

fn main() {
    if std::env::args().nth(1).as_deref() == Some("api") {
        atexit::set_handler_timeout(Some(Duration::from_millis(300)));
    }
    atexit::register(|| println!("handler after the hung one ran"));
    atexit::register(|| loop {
        std::thread::sleep(Duration::from_secs(60));
    });
    atexit::register(|| println!("handler before the hung one ran"));
    std::process::exit(3);
}
