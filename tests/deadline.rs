//! The deadline of the whole exit: `set_exit_deadline` and `ATEXIT_DEADLINE_MS`.

mod common;

use std::time::{Duration, Instant};

use common::{command, run_bounded, Run};

/// Runs the `deadline` fixture; returns how it ended and how long it took.
/// The clock starts once the command is ready: the first `command` of a test binary
/// builds the examples, which under load took longer than the bounds below.
fn run_deadline(mode: &str, env: &[(&str, &str)]) -> (Run, Duration) {
    let mut command = command("deadline");
    command.arg(mode).envs(env.iter().copied());
    let started = Instant::now();
    let run = run_bounded(&mut command, Duration::from_secs(20));
    (run, started.elapsed())
}

const SLOW: &str = "tests/support/examples/deadline.rs";

/// What the fixture prints when its quick handlers all run.
const EVERY_HANDLER: [&str; 3] = [
    "newest handler ran",
    "oldest handler ran",
    "static handler ran",
];

fn assert_cut_short(run: &Run, took: Duration) {
    assert_eq!(
        run.lines(),
        ["newest handler ran", "slow handler started"],
        "{}",
        run.stderr
    );
    let reports = run.reports();
    assert_eq!(reports.len(), 3, "{reports:?}");
    assert!(
        reports[0].starts_with("atexit: handler `deadline::main::{{closure}}` (")
            && reports[0].ends_with("did not finish before the exit deadline; abandoned it"),
        "{reports:?}"
    );
    assert!(reports[1].starts_with(&format!(
        "atexit: skipped handler `deadline::main::{{{{closure}}}}` ({SLOW}:"
    )));
    assert!(reports[1].ends_with("the exit deadline passed"));
    assert!(reports[2].starts_with("atexit: skipped handler `deadline::static_handler` ("));
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[test]
fn the_variable_cuts_a_slow_exit_short_and_keeps_the_status() {
    let (run, took) = run_deadline("slow", &[("ATEXIT_DEADLINE_MS", "1000")]);
    assert_cut_short(&run, took);
    assert_eq!(run.code(), Some(3));
}

#[test]
fn the_function_cuts_a_slow_exit_short_and_keeps_the_status() {
    let (run, took) = run_deadline("api", &[]);
    assert_cut_short(&run, took);
    assert_eq!(run.code(), Some(3));
}

#[test]
#[cfg(unix)] // Unix signals (Windows console events cannot be raised under headless Wine)
fn a_signal_run_cut_short_dies_by_its_signal() {
    let (run, took) = run_deadline("signal", &[]);
    assert_cut_short(&run, took);
    assert_eq!(run.signal(), Some(15));
}

#[test]
fn the_deadline_bounds_many_handlers_each_within_the_handler_timeout() {
    let (run, took) = run_deadline("many-slow", &[]);
    assert_eq!(run.lines(), ["newest handler ran"], "{}", run.stderr);
    let reports = run.reports();
    let timed_out = reports
        .iter()
        .filter(|line| line.contains("did not finish within 100ms"))
        .count();
    let cut = reports
        .iter()
        .filter(|line| line.contains("did not finish before the exit deadline"))
        .count();
    let skipped = reports
        .iter()
        .filter(|line| line.contains("skipped handler"))
        .count();
    assert!(timed_out >= 1, "{reports:?}");
    assert!(cut <= 1, "{reports:?}");
    // The six slow ones, the oldest and the static handler: each is reported once.
    assert_eq!(timed_out + cut + skipped, 8, "{reports:?}");
    assert_eq!(reports.len(), 8, "{reports:?}");
    assert_eq!(run.code(), Some(3));
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn without_a_deadline_every_handler_runs() {
    let (run, _) = run_deadline("quick", &[("ATEXIT_DEADLINE_MS", "")]);
    assert_eq!(run.lines(), EVERY_HANDLER);
    assert_eq!(run.code(), Some(3));
    run.assert_quiet();
}

#[test]
fn a_bad_value_is_reported_once_and_ignored() {
    for value in ["abc", "-5", "1.5"] {
        let (run, _) = run_deadline("quick", &[("ATEXIT_DEADLINE_MS", value)]);
        assert_eq!(
            run.lines(),
            [
                "newest handler ran",
                "oldest handler ran",
                "static handler ran"
            ]
        );
        assert_eq!(run.code(), Some(3));
        assert_eq!(
            run.reports(),
            [format!(
                "atexit: ignoring ATEXIT_DEADLINE_MS={value:?}: not a whole number of milliseconds"
            )]
        );
    }
}

#[test]
fn the_deadline_does_not_apply_to_run_exit_handlers() {
    let (run, _) = run_deadline("explicit", &[]);
    assert_eq!(
        run.lines(),
        [
            "early handler finished",
            "oldest handler ran",
            "static handler ran",
            "newest handler ran",
            "handler at exit ran",
        ],
        "{}",
        run.stderr
    );
    assert_eq!(run.code(), Some(3));
    run.assert_quiet();
}
