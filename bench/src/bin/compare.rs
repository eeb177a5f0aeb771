//! Runs the whole-process benchmarks side by side and prints their medians, the ratios
//! against the baselines and whether each target of the benchmark issue is met.
//!
//! ```text
//! cargo run --release -p atexit-bench --bin compare [-- --runs N]
//! ```
//!
//! Every measured program is a binary of this package, found next to this one (under
//! `cargo run`, they are built first); CPython is used when `python3` is on the PATH. Each program runs several
//! times, interleaved with the others it is compared with so that a burst of load on
//! the machine hits them all alike, and medians are reported. `--runs N` sets the
//! number of runs of every program (the defaults keep the whole run well under two
//! minutes on two cores).

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
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our unreaped child; `status` and `usage` are valid and writable.
    // `Child` is never waited on afterwards, so the pid is reaped exactly once.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall_ns = monotonic_ns() - spawn_ns;
    assert_eq!(
        reaped,
        pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    let succeeded = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    assert!(
        succeeded,
        "{} {:?} failed (wait status {status:#x}); it printed:\n{output}",
        program.path.display(),
        program.args
    );
    let values = output
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(key, value)| (key.to_owned(), value.trim().to_owned()))
        .collect();
    Sample {
        spawn_ns,
        wall_ns,
        max_rss_kib: usage.ru_maxrss as u64,
        values,
    }
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

/// One line of the targets table.
struct Verdict {
    target: String,
    measured: String,
    pass: bool,
}

/// Collects the tables and the verdicts, and prints them at the end.
#[derive(Default)]
struct Report {
    text: String,
    verdicts: Vec<Verdict>,
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

    fn verdict(&mut self, target: &str, measured: String, pass: bool) {
        self.verdicts.push(Verdict {
            target: target.to_owned(),
            measured,
            pass,
        });
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
            label: "CPython `atexit.register`".to_owned(),
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
        "### 1. Dynamic: {DYNAMIC_HANDLERS} handlers registered, then run at exit ({runs} runs, medians)\n"
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
        "Peak RSS is the program's own VmHWM at the end of its exit run; wait4's maxrss is never below the spawning parent's peak on Linux, so it only matters for large programs.\n",
    );
    if python.is_none() {
        report.line("python3 was not found: the CPython row and target are skipped.\n");
    }

    let atexit_wall = stat(&samples[0], wall).0;
    let atexit_rss = stat(&samples[0], rss).0;
    report.verdict(
        "Dynamic 1M: wall time ≤ 1.0x libc `atexit`",
        format!(
            "{} ({} ms vs {} ms)",
            ratio(atexit_wall / libc_wall),
            ms(atexit_wall),
            ms(libc_wall)
        ),
        atexit_wall <= libc_wall,
    );
    report.verdict(
        "Dynamic 1M: peak RSS ≤ 1.0x libc `atexit`",
        format!(
            "{} ({} MiB vs {} MiB)",
            ratio(atexit_rss / libc_rss),
            mib(atexit_rss),
            mib(libc_rss)
        ),
        atexit_rss <= libc_rss,
    );
    if python.is_some() {
        let python_wall = stat(&samples[2], wall).0;
        report.verdict(
            "Dynamic 1M: ≥ 5x faster than CPython",
            format!(
                "{} faster ({} ms vs {} ms)",
                ratio(python_wall / atexit_wall),
                ms(atexit_wall),
                ms(python_wall)
            ),
            python_wall >= 5.0 * atexit_wall,
        );
    }
}

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
        "### 2. Static: 1,000 exit functions ({runs} runs, medians ± median absolute deviation)\n"
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
    // "Within noise": inside the 95% confidence interval of the difference of the two
    // medians. A median's standard error is about 1.2533 σ / √n, and σ ≈ 1.4826 MAD
    // for roughly normal data; MAD itself would be far wider than the uncertainty of
    // a median of many runs.
    let standard_error = |mad: f64| 1.2533 * 1.4826 * mad / (runs as f64).sqrt();
    let noise = 1.96 * standard_error(on_exit_mad).hypot(standard_error(none_mad));
    let difference = on_exit_main - none_main;
    report.verdict(
        "Static 1,000: time to main = no-handler binary within noise",
        format!(
            "{} µs vs {} µs: {:+.0} µs, noise ±{} µs",
            us(on_exit_main),
            us(none_main),
            difference / 1e3,
            us(noise)
        ),
        difference.abs() <= noise,
    );
    let on_exit_run = stat(&samples[0], Sample::exit_run_ns).0;
    let dtor_run = stat(&samples[1], Sample::exit_run_ns).0;
    report.verdict(
        "Static 1,000: exit run ≤ 2x `dtor`",
        format!(
            "{} ({} µs vs {} µs)",
            ratio(on_exit_run / dtor_run),
            us(on_exit_run),
            us(dtor_run)
        ),
        on_exit_run <= 2.0 * dtor_run,
    );
}

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
    ];
    let samples = measure(&programs, runs);
    let per_op = |samples: &[Sample], key: &str| stat(samples, |s| s.number(key)).0;
    let rows = programs
        .iter()
        .zip(&samples)
        .map(|(program, samples)| {
            let time = if program.args[0] == "unregister" {
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
                program.args[1].clone(),
                time,
                mib(stat(samples, rss).0),
                mib(stat(samples, wait4_rss).0),
                ms(stat(samples, wall).0),
            ]
        })
        .collect();
    report.line(format!("### 3. Churn ({runs} runs, medians)\n"));
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

    let growth_kib = stat(&samples[0], rss).0 - stat(&samples[1], rss).0;
    let unregister_growth_kib = stat(&samples[4], rss).0 - stat(&samples[5], rss).0;
    report.line(format!(
        "Peak RSS over the 1,000-cycle run: guard {growth_kib:+.0} KiB, register/unregister {unregister_growth_kib:+.0} KiB (the latter includes the 24 MB `Vec` of handles the program keeps).\n"
    ));
    report.verdict(
        "Churn: peak RSS after 10M guard cycles within 1 MiB of 1,000 cycles",
        format!("{growth_kib:+.0} KiB"),
        growth_kib <= 1024.0,
    );
    let register = per_op(&samples[4], "register_ns");
    let unregister = per_op(&samples[4], "unregister_ns");
    report.verdict(
        "Churn: random-order unregister of 1M ≤ 2x registering them",
        format!(
            "{} ({unregister:.1} ns vs {register:.1} ns per op)",
            ratio(unregister / register)
        ),
        unregister <= 2.0 * register,
    );
    let guard = per_op(&samples[0], "cycle_ns");
    let plain = per_op(&samples[2], "cycle_ns");
    report.verdict(
        "Churn: guard cycle ≤ 3x an unregistered scopeguard",
        format!("{} ({guard:.1} ns vs {plain:.1} ns)", ratio(guard / plain)),
        guard <= 3.0 * plain,
    );
}

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
                ratio(one / elapsed),
            ]
        })
        .collect();
    report.line(format!(
        "### 4. Concurrent registration: {THREAD_REGISTRATIONS} `register` calls in all ({runs} runs, medians)\n"
    ));
    report.table(
        &[
            "threads",
            "elapsed ms",
            "throughput M registrations/s",
            "throughput vs 1 thread",
        ],
        rows,
    );
    let two = elapsed(&samples[1]);
    report.verdict(
        "Two threads registering at once keep 1-thread throughput",
        format!("{} of 1-thread throughput", ratio(one / two)),
        two <= one,
    );
}

/// One part of the report: it measures and appends its table and verdicts, given
/// how many runs of each program to make.
type Section = fn(&mut Report, usize);

/// Parses `--runs N`; `None` keeps each section's default.
fn runs_override() -> Option<usize> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => None,
        [flag, runs] if flag == "--runs" => Some(
            runs.parse()
                .ok()
                .filter(|&runs| runs > 0)
                .expect("--runs takes a positive whole number"),
        ),
        _ => panic!("usage: compare [--runs N]"),
    }
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
}

fn main() {
    let runs = runs_override();
    build_siblings();
    let started = monotonic_ns();
    let mut report = Report::default();
    report.line(format!(
        "## atexit whole-process benchmarks ({} CPUs)\n",
        std::thread::available_parallelism().map_or(0, |cpus| cpus.get())
    ));
    let sections: [(&str, Section, usize); 4] = [
        ("dynamic", dynamic, 9),
        ("static", statics, 41),
        ("churn", churn, 7),
        ("threads", threads, 21),
    ];
    for (name, section, default_runs) in sections {
        eprintln!("measuring: {name}");
        section(&mut report, runs.unwrap_or(default_runs));
        // Each table is printed as soon as it is complete, so a long run shows progress.
        print!("{}", std::mem::take(&mut report.text));
    }
    report.line("### Targets\n");
    let rows = std::mem::take(&mut report.verdicts)
        .into_iter()
        .map(|verdict| {
            vec![
                verdict.target,
                verdict.measured,
                if verdict.pass { "PASS" } else { "MISS" }.to_owned(),
            ]
        })
        .collect();
    report.table(&["target", "measured", "result"], rows);
    let mut footer = String::new();
    let _ = write!(
        footer,
        "Total time: {:.1} s.",
        (monotonic_ns() - started) as f64 / 1e9
    );
    report.line(footer);
    print!("{}", report.text);
}
