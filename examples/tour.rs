//! A tour of `atexit`: run it with `cargo run --example tour`, and again with
//! `ATEXIT_TRACE=1` to see each handler timed.
//!
//! Usage: `tour [exit|panic]` to leave through `std::process::exit(3)` or a panic
//! instead of returning from `main`.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A static handler: registered at link time, nothing runs before `main` for it.
#[atexit::on_exit]
fn say_goodbye() {
    println!("[static, priority 0] goodbye: declared first, so it runs last");
}

/// A priority puts it before everything at the default priority 0.
#[atexit::on_exit(priority = 10, name = "flush-logs")]
fn flush_logs() -> Result<(), String> {
    println!("[static, priority 10] flushing logs");
    Ok(())
}

/// An `Err` is reported on stderr with the handler's name and location; the others
/// still run and the exit status does not change.
#[atexit::on_exit(priority = -10)]
fn check_disk() -> std::io::Result<()> {
    Err(std::io::Error::other("disk full (a demonstration)"))
}

struct Pool;

static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);

/// Associated functions are handlers when the `impl` block is marked too.
#[atexit::on_exit]
impl Pool {
    fn open() {
        CONNECTIONS.fetch_add(1, Ordering::SeqCst);
    }

    #[on_exit(priority = 5)]
    fn close_all() {
        let open = CONNECTIONS.swap(0, Ordering::SeqCst);
        println!("[static, priority 5] closing {open} pooled connections");
    }
}

fn main() {
    Pool::open();
    Pool::open();

    // Dynamic handlers: closures that own what they use.
    for name in ["a.txt", "b.txt"] {
        atexit::register(move || println!("[dynamic] removing {name}"));
    }

    // Unregister by handle...
    let cancelled = atexit::register(|| println!("never printed"));
    atexit::unregister(cancelled);

    // ...and a guard: runs at the end of its scope, or at exit if still alive then.
    {
        let _guard = atexit::guard(|| println!("[guard] scope ended: released now"));
    }
    // This one is released when `main` returns, or by the exit run after
    // `std::process::exit`, which skips destructors.
    let _session = atexit::guard(|| println!("[guard] session released"));

    println!("{} handlers will run, in this order:", atexit::pending());
    print!("{}", atexit::HandlerInfo::table(&atexit::handlers()));
    println!("--- exiting ---");

    match std::env::args().nth(1).as_deref() {
        Some("exit") => std::process::exit(3),
        Some("panic") => panic!("a panic in main still runs the handlers"),
        _ => {}
    }
}
