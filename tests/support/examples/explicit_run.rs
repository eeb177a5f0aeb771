//! `run_exit_handlers`, `clear` and `Guard::dismiss`, checked at the real exit.
//!
//! Usage: `explicit_run MODE`:
//! - `run`: handlers run early, two threads at once, and never again at exit; one
//!   registered afterwards runs at exit;
//! - `exit-inside`: a handler run early calls `atexit::exit(4)`: the rest run, then
//!   the process exits with 4;
//! - `clear`: `clear()` drops static and dynamic handlers; none runs at exit;
//! - `dismiss`: a dismissed guard runs neither at once nor at exit;
//! - `in-flight`: `main` returns while another thread runs a slow handler early; the
//!   process waits for it;
//! - `overlap`: `main` returns while another thread runs 2,000 handlers early: each
//!   runs exactly once, in one run or the other;
//! - `guard-exit`: a guard closure on another thread calls `atexit::exit(7)` while
//!   the process exits: the code counts, and the closure's thread unwinds;
//! - `guard-blocked`: a guard closure on another thread never finishes once the
//!   process exits: the exit waits a bounded time for it, then ends;
//! - `guard-registers-late`: a guard closure the exit waits for registers a handler:
//!   it runs too;
//! - `overlap-reason`: two early runs overlap: each handler sees `Explicit`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[atexit::on_exit]
fn static_handler() {
    println!("static handler ran");
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    match mode.as_str() {
        "run" => {
            let runs = Arc::new(AtomicUsize::new(0));
            for index in 0..100 {
                let runs = Arc::clone(&runs);
                atexit::register(move || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    if index == 0 {
                        println!("oldest dynamic handler ran");
                    }
                });
            }
            std::thread::scope(|scope| {
                scope.spawn(atexit::run_exit_handlers);
                scope.spawn(atexit::run_exit_handlers);
            });
            println!(
                "ran early: {}, pending: {}",
                runs.load(Ordering::SeqCst),
                atexit::pending()
            );
            atexit::register(|| println!("registered after the early run ran"));
        }
        "exit-inside" => {
            atexit::register(|| println!("older handler ran"));
            atexit::register(|| atexit::exit(4));
            atexit::run_exit_handlers();
            println!("not reached");
        }
        "clear" => {
            atexit::register(|| println!("dynamic handler ran"));
            println!("cleared {}", atexit::clear());
        }
        "dismiss" => {
            let guard = atexit::guard(|| println!("dismissed guard ran"));
            guard.dismiss();
            atexit::unregister_fn(static_handler);
            println!("pending {}", atexit::pending());
        }
        "in-flight" => {
            atexit::register(|| {
                println!("slow handler started");
                std::thread::sleep(std::time::Duration::from_millis(300));
                println!("slow handler finished");
            });
            std::thread::spawn(atexit::run_exit_handlers);
            std::thread::sleep(std::time::Duration::from_millis(50));
            println!("main returns");
        }
        "overlap" => {
            for _ in 0..2000 {
                atexit::register(|| println!("h"));
            }
            std::thread::spawn(atexit::run_exit_handlers);
        }
        "guard-exit" | "guard-blocked" => {
            let blocked = mode == "guard-blocked";
            std::thread::spawn(move || {
                // Dropped at once: the closure is running before `main` returns, and
                // ends only once the process is exiting.
                drop(atexit::guard(move || {
                    while !atexit::is_exiting() {
                        std::thread::yield_now();
                    }
                    if blocked {
                        loop {
                            std::thread::park();
                        }
                    }
                    atexit::exit(7);
                }));
                println!("the guard's thread went on");
            });
            std::thread::sleep(std::time::Duration::from_millis(20));
            println!("main returns");
        }
        "guard-registers-late" => {
            std::thread::spawn(|| {
                let _guard = atexit::guard(|| {
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    atexit::register(|| println!("follow-up handler ran"));
                    println!("guard closure registered a follow-up");
                });
            });
            std::thread::sleep(std::time::Duration::from_millis(100));
            println!("main returns");
        }
        "overlap-reason" => {
            for (name, millis) in [("first", 300), ("second", 100)] {
                atexit::register(move || {
                    std::thread::sleep(std::time::Duration::from_millis(millis));
                    println!("{name} sees {:?}", atexit::exit_reason());
                });
            }
            let early = std::thread::spawn(atexit::run_exit_handlers);
            std::thread::sleep(std::time::Duration::from_millis(30));
            let overlapping = std::thread::spawn(atexit::run_exit_handlers);
            early.join().unwrap();
            overlapping.join().unwrap();
            println!("after the runs: {:?}", atexit::exit_reason());
        }
        _ => panic!("unknown mode {mode:?}"),
    }
}
