//! Runs the whole-process benchmarks side by side, prints their medians, then the
//! targets of the benchmark issue: for each, the measured value, its baseline from the
//! same run, their ratio, the target and whether it is met.
//!
//! ```text
//! cargo run --release -p atexit-bench --bin compare [-- --runs N] [--only SECTION]
//! ```
//!
//! Every measured program is a binary of this package, found next to this one (under
//! `cargo run`, they are built first); CPython is used when `python3` is on the PATH,
//! and instructions are counted when `valgrind` is. Each program runs several times,
//! interleaved with the others it is compared with so that a burst of load on the
//! machine hits them all alike, and medians are reported. `--runs N` sets the number
//! of runs of every program (the defaults keep the whole run to about two minutes on
//! two cores, half of it the two clean builds of `build`); `--only SECTION` (dynamic,
//! priorities, static, instructions, churn, threads, exit_thread, build) measures one
//! section.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use atexit_bench::monotonic_ns;

/// Handlers registered by the dynamic programs.
const DYNAMIC_HANDLERS: usize = 1_000_000;
/// Guard cycles of the long churn run.
const GUARD_CYCLES: usize = 10_000_000;
/// Registrations (then unregistrations) of the long churn run.
const UNREGISTER_CYCLES: usize = 1_000_000;
/// Cycles of the short churn runs that the long ones' memory is compared with.
const SHORT_CYCLES: usize = 1000;
/// Registrations of the one- and two-thread runs.
const THREAD_REGISTRATIONS: usize = 1_000_000;
/// How much the peak RSS may grow from the short guard run to the long one and still
/// count as flat: leaking even one byte per cycle would grow it by ten times as much.
const FLAT_TOLERANCE_KIB: f64 = 1024.0;

/// The CPython counterpart of `dynamic_atexit`. It registers one function N times
/// rather than N closures, which is the cheapest way for CPython and so the baseline
/// most favourable to it.
const PYTHON_DYNAMIC: &str = r#"
import atexit, os, sys, time
main_start = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
N = int(sys.argv[1])
hits = 0
def bump():
    global hits
    hits += 1
    if hits == N:
        end = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        with open("/proc/self/status") as status:
            hwm = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
        os.write(1, f"exit_start {exit_start}\nexit_end {end}\nexit_handlers {hits}\nexit_vm_hwm_kib {hwm}\n".encode())
for _ in range(N):
    atexit.register(bump)
print(f"registered {time.clock_gettime_ns(time.CLOCK_MONOTONIC)}")
print(f"main_start {main_start}", flush=True)
exit_start = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
"#;

/// A program to measure: what to execute, and how the tables call it.
struct Program {
    label: String,
    path: PathBuf,
    args: Vec<String>,
}

impl Program {
    /// A release binary of this package, next to the running `compare`.
    fn sibling(label: &str, name: &str, args: &[&str]) -> Program {
        let exe = std::env::current_exe().expect("the path of the running executable");
        let path = exe
            .parent()
            .expect("an executable lives in a directory")
            .join(name);
        assert!(
            path.exists(),
            "{} is missing: build the package first, e.g. `cargo build --release -p atexit-bench --bins`",
            path.display()
        );
        Program {
            label: label.to_owned(),
            path,
            args: args.iter().map(|arg| arg.to_string()).collect(),
        }
    }

    /// A binary of this package built with another cargo profile (see
    /// `build_siblings`).
    fn sibling_in_profile(label: &str, profile: &str, name: &str, args: &[&str]) -> Program {
        let mut program = Program::sibling(label, name, args);
        let profiles = program
            .path
            .parent()
            .and_then(Path::parent)
            .expect("binaries live in target/<profile>");
        program.path = profiles.join(profile).join(name);
        assert!(
            program.path.exists(),
            "{} is missing: build it first, e.g. `cargo build --profile {profile} -p atexit-bench --bin {name}`",
            program.path.display()
        );
        program
    }

    /// The file name of the executable, for messages and scratch files.
    fn name(&self) -> String {
        self.path
            .file_name()
            .map_or_else(String::new, |name| name.to_string_lossy().into_owned())
    }
}

/// One run of a program.
struct Sample {
    /// This process's `CLOCK_MONOTONIC` just before the spawn.
    spawn_ns: u64,
    /// From just before the spawn until the child was reaped.
    wall_ns: u64,
    /// `ru_maxrss` of the child as `wait4` reports it, in KiB.
    max_rss_kib: u64,
    /// What the child printed, as `key value` lines.
    values: HashMap<String, String>,
}

impl Sample {
    fn text(&self, key: &str) -> &str {
        self.values
            .get(key)
            .unwrap_or_else(|| panic!("the program did not report `{key}`: {:?}", self.values))
    }

    fn stamp(&self, key: &str) -> u64 {
        self.text(key)
            .parse()
            .expect("timestamps are whole nanoseconds")
    }

    fn number(&self, key: &str) -> f64 {
        self.text(key).parse().expect("reported values are numbers")
    }

    /// Nanoseconds between two timestamps the child reported.
    fn span(&self, from: &str, to: &str) -> f64 {
        self.stamp(to).saturating_sub(self.stamp(from)) as f64
    }

    /// From the spawn to the first statement of the child's `main`.
    fn time_to_main_ns(&self) -> f64 {
        self.stamp("main_start").saturating_sub(self.spawn_ns) as f64
    }

    /// The child's own peak RSS in KiB, as it reported it at the end of its exit run
    /// (or of `main`); see `atexit_bench::peak_rss_kib` for why not `max_rss_kib`.
    fn own_peak_kib(&self) -> f64 {
        match self.values.get("exit_vm_hwm_kib") {
            Some(_) => self.number("exit_vm_hwm_kib"),
            None => self.number("vm_hwm_kib"),
        }
    }

    /// From the child leaving `main` to the end of its last exit handler.
    fn exit_run_ns(&self) -> f64 {
        self.span("exit_start", "exit_end")
    }
}

/// The `key value` lines a measured program printed.
fn parse_values(output: &str) -> HashMap<String, String> {
    output
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(key, value)| (key.to_owned(), value.trim().to_owned()))
        .collect()
}

/// Runs `program` once and reaps it with `wait4` for its peak RSS.
fn run_once(program: &Program) -> Sample {
    let mut command = Command::new(&program.path);
    command
        .args(&program.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let spawn_ns = monotonic_ns();
    // The child is reaped below by `wait4`, which `Child::wait` cannot replace: only
    // `wait4` returns the child's resource usage.
    #[allow(clippy::zombie_processes)]
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", program.path.display()));
    let mut output = String::new();
    child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_string(&mut output)
        .expect("the child's stdout is text");
    let (status, max_rss_kib) = reap(child);
    let wall_ns = monotonic_ns() - spawn_ns;
    assert!(
        status.success(),
        "{} {:?} failed ({status}); it printed:\n{output}",
        program.path.display(),
        program.args
    );
    Sample {
        spawn_ns,
        wall_ns,
        max_rss_kib,
        values: parse_values(&output),
    }
}

/// Waits for `child`; returns how it ended and its peak RSS in KiB.
#[cfg(unix)]
fn reap(child: std::process::Child) -> (std::process::ExitStatus, u64) {
    use std::os::unix::process::ExitStatusExt;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our unreaped child; `status` and `usage` are valid and writable.
    // `Child` is never waited on afterwards, so the pid is reaped exactly once.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(
        reaped,
        pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    (
        std::process::ExitStatus::from_raw(status),
        usage.ru_maxrss as u64,
    )
}

/// Waits for `child`; its peak RSS is not known here (0). The README's figures come
/// from Linux.
#[cfg(not(unix))]
fn reap(mut child: std::process::Child) -> (std::process::ExitStatus, u64) {
    (child.wait().expect("the child can be waited for"), 0)
}

/// Runs every program `runs` times, plus one unrecorded warm-up run each (page cache,
/// CPU frequency). Programs take turns, starting from a different one each round.
fn measure(programs: &[Program], runs: usize) -> Vec<Vec<Sample>> {
    for program in programs {
        run_once(program);
    }
    let mut samples: Vec<Vec<Sample>> = programs.iter().map(|_| Vec::new()).collect();
    for round in 0..runs {
        for offset in 0..programs.len() {
            let index = (round + offset) % programs.len();
            samples[index].push(run_once(&programs[index]));
        }
    }
    samples
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    // The middle value, or the mean of the two middle values of an even count.
    (values[(values.len() - 1) / 2] + values[values.len() / 2]) / 2.0
}

/// Median absolute deviation: the spread of the runs, robust to the odd outlier.
fn mad(values: Vec<f64>) -> f64 {
    let center = median(values.clone());
    median(
        values
            .into_iter()
            .map(|value| (value - center).abs())
            .collect(),
    )
}

/// The median and MAD of one quantity over a program's runs.
fn stat(samples: &[Sample], quantity: impl Fn(&Sample) -> f64) -> (f64, f64) {
    let values: Vec<f64> = samples.iter().map(quantity).collect();
    (median(values.clone()), mad(values))
}

fn wall(sample: &Sample) -> f64 {
    sample.wall_ns as f64
}

fn rss(sample: &Sample) -> f64 {
    sample.own_peak_kib()
}

fn wait4_rss(sample: &Sample) -> f64 {
    sample.max_rss_kib as f64
}

fn ms(nanos: f64) -> String {
    format!("{:.1}", nanos / 1e6)
}

fn us(nanos: f64) -> String {
    format!("{:.0}", nanos / 1e3)
}

fn mib(kib: f64) -> String {
    format!("{:.1}", kib / 1024.0)
}

fn ratio(value: f64) -> String {
    format!("{value:.2}x")
}

/// `count` with its digits in groups of three: `1,000,000`.
fn grouped(count: u64) -> String {
    let digits = count.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|group| std::str::from_utf8(group).expect("ASCII digits"))
        .collect();
    groups.join(",")
}

/// The targets of the benchmark issue, in the order of its table. Each compares one
/// measurement with a baseline taken in the same `compare` run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Registration phase on 2 threads against 1 thread (section 5).
    TwoThreads,
    /// `atexit::guard` cycle against a `scopeguard` cycle (section 4).
    Guard,
    /// Peak RSS of `dynamic_atexit` against `dynamic_libc` (section 1).
    DynamicRss,
    /// Random-order `unregister` against `register`, per call (section 4).
    Unregister,
    /// Random-order `unregister` against one random read in a 32 MiB array, per call
    /// (issue 20, section 4).
    UnregisterFloor,
    /// Extra instructions per `#[on_exit]` against per `#[dtor]` (section 3).
    StaticInstructions,
    /// Wall time of `dynamic_atexit` against `dynamic_libc` (section 1).
    DynamicWall,
    /// Peak RSS of the long guard run against the short one (section 4).
    GuardRss,
    /// Wall time of `dynamic_atexit` with a handler timeout set, against
    /// `dynamic_libc` (section 6).
    DynamicWallTimeout,
    /// Wall time of `dynamic_atexit` built with `panic = "abort"`, against
    /// `dynamic_libc` (section 6).
    DynamicWallAbort,
    /// 1,000,000 handlers, each a new highest priority, against one priority (issue
    /// 18, break 6).
    PrioritiesAscending,
    /// 1,000,000 handlers, each a new lowest priority, against one priority.
    PrioritiesDescending,
    /// A clean release build of a one-handler program against one with a linkme
    /// slice (issue 20, section 1; section 7).
    BuildTime,
}

impl Target {
    /// Every target, in the order the targets table lists them.
    const ALL: [Target; 13] = [
        Target::TwoThreads,
        Target::Guard,
        Target::DynamicRss,
        Target::Unregister,
        Target::UnregisterFloor,
        Target::StaticInstructions,
        Target::DynamicWall,
        Target::GuardRss,
        Target::DynamicWallTimeout,
        Target::DynamicWallAbort,
        Target::PrioritiesAscending,
        Target::PrioritiesDescending,
        Target::BuildTime,
    ];

    /// What is measured, and against which baseline.
    fn measurement(self) -> String {
        let threads = grouped(THREAD_REGISTRATIONS as u64);
        let dynamic = grouped(DYNAMIC_HANDLERS as u64);
        match self {
            Target::TwoThreads => format!(
                "2 threads registering {threads} handlers in all, wall time of the registration phase, against 1 thread"
            ),
            Target::Guard => {
                "`guard` create + drop, against an unregistered `scopeguard` guard".to_owned()
            }
            Target::DynamicRss => format!(
                "peak RSS, {dynamic} handlers registered then run at exit, against libc `atexit`"
            ),
            Target::Unregister => format!(
                "{} `unregister` in random order, time per call, against a `register`",
                grouped(UNREGISTER_CYCLES as u64)
            ),
            Target::UnregisterFloor => format!(
                "{} `unregister` in random order, time per call, against one random 32-byte read in 32 MiB (a pointer chase)",
                grouped(UNREGISTER_CYCLES as u64)
            ),
            Target::PrioritiesAscending => format!(
                "{dynamic} handlers, each a new highest priority, wall time of the whole process, against one priority"
            ),
            Target::PrioritiesDescending => format!(
                "{dynamic} handlers, each a new lowest priority, wall time of the whole process, against one priority"
            ),
            Target::StaticInstructions => {
                "1,000 `#[on_exit]`: extra instructions per handler, whole process, over a binary with none, against `dtor`'s per `#[dtor]`".to_owned()
            }
            Target::DynamicWall => format!(
                "{dynamic} dynamic handlers, wall time of the whole process, against libc `atexit`"
            ),
            Target::GuardRss => format!(
                "peak RSS after {} guard cycles, against {} cycles",
                grouped(GUARD_CYCLES as u64),
                grouped(SHORT_CYCLES as u64)
            ),
            Target::DynamicWallTimeout => format!(
                "{dynamic} dynamic handlers with a handler timeout set, wall time of the whole process, against libc `atexit`"
            ),
            Target::DynamicWallAbort => format!(
                "{dynamic} dynamic handlers with `panic = \"abort\"`, wall time of the whole process, against libc `atexit`"
            ),
            Target::BuildTime => {
                "clean `cargo build --release` of a hello world with one `#[on_exit]` handler, wall time, against one with a one-element `linkme` slice".to_owned()
            }
        }
    }

    /// The target the ratio must meet.
    fn goal(self) -> &'static str {
        match self {
            Target::TwoThreads
            | Target::DynamicRss
            | Target::DynamicWall
            | Target::DynamicWallTimeout
            | Target::DynamicWallAbort => "≤ 1.0x",
            Target::Guard => "≤ 5x",
            Target::Unregister | Target::PrioritiesAscending | Target::PrioritiesDescending => {
                "≤ 2x"
            }
            Target::UnregisterFloor => "≤ 1.2x",
            Target::StaticInstructions => "≤ 3x",
            Target::GuardRss => "flat (≤ +1 MiB)",
            Target::BuildTime => "≤ +1 s",
        }
    }
}

/// How one target fared.
enum Outcome {
    /// Measured: the value and its baseline with their units, and whether the ratio of
    /// the two meets the target.
    Measured {
        value: String,
        baseline: String,
        ratio: f64,
        pass: bool,
    },
    /// Not measured, for the reason given.
    Skipped(String),
}

/// Collects the tables and the outcomes of the targets, and prints them at the end.
#[derive(Default)]
struct Report {
    text: String,
    outcomes: Vec<(Target, Outcome)>,
}

impl Report {
    fn line(&mut self, line: impl AsRef<str>) {
        self.text.push_str(line.as_ref());
        self.text.push('\n');
    }

    fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>) {
        self.line(format!("| {} |", header.join(" | ")));
        self.line(format!("|{}", "---|".repeat(header.len())));
        for row in rows {
            self.line(format!("| {} |", row.join(" | ")));
        }
        self.line("");
    }

    /// Records a measured target: `value` against `baseline`, both with units.
    fn verdict(&mut self, target: Target, value: String, baseline: String, ratio: f64, pass: bool) {
        self.outcomes.push((
            target,
            Outcome::Measured {
                value,
                baseline,
                ratio,
                pass,
            },
        ));
    }

    fn skip(&mut self, target: Target, reason: &str) {
        self.outcomes
            .push((target, Outcome::Skipped(reason.to_owned())));
    }

    /// Appends the targets table, in the issue's order.
    fn targets(&mut self) {
        self.line("### Targets (each against its baseline from this run)\n");
        let mut outcomes = std::mem::take(&mut self.outcomes);
        let rows = Target::ALL
            .into_iter()
            .map(|target| {
                let outcome = outcomes
                    .iter()
                    .position(|(measured, _)| *measured == target)
                    .map(|index| outcomes.swap_remove(index).1)
                    .unwrap_or_else(|| Outcome::Skipped("not measured".to_owned()));
                let mut row = vec![target.measurement()];
                match outcome {
                    Outcome::Measured {
                        value,
                        baseline,
                        ratio: value_ratio,
                        pass,
                    } => row.extend([
                        value,
                        baseline,
                        ratio(value_ratio),
                        target.goal().to_owned(),
                        if pass { "PASS" } else { "MISS" }.to_owned(),
                    ]),
                    Outcome::Skipped(reason) => row.extend([
                        reason,
                        "-".to_owned(),
                        "-".to_owned(),
                        target.goal().to_owned(),
                        "SKIPPED".to_owned(),
                    ]),
                }
                row
            })
            .collect();
        self.table(
            &[
                "measurement",
                "measured",
                "baseline",
                "ratio",
                "target",
                "result",
            ],
            rows,
        );
    }
}

fn python3_available() -> bool {
    Command::new("python3")
        .args(["-c", "pass"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Where `python3` is, so that it is spawned like the other programs (by path).
fn python3_path() -> Option<PathBuf> {
    if !python3_available() {
        return None;
    }
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()?;
    let path = String::from_utf8(output.stdout).ok()?;
    let path = Path::new(path.trim());
    path.exists().then(|| path.to_path_buf())
}

/// Section 1: the dynamic API against libc's `atexit` (and CPython's, for reference)
/// with 1,000,000 handlers registered, then run at exit.
fn dynamic(report: &mut Report, runs: usize) {
    let handlers = DYNAMIC_HANDLERS.to_string();
    let mut programs = vec![
        Program::sibling(
            "`atexit::register` (move closure)",
            "dynamic_atexit",
            &[&handlers],
        ),
        Program::sibling(
            "libc `atexit` (`extern \"C\" fn`)",
            "dynamic_libc",
            &[&handlers],
        ),
    ];
    let python = python3_path();
    if let Some(python) = &python {
        programs.push(Program {
            label: "CPython `atexit.register` (for reference)".to_owned(),
            path: python.clone(),
            args: vec!["-c".into(), PYTHON_DYNAMIC.into(), handlers.clone()],
        });
    }
    let samples = measure(&programs, runs);
    for (program, samples) in programs.iter().zip(&samples) {
        for sample in samples {
            assert_eq!(
                sample.number("exit_handlers") as usize,
                DYNAMIC_HANDLERS,
                "{}: every handler ran",
                program.label
            );
        }
    }
    let libc_wall = stat(&samples[1], wall).0;
    let libc_rss = stat(&samples[1], rss).0;
    let rows = programs
        .iter()
        .zip(&samples)
        .map(|(program, samples)| {
            let wall_ns = stat(samples, wall).0;
            let rss_kib = stat(samples, rss).0;
            vec![
                program.label.clone(),
                ms(wall_ns),
                ms(stat(samples, |s| s.span("main_start", "registered")).0),
                ms(stat(samples, Sample::exit_run_ns).0),
                mib(rss_kib),
                mib(stat(samples, wait4_rss).0),
                ratio(wall_ns / libc_wall),
                ratio(rss_kib / libc_rss),
            ]
        })
        .collect();
    report.line(format!(
        "### 1. Dynamic: {} handlers registered, then run at exit ({runs} runs, medians)\n",
        grouped(DYNAMIC_HANDLERS as u64)
    ));
    report.table(
        &[
            "program",
            "wall ms",
            "register ms",
            "exit run ms",
            "peak RSS MiB",
            "wait4 maxrss MiB",
            "wall vs libc",
            "RSS vs libc",
        ],
        rows,
    );
    report.line(
        "Wall time is the whole process, from just before the spawn until it is reaped: start, registration, exit run and teardown. \
         Peak RSS is the program's own VmHWM, read in its last exit handler, so it covers the registration and the whole exit run; \
         wait4's maxrss is never below the spawning parent's peak on Linux, so it only matters for large programs.\n",
    );
    if python.is_none() {
        report.line("python3 was not found: the CPython row is skipped.\n");
    }

    let atexit_wall = stat(&samples[0], wall).0;
    let atexit_rss = stat(&samples[0], rss).0;
    report.verdict(
        Target::DynamicRss,
        format!("{} MiB", mib(atexit_rss)),
        format!("{} MiB", mib(libc_rss)),
        atexit_rss / libc_rss,
        atexit_rss <= libc_rss,
    );
    report.verdict(
        Target::DynamicWall,
        format!("{} ms", ms(atexit_wall)),
        format!("{} ms", ms(libc_wall)),
        atexit_wall / libc_wall,
        atexit_wall <= libc_wall,
    );
}

/// Issue 18, break 6: 1,000,000 handlers at as many priorities, each a new highest or
/// a new lowest, against 1,000,000 at one priority, registered then run at exit.
fn priorities(report: &mut Report, runs: usize) {
    let handlers = DYNAMIC_HANDLERS.to_string();
    let programs = [
        Program::sibling("one priority", "dynamic_atexit", &[&handlers, "same"]),
        Program::sibling(
            "ascending: each a new highest",
            "dynamic_atexit",
            &[&handlers, "ascending"],
        ),
        Program::sibling(
            "descending: each a new lowest",
            "dynamic_atexit",
            &[&handlers, "descending"],
        ),
    ];
    let samples = measure(&programs, runs);
    let one_wall = stat(&samples[0], wall).0;
    let rows = programs
        .iter()
        .zip(&samples)
        .map(|(program, samples)| {
            for sample in samples {
                assert_eq!(
                    sample.number("exit_handlers") as usize,
                    DYNAMIC_HANDLERS,
                    "{}: every handler ran",
                    program.label
                );
            }
            let wall_ns = stat(samples, wall).0;
            vec![
                program.label.clone(),
                ms(wall_ns),
                ms(stat(samples, |s| s.span("main_start", "registered")).0),
                ms(stat(samples, Sample::exit_run_ns).0),
                mib(stat(samples, rss).0),
                ratio(wall_ns / one_wall),
            ]
        })
        .collect();
    report.line(format!(
        "### 1b. Priorities: {} handlers at one priority or at as many ({runs} runs, medians)\n",
        grouped(DYNAMIC_HANDLERS as u64)
    ));
    report.table(
        &[
            "priorities",
            "wall ms",
            "register ms",
            "exit run ms",
            "peak RSS MiB",
            "wall vs one priority",
        ],
        rows,
    );
    for (target, samples) in [
        (Target::PrioritiesAscending, &samples[1]),
        (Target::PrioritiesDescending, &samples[2]),
    ] {
        let distinct = stat(samples, wall).0;
        report.verdict(
            target,
            format!("{} ms", ms(distinct)),
            format!("{} ms", ms(one_wall)),
            distinct / one_wall,
            distinct <= 2.0 * one_wall,
        );
    }
}

/// Section 2, for reference: the time to `main` and the exit run of 1,000 static exit
/// functions against `dtor`'s and against none.
fn statics(report: &mut Report, runs: usize) {
    let programs = [
        Program::sibling("1,000 `#[atexit::on_exit]`", "static_on_exit", &[]),
        Program::sibling("1,000 `#[dtor]`", "static_dtor", &[]),
        Program::sibling("none (1 libc `atexit` probe)", "static_none", &[]),
    ];
    let samples = measure(&programs, runs);
    let rows = programs
        .iter()
        .zip(&samples)
        .map(|(program, samples)| {
            let (to_main, to_main_mad) = stat(samples, Sample::time_to_main_ns);
            let (exit_run, exit_run_mad) = stat(samples, Sample::exit_run_ns);
            vec![
                program.label.clone(),
                format!("{} ± {}", us(to_main), us(to_main_mad)),
                format!("{} ± {}", us(exit_run), us(exit_run_mad)),
                us(stat(samples, wall).0),
                mib(stat(samples, rss).0),
            ]
        })
        .collect();
    report.line(format!(
        "### 2. Static: 1,000 exit functions, times for reference ({runs} runs, medians ± median absolute deviation)\n"
    ));
    report.table(
        &[
            "binary",
            "time to main µs",
            "exit run µs",
            "wall µs",
            "peak RSS MiB",
        ],
        rows,
    );

    let (on_exit_main, on_exit_mad) = stat(&samples[0], Sample::time_to_main_ns);
    let (none_main, none_mad) = stat(&samples[2], Sample::time_to_main_ns);
    // The noise is the 95% confidence interval of the difference of the two medians.
    // A median's standard error is about 1.2533 σ / √n, and σ ≈ 1.4826 MAD for
    // roughly normal data; MAD itself would be far wider than the uncertainty of a
    // median of many runs.
    let standard_error = |mad: f64| 1.2533 * 1.4826 * mad / (runs as f64).sqrt();
    let noise = 1.96 * standard_error(on_exit_mad).hypot(standard_error(none_mad));
    let on_exit_run = stat(&samples[0], Sample::exit_run_ns).0;
    let dtor_run = stat(&samples[1], Sample::exit_run_ns).0;
    report.line(format!(
        "Time to main against none: {:+.0} µs (noise ±{} µs). Exit run against `dtor`: {}.\n",
        (on_exit_main - none_main) / 1e3,
        us(noise),
        ratio(on_exit_run / dtor_run)
    ));
}

/// Whether `valgrind` can be started.
fn valgrind_available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The instructions `program` executes under callgrind: the whole process on every
/// thread, from the dynamic loader's first instruction to the exit system call.
///
/// Read from the totals line of the profile callgrind writes, which is repeatable to a
/// few instructions from run to run, unlike times.
fn callgrind_instructions(program: &Program) -> f64 {
    let profile_path = std::env::temp_dir().join(format!(
        "atexit-bench-{}-{}.callgrind",
        std::process::id(),
        program.name()
    ));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", profile_path.display()))
        .arg(&program.path)
        .args(&program.args)
        .stdin(Stdio::null())
        .output()
        .expect("valgrind can be started");
    let profile = std::fs::read_to_string(&profile_path);
    let _ = std::fs::remove_file(&profile_path);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "callgrind of {} failed ({}); it printed:\n{stdout}\n{}",
        program.name(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // The probe reports only once every expected handler has run.
    assert!(
        parse_values(&stdout).contains_key("exit_handlers"),
        "{}: not every exit handler ran under callgrind; it printed:\n{stdout}",
        program.name()
    );
    let profile = profile.expect("callgrind wrote its profile");
    profile
        .lines()
        .find_map(|line| {
            line.strip_prefix("totals:")
                .or_else(|| line.strip_prefix("summary:"))
        })
        .and_then(|counts| counts.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("callgrind's profile of {} has no totals", program.name()))
        as f64
}

/// Section 3: the instructions each static exit function adds to the whole process,
/// counted by callgrind, against what each `#[dtor]` adds.
fn instructions(report: &mut Report, runs: usize) {
    report.line(format!(
        "### 3. Static: instructions of the whole process, 1,000 exit functions (callgrind, {runs} runs, medians)\n"
    ));
    if !valgrind_available() {
        let reason = "valgrind not found";
        report
            .line("valgrind was not found: the instruction counts and their target are skipped.\n");
        report.skip(Target::StaticInstructions, reason);
        return;
    }
    let programs = [
        Program::sibling("1,000 `#[atexit::on_exit]`", "static_on_exit", &[]),
        Program::sibling("1,000 `#[dtor]`", "static_dtor", &[]),
        Program::sibling("none (1 libc `atexit` probe)", "static_none", &[]),
        Program::sibling(
            "1,000 `#[atexit::on_exit]` in 10 files",
            "static_on_exit_files",
            &[],
        ),
    ];
    let counts: Vec<f64> = programs
        .iter()
        .map(|program| median((0..runs).map(|_| callgrind_instructions(program)).collect()))
        .collect();
    // The static programs declare as many exit functions as `build.rs` generates.
    let handlers = run_once(&programs[0]).number("exit_handlers");
    let none = counts[2];
    let rows = programs
        .iter()
        .zip(&counts)
        .map(|(program, &count)| {
            let extra = count - none;
            vec![
                program.label.clone(),
                grouped(count as u64),
                format!(
                    "{}{}",
                    if extra < 0.0 { "-" } else { "+" },
                    grouped(extra.abs() as u64)
                ),
                if program.name() == "static_none" {
                    "-".to_owned()
                } else {
                    format!("{:.1}", extra / handlers)
                },
            ]
        })
        .collect();
    report.table(
        &[
            "binary",
            "instructions",
            "extra over none",
            "extra per handler",
        ],
        rows,
    );
    report.line(
        "Every instruction the process executes, the dynamic loader's included, from its start to its exit. \
         All the programs run the same handler body and report once at exit; \
         `none` has one libc `atexit` handler for that report. The target is measured on the first, whose \
         handlers are in one file (the linker keeps them in order); with the same handlers in 10 files the \
         runtime sorts them.\n",
    );
    let on_exit = (counts[0] - none) / handlers;
    let dtor = (counts[1] - none) / handlers;
    report.verdict(
        Target::StaticInstructions,
        format!("{on_exit:.1} instructions per handler"),
        format!("{dtor:.1} per `#[dtor]`"),
        on_exit / dtor,
        on_exit <= 3.0 * dtor,
    );
}

/// Section 4: guards and unregistration under churn, and the memory they keep.
fn churn(report: &mut Report, runs: usize) {
    let long_guard = GUARD_CYCLES.to_string();
    let long_unregister = UNREGISTER_CYCLES.to_string();
    let short = SHORT_CYCLES.to_string();
    let programs = [
        Program::sibling("`atexit::guard`", "churn", &["guard", &long_guard]),
        Program::sibling("`atexit::guard`", "churn", &["guard", &short]),
        Program::sibling("`scopeguard::guard`", "churn", &["scopeguard", &long_guard]),
        Program::sibling("`scopeguard::guard`", "churn", &["scopeguard", &short]),
        Program::sibling(
            "`register`, then random-order `unregister`",
            "churn",
            &["unregister", &long_unregister],
        ),
        Program::sibling(
            "`register`, then random-order `unregister`",
            "churn",
            &["unregister", &short],
        ),
        Program::sibling(
            "pointer chase: one random 32-byte slot of 32 MiB read per step",
            "churn",
            &["chase", &long_unregister],
        ),
    ];
    let samples = measure(&programs, runs);
    let per_op = |samples: &[Sample], key: &str| stat(samples, |s| s.number(key)).0;
    let rows = programs
        .iter()
        .zip(&samples)
        .map(|(program, samples)| {
            let time = if program.args[0] == "chase" {
                format!("{:.1}", per_op(samples, "step_ns"))
            } else if program.args[0] == "unregister" {
                format!(
                    "{:.1} / {:.1}",
                    per_op(samples, "register_ns"),
                    per_op(samples, "unregister_ns")
                )
            } else {
                format!("{:.1}", per_op(samples, "cycle_ns"))
            };
            vec![
                program.label.clone(),
                grouped(program.args[1].parse().expect("cycle counts are numbers")),
                time,
                mib(stat(samples, rss).0),
                mib(stat(samples, wait4_rss).0),
                ms(stat(samples, wall).0),
            ]
        })
        .collect();
    report.line(format!("### 4. Churn ({runs} runs, medians)\n"));
    report.table(
        &[
            "workload",
            "cycles",
            "ns per op (register / unregister)",
            "peak RSS MiB",
            "wait4 maxrss MiB",
            "wall ms",
        ],
        rows,
    );
    let short_guard_rss = stat(&samples[1], rss).0;
    let long_guard_rss = stat(&samples[0], rss).0;
    let growth_kib = long_guard_rss - short_guard_rss;
    let unregister_growth_kib = stat(&samples[4], rss).0 - stat(&samples[5], rss).0;
    report.line(format!(
        "Times per operation are taken inside the process around the loops alone (the long runs' figures are the targets'). \
         Peak RSS is the process's own VmHWM at the end of `main`; over the 1,000-cycle run: guard {growth_kib:+.0} KiB, \
         register/unregister {unregister_growth_kib:+.0} KiB (the latter includes the `Vec` of handles the program keeps).\n"
    ));

    let guard = per_op(&samples[0], "cycle_ns");
    let plain = per_op(&samples[2], "cycle_ns");
    report.verdict(
        Target::Guard,
        format!("{guard:.1} ns"),
        format!("{plain:.1} ns"),
        guard / plain,
        guard <= 5.0 * plain,
    );
    let register = per_op(&samples[4], "register_ns");
    let unregister = per_op(&samples[4], "unregister_ns");
    report.verdict(
        Target::Unregister,
        format!("{unregister:.1} ns"),
        format!("{register:.1} ns"),
        unregister / register,
        unregister <= 2.0 * register,
    );
    let chase = per_op(&samples[6], "step_ns");
    report.verdict(
        Target::UnregisterFloor,
        format!("{unregister:.1} ns"),
        format!("{chase:.1} ns"),
        unregister / chase,
        unregister <= 1.2 * chase,
    );
    report.verdict(
        Target::GuardRss,
        format!("{} MiB ({growth_kib:+.0} KiB)", mib(long_guard_rss)),
        format!("{} MiB", mib(short_guard_rss)),
        long_guard_rss / short_guard_rss,
        growth_kib <= FLAT_TOLERANCE_KIB,
    );
}

/// Section 5: the registration phase of 1,000,000 handlers on two threads against one.
fn threads(report: &mut Report, runs: usize) {
    let total = THREAD_REGISTRATIONS.to_string();
    let programs = [
        Program::sibling("1 thread", "threads", &["1", &total]),
        Program::sibling("2 threads", "threads", &["2", &total]),
    ];
    let samples = measure(&programs, runs);
    let elapsed = |samples: &[Sample]| stat(samples, |s| s.number("elapsed_ns")).0;
    let one = elapsed(&samples[0]);
    let rows = programs
        .iter()
        .zip(&samples)
        .map(|(program, samples)| {
            let elapsed = elapsed(samples);
            vec![
                program.label.clone(),
                ms(elapsed),
                format!("{:.1}", THREAD_REGISTRATIONS as f64 / elapsed * 1e3),
                ratio(elapsed / one),
            ]
        })
        .collect();
    report.line(format!(
        "### 5. Concurrent registration: {} `register` calls in all ({runs} runs, medians)\n",
        grouped(THREAD_REGISTRATIONS as u64)
    ));
    report.table(
        &[
            "threads",
            "registration wall ms",
            "M registrations/s",
            "wall vs 1 thread",
        ],
        rows,
    );
    report.line(
        "The registration phase alone, timed inside the process with CLOCK_MONOTONIC (shared by its threads): \
         from the first worker starting to register to the last one finishing. \
         Process start, thread creation and the exit run are not part of it.\n",
    );
    let two = elapsed(&samples[1]);
    report.verdict(
        Target::TwoThreads,
        format!("{} ms", ms(two)),
        format!("{} ms", ms(one)),
        two / one,
        two <= one,
    );
}

/// One part of the report: it measures and appends its table and verdicts, given
/// how many runs of each program to make.
type Section = fn(&mut Report, usize);

/// The command line: `--runs N` (`None` keeps each section's default) and `--only
/// SECTION` (`None`: all of them).
fn options() -> (Option<usize>, Option<String>) {
    let usage = "usage: compare [--runs N] [--only SECTION]";
    let mut args = std::env::args().skip(1);
    let (mut runs, mut only) = (None, None);
    while let Some(flag) = args.next() {
        let value = args.next().expect(usage);
        match flag.as_str() {
            "--runs" => {
                runs = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|&runs| runs > 0)
                        .expect("--runs takes a positive whole number"),
                )
            }
            "--only" => only = Some(value),
            _ => panic!("{usage}"),
        }
    }
    (runs, only)
}

/// Under `cargo run`, builds the measured programs first: `cargo run --bin compare`
/// builds only this binary, and stale or missing siblings would be measured or fail.
fn build_siblings() {
    let Some(cargo) = std::env::var_os("CARGO") else {
        return;
    };
    let exe = std::env::current_exe().expect("the path of the running executable");
    let profile = match exe
        .parent()
        .and_then(Path::file_name)
        .and_then(|dir| dir.to_str())
    {
        Some("debug") => "dev".to_owned(),
        Some(dir) => dir.to_owned(),
        None => return,
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "atexit-bench",
            "--bins",
            "--profile",
        ])
        .arg(&profile)
        .arg("--manifest-path")
        .arg(&manifest)
        .status()
        .expect("cargo can be started");
    assert!(status.success(), "building the measured programs failed");
    let status = Command::new(std::env::var_os("CARGO").expect("checked above"))
        .args([
            "build",
            "--quiet",
            "-p",
            "atexit-bench",
            "--bin",
            "dynamic_atexit",
            "--profile",
            ABORT_PROFILE,
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .status()
        .expect("cargo can be started");
    assert!(
        status.success(),
        "building the panic = \"abort\" program failed"
    );
}

/// The workspace's profile that is `release` with `panic = "abort"`.
const ABORT_PROFILE: &str = "release-abort";

/// Section 6: what the exit run's own thread costs. Every run that may start a
/// thread executes its handlers on one thread of the runtime's: a small program pays
/// for starting it once; a large registry pays nothing per handler without a time
/// limit, and one compare-and-swap per handler with one.
fn exit_thread(report: &mut Report, runs: usize) {
    let handlers = DYNAMIC_HANDLERS.to_string();
    let programs = [
        Program::sibling("`atexit::register`", "dynamic_atexit", &[&handlers]),
        Program::sibling(
            "`atexit::register`, handler timeout set",
            "dynamic_atexit",
            &[&handlers, "timeout"],
        ),
        Program::sibling_in_profile(
            "`atexit::register`, `panic = \"abort\"`",
            ABORT_PROFILE,
            "dynamic_atexit",
            &[&handlers],
        ),
        Program::sibling("libc `atexit`", "dynamic_libc", &[&handlers]),
        Program::sibling("one `#[atexit::on_exit]`", "one_on_exit", &[]),
        Program::sibling("one `#[dtor]`", "one_dtor", &[]),
    ];
    let samples = measure(&programs, runs);
    for (program, samples) in programs.iter().zip(&samples) {
        let expected = if program.args.is_empty() {
            1
        } else {
            DYNAMIC_HANDLERS
        };
        for sample in samples {
            assert_eq!(
                sample.number("exit_handlers") as usize,
                expected,
                "{}: every handler ran",
                program.label
            );
        }
    }
    let libc_wall = stat(&samples[3], wall).0;
    let dtor_wall = stat(&samples[5], wall).0;
    let rows = programs
        .iter()
        .zip(&samples)
        .enumerate()
        .map(|(index, (program, samples))| {
            let wall_ns = stat(samples, wall).0;
            let baseline = if index < 4 { libc_wall } else { dtor_wall };
            vec![
                program.label.clone(),
                us(wall_ns),
                ratio(wall_ns / baseline),
            ]
        })
        .collect();
    report.line(format!(
        "### 6. The exit run's thread ({runs} runs, medians)\n\nThe first four programs run {} dynamic handlers (against libc `atexit`); the last two have one exit function (against `dtor`).\n",
        grouped(DYNAMIC_HANDLERS as u64)
    ));
    report.table(&["program", "wall µs", "ratio"], rows);
    let one = stat(&samples[4], wall).0;
    report.line(format!(
        "One handler: {:+.0} µs of whole-process time over `dtor` (starting the run's thread and joining it).\n",
        (one - dtor_wall) / 1e3
    ));
    for (target, index) in [
        (Target::DynamicWallTimeout, 1),
        (Target::DynamicWallAbort, 2),
    ] {
        let atexit_wall = stat(&samples[index], wall).0;
        report.verdict(
            target,
            format!("{} ms", ms(atexit_wall)),
            format!("{} ms", ms(libc_wall)),
            atexit_wall / libc_wall,
            atexit_wall <= libc_wall,
        );
    }
}

/// Section 7: what the crate costs a user's clean release build, against a `linkme`
/// slice's, as `build_time` measures it (each build from an empty target directory,
/// alternating).
fn build(report: &mut Report, runs: usize) {
    report.line(format!(
        "### 7. Build: a user's clean `cargo build --release` of a hello world ({runs} alternating run(s), medians)\n"
    ));
    let [one_handler, linkme] = atexit_bench::build_time::measure(runs);
    let seconds = |time: std::time::Duration| time.as_secs_f64();
    let rows = [
        ("one `#[atexit::on_exit]` handler", one_handler),
        ("one-element `linkme` slice", linkme),
    ]
    .into_iter()
    .map(|(program, time)| {
        vec![
            program.to_owned(),
            format!("{:.2}", seconds(time.wall)),
            format!("{:.2}", seconds(time.cpu)),
        ]
    })
    .collect();
    report.table(&["program", "wall s", "CPU s (user + system)"], rows);
    report.line(
        "Wall time is what the user waits; CPU time, the work of cargo and every compiler it ran, \
         which load on the machine barely changes. On two cores a build is bound by CPU.\n",
    );
    let extra = seconds(one_handler.wall) - seconds(linkme.wall);
    report.verdict(
        Target::BuildTime,
        format!("{:.2} s ({extra:+.2} s)", seconds(one_handler.wall)),
        format!("{:.2} s", seconds(linkme.wall)),
        seconds(one_handler.wall) / seconds(linkme.wall),
        extra <= 1.0,
    );
}

fn main() {
    let (runs, only) = options();
    build_siblings();
    let started = monotonic_ns();
    let mut report = Report::default();
    report.line(format!(
        "## atexit whole-process benchmarks ({} CPUs)\n",
        std::thread::available_parallelism().map_or(0, |cpus| cpus.get())
    ));
    let sections: [(&str, Section, usize); 8] = [
        ("dynamic", dynamic, 15),
        ("priorities", priorities, 7),
        ("static", statics, 41),
        ("instructions", instructions, 3),
        ("churn", churn, 11),
        ("threads", threads, 41),
        ("exit_thread", exit_thread, 15),
        ("build", build, 1),
    ];
    for (name, section, default_runs) in sections {
        if only.as_ref().is_some_and(|only| only != name) {
            continue;
        }
        eprintln!("measuring: {name}");
        section(&mut report, runs.unwrap_or(default_runs));
        // Each table is printed as soon as it is complete, so a long run shows progress.
        print!("{}", std::mem::take(&mut report.text));
    }
    report.targets();
    let mut footer = String::new();
    let _ = write!(
        footer,
        "Total time: {:.1} s.",
        (monotonic_ns() - started) as f64 / 1e9
    );
    report.line(footer);
    print!("{}", report.text);
}
