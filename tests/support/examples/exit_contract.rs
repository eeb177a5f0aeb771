//! The exit contract where issue 18 found it broken: each mode is one of its breaks.
//!
//! Usage: `exit_contract MODE [ARG]`:
//! - `stdio-deadline`: under a 300 ms deadline, a handler loops on C's `fputs` to
//!   `stdout` (a pipe nobody reads, so it blocks holding the stream's lock); the
//!   process exits with 3 and must end at the deadline;
//! - `skipped MS [full-stderr]`: under a 300 ms deadline, a handler sleeps `MS` ms
//!   (stderr filled first if asked, as for `skipped-late`), and the handler after
//!   it, if skipped, must run no user code: neither its body nor the destructor of
//!   what its closure captured (both write a line to stdout);
//! - `skipped-late`: the same, made late on purpose: under a 100 ms handler timeout,
//!   the previous handler hangs, and stderr is a full pipe (the fixture fills it;
//!   the test reads it a second later), so the report of the timeout blocks the run
//!   until well past the deadline;
//! - `panic-hung [none|zero|MS]`: built with `panic = "abort"`, `main` panics and a
//!   handler hangs; the program sets no deadline, `set_exit_deadline(None)`, a zero
//!   one, or `MS` ms (`ATEXIT_DEADLINE_MS` may come from the environment);
//! - `fork-outside-handler`: during the exit, a thread that is not a handler forks;
//!   the child calls `atexit::exit(4)`, and the parent reports how the child ended;
//! - `fork-in-handler-observes`: a handler forks; the child prints what it sees of
//!   the exit, registers a handler and adopts its parent's, then returns from the
//!   handler; the parent reports how the child ended and exits with 6;
//! - `fork-in-handler-returns`: the same, the child returning from the handler at
//!   once.

mod shared;

use std::time::Duration;

use shared::say;
/// What the exit looks like from here.
#[cfg(unix)]
fn seen() -> String {
    format!(
        "{:?} exiting {}",
        atexit::exit_reason(),
        atexit::is_exiting()
    )
}

#[atexit::on_exit]
fn static_handler() {
    say("static handler ran");
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let argument = std::env::args().nth(2).unwrap_or_default();
    match mode.as_str() {
        #[cfg(unix)]
        "stdio-deadline" => stdio_deadline(),
        "skipped" => skipped(
            argument.parse().expect("a number of milliseconds"),
            std::env::args().nth(3).as_deref() == Some("full-stderr"),
        ),
        #[cfg(unix)]
        "skipped-late" => skipped_late(),
        "panic-hung" => panic_hung(&argument),
        #[cfg(unix)]
        "fork-outside-handler" => fork_outside_handler(),
        #[cfg(unix)]
        "fork-in-handler-observes" => fork_in_handler(true),
        #[cfg(unix)]
        "fork-in-handler-returns" => fork_in_handler(false),
        _ => panic!("unknown mode {mode:?}"),
    }
}

/// C's `stdout` stream.
#[cfg(target_os = "linux")]
fn c_stdout() -> *mut libc::FILE {
    extern "C" {
        static stdout: *mut libc::FILE;
    }
    // SAFETY: glibc and musl both define `stdout`, initialised before `main`.
    unsafe { stdout }
}

/// A C stream on file descriptor 1, which C's exit and `fflush(NULL)` flush as they
/// do `stdout`.
#[cfg(all(unix, not(target_os = "linux")))]
fn c_stdout() -> *mut libc::FILE {
    // SAFETY: the mode is a valid C string and descriptor 1 is open.
    unsafe { libc::fdopen(1, c"w".as_ptr()) }
}

#[cfg(unix)]
fn stdio_deadline() {
    atexit::set_exit_deadline(Some(Duration::from_millis(300)));
    let stream = c_stdout() as usize;
    atexit::register(move || {
        let stream = stream as *mut libc::FILE;
        let text = c"C stdio output that nobody reads, written in a loop\n";
        loop {
            // SAFETY: `text` is a valid C string and `stream` a valid open stream.
            unsafe { libc::fputs(text.as_ptr(), stream) };
        }
    });
    shared::exit_with_limits(3);
}

/// What the skipped handler's closure owns: dropping it is user code.
struct Loud;

impl Drop for Loud {
    fn drop(&mut self) {
        say("the skipped handler's capture was dropped");
    }
}

/// Registers the handler that the deadline may skip, in a function of its own so
/// that its reports name it apart from the others.
fn register_maybe_skipped() {
    let loud = Loud;
    atexit::register(move || {
        let _loud = &loud;
        say("the skipped handler ran");
    });
}

fn skipped(previous_sleeps_ms: u64, full_stderr: bool) {
    atexit::set_exit_deadline(Some(Duration::from_millis(300)));
    register_maybe_skipped();
    atexit::register(move || {
        say("previous handler started");
        std::thread::sleep(Duration::from_millis(previous_sleeps_ms));
        say("previous handler finished");
    });
    if full_stderr {
        #[cfg(unix)]
        fill_stderr();
    }
    shared::exit_with_limits(3);
}

/// Fills the pipe on stderr with empty lines, so that the next write to it blocks
/// until the reader reads (the reports stay whole lines). Only a pipe: a terminal
/// or a file would never be full.
#[cfg(unix)]
fn fill_stderr() {
    // SAFETY: `stat` is plain data, for which all zeros is a valid value.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: descriptor 2 is open and `stat` a valid place to write.
    let stat_ok = unsafe { libc::fstat(2, &mut stat) } == 0;
    assert!(
        stat_ok && stat.st_mode & libc::S_IFMT == libc::S_IFIFO,
        "skipped-late needs stderr to be a pipe"
    );
    // SAFETY: `fcntl` on descriptor 2 with these commands has no preconditions.
    let flags = unsafe { libc::fcntl(2, libc::F_GETFL) };
    // SAFETY: as above.
    unsafe { libc::fcntl(2, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    let newlines = [b'\n'; 4096];
    for size in [newlines.len(), 1] {
        // SAFETY: the pointer and length describe `newlines`.
        while unsafe { libc::write(2, newlines.as_ptr().cast(), size) } > 0 {}
    }
    // SAFETY: as above.
    unsafe { libc::fcntl(2, libc::F_SETFL, flags) };
}

#[cfg(unix)]
fn skipped_late() {
    atexit::set_handler_timeout(Some(Duration::from_millis(100)));
    atexit::set_exit_deadline(Some(Duration::from_millis(300)));
    register_maybe_skipped();
    atexit::register(|| {
        say("previous handler started");
        std::thread::sleep(Duration::from_secs(5));
        say("previous handler finished");
    });
    fill_stderr();
    shared::exit_with_limits(3);
}

fn panic_hung(deadline: &str) {
    if !cfg!(panic = "abort") {
        eprintln!("panic-hung must be built with panic = \"abort\"");
        std::process::exit(2);
    }
    match deadline {
        "" => {}
        "none" => atexit::set_exit_deadline(None),
        "zero" => atexit::set_exit_deadline(Some(Duration::ZERO)),
        ms => atexit::set_exit_deadline(Some(Duration::from_millis(
            ms.parse().expect("a number of milliseconds"),
        ))),
    }
    atexit::register(|| {
        say("hung handler started");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    panic!("main panics");
}

/// Waits for `child` for at most `limit`, then kills it; says how it ended.
#[cfg(unix)]
fn wait_for_child(child: libc::pid_t, limit: Duration) -> String {
    let started = std::time::Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: `child` is our child and `status` a valid place to write.
        let waited = unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) };
        if waited == child {
            return if libc::WIFEXITED(status) {
                format!("exited with {}", libc::WEXITSTATUS(status))
            } else if libc::WIFSIGNALED(status) {
                format!("killed by signal {}", libc::WTERMSIG(status))
            } else {
                format!("ended with status {status}")
            };
        }
        assert_eq!(waited, 0, "waitpid failed");
        if started.elapsed() > limit {
            // SAFETY: `child` is our child, not yet waited for.
            unsafe { libc::kill(child, libc::SIGKILL) };
            // SAFETY: as above.
            unsafe { libc::waitpid(child, &mut status, 0) };
            return format!("hung for {limit:?} (killed)");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(unix)]
fn fork_outside_handler() {
    let (report, reported) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        while !atexit::is_exiting() {
            std::thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: the child calls only `atexit::exit`, the path documented to end
        // any process, including a copy of one that is exiting.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            atexit::exit(4);
        }
        let _ = report.send(wait_for_child(child, Duration::from_secs(5)));
    });
    atexit::register(move || {
        // The slow handler the fork happens during.
        let ended = reported
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| "no report from the forking thread".to_owned());
        say(&format!("parent: child {ended}"));
    });
    shared::exit_with_limits(3);
}

#[cfg(unix)]
fn fork_in_handler(observes: bool) {
    let parent = std::process::id();
    atexit::register(move || {
        let who = if std::process::id() == parent {
            "parent"
        } else {
            "child"
        };
        say(&format!("oldest handler in {who} sees {}", seen()));
    });
    atexit::register(move || {
        // SAFETY: the child writes with `write` and calls the runtime, which a child
        // forked during the exit run must be able to use; the parent waits.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            if observes {
                say(&format!("child's forking handler sees {}", seen()));
                atexit::register(|| say(&format!("child's own handler sees {}", seen())));
                say(&format!("child adopted {}", atexit::adopt_inherited()));
            }
            return;
        }
        say(&format!(
            "parent: child {}",
            wait_for_child(child, Duration::from_secs(10))
        ));
    });
    shared::exit_with_limits(6);
}
