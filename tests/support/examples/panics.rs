//! 1,000 handlers of which every third panics; the others all run, and the status
//! `std::process::exit(5)` asked for is kept.

use std::sync::atomic::{AtomicUsize, Ordering};

static RAN: AtomicUsize = AtomicUsize::new(0);

fn main() {
    // Registered first, so it runs last and sees every other handler's effect.
    atexit::register(|| println!("ran {}", RAN.load(Ordering::SeqCst)));
    for index in 0..1000 {
        atexit::register(move || {
            if index % 3 == 0 {
                panic!("handler {index} fails");
            }
            RAN.fetch_add(1, Ordering::SeqCst);
        });
    }
    std::process::exit(5);
}
