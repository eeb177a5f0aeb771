//! Scope guards that also run at exit.

use std::fmt;

use crate::registry::{self, Handle};
use crate::run;

/// Runs `f` exactly once: when the returned guard drops, or at exit if the guard is
/// still alive then (say, `std::process::exit` was called while it was in scope).
///
/// This is Python's "register in `__enter__`, unregister in `__exit__`" done in one
/// value: there is no window in which the cleanup is registered twice or not at all.
/// [`Guard::dismiss`] cancels it. Like any destructor, a closure that panics while
/// its guard is dropped during another panic aborts the process.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// static RELEASED: AtomicUsize = AtomicUsize::new(0);
///
/// {
///     let _connection = atexit::guard(|| {
///         RELEASED.fetch_add(1, Ordering::SeqCst);
///     });
///     assert_eq!(atexit::pending(), 1);
/// } // released here, and never again at exit
/// assert_eq!(RELEASED.load(Ordering::SeqCst), 1);
/// assert_eq!(atexit::pending(), 0);
/// ```
#[track_caller]
pub fn guard<F>(f: F) -> Guard
where
    F: FnOnce() + Send + 'static,
{
    Guard {
        handle: Some(crate::register(f)),
    }
}

/// The guard [`guard`] returns: dropping it runs the closure, unless the exit run
/// already did.
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
        let _in_flight = run::InFlight::begin();
        if let Some(payload) = self
            .handle
            .take()
            .and_then(|handle| registry::remove(&handle))
        {
            payload.call();
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
