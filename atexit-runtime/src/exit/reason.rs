//! Why the process exits: [`ExitReason`], which handlers read with
//! [`exit_reason`](crate::exit_reason).

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Why the exit handlers are running, as [`exit_reason`](crate::exit_reason) tells a
/// handler.
///
/// ```
/// use atexit::ExitReason;
///
/// atexit::register(|| match atexit::exit_reason() {
///     Some(ExitReason::Exit(0)) => println!("clean shutdown"),
///     Some(ExitReason::Signal(signal)) => println!("stopped by signal {signal}"),
///     Some(reason) => println!("exiting: {reason}"),
///     None => unreachable!("handlers run inside an exit run"),
/// });
/// # atexit::clear();
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// `main` returned (an `Err` or an `ExitCode` included), or `std::process::exit`
    /// or [`atexit::exit`](crate::exit) was called: the status passed to the C
    /// library's `exit`. After a handler calls `atexit::exit(n)`, the handlers after
    /// it see `Exit(n)`.
    Exit(i32),
    /// The same as [`Exit`](Self::Exit), on a platform whose C library does not tell
    /// the status to exit handlers (musl, macOS, Windows): only Linux with glibc does.
    ExitStatusUnknown,
    /// `main` panicked (with `panic = "unwind"`: the status stays 101), or any thread
    /// panicked (with `panic = "abort"`: the process aborts after the handlers).
    Panic,
    /// A signal caught by [`catch_signals`](crate::catch_signals): its number. Also
    /// when the program ended by itself (returning from `main`, `std::process::exit`)
    /// after the signal asked it to [stop](crate::set_stop_grace).
    Signal(i32),
    /// The program called [`run_exit_handlers`](crate::run_exit_handlers).
    Explicit,
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Exit(status) => write!(f, "exit with status {status}"),
            ExitReason::ExitStatusUnknown => f.write_str("exit"),
            ExitReason::Panic => f.write_str("panic"),
            ExitReason::Signal(signal) => write!(f, "signal {signal}"),
            ExitReason::Explicit => f.write_str("run_exit_handlers()"),
        }
    }
}

/// The reason of the run going on, packed as a tag and a value; `NONE` outside runs.
static REASON: AtomicU64 = AtomicU64::new(NONE);
const NONE: u64 = 0;

impl ExitReason {
    fn pack(self) -> u64 {
        let (tag, value) = match self {
            ExitReason::Exit(status) => (1, status),
            ExitReason::ExitStatusUnknown => (2, 0),
            ExitReason::Panic => (3, 0),
            ExitReason::Signal(signal) => (4, signal),
            ExitReason::Explicit => (5, 0),
        };
        tag << 32 | u64::from(value as u32)
    }

    fn unpack(packed: u64) -> Option<Self> {
        let value = packed as u32 as i32;
        Some(match packed >> 32 {
            1 => ExitReason::Exit(value),
            2 => ExitReason::ExitStatusUnknown,
            3 => ExitReason::Panic,
            4 => ExitReason::Signal(value),
            5 => ExitReason::Explicit,
            _ => return None,
        })
    }
}

/// The reason of the run going on.
pub(crate) fn current() -> Option<ExitReason> {
    ExitReason::unpack(REASON.load(Ordering::SeqCst))
}

/// Sets the reason of the run that ends the process.
pub(super) fn set(reason: ExitReason) {
    REASON.store(reason.pack(), Ordering::SeqCst);
}

/// Explicit runs going on: the reason is `Explicit` while there is one, unless the
/// process is exiting.
static EXPLICIT_RUNS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The explicit runs this thread is inside, which a forked child keeps.
    static EXPLICIT_RUNS_HERE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// An explicit run begins.
pub(super) fn explicit_run_begins() {
    EXPLICIT_RUNS_HERE.set(EXPLICIT_RUNS_HERE.get() + 1);
    EXPLICIT_RUNS.fetch_add(1, Ordering::SeqCst);
    let _ = REASON.compare_exchange(
        NONE,
        ExitReason::Explicit.pack(),
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
}

/// An explicit run ended: the last one clears the reason it set.
pub(super) fn explicit_run_ends() {
    EXPLICIT_RUNS_HERE.set(EXPLICIT_RUNS_HERE.get() - 1);
    if EXPLICIT_RUNS.fetch_sub(1, Ordering::SeqCst) == 1 {
        let _ = REASON.compare_exchange(
            ExitReason::Explicit.pack(),
            NONE,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }
}

/// `atexit::exit(code)` was called in a handler: the handlers after it see
/// `Exit(code)`, unless a signal, or a panic with nothing to unwind, ends the process
/// whatever the code.
pub(super) fn exit_requested(code: i32) {
    let _ =
        REASON.fetch_update(
            Ordering::SeqCst,
            Ordering::SeqCst,
            |packed| match ExitReason::unpack(packed) {
                Some(ExitReason::Signal(_)) if !super::after_stop::exit_replaces_signal() => None,
                Some(ExitReason::Panic) if cfg!(panic = "abort") => None,
                _ => Some(ExitReason::Exit(code).pack()),
            },
        );
}

/// Called in a forked child: only this thread's explicit runs go on there.
#[cfg(unix)]
pub(super) fn forget() {
    let here = EXPLICIT_RUNS_HERE.get();
    EXPLICIT_RUNS.store(here, Ordering::SeqCst);
    let reason = if here > 0 {
        ExitReason::Explicit.pack()
    } else {
        NONE
    };
    REASON.store(reason, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_survives_packing() {
        for reason in [
            ExitReason::Exit(0),
            ExitReason::Exit(-1),
            ExitReason::Exit(i32::MIN),
            ExitReason::ExitStatusUnknown,
            ExitReason::Panic,
            ExitReason::Signal(15),
            ExitReason::Explicit,
        ] {
            assert_eq!(ExitReason::unpack(reason.pack()), Some(reason));
        }
        assert_eq!(ExitReason::unpack(NONE), None);
    }
}
