//! Scope guards that also run at exit: [`Guard`].

use std::fmt;
use std::num::NonZeroU64;
use std::panic::Location;

use crate::payload::Payload;
use crate::registry::{self, GuardBlock, Handle, LocalGuard};
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
    // Two scalars, so that a guard is returned and moved in two registers.
    /// The guard block its closure waits in, the usual place (see `LocalGuard`);
    /// `None` if the thread could not use its block (full, or the thread is ending)
    /// and the closure is in the registry.
    block: Option<&'static GuardBlock>,
    /// With a block, the guard's word there. Without, the address of the
    /// `Box<Handle>` of the registered closure, which the guard owns.
    word: NonZeroU64,
}

/// Where a guard's closure waits.
enum Place<'a> {
    Local(LocalGuard),
    Registered(&'a Handle),
}

impl Guard {
    #[inline]
    pub(crate) fn new(payload: Payload, location: &'static Location<'static>) -> Self {
        match registry::push_guard(payload, location) {
            Ok(local) => {
                let (block, word) = local.into_parts();
                Guard {
                    block: Some(block),
                    word,
                }
            }
            Err(payload) => Self::register(payload, location),
        }
    }

    #[cold]
    #[inline(never)]
    fn register(payload: Payload, location: &'static Location<'static>) -> Self {
        let handle = Box::new(registry::insert(0, payload, location));
        // Exposed, so that the address turns back into the box's pointer in `drop`.
        let address = Box::into_raw(handle) as usize as u64;
        Guard {
            block: None,
            word: NonZeroU64::new(address).expect("a box's address is not 0"),
        }
    }

    #[inline]
    fn place(&self) -> Place<'_> {
        match self.block {
            Some(block) => Place::Local(LocalGuard::from_parts(block, self.word)),
            None => {
                let handle = self.word.get() as usize as *const Handle;
                // SAFETY: without a block, the word is the address of the box
                // `register` leaked, which this guard owns and frees only in `drop`,
                // after its last use.
                Place::Registered(unsafe { &*handle })
            }
        }
    }

    /// Cancels the guard: the closure is dropped without running, now and at exit.
    ///
    /// ```
    /// let guard = atexit::guard(|| println!("never printed"));
    /// guard.dismiss();
    /// assert_eq!(atexit::pending(), 0);
    /// ```
    pub fn dismiss(self) {
        // What is taken here is not there for the drop that follows, which finds
        // nothing.
        match self.place() {
            Place::Local(local) => drop(local.take()),
            Place::Registered(handle) => drop(registry::remove(handle)),
        }
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        // Taking the closure out is what makes it run once: if the exit run took it
        // first, it is running or ran there, and there is nothing left. Counted from
        // before the closure leaves, so that a process exiting on another thread
        // meanwhile waits for it.
        match self.place() {
            Place::Local(local) => local.run(),
            Place::Registered(handle) => {
                run_registered(handle);
                let handle = self.word.get() as usize as *mut Handle;
                // SAFETY: the box `register` leaked (see `place`), freed here once, as
                // the guard ends.
                drop(unsafe { Box::from_raw(handle) });
            }
        }
    }
}

#[cold]
#[inline(never)]
fn run_registered(handle: &Handle) {
    let _in_flight = InFlight::begin();
    if let Some(payload) = registry::remove(handle) {
        // A guard's closure is never async: `guard` takes a closure.
        let _ = payload.call();
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut guard = f.debug_struct("Guard");
        match self.place() {
            Place::Local(local) => guard.field("local", &local),
            Place::Registered(handle) => guard.field("handle", handle),
        };
        guard.finish()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_guard_may_be_sent_shared_and_caught_unwinding_as_before() {
        fn assert_traits<
            T: Send + Sync + Unpin + std::panic::UnwindSafe + std::panic::RefUnwindSafe,
        >() {
        }
        assert_traits::<super::Guard>();
    }

    #[test]
    fn a_guard_is_two_words() {
        assert_eq!(
            std::mem::size_of::<super::Guard>(),
            2 * std::mem::size_of::<usize>()
        );
    }
}
