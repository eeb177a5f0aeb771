//! Handlers run where Rust works: on a thread whose thread-locals are alive and
//! whose stack is the main thread's, whichever way the process ends. The fixture's
//! handlers log through `tracing`'s fmt layer, keep a `thread_local!` with a
//! destructor and use 3 MiB of stack.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use common::{build_example_apart, command, command_for, run_bounded, Run};

const LIMIT: Duration = Duration::from_secs(30);

/// What the handlers log, in exit order, after `main`'s own line.
fn expected_lines() -> Vec<&'static str> {
    let mut lines = vec!["main logged"];
    if cfg!(feature = "tokio") {
        lines.extend(["async handler logged", "async handler wrote through tokio"]);
    }
    lines.extend([
        "dynamic handler logged",
        "deep handler logged",
        "guard logged",
        "static handler logged",
    ]);
    lines
}

/// Every line the handlers log is there, in exit order, and nothing was reported.
fn assert_every_handler_logged(run: &Run) {
    let logged: Vec<&str> = run
        .lines()
        .into_iter()
        .filter(|line| line.contains("logged") || line.contains("through tokio"))
        .collect();
    let expected = expected_lines();
    assert_eq!(
        logged.len(),
        expected.len(),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    for (line, expected) in logged.iter().zip(&expected) {
        assert!(
            line.contains(expected),
            "{line:?} is not {expected:?}\n{}",
            run.stdout
        );
    }
    assert!(run.reports().is_empty(), "{}", run.stderr);
}

fn run_way(way: &str, timeout: Option<&str>) -> Run {
    let mut command = command("handler_context");
    command.arg(way);
    if let Some(timeout) = timeout {
        command.env("ATEXIT_TIMEOUT_MS", timeout);
    }
    run_bounded(&mut command, LIMIT)
}

/// Each way out, without and with a handler timeout (which used to move handlers to
/// a worker with a 2 MiB stack).
fn for_each_limit(way: &str, check: impl Fn(&Run)) {
    for timeout in [None, Some("20000")] {
        let run = run_way(way, timeout);
        assert_every_handler_logged(&run);
        check(&run);
    }
}

#[test]
fn handlers_log_through_tracing_when_main_returns() {
    for_each_limit("return", |run| assert_eq!(run.code(), Some(0)));
}

#[test]
// On Windows `std::process::exit` is `ExitProcess`, after which the handlers run on
// the exiting thread alone, where no thread may start (README, Windows): neither a
// fresh stack nor fresh thread-locals are promised there.
#[cfg(not(windows))]
fn handlers_log_through_tracing_after_std_process_exit() {
    for_each_limit("process-exit", |run| assert_eq!(run.code(), Some(0)));
}

#[test]
fn handlers_log_through_tracing_after_atexit_exit() {
    for_each_limit("atexit-exit", |run| assert_eq!(run.code(), Some(0)));
}

#[test]
fn handlers_log_through_tracing_after_a_panic_in_main() {
    for_each_limit("panic", |run| {
        assert_eq!(run.code(), Some(101));
        assert!(run.stderr.contains("main panics"), "{}", run.stderr);
    });
}

#[test]
#[cfg(unix)] // Unix signals (Windows console events cannot be raised under headless Wine)
fn handlers_log_through_tracing_after_a_caught_signal() {
    for_each_limit("signal", |run| assert_eq!(run.signal(), Some(15)));
}

#[test]
fn handlers_log_through_tracing_after_a_panic_with_panic_abort() {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let fixture = BUILT.get_or_init(|| {
        // With the features this test was built with, as `command` builds.
        let features: &[&str] = if cfg!(feature = "tokio") {
            &["--features=tokio"]
        } else {
            &[]
        };
        build_example_apart(
            "panic-abort-context",
            "handler_context",
            features,
            &[("CARGO_PROFILE_DEV_PANIC", "abort")],
        )
    });
    for timeout in [None, Some("20000")] {
        let mut command = command_for(fixture);
        command.arg("panic");
        if let Some(timeout) = timeout {
            command.env("ATEXIT_TIMEOUT_MS", timeout);
        }
        let run = run_bounded(&mut command, LIMIT);
        assert_every_handler_logged(&run);
        assert!(run.stderr.contains("main panics"), "{}", run.stderr);
        run.assert_aborted();
    }
}

#[test]
#[cfg(target_os = "linux")] // caps the address space with RLIMIT_AS
fn without_a_thread_the_handlers_run_on_the_exiting_thread_and_say_so_once() {
    let run = run_way("no-thread", None);
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    let reports = run.reports();
    assert!(
        reports[0].starts_with("atexit: cannot start the exit run's thread"),
        "{}",
        run.stderr
    );
    if cfg!(feature = "tokio") {
        // Async handlers need the run's own thread: reported, not run.
        assert_eq!(reports.len(), 2, "{}", run.stderr);
        assert!(
            reports[1].ends_with("failed: async handlers run on the exit run's own thread, and none could be started"),
            "{}",
            run.stderr
        );
    } else {
        assert_eq!(reports.len(), 1, "{}", run.stderr);
    }
    // Every handler ran, on the exiting thread. glibc destroyed that thread's
    // thread-locals first, and the handlers see it; musl keeps them.
    let handlers = ["dynamic handler", "deep handler", "guard", "static handler"];
    let lines = run.lines();
    let glibc = cfg!(all(target_os = "linux", target_env = "gnu"));
    let mut at = 0;
    for handler in handlers {
        let without = format!("{handler} ran without thread-locals");
        let logged = format!("{handler} logged");
        let found = lines[at..]
            .iter()
            .position(|line| *line == without || (!glibc && line.contains(&logged)))
            .unwrap_or_else(|| panic!("{handler} did not run, in order: {}", run.stdout));
        at += found + 1;
    }
}
