//! Cases where the exit must stay reliable: ignored signals, `atexit::exit` from
//! threads that are not running the exit, `clear` and `unregister` with a closure whose
//! destructor panics, and a handler abandoned by the timeout. Every mode also has the
//! static handler below pending, which prints `static handler ran` when it runs.
//!
//! Usage: `reliability MODE`:
//! - `ignored-signal SIG` (`HUP`, `INT` or `QUIT`): the test starts this program with
//!   the signal ignored; after `catch_signals` the program sends it to itself, and it
//!   must stay ignored: `survived` is printed and `main` returns;
//! - `overlap-exit`: another thread runs a slow handler early while `main` registers a
//!   handler calling `atexit::exit(5)` and returns: the process exits with 5;
//! - `exit-from-helper`: a handler joins a thread that calls `atexit::exit(5)`: the
//!   helper ends, the join returns, the run goes on and the process exits with 5;
//! - `clear-drop-panics`: `clear` drops a closure whose destructor panics: every
//!   handler is still removed, and the panic reaches the caller;
//! - `unregister-drop-panics`: the same with `unregister`;
//! - `abandoned-exit`: with a 300 ms timeout, a handler that is abandoned calls
//!   `atexit::exit(9)` afterwards, while the run goes on; `main` exits with 2;
//! - `plain`: one handler, then `exit_with_limits(4)`, for `ATEXIT_TIMEOUT_MS`.

mod shared;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[atexit::on_exit]
fn static_handler() {
    println!("static handler ran");
}

/// A value whose destructor panics, captured by a handler's closure.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("the captured value's destructor panics");
    }
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    match mode.as_str() {
        #[cfg(unix)]
        "ignored-signal" => ignored_signal(&std::env::args().nth(2).unwrap_or_default()),
        "overlap-exit" => overlap_exit(),
        "exit-from-helper" => exit_from_helper(),
        "clear-drop-panics" => clear_drop_panics(),
        "unregister-drop-panics" => unregister_drop_panics(),
        "abandoned-exit" => abandoned_exit(),
        "plain" => {
            atexit::register(|| println!("handler ran"));
            shared::exit_with_limits(4);
        }
        _ => panic!("unknown mode {mode:?}"),
    }
}

#[cfg(unix)]
fn ignored_signal(name: &str) {
    let signal = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        _ => panic!("unknown signal {name:?}"),
    };
    atexit::register(|| println!("handler ran"));
    atexit::catch_signals().expect("signal handlers installed");
    // SAFETY: `kill` has no memory-safety preconditions; the signal goes to this process.
    let sent = unsafe { libc::kill(libc::getpid(), signal) };
    assert_eq!(sent, 0, "kill failed");
    // Time for a signal thread to run the handlers and kill the process, if it wrongly
    // caught the signal.
    std::thread::sleep(Duration::from_millis(300));
    println!("survived");
}

fn overlap_exit() {
    atexit::register(|| {
        println!("slow handler started");
        std::thread::sleep(Duration::from_millis(300));
        println!("slow handler finished");
    });
    std::thread::spawn(atexit::run_exit_handlers);
    std::thread::sleep(Duration::from_millis(50));
    atexit::register(|| {
        println!("exiting handler calls atexit::exit(5)");
        atexit::exit(5);
    });
    println!("main returns");
}

fn exit_from_helper() {
    atexit::register(|| println!("older handler ran"));
    atexit::register(|| {
        let joined = std::thread::spawn(|| atexit::exit(5)).join();
        println!("join returned Err: {}", joined.is_err());
    });
    println!("main returns");
}

fn clear_drop_panics() {
    atexit::register(|| println!("older dynamic handler ran"));
    let value = PanicsOnDrop;
    atexit::register(move || {
        let _value = &value;
        println!("handler with the panicking value ran");
    });
    atexit::register(|| println!("newer dynamic handler ran"));
    println!("pending before clear {}", atexit::pending());
    let cleared = panic::catch_unwind(atexit::clear);
    println!(
        "clear panicked: {}, pending {}",
        cleared.is_err(),
        atexit::pending()
    );
}

fn unregister_drop_panics() {
    atexit::register(|| println!("kept handler ran"));
    let value = PanicsOnDrop;
    let handle = atexit::register(move || {
        let _value = &value;
        println!("unregistered handler ran");
    });
    println!("pending before unregister {}", atexit::pending());
    let removed = panic::catch_unwind(AssertUnwindSafe(|| atexit::unregister(handle)));
    println!(
        "unregister panicked: {}, pending {}",
        removed.is_err(),
        atexit::pending()
    );
}

/// Set by the handler that runs after the abandoned one, when it starts.
static NEXT_STARTED: AtomicBool = AtomicBool::new(false);
/// Set by the abandoned handler just before it calls `atexit::exit(9)`.
static ABANDONED_EXITS: AtomicBool = AtomicBool::new(false);

/// Waits until `flag` is set, for at most `limit`; returns whether it was.
fn wait_for(flag: &AtomicBool, limit: Duration) -> bool {
    let start = Instant::now();
    while !flag.load(Ordering::SeqCst) {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

fn abandoned_exit() {
    atexit::set_handler_timeout(Some(Duration::from_millis(300)));
    atexit::register(|| println!("oldest handler ran"));
    // Runs second, once the first is abandoned; it keeps the run going until the
    // abandoned handler has called `atexit::exit`, well within the timeout.
    atexit::register(|| {
        NEXT_STARTED.store(true, Ordering::SeqCst);
        let saw = wait_for(&ABANDONED_EXITS, Duration::from_millis(200));
        std::thread::sleep(Duration::from_millis(30));
        println!("next handler ran, saw the abandoned one exit: {saw}");
    });
    // Runs first; it is abandoned at 300 ms, and calls `atexit::exit(9)` only once the
    // run has gone on to the next handler.
    atexit::register(|| {
        if wait_for(&NEXT_STARTED, Duration::from_secs(5)) {
            println!("abandoned handler calls atexit::exit(9)");
            ABANDONED_EXITS.store(true, Ordering::SeqCst);
            atexit::exit(9);
        }
        println!("the run never went on");
    });
    shared::exit_with_limits(2);
}
