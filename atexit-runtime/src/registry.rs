//! The handlers registered while the program runs.
//!
//! Handlers are grouped by priority; each priority is a [`stack`] of handlers, newest
//! on top, which is also the order they run in, so the exit run only ever pops. A
//! handle names its handler by priority, sequence number and position in the stack;
//! register, unregister and the exit run's pop are all O(1).
//!
//! One lock guards it all. It is held for these few steps only, never while a
//! handler runs or a closure is dropped, so handlers may use the registry freely.

mod stack;

use std::any::TypeId;
use std::mem;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{const_mutex, Mutex, MutexGuard};

use crate::payload::Payload;
use stack::{Position, Slot, Stack};

static REGISTRY: Mutex<Registry> = const_mutex(Registry::new());

/// A copy of `Registry::live`, written under the lock, so that the exit run can walk
/// the static handlers without taking the lock for each while no dynamic one is left.
static LIVE_HINT: AtomicUsize = AtomicUsize::new(0);

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
    position: Position,
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

/// The stacks by priority, in ascending order; the exit run walks them from the
/// highest down. A sorted `Vec`, not a map: programs use a handful of priorities, and
/// with one (the usual case) finding its stack is a single comparison.
#[derive(Default)]
struct Stacks(Vec<(i32, Stack)>);

impl Stacks {
    const fn new() -> Self {
        Stacks(Vec::new())
    }

    fn get_mut(&mut self, priority: i32) -> Option<&mut Stack> {
        let index = self.index_of(priority).ok()?;
        Some(&mut self.0[index].1)
    }

    fn get_or_insert(&mut self, priority: i32) -> &mut Stack {
        let index = self.index_of(priority).unwrap_or_else(|index| {
            self.0.insert(index, (priority, Stack::default()));
            index
        });
        &mut self.0[index].1
    }

    fn index_of(&self, priority: i32) -> Result<usize, usize> {
        match self.0.last() {
            Some(&(last, _)) if last == priority => Ok(self.0.len() - 1),
            _ => self.0.binary_search_by_key(&priority, |&(key, _)| key),
        }
    }

    /// Highest priority first.
    fn iter_from_top(&self) -> impl Iterator<Item = (i32, &Stack)> {
        self.0
            .iter()
            .rev()
            .map(|(priority, stack)| (*priority, stack))
    }

    fn stacks_mut(&mut self) -> impl Iterator<Item = &mut Stack> {
        self.0.iter_mut().map(|(_, stack)| stack)
    }

    fn into_stacks(self) -> impl Iterator<Item = (i32, Stack)> {
        self.0.into_iter()
    }
}

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
            stacks: Stacks::new(),
            live: 0,
            next_seq: 0,
            inherited: Stacks::new(),
            inherited_live: 0,
        }
    }

    fn top_priority(&self) -> Option<i32> {
        self.stacks
            .iter_from_top()
            .find(|(_, stack)| stack.live() > 0)
            .map(|(priority, _)| priority)
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
    let position = registry.stacks.get_or_insert(priority).push(Slot {
        payload: Some(payload),
        location,
        seq,
    });
    Handle {
        priority,
        seq,
        position,
    }
}

/// Takes a pending handler out; `None` if it already ran, is running or was removed.
pub(crate) fn remove(handle: &Handle) -> Option<Payload> {
    let mut registry = lock();
    let payload = registry
        .stacks
        .get_mut(handle.priority)?
        .remove(handle.seq, handle.position)?;
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
    let slot = registry.stacks.get_mut(priority)?.pop()?;
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
    let removed: Vec<Payload> = registry
        .stacks
        .stacks_mut()
        .flat_map(|stack| stack.remove_where(|payload| payload.type_id() == closure))
        .collect();
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
        .into_stacks()
        .flat_map(|(_, stack)| stack.into_payloads())
        .collect()
}

pub(crate) fn pending() -> usize {
    lock().live
}

/// The pending handlers in exit order.
pub(crate) fn snapshot() -> Vec<EntryInfo> {
    let registry = lock();
    let mut infos = Vec::with_capacity(registry.live);
    for (priority, stack) in registry.stacks.iter_from_top() {
        for slot in stack.iter_from_top() {
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
        for (priority, inherited) in mem::take(&mut registry.inherited).into_stacks() {
            registry
                .stacks
                .get_or_insert(priority)
                .adopt_below(inherited);
        }
        registry.live += adopted;
        adopted
    }
}
