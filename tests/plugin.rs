//! A shared library with exit handlers, loaded with `dlopen` and unloaded with
//! `dlclose` by a host program: its handlers run when it is unloaded, and the host
//! exits cleanly afterwards, even by a panic (the `ctor` crate's issue #94 is a crash
//! there).

#![cfg(all(target_os = "linux", target_env = "gnu"))]

mod common;

use common::{command, example, target_dir, Run};

fn run_host(mode: &[&str]) -> Run {
    // Building the examples builds every library of the workspace, the plugin too.
    example("plugin_host");
    let plugin = target_dir().join("libatexit_test_plugin.so");
    assert!(plugin.exists(), "no plugin at {}", plugin.display());
    common::run_command(command("plugin_host").arg(plugin).args(mode))
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
fn a_host_that_panics_after_unloading_a_plugin_runs_its_handlers_and_exits_101() {
    let run = run_host(&["panic"]);
    let mut expected = UNLOAD.to_vec();
    expected.push("host: handler ran");
    assert_eq!(run.lines(), expected, "{}", run.stderr);
    assert_eq!(run.code(), Some(101));
    assert!(run.stderr.contains("the host panics after the unload"));
}
