//! The exit deadline: a slow exit is cut short, what did not run is reported, and the
//! process ends with the status it was exiting with.
//!
//! Usage: `deadline MODE`:
//! - `slow`: a handler sleeps 5 s; the deadline comes from `ATEXIT_DEADLINE_MS`;
//! - `api`: the same, with the deadline set by `set_exit_deadline(1 s)`;
//! - `many-slow`: six handlers sleep 1 s each under a 100 ms handler timeout and a
//!   350 ms deadline;
//! - `signal`: like `slow`, in a run started by SIGTERM;
//! - `quick`: every handler is quick; the exit ends normally;
//! - `explicit`: a 400 ms handler run by `run_exit_handlers` under a 100 ms deadline
//!   finishes: the deadline is the exit's only.

mod shared;

use std::time::Duration;

#[atexit::on_exit]
fn static_handler() {
    println!("static handler ran");
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    atexit::register(|| println!("oldest handler ran"));
    match mode.as_str() {
        "slow" | "api" | "signal" => {
            if mode == "api" {
                atexit::set_exit_deadline(Some(Duration::from_millis(1000)));
            }
            atexit::register(|| {
                println!("slow handler started");
                std::thread::sleep(Duration::from_secs(5));
                println!("slow handler finished");
            });
        }
        "many-slow" => {
            atexit::set_handler_timeout(Some(Duration::from_millis(100)));
            atexit::set_exit_deadline(Some(Duration::from_millis(350)));
            for _ in 0..6 {
                atexit::register(|| std::thread::sleep(Duration::from_secs(1)));
            }
        }
        "explicit" => {
            atexit::set_exit_deadline(Some(Duration::from_millis(100)));
            atexit::register(|| {
                std::thread::sleep(Duration::from_millis(400));
                println!("early handler finished");
            });
            atexit::run_exit_handlers();
            atexit::register(|| println!("handler at exit ran"));
        }
        "quick" => {}
        _ => panic!("unknown mode {mode:?}"),
    }
    atexit::register(|| println!("newest handler ran"));
    if mode == "signal" {
        atexit::catch_signals().expect("signal handlers installed");
        atexit::set_exit_deadline(Some(Duration::from_millis(1000)));
        // SAFETY: `raise` has no preconditions.
        unsafe { libc::raise(libc::SIGTERM) };
        std::thread::sleep(Duration::from_secs(30));
    }
    shared::exit_with_limits(3);
}
