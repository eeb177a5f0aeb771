//! Guards at exit: a pending guard runs once, in its place among the other handlers,
//! wherever it was made and whichever thread ended; a guard dropped while the exit
//! runs on another thread runs exactly once; across `fork()`, a guard runs only in
//! the process that owns it.

mod common;

use std::time::Duration;

use common::{command, run_bounded, Run};

fn run_guards(mode: &str) -> Run {
    run_bounded(command("guards").arg(mode), Duration::from_secs(30))
}

#[test]
fn pending_guards_run_once_at_exit_in_order_among_the_other_handlers_whatever_their_thread() {
    let run = run_guards("order");
    assert_eq!(run.code(), Some(3), "{}", run.stderr);
    run.assert_quiet();
    assert_eq!(
        run.lines(),
        [
            // 9 dynamic handlers and guards, and the static one.
            "pending 10",
            "listed 1:false 0:false 0:false 0:false 0:false 0:false 0:false 0:false 0:false 0:true",
            // Dropped on `main` after the thread that made it ended.
            "guard sent by a thread that ended, dropped by main",
            "pending after dropping one 9",
            // Then the exit: priority first, then newest first, guards included.
            "dynamic, priority 1, registered first",
            "dynamic, registered last",
            "guard held by a running thread",
            "guard forgotten by a thread that ended",
            "dynamic, registered after the sent guard",
            "guard sent by a thread that ended",
            "guard kept by main",
            "dynamic, registered first",
            "static handler",
        ]
    );
}

#[test]
fn a_guard_dropped_while_a_run_or_the_exit_takes_it_on_another_thread_runs_exactly_once() {
    let run = run_guards("race");
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    assert_eq!(
        run.lines(),
        [
            // The first explicit run takes it.
            "static handler",
            "explicit runs: every guard ran once",
            "exit: every guard ran once",
        ],
        "{}",
        run.stderr
    );
}

#[test]
fn guards_of_more_threads_than_the_process_makes_blocks_for_run_once_each() {
    let run = run_guards("many-threads");
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    run.assert_quiet();
    let lines = run.lines();
    let (before_exit, at_exit) = lines.split_at(
        lines
            .iter()
            .position(|line| line.starts_with("pending "))
            .expect("main says what is pending before it exits"),
    );
    // The 100 forgotten guards and the static handler.
    assert_eq!(at_exit[0], "pending 101", "{lines:?}");
    let sorted = |mut lines: Vec<String>| {
        lines.sort();
        lines
    };
    let expected = |what: &str| sorted((0..100).map(|index| format!("{what} {index}")).collect());
    assert_eq!(
        sorted(before_exit.iter().map(|line| line.to_string()).collect()),
        expected("dropped")
    );
    let mut ran_at_exit: Vec<String> = at_exit[1..].iter().map(|line| line.to_string()).collect();
    assert_eq!(
        ran_at_exit.pop().as_deref(),
        Some("static handler"),
        "{lines:?}"
    );
    assert_eq!(sorted(ran_at_exit), expected("forgotten"));
}

#[test]
fn a_guard_made_by_a_handler_at_exit_runs_next() {
    let run = run_bounded(&mut command("guard_made_at_exit"), Duration::from_secs(30));
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    run.assert_quiet();
    assert_eq!(
        run.lines(),
        [
            "static declared last",
            "static that makes a guard",
            "guard made by a static handler",
            "static declared first",
            "dynamic handler registered at exit",
            "guard made by a dynamic handler",
        ]
    );
}

#[cfg(unix)] // fork is Unix-only
fn run_fork(mode: &str) -> (Vec<String>, String, String) {
    run_guards(mode).fork_lines()
}

#[test]
#[cfg(unix)] // fork is Unix-only
fn a_forked_child_runs_its_own_guards_but_not_its_parents_of_any_thread() {
    let (lines, parent, child) = run_fork("fork");
    assert_eq!(
        lines,
        [
            format!("parent {parent} pending 3"),
            format!("child {child} pending 1"),
            format!("child's guard ran in {child}"),
            "child exited with 0".into(),
            format!("parent's guard kept by main ran in {parent}"),
            format!("parent's guard forgotten by a thread ran in {parent}"),
            "static handler".into(),
        ]
    );
}

#[test]
#[cfg(unix)] // fork is Unix-only
fn a_forked_child_that_adopts_runs_its_parents_guards_after_its_own() {
    let (lines, parent, child) = run_fork("fork-adopt");
    assert_eq!(
        lines,
        [
            format!("parent {parent} pending 3"),
            format!("child {child} pending 1"),
            // Two guards and the static handler.
            "child adopted 3".into(),
            format!("child's guard ran in {child}"),
            format!("parent's guard forgotten by a thread ran in {child}"),
            format!("parent's guard kept by main ran in {child}"),
            "static handler".into(),
            "child exited with 0".into(),
            format!("parent's guard kept by main ran in {parent}"),
            format!("parent's guard forgotten by a thread ran in {parent}"),
            "static handler".into(),
        ]
    );
}
