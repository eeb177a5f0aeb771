//! Guards on a path of their own: each thread keeps the guards it creates in a block
//! of entries that no lock protects, so that a guard created and dropped on one
//! thread costs its registration number and one atomic exchange, and the exit run
//! can still take it like any registered handler.
//!
//! A block is a stack of `CAPACITY` entries. Its owner, the one thread that holds it,
//! pushes a guard at the top and, when the top entries are free again, lowers the
//! top past them; a guard dropped out of order leaves a free entry below the top
//! that the owner passes over later. So the pending entries of a block are ordered
//! by their registration numbers: the highest pending one is the block's newest,
//! the one the exit run compares with the rest. A thread whose block is full (32
//! entries up to its newest guard, those dropped out of order below it included), or
//! that is ending and can no longer use its thread-locals, registers its guards in
//! the shared registry instead.
//!
//! Each entry has a state word: its generation (how many guards it held) and
//! whether it is free, pending or claimed. Whoever changes it from pending to
//! claimed with one compare-exchange (the dropped guard, `dismiss`, `clear` or the
//! exit run) owns the closure; it moves the closure out and marks the entry free,
//! which lets the owner reuse it. A guard whose entry holds a later generation finds
//! nothing there: the exit run, or `clear`, had it.
//!
//! Blocks are never freed: a thread that ends gives its block back, pending entries
//! included (a guard sent to another thread or leaked), and the next thread that
//! needs one takes it over. The exit run, `pending` and `handlers` walk the list of
//! every block, none of them with a lock or a thread-local; so that the walk stays
//! short, a process makes at most `MAX_BLOCKS`, and a thread that finds none free
//! after that keeps its guards in the registry.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::mem::MaybeUninit;
use std::num::NonZeroU64;
use std::panic::Location;
use std::ptr;
use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use std::sync::OnceLock;

use crate::info::HandlerInfo;
use crate::order::{Rank, Registered};
use crate::payload::{Kind, Payload};
use crate::threads::{self, SLOTS};

#[cfg(unix)]
use super::shard::Ownership;
use super::shard::{describe, Taken};
use super::stamp::{self, ShardStamps};

/// Guards one block holds at once.
const CAPACITY: usize = 32;
/// A guard's word: its entry's generation, then the entry's index in these bits.
const INDEX_BITS: u32 = CAPACITY.trailing_zeros();
const _: () = assert!(1 << INDEX_BITS == CAPACITY, "an index fills its bits");

/// The state word: `generation << TAG_BITS | tag`.
const TAG_BITS: u32 = 2;
const TAG: u64 = (1 << TAG_BITS) - 1;
/// Nothing in it: the owner may write it.
const FREE: u64 = 0;
/// A guard's closure, waiting to be run or dropped.
const PENDING: u64 = 1;
/// Being moved out by whoever claimed it; free once that is done.
const CLAIMED: u64 = 2;

/// Guards get the priority registrations get by default.
const PRIORITY: i32 = 0;

fn tag(state: u64) -> u64 {
    state & TAG
}

struct Entry {
    state: AtomicU64,
    /// The guard's registration number, as a registered handler's.
    sequence: AtomicU64,
    /// The closure's `Kind`, readable without claiming the entry.
    kind: AtomicPtr<()>,
    /// Where the guard was made; a `&'static Location` once the entry was used.
    location: AtomicPtr<Location<'static>>,
    /// Written by the owner while the entry is free; moved out by whoever claims it.
    payload: UnsafeCell<MaybeUninit<Payload>>,
}

impl Entry {
    const fn new() -> Self {
        Entry {
            state: AtomicU64::new(FREE),
            sequence: AtomicU64::new(0),
            kind: AtomicPtr::new(ptr::null_mut()),
            location: AtomicPtr::new(ptr::null_mut()),
            payload: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// What `handlers()` shows of it: its closure's kind and where it was made.
    /// Only meaningful once the entry was seen pending.
    fn describe(&self) -> Option<(Kind, &'static Location<'static>)> {
        let kind = self.kind.load(Ordering::Relaxed);
        let location = self.location.load(Ordering::Relaxed);
        if kind.is_null() || location.is_null() {
            return None;
        }
        // SAFETY: `kind` only ever holds null or what `Kind::into_raw` gave, and it is
        // not null.
        let kind = unsafe { Kind::from_raw(kind) };
        // SAFETY: `location` only ever holds null or a pointer made from a
        // `&'static Location<'static>`, which is never freed or written; not null.
        let location = unsafe { &*location };
        Some((kind, location))
    }

    /// Moves the closure out of an entry this thread has just claimed (generation
    /// `generation`), and frees the entry.
    #[inline]
    fn take_claimed(&self, generation: u64) -> Payload {
        // SAFETY: the caller changed the state from pending to claimed, which nobody
        // else can do for this generation: the payload the owner wrote before it
        // published the entry as pending (acquired by that exchange) is this thread's
        // to move out, and nobody writes it until the entry is free again, below.
        let payload = unsafe { (*self.payload.get()).assume_init_read() };
        self.state
            .store(generation << TAG_BITS | FREE, Ordering::Release);
        payload
    }
}

/// One thread's guards.
#[repr(align(128))]
pub(crate) struct Block {
    entries: [Entry; CAPACITY],
    /// Entries from here on are free. Written by the owner only.
    len: AtomicUsize,
    /// Whether a live thread holds the block.
    owned: AtomicBool,
    /// Guard closures the owner is running in a drop (see `threads::InFlight`).
    /// Written by the owner only.
    in_flight: AtomicUsize,
    /// The owner's `ShardStamps`, kept in atomics so that a forked child reads them
    /// whoever the owner was. Written by the owner only.
    last: AtomicU64,
    interleaved: AtomicU32,
    /// What the clock's numbers carry in their low bits (see `stamp`).
    clock_slot: usize,
    next: OnceLock<&'static Block>,
}

impl Block {
    fn new(clock_slot: usize) -> Self {
        Block {
            entries: [const { Entry::new() }; CAPACITY],
            len: AtomicUsize::new(0),
            owned: AtomicBool::new(true),
            in_flight: AtomicUsize::new(0),
            last: AtomicU64::new(0),
            interleaved: AtomicU32::new(0),
            clock_slot,
            next: OnceLock::new(),
        }
    }

    /// The pending or claimed entries are all below it; read by anyone.
    fn listed(&self) -> &[Entry] {
        &self.entries[..self.len.load(Ordering::Acquire).min(CAPACITY)]
    }

    /// The owner's registration number for a new guard.
    #[inline]
    fn next_sequence(&self) -> u64 {
        let mut stamps = ShardStamps::from_parts(
            self.last.load(Ordering::Relaxed),
            self.interleaved.load(Ordering::Relaxed),
        );
        let number = stamp::next(self.clock_slot, &mut stamps);
        let (last, interleaved) = stamps.parts();
        self.last.store(last, Ordering::Relaxed);
        self.interleaved.store(interleaved, Ordering::Relaxed);
        number
    }

    /// The owner: lowers the top past the free entries there.
    #[inline]
    fn trim(&self) -> usize {
        let listed = self.len.load(Ordering::Relaxed);
        let mut len = listed;
        // Acquire: whoever freed an entry has finished moving its closure out.
        while len > 0 && tag(self.entries[len - 1].state.load(Ordering::Acquire)) == FREE {
            len -= 1;
        }
        if len != listed {
            self.len.store(len, Ordering::Release);
        }
        len
    }

    /// The owner: pushes a guard, unless the block is full.
    #[inline]
    fn push(
        &'static self,
        payload: Payload,
        location: &'static Location<'static>,
    ) -> Result<Local, Payload> {
        let len = self.len.load(Ordering::Relaxed);
        if len < CAPACITY {
            Ok(self.push_at(len, payload, location))
        } else {
            self.push_to_full(payload, location)
        }
    }

    /// The owner: the top is at the end; there may be free entries below it.
    #[cold]
    #[inline(never)]
    fn push_to_full(
        &'static self,
        payload: Payload,
        location: &'static Location<'static>,
    ) -> Result<Local, Payload> {
        match self.trim() {
            CAPACITY => Err(payload),
            len => Ok(self.push_at(len, payload, location)),
        }
    }

    /// The owner: pushes a guard at the top, `len`.
    #[inline]
    fn push_at(
        &'static self,
        len: usize,
        payload: Payload,
        location: &'static Location<'static>,
    ) -> Local {
        let entry = &self.entries[len];
        // Every entry from `len` on is free; Acquire as in `trim`.
        let generation = (entry.state.load(Ordering::Acquire) >> TAG_BITS) + 1;
        // Whoever reads the fields below without claiming the entry (`handlers()`)
        // and finds it still pending afterwards read the values of one generation.
        fence(Ordering::Release);
        let sequence = self.next_sequence();
        entry.sequence.store(sequence, Ordering::Relaxed);
        entry
            .kind
            .store(payload.kind().into_raw(), Ordering::Relaxed);
        entry
            .location
            .store(ptr::from_ref(location).cast_mut(), Ordering::Relaxed);
        // SAFETY: the entry is free (at or above the top, where nothing is pending or
        // claimed), and only the owner, this thread, writes a free entry; whoever
        // freed it last had moved its closure out (acquired above). The payload is
        // published by the Release store below.
        unsafe { (*entry.payload.get()).write(payload) };
        entry
            .state
            .store(generation << TAG_BITS | PENDING, Ordering::Release);
        self.len.store(len + 1, Ordering::Release);
        Local::new(self, len, generation)
    }
}

// SAFETY: every field but the entries' payloads is atomic or immutable. A payload is
// written only by the thread that owns the block, while its entry is free, and read
// (moved out) only by the thread that changed the entry from pending to claimed:
// the state word hands the payload from one thread to the other, with Release and
// Acquire orderings on both sides. `Payload` is `Send`.
unsafe impl Sync for Block {}

// A panic cannot leave a block half-changed for others to see: entries change by
// their state word, whose every value is consistent, and no user code runs while a
// payload is being moved. So guards stay unwind-safe, as they were.
impl std::panic::RefUnwindSafe for Block {}

/// The first block; each links to the next. Appended to, never shortened.
static FIRST: OnceLock<&'static Block> = OnceLock::new();

/// Blocks made so far, to spread their clock slots.
static MADE: AtomicUsize = AtomicUsize::new(0);

/// The most blocks a process makes. Beyond, a thread that finds none free keeps its
/// guards in the registry's shards, as before blocks: what the exit run walks for
/// each handler it takes, and a thread's first guard searches, stays bounded however
/// many threads a process once ran at the same time.
const MAX_BLOCKS: usize = 64;

fn blocks() -> impl Iterator<Item = &'static Block> {
    std::iter::successors(FIRST.get().copied(), |block| block.next.get().copied())
}

/// The block this thread holds, given back when the thread ends; `refused` once it
/// found none free and the process had made all it makes, so that its later guards
/// go to the registry without searching again.
struct Held {
    block: Cell<Option<&'static Block>>,
    refused: Cell<bool>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(block) = self.block.take() {
            // Release: the next owner reads what this one wrote.
            block.owned.store(false, Ordering::Release);
        }
    }
}

// Not the `thread_local` crate's per-thread values, which also outlive their thread
// and go to the next one: its lookup panics on a thread whose thread-locals are being
// destroyed, where a guard must fall back to the registry instead.
thread_local! {
    static HELD: Held = const {
        Held {
            block: Cell::new(None),
            refused: Cell::new(false),
        }
    };
}

/// Takes a block for this thread.
#[cold]
#[inline(never)]
fn acquire_for(held: &Held) -> Option<&'static Block> {
    if held.refused.get() {
        return None;
    }
    let block = acquire();
    held.block.set(block);
    held.refused.set(block.is_none());
    block
}

/// A block no thread holds with room in it (at least half, once the free entries at
/// its top are passed over), or a new one, unless the process made `MAX_BLOCKS`.
fn acquire() -> Option<&'static Block> {
    for block in blocks() {
        if block
            .owned
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            // Held now, so that its top may be lowered.
            if block.trim() < CAPACITY / 2 {
                return Some(block);
            }
            block.owned.store(false, Ordering::Release);
        }
    }
    let made = MADE
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |made| {
            (made < MAX_BLOCKS).then_some(made + 1)
        })
        .ok()?;
    let clock_slot = made % SLOTS;
    let block: &'static Block = Box::leak(Box::new(Block::new(clock_slot)));
    let mut link = &FIRST;
    while let Err(taken) = link.set(block) {
        let _ = taken;
        link = &link
            .get()
            .expect("a link that refused a block holds one")
            .next;
    }
    Some(block)
}

/// Whether `block` is the one this thread holds.
#[inline]
fn holds(block: &Block) -> bool {
    HELD.try_with(|held| held.block.get().is_some_and(|held| ptr::eq(held, block)))
        .unwrap_or(false)
}

/// A guard in a block: two words, so that a `Guard` moves in registers.
///
/// Copying it does not copy the guard: only the copy that claims the entry while it
/// holds the same generation gets the closure.
#[derive(Clone, Copy)]
pub(crate) struct Local {
    block: &'static Block,
    /// `generation << INDEX_BITS | index`; generations start at 1. A generation
    /// would need 2^58 guards in one entry to wrap (centuries at one per nanosecond).
    word: NonZeroU64,
}

impl Local {
    #[inline]
    fn new(block: &'static Block, index: usize, generation: u64) -> Self {
        let word = NonZeroU64::new(generation << INDEX_BITS | index as u64)
            .expect("generations start at 1");
        Local { block, word }
    }

    /// The guard as a block and a word that is never 0, and back.
    #[inline]
    pub(crate) fn into_parts(self) -> (&'static Block, NonZeroU64) {
        (self.block, self.word)
    }

    #[inline]
    pub(crate) fn from_parts(block: &'static Block, word: NonZeroU64) -> Self {
        Local { block, word }
    }

    #[inline]
    fn index(self) -> usize {
        (self.word.get() & (CAPACITY as u64 - 1)) as usize
    }

    #[inline]
    fn generation(self) -> u64 {
        self.word.get() >> INDEX_BITS
    }
}

impl fmt::Debug for Local {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local")
            .field("block", &ptr::from_ref(self.block))
            .field("index", &self.index())
            .field("generation", &self.generation())
            .finish()
    }
}

/// Keeps a guard in this thread's block; gives the payload back where it cannot (the
/// block is full, or the thread is ending and its thread-locals are gone), and while
/// a run is on: its static handlers then run in a row for as long as no shard
/// publishes a handler, one load each, with no walk of the blocks.
#[inline]
pub(crate) fn push(
    payload: Payload,
    location: &'static Location<'static>,
) -> Result<Local, Payload> {
    if super::DRAINS.load(Ordering::Relaxed) > 0 {
        return Err(payload);
    }
    match HELD.try_with(|held| held.block.get()) {
        Ok(Some(block)) => block.push(payload, location),
        Ok(None) => match HELD.try_with(acquire_for) {
            Ok(Some(block)) => block.push(payload, location),
            Ok(None) | Err(_) => Err(payload),
        },
        Err(_) => Err(payload),
    }
}

/// Marks a guard closure as executing on this thread, in its own block: the owner's
/// counterpart of `threads::InFlight`, with no atomic read-modify-write.
struct OwnInFlight(&'static Block);

impl OwnInFlight {
    #[inline]
    fn begin(block: &'static Block) -> Self {
        let count = block.in_flight.load(Ordering::Relaxed);
        // Relaxed: the exchange that claims the closure releases it.
        block.in_flight.store(count + 1, Ordering::Relaxed);
        threads::count_own_in_flight(1);
        OwnInFlight(block)
    }
}

impl Drop for OwnInFlight {
    #[inline]
    fn drop(&mut self) {
        threads::count_own_in_flight(-1);
        let count = self.0.in_flight.load(Ordering::Relaxed);
        // Release: an exit that sees the count drop sees what the closure did.
        self.0.in_flight.store(count - 1, Ordering::Release);
    }
}

impl Local {
    #[inline]
    fn entry(self) -> &'static Entry {
        &self.block.entries[self.index()]
    }

    /// The guard is dropped: runs its closure unless someone else had it.
    #[inline]
    pub(crate) fn run(self) {
        if holds(self.block) {
            // Counted from before the closure leaves the block, so that a process
            // exiting on another thread meanwhile waits for it.
            let _in_flight = OwnInFlight::begin(self.block);
            if let Some(payload) = self.claim(true) {
                // A guard's closure is never async: `guard` takes a closure.
                let _ = payload.call();
            }
        } else {
            self.run_elsewhere();
        }
    }

    /// `run` on a thread that does not hold the guard's block.
    #[cold]
    #[inline(never)]
    fn run_elsewhere(self) {
        let _in_flight = threads::InFlight::begin();
        if let Some(payload) = self.claim(false) {
            let _ = payload.call();
        }
    }

    /// `dismiss`: the closure, to drop, unless someone else had it.
    pub(crate) fn take(self) -> Option<Payload> {
        self.claim(holds(self.block))
    }

    /// Takes the closure out. `None` if it was taken already, or belongs to a parent
    /// process: one that may be adopted is forgotten (never run, never dropped, and
    /// not adopted later), an older ancestor's is left as it is.
    #[inline]
    fn claim(self, own: bool) -> Option<Payload> {
        // If the entry holds a later generation already, the exchange below fails
        // whatever was read here.
        let sequence = self.entry().sequence.load(Ordering::Relaxed);
        if sequence < super::owned_from() {
            return self.claim_inherited(own, sequence);
        }
        self.claim_pending(own)
    }

    /// `claim` in a forked child, of a guard its parent made.
    #[cold]
    #[inline(never)]
    fn claim_inherited(self, own: bool, sequence: u64) -> Option<Payload> {
        let ownership = super::ownership();
        if sequence < ownership.adoptable_from {
            return None;
        }
        // Checked again: the child may have adopted it meanwhile.
        let payload = self.claim_pending(own)?;
        if sequence < super::owned_from() {
            std::mem::forget(payload);
            return None;
        }
        Some(payload)
    }

    #[inline]
    fn claim_pending(self, own: bool) -> Option<Payload> {
        let entry = self.entry();
        let generation = self.generation();
        entry
            .state
            .compare_exchange(
                generation << TAG_BITS | PENDING,
                generation << TAG_BITS | CLAIMED,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .ok()?;
        let payload = entry.take_claimed(generation);
        if own {
            self.block.trim();
        }
        Some(payload)
    }
}

/// The newest pending guard of some block, as the exit run found it.
pub(super) struct Candidate {
    entry: &'static Entry,
    state: u64,
    pub(super) rank: Rank,
}

impl Candidate {
    /// Takes the guard to run, unless it was dropped or taken meanwhile.
    pub(super) fn claim(&self) -> Option<Taken> {
        let generation = self.state >> TAG_BITS;
        self.entry
            .state
            .compare_exchange(
                self.state,
                generation << TAG_BITS | CLAIMED,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .ok()?;
        let (_, location) = self
            .entry
            .describe()
            .expect("an entry seen pending was described before");
        let payload = self.entry.take_claimed(generation);
        Some(Taken {
            info: describe(&payload, PRIORITY, location),
            payload,
        })
    }
}

/// The pending guard this process would run next: the greatest of each block's
/// newest. Exact as of when each block was read.
pub(super) fn best(owned_from: u64) -> Option<Candidate> {
    let mut best: Option<Candidate> = None;
    for block in blocks() {
        // A block's pending entries are ordered by number, and a parent's below this
        // process's: the first pending one from the top is its newest, or it holds
        // nothing of this process.
        let Some((entry, state)) = block.listed().iter().rev().find_map(|entry| {
            let state = entry.state.load(Ordering::Acquire);
            (tag(state) == PENDING).then_some((entry, state))
        }) else {
            continue;
        };
        // If the entry was reused since, the exchange that claims it fails.
        let sequence = entry.sequence.load(Ordering::Relaxed);
        if sequence < owned_from {
            continue;
        }
        let rank = Rank {
            priority: PRIORITY,
            registered: Registered::AtRunTime(sequence),
        };
        if best.as_ref().map_or(true, |best| rank > best.rank) {
            best = Some(Candidate { entry, state, rank });
        }
    }
    best
}

/// Whether any block may hold a pending guard: false means none does.
#[inline]
pub(super) fn any_listed() -> bool {
    blocks().any(|block| block.len.load(Ordering::Acquire) > 0)
}

/// The pending guards whose numbers are in `numbers`, each with its number.
fn pending_entries(
    numbers: std::ops::Range<u64>,
) -> impl Iterator<Item = (&'static Entry, u64, u64)> {
    blocks().flat_map(Block::listed).filter_map(move |entry| {
        let state = entry.state.load(Ordering::Acquire);
        let sequence = entry.sequence.load(Ordering::Relaxed);
        (tag(state) == PENDING && numbers.contains(&sequence)).then_some((entry, state, sequence))
    })
}

/// How many guards this process would run.
pub(super) fn pending(owned_from: u64) -> usize {
    pending_entries(owned_from..u64::MAX).count()
}

/// How many guards a forked child inherited and did not remove.
#[cfg(unix)]
pub(super) fn inherited(ownership: &Ownership) -> usize {
    pending_entries(ownership.adoptable_from..ownership.own_from).count()
}

/// The pending guards with their ranks.
pub(super) fn snapshot(owned_from: u64, into: &mut Vec<(Rank, HandlerInfo)>) {
    for (entry, state, sequence) in pending_entries(owned_from..u64::MAX) {
        let described = entry.describe();
        // A seqlock's read: the fields belong to the generation `state` names only if
        // the entry is still in that state after they were read (see `push`).
        fence(Ordering::Acquire);
        if entry.state.load(Ordering::Relaxed) != state {
            continue;
        }
        let Some((kind, location)) = described else {
            continue;
        };
        let rank = Rank {
            priority: PRIORITY,
            registered: Registered::AtRunTime(sequence),
        };
        let info = HandlerInfo::new(
            kind.type_name(),
            PRIORITY,
            location.file(),
            location.line(),
            false,
            kind.is_async(),
        );
        into.push((rank, info));
    }
}

/// Takes out every pending guard of this process whose closure `matches` accepts.
pub(super) fn take_where(
    owned_from: u64,
    matches: &mut impl FnMut(Kind) -> bool,
    into: &mut Vec<Payload>,
) {
    for (entry, state, _) in pending_entries(owned_from..u64::MAX) {
        // If the entry was reused since, the exchange below fails.
        let Some((kind, _)) = entry.describe() else {
            continue;
        };
        if !matches(kind) {
            continue;
        }
        let generation = state >> TAG_BITS;
        if entry
            .state
            .compare_exchange(
                state,
                generation << TAG_BITS | CLAIMED,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            into.push(entry.take_claimed(generation));
        }
    }
}

/// Guard closures that the owners of blocks are running in a drop.
pub(crate) fn in_flight() -> usize {
    blocks()
        .map(|block| block.in_flight.load(Ordering::Acquire))
        .sum()
}

/// The blocks' last registration numbers, for a forked child's first own one.
#[cfg(unix)]
pub(super) fn lasts() -> impl Iterator<Item = u64> {
    blocks().map(|block| block.last.load(Ordering::Relaxed))
}

/// Of `in_flight`, those of the calling thread's own block.
#[cfg(unix)]
pub(crate) fn own_in_flight() -> usize {
    HELD.try_with(|held| {
        held.block
            .get()
            .map_or(0, |block| block.in_flight.load(Ordering::Relaxed))
    })
    .unwrap_or(0)
}

/// In a forked child, where the calling thread is the only one: the other threads'
/// blocks are free for the child's threads (what is pending there is the parent's
/// until adopted), and what those threads were doing is undone: an entry half
/// pushed is dropped from view and one half claimed is freed (its closure is lost
/// with the thread that had it); none of their closures is running.
#[cfg(unix)]
pub(super) fn after_fork_in_child(own_from: u64) {
    let own = HELD.try_with(|held| held.block.get()).ok().flatten();
    for block in blocks() {
        block
            .last
            .fetch_max(own_from.saturating_sub(1), Ordering::Relaxed);
        let len = block.len.load(Ordering::Relaxed).min(CAPACITY);
        for (index, entry) in block.entries.iter().enumerate() {
            let state = entry.state.load(Ordering::Relaxed);
            if tag(state) == CLAIMED || (index >= len && tag(state) != FREE) {
                entry.state.store(state & !TAG | FREE, Ordering::Release);
            }
        }
        if !own.is_some_and(|own| ptr::eq(own, block)) {
            block.in_flight.store(0, Ordering::Relaxed);
            block.owned.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> (std::sync::Arc<AtomicUsize>, Payload) {
        let count = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&count);
        let payload = Payload::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        (count, payload)
    }

    /// A block of the test's own, outside the list, held by the calling thread as
    /// far as its methods know.
    fn private_block() -> &'static Block {
        Box::leak(Box::new(Block::new(0)))
    }

    #[test]
    fn a_full_block_gives_the_payload_back_and_frees_lifo() {
        let block = private_block();
        let mut locals = Vec::new();
        for _ in 0..CAPACITY {
            let (_, payload) = probe();
            locals.push(block.push(payload, Location::caller()).ok().unwrap());
        }
        let (count, payload) = probe();
        assert!(block.push(payload, Location::caller()).is_err(), "full");
        // Dropped out of order below the top: the block stays full until the top goes.
        assert!(locals.remove(3).claim(true).is_some());
        let (_, payload) = probe();
        assert!(
            block.push(payload, Location::caller()).is_err(),
            "still full"
        );
        while let Some(local) = locals.pop() {
            assert!(local.claim(true).is_some());
        }
        assert_eq!(block.len.load(Ordering::Relaxed), 0, "freed from the top");
        assert_eq!(count.load(Ordering::SeqCst), 0, "nothing was called");
    }

    #[test]
    fn a_stale_guard_finds_nothing_once_its_entry_is_reused() {
        let block = private_block();
        let (count, payload) = probe();
        let first = block.push(payload, Location::caller()).ok().unwrap();
        let stale = first;
        first.claim(true).unwrap().call();
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let (again, payload) = probe();
        let second = block.push(payload, Location::caller()).ok().unwrap();
        assert_eq!(second.index(), stale.index(), "the entry is reused");
        assert!(stale.claim(true).is_none(), "not the stale guard's");
        second.claim(true).unwrap().call();
        assert_eq!(again.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_block_is_given_back_when_its_thread_ends_with_a_guard_pending() {
        let (count, payload) = probe();
        let local = std::thread::spawn(move || push(payload, Location::caller()).ok().unwrap())
            .join()
            .unwrap();
        assert!(pending(0) >= 1, "still pending after its thread ended");
        local.run();
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "run by the thread that dropped it"
        );
    }
}
