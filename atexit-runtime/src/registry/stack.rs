//! The handlers of one priority: a stack, newest on top, in segments.
//!
//! Slots never move between segments, so a handle's segment number stays right for
//! as long as its handler is pending, and unregistering is O(1):
//!
//! - register pushes onto the top segment;
//! - unregister leaves a hole, pops the holes that reach the top (so guards dropped
//!   in scope order leave nothing behind), and compacts a segment once holes
//!   outnumber its live handlers. Compaction moves slots only within their segment,
//!   so a stale offset costs at most a binary search over one segment;
//! - the exit run pops from the top.
//!
//! Memory stays within about twice the live handlers: every segment but the top one
//! is compacted when half holes, and an emptied segment releases its slots.

use std::panic::Location;

use crate::payload::Payload;

/// Slots per segment: large enough that the list of segments stays short, small
/// enough that compacting one, or searching one after a compaction, is cheap.
pub(super) const SEGMENT_SLOTS: usize = 1024;

/// A segment is compacted once it has at least this many holes and more holes than
/// live handlers.
const MIN_HOLES_TO_COMPACT: usize = 64;

pub(super) struct Slot {
    /// `None` for a hole left by unregister.
    pub(super) payload: Option<Payload>,
    pub(super) location: &'static Location<'static>,
    pub(super) seq: u64,
}

/// Where a slot was pushed: its segment, and its offset there when it was pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Position {
    pub(super) segment: u32,
    pub(super) offset_hint: u32,
}

#[derive(Default)]
struct Segment {
    /// Ordered by `seq`, at most `SEGMENT_SLOTS` long.
    slots: Vec<Slot>,
    live: usize,
}

impl Segment {
    fn find(&self, seq: u64, offset_hint: usize) -> Option<usize> {
        match self.slots.get(offset_hint) {
            Some(slot) if slot.seq == seq => Some(offset_hint),
            _ => self.slots.binary_search_by_key(&seq, |slot| slot.seq).ok(),
        }
    }

    fn holes(&self) -> usize {
        self.slots.len() - self.live
    }

    fn trim_top(&mut self) {
        while self.slots.last().is_some_and(|slot| slot.payload.is_none()) {
            self.slots.pop();
        }
    }

    fn compact_if_sparse(&mut self) {
        let holes = self.holes();
        if holes >= MIN_HOLES_TO_COMPACT && holes > self.live {
            self.slots.retain(|slot| slot.payload.is_some());
            if self.slots.is_empty() {
                self.slots = Vec::new();
            } else if self.slots.capacity() > 2 * self.slots.len() {
                self.slots.shrink_to(2 * self.slots.len());
            }
        }
    }

    fn seq_range_contains(&self, seq: u64) -> bool {
        match (self.slots.first(), self.slots.last()) {
            (Some(first), Some(last)) => (first.seq..=last.seq).contains(&seq),
            _ => false,
        }
    }
}

/// Invariant: the top slot, if any, is live, and only the bottom segment may be empty.
#[derive(Default)]
pub(super) struct Stack {
    segments: Vec<Segment>,
    live: usize,
}

impl Stack {
    pub(super) fn live(&self) -> usize {
        self.live
    }

    pub(super) fn push(&mut self, slot: Slot) -> Position {
        match self.segments.last() {
            // Most programs have a few handlers: let the first segment grow as needed.
            None => self.segments.push(Segment::default()),
            Some(top) if top.slots.len() == SEGMENT_SLOTS => self.segments.push(Segment {
                slots: Vec::with_capacity(SEGMENT_SLOTS),
                live: 0,
            }),
            Some(_) => {}
        }
        let segment = self.segments.len() - 1;
        let top = &mut self.segments[segment];
        let offset_hint = top.slots.len();
        top.slots.push(slot);
        top.live += 1;
        self.live += 1;
        Position {
            segment: segment as u32,
            offset_hint: offset_hint as u32,
        }
    }

    /// Takes out the pending handler `seq` pushed at `position`.
    pub(super) fn remove(&mut self, seq: u64, position: Position) -> Option<Payload> {
        let (segment, offset) = self.locate(seq, position)?;
        let payload = self.segments[segment].slots[offset].payload.take()?;
        self.segments[segment].live -= 1;
        self.live -= 1;
        if segment + 1 == self.segments.len() {
            self.restore_top();
        } else {
            self.segments[segment].compact_if_sparse();
        }
        Some(payload)
    }

    /// The segment and offset of `seq`: where the handle says, or, after a compaction
    /// or an adoption moved it, found by its sequence number.
    fn locate(&self, seq: u64, position: Position) -> Option<(usize, usize)> {
        let hinted = position.segment as usize;
        if let Some(segment) = self.segments.get(hinted) {
            if let Some(offset) = segment.find(seq, position.offset_hint as usize) {
                return Some((hinted, offset));
            }
        }
        // Only after `adopt_below` shifted the segments: rare, so a scan will do.
        let segment = self
            .segments
            .iter()
            .position(|segment| segment.seq_range_contains(seq))?;
        let offset = self.segments[segment].find(seq, 0)?;
        Some((segment, offset))
    }

    /// Takes the top (newest) slot.
    pub(super) fn pop(&mut self) -> Option<Slot> {
        let top = self.segments.last_mut()?;
        let slot = top.slots.pop()?;
        top.live -= 1;
        self.live -= 1;
        self.restore_top();
        Some(slot)
    }

    /// Pops the holes and empty segments that reached the top. The bottom segment
    /// stays, empty, so that a guard created and dropped in a loop does not allocate.
    fn restore_top(&mut self) {
        while let Some(top) = self.segments.last_mut() {
            top.trim_top();
            if top.live > 0 || self.segments.len() == 1 {
                break;
            }
            self.segments.pop();
        }
    }

    /// The slots from the top down, holes included.
    pub(super) fn iter_from_top(&self) -> impl Iterator<Item = &Slot> {
        self.segments
            .iter()
            .rev()
            .flat_map(|segment| segment.slots.iter().rev())
    }

    /// Takes out every pending handler `matches` accepts.
    pub(super) fn remove_where(
        &mut self,
        mut matches: impl FnMut(&Payload) -> bool,
    ) -> Vec<Payload> {
        let mut removed = Vec::new();
        for segment in &mut self.segments {
            for slot in &mut segment.slots {
                if slot.payload.as_ref().is_some_and(&mut matches) {
                    removed.extend(slot.payload.take());
                    segment.live -= 1;
                }
            }
            segment.compact_if_sparse();
        }
        self.live -= removed.len();
        self.restore_top();
        removed
    }

    /// Every pending handler, in no particular order.
    pub(super) fn into_payloads(self) -> impl Iterator<Item = Payload> {
        self.segments
            .into_iter()
            .flat_map(|segment| segment.slots)
            .filter_map(|slot| slot.payload)
    }

    /// Puts `older` (handlers registered before all of these) below this stack.
    pub(super) fn adopt_below(&mut self, mut older: Stack) {
        older.segments.append(&mut self.segments);
        older.live += self.live;
        *self = older;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes a handler for each sequence number; returns what their handles hold.
    fn push_all(stack: &mut Stack, seqs: std::ops::Range<u64>) -> Vec<(u64, Position)> {
        seqs.map(|seq| {
            let position = stack.push(Slot {
                payload: Some(Payload::new(|| {})),
                location: Location::caller(),
                seq,
            });
            (seq, position)
        })
        .collect()
    }

    fn stack_with(count: u64) -> (Stack, Vec<(u64, Position)>) {
        let mut stack = Stack::default();
        let handles = push_all(&mut stack, 0..count);
        (stack, handles)
    }

    fn slot_count(stack: &Stack) -> usize {
        stack
            .segments
            .iter()
            .map(|segment| segment.slots.len())
            .sum()
    }

    #[test]
    fn removing_in_scope_order_leaves_nothing() {
        let (mut stack, handles) = stack_with(3000);
        for &(seq, position) in handles.iter().rev() {
            assert!(stack.remove(seq, position).is_some());
        }
        assert_eq!(slot_count(&stack), 0);
        assert_eq!(
            stack.segments.len(),
            1,
            "the bottom segment is kept for reuse"
        );
        assert_eq!(stack.live(), 0);
    }

    #[test]
    fn scattered_removal_compacts_segments_and_finds_moved_slots() {
        let count = 3 * SEGMENT_SLOTS as u64;
        let (mut stack, handles) = stack_with(count);
        let (last, below) = handles.split_last().unwrap();
        // Two of every three below the live top: segments turn sparse and compact,
        // which moves the slots that remain.
        for &(seq, position) in below.iter().filter(|(seq, _)| seq % 3 != 0) {
            assert!(stack.remove(seq, position).is_some());
        }
        assert!(slot_count(&stack) < count as usize, "compaction ran");
        assert!(slot_count(&stack) <= 2 * stack.live() + 3 * MIN_HOLES_TO_COMPACT);
        for &(seq, position) in below.iter().filter(|(seq, _)| seq % 3 == 0) {
            assert!(
                stack.remove(seq, position).is_some(),
                "{seq} found after compaction"
            );
        }
        assert_eq!(stack.live(), 1);
        assert!(
            stack.remove(below[0].0, below[0].1).is_none(),
            "removed once only"
        );
        assert!(stack.remove(last.0, last.1).is_some());
        assert_eq!(
            slot_count(&stack),
            0,
            "removing the top trims what is under it"
        );
    }

    #[test]
    fn pop_takes_newest_first_across_segments_and_skips_holes() {
        let (mut stack, handles) = stack_with(SEGMENT_SLOTS as u64 + 2);
        let (seq, position) = handles[SEGMENT_SLOTS];
        stack.remove(seq, position);
        let popped: Vec<u64> = std::iter::from_fn(|| stack.pop().map(|slot| slot.seq)).collect();
        let mut expected: Vec<u64> = (0..SEGMENT_SLOTS as u64 + 2).rev().collect();
        expected.retain(|&other| other != seq);
        assert_eq!(popped, expected);
    }

    #[test]
    fn handles_survive_adopting_older_handlers_below() {
        let (older, older_handles) = stack_with(10);
        let mut stack = Stack::default();
        let newer_handles = push_all(&mut stack, 100..110);
        stack.adopt_below(older);
        for (seq, position) in newer_handles.into_iter().chain(older_handles) {
            assert!(stack.remove(seq, position).is_some(), "{seq}");
        }
        assert_eq!(stack.live(), 0);
    }
}
