//! The registry across `fork()`: every shard's lock is held while the process forks,
//! and in the child everything pending belongs to the parent until adopted.

use std::cell::UnsafeCell;
use std::sync::atomic::Ordering;

use crate::threads::SLOTS;

use super::{guards, lock, owned_from, ownership, stamp, Locked, OWNED_FROM, PARENT_OWNED_FROM};

/// Every shard's lock, held across `fork()` so that the child never inherits one
/// locked by a thread that does not exist there.
struct HeldAcrossFork(UnsafeCell<Vec<Locked>>);

// SAFETY: the cell is used only by the `pthread_atfork` callbacks below, and only
// while every shard lock is held by the forking thread: `lock_for_fork` fills it after
// taking them, and the after-fork functions empty it before releasing them. Two
// threads forking at once are serialised by those locks, so the cell is never
// accessed from two threads at once.
unsafe impl Sync for HeldAcrossFork {}

static HELD: HeldAcrossFork = HeldAcrossFork(UnsafeCell::new(Vec::new()));

/// Called before `fork()`.
pub(crate) fn lock_for_fork() {
    // Taken in shard order, as `Drain::refresh` and the rest do one at a time.
    let guards: Vec<_> = (0..SLOTS).map(lock).collect();
    // SAFETY: see `HeldAcrossFork`: every shard lock is held.
    unsafe { *HELD.0.get() = guards };
}

/// The guards `lock_for_fork` took. `std`'s mutex is a bare futex word: unlocking
/// wakes a waiter if there is one and hands the lock to nobody, so in the child,
/// where the parent's waiters do not exist, each simply ends up free.
fn held() -> Vec<Locked> {
    // SAFETY: see `HeldAcrossFork`: every shard lock is still held.
    unsafe { std::mem::take(&mut *HELD.0.get()) }
}

/// Called after `fork()` in the parent.
pub(crate) fn unlock_after_fork_in_parent() {
    drop(held());
}

/// Called after `fork()` in the child: everything pending belongs to the parent.
pub(crate) fn unlock_after_fork_in_child() {
    let mut shards = held();
    PARENT_OWNED_FROM.store(owned_from(), Ordering::Relaxed);
    // Every number the parent handed out is below it, and every one the child hands
    // out from now on at least it.
    let own_from = stamp::above_all(
        shards
            .iter_mut()
            .map(|shard| shard.stamps().last())
            .chain(guards::lasts()),
    );
    stamp::raise_counter(own_from);
    OWNED_FROM.store(own_from, Ordering::Relaxed);
    for shard in &mut shards {
        shard.stamps().raise(own_from.saturating_sub(1));
        shard.after_fork_in_child();
        shard.republish();
    }
    guards::after_fork_in_child(own_from);
}

/// `adopt_inherited`: the handlers inherited from the parent become this process's,
/// below its own of the same priority, since they were registered earlier. Returns
/// how many.
pub(crate) fn adopt() -> usize {
    let mut shards: Vec<_> = (0..SLOTS).map(lock).collect();
    let mut adopted = guards::inherited(&ownership());
    OWNED_FROM.store(PARENT_OWNED_FROM.load(Ordering::Relaxed), Ordering::Relaxed);
    for shard in &mut shards {
        adopted += shard.adopt();
        shard.republish();
    }
    adopted
}
