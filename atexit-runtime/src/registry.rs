//! The handlers registered while the program runs.
//!
//! Handlers live in a slab of slots that never move; a free slot is reused by the
//! next registration, so memory follows the largest number of handlers pending at
//! once, whatever the churn. The handlers of one priority form a doubly linked list
//! through their slots, newest first, which is the order they run in. So register,
//! unregister (by a handle holding the slot and its generation) and the exit run's
//! next pop are all O(1).
//!
//! One lock guards it all. It is held for these few steps only, never while a
//! handler runs or a closure is dropped, so handlers may use the registry freely.

use std::any::TypeId;
use std::cell::UnsafeCell;
use std::collections::btree_map::Entry as MapEntry;
use std::collections::BTreeMap;
use std::mem;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::payload::Payload;

static REGISTRY: Mutex<Registry> = Mutex::new(Registry::new());

/// A copy of `Registry::live`, written under the lock, so that the exit run can walk
/// the static handlers without taking the lock for each while no dynamic one is left.
static LIVE_HINT: AtomicUsize = AtomicUsize::new(0);

/// The end of a list, or of the free list.
const NIL: u32 = u32::MAX;

/// Lists that emptied are kept (a guard created and dropped in a loop would otherwise
/// rebuild its list every time) until there are more of them than this and than
/// lists in use.
const EMPTY_LISTS_KEPT: usize = 16;

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
    slot: u32,
    generation: u32,
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
    /// `None` while the slot is free.
    payload: Option<Payload>,
    location: &'static Location<'static>,
    /// Bumped each time the slot is freed, so that a handle to an earlier occupant
    /// matches nothing.
    generation: u32,
    /// The fork epoch the handler was registered in; see `Registry::owned_from`.
    epoch: u32,
    /// In a list: the next older handler of the same priority. Free: the next free slot.
    older: u32,
    /// In a list: the next newer handler of the same priority.
    newer: u32,
}

/// The handlers of one priority, by slot.
#[derive(Clone, Copy)]
struct List {
    newest: u32,
    oldest: u32,
    len: usize,
}

impl List {
    const EMPTY: List = List {
        newest: NIL,
        oldest: NIL,
        len: 0,
    };
}

/// Lists by priority; the exit run walks them from the highest down.
type Lists = BTreeMap<i32, List>;

struct Registry {
    slots: Vec<Slot>,
    free: u32,
    lists: Lists,
    empty_lists: usize,
    live: usize,
    /// Bumped in a forked child. Handlers of an epoch before `owned_from` belong to
    /// an ancestor process: they are neither run nor dropped here.
    epoch: u32,
    owned_from: u32,
    /// In a forked child, the parent's handlers (those of epochs from
    /// `parent_owned_from` on), kept for `adopt_inherited`.
    inherited: Lists,
    inherited_live: usize,
    parent_owned_from: u32,
}

impl Registry {
    const fn new() -> Self {
        Registry {
            slots: Vec::new(),
            free: NIL,
            lists: BTreeMap::new(),
            empty_lists: 0,
            live: 0,
            epoch: 0,
            owned_from: 0,
            inherited: BTreeMap::new(),
            inherited_live: 0,
            parent_owned_from: 0,
        }
    }

    fn slot(&mut self, index: u32) -> &mut Slot {
        &mut self.slots[index as usize]
    }

    fn insert(&mut self, priority: i32, payload: Payload, location: &'static Location) -> Handle {
        let epoch = self.epoch;
        let index = if self.free == NIL {
            let index = u32::try_from(self.slots.len())
                .ok()
                .filter(|&index| index != NIL)
                .expect("fewer than 4 billion pending exit handlers");
            self.slots.push(Slot {
                payload: Some(payload),
                location,
                generation: 0,
                epoch,
                older: NIL,
                newer: NIL,
            });
            index
        } else {
            let index = self.free;
            let slot = &mut self.slots[index as usize];
            self.free = slot.older;
            slot.payload = Some(payload);
            slot.location = location;
            slot.epoch = epoch;
            index
        };
        self.link_as_newest(priority, index);
        self.live += 1;
        Handle {
            priority,
            slot: index,
            generation: self.slots[index as usize].generation,
        }
    }

    fn link_as_newest(&mut self, priority: i32, index: u32) {
        let list = match self.lists.entry(priority) {
            MapEntry::Occupied(entry) => {
                let list = entry.into_mut();
                if list.len == 0 {
                    self.empty_lists -= 1;
                }
                list
            }
            MapEntry::Vacant(entry) => entry.insert(List::EMPTY),
        };
        let previous_newest = list.newest;
        list.newest = index;
        if previous_newest == NIL {
            list.oldest = index;
        }
        list.len += 1;
        let slot = self.slot(index);
        slot.older = previous_newest;
        slot.newer = NIL;
        if previous_newest != NIL {
            self.slot(previous_newest).newer = index;
        }
    }

    /// Takes the handler in slot `index`, of list `priority`, out of its list and
    /// frees the slot.
    fn take(&mut self, priority: i32, index: u32) -> Entry {
        let list = self
            .lists
            .get_mut(&priority)
            .expect("a pending handler's list exists");
        let emptied = unlink(&mut self.slots, list, index);
        self.finish_take(index, emptied)
    }

    /// Takes the newest handler of the highest priority, unless `static_priority` is
    /// higher; in one walk of the lists.
    fn take_next(&mut self, static_priority: Option<i32>) -> Option<Entry> {
        let (&priority, list) = self.lists.iter_mut().rev().find(|(_, list)| list.len > 0)?;
        if static_priority.is_some_and(|static_priority| static_priority > priority) {
            return None;
        }
        let index = list.newest;
        let emptied = unlink(&mut self.slots, list, index);
        Some(self.finish_take(index, emptied))
    }

    /// Frees slot `index`, whose handler was just unlinked, and returns the handler.
    fn finish_take(&mut self, index: u32, emptied_a_list: bool) -> Entry {
        if emptied_a_list {
            self.empty_lists += 1;
            if self.empty_lists > EMPTY_LISTS_KEPT && self.empty_lists * 2 > self.lists.len() {
                self.lists.retain(|_, list| list.len > 0);
                self.empty_lists = 0;
            }
        }
        self.live -= 1;
        let slot = &mut self.slots[index as usize];
        let payload = slot
            .payload
            .take()
            .expect("a pending handler's slot is full");
        // A slot whose generation would wrap is retired rather than reused, so that a
        // handle kept through 4 billion reuses cannot name a new handler.
        if let Some(generation) = slot.generation.checked_add(1) {
            slot.generation = generation;
            slot.older = self.free;
            self.free = index;
        }
        Entry {
            payload,
            location: slot.location,
        }
    }

    /// Whether `handle` names a handler of this process that is still pending.
    fn is_pending_own(&self, handle: &Handle) -> bool {
        self.slots.get(handle.slot as usize).is_some_and(|slot| {
            slot.generation == handle.generation
                && slot.payload.is_some()
                && slot.epoch >= self.owned_from
        })
    }

    /// The slots of list `priority`, newest first.
    fn walk(&self, list: List) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors(Some(list.newest).filter(|&index| index != NIL), |&index| {
            Some(self.slots[index as usize].older).filter(|&older| older != NIL)
        })
    }

    /// Takes out every pending handler `matches` accepts.
    fn take_where(&mut self, mut matches: impl FnMut(&Payload) -> bool) -> Vec<Payload> {
        let chosen: Vec<(i32, u32)> = self
            .lists
            .iter()
            .flat_map(|(&priority, &list)| self.walk(list).map(move |index| (priority, index)))
            .filter(|&(_, index)| {
                self.slots[index as usize]
                    .payload
                    .as_ref()
                    .is_some_and(&mut matches)
            })
            .collect();
        chosen
            .into_iter()
            .map(|(priority, index)| self.take(priority, index).payload)
            .collect()
    }
}

/// Takes slot `index` out of `list`; true if that emptied the list.
fn unlink(slots: &mut [Slot], list: &mut List, index: u32) -> bool {
    let slot = &slots[index as usize];
    let (older, newer) = (slot.older, slot.newer);
    match newer {
        NIL => list.newest = older,
        newer => slots[newer as usize].older = older,
    }
    match older {
        NIL => list.oldest = newer,
        older => slots[older as usize].newer = newer,
    }
    list.len -= 1;
    list.len == 0
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

/// Locks the registry. No user code runs under the lock, so a panic cannot leave the
/// registry half-changed; a poisoned lock is used as it is.
fn lock() -> Locked {
    Locked(REGISTRY.lock().unwrap_or_else(PoisonError::into_inner))
}

pub(crate) fn insert(
    priority: i32,
    payload: Payload,
    location: &'static Location<'static>,
) -> Handle {
    lock().insert(priority, payload, location)
}

/// Takes a pending handler out; `None` if it already ran, is running, was removed,
/// or belongs to a parent process.
pub(crate) fn remove(handle: &Handle) -> Option<Payload> {
    let mut registry = lock();
    if !registry.is_pending_own(handle) {
        return None;
    }
    Some(registry.take(handle.priority, handle.slot).payload)
}

/// Takes the next handler to run, unless `static_priority` (the priority of the next
/// static handler) is higher: at equal priority dynamic handlers go first.
pub(crate) fn take_next(static_priority: Option<i32>) -> Option<Entry> {
    // With a static handler next, a registration this misses is seen on the next call;
    // without one the caller stops, so then the lock is always taken.
    if static_priority.is_some() && LIVE_HINT.load(Ordering::Relaxed) == 0 {
        return None;
    }
    lock().take_next(static_priority)
}

/// Takes out every pending handler whose closure is of type `closure`, for the caller
/// to drop outside the lock.
pub(crate) fn remove_all_of_type(closure: TypeId) -> Vec<Payload> {
    lock().take_where(|payload| payload.type_id() == closure)
}

/// Takes every pending handler out, for the caller to drop outside the lock.
pub(crate) fn take_all() -> Vec<Payload> {
    lock().take_where(|_| true)
}

pub(crate) fn pending() -> usize {
    lock().live
}

/// The pending handlers in exit order.
pub(crate) fn snapshot() -> Vec<EntryInfo> {
    let registry = lock();
    let mut infos = Vec::with_capacity(registry.live);
    for (&priority, &list) in registry.lists.iter().rev() {
        for index in registry.walk(list) {
            let slot = &registry.slots[index as usize];
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

/// Fork support: the lock is held across `fork()`, so that the child never inherits
/// it locked by a thread that does not exist there.
pub(crate) mod fork {
    use super::*;

    /// The guard taken before `fork()`, released after it in parent and child.
    struct HeldAcrossFork(UnsafeCell<Option<MutexGuard<'static, Registry>>>);

    // SAFETY: the cell is used only by the `pthread_atfork` callbacks, and only while
    // the registry lock is held: `before` stores the guard after locking, and the
    // after-fork callbacks take it out before unlocking. Two threads forking at once
    // are serialised by that lock, so the cell is never accessed from two at once.
    unsafe impl Sync for HeldAcrossFork {}

    static HELD: HeldAcrossFork = HeldAcrossFork(UnsafeCell::new(None));

    pub(crate) fn before() {
        let guard = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: see `HeldAcrossFork`; nothing else touches the cell.
        unsafe { *HELD.0.get() = Some(guard) };
    }

    /// Releases the lock. `std`'s mutex is a bare futex word: unlocking wakes a
    /// waiter if there is one and hands the lock to nobody, so in the child, where
    /// the parent's waiters do not exist, it simply ends up free.
    fn release() -> Option<MutexGuard<'static, Registry>> {
        // SAFETY: see `HeldAcrossFork`; nothing else touches the cell.
        unsafe { (*HELD.0.get()).take() }
    }

    pub(crate) fn after_in_parent() {
        drop(release());
    }

    pub(crate) fn after_in_child() {
        let Some(mut registry) = release() else {
            return;
        };
        // Everything pending now belongs to the parent. What the parent had inherited
        // and not adopted is left as it is: never run, never dropped, since its
        // destructors could undo an ancestor's work.
        registry.epoch += 1;
        registry.parent_owned_from = registry.owned_from;
        registry.owned_from = registry.epoch;
        registry.inherited = mem::take(&mut registry.lists);
        registry.inherited_live = mem::take(&mut registry.live);
        registry.empty_lists = 0;
        LIVE_HINT.store(0, Ordering::Relaxed);
    }

    /// Makes the inherited handlers this process's own, below its own handlers of the
    /// same priority: they were registered earlier. Returns how many.
    pub(crate) fn adopt() -> usize {
        let mut registry = lock();
        let registry = &mut *registry;
        for (priority, inherited) in mem::take(&mut registry.inherited) {
            if inherited.len == 0 {
                continue;
            }
            let own = registry.lists.entry(priority).or_insert(List::EMPTY);
            if own.len == 0 {
                *own = inherited;
                continue;
            }
            let (own_oldest, inherited_newest) = (own.oldest, inherited.newest);
            own.oldest = inherited.oldest;
            own.len += inherited.len;
            registry.slots[own_oldest as usize].older = inherited_newest;
            registry.slots[inherited_newest as usize].newer = own_oldest;
        }
        registry.empty_lists = registry.lists.values().filter(|list| list.len == 0).count();
        registry.owned_from = registry.parent_owned_from;
        let adopted = mem::take(&mut registry.inherited_live);
        registry.live += adopted;
        adopted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry_with(count: usize) -> (Registry, Vec<Handle>) {
        let mut registry = Registry::new();
        let handles = (0..count)
            .map(|_| registry.insert(0, Payload::new(|| {}), Location::caller()))
            .collect();
        (registry, handles)
    }

    fn remove(registry: &mut Registry, handle: &Handle) -> bool {
        registry.is_pending_own(handle) && {
            registry.take(handle.priority, handle.slot);
            true
        }
    }

    #[test]
    fn slots_are_reused_so_memory_follows_the_pending_count() {
        let mut registry = Registry::new();
        // A sliding window of 16 pending handlers over 100,000 registrations.
        let mut window = std::collections::VecDeque::new();
        for _ in 0..100_000 {
            window.push_back(registry.insert(0, Payload::new(|| {}), Location::caller()));
            if window.len() > 16 {
                assert!(remove(&mut registry, &window.pop_front().unwrap()));
            }
        }
        assert_eq!(registry.live, 16);
        assert_eq!(registry.slots.len(), 17);
    }

    #[test]
    fn a_stale_handle_matches_nothing_after_its_slot_is_reused() {
        let (mut registry, handles) = registry_with(1);
        assert!(remove(&mut registry, &handles[0]));
        let reused = registry.insert(0, Payload::new(|| {}), Location::caller());
        assert_eq!(reused.slot, handles[0].slot);
        assert!(!remove(&mut registry, &handles[0]), "stale handle");
        assert!(remove(&mut registry, &reused));
    }

    #[test]
    fn handlers_come_out_newest_first_within_a_priority_after_removals() {
        let (mut registry, handles) = registry_with(10);
        for handle in handles.iter().step_by(3) {
            assert!(remove(&mut registry, handle));
        }
        let order: Vec<u32> = registry.walk(registry.lists[&0]).collect();
        let expected: Vec<u32> = handles
            .iter()
            .rev()
            .filter(|handle| handle.slot % 3 != 0)
            .map(|handle| handle.slot)
            .collect();
        assert_eq!(order, expected);
        let oldest_first: Vec<u32> = std::iter::successors(
            Some(registry.lists[&0].oldest).filter(|&index| index != NIL),
            |&index| Some(registry.slots[index as usize].newer).filter(|&newer| newer != NIL),
        )
        .collect();
        assert_eq!(oldest_first, expected.into_iter().rev().collect::<Vec<_>>());
    }

    #[test]
    fn emptied_lists_of_many_priorities_are_pruned() {
        let mut registry = Registry::new();
        for priority in 0..1000 {
            let handle = registry.insert(priority, Payload::new(|| {}), Location::caller());
            assert!(remove(&mut registry, &handle));
        }
        assert!(
            registry.lists.len() <= 2 * EMPTY_LISTS_KEPT + 2,
            "{}",
            registry.lists.len()
        );
        assert!(registry.take_next(None).is_none());
    }
}
