//! The time limits of an exit: the handler timeout and the deadline of the whole
//! exit, each set by a function or by an environment variable of whole milliseconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::report;

/// How long an exit after a panic may take when the program set no deadline, with
/// `panic = "abort"`: the panic may have left a lock held that a handler waits for.
#[cfg_attr(not(panic = "abort"), allow(dead_code))]
pub(super) const DEADLINE_AFTER_PANIC: Duration = Duration::from_secs(10);

/// `set_handler_timeout` and `ATEXIT_TIMEOUT_MS`.
pub(super) static TIMEOUT: Limit = Limit::new("ATEXIT_TIMEOUT_MS");
/// `set_exit_deadline` and `ATEXIT_DEADLINE_MS`.
pub(super) static DEADLINE: Limit = Limit::new("ATEXIT_DEADLINE_MS");

/// A duration the program may set, or leave to an environment variable.
pub(crate) struct Limit {
    /// Nanoseconds, or one of the markers below.
    setting: AtomicU64,
    variable: &'static str,
}

/// No limit, because nothing set one. The two markers of no limit are the greatest
/// values, so that a run asks "is a limit set?" with one comparison per handler.
const UNSET: u64 = u64::MAX;
/// No limit: the program said so, or the variable is empty or `0`.
const OFF: u64 = u64::MAX - 1;
/// The variable has not been read yet.
const FROM_ENV: u64 = u64::MAX - 2;
/// The longest limit: longer ones are capped here, a few centuries.
const LONGEST: u64 = u64::MAX - 3;

/// What is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Setting {
    Limit(Duration),
    /// The program or the variable turned it off.
    Off,
    /// Neither said anything.
    Unset,
}

impl Setting {
    pub(crate) fn duration(self) -> Option<Duration> {
        match self {
            Setting::Limit(duration) => Some(duration),
            Setting::Off | Setting::Unset => None,
        }
    }
}

impl Limit {
    pub(crate) const fn new(variable: &'static str) -> Self {
        Limit {
            setting: AtomicU64::new(FROM_ENV),
            variable,
        }
    }

    /// `None` or zero turns the limit off; the variable is not read afterwards.
    pub(crate) fn set(&self, limit: Option<Duration>) {
        self.setting.store(encode(limit), Ordering::SeqCst);
    }

    /// The setting in force. The variable is read once, so a bad value is reported
    /// once.
    pub(crate) fn get(&self) -> Setting {
        let mut setting = self.setting.load(Ordering::SeqCst);
        if setting == FROM_ENV {
            let (from_env, malformed) = self.read_variable();
            // The function may have been called meanwhile, and wins; another thread
            // may have read the variable too, and is the one to report it.
            setting = match self.setting.compare_exchange(
                FROM_ENV,
                from_env,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    if let Some(value) = malformed {
                        report::line(format_args!(
                            "ignoring {}={value:?}: not a whole number of milliseconds",
                            self.variable
                        ));
                    }
                    from_env
                }
                Err(set) => set,
            };
        }
        match setting {
            OFF => Setting::Off,
            UNSET => Setting::Unset,
            nanos => Setting::Limit(Duration::from_nanos(nanos)),
        }
    }

    pub(crate) fn duration(&self) -> Option<Duration> {
        self.get().duration()
    }

    /// Whether a limit is in force: what every handler of a run asks, so one load
    /// once the variable was read.
    #[inline]
    pub(super) fn is_set(&self) -> bool {
        self.in_force().is_some()
    }

    /// The limit in force, as [`duration`](Self::duration), in one load once the
    /// variable was read.
    #[inline]
    pub(super) fn in_force(&self) -> Option<Duration> {
        match self.setting.load(Ordering::Relaxed) {
            // `OFF | UNSET`, the greatest values: one comparison.
            setting if setting >= OFF => None,
            FROM_ENV => self.duration(),
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// The setting the variable asks for, and its value if that is malformed.
    fn read_variable(&self) -> (u64, Option<std::ffi::OsString>) {
        let Some(value) = std::env::var_os(self.variable) else {
            return (UNSET, None);
        };
        if value.is_empty() {
            return (OFF, None);
        }
        match value
            .to_str()
            .and_then(|text| text.trim().parse::<u64>().ok())
        {
            Some(millis) => (encode(Some(Duration::from_millis(millis))), None),
            None => (UNSET, Some(value)),
        }
    }

    /// Forgets what was set, as in a new process.
    #[cfg(test)]
    fn reset(&self) {
        self.setting.store(FROM_ENV, Ordering::SeqCst);
    }
}

/// The earlier of two instants, where `None` is never.
pub(super) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn encode(limit: Option<Duration>) -> u64 {
    match limit {
        Some(limit) if !limit.is_zero() => {
            u64::try_from(limit.as_nanos()).map_or(LONGEST, |nanos| nanos.min(LONGEST))
        }
        _ => OFF,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_none_turn_a_limit_off_and_huge_ones_are_capped() {
        let limit = Limit::new("ATEXIT_TEST_UNUSED_VARIABLE");
        assert_eq!(limit.get(), Setting::Unset);
        limit.set(Some(Duration::from_millis(5)));
        assert_eq!(limit.get(), Setting::Limit(Duration::from_millis(5)));
        limit.set(Some(Duration::ZERO));
        assert_eq!(limit.get(), Setting::Off);
        limit.set(None);
        assert_eq!(limit.get(), Setting::Off);
        limit.set(Some(Duration::MAX));
        assert_eq!(limit.get(), Setting::Limit(Duration::from_nanos(LONGEST)));
        limit.reset();
        assert_eq!(limit.get(), Setting::Unset);
    }
}
