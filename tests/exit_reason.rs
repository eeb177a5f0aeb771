//! `exit_reason()` tells every kind of handler why the process exits, for every way
//! to exit; `None` outside runs.

mod common;

use std::time::Duration;

use common::{command, exit_with, run_bounded, Run};

fn run_reason(mode: &str) -> Run {
    run_bounded(command("reason").arg(mode), Duration::from_secs(20))
}

/// The lines the three handlers print, newest first, all seeing `reason`.
fn seen_by_all(reason: &str) -> Vec<String> {
    ["guard", "dynamic", "static"]
        .iter()
        .map(|handler| format!("{handler}: Some({reason})"))
        .collect()
}

fn assert_reason(mode: &str, reason: &str, code: i32) {
    let run = run_reason(mode);
    let mut expected = vec!["outside: None".to_owned()];
    expected.extend(seen_by_all(reason));
    assert_eq!(run.lines(), expected, "{mode}: {}", run.stderr);
    assert_eq!(run.code(), Some(code), "{mode}");
}

#[test]
fn returning_from_main_is_exit_0() {
    assert_reason("return", &exit_with(0), 0);
}

#[test]
fn std_process_exit_is_exit_with_its_status() {
    assert_reason("exit", &exit_with(3), 3);
    assert_reason("exit-101", &exit_with(101), 101);
}

#[test]
fn atexit_exit_outside_handlers_is_exit_with_its_status() {
    assert_reason("atexit-exit", &exit_with(4), 4);
}

#[test]
fn main_returning_err_or_an_exit_code_is_exit_with_that_status() {
    assert_reason("err", &exit_with(1), 1);
    assert_reason("exit-code", &exit_with(6), 6);
}

#[test]
fn a_panic_in_main_is_panic_and_the_status_stays_101() {
    let run = run_reason("panic");
    let mut expected = vec!["outside: None".to_owned()];
    expected.extend(seen_by_all("Panic"));
    assert_eq!(run.lines(), expected, "{}", run.stderr);
    assert_eq!(run.code(), Some(101));
    assert!(run.stderr.contains("main panics"), "{}", run.stderr);
}

#[test]
fn handlers_after_one_that_calls_atexit_exit_see_its_code() {
    let run = run_reason("handler-exit");
    let mut expected = vec![
        "outside: None".to_owned(),
        format!("exiting handler: Some({})", exit_with(0)),
    ];
    expected.extend(seen_by_all("Exit(9)"));
    assert_eq!(run.lines(), expected, "{}", run.stderr);
    assert_eq!(run.code(), Some(9));
}

#[test]
fn after_a_panic_in_main_atexit_exit_sets_the_code_and_the_reason() {
    let run = run_reason("panic-then-exit");
    let mut expected = vec![
        "outside: None".to_owned(),
        "exiting handler: Some(Panic)".to_owned(),
    ];
    expected.extend(seen_by_all("Exit(3)"));
    assert_eq!(run.lines(), expected, "{}", run.stderr);
    assert_eq!(run.code(), Some(3));
}

#[test]
#[cfg(unix)] // Unix signals (Windows console events cannot be raised under headless Wine)
fn a_caught_signal_is_signal_with_its_number() {
    let run = run_reason("signal");
    let mut expected = vec!["outside: None".to_owned()];
    expected.extend(seen_by_all("Signal(15)"));
    assert_eq!(run.lines(), expected, "{}", run.stderr);
    assert_eq!(run.signal(), Some(15));
}

#[test]
fn run_exit_handlers_is_explicit_and_none_once_it_returned() {
    let run = run_reason("explicit");
    let mut expected = vec!["outside: None".to_owned()];
    expected.extend(seen_by_all("Explicit"));
    expected.push("after the early run: None".to_owned());
    assert_eq!(run.lines(), expected, "{}", run.stderr);
    assert_eq!(run.code(), Some(0));
}
