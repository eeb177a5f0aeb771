//! Scope guards that also run at exit: [`Guard`].

use std::fmt;

use crate::registry::{self, Handle};
use crate::threads::InFlight;

/// The guard [`guard`](crate::guard) returns: dropping it runs the closure, unless
/// the exit run already did or is doing it.
///
/// A guard dropped on one thread while an exit run executes its closure on another
/// returns at once, without waiting for the closure to finish.
///
/// ```
/// let guard = atexit::guard(|| println!("released"));
/// assert_eq!(atexit::pending(), 1);
/// drop(guard); // prints "released"
/// assert_eq!(atexit::pending(), 0);
/// ```
#[must_use = "dropping the guard at once runs its closure at once"]
pub struct Guard {
    handle: Option<Handle>,
}

impl Guard {
    pub(crate) fn new(handle: Handle) -> Self {
        Guard {
            handle: Some(handle),
        }
    }

    /// Cancels the guard: the closure is dropped without running, now and at exit.
    ///
    /// ```
    /// let guard = atexit::guard(|| println!("never printed"));
    /// guard.dismiss();
    /// assert_eq!(atexit::pending(), 0);
    /// ```
    pub fn dismiss(mut self) {
        if let Some(handle) = self.handle.take() {
            drop(registry::remove(&handle));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Taking the closure out of the registry is what makes it run once: if the
        // exit run took it first, it is running or ran there, and there is nothing left.
        // Counted from before the closure leaves the registry, so that a process
        // exiting on another thread meanwhile waits for it.
        let _in_flight = InFlight::begin();
        if let Some(payload) = self
            .handle
            .take()
            .and_then(|handle| registry::remove(&handle))
        {
            // A guard's closure is never async: `guard` takes a closure.
            let _ = payload.call();
        }
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("handle", &self.handle)
            .finish()
    }
}
