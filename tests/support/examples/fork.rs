//! A forked child does not run its parent's handlers, but runs its own; with `adopt`
//! it takes the parent's over.
//!
//! Usage: `fork [MODE]`:
//! - `adopt`: the child takes the parent's handlers over;
//! - `adopt-after-guard`: the same, after the child used a guard of its own;
//! - `adopt-after-dropping-inherited-guard`: the child drops a guard it inherited,
//!   then adopts: the guard runs in the parent only;
//! - `busy`: 50 forks while 4 threads register and unregister without pause; each
//!   child must be able to exit (no lock inherited from a thread that is gone);
//! - `child-signal`: after `catch_signals`, a forked child still dies by SIGTERM;
//! - `child-catch`: the child of a process that catches signals catches them too,
//!   and runs its own handler on SIGTERM;
//! - `in-handler-watched`: with a handler timeout, a handler forks and the child
//!   returns from it: the child still exits.

#[atexit::on_exit]
fn static_handler() {
    println!("static handler ran in {}", std::process::id());
}

#[cfg(not(unix))]
fn main() {
    eprintln!("fork: a Unix-only program");
    std::process::exit(2);
}

#[cfg(unix)]
fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    match mode.as_str() {
        "busy" => return busy(),
        "child-signal" => return child_signal(),
        "child-catch" => return child_catch(),
        "in-handler-watched" => return fork_in_watched_handler(),
        _ => {}
    }
    let adopt = mode.starts_with("adopt");
    atexit::register(|| println!("parent's dynamic handler ran in {}", std::process::id()));
    let inherited_guard = (mode == "adopt-after-dropping-inherited-guard")
        .then(|| atexit::guard(|| println!("parent's guard ran in {}", std::process::id())));
    println!("parent {}", std::process::id());

    // SAFETY: the program has a single thread here, so the child may run Rust code.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork failed");
    if child == 0 {
        println!(
            "child {} pending before adopting {}",
            std::process::id(),
            atexit::pending()
        );
        if mode == "adopt-after-guard" {
            drop(atexit::guard(|| println!("child's guard ran")));
        }
        drop(inherited_guard);
        if adopt {
            println!("child adopted {}", atexit::adopt_inherited());
        }
        atexit::register(|| println!("child's own handler ran in {}", std::process::id()));
        println!("child pending {}", atexit::pending());
        std::process::exit(0);
    }
    let mut status = 0;
    // SAFETY: `child` is our child's pid and `status` a valid place to store its status.
    let waited = unsafe { libc::waitpid(child, &mut status, 0) };
    assert_eq!(waited, child);
    println!("child exited with {}", libc::WEXITSTATUS(status));
}

/// Forks `child` and waits for it; returns its raw wait status.
#[cfg(unix)]
fn fork_and_wait(child: impl FnOnce()) -> i32 {
    // SAFETY: the child only runs `child` and exits; see the callers for what it does.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        child();
        std::process::exit(0);
    }
    let mut status = 0;
    // SAFETY: `pid` is our child's pid and `status` a valid place to store its status.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    status
}

#[cfg(unix)]
fn busy() {
    for _ in 0..4 {
        std::thread::spawn(|| loop {
            let handle = atexit::register(|| {});
            atexit::unregister(handle);
        });
    }
    for _ in 0..50 {
        // The child calls only `exit`, which runs the exit hook and takes the
        // registry's lock: async-signal-safe enough for a child of a threaded parent.
        let status = fork_and_wait(|| {});
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }
    println!("forks ok 50");
    // SAFETY: `_exit` has no preconditions; the looping threads need no cleanup.
    unsafe { libc::_exit(0) }
}

#[cfg(unix)]
fn child_signal() {
    atexit::register(|| println!("parent's handler ran in {}", std::process::id()));
    sigterm_a_child_of_a_catching_process(|| {});
}

#[cfg(unix)]
fn child_catch() {
    sigterm_a_child_of_a_catching_process(|| {
        atexit::catch_signals().expect("signal handlers installed in the child");
        atexit::register(|| println!("child's handler ran"));
    });
}

/// Catches signals, forks a child that runs `prepare` and then sends itself SIGTERM,
/// and reports the signal the child died by.
#[cfg(unix)]
fn sigterm_a_child_of_a_catching_process(prepare: impl FnOnce()) {
    atexit::catch_signals().expect("signal handlers installed");
    let status = fork_and_wait(|| {
        prepare();
        // SAFETY: `getpid` and `kill` have no preconditions.
        unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
        std::thread::sleep(std::time::Duration::from_secs(10));
        println!("child survived SIGTERM");
    });
    assert!(libc::WIFSIGNALED(status), "status {status}");
    println!("child died by signal {}", libc::WTERMSIG(status));
}

#[cfg(unix)]
fn fork_in_watched_handler() {
    atexit::set_handler_timeout(Some(std::time::Duration::from_secs(5)));
    atexit::register(|| {
        // SAFETY: the child returns from this handler and exits; the parent waits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            return;
        }
        let mut status = 0;
        // SAFETY: `pid` is our child's pid and `status` a valid place to store it.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        println!("child exited with {}", libc::WEXITSTATUS(status));
    });
}
