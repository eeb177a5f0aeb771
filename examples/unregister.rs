//! Cheat sheet 5, removing a callback: by function (Python's `unregister(func)`),
//! or by the handle `register` returned.
//!
//! Usage: `unregister [keep]`; with `keep`, nothing is removed.

#[atexit::on_exit]
fn static_cleanup() {
    println!("static_cleanup ran");
}

fn my_cleanup() {
    println!("my_cleanup ran");
}

fn main() {
    let remove = std::env::args().nth(1).as_deref() != Some("keep");

    atexit::register(my_cleanup);
    let handle = atexit::register(|| println!("closure ran"));
    println!("pending: {}", atexit::pending());

    if remove {
        // Removes both the registration above and the #[on_exit] declaration.
        let removed = atexit::unregister_fn(my_cleanup) + atexit::unregister_fn(static_cleanup);
        println!("removed by function: {removed}");
        println!("removed by handle: {}", atexit::unregister(handle));
        println!("removed again: {}", atexit::unregister(handle));
    }
    println!("pending: {}", atexit::pending());
}
