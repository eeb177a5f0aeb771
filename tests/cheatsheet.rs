//! Every example of the Python cheat sheet, run as a process and checked by its
//! output, files and exit status.

mod common;

use common::{run, scratch_dir};

#[test]
fn basic_runs_handlers_newest_first() {
    let run = run("basic", &[]);
    assert_eq!(
        run.lines(),
        [
            "Program running...",
            "Goodbye, User!",
            "Cleanup: Closing resources..."
        ]
    );
    assert_eq!(run.code(), Some(0));
    assert_eq!(run.stderr, "");
}

#[test]
fn decorator_runs_the_static_handler() {
    let run = run("decorator", &[]);
    assert_eq!(run.lines(), ["Working...", "Cleanup executed"]);
    assert_eq!(run.code(), Some(0));
    run.assert_quiet();
}

#[test]
fn temp_files_are_deleted_on_every_exit_path() {
    for (mode, expected_code) in [("return", 0), ("exit", 2), ("panic", 101)] {
        let dir = scratch_dir(&format!("temp-files-{mode}"));
        let run = run("temp_files", &[dir.to_str().unwrap(), mode]);
        assert_eq!(run.code(), Some(expected_code), "{mode}: {}", run.stderr);
        for name in ["temp1.txt", "temp2.txt"] {
            let path = dir.join(name);
            assert!(!path.exists(), "{mode}: {} was left behind", path.display());
            assert!(run.stdout.contains(&format!("Removed: {}", path.display())));
        }
        assert!(run.reports().is_empty(), "{mode}: {:?}", run.reports());
    }
}

#[test]
fn database_disconnects_at_exit() {
    let run = run("database", &[]);
    assert_eq!(
        run.lines(),
        [
            "Connected to mydb",
            "Using database mydb: SELECT 1",
            "Disconnecting from mydb"
        ]
    );
    assert_eq!(run.code(), Some(0));
    run.assert_quiet();
}

#[test]
fn unregistered_callbacks_do_not_run() {
    let removed = run("unregister", &[]);
    assert_eq!(
        removed.lines(),
        [
            "pending: 3",
            "removed by function: 2",
            "removed by handle: true",
            "removed again: false",
            "pending: 0"
        ]
    );
    assert_eq!(removed.code(), Some(0));
    removed.assert_quiet();

    let kept = run("unregister", &["keep"]);
    assert_eq!(
        kept.lines(),
        [
            "pending: 3",
            "pending: 3",
            "closure ran",
            "my_cleanup ran",
            "static_cleanup ran"
        ]
    );
    assert_eq!(kept.code(), Some(0));
    kept.assert_quiet();
}

#[test]
fn shutdown_log_is_appended_at_each_exit() {
    let log = scratch_dir("shutdown-log").join("shutdown.log");
    for _ in 0..2 {
        let run = run("shutdown_log", &[log.to_str().unwrap()]);
        assert_eq!(run.code(), Some(0));
    }
    let text = std::fs::read_to_string(&log).expect("the handler wrote the log");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for line in lines {
        let seconds: u64 = line
            .strip_prefix("Program terminated at ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("unexpected log line {line:?}"));
        assert!(seconds > 1_700_000_000, "a current timestamp: {seconds}");
    }
}

#[test]
fn ordering_is_newest_first_within_a_priority() {
    let run = run("ordering", &[]);
    let output: Vec<&str> = run
        .lines()
        .into_iter()
        .skip_while(|line| !line.starts_with("Priority 1"))
        .collect();
    assert_eq!(
        output,
        [
            "Priority 1: flush buffers before anything at priority 0",
            "Third (registered last, runs first)",
            "Second",
            "First (registered first, runs last)",
            "Priority -1: close the log after everything at priority 0"
        ]
    );
    // The table printed in main lists the same order, with locations.
    let table: Vec<&str> = run.lines().into_iter().take(6).collect();
    assert!(table[0].starts_with("  # priority  kind"), "{table:?}");
    assert!(table[1].contains("ordering::flush_buffers") && table[1].contains("static"));
    assert!(table[2].contains("ordering::third") && table[2].contains("dynamic"));
    assert!(table[2].contains("examples/ordering.rs:"));
    assert!(table[5].contains("ordering::close_log"));
    run.assert_quiet();
}

#[test]
fn class_method_cleans_up_every_instance() {
    let run = run("class_method", &[]);
    assert_eq!(
        run.lines(),
        ["Cleaning up Service1", "Cleaning up Service2"]
    );
    assert_eq!(run.code(), Some(0));
    run.assert_quiet();
}

#[test]
fn context_manager_releases_once_at_scope_end_or_at_exit() {
    let scoped = run("context_manager", &[]);
    assert_eq!(
        scoped.lines(),
        [
            "Acquired scoped",
            "Using scoped",
            "Released scoped",
            "After the scope",
            "Acquired long-lived",
            "Using long-lived",
            "Released long-lived",
            "Done"
        ]
    );

    let exited = run("context_manager", &["exit"]);
    assert_eq!(
        exited.lines(),
        [
            "Acquired scoped",
            "Using scoped",
            "Released scoped",
            "After the scope",
            "Acquired long-lived",
            "Using long-lived",
            "Released long-lived"
        ]
    );
    assert_eq!(exited.code(), Some(4));
}

#[test]
fn handlers_run_on_return_exit_and_panic_but_not_on_exit_without_cleanup_or_abort() {
    let returned = run("when_not_run", &["return"]);
    assert_eq!(returned.lines(), ["returning from main", "cleanup ran"]);
    assert_eq!(returned.code(), Some(0));

    let exited = run("when_not_run", &["exit"]);
    assert_eq!(exited.lines(), ["cleanup ran"]);
    assert_eq!(exited.code(), Some(3));

    let panicked = run("when_not_run", &["panic"]);
    assert_eq!(panicked.lines(), ["cleanup ran"]);
    assert_eq!(panicked.code(), Some(101), "the panic's status is kept");
    assert!(panicked.stderr.contains("unhandled error in main"));

    let underscore_exit = run("when_not_run", &["_exit"]);
    // Windows' `_exit` is `ExitProcess`, whose callbacks the runtime catches.
    let expected = if cfg!(windows) { "cleanup ran\n" } else { "" };
    assert_eq!(underscore_exit.stdout.replace("\r\n", "\n"), expected);
    assert_eq!(underscore_exit.code(), Some(1));

    let aborted = run("when_not_run", &["abort"]);
    assert_eq!(aborted.stdout, "");
    aborted.assert_aborted();

    #[cfg(unix)] // a segmentation fault is a Unix signal
    {
        let crashed = run("when_not_run", &["crash"]);
        assert_eq!(crashed.stdout, "");
        assert_eq!(crashed.signal(), Some(SIGSEGV));
    }
}

#[test]
fn mistakes_captures_by_value_and_reports_failing_handlers() {
    let run = run("mistakes", &[]);
    assert_eq!(
        run.lines(),
        ["Cleanup b.txt", "Cleanup a.txt", "good handler ran"],
        "each closure kept its own name"
    );
    assert_eq!(run.code(), Some(0), "failures do not change the status");
    let reports = run.reports();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(reports[0].contains("`mistakes::panicking_handler` (examples/mistakes.rs:"));
    assert!(reports[0].ends_with("panicked: panic in cleanup"));
    assert!(reports[1].contains("`mistakes::bad_handler` (examples/mistakes.rs:"));
    assert!(reports[1].ends_with("failed: Error in cleanup"));
}

#[cfg(unix)]
const SIGSEGV: i32 = 11;
