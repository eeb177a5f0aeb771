//! Cheat sheet 1, basic use: register cleanup functions; they run newest first.
//!
//! Python: `atexit.register(cleanup)` and `atexit.register(goodbye, "User")`.

fn cleanup() {
    println!("Cleanup: Closing resources...");
}

fn goodbye(name: &str) {
    println!("Goodbye, {name}!");
}

fn main() {
    atexit::register(cleanup);
    // Arguments are captured by the closure, by value.
    let name = String::from("User");
    atexit::register(move || goodbye(&name));

    println!("Program running...");
    // At exit, newest first:
    // Goodbye, User!
    // Cleanup: Closing resources...
}
