//! Cheat sheet 2, the decorator: `#[atexit::on_exit]` registers a function at link
//! time, before `main` even starts.
//!
//! Python: `@atexit.register` on `def cleanup()`.

#[atexit::on_exit]
fn cleanup() {
    println!("Cleanup executed");
}

fn main() {
    println!("Working...");
}
