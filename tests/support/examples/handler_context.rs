//! Handlers doing what users' handlers do: log through `tracing` (whose fmt layer
//! keeps a per-thread buffer), use a `thread_local!` whose value has a destructor,
//! and need a deep stack (3 MiB), from a static handler, a dynamic one, a guard and,
//! with the `tokio` feature, an async handler that also writes through tokio's
//! stdout and flushes it.
//!
//! Usage: `handler_context WAY`, where WAY is how the process ends: `return`,
//! `process-exit`, `atexit-exit`, `panic` (in `main`), `signal` (a caught SIGTERM)
//! or `no-thread` (the exit run's thread cannot be started: the address space is
//! capped first; Linux only).

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::Mutex;

/// A per-thread value with a destructor: the kind glibc destroys on the exiting
/// thread before C's exit handlers run.
struct Visits(Vec<&'static str>);

impl Drop for Visits {
    fn drop(&mut self) {
        black_box(&self.0);
    }
}

thread_local! {
    static VISITS: RefCell<Visits> = const { RefCell::new(Visits(Vec::new())) };
}

/// Logs `what` and counts the visit in the calling thread's `VISITS`; says so on
/// stdout where the thread's thread-locals are gone.
fn visit(what: &'static str) {
    let seen = VISITS.try_with(|visits| {
        let mut visits = visits.borrow_mut();
        visits.0.push(what);
        visits.0.len()
    });
    match seen {
        Ok(seen) => tracing::info!(seen, "{what} logged"),
        Err(_) => println!("{what} ran without thread-locals"),
    }
}

/// Uses about `frames` x 64 KiB of stack.
fn deep(frames: u32) -> u8 {
    let frame = black_box([frames as u8; 64 * 1024]);
    if frames == 0 {
        frame[0]
    } else {
        deep(frames - 1).wrapping_add(frame[1000])
    }
}

#[atexit::on_exit]
fn static_handler() {
    visit("static handler");
}

static GUARD: Mutex<Option<atexit::Guard>> = Mutex::new(None);

fn main() {
    let way = std::env::args().nth(1).unwrap_or_default();
    tracing_subscriber::fmt()
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();
    visit("main");
    *GUARD.lock().unwrap() = Some(atexit::guard(|| visit("guard")));
    atexit::register(|| {
        black_box(deep(48));
        visit("deep handler");
    });
    atexit::register(|| visit("dynamic handler"));
    #[cfg(feature = "tokio")]
    atexit::register_async(async {
        use tokio::io::AsyncWriteExt;
        visit("async handler");
        let mut stdout = tokio::io::stdout();
        stdout
            .write_all(b"async handler wrote through tokio\n")
            .await
            .unwrap();
        stdout.flush().await.unwrap();
    });
    match way.as_str() {
        "return" => {}
        "process-exit" => std::process::exit(0),
        "atexit-exit" => atexit::exit(0),
        "panic" => panic!("main panics"),
        #[cfg(unix)]
        "signal" => {
            atexit::catch_signals().expect("signal handlers installed");
            // SAFETY: `raise` has no preconditions.
            unsafe { libc::raise(libc::SIGTERM) };
            std::thread::sleep(std::time::Duration::from_secs(30));
            unreachable!("SIGTERM ends the process");
        }
        #[cfg(target_os = "linux")]
        "no-thread" => cap_address_space(),
        _ => panic!("unknown way {way:?}"),
    }
}

/// Leaves a little room above what the process maps now: too little for a thread's
/// stack, enough for the handlers.
#[cfg(target_os = "linux")]
fn cap_address_space() {
    // The main thread's stack grows within the cap too: grown first, for the deep
    // handler that then runs on it.
    black_box(deep(56));
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let mapped_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmSize:"))
        .and_then(|size| size.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize in /proc/self/status");
    let cap = (mapped_kib + 4096) * 1024;
    let limit = libc::rlimit {
        rlim_cur: cap,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `setrlimit` reads the struct it is given, which lives for the call.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
}
