//! Async handlers on tokio, proven by the `async_cleanup` example: a TCP peer in the
//! test must receive the goodbye, the file written with `tokio::fs` must be on disk,
//! and sync and async handlers must run in one order, whichever way the program
//! exits. Built only with the `tokio` feature.

#![cfg(feature = "tokio")]

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{command, run_bounded, scratch_dir, Run};

/// The exit order: priority 10, then dynamic newest first, then static newest first.
const ORDER: [&str; 5] = [
    "async: said goodbye",
    "async: dynamic handler ran",
    "sync: dynamic handler ran",
    "async: wrote the state file",
    "sync: static handler ran",
];

/// Runs the example in `mode` with a listening peer; returns how it ended, what the
/// peer received, and the state file's contents.
fn run_example(mode: &str, env: &[(&str, &str)]) -> (Run, String, Option<String>) {
    let peer = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let address = peer.local_addr().unwrap().to_string();
    let (received, receiving) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        if let Ok((mut stream, _)) = peer.accept() {
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let _ = stream.read_to_string(&mut text);
        }
        let _ = received.send(text);
    });
    let file = scratch_dir(&format!("async-{mode}")).join("state");
    let run = run_bounded(
        command("async_cleanup")
            .arg(&file)
            .arg(&address)
            .arg(mode)
            .envs(env.iter().copied()),
        Duration::from_secs(30),
    );
    let goodbye = receiving
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    (run, goodbye, std::fs::read_to_string(file).ok())
}

fn assert_every_handler_ran(mode: &str, run: &Run, goodbye: &str, state: Option<String>) {
    assert_eq!(run.lines(), ORDER, "{mode}: {}", run.stderr);
    assert_eq!(goodbye, "goodbye\n", "{mode}");
    assert_eq!(state.as_deref(), Some("state flushed\n"), "{mode}");
    assert!(run.reports().is_empty(), "{mode}: {}", run.stderr);
}

#[test]
fn after_returning_from_tokio_main() {
    let (run, goodbye, state) = run_example("return", &[]);
    assert_every_handler_ran("return", &run, &goodbye, state);
    assert_eq!(run.code(), Some(0));
}

#[test]
#[cfg(not(windows))] // see the Windows test below
fn after_std_process_exit_in_a_task_on_a_runtime_worker() {
    let (run, goodbye, state) = run_example("exit-in-task", &[]);
    assert_every_handler_ran("exit-in-task", &run, &goodbye, state);
    assert_eq!(run.code(), Some(3));
}

#[test]
#[cfg(not(windows))] // see the Windows test below
fn after_std_process_exit_inside_block_on_on_the_main_thread() {
    let (run, goodbye, state) = run_example("exit-in-block-on", &[]);
    assert_every_handler_ran("exit-in-block-on", &run, &goodbye, state);
    assert_eq!(run.code(), Some(4));
}

/// Windows: after `std::process::exit` the handlers run as the process detaches,
/// where no thread can start, so no async handler can run: each is reported, the
/// others run, and the status is kept.
#[test]
#[cfg(windows)]
fn after_std_process_exit_async_handlers_are_reported_as_skipped() {
    let (run, goodbye, state) = run_example("exit-in-block-on", &[]);
    assert_eq!(
        run.lines(),
        ["sync: dynamic handler ran", "sync: static handler ran"],
        "{}",
        run.stderr
    );
    let reports = run.reports();
    assert_eq!(reports.len(), 3, "{}", run.stderr);
    for report in reports {
        assert!(
            report.starts_with("atexit: skipped async handler `async_cleanup::")
                && report.ends_with(
                    "no thread may start while a library is unloaded or the process detaches"
                ),
            "{report}"
        );
    }
    assert_eq!(goodbye, "");
    assert_eq!(state, None);
    assert_eq!(run.code(), Some(4));
}

#[test]
#[cfg(unix)] // Unix signals (Windows console events cannot be raised under headless Wine)
fn after_a_caught_signal_while_the_programs_runtime_is_busy() {
    let (run, goodbye, state) = run_example("signal", &[]);
    assert_every_handler_ran("signal", &run, &goodbye, state);
    assert_eq!(run.signal(), Some(15));
}

#[test]
fn in_a_program_with_no_runtime_of_its_own() {
    let (run, goodbye, state) = run_example("no-runtime", &[]);
    assert_every_handler_ran("no-runtime", &run, &goodbye, state);
    assert_eq!(run.code(), Some(0));
}

#[test]
fn a_future_that_never_completes_is_abandoned_after_the_timeout() {
    let (run, goodbye, state) = run_example("hung", &[]);
    assert_eq!(run.lines(), ORDER, "{}", run.stderr);
    assert_eq!(goodbye, "goodbye\n");
    assert_eq!(state.as_deref(), Some("state flushed\n"));
    let reports = run.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].starts_with(
            "atexit: handler `core::future::pending::Pending<()>` (examples/async_cleanup.rs:"
        ) && reports[0].ends_with("did not finish within 300ms; abandoned it and went on"),
        "{reports:?}"
    );
    assert_eq!(run.code(), Some(0));
}

#[test]
fn an_async_fn_returning_err_is_reported_and_the_rest_run() {
    let (run, goodbye, state) = run_example("err", &[]);
    let expected: Vec<&str> = ORDER
        .iter()
        .copied()
        .filter(|line| *line != "async: wrote the state file")
        .collect();
    assert_eq!(run.lines(), expected, "{}", run.stderr);
    assert_eq!(goodbye, "goodbye\n");
    assert_eq!(state, None);
    let reports = run.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].starts_with(
            "atexit: handler `async_cleanup::write_state` (examples/async_cleanup.rs:"
        ) && reports[0].ends_with(") failed: the disk is full"),
        "{reports:?}"
    );
    assert_eq!(run.code(), Some(0));
}
