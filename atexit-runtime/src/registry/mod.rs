//! The handlers registered while the program runs.
//!
//! The registry is split into shards, one per thread slot (see `threads`), each
//! behind its own lock, so that threads registering at once do not contend. What
//! orders handlers across shards is the number each registration takes while it
//! holds its shard's lock (see `stamp`): a registration that happens after another,
//! on any thread, gets a greater number, so "newest first" is exact; registrations
//! on threads that race each other are ordered either way. Threads registering at
//! once write no memory in common.
//!
//! Each shard publishes, beside its lock, the rank of the handler it would run
//! next, or a greater one: a registration raises it, a removal leaves it, and
//! whoever takes the lock to look finds the true value and lowers it. So the exit
//! run finds the next handler by reading the published ranks, then locking the one
//! shard that holds it, where it checks the truth; a stale rank costs a retry, never
//! the order.
//!
//! No user code runs under a shard's lock: closures are dropped and called by the
//! callers, after the lock is released. So handlers may use the registry freely, and
//! a shard's lock is never poisoned by a handler.
//!
//! Guards live apart, in a block of entries per thread that no lock protects (see
//! `guards`): a guard takes a number as a registration does, and the exit run
//! compares each block's newest pending guard with the shards' published ranks.

#[cfg(unix)]
mod fork;
mod guards;
mod shard;
mod stamp;

use std::any::TypeId;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use crate::info::HandlerInfo;
use crate::order::{Rank, Registered};
use crate::payload::{Kind, Payload};
use crate::threads::{self, CachePadded, SLOTS};

#[cfg(unix)]
pub(crate) use fork::{
    adopt, lock_for_fork, unlock_after_fork_in_child, unlock_after_fork_in_parent,
};
#[cfg(unix)]
pub(crate) use guards::own_in_flight as own_guards_in_flight;
pub(crate) use guards::{
    in_flight as guards_in_flight, push as push_guard, Block as GuardBlock, Local as LocalGuard,
};
pub(crate) use shard::Taken;
use shard::{Ownership, Shard};

static SHARDS: [CachePadded<ShardCell>; SLOTS] =
    [const { CachePadded::new(ShardCell::new()) }; SLOTS];

/// Registrations numbered below this belong to an ancestor process (see `fork`):
/// they are neither run nor dropped here.
static OWNED_FROM: AtomicU64 = AtomicU64::new(0);
/// What `OWNED_FROM` was in the parent, for `adopt_inherited`.
static PARENT_OWNED_FROM: AtomicU64 = AtomicU64::new(0);

/// Exit runs going on. While there is one, every registration goes to the first
/// shard: threads that keep registering then contend for that one lock, which the
/// futex hands from thread to thread, rather than each spinning on its own while the
/// run waits behind whichever of them was preempted holding one.
static DRAINS: AtomicUsize = AtomicUsize::new(0);

/// The shards that published a rank, one bit each, so that a run with no dynamic
/// handler looks at none.
static PUBLISHED: AtomicU32 = AtomicU32::new(0);

/// A shard, and the rank of its next handler published for readers without the lock.
struct ShardCell {
    shard: Mutex<Shard>,
    /// Written under the lock, priority first; read sequence first. A reader may
    /// mix a rank being written with the one before it, which only happens while a
    /// registration is under way, concurrent with the read.
    top_priority: AtomicI32,
    /// `NO_TOP` when the shard holds nothing for this process.
    top_sequence: AtomicU64,
}

const NO_TOP: u64 = u64::MAX;

impl ShardCell {
    const fn new() -> Self {
        ShardCell {
            shard: Mutex::new(Shard::new()),
            top_priority: AtomicI32::new(0),
            top_sequence: AtomicU64::new(NO_TOP),
        }
    }

    fn published(&self) -> Option<Rank> {
        let sequence = self.top_sequence.load(Ordering::Acquire);
        (sequence != NO_TOP).then(|| Rank {
            priority: self.top_priority.load(Ordering::Relaxed),
            registered: Registered::AtRunTime(sequence),
        })
    }
}

/// A shard, locked.
struct Locked {
    index: usize,
    shard: MutexGuard<'static, Shard>,
}

impl Locked {
    fn cell(&self) -> &'static ShardCell {
        &SHARDS[self.index]
    }

    /// Publishes `top`, which must be the shard's next handler or greater.
    fn publish(&self, top: Option<Rank>) {
        let cell = self.cell();
        let bit = 1 << self.index;
        match top {
            Some(Rank {
                priority,
                registered: Registered::AtRunTime(sequence),
            }) => {
                cell.top_priority.store(priority, Ordering::Relaxed);
                cell.top_sequence.store(sequence, Ordering::Release);
                // Read first: set, the bit stays set through a shard's busy life.
                if PUBLISHED.load(Ordering::Relaxed) & bit == 0 {
                    PUBLISHED.fetch_or(bit, Ordering::Release);
                }
            }
            _ => {
                cell.top_sequence.store(NO_TOP, Ordering::Release);
                PUBLISHED.fetch_and(!bit, Ordering::Release);
            }
        }
    }

    /// Finds the shard's true next handler and publishes it.
    fn republish(&mut self) -> Option<Rank> {
        let top = self.shard.top(owned_from());
        self.publish(top);
        top
    }
}

impl Deref for Locked {
    type Target = Shard;
    fn deref(&self) -> &Shard {
        &self.shard
    }
}

impl DerefMut for Locked {
    fn deref_mut(&mut self) -> &mut Shard {
        &mut self.shard
    }
}

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
    shard: u32,
    slot: u32,
    sequence: u64,
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

/// Locks a shard. No user code runs under the lock, so a panic cannot leave a shard
/// half-changed; a poisoned lock is used as it is.
fn lock(index: usize) -> Locked {
    Locked {
        index,
        shard: SHARDS[index]
            .shard
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    }
}

#[inline]
fn owned_from() -> u64 {
    OWNED_FROM.load(Ordering::Relaxed)
}

fn ownership() -> Ownership {
    Ownership {
        own_from: owned_from(),
        adoptable_from: PARENT_OWNED_FROM.load(Ordering::Relaxed),
    }
}

pub(crate) fn insert(
    priority: i32,
    payload: Payload,
    location: &'static Location<'static>,
) -> Handle {
    let shard_index = if DRAINS.load(Ordering::Relaxed) > 0 {
        0
    } else {
        threads::slot()
    };
    let mut shard = lock(shard_index);
    // Taken under the lock, so that each shard's lists stay sorted by it.
    let sequence = stamp::next(shard_index, shard.stamps());
    let slot = shard.insert(priority, payload, location, sequence);
    let rank = Rank {
        priority,
        registered: Registered::AtRunTime(sequence),
    };
    if shard
        .cell()
        .published()
        .map_or(true, |published| rank > published)
    {
        shard.publish(Some(rank));
    }
    Handle {
        priority,
        shard: shard_index as u32,
        slot,
        sequence,
    }
}

/// Takes a pending handler out; `None` if it already ran, is running, was removed,
/// or belongs to a parent process (which, if it could be adopted, no longer can).
pub(crate) fn remove(handle: &Handle) -> Option<Payload> {
    let ownership = ownership();
    lock(handle.shard as usize).remove(handle.slot, handle.sequence, handle.priority, &ownership)
}

/// Takes out every pending handler whose closure is of type `closure`, for the caller
/// to drop outside the lock.
pub(crate) fn remove_all_of_type(closure: TypeId) -> Vec<Payload> {
    take_where(|kind| kind.type_id() == closure)
}

/// Takes every pending handler out, for the caller to drop outside the lock.
pub(crate) fn take_all() -> Vec<Payload> {
    take_where(|_| true)
}

fn take_where(mut matches: impl FnMut(Kind) -> bool) -> Vec<Payload> {
    let owned_from = owned_from();
    let mut taken = Vec::new();
    for shard in 0..SLOTS {
        lock(shard).take_where(owned_from, &mut matches, &mut taken);
    }
    guards::take_where(owned_from, &mut matches, &mut taken);
    taken
}

pub(crate) fn pending() -> usize {
    let registered: usize = (0..SLOTS).map(|shard| lock(shard).live()).sum();
    registered + guards::pending(owned_from())
}

/// The pending handlers with their ranks, in no particular order.
pub(crate) fn snapshot() -> Vec<(Rank, HandlerInfo)> {
    let owned_from = owned_from();
    let mut listed = Vec::new();
    for shard in 0..SLOTS {
        lock(shard).snapshot(owned_from, &mut listed);
    }
    guards::snapshot(owned_from, &mut listed);
    listed
}

/// Whether any dynamic handler may be pending: false means none is.
#[inline]
pub(crate) fn any_pending() -> bool {
    any_published() || guards::any_listed()
}

/// Whether a shard may hold a pending handler: what a run that takes only static
/// handlers asks before each, having asked [`any_pending`] once before the first.
/// While a run is on, guards are made in the shards too (see `guards::push`), so one
/// in a guard block was made before it, or raced with its start.
#[inline]
pub(crate) fn any_published() -> bool {
    PUBLISHED.load(Ordering::Acquire) != 0
}

/// The exit run's view of the registry: hands out the pending handlers in exit
/// order, one at a time, including those registered while it runs.
pub(crate) struct Drain {
    /// How long to wait for a shard's lock; `None`: as long as it takes.
    patience: Option<Duration>,
    /// The shards given up on (one bit each): their lock stayed held too long.
    given_up: u32,
}

impl Drain {
    pub(crate) fn start() -> Self {
        DRAINS.fetch_add(1, Ordering::SeqCst);
        Drain {
            patience: None,
            given_up: 0,
        }
    }

    /// For a run where a thread may have been ended while it held a shard's lock
    /// (Windows' `ExitProcess` ends every other thread before the run): a lock still
    /// held after `patience` is given up on, with the handlers behind it, rather
    /// than waited for forever. No user code runs under these locks, so a live
    /// thread holds one for far less.
    #[cfg(any(windows, test))]
    pub(crate) fn start_with_patience(patience: Duration) -> Self {
        // Built on `start` (not `..Drain::start()`, whose temporary would be dropped
        // and count the drain as ended).
        let mut drain = Drain::start();
        drain.patience = Some(patience);
        drain
    }

    /// How many shards were given up on.
    #[cfg(any(windows, test))]
    pub(crate) fn shards_given_up(&self) -> u32 {
        self.given_up.count_ones()
    }

    /// Locks shard `index`, unless it was or is now given up on.
    fn lock(&mut self, index: usize) -> Option<Locked> {
        let Some(patience) = self.patience else {
            return Some(lock(index));
        };
        let bit = 1 << index;
        let started = Instant::now();
        while self.given_up & bit == 0 {
            match SHARDS[index].shard.try_lock() {
                Ok(shard) => return Some(Locked { index, shard }),
                Err(TryLockError::Poisoned(poisoned)) => {
                    return Some(Locked {
                        index,
                        shard: poisoned.into_inner(),
                    })
                }
                Err(TryLockError::WouldBlock) if started.elapsed() < patience => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TryLockError::WouldBlock) => self.given_up |= bit,
            }
        }
        None
    }

    /// Takes the next handler to run, unless `next_static` (the rank of the next
    /// static handler) is greater.
    #[inline]
    pub(crate) fn take_next(&mut self, next_static: Option<Rank>) -> Option<Taken> {
        // What the run of a program with no dynamic handler pending comes down to.
        if !any_pending() {
            return None;
        }
        self.take_next_published(next_static)
    }

    fn take_next_published(&mut self, next_static: Option<Rank>) -> Option<Taken> {
        loop {
            let published = best_published(self.given_up);
            // A guard's rank is exact as read, while a published rank is never below
            // the truth: a guard that ties or beats one beats the truth behind it.
            let guard = guards::best(owned_from());
            if let Some(guard) = &guard {
                if published.map_or(true, |(_, published)| guard.rank >= published)
                    && next_static.map_or(true, |next_static| guard.rank > next_static)
                {
                    match guard.claim() {
                        Some(taken) => return Some(taken),
                        // Dropped or taken meanwhile.
                        None => continue,
                    }
                }
            }
            let (index, published) = published?;
            // A published rank is never below the truth: if it loses, the truth does.
            if next_static.is_some_and(|next_static| next_static > published) {
                return None;
            }
            let Some(mut shard) = self.lock(index) else {
                continue;
            };
            let top = shard.top(owned_from());
            let others = self.given_up | 1 << index;
            let beats_the_rest = top.filter(|&top| {
                best_published(others).map_or(true, |(_, rank)| top > rank)
                    && next_static.map_or(true, |next_static| top > next_static)
                    && guard.as_ref().map_or(true, |guard| top > guard.rank)
            });
            match beats_the_rest {
                Some(top) => {
                    let taken = shard.pop(top.priority);
                    shard.republish();
                    return Some(taken);
                }
                None => shard.publish(top),
            }
        }
    }

    /// Whether the registry holds nothing for this run: once a shard published a
    /// handler or a guard block holds one, checked under every shard's lock and in
    /// every guard block.
    pub(crate) fn is_empty(&mut self) -> bool {
        // As `take_next` asks: a registration that happened before this question
        // published its shard's bit (under the lock, with release), or made a guard.
        if !any_pending() {
            return true;
        }
        let mut empty = true;
        for index in 0..SLOTS {
            if let Some(mut shard) = self.lock(index) {
                empty &= shard.republish().is_none();
            }
        }
        empty && guards::best(owned_from()).is_none()
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        DRAINS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The shard with the greatest published rank, but those in `except` (one bit each).
fn best_published(except: u32) -> Option<(usize, Rank)> {
    let mut shards = PUBLISHED.load(Ordering::Acquire) & !except;
    let mut best: Option<(usize, Rank)> = None;
    while shards != 0 {
        let index = shards.trailing_zeros() as usize;
        shards &= shards - 1;
        if let Some(rank) = SHARDS[index].published() {
            if best.map_or(true, |(_, best)| rank > best) {
                best = Some((index, rank));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(priority: i32) -> Handle {
        insert(priority, Payload::new(|| {}), Location::caller())
    }

    /// One test, so that no other drain, which sends registrations to the first
    /// shard, runs meanwhile.
    #[test]
    fn a_drain_with_patience_gives_up_on_a_shard_whose_lock_stays_held() {
        let drains_before = DRAINS.load(Ordering::SeqCst);
        let second = register(0);
        // The one to run first, in another thread's shard.
        let first = std::thread::spawn(|| register(1)).join().unwrap();
        assert_ne!(second.shard, first.shard, "each thread has its own slot");
        // As a thread ended by `ExitProcess` in the middle of a registration leaves it.
        let held = lock(first.shard as usize);

        let mut drain = Drain::start_with_patience(Duration::from_millis(20));
        assert_eq!(DRAINS.load(Ordering::SeqCst), drains_before + 1);
        let taken = drain.take_next(None).expect("the other shard is free");
        assert_eq!(
            taken.info.priority(),
            0,
            "the first handler's shard was given up"
        );
        assert!(drain.take_next(None).is_none());
        assert!(drain.is_empty(), "the held shard counts as given up");
        assert_eq!(drain.shards_given_up(), 1);
        drop(drain);
        assert_eq!(DRAINS.load(Ordering::SeqCst), drains_before);

        drop(held);
        assert!(
            remove(&first).is_some(),
            "the handler given up on is still there"
        );
    }
}
