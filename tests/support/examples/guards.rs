//! Guards pending at exit, guards of threads that ended, and guards dropped while
//! the exit runs on another thread.
//!
//! Usage: `guards MODE`:
//! - `order`: guards kept by `main`, sent to it by a thread that ended, forgotten on
//!   a thread that ended, and held by a thread still running, among static and
//!   dynamic handlers ordered by registration; `std::process::exit(3)` while they are
//!   pending (`atexit::exit` on Windows, see `shared`). Each handler prints one line.
//! - `race`: two threads make and drop guards without pause. First `main` calls
//!   `run_exit_handlers` again and again meanwhile, then stops them and checks that
//!   each guard's closure ran exactly once, by its drop or by a run; then they start
//!   again and `main` calls `std::process::exit(0)` (as `order`), and a last handler
//!   waits for them to stop and checks the same. Prints how many closures runs took
//!   on stderr.
//! - `many-threads`: 100 threads hold a guard each at the same time, more than the
//!   guard blocks a process makes, and forget it; each then makes and drops another
//!   guard, which runs at once. The forgotten ones run at the exit, once each.
//! - `fork` / `fork-adopt`: guards of the parent (one kept by `main`, one forgotten
//!   on a thread that ended) are not the child's to run; the child's own guard is;
//!   with `fork-adopt` the child takes the parent's over, which run after its own.

mod shared;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use shared::say;

#[atexit::on_exit]
fn static_handler() {
    say("static handler");
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("order") => order(),
        Some("race") => race(),
        Some("many-threads") => many_threads(),
        #[cfg(unix)]
        Some("fork") => fork(false),
        #[cfg(unix)]
        Some("fork-adopt") => fork(true),
        other => panic!("unknown mode {other:?}"),
    }
}

fn order() {
    atexit::register(|| say("dynamic, registered first"));
    let _kept = atexit::guard(|| say("guard kept by main"));
    // Made on a thread that then ends, and sent to `main`, which keeps one and drops
    // the other.
    let (sent, dropped) = std::thread::spawn(|| {
        (
            atexit::guard(|| say("guard sent by a thread that ended")),
            atexit::guard(|| say("guard sent by a thread that ended, dropped by main")),
        )
    })
    .join()
    .unwrap();
    atexit::register(|| say("dynamic, registered after the sent guard"));
    // Forgotten on a thread that then ends: only the exit runs it.
    std::thread::spawn(|| {
        std::mem::forget(atexit::guard(|| {
            say("guard forgotten by a thread that ended")
        }))
    })
    .join()
    .unwrap();
    // Held by a thread that is still running (asleep) when the process exits.
    let (made, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _held = atexit::guard(|| say("guard held by a running thread"));
        made.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(60));
    });
    wait.recv().unwrap();
    atexit::register_with(1, || say("dynamic, priority 1, registered first"));
    atexit::register(|| say("dynamic, registered last"));
    println!("pending {}", atexit::pending());
    let listed: Vec<String> = atexit::handlers()
        .iter()
        .map(|handler| format!("{}:{}", handler.priority(), handler.is_static()))
        .collect();
    println!("listed {}", listed.join(" "));
    drop(dropped);
    println!("pending after dropping one {}", atexit::pending());
    let _sent = sent;
    shared::exit_with_limits(3);
}

/// Guards each round may make; their closures count here.
const MOST: usize = 1 << 20;
static RAN: [AtomicU8; MOST] = [const { AtomicU8::new(0) }; MOST];
/// The next guard's number.
static NEXT: AtomicUsize = AtomicUsize::new(0);
static STOP: AtomicBool = AtomicBool::new(false);
static STOPPED: AtomicUsize = AtomicUsize::new(0);
/// Closures run by a run (not by their guard's drop, on the thread that made it).
static BY_A_RUN: AtomicUsize = AtomicUsize::new(0);
const THREADS: usize = 2;

std::thread_local! {
    static CHURNING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes and drops guards until told to stop, or until the exit begins.
fn churn() {
    CHURNING.with(|churning| churning.set(true));
    while !STOP.load(Ordering::SeqCst) && !atexit::is_exiting() {
        let number = NEXT.fetch_add(1, Ordering::SeqCst);
        if number >= MOST {
            break;
        }
        let guard = atexit::guard(move || {
            RAN[number].fetch_add(1, Ordering::SeqCst);
            if !CHURNING.with(std::cell::Cell::get) {
                BY_A_RUN.fetch_add(1, Ordering::SeqCst);
            }
        });
        std::hint::spin_loop();
        drop(guard);
    }
    STOPPED.fetch_add(1, Ordering::SeqCst);
}

/// Every guard made so far ran exactly once: the line to print.
fn check(what: &str, from: usize) -> String {
    let made = NEXT.load(Ordering::SeqCst).min(MOST);
    let wrong: Vec<String> = (from..made)
        .filter_map(|number| match RAN[number].load(Ordering::SeqCst) {
            1 => None,
            times => Some(format!("#{number} ran {times} times")),
        })
        .take(5)
        .collect();
    let by_a_run = BY_A_RUN.swap(0, Ordering::SeqCst);
    if wrong.is_empty() && made > from {
        eprintln!("{what}: {} guards, {by_a_run} run by a run", made - from);
        format!("{what}: every guard ran once")
    } else {
        format!("{what}: {} guards made; {}", made - from, wrong.join(", "))
    }
}

fn many_threads() {
    const THREADS: usize = 100;
    let all_hold_one = std::sync::Arc::new(std::sync::Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|index| {
            let all_hold_one = std::sync::Arc::clone(&all_hold_one);
            std::thread::spawn(move || {
                let forgotten = atexit::guard(move || say(&format!("forgotten {index}")));
                all_hold_one.wait();
                std::mem::forget(forgotten);
                drop(atexit::guard(move || say(&format!("dropped {index}"))));
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    say(&format!("pending {}", atexit::pending()));
    shared::exit_with_limits(0);
}

fn race() {
    let threads: Vec<_> = (0..THREADS).map(|_| std::thread::spawn(churn)).collect();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(300) {
        atexit::run_exit_handlers();
    }
    STOP.store(true, Ordering::SeqCst);
    for thread in threads {
        thread.join().unwrap();
    }
    // What the runs did not take, each drop ran.
    say(&check("explicit runs", 0));

    let from = NEXT.load(Ordering::SeqCst);
    STOP.store(false, Ordering::SeqCst);
    STOPPED.store(0, Ordering::SeqCst);
    for _ in 0..THREADS {
        std::thread::spawn(churn);
    }
    std::thread::sleep(Duration::from_millis(50));
    // Runs last: by then the churning threads saw the exit begin and stopped, each
    // after dropping its last guard.
    atexit::register_with(i32::MIN, move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while STOPPED.load(Ordering::SeqCst) < THREADS && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        say(&check("exit", from));
    });
    shared::exit_with_limits(0);
}

#[cfg(unix)]
fn fork(adopt: bool) {
    let _kept = atexit::guard(|| {
        say(&format!(
            "parent's guard kept by main ran in {}",
            std::process::id()
        ))
    });
    std::thread::spawn(|| {
        std::mem::forget(atexit::guard(|| {
            say(&format!(
                "parent's guard forgotten by a thread ran in {}",
                std::process::id()
            ))
        }))
    })
    .join()
    .unwrap();
    say(&format!(
        "parent {} pending {}",
        std::process::id(),
        atexit::pending()
    ));
    // SAFETY: the program has a single thread here, so the child may run Rust code.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork failed");
    if child == 0 {
        let _own = atexit::guard(|| say(&format!("child's guard ran in {}", std::process::id())));
        say(&format!(
            "child {} pending {}",
            std::process::id(),
            atexit::pending()
        ));
        if adopt {
            say(&format!("child adopted {}", atexit::adopt_inherited()));
        }
        std::process::exit(0);
    }
    let mut status = 0;
    // SAFETY: `child` is our child's pid and `status` a valid place to store its status.
    let waited = unsafe { libc::waitpid(child, &mut status, 0) };
    assert_eq!(waited, child);
    say(&format!("child exited with {}", libc::WEXITSTATUS(status)));
}
