//! The exit order of static handlers must not depend on how the program was built,
//! although the linker lays the slice out differently in each build.

mod common;

use std::path::Path;
use std::process::Command;

use common::{build_example_apart, example, run_command};

/// Builds `order_across_builds` with a profile and extra settings in a target
/// directory of its own (so this does not wait on the outer cargo), and runs it.
fn build_and_run(label: &str, args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let binary = build_example_apart(
        &format!("build-order/{label}"),
        "order_across_builds",
        args,
        env,
    );
    run_lines(&binary)
}

fn run_lines(binary: &Path) -> Vec<String> {
    let run = run_command(Command::new(binary).env("RUST_BACKTRACE", "0"));
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    run.lines().into_iter().map(str::to_owned).collect()
}

/// The rule the order follows; which of two files goes first is fixed but arbitrary.
fn assert_follows_the_ordering_rule(lines: &[String]) {
    let position = |line: &str| {
        lines
            .iter()
            .position(|candidate| candidate == line)
            .unwrap_or_else(|| panic!("{line:?} missing from {lines:#?}"))
    };
    assert_eq!(lines.len(), 12, "{lines:#?}");
    assert_eq!(lines[0], "support: early (priority 100)");
    let mut priority_3 = lines[1..3].to_vec();
    priority_3.sort();
    assert_eq!(priority_3, ["main.rs: priority 3", "other.rs: priority 3"]);
    assert_eq!(
        lines[3..5],
        ["dynamic: 2", "dynamic: 1"],
        "dynamic, newest first"
    );
    // Then each file's priority-0 handlers, together, in reverse declaration order.
    for file in [
        &["main.rs: c", "main.rs: b", "main.rs: a"][..],
        &["other.rs: b", "other.rs: a"],
        &["support: second", "support: first"],
    ] {
        let first = position(file[0]);
        assert!(first >= 5);
        assert_eq!(lines[first..first + file.len()], *file, "{lines:#?}");
    }
}

#[test]
fn static_handlers_run_in_the_same_order_in_every_build() {
    let debug = run_lines(&example("order_across_builds"));
    assert_follows_the_ordering_rule(&debug);
    let release = build_and_run("release", &["--release"], &[]);
    assert_eq!(release, debug, "release build");
    let one_unit = build_and_run(
        "release-cgu1-lto",
        &["--release"],
        &[
            ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1"),
            ("CARGO_PROFILE_RELEASE_LTO", "fat"),
        ],
    );
    assert_eq!(one_unit, debug, "codegen-units=1 with LTO");
    let no_incremental = build_and_run(
        "debug-cgu1-no-incremental",
        &[],
        &[
            ("CARGO_PROFILE_DEV_CODEGEN_UNITS", "1"),
            ("CARGO_INCREMENTAL", "0"),
        ],
    );
    assert_eq!(
        no_incremental, debug,
        "debug, codegen-units=1, no incremental"
    );
}
