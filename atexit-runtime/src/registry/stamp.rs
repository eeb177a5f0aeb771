//! The number each registration takes, which orders dynamic handlers across shards:
//! if one registration happens before another (on one thread, or on two threads
//! ordered by a lock, a channel, a join...), the later one gets the greater number.
//!
//! A process-wide counter does that with one atomic add per registration, but when
//! threads register at once, that counter's cache line moves between their cores
//! on every registration. Registrations on different threads can only be ordered
//! through the program's own synchronisation, which the registry never sees: any
//! number that keeps that order without a shared write must come from a clock that
//! every core reads alike. So numbers come from the counter until threads are seen
//! registering at once (a shard finds, again and again, that another one took a
//! number since its own last one), then from the CPU's time-stamp counter where the
//! kernel keeps it synchronised across cores (x86-64 Linux, with `tsc` as its
//! clocksource: the same property its `CLOCK_MONOTONIC` relies on). A program whose
//! threads register now and then keeps the counter, whose cache line then rarely
//! moves, and never pays for reading the clock.
//!
//! Clock numbers have the top bit set, so each is above every counter number; the
//! shard's index in the low bits keeps two shards' numbers apart; and each shard
//! hands out increasing numbers, taken under its lock. The switch is made once, for
//! good: a registration that happens after one that used the clock reads the switch
//! too (it reads the mode after the other did), so it uses the clock as well.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::threads::SLOTS;

/// The counter's next number.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// How numbers are taken: from the counter, watching for threads registering at
/// once; from the clock; or from the counter for good, where there is no clock.
static MODE: AtomicU8 = AtomicU8::new(COUNTER);
const COUNTER: u8 = 0;
const CLOCK: u8 = 1;
const COUNTER_ONLY: u8 = 2;

/// How many registrations of one shard, more interleaved with other shards' than
/// not, switch to the clock: threads registering at once for a while, not a thread
/// registering now and then beside another.
const INTERLEAVED_TO_SWITCH: u32 = 1024;

const CLOCK_BIT: u64 = 1 << 63;
const SHARD_BITS: u32 = SLOTS.trailing_zeros();
const _: () = assert!(1 << SHARD_BITS == SLOTS, "a shard index fills its bits");

/// What a shard knows of the numbers it took, kept under its lock.
pub(super) struct ShardStamps {
    /// The number it handed out last.
    last: u64,
    /// Registrations whose number was not the one after `last`, less those whose
    /// number was.
    interleaved: u32,
}

impl ShardStamps {
    pub(super) const fn new() -> Self {
        ShardStamps {
            last: 0,
            interleaved: 0,
        }
    }

    /// Stamps kept elsewhere (in a guard block's atomics), as `parts` gave them.
    pub(super) const fn from_parts(last: u64, interleaved: u32) -> Self {
        ShardStamps { last, interleaved }
    }

    pub(super) fn parts(&self) -> (u64, u32) {
        (self.last, self.interleaved)
    }

    #[cfg(unix)]
    pub(super) fn last(&self) -> u64 {
        self.last
    }

    #[cfg(unix)]
    /// In a forked child: the numbers this shard hands out from now on are above
    /// `floor`.
    pub(super) fn raise(&mut self, floor: u64) {
        self.last = self.last.max(floor);
    }
}

/// The number for a registration in shard `shard`; called under that shard's lock.
#[inline]
pub(super) fn next(shard: usize, stamps: &mut ShardStamps) -> u64 {
    let mode = MODE.load(Ordering::Acquire);
    let number = if mode == CLOCK {
        clock::number(shard, stamps.last)
    } else {
        // An atomic add makes a registration that happens after another take a
        // greater number: the later add comes later in the counter's order.
        let number = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        debug_assert!(number < CLOCK_BIT, "counter numbers stay below the clock's");
        if mode == COUNTER {
            if number == stamps.last.wrapping_add(1) {
                stamps.interleaved = stamps.interleaved.saturating_sub(1);
            } else {
                stamps.interleaved += 1;
                if stamps.interleaved >= INTERLEAVED_TO_SWITCH {
                    switch();
                }
            }
        }
        number
    };
    stamps.last = number;
    number
}

/// A number above every one handed out so far; with every shard's lock held, so
/// that none is being handed out.
#[cfg(unix)]
pub(super) fn above_all(lasts: impl Iterator<Item = u64>) -> u64 {
    let counter = SEQUENCE.load(Ordering::Relaxed);
    lasts.fold(counter, |above, last| above.max(last.saturating_add(1)))
}

/// Makes the counter hand out numbers from `floor` on (in a forked child, where
/// numbers below it are the parent's).
#[cfg(unix)]
pub(super) fn raise_counter(floor: u64) {
    SEQUENCE.fetch_max(floor.min(CLOCK_BIT - 1), Ordering::Relaxed);
}

/// Threads register at once: the clock from now on, where there is one.
#[cold]
fn switch() {
    let mode = if clock::is_synchronized() {
        clock::start();
        CLOCK
    } else {
        COUNTER_ONLY
    };
    // Release: a registration that reads `CLOCK` reads the base set before it.
    let _ = MODE.compare_exchange(COUNTER, mode, Ordering::Release, Ordering::Relaxed);
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod clock {
    use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

    use super::{CLOCK_BIT, SHARD_BITS};

    /// The reading that clock numbers count from, set once before the mode becomes
    /// `CLOCK`.
    static CLOCK_BASE: AtomicU64 = AtomicU64::new(0);

    /// Whether the time-stamp counter may order registrations: 0 unknown, 1 yes, 2 no.
    static SYNCHRONIZED: AtomicU8 = AtomicU8::new(0);

    /// Whether the kernel keeps the time-stamp counter synchronised across cores: it
    /// uses it as its clocksource only then (it checks at boot, on every core it
    /// brings up, that no core reads a value below one another core read before,
    /// and switches away from it if one does).
    pub(super) fn is_synchronized() -> bool {
        match SYNCHRONIZED.load(Ordering::Relaxed) {
            0 => {
                let tsc = std::fs::read(
                    "/sys/devices/system/clocksource/clocksource0/current_clocksource",
                )
                .is_ok_and(|name| name.trim_ascii() == b"tsc");
                SYNCHRONIZED.store(if tsc { 1 } else { 2 }, Ordering::Relaxed);
                tsc
            }
            known => known == 1,
        }
    }

    /// The time-stamp counter, read once every instruction before it has completed
    /// (`lfence`), so that a registration ordered after another by a lock or a
    /// channel reads it after it saw that lock or message. It is read before the
    /// registration's later stores, so an earlier registration read it before any
    /// later one could see that registration.
    #[inline]
    fn ticks() -> u64 {
        // SAFETY: `lfence` (SSE2) and `rdtsc` exist on every x86-64 CPU, take no
        // operands and touch no memory.
        unsafe {
            std::arch::x86_64::_mm_lfence();
            std::arch::x86_64::_rdtsc()
        }
    }

    /// Sets the base, once: a core whose counter runs a little behind must still
    /// read above it, hence the margin (about a second).
    pub(super) fn start() {
        let base = ticks().saturating_sub(1 << 32).max(1);
        let _ = CLOCK_BASE.compare_exchange(0, base, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// A clock number above `last`. Ticks are halved so that the numbers last
    /// (2^58 ticks: nine years at 4 GHz).
    #[inline]
    pub(super) fn number(shard: usize, last: u64) -> u64 {
        let base = CLOCK_BASE.load(Ordering::Relaxed);
        loop {
            let elapsed = ticks().saturating_sub(base) >> 1;
            let number = CLOCK_BIT | elapsed << SHARD_BITS | shard as u64;
            if number > last {
                return number;
            }
            std::hint::spin_loop();
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod clock {
    pub(super) fn is_synchronized() -> bool {
        false
    }

    pub(super) fn start() {
        unreachable!("no synchronised clock here")
    }

    pub(super) fn number(_shard: usize, _last: u64) -> u64 {
        unreachable!("no synchronised clock here")
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    fn clock_numbers_follow_a_token_handed_between_threads() {
        if !clock::is_synchronized() {
            // The counter is used then; the process-level tests cover it.
            return;
        }
        clock::start();
        let (to_main, from_thread) = std::sync::mpsc::channel();
        let (to_thread, from_main) = std::sync::mpsc::channel::<u64>();
        let thread = std::thread::spawn(move || {
            let mut last = 0;
            while let Ok(received) = from_main.recv() {
                let number = clock::number(1, last);
                assert!(number > received, "{number} after {received}");
                last = number;
                if to_main.send(number).is_err() {
                    break;
                }
            }
        });
        let mut last = 0;
        let mut received = 0;
        for _ in 0..10_000 {
            let number = clock::number(2, last);
            assert!(number > received, "{number} after {received}");
            assert!(number > CLOCK_BIT, "above every counter number");
            last = number;
            to_thread.send(number).unwrap();
            received = from_thread.recv().unwrap();
        }
        drop(to_thread);
        thread.join().unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn the_number_above_all_is_above_every_shards_last_and_the_counter() {
        let counter = SEQUENCE.load(Ordering::Relaxed);
        assert_eq!(above_all([3, counter + 7, 1].into_iter()), counter + 8);
        assert!(above_all(std::iter::empty()) >= counter);
    }
}
