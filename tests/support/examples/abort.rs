//! Built with `panic = "abort"` by `tests/panic_abort.rs`: every promise of the exit
//! handlers holds when nothing can unwind.
//!
//! Usage: `abort MODE`:
//! - `main-panic`: `main` panics: the handlers run, then the process aborts;
//! - `thread-panic`: another thread panics: the same;
//! - `handler-panic`: a handler panics during the exit: reported, the rest run, the
//!   status is kept;
//! - `handler-exit`: a handler calls `atexit::exit(7)`: the rest run, the status is 7
//!   and the handler's locals are not dropped;
//! - `explicit-panic`: a handler run by `run_exit_handlers` panics: reported, the rest
//!   run, then the process aborts;
//! - `lock-held`: `main` panics holding a lock a handler needs: the run ends at the
//!   deadline (10 s unless `ATEXIT_DEADLINE_MS` says otherwise);
//! - `own-hook`: the program replaces the panic hook and calls `atexit::on_panic`;
//! - `chained-hook`: the same, chaining to the hook it replaced as well;
//! - `handler-panic-holding-lock`: a handler panics holding a lock the next needs:
//!   the rest of the run is bounded as after any panic;
//! - `helper-panic`: during the exit, a thread a handler started panics: the process
//!   aborts;
//! - `panic-then-exit`: in the run after a panic, a handler calls `atexit::exit(3)`:
//!   the later handlers still see `Panic`, and the process aborts;
//! - `fork-in-handler`: a handler forks; the child calls `atexit::exit(4)` in it and
//!   exits with 4.

mod shared;

use std::sync::Mutex;

static SHARED: Mutex<()> = Mutex::new(());

#[atexit::on_exit]
fn static_handler() {
    println!("static handler ran");
}

struct Noisy;

impl Drop for Noisy {
    fn drop(&mut self) {
        println!("a local was dropped");
    }
}

fn main() {
    if !cfg!(panic = "abort") {
        eprintln!("this fixture must be built with panic = \"abort\"");
        std::process::exit(2);
    }
    let mode = std::env::args().nth(1).unwrap_or_default();
    atexit::register(|| println!("oldest handler ran, reason {:?}", atexit::exit_reason()));
    match mode.as_str() {
        "main-panic" | "thread-panic" => {}
        "handler-panic" | "explicit-panic" => {
            atexit::register(|| panic!("handler fails"));
        }
        "handler-exit" => {
            atexit::register(|| {
                let _local = Noisy;
                println!("exiting handler ran");
                atexit::exit(7);
            });
        }
        "lock-held" => {
            atexit::register(|| {
                let _shared = SHARED.lock();
                println!("never printed: the lock is held");
            });
        }
        "own-hook" => {
            std::panic::set_hook(Box::new(|info| {
                eprintln!("my hook: {info}");
                atexit::on_panic(info);
            }));
        }
        "chained-hook" => {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                previous(info);
                atexit::on_panic(info);
            }));
        }
        "handler-panic-holding-lock" => {
            atexit::register(|| {
                let _shared = SHARED.lock();
                println!("never printed: the lock is held");
            });
            atexit::register(|| {
                let _shared = SHARED.lock();
                panic!("panics holding the lock");
            });
        }
        "helper-panic" => {
            atexit::register(|| {
                let _ = std::thread::spawn(|| panic!("a helper panics")).join();
                println!("never printed: the process aborted");
            });
        }
        "panic-then-exit" => {
            atexit::register(|| {
                println!("exiting handler sees {:?}", atexit::exit_reason());
                atexit::exit(3);
            });
        }
        #[cfg(unix)]
        "fork-in-handler" => {
            atexit::register(|| {
                // SAFETY: the child only prints and calls `atexit::exit`, which ends
                // the handler and exits.
                let child = unsafe { libc::fork() };
                if child == 0 {
                    println!("child: exiting with 4");
                    atexit::exit(4);
                }
                let mut status = 0;
                // SAFETY: `child` is our child and `status` a valid place to write.
                unsafe { libc::waitpid(child, &mut status, 0) };
                println!("parent: child exited with {}", libc::WEXITSTATUS(status));
            });
        }
        _ => panic!("unknown mode {mode:?}"),
    }
    atexit::register(|| println!("newest handler ran"));
    match mode.as_str() {
        "thread-panic" => {
            let _ = std::thread::spawn(|| panic!("a thread panics")).join();
            unreachable!("the panic aborts the process");
        }
        "handler-panic"
        | "handler-exit"
        | "handler-panic-holding-lock"
        | "helper-panic"
        | "fork-in-handler" => shared::exit_with_limits(3),
        "explicit-panic" => {
            atexit::run_exit_handlers();
            unreachable!("the panic in the early run aborts the process");
        }
        "lock-held" => {
            let _held = SHARED.lock();
            panic!("main panics holding the lock");
        }
        _ => panic!("main panics"),
    }
}
