//! The graceful stop without an async runtime: a caught signal (or the program
//! itself) asks the program to stop, the program finishes its work, and only then
//! do the exit handlers run.
//!
//! Usage: `graceful MODE`. Prints `ready` once it waits for the stop. The grace is
//! `ATEXIT_GRACE_MS` (the tests set it), except where a mode sets its own. MODE:
//! - `worker`: a worker thread works until `wait_for_stop_timeout` says stop, then
//!   finishes its job (300 ms); `main` joins it and returns.
//! - `ignore`: `main` ignores the request and sleeps; the grace decides.
//! - `no-grace-set`: as `ignore`, after `set_stop_grace(None)`.
//! - `slow-handler`: as `ignore`, with a handler that takes two seconds.
//! - `program`: `main` calls `request_stop`; a thread waiting for the stop wakes;
//!   nothing exits; then it waits for a signal, ignoring it.
//! - `exit-3`, `process-exit-4`, `panic`, `return`: `main` waits for the stop, then
//!   calls `atexit::exit(3)`, calls `std::process::exit(4)`, panics, or returns.
//! - `handler-exit`: `main` returns after the stop; the first handler calls
//!   `atexit::exit(5)`.
//! - `block-on`: `main` waits on `stopping()` with a minimal executor, for a future
//!   made before the request, then one made after.
//! - `woken`: another thread blocks on `stopping()`; a handler waits until that
//!   thread has run (with no grace, the waiters wake before the handlers run).
//! - `in-process`: no signal at all: a thread calls `request_stop`, `main` waits with
//!   `stopping()` and `wait_for_stop` (runs on Windows too).

use std::future::Future;
use std::io::Write;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// Runs `future` to completion on this thread: the smallest executor.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        thread::park();
    }
}

fn say(line: &str) {
    println!("{line}");
    std::io::stdout().flush().unwrap();
}

fn ready() {
    say("ready");
}

/// Keeps `main` busy without looking at the stop.
fn ignore_the_stop() -> ! {
    thread::sleep(Duration::from_secs(30));
    say("main: never stopped");
    std::process::exit(9)
}

static WOKEN: AtomicBool = AtomicBool::new(false);

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    atexit::register(|| {
        say(&format!(
            "handler: reason={:?} request={:?}",
            atexit::exit_reason(),
            atexit::stop_request()
        ))
    });
    if mode != "in-process" {
        atexit::catch_signals().expect("signal handlers installed");
    }
    match mode.as_str() {
        "worker" => {
            let worker = thread::spawn(|| {
                while !atexit::wait_for_stop_timeout(Duration::from_millis(20)) {}
                say("worker: stop requested, finishing the job");
                thread::sleep(Duration::from_millis(300));
                say("worker: job done");
            });
            ready();
            worker.join().unwrap();
            say("main: worker joined, returning");
        }
        "ignore" => {
            ready();
            ignore_the_stop();
        }
        "no-grace-set" => {
            atexit::set_stop_grace(None);
            ready();
            ignore_the_stop();
        }
        "slow-handler" => {
            atexit::register(|| {
                say("slow handler started");
                thread::sleep(Duration::from_secs(2));
                say("slow handler finished");
            });
            thread::spawn(|| {
                atexit::wait_for_stop();
                say("stop requested");
            });
            ready();
            ignore_the_stop();
        }
        "program" => {
            atexit::set_stop_grace(Some(Duration::from_millis(300)));
            let waiter = thread::spawn(|| {
                atexit::wait_for_stop();
                say(&format!("waiter woke: {:?}", atexit::stop_request()));
            });
            atexit::request_stop();
            waiter.join().unwrap();
            thread::sleep(Duration::from_millis(200));
            say(&format!(
                "still running: exiting={} requested={}",
                atexit::is_exiting(),
                atexit::stop_requested()
            ));
            ready();
            ignore_the_stop();
        }
        "exit-3" | "process-exit-4" | "panic" | "return" => {
            ready();
            atexit::wait_for_stop();
            say("main: stopping");
            match mode.as_str() {
                "exit-3" => atexit::exit(3),
                "process-exit-4" => std::process::exit(4),
                "panic" => panic!("main panics while stopping"),
                _ => {}
            }
        }
        "handler-exit" => {
            atexit::register(|| {
                say(&format!("second handler: {:?}", atexit::exit_reason()));
            });
            atexit::register_with(1, || {
                say(&format!("first handler: {:?}", atexit::exit_reason()));
                atexit::exit(5);
            });
            ready();
            atexit::wait_for_stop();
        }
        "block-on" => {
            let before = atexit::stopping();
            ready();
            block_on(before);
            say(&format!(
                "made before: completed, {:?}",
                atexit::stop_request()
            ));
            block_on(atexit::stopping());
            say("made after: completed");
        }
        "woken" => {
            atexit::register(|| {
                let started = Instant::now();
                while !WOKEN.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(5) {
                    thread::sleep(Duration::from_millis(1));
                }
                say(&format!(
                    "handler: the waiter had woken: {}",
                    WOKEN.load(Ordering::SeqCst)
                ));
            });
            thread::spawn(|| {
                block_on(atexit::stopping());
                WOKEN.store(true, Ordering::SeqCst);
            });
            ready();
            ignore_the_stop();
        }
        "in-process" => {
            let before = atexit::stopping();
            let waiter = thread::spawn(|| {
                atexit::wait_for_stop();
                say("waiter: woke");
            });
            assert!(!atexit::wait_for_stop_timeout(Duration::from_millis(50)));
            thread::spawn(|| {
                thread::sleep(Duration::from_millis(100));
                atexit::request_stop();
            });
            block_on(before);
            waiter.join().unwrap();
            block_on(atexit::stopping());
            say(&format!(
                "main: stopped by {}, exiting={}",
                atexit::stop_request().unwrap(),
                atexit::is_exiting()
            ));
        }
        _ => panic!("unknown mode {mode:?}"),
    }
}
