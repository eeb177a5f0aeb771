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
        let path = target_dir().join(plugin_file_name());
        assert!(path.exists(), "no plugin at {}", path.display());
        path
    })
}

/// `libatexit_test_plugin.so`, or what the platform calls it.
fn plugin_file_name() -> String {
    format!(
        "{}atexit_test_plugin{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
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

/// A plugin's handler that runs the plugin's other handlers itself while the plugin
/// is unloaded: the nested run starts no thread either (one would wait forever for
/// the loader's lock), and returns to the handler.
#[test]
#[cfg(target_os = "linux")]
fn a_plugin_handler_running_the_rest_while_unloaded_completes() {
    let run = run_host(&["nested"]);
    assert_eq!(
        run.lines(),
        [
            "plugin: started with 4 handlers pending",
            "plugin: dynamic handler ran",
            "plugin: running the rest with run_exit_handlers",
            "plugin: oldest dynamic handler ran",
            "plugin: static handler ran",
            "plugin: run_exit_handlers returned",
            "host: unloaded the plugin, 1 handler pending",
            "host: handler ran",
        ],
        "{}",
        run.stderr
    );
    assert_eq!(run.code(), Some(0));
    run.assert_quiet();
}

/// The host and the plugin built with `panic = "abort"`, in the target directory the
/// other such fixtures share (`tests/panic_abort.rs`).
#[cfg(target_os = "linux")]
fn built_with_panic_abort() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let abort = [("CARGO_PROFILE_DEV_PANIC", "abort")];
        let host = common::build_example_apart("panic-abort", "plugin_host", &[], &abort);
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "atexit-test-plugin"])
            .envs(abort)
            .env("CARGO_TARGET_DIR", target_dir().join("panic-abort"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "building the plugin with panic = \"abort\" failed"
        );
        // The plugin lies in the profile's directory, which holds the host's `examples`.
        let plugin = host
            .parent()
            .and_then(std::path::Path::parent)
            .expect("the host lies in <profile>/examples")
            .join(plugin_file_name());
        assert!(plugin.exists(), "no plugin at {}", plugin.display());
        (host, plugin)
    })
}

/// With `panic = "abort"`, nothing unwinds out of the plugin's handler: its
/// `atexit::exit(7)` while the plugin is unloaded still ends the process with 7.
#[test]
#[cfg(target_os = "linux")]
fn a_plugin_handler_calling_exit_while_unloaded_ends_the_host_under_panic_abort() {
    let (host, plugin) = built_with_panic_abort();
    let run = run_bounded(
        common::command_for(host).arg(plugin).arg("exit"),
        Duration::from_secs(20),
    );
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
