//! Threads registering 10,000 handlers each; at exit every handler must run exactly once.
//!
//! Usage: `threads THREADS`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

const PER_THREAD: usize = 10_000;

static RAN: OnceLock<Vec<AtomicBool>> = OnceLock::new();
static TWICE: AtomicUsize = AtomicUsize::new(0);

fn main() {
    let threads: usize = std::env::args().nth(1).map_or(4, |n| n.parse().unwrap());
    let ran = RAN.get_or_init(|| {
        (0..threads * PER_THREAD)
            .map(|_| AtomicBool::new(false))
            .collect()
    });
    atexit::register_with(i32::MIN, move || {
        let count = ran
            .iter()
            .filter(|flag| flag.load(Ordering::SeqCst))
            .count();
        println!(
            "ran {count} of {}, twice {}",
            ran.len(),
            TWICE.load(Ordering::SeqCst)
        );
    });
    std::thread::scope(|scope| {
        for thread in 0..threads {
            scope.spawn(move || {
                for index in thread * PER_THREAD..(thread + 1) * PER_THREAD {
                    atexit::register(move || {
                        if RAN.get().unwrap()[index].swap(true, Ordering::SeqCst) {
                            TWICE.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                }
            });
        }
    });
    println!("pending {}", atexit::pending());
}
