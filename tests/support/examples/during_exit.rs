//! Handlers that act on the registry and on the exit while the exit run is going on.
//!
//! Usage: `during_exit MODE`:
//! - `register`: a handler registers another, which still runs, once;
//! - `thread`: a handler has another thread register one, which still runs, once;
//! - `unregister`: a handler unregisters one that would run after it;
//! - `exit`: handlers call `atexit::exit(7)` and then `atexit::exit(9)`; the rest run
//!   and the last code wins;
//! - `std_exit`: a handler calls `std::process::exit` (what not to do): std lets one
//!   thread exit, and it is `main`'s, so the handler's thread stops for good.

use std::sync::Mutex;

static LATER: Mutex<Option<atexit::Handle>> = Mutex::new(None);

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    atexit::register(|| println!("oldest handler ran, is_exiting={}", atexit::is_exiting()));
    match mode.as_str() {
        "register" => {
            atexit::register(|| {
                atexit::register(|| println!("registered during exit ran"));
                println!("registering handler ran");
            });
        }
        "thread" => {
            atexit::register(|| {
                std::thread::spawn(|| {
                    atexit::register(|| println!("registered by another thread ran"));
                })
                .join()
                .unwrap();
                println!("handler that started a thread ran");
            });
        }
        "unregister" => {
            let later = atexit::register(|| println!("unregistered handler ran (wrong)"));
            *LATER.lock().unwrap() = Some(later);
            atexit::register(|| {
                let later = LATER.lock().unwrap().take().unwrap();
                println!(
                    "unregistering handler ran: removed={}",
                    atexit::unregister(later)
                );
            });
        }
        "exit" => {
            atexit::register(|| {
                println!("second exit handler: calling atexit::exit(9)");
                atexit::exit(9);
            });
            atexit::register(|| {
                println!("first exit handler: calling atexit::exit(7)");
                atexit::exit(7);
                #[allow(unreachable_code)]
                {
                    println!("after atexit::exit (wrong)");
                }
            });
        }
        "std_exit" => {
            atexit::register(|| std::process::exit(7));
        }
        _ => panic!("unknown mode {mode:?}"),
    }
    println!("main returns");
}
