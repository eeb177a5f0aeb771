//! 8 threads registering, unregistering and dropping guards while another thread
//! calls `atexit::exit`: no deadlock, no handler twice, and every handler pending
//! when the run began runs once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const THREADS: usize = 8;
/// Handlers each thread keeps registered, never unregistered: they must all run.
const KEPT: usize = 1_000;

static KEPT_RAN: [AtomicUsize; THREADS] = [const { AtomicUsize::new(0) }; THREADS];
static TWICE: AtomicUsize = AtomicUsize::new(0);
static GUARDS_RAN: AtomicUsize = AtomicUsize::new(0);

fn main() {
    atexit::register_with(i32::MIN, || {
        let kept: Vec<usize> = KEPT_RAN
            .iter()
            .map(|ran| ran.load(Ordering::SeqCst))
            .collect();
        println!(
            "kept handlers ran {kept:?}, twice {}",
            TWICE.load(Ordering::SeqCst)
        );
    });
    for kept_ran in &KEPT_RAN {
        std::thread::spawn(move || {
            for _ in 0..KEPT {
                atexit::register(move || {
                    kept_ran.fetch_add(1, Ordering::SeqCst);
                });
            }
            loop {
                let once = AtomicBool::new(false);
                let handle = atexit::register(move || {
                    if once.swap(true, Ordering::SeqCst) {
                        TWICE.fetch_add(1, Ordering::SeqCst);
                    }
                });
                let _guard = atexit::guard(|| {
                    GUARDS_RAN.fetch_add(1, Ordering::Relaxed);
                });
                atexit::unregister(handle);
            }
        });
    }
    std::thread::sleep(Duration::from_millis(200));
    std::thread::spawn(|| atexit::exit(6));
    std::thread::sleep(Duration::from_secs(30));
    println!("exit never happened");
}
