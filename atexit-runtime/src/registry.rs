//! The handlers registered while the program runs.
//!
//! Handlers are grouped by priority. Within a priority they form a stack ordered by a
//! sequence number, newest on top, which is also the order they run in, so the exit
//! run only ever pops. A handle names its handler by priority and sequence number,
//! with the slot index as a hint:
//!
//! - register pushes: O(1);
//! - unregister finds the slot through the hint in O(1), leaves a hole, and pops the
//!   holes that reach the top, so guards dropped in scope order leave nothing behind;
//! - when holes outnumber live handlers the stack is compacted (amortised O(1)), and
//!   hints that went stale fall back to a binary search on the sequence number.
//!
//! One lock guards it all. It is held for these few steps only, never while a
//! handler runs or a closure is dropped, so handlers may use the registry freely.

use std::any::TypeId;
use std::collections::BTreeMap;
use std::mem;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{const_mutex, Mutex, MutexGuard};

use crate::payload::Payload;

static REGISTRY: Mutex<Registry> = const_mutex(Registry::new());

/// A copy of `Registry::live`, written under the lock, so that the exit run can walk
/// the static handlers without taking the lock for each while no dynamic one is left.
static LIVE_HINT: AtomicUsize = AtomicUsize::new(0);

/// Compaction waits for at least this many holes, so small stacks never pay for it.
const MIN_HOLES_TO_COMPACT: usize = 64;

/// A handler registered with [`register`](crate::register), to unregister it.
///
/// Handles are plain values: copying one does not copy the handler, and using a
/// handle whose handler already ran or was removed is harmless.
///
/// ```
/// let handle = atexit::register(|| println!("never printed"));
/// assert!(atexit::unregister(handle));
/// assert!(!atexit::unregister(handle), "already removed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle {
    priority: i32,
    seq: u64,
    index_hint: usize,
}

impl Handle {
    /// The priority the handler was registered with.
    ///
    /// ```
    /// let handle = atexit::register_with(7, || {});
    /// assert_eq!(handle.priority(), 7);
    /// # atexit::unregister(handle);
    /// ```
    pub fn priority(&self) -> i32 {
        self.priority
    }
}

/// A handler taken out of the registry, to run or to drop.
pub(crate) struct Entry {
    pub(crate) payload: Payload,
    pub(crate) location: &'static Location<'static>,
}

/// What a pending dynamic handler looks like from outside.
pub(crate) struct EntryInfo {
    pub(crate) name: &'static str,
    pub(crate) priority: i32,
    pub(crate) location: &'static Location<'static>,
}

struct Slot {
    /// `None` for a hole left by unregister.
    payload: Option<Payload>,
    location: &'static Location<'static>,
    seq: u64,
}

#[derive(Default)]
struct Stack {
    slots: Vec<Slot>,
    live: usize,
}

impl Stack {
    fn find(&self, handle: &Handle) -> Option<usize> {
        match self.slots.get(handle.index_hint) {
            Some(slot) if slot.seq == handle.seq => Some(handle.index_hint),
            _ => self
                .slots
                .binary_search_by_key(&handle.seq, |slot| slot.seq)
                .ok(),
        }
    }

    fn remove(&mut self, handle: &Handle) -> Option<Payload> {
        let index = self.find(handle)?;
        let payload = self.slots[index].payload.take()?;
        self.live -= 1;
        self.trim();
        let holes = self.slots.len() - self.live;
        if holes >= MIN_HOLES_TO_COMPACT && holes > self.live {
            self.slots.retain(|slot| slot.payload.is_some());
        }
        Some(payload)
    }

    fn pop(&mut self) -> Option<Slot> {
        let slot = self.slots.pop()?;
        self.live -= 1;
        self.trim();
        Some(slot)
    }

    /// Restores the invariant that the top slot, if any, is live.
    fn trim(&mut self) {
        while self.slots.last().is_some_and(|slot| slot.payload.is_none()) {
            self.slots.pop();
        }
    }
}

/// Stacks keyed by priority; the exit run walks them from the highest key down.
type Stacks = BTreeMap<i32, Stack>;

pub(crate) struct Registry {
    stacks: Stacks,
    live: usize,
    next_seq: u64,
    /// The parent's handlers in a forked child, kept (never run, never dropped) until
    /// the child adopts them.
    inherited: Stacks,
    inherited_live: usize,
}

impl Registry {
    const fn new() -> Self {
        Registry {
            stacks: BTreeMap::new(),
            live: 0,
            next_seq: 0,
            inherited: BTreeMap::new(),
            inherited_live: 0,
        }
    }

    fn top_priority(&self) -> Option<i32> {
        self.stacks
            .iter()
            .rev()
            .find(|(_, stack)| stack.live > 0)
            .map(|(&priority, _)| priority)
    }
}

/// The registry, locked; `LIVE_HINT` is brought up to date when the guard drops.
struct Locked(MutexGuard<'static, Registry>);

impl Drop for Locked {
    fn drop(&mut self) {
        LIVE_HINT.store(self.0.live, Ordering::Relaxed);
    }
}

impl std::ops::Deref for Locked {
    type Target = Registry;
    fn deref(&self) -> &Registry {
        &self.0
    }
}

impl std::ops::DerefMut for Locked {
    fn deref_mut(&mut self) -> &mut Registry {
        &mut self.0
    }
}

fn lock() -> Locked {
    Locked(REGISTRY.lock())
}

pub(crate) fn insert(
    priority: i32,
    payload: Payload,
    location: &'static Location<'static>,
) -> Handle {
    let mut registry = lock();
    let seq = registry.next_seq;
    registry.next_seq += 1;
    registry.live += 1;
    let stack = registry.stacks.entry(priority).or_default();
    let index_hint = stack.slots.len();
    stack.slots.push(Slot {
        payload: Some(payload),
        location,
        seq,
    });
    stack.live += 1;
    Handle {
        priority,
        seq,
        index_hint,
    }
}

/// Takes a pending handler out; `None` if it already ran, is running or was removed.
pub(crate) fn remove(handle: &Handle) -> Option<Payload> {
    let mut registry = lock();
    let payload = registry.stacks.get_mut(&handle.priority)?.remove(handle)?;
    registry.live -= 1;
    Some(payload)
}

/// Takes the next handler to run, unless `static_priority` (the priority of the next
/// static handler) is higher: at equal priority dynamic handlers go first.
pub(crate) fn take_next(static_priority: Option<i32>) -> Option<Entry> {
    // With a static handler next, a registration this misses is seen on the next call;
    // without one the caller stops, so then the lock is always taken.
    if static_priority.is_some() && LIVE_HINT.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let mut registry = lock();
    let priority = registry.top_priority()?;
    if static_priority.is_some_and(|static_priority| static_priority > priority) {
        return None;
    }
    let slot = registry.stacks.get_mut(&priority)?.pop()?;
    registry.live -= 1;
    Some(Entry {
        payload: slot.payload?,
        location: slot.location,
    })
}

/// Takes out every pending handler whose closure is of type `closure`, for the caller
/// to drop outside the lock.
pub(crate) fn remove_all_of_type(closure: TypeId) -> Vec<Payload> {
    let mut registry = lock();
    let mut removed = Vec::new();
    for stack in registry.stacks.values_mut() {
        let handles: Vec<Handle> = stack
            .slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| {
                slot.payload
                    .as_ref()
                    .is_some_and(|p| p.type_id() == closure)
            })
            .map(|(index_hint, slot)| Handle {
                priority: 0,
                seq: slot.seq,
                index_hint,
            })
            .collect();
        removed.extend(
            handles
                .iter()
                .rev()
                .filter_map(|handle| stack.remove(handle)),
        );
    }
    registry.live -= removed.len();
    removed
}

/// Takes every pending handler out, for the caller to drop outside the lock.
pub(crate) fn take_all() -> Vec<Payload> {
    let stacks = {
        let mut registry = lock();
        registry.live = 0;
        mem::take(&mut registry.stacks)
    };
    stacks
        .into_values()
        .flat_map(|stack| stack.slots)
        .filter_map(|slot| slot.payload)
        .collect()
}

pub(crate) fn pending() -> usize {
    lock().live
}

/// The pending handlers in exit order.
pub(crate) fn snapshot() -> Vec<EntryInfo> {
    let registry = lock();
    let mut infos = Vec::with_capacity(registry.live);
    for (&priority, stack) in registry.stacks.iter().rev() {
        for slot in stack.slots.iter().rev() {
            if let Some(payload) = &slot.payload {
                infos.push(EntryInfo {
                    name: payload.type_name(),
                    priority,
                    location: slot.location,
                });
            }
        }
    }
    infos
}

/// Fork support: the lock is held across `fork()` so that the child never inherits it
/// locked by a thread that does not exist there.
pub(crate) mod fork {
    use super::*;

    pub(crate) fn before() {
        mem::forget(REGISTRY.lock());
    }

    pub(crate) fn after_in_parent() {
        // SAFETY: `before` locked the registry on this thread and forgot the guard;
        // nothing else can have unlocked it since.
        unsafe { REGISTRY.force_unlock() };
    }

    pub(crate) fn after_in_child() {
        // SAFETY: the child's only thread is this one, which holds the lock taken by
        // `before` in the parent; no guard for it exists.
        let registry = unsafe { &mut *REGISTRY.data_ptr() };
        // The grandparent's handlers that the parent never adopted are not ours to run
        // or to drop: their destructors could undo the grandparent's work.
        mem::forget(mem::replace(
            &mut registry.inherited,
            mem::take(&mut registry.stacks),
        ));
        registry.inherited_live = mem::take(&mut registry.live);
        LIVE_HINT.store(0, Ordering::Relaxed);
        // SAFETY: as above, this thread holds the lock and no guard exists.
        unsafe { REGISTRY.force_unlock() };
    }

    /// Moves the inherited handlers back among this process's own, below them: they
    /// were registered earlier. Returns how many.
    pub(crate) fn adopt() -> usize {
        let mut registry = lock();
        let registry = &mut *registry;
        let adopted = mem::take(&mut registry.inherited_live);
        for (priority, mut inherited) in mem::take(&mut registry.inherited) {
            let own = registry.stacks.entry(priority).or_default();
            inherited.slots.append(&mut own.slots);
            inherited.live += own.live;
            *own = inherited;
        }
        registry.live += adopted;
        adopted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack_with(count: u64) -> (Stack, Vec<Handle>) {
        let mut stack = Stack::default();
        let handles = (0..count)
            .map(|seq| {
                let index_hint = stack.slots.len();
                stack.slots.push(Slot {
                    payload: Some(Payload::new(|| {})),
                    location: Location::caller(),
                    seq,
                });
                stack.live += 1;
                Handle {
                    priority: 0,
                    seq,
                    index_hint,
                }
            })
            .collect();
        (stack, handles)
    }

    #[test]
    fn removing_in_scope_order_leaves_no_holes() {
        let (mut stack, handles) = stack_with(10);
        for handle in handles.iter().rev() {
            assert!(stack.remove(handle).is_some());
        }
        assert!(stack.slots.is_empty());
        assert_eq!(stack.live, 0);
    }

    #[test]
    fn holes_are_compacted_and_stale_hints_still_resolve() {
        let (mut stack, handles) = stack_with(1000);
        // Remove two handles of every three below the live top: holes outnumber live
        // handlers and force compactions, which move the remaining slots.
        for handle in handles[..999].iter().filter(|handle| handle.seq % 3 != 0) {
            assert!(stack.remove(handle).is_some());
        }
        assert!(stack.slots.len() < 1000, "compaction ran");
        for handle in handles[..999].iter().filter(|handle| handle.seq % 3 == 0) {
            assert!(stack.remove(handle).is_some(), "found after compaction");
        }
        assert_eq!(stack.live, 1);
        assert!(
            stack.slots.len() < 1 + MIN_HOLES_TO_COMPACT,
            "holes stay bounded"
        );
        assert!(stack.remove(&handles[0]).is_none(), "removed once only");
        assert!(stack.remove(&handles[999]).is_some());
        assert!(
            stack.slots.is_empty(),
            "removing the top trims the holes under it"
        );
    }

    #[test]
    fn pop_takes_newest_first_and_skips_holes() {
        let (mut stack, handles) = stack_with(3);
        stack.remove(&handles[1]);
        assert_eq!(stack.pop().map(|slot| slot.seq), Some(2));
        assert_eq!(stack.pop().map(|slot| slot.seq), Some(0));
        assert!(stack.pop().is_none());
    }
}
