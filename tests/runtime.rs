//! The runtime's behaviour at exit, proven by processes that exit: failures, threads,
//! the registry during the exit run, `atexit::exit`, tracing, other crates' handlers.

mod common;

use std::time::Duration;

use common::{command, run, run_bounded, run_command};

#[test]
fn every_third_of_1000_handlers_panics_and_the_rest_run_with_the_status_kept() {
    let run = run("panics", &[]);
    assert_eq!(run.code(), Some(5));
    assert_eq!(run.lines(), ["ran 666"]);
    let reports = run.reports();
    assert_eq!(reports.len(), 334, "one report per panicking handler");
    assert!(reports.iter().all(|line| line.starts_with(
        "atexit: handler `panics::main::{{closure}}` (tests/support/examples/panics.rs:"
    ) && line.contains(") panicked: handler ")));
    // Newest first: handler 999 was registered last and panics first.
    assert!(
        reports[0].ends_with("panicked: handler 999 fails"),
        "{}",
        reports[0]
    );
}

#[test]
fn threads_registering_10000_each_run_every_handler_exactly_once() {
    for threads in ["1", "4", "8"] {
        let run = run("threads", &[threads]);
        let total: usize = threads.parse::<usize>().unwrap() * 10_000;
        assert_eq!(
            run.lines(),
            [
                format!("pending {}", total + 1),
                format!("ran {total} of {total}, twice 0")
            ]
        );
        assert_eq!(run.code(), Some(0));
    }
}

#[test]
fn registrations_ordered_across_threads_run_newest_first_at_exit() {
    // Ordered through a lock that threads race for, a channel ring, and joins: each
    // registration happens before the next, on another thread than the one before
    // it most of the time, so the exit must run them exactly newest first.
    for mode in ["lock", "channel", "join"] {
        let run = run("happens_before", &[mode]);
        assert_eq!(
            run.lines(),
            ["20000 handlers ran newest first"],
            "{mode}: {}",
            run.stderr
        );
        assert_eq!(run.code(), Some(0), "{mode}");
    }
}

#[test]
fn a_handler_registered_during_the_exit_run_runs_once() {
    let run = run("during_exit", &["register"]);
    assert_eq!(
        run.lines(),
        [
            "main returns",
            "registering handler ran",
            "registered during exit ran",
            "oldest handler ran, is_exiting=true"
        ]
    );
    assert_eq!(run.code(), Some(0));
}

#[test]
fn a_handler_can_unregister_one_that_would_run_after_it() {
    let run = run("during_exit", &["unregister"]);
    assert_eq!(
        run.lines(),
        [
            "main returns",
            "unregistering handler ran: removed=true",
            "oldest handler ran, is_exiting=true"
        ]
    );
}

#[test]
fn atexit_exit_in_handlers_ends_them_runs_the_rest_and_the_last_code_wins() {
    let run = run("during_exit", &["exit"]);
    assert_eq!(
        run.lines(),
        [
            "main returns",
            "first exit handler: calling atexit::exit(7)",
            "second exit handler: calling atexit::exit(9)",
            "oldest handler ran, is_exiting=true"
        ]
    );
    assert_eq!(run.code(), Some(9));
    assert!(
        run.reports().is_empty(),
        "exiting is not a failure: {}",
        run.stderr
    );
}

#[test]
#[cfg(target_os = "linux")] // std checks for a re-entered exit on Linux only
fn std_process_exit_in_a_handler_stops_its_thread_which_is_why_atexit_exit_exists() {
    // The exit began in std (`main` returned), which lets one thread exit: the
    // run's thread, where the handler calls it, stops for good. Only the handler
    // timeout lets the run go on; the code the handler passed is lost.
    let run = run_command(
        command("during_exit")
            .arg("std_exit")
            .env("ATEXIT_TIMEOUT_MS", "300"),
    );
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    assert_eq!(
        run.lines(),
        ["main returns", "oldest handler ran, is_exiting=true"]
    );
    let reports = run.reports();
    assert_eq!(reports.len(), 1, "{}", run.stderr);
    assert!(
        reports[0].starts_with("atexit: handler `during_exit::main::{{closure}}` (")
            && reports[0].ends_with("did not finish within 300ms; abandoned it and went on"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_library_crates_handlers_run_in_a_binary_that_uses_it() {
    let run = run("linked", &[]);
    let lines = run.lines();
    assert_eq!(
        lines[..2],
        ["support linked", "support: early (priority 100)"]
    );
    // At priority 0 each crate's handlers stay together, in reverse declaration order;
    // which crate goes first is fixed but arbitrary.
    let support = ["support: second", "support: first"];
    let binary = ["binary: own handler"];
    let rest = &lines[2..];
    assert!(
        rest == [&support[..], &binary[..]].concat()
            || rest == [&binary[..], &support[..]].concat(),
        "{rest:?}"
    );
}

#[test]
fn a_library_crate_nothing_refers_to_is_not_linked() {
    let run = run("unlinked", &[]);
    assert_eq!(
        run.lines(),
        ["support handlers pending: 0", "binary: own handler"],
        "the documented caveat: `use atexit_test_support as _;` is needed"
    );
}

#[test]
fn atexit_trace_logs_the_reason_then_each_handler_with_its_location_and_duration() {
    let run = run_command(command("basic").env("ATEXIT_TRACE", "1"));
    let reports = run.reports();
    assert_eq!(reports.len(), 5, "{reports:?}");
    let reason = if cfg!(all(target_os = "linux", target_env = "gnu")) {
        "exit with status 0"
    } else {
        "exit"
    };
    assert_eq!(reports[0], format!("atexit: exit run started: {reason}"));
    let reports = &reports[1..];
    assert_eq!(
        reports[0],
        "atexit: running `basic::main::{{closure}}` (examples/basic.rs:17)"
    );
    assert!(reports[1]
        .starts_with("atexit: finished `basic::main::{{closure}}` (examples/basic.rs:17) in "));
    assert_eq!(
        reports[2],
        "atexit: running `basic::cleanup` (examples/basic.rs:14)"
    );
    assert!(reports[3].starts_with("atexit: finished `basic::cleanup`"));
    assert_eq!(run.lines().len(), 3, "tracing goes to stderr only");
}

#[test]
fn the_tour_runs_its_handlers_on_every_exit_path() {
    let flush = "[static, priority 10] flushing logs";
    let close = "[static, priority 5] closing 2 pooled connections";
    let guard = "[guard] session released";
    let remove_b = "[dynamic] removing b.txt";
    let remove_a = "[dynamic] removing a.txt";
    let goodbye = "[static, priority 0] goodbye: declared first, so it runs last";
    // Returning and unwinding drop the guard before the exit run; `exit` skips
    // destructors, so the exit run releases it, as the newest handler at priority 0.
    let dropped_first = [guard, flush, close, remove_b, remove_a, goodbye];
    let released_at_exit = [flush, close, guard, remove_b, remove_a, goodbye];
    for (mode, code, expected) in [
        ("return", 0, dropped_first),
        ("panic", 101, dropped_first),
        ("exit", 3, released_at_exit),
    ] {
        let run = run("tour", &[mode]);
        assert_eq!(run.code(), Some(code), "{mode}");
        let lines = run.lines();
        let exiting = lines
            .iter()
            .position(|line| *line == "--- exiting ---")
            .unwrap();
        assert_eq!(lines[exiting + 1..], expected, "{mode}");
        let failure = run.reports()[0];
        assert!(failure.starts_with("atexit: handler `tour::check_disk` (examples/tour.rs:"));
    }
}

#[test]
fn priorities_interleave_static_and_dynamic_handlers() {
    let run = run("priorities", &[]);
    assert_eq!(
        run.lines(),
        [
            "dynamic 10",
            "dynamic 5, newer",
            "dynamic 5, older",
            "static 5",
            "dynamic 0",
            "static 0, declared second",
            "static 0, declared first",
            "dynamic -5",
            "static -5",
        ]
    );
    run.assert_quiet();
}

#[test]
fn a_handler_registered_by_another_thread_during_the_exit_run_runs_once() {
    let run = run("during_exit", &["thread"]);
    assert_eq!(
        run.lines(),
        [
            "main returns",
            "handler that started a thread ran",
            "registered by another thread ran",
            "oldest handler ran, is_exiting=true"
        ]
    );
}

#[test]
fn handlers_run_early_by_two_threads_run_once_and_never_again_at_exit() {
    let run = run("explicit_run", &["run"]);
    let mut lines = run.lines();
    // The two runs print concurrently: the last two handlers may come out either way.
    lines[..2].sort_unstable();
    assert_eq!(
        lines,
        [
            "oldest dynamic handler ran",
            "static handler ran",
            "ran early: 100, pending: 0",
            "registered after the early run ran"
        ]
    );
    assert_eq!(run.code(), Some(0));
    run.assert_quiet();
}

#[test]
fn atexit_exit_inside_an_early_run_finishes_the_run_then_exits() {
    let run = run("explicit_run", &["exit-inside"]);
    assert_eq!(run.lines(), ["older handler ran", "static handler ran"]);
    assert_eq!(run.code(), Some(4));
    run.assert_quiet();
}

#[test]
fn cleared_handlers_do_not_run_at_exit() {
    let run = run("explicit_run", &["clear"]);
    assert_eq!(
        run.lines(),
        ["cleared 2"],
        "one dynamic and one static handler"
    );
    assert_eq!(run.code(), Some(0));
}

#[test]
fn a_dismissed_guard_runs_neither_at_once_nor_at_exit() {
    let run = run("explicit_run", &["dismiss"]);
    assert_eq!(run.lines(), ["pending 0"]);
    run.assert_quiet();
}

#[test]
fn the_process_waits_for_a_handler_another_thread_is_running() {
    let run = run("explicit_run", &["in-flight"]);
    let lines = run.lines();
    assert_eq!(lines.first(), Some(&"slow handler started"));
    assert_eq!(lines.last(), Some(&"slow handler finished"), "{lines:?}");
    assert_eq!(run.code(), Some(0));
    run.assert_quiet();
}

#[test]
fn handlers_taken_by_an_early_run_on_another_thread_are_never_lost() {
    for _ in 0..50 {
        let run = run("explicit_run", &["overlap"]);
        let handlers = run.lines().iter().filter(|line| **line == "h").count();
        assert_eq!(
            handlers, 2000,
            "each handler ran once, in one run or the other"
        );
        assert_eq!(run.code(), Some(0));
    }
}

#[test]
fn atexit_exit_in_a_guard_closure_on_another_thread_during_the_exit_sets_the_code() {
    let run = run_bounded(
        command("explicit_run").arg("guard-exit"),
        Duration::from_secs(20),
    );
    assert_eq!(run.lines(), ["main returns", "static handler ran"]);
    assert_eq!(run.code(), Some(7));
    run.assert_quiet();
}

#[test]
fn the_exit_waits_a_bounded_time_for_a_handler_that_never_finishes_on_another_thread() {
    let run = run_bounded(
        command("explicit_run").arg("guard-blocked"),
        Duration::from_secs(20),
    );
    assert_eq!(run.lines(), ["main returns", "static handler ran"]);
    assert_eq!(run.code(), Some(0));
    assert_eq!(
        run.reports(),
        ["atexit: 1 handler(s) still running on other threads; exiting without them"]
    );
}

#[test]
fn handlers_lists_the_pending_handlers_in_the_order_the_exit_runs_them() {
    let run = run("listing", &[]);
    let lines = run.lines();
    let separator = lines.iter().position(|line| *line == "---").unwrap();
    let listed: Vec<&str> = lines[..separator]
        .iter()
        .map(|line| line.strip_prefix("listed ").unwrap())
        .collect();
    let ran: Vec<&str> = lines[separator + 1..]
        .iter()
        .map(|line| line.strip_prefix("ran ").unwrap())
        .collect();
    let expected = [
        "dynamic_ten",
        "dynamic_five_new",
        "dynamic_five_old",
        "static_five",
        "guarded",
        "dynamic_zero",
        "static_zero_second",
        "static_zero_first",
        "dynamic_minus_five",
        "static_minus_five",
    ];
    assert_eq!(listed, expected);
    assert_eq!(ran, expected);
    run.assert_quiet();
}

#[test]
fn a_handler_registered_by_a_guard_closure_the_exit_waits_for_still_runs() {
    let run = run_bounded(
        command("explicit_run").arg("guard-registers-late"),
        Duration::from_secs(20),
    );
    assert_eq!(
        run.lines(),
        [
            "main returns",
            "static handler ran",
            "guard closure registered a follow-up",
            "follow-up handler ran"
        ]
    );
    assert_eq!(run.code(), Some(0));
    run.assert_quiet();
}

#[test]
fn overlapping_early_runs_each_see_the_explicit_reason() {
    let run = run_bounded(
        command("explicit_run").arg("overlap-reason"),
        Duration::from_secs(20),
    );
    let mut lines = run.lines();
    assert_eq!(lines.pop(), Some("after the runs: None"));
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "first sees Some(Explicit)",
            "second sees Some(Explicit)",
            "static handler ran"
        ]
    );
    run.assert_quiet();
}
