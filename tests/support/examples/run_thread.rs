//! The exit run's own thread where a review found it wrong: each mode is one of its
//! findings.
//!
//! Usage: `run_thread MODE [ARG]`:
//! - `timeout-off self|other-thread`: under a 200 ms handler timeout, a handler turns
//!   the timeout off (itself as it starts, or through a thread of its own 100 ms in)
//!   and hangs; the process exits with 3;
//! - `timeout-change shorten|lengthen`: a handler sets the timeout as it starts (from
//!   10 s to 100 ms, or from 100 ms to 10 s), then sleeps a second; the handler after
//!   it sleeps 400 ms; the process exits with 3;
//! - `std-exit-explicit`: a handler of a run started by `run_exit_handlers()` calls
//!   `std::process::exit(6)`;
//! - `std-exit-signal`: the same in a run started by SIGTERM, after `catch_signals`;
//! - `async-task [explicit]` (with the `tokio` feature): an async handler spawns a
//!   task it does not await, whose state says when it is dropped; with `explicit`,
//!   `main` runs the handlers itself and goes on;
//! - `fork-other-thread`: after `std::process::exit(3)` in `main`, while a handler
//!   waits, another thread forks; the child registers a handler and calls
//!   `atexit::exit(4)`;
//! - `fork-abandoned`: under a 50 ms handler timeout, a handler forks once the
//!   parent has abandoned it (the handler after it says so); the child calls
//!   `atexit::exit(9)`; the oldest handler waits for the child without a timeout;
//!   the process exits with 3;
//! - `stdout-locked`: `main` holds std's stdout lock when it calls
//!   `std::process::exit(3)`; a handler prints.
//!
//! `ATEXIT_TIMEOUT_MS` and `ATEXIT_DEADLINE_MS` apply as everywhere.

mod shared;

#[cfg(unix)]
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use shared::say;
/// Waits until `flag` is set, for at most `limit`; says whether it was.
#[cfg(unix)]
fn wait_for(flag: &AtomicBool, limit: Duration) -> bool {
    let started = std::time::Instant::now();
    while !flag.load(Ordering::SeqCst) {
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let arg = args.next().unwrap_or_default();
    match mode.as_str() {
        "timeout-off" => timeout_off(&arg),
        "timeout-change" => timeout_change(&arg),
        "std-exit-explicit" => std_exit_explicit(),
        #[cfg(unix)]
        "std-exit-signal" => std_exit_signal(),
        #[cfg(feature = "tokio")]
        "async-task" => async_task(&arg),
        #[cfg(unix)]
        "fork-other-thread" => fork_other_thread(),
        #[cfg(unix)]
        "fork-abandoned" => fork_abandoned(),
        "stdout-locked" => stdout_locked(),
        _ => panic!("unknown mode {mode:?}"),
    }
}

/// A program that writes through a `StdoutLock` for speed and exits while it is
/// alive: the run's thread could never print.
fn stdout_locked() -> ! {
    use std::io::Write;
    atexit::register(|| println!("the handler printed"));
    let mut out = std::io::stdout().lock();
    writeln!(out, "main holds stdout").unwrap();
    shared::exit_with_limits(3)
}

fn hang() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn timeout_off(how: &str) {
    atexit::set_handler_timeout(Some(Duration::from_millis(200)));
    atexit::register(|| say("handler after the hung one ran"));
    let other_thread = match how {
        "self" => false,
        "other-thread" => true,
        _ => panic!("unknown way to turn the timeout off {how:?}"),
    };
    atexit::register(move || {
        if other_thread {
            std::thread::spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                atexit::set_handler_timeout(None);
                say("timeout turned off");
            });
        } else {
            atexit::set_handler_timeout(None);
            say("timeout turned off");
        }
        hang()
    });
    shared::exit_with_limits(3);
}

/// Sets the timeout to `DURING` and sleeps a second: registered as a function, so
/// that a report names it.
fn changing_handler<const DURING: u64>() {
    atexit::set_handler_timeout(Some(Duration::from_millis(DURING)));
    say("changing handler starts");
    std::thread::sleep(Duration::from_secs(1));
    say("changing handler finished");
}

fn next_handler() {
    say("next handler starts");
    std::thread::sleep(Duration::from_millis(400));
    say("next handler finished");
}

fn timeout_change(how: &str) {
    let before = match how {
        "shorten" => 10_000,
        "lengthen" => 100,
        _ => panic!("unknown change {how:?}"),
    };
    atexit::set_handler_timeout(Some(Duration::from_millis(before)));
    atexit::register(|| say("oldest handler ran"));
    atexit::register(next_handler);
    if how == "shorten" {
        atexit::register(changing_handler::<100>);
    } else {
        atexit::register(changing_handler::<10_000>);
    }
    shared::exit_with_limits(3);
}

fn std_exit_explicit() {
    atexit::register(|| {
        std::thread::sleep(Duration::from_millis(50));
        say("older handler ran");
    });
    atexit::register(|| {
        say("handler calls std::process::exit(6)");
        std::process::exit(6)
    });
    atexit::run_exit_handlers();
    say("main goes on after run_exit_handlers");
}

#[cfg(unix)]
fn std_exit_signal() {
    atexit::catch_signals().expect("signal handlers installed");
    atexit::register(|| {
        std::thread::sleep(Duration::from_millis(50));
        say("older handler ran");
    });
    atexit::register(|| {
        say("handler calls std::process::exit(6)");
        std::process::exit(6)
    });
    // SAFETY: `raise` has no preconditions; the signal thread runs the handlers.
    unsafe { libc::raise(libc::SIGTERM) };
    hang()
}

/// Says when it is dropped.
#[cfg(feature = "tokio")]
struct SaysWhenDropped;

#[cfg(feature = "tokio")]
impl Drop for SaysWhenDropped {
    fn drop(&mut self) {
        say("task dropped");
    }
}

#[cfg(feature = "tokio")]
fn async_task(how: &str) {
    atexit::register(|| say("oldest handler ran"));
    atexit::register_async(async {
        let state = SaysWhenDropped;
        tokio::spawn(async move {
            let _state = state;
            std::future::pending::<()>().await;
        });
        say("async handler spawned a task");
    });
    if how == "explicit" {
        atexit::run_exit_handlers();
        say("main goes on after run_exit_handlers");
    }
}

#[cfg(unix)]
fn fork_other_thread() {
    static CHILD_REAPED: AtomicBool = AtomicBool::new(false);
    atexit::register(|| {
        let reaped = wait_for(&CHILD_REAPED, Duration::from_secs(10));
        say(&format!("parent's handler ran, child reaped {reaped}"));
    });
    std::thread::spawn(|| {
        while !atexit::is_exiting() {
            std::thread::sleep(Duration::from_millis(5));
        }
        // SAFETY: the child calls only the runtime's functions, which a child forked
        // during the exit may call, and exits.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            atexit::register(|| say("child's own handler ran"));
            atexit::exit(4);
        }
        let mut status = 0;
        // SAFETY: `child` is our child's pid and `status` a valid place to store it.
        unsafe { libc::waitpid(child, &mut status, 0) };
        say(&format!("parent: child ended with {}", describe(status)));
        CHILD_REAPED.store(true, Ordering::SeqCst);
    });
    std::process::exit(3);
}

#[cfg(unix)]
fn fork_abandoned() {
    static ABANDONED: AtomicBool = AtomicBool::new(false);
    static CHILD_REAPED: AtomicBool = AtomicBool::new(false);
    atexit::set_handler_timeout(Some(Duration::from_millis(50)));
    atexit::register(|| {
        let reaped = wait_for(&CHILD_REAPED, Duration::from_secs(10));
        say(&format!("oldest handler ran, child reaped {reaped}"));
    });
    atexit::register(|| {
        // Runs once the handler before it was abandoned. The oldest one, which waits
        // for the child, runs without a timeout.
        atexit::set_handler_timeout(None);
        ABANDONED.store(true, Ordering::SeqCst);
    });
    atexit::register(|| {
        if !wait_for(&ABANDONED, Duration::from_secs(10)) {
            say("the handler was not abandoned");
            return;
        }
        // SAFETY: the child calls only `atexit::exit`, which a child forked in a
        // handler may call.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            atexit::exit(9);
        }
        let mut status = 0;
        // SAFETY: `child` is our child's pid and `status` a valid place to store it.
        unsafe { libc::waitpid(child, &mut status, 0) };
        say(&format!("parent: child ended with {}", describe(status)));
        CHILD_REAPED.store(true, Ordering::SeqCst);
    });
    std::process::exit(3);
}

/// How a child ended, from its wait status.
#[cfg(unix)]
fn describe(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exit {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("status {status}")
    }
}
