//! A shared library with exit handlers, loaded and unloaded by a host program
//! (`dlopen`/`dlclose`, `LoadLibraryW`/`FreeLibrary`): its handlers run when it is
//! unloaded, and the host exits cleanly afterwards, even by a panic (the `ctor`
//! crate's issue #94 is a crash there).

// Where a library is really unloaded. musl's `dlclose` unloads nothing (the plugin's
// handlers run at the host's exit instead, with its code still there), and a static
// musl host cannot `dlopen` at all; macOS cannot run here.
#![cfg(any(all(target_os = "linux", target_env = "gnu"), windows))]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use common::{build_package, command, run_bounded, target_dir, Run};

/// The plugin, brought up to date once: building the examples does not build it.
fn plugin() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        build_package("atexit-test-plugin");
        let name = format!(
            "{}atexit_test_plugin{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        let path = target_dir().join(name);
        assert!(path.exists(), "no plugin at {}", path.display());
        path
    })
}

fn run_host(mode: &[&str]) -> Run {
    run_bounded(
        command("plugin_host").arg(plugin()).args(mode),
        Duration::from_secs(20),
    )
}

const UNLOAD: [&str; 4] = [
    "plugin: started with 2 handlers pending",
    "plugin: dynamic handler ran",
    "plugin: static handler ran",
    "host: unloaded the plugin, 1 handler pending",
];

#[test]
fn a_plugins_handlers_run_when_it_is_unloaded_and_the_host_exits_cleanly() {
    let run = run_host(&[]);
    let mut expected = UNLOAD.to_vec();
    expected.push("host: handler ran");
    assert_eq!(run.lines(), expected, "{}", run.stderr);
    assert_eq!(run.code(), Some(0));
    run.assert_quiet();
}

#[test]
fn a_plugin_with_a_handler_timeout_is_unloaded_without_starting_a_thread() {
    let run = run_host(&["watched"]);
    let mut expected = UNLOAD.to_vec();
    expected.push("host: handler ran");
    assert_eq!(run.lines(), expected, "{}", run.stderr);
    assert_eq!(run.code(), Some(0));
}

#[test]
fn a_host_that_panics_after_unloading_a_plugin_runs_its_handlers_and_exits_101() {
    let run = run_host(&["panic"]);
    let mut expected = UNLOAD.to_vec();
    expected.push("host: handler ran");
    assert_eq!(run.lines(), expected, "{}", run.stderr);
    assert_eq!(run.code(), Some(101));
    assert!(run.stderr.contains("the host panics after the unload"));
}

#[test]
fn a_plugin_handler_calling_exit_while_unloaded_ends_the_host_with_its_code() {
    let run = run_host(&["exit"]);
    // The process ends when the plugin's handlers are done: the host's, which might
    // start a thread, cannot run under the loader's lock that the unload holds.
    assert_eq!(
        run.lines(),
        [
            "plugin: started with 3 handlers pending",
            "plugin: dynamic handler ran",
            "plugin: exiting with 7",
            "plugin: static handler ran",
        ],
        "{}",
        run.stderr
    );
    assert_eq!(run.code(), Some(7));
    assert_eq!(
        run.stderr.trim_end(),
        "atexit: atexit::exit(7) in the exit run of a shared library: the process ends now; \
         exit handlers of the program that had not run yet are skipped"
    );
}
