//! One shard of the registry: the dynamic handlers of the threads that use it.
//!
//! Handlers live in a vector of 32-byte slots that never move. The handlers of one
//! priority form a list through their slots, newest first, which is the order they
//! run in; the list is singly linked, so a removed handler leaves a tombstone (an
//! empty slot still in its list) that the next walk past it frees, or a sweep once
//! tombstones outnumber the living. Freed slots are reused, so memory follows the
//! largest number of handlers pending at once, whatever the churn.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound::{Excluded, Included, Unbounded};
use std::panic::Location;
use std::ptr;

use crate::info::HandlerInfo;
use crate::order::{Rank, Registered};
use crate::payload::{Kind, Payload};

use super::stamp::ShardStamps;

/// The end of a list, or of the free list.
const NIL: u32 = u32::MAX;

/// Tombstones are swept once there are more of them than this and than living
/// handlers: a sweep then costs at most two steps per removal.
const TOMBSTONES_KEPT: usize = 32;

struct Slot {
    /// `None` in a tombstone or a free slot.
    payload: Option<Payload>,
    /// The handler's registration number, which also tells a handle to an earlier
    /// occupant of the slot from one to the current occupant.
    sequence: u64,
    /// In a list: the next older handler of the same priority. Free: the next free
    /// slot.
    older: u32,
    /// Where it was registered, as an index into `Shard::call_sites`.
    call_site: u32,
}

/// Which registrations this process owns, by number; see `fork`.
pub(super) struct Ownership {
    /// Registrations from this one on are this process's.
    pub(super) own_from: u64,
    /// Those from this one on (below `own_from`) were inherited from the parent and
    /// may be adopted; older ones belong to an older ancestor.
    pub(super) adoptable_from: u64,
}

/// A handler taken out of the registry, to run or to drop.
pub(crate) struct Taken {
    pub(crate) payload: Payload,
    pub(crate) info: HandlerInfo,
}

/// The dynamic handlers of the threads whose slot maps to this shard.
pub(super) struct Shard {
    slots: Vec<Slot>,
    free: u32,
    /// The newest slot of each priority's list.
    lists: Lists,
    /// Pending handlers this process owns.
    live: usize,
    /// Pending handlers a forked child inherited and has not adopted.
    inherited: usize,
    tombstones: usize,
    call_sites: CallSites,
    /// The registration numbers this shard handed out.
    stamps: ShardStamps,
}

impl Shard {
    pub(super) const fn new() -> Self {
        Shard {
            slots: Vec::new(),
            free: NIL,
            lists: Lists::new(),
            live: 0,
            inherited: 0,
            tombstones: 0,
            call_sites: CallSites::new(),
            stamps: ShardStamps::new(),
        }
    }

    pub(super) fn stamps(&mut self) -> &mut ShardStamps {
        &mut self.stamps
    }

    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// Adds a handler as the newest of its priority; returns its slot.
    pub(super) fn insert(
        &mut self,
        priority: i32,
        payload: Payload,
        location: &'static Location<'static>,
        sequence: u64,
    ) -> u32 {
        let call_site = self.call_sites.intern(location);
        let newest = self.lists.newest_mut(priority);
        let slot = Slot {
            payload: Some(payload),
            sequence,
            older: *newest,
            call_site,
        };
        let index = if self.free == NIL {
            let index = u32::try_from(self.slots.len())
                .ok()
                .filter(|&index| index != NIL)
                .expect("fewer than 4 billion pending exit handlers per shard");
            self.slots.push(slot);
            index
        } else {
            let index = self.free;
            self.free = self.slots[index as usize].older;
            self.slots[index as usize] = slot;
            index
        };
        *newest = index;
        self.live += 1;
        index
    }

    /// Takes out the handler a handle names; `None` if it is not pending here.
    ///
    /// A handler this process inherited and has not adopted is not its to run or
    /// drop, but its removal still counts: it is forgotten (its closure leaked, never
    /// dropped), so that adopting the others later does not bring it back.
    pub(super) fn remove(
        &mut self,
        index: u32,
        sequence: u64,
        priority: i32,
        ownership: &Ownership,
    ) -> Option<Payload> {
        let slot = self
            .slots
            .get_mut(index as usize)
            .filter(|slot| slot.sequence == sequence && slot.payload.is_some())?;
        let payload = slot.payload.take();
        let older = slot.older;
        let payload = if sequence >= ownership.own_from {
            self.live -= 1;
            payload
        } else if sequence >= ownership.adoptable_from {
            self.inherited -= 1;
            std::mem::forget(payload);
            None
        } else {
            // An older ancestor's: left exactly as it was.
            self.slots[index as usize].payload = payload;
            return None;
        };
        // The newest of its list (a guard dropped in scope order, say) is unlinked at
        // once; any other becomes a tombstone.
        match self.lists.get_mut(priority) {
            Some(newest) if *newest == index => {
                *newest = older;
                self.free_slot(index);
                if older == NIL {
                    self.lists.remove(priority);
                }
            }
            _ => {
                self.tombstones += 1;
                if self.tombstones > TOMBSTONES_KEPT && self.tombstones > self.live {
                    self.sweep();
                }
            }
        }
        payload
    }

    fn free_slot(&mut self, index: u32) {
        self.slots[index as usize].older = self.free;
        self.free = index;
    }

    /// The rank of the handler this shard would run next.
    pub(super) fn top(&mut self, owned_from: u64) -> Option<Rank> {
        let mut below: Option<i32> = None;
        loop {
            let priority = self.lists.highest_below(below)?;
            let newest = self.drop_tombstones_on_top(priority);
            // A list holds its newest first, so a list whose newest handler belongs
            // to an ancestor process holds nothing of this one.
            if let Some(sequence) = newest.filter(|&sequence| sequence >= owned_from) {
                return Some(Rank {
                    priority,
                    registered: Registered::AtRunTime(sequence),
                });
            }
            below = Some(priority);
        }
    }

    /// Frees the tombstones at the top of list `priority`, dropping the list if that
    /// empties it; returns the sequence of its newest handler left.
    fn drop_tombstones_on_top(&mut self, priority: i32) -> Option<u64> {
        let newest = self.lists.get_mut(priority)?;
        while *newest != NIL && self.slots[*newest as usize].payload.is_none() {
            let index = *newest;
            *newest = self.slots[index as usize].older;
            self.slots[index as usize].older = self.free;
            self.free = index;
            self.tombstones -= 1;
        }
        if *newest == NIL {
            self.lists.remove(priority);
            return None;
        }
        Some(self.slots[*newest as usize].sequence)
    }

    /// Takes out the newest handler of list `priority`, which [`top`](Self::top)
    /// just returned.
    pub(super) fn pop(&mut self, priority: i32) -> Taken {
        let newest = self
            .lists
            .get_mut(priority)
            .expect("the top handler's list exists");
        let index = *newest;
        let slot = &mut self.slots[index as usize];
        let payload = slot.payload.take().expect("the top handler is pending");
        *newest = slot.older;
        slot.older = self.free;
        self.free = index;
        if *newest == NIL {
            self.lists.remove(priority);
        }
        self.live -= 1;
        let location = self.call_sites.get(slot.call_site);
        Taken {
            info: describe(&payload, priority, location),
            payload,
        }
    }

    /// Unlinks and frees every tombstone; drops emptied lists.
    fn sweep(&mut self) {
        let slots = &mut self.slots;
        let free = &mut self.free;
        self.lists.retain(|newest| {
            let mut previous = NIL;
            let mut index = *newest;
            while index != NIL {
                let older = slots[index as usize].older;
                if slots[index as usize].payload.is_none() {
                    match previous {
                        NIL => *newest = older,
                        previous => slots[previous as usize].older = older,
                    }
                    slots[index as usize].older = *free;
                    *free = index;
                } else {
                    previous = index;
                }
                index = older;
            }
            *newest != NIL
        });
        self.tombstones = 0;
    }

    /// The pending handlers of this process, with their ranks.
    pub(super) fn snapshot(&self, owned_from: u64, into: &mut Vec<(Rank, HandlerInfo)>) {
        for (priority, newest) in self.lists.iter() {
            let mut index = newest;
            while index != NIL {
                let slot = &self.slots[index as usize];
                if slot.sequence < owned_from {
                    break;
                }
                if let Some(payload) = &slot.payload {
                    let rank = Rank {
                        priority,
                        registered: Registered::AtRunTime(slot.sequence),
                    };
                    let location = self.call_sites.get(slot.call_site);
                    into.push((rank, describe(payload, priority, location)));
                }
                index = slot.older;
            }
        }
    }

    /// Takes out every pending handler of this process that `matches` accepts.
    pub(super) fn take_where(
        &mut self,
        owned_from: u64,
        matches: &mut impl FnMut(Kind) -> bool,
        into: &mut Vec<Payload>,
    ) {
        let mut taken = 0;
        for (_, newest) in self.lists.iter() {
            let mut index = newest;
            while index != NIL {
                let slot = &mut self.slots[index as usize];
                if slot.sequence < owned_from {
                    break;
                }
                if slot
                    .payload
                    .as_ref()
                    .is_some_and(|payload| matches(payload.kind()))
                {
                    into.extend(slot.payload.take());
                    taken += 1;
                }
                index = slot.older;
            }
        }
        self.live -= taken;
        self.tombstones += taken;
        if taken > 0 {
            self.sweep();
        }
    }

    #[cfg(unix)]
    /// In a forked child: everything pending is the parent's now. What the parent
    /// had inherited and not adopted stays as it is: never run, never dropped, since
    /// its destructors could undo an ancestor's work.
    pub(super) fn after_fork_in_child(&mut self) {
        self.inherited = std::mem::take(&mut self.live);
    }

    #[cfg(unix)]
    /// Makes the inherited handlers this process's own; returns how many.
    pub(super) fn adopt(&mut self) -> usize {
        let adopted = std::mem::take(&mut self.inherited);
        self.live += adopted;
        adopted
    }
}

/// The newest slot of each priority's list, by priority.
///
/// A run of lists in ascending order of priority is kept in a deque, and the other
/// lists in a map, none of them between the run's first and last priority. A
/// program registering at one priority, or at a new highest or a new lowest one
/// each time, only touches the run's ends, and so does the exit run, which takes
/// from the highest list: O(1). Any other mix costs O(log P) per registration,
/// removal or taking, amortised: a registration between two lists of the run moves
/// the lists on one side of it to the map, and each list goes there at most once.
struct Lists {
    run: Run,
    others: BTreeMap<i32, u32>,
}

impl Lists {
    const fn new() -> Self {
        Lists {
            run: Run::new(),
            others: BTreeMap::new(),
        }
    }

    /// Whether the highest list of the run is that of `priority`: the list that one
    /// priority uses, and that the exit run takes from.
    #[inline]
    fn is_last_of_run(&self, priority: i32) -> bool {
        matches!(self.run.last, Some((last, _)) if last == priority)
    }

    /// Where `priority` is or would go in the run, if it is within the run's span.
    fn in_run(&self, priority: i32) -> Option<Result<usize, usize>> {
        let (&(first, _), &(last, _)) = (self.run.front()?, self.run.back()?);
        if priority < first || priority > last {
            None
        } else if priority == last {
            Some(Ok(self.run.len() - 1))
        } else if priority == first {
            Some(Ok(0))
        } else {
            Some(
                self.run
                    .binary_search_by_key(&priority, |&(priority, _)| priority),
            )
        }
    }

    /// Moves the lists of the run on the shorter side of position `at` (a list
    /// there included) to `others`; returns whether that was the lower side.
    fn split_run(&mut self, at: usize, including: bool) -> bool {
        let lower = at < self.run.len() / 2;
        let moved = if lower {
            self.run.drain_below(at + usize::from(including))
        } else {
            self.run.drain_from(at)
        };
        self.others.extend(moved);
        lower
    }

    /// The list of `priority`, made empty if there was none. The caller must make
    /// it hold a slot before any other call.
    #[inline]
    fn newest_mut(&mut self, priority: i32) -> &mut u32 {
        if self.is_last_of_run(priority) {
            return self.run.last_newest_mut();
        }
        self.newest_mut_elsewhere(priority)
    }

    fn newest_mut_elsewhere(&mut self, priority: i32) -> &mut u32 {
        match self.in_run(priority) {
            Some(Ok(at)) => return self.run.newest_mut(at),
            Some(Err(at)) => {
                // No list of `others` is left between `priority` and the run.
                if self.split_run(at, false) {
                    self.run.push_front((priority, NIL));
                    return self.run.newest_mut(0);
                }
                self.run.push_back((priority, NIL));
                return self.run.last_newest_mut();
            }
            None => {}
        }
        match (self.run.front(), self.run.back()) {
            (Some(&(first, _)), Some(&(last, _))) => {
                if priority > last
                    && self
                        .others
                        .range((Excluded(last), Included(priority)))
                        .next()
                        .is_none()
                {
                    self.run.push_back((priority, NIL));
                    return self.run.last_newest_mut();
                }
                if priority < first
                    && self
                        .others
                        .range((Included(priority), Excluded(first)))
                        .next()
                        .is_none()
                {
                    self.run.push_front((priority, NIL));
                    return self.run.newest_mut(0);
                }
            }
            _ if !self.others.contains_key(&priority) => {
                self.run.push_back((priority, NIL));
                return self.run.last_newest_mut();
            }
            _ => {}
        }
        self.others.entry(priority).or_insert(NIL)
    }

    #[inline]
    fn get_mut(&mut self, priority: i32) -> Option<&mut u32> {
        if self.is_last_of_run(priority) {
            return Some(self.run.last_newest_mut());
        }
        self.get_mut_elsewhere(priority)
    }

    fn get_mut_elsewhere(&mut self, priority: i32) -> Option<&mut u32> {
        match self.in_run(priority) {
            Some(Ok(at)) => Some(self.run.newest_mut(at)),
            // No list of `others` is within the run's span.
            Some(Err(_)) => None,
            None => self.others.get_mut(&priority),
        }
    }

    /// The highest priority with a list, below `bound` if given.
    #[inline]
    fn highest_below(&self, bound: Option<i32>) -> Option<i32> {
        if bound.is_none() && self.others.is_empty() {
            return self.run.back().map(|&(priority, _)| priority);
        }
        self.highest_below_anywhere(bound)
    }

    fn highest_below_anywhere(&self, bound: Option<i32>) -> Option<i32> {
        let (in_run, in_others) = match bound {
            None => (
                self.run.back().map(|&(priority, _)| priority),
                self.others.last_key_value().map(|(&priority, _)| priority),
            ),
            Some(bound) => (
                match self.run.partition_point(|&(priority, _)| priority < bound) {
                    0 => None,
                    below => Some(self.run.priority(below - 1)),
                },
                // The bounds are of the type the other range queries use: one
                // instance of the map's range search.
                self.others
                    .range((Unbounded, Excluded(bound)))
                    .next_back()
                    .map(|(&priority, _)| priority),
            ),
        };
        in_run.max(in_others)
    }

    /// Drops the list of `priority`, which the caller just emptied.
    #[inline]
    fn remove(&mut self, priority: i32) {
        if self.is_last_of_run(priority) {
            self.run.pop_back();
        } else {
            self.remove_elsewhere(priority);
        }
    }

    fn remove_elsewhere(&mut self, priority: i32) {
        match self.in_run(priority) {
            Some(Ok(0)) => {
                self.run.pop_front();
            }
            Some(Ok(at)) if at + 1 == self.run.len() => {
                self.run.pop_back();
            }
            Some(Ok(at)) => {
                self.split_run(at, true);
                self.others.remove(&priority);
            }
            Some(Err(_)) => {}
            None => {
                self.others.remove(&priority);
            }
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&mut u32) -> bool) {
        self.run.retain_mut(|(_, newest)| keep(newest));
        self.others.retain(|_, newest| keep(newest));
    }

    fn iter(&self) -> impl Iterator<Item = (i32, u32)> + '_ {
        self.run.iter().chain(
            self.others
                .iter()
                .map(|(&priority, &newest)| (priority, newest)),
        )
    }
}

/// A deque of lists whose last one, the one used most, is kept apart so that
/// finding it takes one comparison.
struct Run {
    /// All but the last.
    rest: VecDeque<(i32, u32)>,
    /// `None` only when the run is empty.
    last: Option<(i32, u32)>,
}

impl Run {
    const fn new() -> Self {
        Run {
            rest: VecDeque::new(),
            last: None,
        }
    }

    fn len(&self) -> usize {
        self.rest.len() + usize::from(self.last.is_some())
    }

    fn front(&self) -> Option<&(i32, u32)> {
        self.rest.front().or(self.last.as_ref())
    }

    fn back(&self) -> Option<&(i32, u32)> {
        self.last.as_ref()
    }

    fn priority(&self, at: usize) -> i32 {
        self.rest
            .get(at)
            .or(self.last.as_ref())
            .expect("within the run")
            .0
    }

    fn newest_mut(&mut self, at: usize) -> &mut u32 {
        if at < self.rest.len() {
            return &mut self.rest[at].1;
        }
        self.last_newest_mut()
    }

    #[inline]
    fn last_newest_mut(&mut self) -> &mut u32 {
        &mut self.last.as_mut().expect("the run is not empty").1
    }

    fn push_back(&mut self, list: (i32, u32)) {
        if let Some(last) = self.last.replace(list) {
            self.rest.push_back(last);
        }
    }

    fn push_front(&mut self, list: (i32, u32)) {
        if self.last.is_some() {
            self.rest.push_front(list);
        } else {
            self.last = Some(list);
        }
    }

    #[inline]
    fn pop_back(&mut self) {
        self.last = self.rest.pop_back();
    }

    fn pop_front(&mut self) {
        if self.rest.pop_front().is_none() {
            self.last = None;
        }
    }

    fn binary_search_by_key(
        &self,
        priority: &i32,
        key: impl FnMut(&(i32, u32)) -> i32,
    ) -> Result<usize, usize> {
        match self.rest.binary_search_by_key(priority, key) {
            Err(at)
                if at == self.rest.len()
                    && self.last.is_some_and(|(last, _)| last == *priority) =>
            {
                Ok(at)
            }
            found => found,
        }
    }

    fn partition_point(&self, below: impl Fn(&(i32, u32)) -> bool) -> usize {
        match self.rest.partition_point(&below) {
            at if at == self.rest.len() && self.last.as_ref().is_some_and(&below) => at + 1,
            at => at,
        }
    }

    /// Takes the lists before position `end` out.
    fn drain_below(&mut self, end: usize) -> Vec<(i32, u32)> {
        if end > self.rest.len() {
            let mut all: Vec<_> = self.rest.drain(..).collect();
            all.extend(self.last.take());
            return all;
        }
        self.rest.drain(..end).collect()
    }

    /// Takes the lists from position `start` on out.
    fn drain_from(&mut self, start: usize) -> Vec<(i32, u32)> {
        let mut taken: Vec<_> = self.rest.drain(start.min(self.rest.len())..).collect();
        taken.extend(self.last.take());
        self.last = self.rest.pop_back();
        taken
    }

    fn retain_mut(&mut self, mut keep: impl FnMut(&mut (i32, u32)) -> bool) {
        self.rest.retain_mut(&mut keep);
        if self.last.as_mut().is_some_and(|last| !keep(last)) {
            self.pop_back();
        }
    }

    fn iter(&self) -> impl Iterator<Item = (i32, u32)> + '_ {
        self.rest.iter().copied().chain(self.last)
    }
}

pub(super) fn describe(
    payload: &Payload,
    priority: i32,
    location: &'static Location<'static>,
) -> HandlerInfo {
    HandlerInfo::new(
        payload.type_name(),
        priority,
        location.file(),
        location.line(),
        false,
        payload.is_async(),
    )
}

/// The call sites of a shard's handlers, each stored once, so that a slot holds a
/// 4-byte index rather than an 8-byte reference. A program has few call sites, and
/// registrations in a loop hit the last one used.
struct CallSites {
    sites: Vec<&'static Location<'static>>,
    /// The index of each site, in order of address: found in O(log S). A site is
    /// added once, the first time it registers, at O(S): the sites are the
    /// program's `register` calls, a number its code bounds.
    by_address: Vec<(usize, u32)>,
    last: u32,
}

impl CallSites {
    const fn new() -> Self {
        CallSites {
            sites: Vec::new(),
            by_address: Vec::new(),
            last: 0,
        }
    }

    fn intern(&mut self, location: &'static Location<'static>) -> u32 {
        if self
            .sites
            .get(self.last as usize)
            .is_some_and(|&last| ptr::eq(last, location))
        {
            return self.last;
        }
        let address = ptr::from_ref(location) as usize;
        let index = match self
            .by_address
            .binary_search_by_key(&address, |&(address, _)| address)
        {
            Ok(found) => self.by_address[found].1,
            Err(at) => {
                let next =
                    u32::try_from(self.sites.len()).expect("fewer than 4 billion call sites");
                self.by_address.insert(at, (address, next));
                self.sites.push(location);
                next
            }
        };
        self.last = index;
        index
    }

    fn get(&self, index: u32) -> &'static Location<'static> {
        self.sites[index as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: u64 = 0;
    const ALL_OWN: Ownership = Ownership {
        own_from: 0,
        adoptable_from: 0,
    };

    fn shard_with(count: u64) -> Shard {
        let mut shard = Shard::new();
        for sequence in 0..count {
            shard.insert(0, Payload::new(|| {}), Location::caller(), sequence);
        }
        shard
    }

    fn order(shard: &Shard) -> Vec<u64> {
        let mut listed = Vec::new();
        shard.snapshot(OWN, &mut listed);
        listed
            .into_iter()
            .map(|(rank, _)| match rank.registered {
                Registered::AtRunTime(sequence) => sequence,
                Registered::BeforeMain(_) => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn a_slot_is_32_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 32);
    }

    #[test]
    fn slots_are_reused_so_memory_follows_the_pending_count() {
        let mut shard = Shard::new();
        // A sliding window of 16 pending handlers over 100,000 registrations.
        let mut window = std::collections::VecDeque::new();
        for sequence in 0..100_000 {
            let index = shard.insert(0, Payload::new(|| {}), Location::caller(), sequence);
            window.push_back((index, sequence));
            if window.len() > 16 {
                let (index, sequence) = window.pop_front().unwrap();
                assert!(shard.remove(index, sequence, 0, &ALL_OWN).is_some());
            }
        }
        assert_eq!(shard.live, 16);
        assert!(
            shard.slots.len() <= 16 + 2 * TOMBSTONES_KEPT + 2,
            "{}",
            shard.slots.len()
        );
    }

    #[test]
    fn a_stale_handle_matches_nothing_after_its_slot_is_reused() {
        let mut shard = shard_with(1);
        assert!(shard.remove(0, 0, 0, &ALL_OWN).is_some());
        shard.sweep();
        let reused = shard.insert(0, Payload::new(|| {}), Location::caller(), 1);
        assert_eq!(reused, 0);
        assert!(shard.remove(0, 0, 0, &ALL_OWN).is_none(), "stale handle");
        assert!(shard.remove(0, 1, 0, &ALL_OWN).is_some());
    }

    #[test]
    fn handlers_come_out_newest_first_after_removals_and_sweeps() {
        let mut shard = shard_with(200);
        for sequence in (0..200).step_by(3) {
            assert!(shard
                .remove(sequence as u32, sequence, 0, &ALL_OWN)
                .is_some());
        }
        let expected: Vec<u64> = (0..200)
            .rev()
            .filter(|sequence| sequence % 3 != 0)
            .collect();
        assert_eq!(order(&shard), expected);
        let mut popped = Vec::new();
        while let Some(rank) = shard.top(OWN) {
            assert_eq!(rank.priority, 0);
            popped.push(rank.registered);
            shard.pop(0);
        }
        let expected: Vec<Registered> = expected.into_iter().map(Registered::AtRunTime).collect();
        assert_eq!(popped, expected);
        assert!(shard.lists.iter().next().is_none());
    }

    #[test]
    fn the_top_is_the_newest_of_the_highest_priority() {
        let mut shard = Shard::new();
        for (sequence, priority) in [(0, 5), (1, -1), (2, 5), (3, 0)] {
            shard.insert(priority, Payload::new(|| {}), Location::caller(), sequence);
        }
        let rank = shard.top(OWN).unwrap();
        assert_eq!(
            (rank.priority, rank.registered),
            (5, Registered::AtRunTime(2))
        );
        shard.remove(2, 2, 5, &ALL_OWN).unwrap();
        shard.remove(0, 0, 5, &ALL_OWN).unwrap();
        let rank = shard.top(OWN).unwrap();
        assert_eq!(
            (rank.priority, rank.registered),
            (0, Registered::AtRunTime(3))
        );
        assert!(
            shard.lists.get_mut(5).is_none(),
            "the emptied list was dropped"
        );
    }

    /// Pops every handler through `top` and `pop`, as the exit run does, checking
    /// that `snapshot` listed them in the same order; returns (priority, sequence).
    fn drain(shard: &mut Shard) -> Vec<(i32, u64)> {
        let mut listed = Vec::new();
        shard.snapshot(OWN, &mut listed);
        listed.sort_unstable_by_key(|&(rank, _)| std::cmp::Reverse(rank));
        let mut popped = Vec::new();
        while let Some(rank) = shard.top(OWN) {
            let Registered::AtRunTime(sequence) = rank.registered else {
                unreachable!()
            };
            popped.push((rank.priority, sequence));
            shard.pop(rank.priority);
        }
        let expected: Vec<(i32, u64)> = listed
            .iter()
            .map(|(rank, _)| match rank.registered {
                Registered::AtRunTime(sequence) => (rank.priority, sequence),
                Registered::BeforeMain(_) => unreachable!(),
            })
            .collect();
        assert_eq!(popped, expected, "the run and the listing agree");
        assert_eq!(shard.live, 0);
        assert!(
            shard.lists.iter().next().is_none(),
            "every list was dropped"
        );
        popped
    }

    /// Highest priority first, then newest first: the exit order, computed apart.
    fn exit_order(mut registered: Vec<(i32, u64)>) -> Vec<(i32, u64)> {
        registered.sort_unstable_by(|a, b| b.cmp(a));
        registered
    }

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    const MANY: i32 = 5_000;

    #[test]
    fn many_distinct_priorities_run_in_exit_order_whichever_way_they_come() {
        let mut random_state = 0x2545_F491_4F6C_DD1D;
        let random: Vec<i32> = (0..MANY)
            .map(|_| (xorshift(&mut random_state) % 1_000) as i32 - 500)
            .collect();
        let patterns: [(&str, Vec<i32>); 4] = [
            ("ascending", (0..MANY).collect()),
            ("descending", (0..MANY).map(|i| -i).collect()),
            ("random, with repeats", random),
            (
                "extremes and a repeated default",
                [0, i32::MIN, 0, i32::MAX, -1, 1, 0, i32::MIN, i32::MAX]
                    .into_iter()
                    .collect(),
            ),
        ];
        for (name, priorities) in patterns {
            let mut shard = Shard::new();
            let mut registered = Vec::new();
            for (sequence, &priority) in (0..).zip(&priorities) {
                shard.insert(priority, Payload::new(|| {}), Location::caller(), sequence);
                registered.push((priority, sequence));
            }
            assert_eq!(drain(&mut shard), exit_order(registered), "{name}");
        }
    }

    #[test]
    fn removing_the_last_handler_of_a_priority_drops_its_list_and_keeps_the_order() {
        let mut random_state = 0x9E37_79B9_7F4A_7C15;
        let mut shard = Shard::new();
        // Two handlers for each of many priorities, registered in a random order of
        // priorities, so that lists are made and dropped all over the map.
        let mut handles = Vec::new();
        let mut sequence = 0;
        for _ in 0..2 {
            for _ in 0..MANY {
                let priority = (xorshift(&mut random_state) % 2_000) as i32 - 1_000;
                let slot =
                    shard.insert(priority, Payload::new(|| {}), Location::caller(), sequence);
                handles.push((slot, sequence, priority));
                sequence += 1;
            }
        }
        // Remove a random half, oldest or newest of its list alike.
        let mut kept = Vec::new();
        for (slot, sequence, priority) in handles {
            if xorshift(&mut random_state) % 2 == 0 {
                assert!(shard.remove(slot, sequence, priority, &ALL_OWN).is_some());
            } else {
                kept.push((priority, sequence));
            }
        }
        // Then, priority by priority, every handler of some priorities: their lists
        // must go and the neighbours' order must not change.
        let emptied: Vec<i32> = (-1_000..1_000).step_by(7).collect();
        let mut listed = Vec::new();
        shard.snapshot(OWN, &mut listed);
        for (rank, _) in &listed {
            if emptied.contains(&rank.priority) {
                let Registered::AtRunTime(sequence) = rank.registered else {
                    unreachable!()
                };
                let slot = shard
                    .slots
                    .iter()
                    .position(|slot| slot.sequence == sequence && slot.payload.is_some())
                    .unwrap() as u32;
                assert!(shard
                    .remove(slot, sequence, rank.priority, &ALL_OWN)
                    .is_some());
            }
        }
        kept.retain(|(priority, _)| !emptied.contains(priority));
        for &priority in &emptied {
            // A list may still hold tombstones; the top must skip it all the same.
            let top = shard.top(OWN).unwrap();
            assert_ne!(top.priority, priority);
        }
        assert_eq!(drain(&mut shard), exit_order(kept));
        // And the shard works on from empty.
        shard.insert(3, Payload::new(|| {}), Location::caller(), sequence);
        shard.insert(-3, Payload::new(|| {}), Location::caller(), sequence + 1);
        assert_eq!(
            drain(&mut shard),
            [(3, sequence), (-3, sequence + 1)],
            "after emptying"
        );
    }

    #[test]
    fn registrations_removals_and_takings_interleaved_keep_the_exit_order() {
        let mut random_state = 0x0123_4567_89AB_CDEF;
        for spread in [3, 50, 100_000] {
            let mut shard = Shard::new();
            // What the shard should hold: (priority, sequence) -> slot.
            let mut model = BTreeMap::<(i32, u64), u32>::new();
            for sequence in 0..20_000 {
                match xorshift(&mut random_state) % 8 {
                    0..=3 => {
                        let priority =
                            (xorshift(&mut random_state) % spread) as i32 - (spread / 2) as i32;
                        let slot = shard.insert(
                            priority,
                            Payload::new(|| {}),
                            Location::caller(),
                            sequence,
                        );
                        model.insert((priority, sequence), slot);
                    }
                    4 | 5 if !model.is_empty() => {
                        let nth = xorshift(&mut random_state) as usize % model.len();
                        let (&(priority, sequence), &slot) = model.iter().nth(nth).unwrap();
                        model.remove(&(priority, sequence));
                        assert!(shard.remove(slot, sequence, priority, &ALL_OWN).is_some());
                    }
                    _ => {
                        let expected = model.pop_last().map(|((priority, sequence), _)| Rank {
                            priority,
                            registered: Registered::AtRunTime(sequence),
                        });
                        let top = shard.top(OWN);
                        assert_eq!(top, expected, "spread {spread}, step {sequence}");
                        if let Some(top) = top {
                            shard.pop(top.priority);
                        }
                    }
                }
            }
            let rest: Vec<(i32, u64)> = model.into_keys().rev().collect();
            assert_eq!(drain(&mut shard), rest, "spread {spread}");
        }
    }

    #[test]
    fn a_priority_emptied_and_reused_takes_its_place_again() {
        let mut shard = Shard::new();
        // 5 becomes the highest list, 0 and -5 go to the map; emptying 0 there, then
        // a new highest, 7, then 0 again.
        let zero = shard.insert(0, Payload::new(|| {}), Location::caller(), 0);
        shard.insert(5, Payload::new(|| {}), Location::caller(), 1);
        shard.insert(-5, Payload::new(|| {}), Location::caller(), 2);
        assert!(shard.remove(zero, 0, 0, &ALL_OWN).is_some());
        shard.insert(5, Payload::new(|| {}), Location::caller(), 3);
        shard.insert(7, Payload::new(|| {}), Location::caller(), 4);
        shard.insert(0, Payload::new(|| {}), Location::caller(), 5);
        assert_eq!(drain(&mut shard), [(7, 4), (5, 3), (5, 1), (0, 5), (-5, 2)]);
    }

    #[test]
    #[cfg(unix)] // fork is Unix-only
    fn inherited_handlers_are_not_run_until_adopted_and_one_removed_before_never_is() {
        let mut shard = shard_with(3);
        shard.after_fork_in_child();
        let child = Ownership {
            own_from: 3,
            adoptable_from: 0,
        };
        assert_eq!(shard.top(child.own_from), None);
        assert!(
            shard.remove(1, 1, 0, &child).is_none(),
            "not the child's to run"
        );
        shard.insert(0, Payload::new(|| {}), Location::caller(), 3);
        let top = shard.top(child.own_from).unwrap();
        assert_eq!(top.registered, Registered::AtRunTime(3));
        shard.pop(0);
        assert_eq!(shard.top(child.own_from), None);
        assert_eq!(shard.adopt(), 2, "the removed one is not adopted");
        let mut listed = Vec::new();
        shard.snapshot(ALL_OWN.own_from, &mut listed);
        let sequences: Vec<Registered> = listed.iter().map(|(rank, _)| rank.registered).collect();
        assert_eq!(
            sequences,
            [Registered::AtRunTime(2), Registered::AtRunTime(0)]
        );
        assert_eq!(shard.live, 2);
    }

    #[test]
    fn an_older_ancestors_handler_is_left_as_it_is() {
        let mut shard = shard_with(2);
        let grandchild = Ownership {
            own_from: 5,
            adoptable_from: 3,
        };
        assert!(shard.remove(0, 0, 0, &grandchild).is_none());
        assert!(shard.remove(0, 0, 0, &ALL_OWN).is_some(), "still there");
    }

    #[test]
    fn call_sites_are_stored_once() {
        let mut shard = Shard::new();
        let here = Location::caller();
        for sequence in 0..10 {
            shard.insert(0, Payload::new(|| {}), here, sequence);
            shard.insert(1, Payload::new(|| {}), Location::caller(), 100 + sequence);
        }
        assert!(shard.call_sites.sites.len() <= 3);
        let mut listed = Vec::new();
        shard.snapshot(OWN, &mut listed);
        assert!(listed.iter().all(|(_, info)| info.file() == file!()));
    }
}
