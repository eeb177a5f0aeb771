//! What the crate costs its users first: a clean `cargo build --release` of a hello
//! world with one `#[on_exit]` handler, against one with a `linkme` slice of one
//! element (the floor: a link-time list compiles `linkme-impl` and syn).
//!
//! The two programs are in `bench/build-time/`. Each build starts from an empty target
//! directory of its own, with the `Cargo.lock` of the `atexit` it builds (so that
//! both use the versions the workspace uses) and the crates fetched beforehand; the
//! builds alternate so that load on the machine hits both alike.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The programs, by directory name under `bench/build-time/`.
pub const PROGRAMS: [&str; 2] = ["one_handler", "linkme_slice"];

/// How long one build took.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BuildTime {
    /// Wall time: what the user waits, which load on the machine stretches.
    pub wall: Duration,
    /// User and system CPU time of cargo and every compiler it ran: the work, which
    /// load on the machine barely changes.
    pub cpu: Duration,
}

/// Median clean release build times of [`PROGRAMS`], over `runs` alternating builds.
pub fn measure(runs: usize) -> [BuildTime; 2] {
    let times = measure_against(runs, &[]);
    [times[0], times[1]]
}

/// [`measure`], plus the one-handler program built against each of `other_sources`
/// (checkouts of `atexit`, to compare versions side by side), in that order.
pub fn measure_against(runs: usize, other_sources: &[PathBuf]) -> Vec<BuildTime> {
    let scratch = scratch_dir();
    let mut dirs: Vec<PathBuf> = PROGRAMS
        .iter()
        .map(|program| prepare(&scratch, program, program, &workspace_dir()))
        .collect();
    for (index, source) in other_sources.iter().enumerate() {
        let name = format!("{}_{index}", PROGRAMS[0]);
        dirs.push(prepare(&scratch, PROGRAMS[0], &name, source));
    }
    let mut times = vec![Vec::new(); dirs.len()];
    for _ in 0..runs.max(1) {
        for (dir, times) in dirs.iter().zip(&mut times) {
            times.push(clean_build(dir));
        }
    }
    times
        .into_iter()
        .map(|times: Vec<BuildTime>| {
            let median = |mut values: Vec<Duration>| {
                values.sort();
                values[values.len() / 2]
            };
            BuildTime {
                wall: median(times.iter().map(|time| time.wall).collect()),
                cpu: median(times.iter().map(|time| time.cpu).collect()),
            }
        })
        .collect()
}

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ is in the workspace")
        .to_path_buf()
}

/// `target/build-time` of the workspace.
fn scratch_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_dir().join("target"), PathBuf::from);
    target.join("build-time")
}

/// A copy of `program`, as `name`, depending on the `atexit` at `atexit_dir` (if it
/// does), with the workspace's lock file, its crates fetched.
fn prepare(scratch: &Path, program: &str, name: &str, atexit_dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("build-time")
        .join(program);
    let workspace = workspace_dir();
    let dir = scratch.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).expect("scratch directory created");
    let manifest = std::fs::read_to_string(source.join("Cargo.toml"))
        .expect("the program's manifest")
        .replace(
            "path = \"../../..\"",
            &format!("path = {:?}", atexit_dir.display().to_string()),
        );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("manifest written");
    std::fs::copy(source.join("src/main.rs"), dir.join("src/main.rs")).expect("source copied");
    // The lock file of the `atexit` being built, so that it gets the versions it was
    // tested with.
    let lock = [atexit_dir, workspace.as_path()]
        .iter()
        .map(|dir| dir.join("Cargo.lock"))
        .find(|lock| lock.exists())
        .expect("a Cargo.lock");
    std::fs::copy(lock, dir.join("Cargo.lock")).expect("lock copied");
    let status = cargo(&dir)
        .args(["fetch", "--quiet"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "fetching the crates of {program} failed");
    dir
}

fn clean_build(dir: &Path) -> BuildTime {
    let target = dir.join("target");
    let _ = std::fs::remove_dir_all(&target);
    let cpu_before = children_cpu_time();
    let started = Instant::now();
    let status = cargo(dir)
        .args(["build", "--release", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("cargo runs");
    let wall = started.elapsed();
    assert!(status.success(), "building {} failed", dir.display());
    BuildTime {
        wall,
        cpu: children_cpu_time().saturating_sub(cpu_before),
    }
}

/// User and system CPU time of the waited-for child processes so far, theirs
/// included.
#[cfg(unix)]
fn children_cpu_time() -> Duration {
    // SAFETY: `rusage` is plain data, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`, and RUSAGE_CHILDREN is a valid
    // `who`.
    let status = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(status, 0, "getrusage(RUSAGE_CHILDREN) failed");
    let time =
        |value: libc::timeval| Duration::new(value.tv_sec as u64, value.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Not measured where there is no `getrusage`; the README's figures come from Linux.
#[cfg(not(unix))]
fn children_cpu_time() -> Duration {
    Duration::ZERO
}

fn cargo(dir: &Path) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    command
}
