//! `#[on_exit]` used as crates use it: renamed, re-exported, from `macro_rules!`, in a
//! `#![no_std]` crate of edition 2015, in build-script output, under a wrapping
//! attribute. Each handler must run, once, in the documented order.

mod common;

use common::{build_example_apart, command_for, example, run_command};

fn run_lines(binary: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let run = run_command(&mut command_for(binary));
    assert_eq!(run.code(), Some(0), "{run:?}");
    (
        run.lines().into_iter().map(str::to_owned).collect(),
        run.stderr.lines().map(str::to_owned).collect(),
    )
}

fn position(lines: &[String], line: &str) -> usize {
    lines
        .iter()
        .position(|candidate| candidate == line)
        .unwrap_or_else(|| panic!("{line:?} missing from {lines:#?}"))
}

#[test]
fn every_way_of_reaching_the_attribute_runs_its_handlers() {
    let (lines, stderr) = run_lines(&example("crate_paths"));
    assert_eq!(lines[0], "main: returning");
    assert_eq!(lines.len(), 18, "{lines:#?}");
    // Priority 0, whose files come in a fixed but arbitrary order: each file's
    // handlers together, in reverse declaration order.
    for file in [
        &[
            "framework user: second of the framework's macro",
            "framework user: first of the framework's macro",
        ][..],
        &["renamed: under another name"],
        &["generated: second", "generated: first"],
        &[
            "generated: written in src/lib.rs, second",
            "generated: written in src/lib.rs, first",
        ],
    ] {
        let first = position(&lines, file[0]);
        assert_eq!(lines[first..first + file.len()], *file, "{lines:#?}");
    }
    for line in [
        "framework user: through the re-export",
        "framework user: Service::stop in a marked impl",
    ] {
        position(&lines, line);
    }
    assert_eq!(
        lines[lines.len() - 8..],
        [
            "renamed: Service::stop in a marked impl",
            "wrapped: wrapped_after",
            "main: wrapped_after body",
            "wrapped: wrapped_before",
            "main: wrapped_before body",
            "main: alpha (second in the macro)",
            "main: zulu (first in the macro)",
            "main: no_std 2015 handler ran: true",
        ]
        .map(str::to_owned)[..],
        "{lines:#?}"
    );
    // The `#![no_std]` crate's failing handler is reported, once.
    assert_eq!(
        stderr
            .iter()
            .filter(|line| line.starts_with("atexit: "))
            .filter(|line| line.contains("no_std 2015: reported"))
            .count(),
        1,
        "{stderr:#?}"
    );
}

/// `file!()` of a file a build script wrote is an absolute path into the target
/// directory: the order must not depend on where that is.
#[test]
fn the_order_does_not_depend_on_where_the_target_directory_is() {
    let (here, _) = run_lines(&example("crate_paths"));
    let elsewhere = build_example_apart("crate-paths/elsewhere", "crate_paths", &[], &[]);
    let (there, _) = run_lines(&elsewhere);
    assert_eq!(there, here);
}
