//! Prints the exit reason each kind of handler sees: a static handler, a dynamic one
//! and a guard still alive at exit (registered in that order, so they run in the
//! reverse), for each way to exit.
//!
//! Usage: `reason MODE`, where MODE is `return`, `exit`, `atexit-exit`, `err`,
//! `exit-code`, `panic`, `panic-then-exit`, `exit-101`, `handler-exit`, `signal` or
//! `explicit`.

use std::process::ExitCode;

#[atexit::on_exit]
fn static_handler() {
    println!("static: {:?}", atexit::exit_reason());
}

fn main() -> Result<ExitCode, String> {
    let mode = std::env::args().nth(1).unwrap_or_default();
    println!("outside: {:?}", atexit::exit_reason());
    atexit::register(|| println!("dynamic: {:?}", atexit::exit_reason()));
    // Kept alive to the end, so that the exit run is what runs it.
    std::mem::forget(atexit::guard(|| {
        println!("guard: {:?}", atexit::exit_reason());
    }));
    match mode.as_str() {
        "return" => Ok(ExitCode::SUCCESS),
        "exit" => std::process::exit(3),
        "atexit-exit" => atexit::exit(4),
        "err" => Err("main failed".into()),
        "exit-code" => Ok(ExitCode::from(6)),
        "panic" => panic!("main panics"),
        "panic-then-exit" => {
            atexit::register(|| {
                println!("exiting handler: {:?}", atexit::exit_reason());
                atexit::exit(3);
            });
            panic!("main panics")
        }
        "exit-101" => std::process::exit(101),
        "handler-exit" => {
            atexit::register(|| {
                println!("exiting handler: {:?}", atexit::exit_reason());
                atexit::exit(9);
            });
            Ok(ExitCode::SUCCESS)
        }
        "signal" => {
            atexit::catch_signals().expect("signal handlers installed");
            // SAFETY: `raise` has no preconditions.
            unsafe { libc::raise(libc::SIGTERM) };
            std::thread::sleep(std::time::Duration::from_secs(30));
            unreachable!("SIGTERM ends the process");
        }
        "explicit" => {
            atexit::run_exit_handlers();
            println!("after the early run: {:?}", atexit::exit_reason());
            Ok(ExitCode::SUCCESS)
        }
        _ => panic!("unknown mode {mode:?}"),
    }
}
