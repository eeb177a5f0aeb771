//! Benchmarks of `atexit` against libc's `atexit`, the `dtor` crate, CPython's
//! `atexit` module and plain scope guards.
//!
//! - `cargo bench -p atexit-bench`: micro benchmarks (divan) of the dynamic API.
//! - `cargo run --release -p atexit-bench --bin compare`: whole-process comparisons.
//!   It spawns the other programs of this package, which print what they measured
//!   as `key value` lines on stdout, and tabulates their medians.
//!
//! This library holds what the measured programs share: a clock that is comparable
//! across processes, and [`ExitProbe`], which stamps the end of an exit run.

#![warn(missing_docs)]

pub mod build_time;

use std::io::{Cursor, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// `CLOCK_MONOTONIC` in nanoseconds.
///
/// `std::time::Instant` cannot be compared between processes; this clock is shared
/// by every process on the machine, so a parent can subtract a child's reading from
/// its own.
#[cfg(unix)]
pub fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec, and CLOCK_MONOTONIC always exists.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// The system clock in nanoseconds, where there is no `CLOCK_MONOTONIC`: shared
/// between processes too, but it may jump. The figures in the README come from Linux.
#[cfg(not(unix))]
pub fn monotonic_ns() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the system clock is after 1970");
    u64::try_from(since_epoch.as_nanos()).expect("nanoseconds since 1970 fit in a u64")
}

/// When the measured program left `main`, set by [`leaving_main`].
static EXIT_START: AtomicU64 = AtomicU64::new(0);

/// Counts the exit handlers of a measured program as they run; the one that completes
/// the expected count prints `exit_start` and `exit_end` timestamps.
///
/// Counting, rather than relying on one handler being last, works whatever order the
/// mechanism under test runs its handlers in, and every handler does the same work.
pub struct ExitProbe {
    expected: AtomicUsize,
    hits: AtomicUsize,
}

impl ExitProbe {
    /// A probe expecting `expected` handler runs; see [`ExitProbe::expect`].
    pub const fn new(expected: usize) -> Self {
        ExitProbe {
            expected: AtomicUsize::new(expected),
            hits: AtomicUsize::new(0),
        }
    }

    /// Sets how many runs complete the exit run, for programs sized at run time.
    pub fn expect(&self, expected: usize) {
        self.expected.store(expected, Ordering::Relaxed);
    }

    /// The body of every measured handler: counts one run, and reports the end of the
    /// exit run if it was the last expected one.
    ///
    /// Kept out of line so that every mechanism calls the same code.
    #[inline(never)]
    pub fn hit(&self) {
        let hits = self.hits.fetch_add(1, Ordering::Relaxed) + 1;
        if hits == self.expected.load(Ordering::Relaxed) {
            report_exit_end(hits);
        }
    }

    /// How many handler runs were counted so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }
}

/// Prints one `key value` line for the `compare` runner.
pub fn report(key: &str, value: impl std::fmt::Display) {
    println!("{key} {value}");
}

/// Prints `main_start` (taken by the caller as its first statement), flushes stdout,
/// and stamps the start of the exit run. Call it last in `main`.
///
/// The flush comes before the stamp so that writing the report is not counted as
/// part of the exit run.
pub fn leaving_main(main_start: u64) {
    report("main_start", main_start);
    std::io::stdout().flush().expect("stdout is writable");
    EXIT_START.store(monotonic_ns(), Ordering::Relaxed);
}

/// Writes the exit-run stamps, then the process's own peak RSS, with `write(2)`: it
/// runs inside libc's `exit`, where Rust's stdout may already be torn down.
///
/// The clock is read first, so reading the peak RSS is not part of the exit run.
fn report_exit_end(handlers: usize) {
    let end = monotonic_ns();
    let mut buffer = [0u8; 160];
    let mut cursor = Cursor::new(&mut buffer[..]);
    let written = writeln!(
        cursor,
        "exit_start {}\nexit_end {end}\nexit_handlers {handlers}\nexit_vm_hwm_kib {}",
        EXIT_START.load(Ordering::Relaxed),
        peak_rss_kib()
    );
    if written.is_err() {
        return;
    }
    let length = cursor.position() as usize;
    // SAFETY: the first `length` bytes of `buffer` are initialised; fd 1 is the
    // program's stdout, and a short or failed write only loses the report.
    // The count is a `size_t` on Unix and an `unsigned int` on Windows; 160 fits both.
    unsafe { libc::write(1, buffer.as_ptr().cast(), length as _) };
}

/// The process's peak resident set size so far (`VmHWM`), in KiB; 0 if unknown.
///
/// `compare` reads the peak from `wait4` too, but on Linux that figure is at least the
/// parent's own peak: `exec` folds the high-water mark of the address space it
/// replaces into the child's, and a spawned child replaces one shared with (vfork) or
/// copied from (fork) the parent. This one is the new program's alone.
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The numeric argument at `position` (1-based), or `default` if it is absent.
///
/// # Panics
/// If the argument is present but not a whole number.
pub fn arg_or(position: usize, default: usize) -> usize {
    match std::env::args().nth(position) {
        Some(text) => text
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("argument {position} must be a whole number, not {text:?}")),
        None => default,
    }
}
