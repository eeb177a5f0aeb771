//! `catch_signals`: the handlers run on SIGINT, SIGTERM, SIGHUP and SIGQUIT, then the
//! process dies by the same signal.
//!
//! Usage: `signals [slow|exit-slow|guard-in-flight]`. Prints `ready` once the signals are caught,
//! then waits. With `slow`, a handler takes two seconds, so that a second signal can
//! arrive while it runs. With `exit-slow`, `main` returns instead of waiting, and the
//! slow handler runs in the normal exit run. With `guard-in-flight`, another thread
//! drops a guard whose closure takes 300 ms; a signal then waits for it.

use std::io::Write;
use std::time::Duration;

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let slow = mode == "slow" || mode == "exit-slow";

    atexit::register(|| println!("cleanup ran, is_exiting={}", atexit::is_exiting()));
    if slow {
        atexit::register(|| {
            println!("slow handler started");
            std::thread::sleep(Duration::from_secs(2));
            println!("slow handler finished");
        });
    }
    atexit::catch_signals().expect("signal handlers installed");
    println!("ready");
    std::io::stdout().flush().unwrap();
    if mode == "guard-in-flight" {
        std::thread::spawn(|| {
            let _guard = atexit::guard(|| {
                println!("guard closure started");
                std::io::stdout().flush().unwrap();
                std::thread::sleep(Duration::from_millis(300));
                println!("guard closure finished");
            });
        });
    }
    if mode == "exit-slow" {
        return;
    }
    std::thread::sleep(Duration::from_secs(30));
    println!("no signal came");
}
