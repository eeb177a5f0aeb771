//! The code `atexit::exit` asks for: recorded by any thread while a run is going on,
//! applied by whoever ends the process. The last call wins.

use std::sync::atomic::{AtomicI64, Ordering};

static REQUEST: AtomicI64 = AtomicI64::new(NONE);
const NONE: i64 = i64::MIN;

/// The payload a thread calling `atexit::exit` unwinds with: the run catches it as
/// the end of a handler, not as a failure.
pub(super) struct Unwinding;

pub(super) fn record(code: i32) {
    REQUEST.store(i64::from(code), Ordering::SeqCst);
}

/// The code asked for, left in place.
pub(super) fn peek() -> Option<i32> {
    i32::try_from(REQUEST.load(Ordering::SeqCst)).ok()
}

/// The code asked for, which the caller now applies.
pub(super) fn take() -> Option<i32> {
    i32::try_from(REQUEST.swap(NONE, Ordering::SeqCst)).ok()
}

#[cfg(unix)]
pub(super) fn forget() {
    REQUEST.store(NONE, Ordering::SeqCst);
}
