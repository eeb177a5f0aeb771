//! Spawning the example programs and checking how they exit.

#![allow(dead_code)] // each test file uses its own part of this module

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Once};
use std::time::{Duration, Instant};

/// Set (to anything) when the tests cannot start cargo: under Wine, a Windows
/// program cannot start the Linux `cargo`. The caller must then have built the
/// examples (`cargo test --workspace` does) and the plugin (`cargo build -p
/// atexit-test-plugin`), and must skip the tests that build programs of their own
/// ([`build_example_apart`]); `.ci/cross` does all three.
const NO_CARGO: &str = "ATEXIT_TESTS_NO_CARGO";

fn cargo_can_run() -> bool {
    std::env::var_os(NO_CARGO).is_none()
}

/// `target/debug` (or the profile the tests were built with).
pub fn target_dir() -> PathBuf {
    let test_exe = std::env::current_exe().expect("the test binary knows its path");
    // target/<profile>/deps/<test binary>
    test_exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps")
        .to_path_buf()
}

/// The path of an example of the workspace, brought up to date once per test binary:
/// `cargo test --test NAME` alone does not build the examples, and a stale one would
/// test old code. After `cargo test --workspace` this finds nothing to do.
pub fn example(name: &str) -> PathBuf {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        if !cargo_can_run() {
            return;
        }
        let profile = target_dir();
        let release = profile.file_name().is_some_and(|name| name == "release");
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "--workspace", "--examples"])
            .args(release.then_some("--release"))
            // The features this test was built with, so that no example is stale.
            .args(
                cfg!(feature = "tokio")
                    .then_some("--features=atexit/tokio,atexit-test-support/tokio"),
            )
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the examples failed");
    });
    let path = target_dir().join("examples").join(executable(name));
    assert!(path.exists(), "no example at {}", path.display());
    path
}

/// Brings the library of the workspace's `package` up to date (under
/// `ATEXIT_TESTS_NO_CARGO`, the caller built it).
pub fn build_package(package: &str) {
    if !cargo_can_run() {
        return;
    }
    let release = target_dir().ends_with("release");
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", package])
        .args(release.then_some("--release"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building {package} failed");
}

/// The file name of the program `name` (`name.exe` on Windows).
fn executable(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// Builds the support crate's `example` with `args` and `env` in a target directory
/// of its own under `target/<profile>/<directory>` (so this does not wait on the
/// outer cargo), and returns the path of the binary. Under `ATEXIT_TESTS_NO_CARGO`
/// the caller must have built it so; the failure says how.
pub fn build_example_apart(
    directory: &str,
    example: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> PathBuf {
    let target = target_dir().join(directory);
    let mut build = Command::new(env!("CARGO"));
    build
        .args([
            "build",
            "-q",
            "-p",
            "atexit-test-support",
            "--example",
            example,
        ])
        .args(args)
        .envs(env.iter().copied())
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if cargo_can_run() {
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building {example} in {directory} failed");
    } else {
        assert!(
            target.exists(),
            "{NO_CARGO} is set: this test needs {example} built first by {build:?}"
        );
    }
    let profile = if args.contains(&"--release") {
        "release"
    } else {
        "debug"
    };
    // Under `CARGO_BUILD_TARGET`, cargo puts the profile under the target's name.
    let in_profile = |dir: &Path| dir.join(profile).join("examples").join(executable(example));
    let triples = std::fs::read_dir(&target).expect("the target directory exists");
    std::iter::once(in_profile(&target))
        .chain(triples.flatten().map(|entry| in_profile(&entry.path())))
        .find(|binary| binary.exists())
        .unwrap_or_else(|| panic!("no {example} under {}", target.display()))
}

/// A command for an example, with an environment that does not depend on the
/// developer's: no backtraces, no tracing, no timeout, and (on Unix) the signals the
/// runtime catches at their default action (a test run started as a background job
/// of a non-interactive shell inherits SIGINT and SIGQUIT ignored, and `nohup`
/// ignores SIGHUP).
pub fn command(name: &str) -> Command {
    command_for(&example(name))
}

/// A command for the program at `path`, in the same environment as [`command`].
pub fn command_for(path: &Path) -> Command {
    let mut command = Command::new(path);
    command
        .env("RUST_BACKTRACE", "0")
        .env_remove("ATEXIT_TRACE")
        .env_remove("ATEXIT_TIMEOUT_MS")
        .env_remove("ATEXIT_DEADLINE_MS")
        .stdin(Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the child between `fork` and `exec`, where only
        // async-signal-safe functions may be called. It calls only `signal`, which
        // POSIX lists as async-signal-safe, and on failure reads `errno` into an
        // `io::Error` without allocating.
        unsafe {
            command.pre_exec(|| {
                for signal in [libc::SIGINT, libc::SIGQUIT, libc::SIGHUP, libc::SIGTERM] {
                    if libc::signal(signal, libc::SIG_DFL) == libc::SIG_ERR {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
    command
}

/// The exit reason `exit(status)` gives, as `Debug` prints it: exact where the C
/// library tells the status (glibc), unknown elsewhere.
pub fn exit_with(status: i32) -> String {
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        format!("Exit({status})")
    } else {
        "ExitStatusUnknown".to_owned()
    }
}

/// How a spawned program ended.
#[derive(Debug)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub status: ExitStatus,
}

impl Run {
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// The lines of a fixture that forks and exited 0, with the pids its first two
    /// lines give: `parent PID ...` and `child PID ...`.
    #[cfg(unix)]
    pub fn fork_lines(&self) -> (Vec<String>, String, String) {
        assert_eq!(self.code(), Some(0), "{}", self.stderr);
        let lines: Vec<String> = self.lines().into_iter().map(str::to_owned).collect();
        let pid = |line: &str, prefix: &str| {
            line.strip_prefix(prefix)
                .and_then(|rest| rest.split(' ').next())
                .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"))
                .to_owned()
        };
        let (parent, child) = (pid(&lines[0], "parent "), pid(&lines[1], "child "));
        (lines, parent, child)
    }

    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The signal that ended the program.
    #[cfg(unix)]
    pub fn signal(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.status.signal()
    }

    /// Asserts that the program ended by `std::process::abort` (or a Rust runtime
    /// abort such as a panic escaping an `extern "C"` function): SIGABRT on Unix,
    /// the fail-fast status `STATUS_STACK_BUFFER_OVERRUN` on Windows.
    pub fn assert_aborted(&self) {
        #[cfg(unix)]
        assert_eq!(self.signal(), Some(libc::SIGABRT), "not SIGABRT: {self:?}");
        #[cfg(windows)]
        assert_eq!(
            self.code().map(|code| code as u32),
            Some(0xC000_0409),
            "not STATUS_STACK_BUFFER_OVERRUN: {self:?}"
        );
    }

    /// Asserts that the program wrote nothing to stderr.
    pub fn assert_quiet(&self) {
        assert_eq!(self.stderr, "", "unexpected stderr");
    }

    /// Lines of stderr written by the runtime itself.
    pub fn reports(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| line.starts_with("atexit: "))
            .collect()
    }
}

/// Runs an example to its end.
pub fn run(name: &str, args: &[&str]) -> Run {
    run_command(command(name).args(args))
}

pub fn run_command(command: &mut Command) -> Run {
    run_bounded(command, Duration::from_secs(60))
}

/// Runs a command to its end, killing it and failing the test if it takes longer
/// than `limit`: a hang (a deadlock, a watchdog that does not fire) must fail a test,
/// not stall the suite.
pub fn run_bounded(command: &mut Command, limit: Duration) -> Run {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    wait_bounded(child, limit, &format!("{command:?}"))
}

/// How long the output of a program that has exited may take to be read, beyond the
/// limit on the run.
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// Waits for `child` to end, reading its piped stdout and stderr (whichever it has)
/// meanwhile, until both are closed; kills it and fails the test if that takes
/// longer than `limit` (a grandchild left holding the pipes counts too).
pub fn wait_bounded(mut child: Child, limit: Duration, what: &str) -> Run {
    let started = Instant::now();
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                pipe.read_to_end(&mut bytes)
                    .expect("the program's output is read");
            }
            let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
        });
        receiver
    };
    let stdout = read_all(child.stdout.take().map(|pipe| Box::new(pipe) as _));
    let stderr = read_all(child.stderr.take().map(|pipe| Box::new(pipe) as _));
    let fail = |child: &mut Child| -> ! {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} did not exit within {limit:?}");
    };
    let status = loop {
        if let Some(status) = child.try_wait().expect("the program can be waited for") {
            break status;
        }
        if started.elapsed() > limit {
            fail(&mut child);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Once the program has exited, its output is in the pipes already: a short grace
    // to read it, unless a grandchild still holds them open.
    let read_by = Instant::now() + limit.saturating_sub(started.elapsed()).max(PIPE_GRACE);
    let output = |receiver: mpsc::Receiver<String>| {
        receiver
            .recv_timeout(read_by.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|error| match error {
                mpsc::RecvTimeoutError::Timeout => panic!(
                    "{what} exited ({status}) but its output stayed open past the limit of {limit:?} (a child of its own holding the pipes?)"
                ),
                mpsc::RecvTimeoutError::Disconnected => {
                    panic!("{what}: reading its output failed")
                }
            })
    };
    Run {
        stdout: output(stdout),
        stderr: output(stderr),
        status,
    }
}

/// A fresh, empty directory under the target directory.
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = target_dir()
        .join("scratch")
        .join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory created");
    dir
}
