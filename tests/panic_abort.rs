//! With `panic = "abort"`, every promise holds: the fixture `abort` is built with that
//! profile setting in a target directory of its own, and run.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{build_example_apart, exit_with, run_bounded, Run};

/// The fixture, built once per test binary with `panic = "abort"`.
fn fixture() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        build_example_apart(
            "panic-abort",
            "abort",
            &[],
            &[("CARGO_PROFILE_DEV_PANIC", "abort")],
        )
    })
}

fn run_abort(mode: &str, env: &[(&str, &str)]) -> (Run, Duration) {
    let mut command = common::command_for(fixture());
    command.arg(mode).envs(env.iter().copied());
    let started = Instant::now();
    let run = run_bounded(&mut command, Duration::from_secs(40));
    (run, started.elapsed())
}

/// What the fixture prints when all three of its usual handlers run, the oldest
/// seeing `reason`.
fn every_handler_ran(reason: &str) -> [String; 3] {
    [
        "newest handler ran".to_owned(),
        format!("oldest handler ran, reason Some({reason})"),
        "static handler ran".to_owned(),
    ]
}

#[test]
fn a_panic_in_main_runs_the_handlers_then_aborts() {
    let (run, _) = run_abort("main-panic", &[]);
    assert_eq!(run.lines(), every_handler_ran("Panic"), "{}", run.stderr);
    assert!(run.stderr.contains("main panics"), "{}", run.stderr);
    run.assert_aborted();
}

#[test]
fn a_panic_in_another_thread_runs_the_handlers_then_aborts() {
    let (run, _) = run_abort("thread-panic", &[]);
    assert_eq!(run.lines(), every_handler_ran("Panic"), "{}", run.stderr);
    assert!(run.stderr.contains("a thread panics"), "{}", run.stderr);
    run.assert_aborted();
}

#[test]
fn a_panicking_handler_is_reported_the_rest_run_and_the_status_is_kept() {
    let (run, _) = run_abort("handler-panic", &[]);
    assert_eq!(
        run.lines(),
        every_handler_ran(&exit_with(3)),
        "{}",
        run.stderr
    );
    let reports = run.reports();
    assert_eq!(reports.len(), 1, "{}", run.stderr);
    assert!(
        reports[0].starts_with(
            "atexit: handler `abort::main::{{closure}}` (tests/support/examples/abort.rs:"
        ) && reports[0].ends_with("panicked: handler fails"),
        "{reports:?}"
    );
    assert_eq!(run.code(), Some(3));
}

#[test]
fn atexit_exit_in_a_handler_runs_the_rest_and_exits_with_its_code() {
    let (run, _) = run_abort("handler-exit", &[]);
    assert_eq!(
        run.lines(),
        [
            "newest handler ran",
            "exiting handler ran",
            "oldest handler ran, reason Some(Exit(7))",
            "static handler ran"
        ],
        "the handler's locals are not dropped: {}",
        run.stderr
    );
    assert_eq!(run.code(), Some(7));
    run.assert_quiet();
}

#[test]
fn a_panic_in_an_early_run_is_reported_the_rest_run_then_the_process_aborts() {
    let (run, _) = run_abort("explicit-panic", &[]);
    assert_eq!(run.lines(), every_handler_ran("Explicit"), "{}", run.stderr);
    let reports = run.reports();
    assert!(
        reports[0].ends_with("panicked: handler fails"),
        "{reports:?}"
    );
    assert!(
        reports[1].contains("nothing can unwind to its caller; aborting"),
        "{reports:?}"
    );
    run.assert_aborted();
}

#[test]
fn after_a_panic_a_handler_blocked_by_a_held_lock_ends_at_the_deadline() {
    let (run, took) = run_abort("lock-held", &[("ATEXIT_DEADLINE_MS", "300")]);
    assert_eq!(run.lines(), ["newest handler ran"], "{}", run.stderr);
    let reports = run.reports();
    assert!(
        reports[0].ends_with("did not finish before the exit deadline; abandoned it"),
        "{reports:?}"
    );
    assert_eq!(reports.len(), 3, "two skipped: {reports:?}");
    run.assert_aborted();
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn after_a_panic_the_default_deadline_is_ten_seconds() {
    let (run, took) = run_abort("lock-held", &[]);
    assert_eq!(run.lines(), ["newest handler ran"], "{}", run.stderr);
    run.assert_aborted();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(30),
        "took {took:?}"
    );
}

#[test]
fn a_hook_set_by_the_program_that_calls_on_panic_keeps_the_handlers_running() {
    let (run, _) = run_abort("own-hook", &[]);
    assert!(run.stderr.contains("my hook: "), "{}", run.stderr);
    assert_eq!(run.lines(), every_handler_ran("Panic"), "{}", run.stderr);
    run.assert_aborted();
}

#[test]
fn a_hook_that_chains_and_calls_on_panic_runs_the_handlers_once_then_aborts() {
    let (run, _) = run_abort("chained-hook", &[]);
    assert_eq!(run.lines(), every_handler_ran("Panic"), "{}", run.stderr);
    run.assert_aborted();
}

#[test]
fn after_a_handler_panics_holding_a_lock_the_rest_of_the_run_is_bounded() {
    let (run, took) = run_abort("handler-panic-holding-lock", &[]);
    assert_eq!(run.lines(), ["newest handler ran"], "{}", run.stderr);
    let reports = run.reports();
    assert!(
        reports[0].ends_with("panicked: panics holding the lock"),
        "{reports:?}"
    );
    assert!(
        reports[1].ends_with("did not finish before the exit deadline; abandoned it"),
        "{reports:?}"
    );
    assert_eq!(run.code(), Some(3), "the status it was exiting with");
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(30),
        "took {took:?}"
    );
}

#[test]
fn a_thread_that_panics_during_the_exit_aborts_the_process() {
    let (run, took) = run_abort("helper-panic", &[]);
    assert_eq!(run.lines(), ["newest handler ran"], "{}", run.stderr);
    assert!(run.stderr.contains("a helper panics"), "{}", run.stderr);
    run.assert_aborted();
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn after_a_panic_atexit_exit_does_not_change_the_reason() {
    let (run, _) = run_abort("panic-then-exit", &[]);
    assert_eq!(
        run.lines(),
        [
            "newest handler ran",
            "exiting handler sees Some(Panic)",
            "oldest handler ran, reason Some(Panic)",
            "static handler ran"
        ],
        "{}",
        run.stderr
    );
    run.assert_aborted();
}

#[test]
#[cfg(unix)] // fork is Unix-only
fn a_child_forked_by_a_handler_exits_with_the_code_it_asks_for() {
    let (run, took) = run_abort("fork-in-handler", &[]);
    let lines = run.lines();
    assert!(lines.contains(&"child: exiting with 4"), "{}", run.stderr);
    assert!(lines.contains(&"parent: child exited with 4"), "{lines:?}");
    assert_eq!(run.code(), Some(3));
    assert!(took < Duration::from_secs(10), "took {took:?}");
}
