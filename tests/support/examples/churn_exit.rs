//! 8 threads registering, unregistering and dropping guards while another thread
//! calls `atexit::exit`: no deadlock, no handler twice, and every handler pending
//! when the run began runs once.
//!
//! Usage: `churn_exit [std-exit]`: with `std-exit`, the main thread calls
//! `std::process::exit(6)` instead (on Windows, `ExitProcess` then ends the churning
//! threads before the handlers run, perhaps one holding its registry shard's lock).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const THREADS: usize = 8;
/// Handlers each thread keeps registered, never unregistered: they must all run.
const KEPT: usize = 1_000;

static KEPT_RAN: [AtomicUsize; THREADS] = [const { AtomicUsize::new(0) }; THREADS];
static TWICE: AtomicUsize = AtomicUsize::new(0);

/// A closure that reports through a flag it shares with no copy of itself but
/// through the `Arc`, so that a closure run twice, copied or not, is counted.
fn run_once_checked() -> impl FnOnce() + Send + 'static {
    let ran = Arc::new(AtomicBool::new(false));
    move || {
        if ran.swap(true, Ordering::SeqCst) {
            TWICE.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Last: a static handler is in no thread's registry shard. It allocates nothing
/// (stdout's buffer exists from the start of `main`): on Windows a churning thread
/// may have been ended holding the heap's lock.
#[atexit::on_exit(priority = i32::MIN)]
fn report() {
    println!(
        "kept handlers ran {KEPT_RAN:?}, twice {}",
        TWICE.load(Ordering::SeqCst)
    );
}

fn main() {
    let std_exit = std::env::args().nth(1).as_deref() == Some("std-exit");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    for kept_ran in &KEPT_RAN {
        std::thread::spawn(move || {
            for _ in 0..KEPT {
                atexit::register(move || {
                    kept_ran.fetch_add(1, Ordering::SeqCst);
                });
            }
            loop {
                let handle = atexit::register(run_once_checked());
                let _guard = atexit::guard(run_once_checked());
                atexit::unregister(handle);
            }
        });
    }
    std::thread::sleep(Duration::from_millis(200));
    if std_exit {
        std::process::exit(6);
    }
    std::thread::spawn(|| atexit::exit(6));
    std::thread::sleep(Duration::from_secs(30));
    println!("exit never happened");
}
