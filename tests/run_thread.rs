//! The exit run's own thread, where a review found it wrong: a handler that changes
//! or turns off the timeout, `std::process::exit` in a handler of a run that began
//! outside std, the tasks of async handlers, and children forked during the exit.
//! The fixture is `run_thread`; the runs nested in a library's unload are in
//! `tests/plugin.rs`.

mod common;

use std::time::{Duration, Instant};

use common::{command, run_bounded, Run};

/// Long enough for every mode, short enough that a hang fails the test soon.
const LIMIT: Duration = Duration::from_secs(20);

fn run_mode(args: &[&str], env: &[(&str, &str)]) -> (Run, Duration) {
    let mut command = command("run_thread");
    command.args(args).envs(env.iter().copied());
    let started = Instant::now();
    let run = run_bounded(&mut command, LIMIT);
    (run, started.elapsed())
}

/// The one report of the run: `handler` abandoned after `timeout`.
fn assert_abandoned(run: &Run, handler: &str, timeout: &str) {
    let reports = run.reports();
    assert_eq!(reports.len(), 1, "{}", run.stderr);
    assert!(
        reports[0].starts_with(&format!("atexit: handler `{handler}` ("))
            && reports[0].ends_with(&format!(
                "did not finish within {timeout}; abandoned it and went on"
            )),
        "{}",
        run.stderr
    );
}

/// A handler that started under a timeout keeps it, even when it turns the timeout
/// off, or another thread does while it hangs: it is abandoned, and the rest runs.
#[test]
fn a_handler_that_turns_the_timeout_off_is_still_abandoned() {
    for way in ["self", "other-thread"] {
        let (run, _) = run_mode(&["timeout-off", way], &[]);
        assert_eq!(
            run.lines(),
            ["timeout turned off", "handler after the hung one ran"],
            "{way}: {}",
            run.stderr
        );
        assert_abandoned(&run, "run_thread::timeout_off::{{closure}}", "200ms");
        assert_eq!(run.code(), Some(3), "{way}: {}", run.stderr);
    }
}

/// A handler that shortens the timeout as it starts runs to its end under the
/// timeout it started with; the handler after it gets the short one.
#[test]
fn a_handler_that_shortens_the_timeout_runs_to_its_end() {
    let (run, _) = run_mode(&["timeout-change", "shorten"], &[]);
    assert_eq!(
        run.lines(),
        [
            "changing handler starts",
            "changing handler finished",
            "next handler starts",
            "oldest handler ran",
        ],
        "{}",
        run.stderr
    );
    assert_abandoned(&run, "run_thread::next_handler", "100ms");
    assert_eq!(run.code(), Some(3));
}

/// A handler that lengthens the timeout as it starts is abandoned under the timeout
/// it started with; the handler after it gets the long one and finishes.
#[test]
fn a_handler_that_lengthens_the_timeout_is_abandoned_under_the_old_one() {
    let (run, _) = run_mode(&["timeout-change", "lengthen"], &[]);
    // The changing handler would finish after a second; the run is over before.
    assert_eq!(
        run.lines(),
        [
            "changing handler starts",
            "next handler starts",
            "next handler finished",
            "oldest handler ran",
        ],
        "{}",
        run.stderr
    );
    assert_abandoned(&run, "run_thread::changing_handler<10000>", "100ms");
    assert_eq!(run.code(), Some(3));
}

/// The limits each run below is checked under: none, a handler timeout, a deadline.
#[cfg(unix)]
const LIMITS: [&[(&str, &str)]; 3] = [
    &[],
    &[("ATEXIT_TIMEOUT_MS", "5000")],
    &[("ATEXIT_DEADLINE_MS", "5000")],
];

/// `std::process::exit(6)` in a handler of a run that began outside std is the
/// process's first exit: the rest runs and the process exits with 6 at once, not
/// after waiting a second for the handler that called it as for one running on
/// another thread.
#[cfg(target_os = "linux")]
fn assert_std_exit_ends_the_run_at_once(mode: &str) {
    for env in LIMITS {
        let (run, took) = run_mode(&[mode], env);
        assert_eq!(
            run.lines(),
            ["handler calls std::process::exit(6)", "older handler ran"],
            "{env:?}: {}",
            run.stderr
        );
        assert_eq!(run.code(), Some(6), "{env:?}: {}", run.stderr);
        run.assert_quiet();
        // The run takes 50 ms; the stall this guards against took a second.
        assert!(took < Duration::from_millis(800), "{env:?}: took {took:?}");
    }
}

#[test]
#[cfg(target_os = "linux")]
fn std_exit_in_a_handler_of_an_explicit_run_exits_with_its_code_at_once() {
    assert_std_exit_ends_the_run_at_once("std-exit-explicit");
}

#[test]
#[cfg(target_os = "linux")]
fn std_exit_in_a_handler_of_a_signal_run_exits_with_its_code_at_once() {
    assert_std_exit_ends_the_run_at_once("std-exit-signal");
}

/// A task an async handler spawns and does not await is dropped before the process
/// ends, every time.
#[test]
#[cfg(feature = "tokio")]
fn a_task_an_async_handler_left_is_dropped_before_the_process_ends() {
    for attempt in 0..20 {
        let (run, _) = run_mode(&["async-task"], &[]);
        assert_eq!(
            run.lines(),
            [
                "async handler spawned a task",
                "oldest handler ran",
                "task dropped"
            ],
            "attempt {attempt}: {}",
            run.stderr
        );
        assert_eq!(run.code(), Some(0), "attempt {attempt}: {}", run.stderr);
        run.assert_quiet();
    }
}

/// In a run `main` starts, such a task is dropped before `run_exit_handlers`
/// returns, every time.
#[test]
#[cfg(feature = "tokio")]
fn a_task_an_async_handler_left_is_dropped_before_an_explicit_run_returns() {
    for attempt in 0..20 {
        let (run, _) = run_mode(&["async-task", "explicit"], &[]);
        assert_eq!(
            run.lines(),
            [
                "async handler spawned a task",
                "oldest handler ran",
                "task dropped",
                "main goes on after run_exit_handlers",
            ],
            "attempt {attempt}: {}",
            run.stderr
        );
        assert_eq!(run.code(), Some(0), "attempt {attempt}: {}", run.stderr);
        run.assert_quiet();
    }
}

/// A child forked during the exit by a thread that is not running handlers runs its
/// own handlers on `atexit::exit(4)`, and exits with 4.
#[test]
#[cfg(unix)]
fn a_child_forked_during_the_exit_by_another_thread_runs_its_own_handlers() {
    for env in LIMITS {
        let (run, _) = run_mode(&["fork-other-thread"], env);
        assert_eq!(
            run.lines(),
            [
                "child's own handler ran",
                "parent: child ended with exit 4",
                "parent's handler ran, child reaped true",
            ],
            "{env:?}: {}",
            run.stderr
        );
        assert_eq!(run.code(), Some(3), "{env:?}: {}", run.stderr);
        run.assert_quiet();
    }
}

/// A child forked by a handler its parent abandoned is all that handler is: its
/// `atexit::exit(9)` decides how it ends.
#[test]
#[cfg(unix)]
fn a_child_forked_by_an_abandoned_handler_exits_with_its_code() {
    for attempt in 0..20 {
        let (run, _) = run_mode(&["fork-abandoned"], &[]);
        assert_eq!(
            run.lines(),
            [
                "parent: child ended with exit 9",
                "oldest handler ran, child reaped true"
            ],
            "attempt {attempt}: {}",
            run.stderr
        );
        assert_abandoned(&run, "run_thread::fork_abandoned::{{closure}}", "50ms");
        assert_eq!(run.code(), Some(3), "attempt {attempt}: {}", run.stderr);
    }
}

/// `main` exits holding std's stdout lock, which the run's thread then waits for: the
/// handlers run on the exiting thread instead, after a second, and say why.
#[test]
fn a_handler_prints_when_main_exits_holding_stdout() {
    let (run, took) = run_mode(&["stdout-locked"], &[]);
    assert_eq!(run.code(), Some(3), "{}", run.stderr);
    assert_eq!(run.lines(), ["main holds stdout", "the handler printed"]);
    let reports = run.reports();
    assert_eq!(reports.len(), 1, "{}", run.stderr);
    assert!(
        reports[0].starts_with("atexit: the exit run's thread did not start within 1s"),
        "{}",
        run.stderr
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}
