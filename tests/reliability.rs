//! The exit stays reliable where it is easy to get wrong: signals the program was
//! started with ignored, `atexit::exit` from threads other than the exiting one,
//! destructors that panic while handlers are removed, handlers abandoned by the
//! timeout, and a malformed `ATEXIT_TIMEOUT_MS`.

mod common;

#[cfg(unix)]
use std::process::Command;
use std::time::Duration;

use common::{command, run_bounded, Run};

/// Every run here is bounded: a hang fails the test.
const LIMIT: Duration = Duration::from_secs(20);

fn run(args: &[&str]) -> Run {
    run_bounded(command("reliability").args(args), LIMIT)
}

/// Starts `command` with `signal` ignored, as `nohup` (SIGHUP) or a background job of
/// a non-interactive shell (SIGINT, SIGQUIT) would.
#[cfg(unix)]
fn ignoring(command: &mut Command, signal: libc::c_int) -> &mut Command {
    // SAFETY: the closure runs in the child between `fork` and `exec`, where only
    // async-signal-safe functions may be called. It calls only `signal`, which POSIX
    // lists as async-signal-safe, and on failure reads `errno` into an `io::Error`
    // without allocating. It runs after the `pre_exec` of `common::command`, which
    // reset the signal to its default action.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(command, move || {
            if libc::signal(signal, libc::SIG_IGN) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

#[test]
#[cfg(unix)] // Unix signals (Windows console events cannot be raised under headless Wine)
fn catch_signals_leaves_an_ignored_signal_ignored() {
    for (name, number) in [
        ("HUP", libc::SIGHUP),
        ("INT", libc::SIGINT),
        ("QUIT", libc::SIGQUIT),
    ] {
        let run = run_bounded(
            ignoring(
                command("reliability").args(["ignored-signal", name]),
                number,
            ),
            LIMIT,
        );
        assert_eq!(run.signal(), None, "SIG{name} killed it: {}", run.stdout);
        assert_eq!(
            run.lines(),
            ["survived", "handler ran", "static handler ran"],
            "SIG{name}"
        );
        assert_eq!(run.code(), Some(0), "SIG{name}");
        assert_eq!(run.reports(), [] as [&str; 0], "SIG{name}");
    }
}

#[test]
fn the_exit_code_of_a_handler_survives_an_early_run_on_another_thread() {
    let run = run(&["overlap-exit"]);
    assert_eq!(
        run.lines(),
        [
            "slow handler started",
            "main returns",
            "exiting handler calls atexit::exit(5)",
            "static handler ran",
            "slow handler finished"
        ],
        "the exit waits for the early run's handler"
    );
    assert_eq!(run.code(), Some(5), "{}", run.stderr);
    assert_eq!(run.reports(), [] as [&str; 0]);
}

#[test]
fn a_handler_joining_a_thread_that_calls_atexit_exit_does_not_hang() {
    let run = run(&["exit-from-helper"]);
    assert_eq!(
        run.lines(),
        [
            "main returns",
            "join returned Err: true",
            "older handler ran",
            "static handler ran"
        ],
        "the helper unwound and the run went on"
    );
    assert_eq!(run.code(), Some(5), "{}", run.stderr);
    assert_eq!(run.reports(), [] as [&str; 0]);
}

#[test]
fn clear_removes_every_handler_even_when_a_closures_drop_panics() {
    let run = run(&["clear-drop-panics"]);
    assert_eq!(
        run.lines(),
        ["pending before clear 4", "clear panicked: true, pending 0"],
        "nothing is left to run at exit, not even the static handler"
    );
    assert_eq!(run.code(), Some(0));
    assert_eq!(run.reports(), [] as [&str; 0]);
    assert!(
        run.stderr
            .contains("the captured value's destructor panics"),
        "the panic reached the caller: {}",
        run.stderr
    );
}

#[test]
fn unregister_removes_the_handler_even_when_its_closures_drop_panics() {
    let run = run(&["unregister-drop-panics"]);
    assert_eq!(
        run.lines(),
        [
            "pending before unregister 3",
            "unregister panicked: true, pending 2",
            "kept handler ran",
            "static handler ran"
        ]
    );
    assert_eq!(run.code(), Some(0));
    assert_eq!(run.reports(), [] as [&str; 0]);
    assert!(
        run.stderr
            .contains("the captured value's destructor panics"),
        "the panic reached the caller: {}",
        run.stderr
    );
}

#[test]
fn a_handler_abandoned_by_the_timeout_cannot_change_the_exit_status() {
    let run = run(&["abandoned-exit"]);
    assert_eq!(
        run.lines(),
        [
            "abandoned handler calls atexit::exit(9)",
            "next handler ran, saw the abandoned one exit: true",
            "oldest handler ran",
            "static handler ran"
        ]
    );
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    let reports = run.reports();
    assert_eq!(reports.len(), 1, "{}", run.stderr);
    assert!(
        reports[0].starts_with(
            "atexit: handler `reliability::abandoned_exit::{{closure}}` (tests/support/examples/reliability.rs:"
        ),
        "{}",
        reports[0]
    );
    assert!(
        reports[0].contains("did not finish within 300ms"),
        "{}",
        reports[0]
    );
}

#[test]
fn a_malformed_atexit_timeout_ms_is_reported_once_and_changes_nothing_else() {
    let run = run_bounded(
        command("reliability")
            .arg("plain")
            .env("ATEXIT_TIMEOUT_MS", "abc"),
        LIMIT,
    );
    assert_eq!(run.lines(), ["handler ran", "static handler ran"]);
    assert_eq!(run.code(), Some(4));
    let reports = run.reports();
    assert_eq!(reports.len(), 1, "{}", run.stderr);
    assert!(
        reports[0].contains("ATEXIT_TIMEOUT_MS") && reports[0].contains("abc"),
        "{}",
        reports[0]
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn an_empty_atexit_timeout_ms_means_not_set() {
    let run = run_bounded(
        command("reliability")
            .arg("plain")
            .env("ATEXIT_TIMEOUT_MS", ""),
        LIMIT,
    );
    assert_eq!(run.lines(), ["handler ran", "static handler ran"]);
    assert_eq!(run.code(), Some(4));
    run.assert_quiet();
}
