//! The cheat sheet's common mistakes, and why they do not happen here.
//!
//! 1. Late-binding lambdas: `move` closures capture each value when registered.
//! 2. A failing handler: its error is reported on stderr and the others still run.

#[atexit::on_exit]
fn bad_handler() -> Result<(), String> {
    Err("Error in cleanup".into())
}

#[atexit::on_exit]
fn panicking_handler() {
    panic!("panic in cleanup");
}

fn main() {
    atexit::register(|| println!("good handler ran"));
    for name in ["a.txt", "b.txt"] {
        atexit::register(move || println!("Cleanup {name}"));
    }
}
