//! The number each registration takes, which orders dynamic handlers across shards:
//! if one registration happens before another (on one thread, or on two threads
//! ordered by a lock, a channel, a join...), the later one gets the greater number.
//!
//! A process-wide counter does that with one atomic add per registration, but when
//! threads register at once, that counter's cache line moves between their cores
//! on every registration. Registrations on different threads can only be ordered
//! through the program's own synchronisation, which the registry never sees: any
//! number that keeps that order without a shared write must come from a clock that
//! every core reads alike. So:
//!
//! - while one shard registers (a single-threaded program, or one thread doing all
//!   the registering), numbers come from the counter, which then never leaves that
//!   core's cache;
//! - once a second shard registers, numbers come from the CPU's time-stamp counter
//!   where the kernel keeps it synchronised across cores (x86-64 Linux, with `tsc`
//!   as its clocksource: the same property its `CLOCK_MONOTONIC` relies on), and
//!   from the counter elsewhere.
//!
//! Clock numbers have the top bit set, so each is above every counter number; the
//! shard's index in the low bits keeps two shards' numbers apart; and each shard
//! hands out increasing numbers, taken under its lock.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::threads::SLOTS;

/// The counter's next number.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// How numbers are taken: `UNCLAIMED` before any registration, a shard's index while
/// only that shard registered, then `COUNTER` or `CLOCK` for good.
static MODE: AtomicU32 = AtomicU32::new(UNCLAIMED);
const UNCLAIMED: u32 = u32::MAX;
const COUNTER: u32 = SLOTS as u32;
const CLOCK: u32 = SLOTS as u32 + 1;

const CLOCK_BIT: u64 = 1 << 63;
const SHARD_BITS: u32 = SLOTS.trailing_zeros();
const _: () = assert!(1 << SHARD_BITS == SLOTS, "a shard index fills its bits");

/// The number for a registration in shard `shard`, whose last number was `last`;
/// called under that shard's lock.
#[inline]
pub(super) fn next(shard: usize, last: u64) -> u64 {
    let mode = MODE.load(Ordering::Acquire);
    if mode == CLOCK {
        clock::number(shard, last)
    } else if mode == shard as u32 || mode == COUNTER {
        counter()
    } else {
        next_after_switch(shard, last, mode)
    }
}

/// A number above every one handed out so far; with every shard's lock held, so
/// that none is being handed out.
pub(super) fn above_all(lasts: impl Iterator<Item = u64>) -> u64 {
    let counter = SEQUENCE.load(Ordering::Relaxed);
    lasts.fold(counter, |above, last| above.max(last.saturating_add(1)))
}

/// Makes the counter hand out numbers from `floor` on (in a forked child, where
/// numbers below it are the parent's).
pub(super) fn raise_counter(floor: u64) {
    SEQUENCE.fetch_max(floor.min(CLOCK_BIT - 1), Ordering::Relaxed);
}

/// A counter number: an atomic add makes a registration that happens after another
/// take a greater one (the later add comes later in the counter's modification
/// order).
#[inline]
fn counter() -> u64 {
    SEQUENCE.fetch_add(1, Ordering::Relaxed)
}

/// The first registration of the process, or the first of a second shard.
#[cold]
fn next_after_switch(shard: usize, last: u64, mut mode: u32) -> u64 {
    loop {
        let new = if mode == UNCLAIMED {
            shard as u32
        } else if clock::is_synchronized() {
            clock::start();
            CLOCK
        } else {
            COUNTER
        };
        // Release: a registration that reads `CLOCK` reads the base set before it.
        match MODE.compare_exchange(mode, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return next(shard, last),
            Err(current) if current == CLOCK || current == COUNTER || current == shard as u32 => {
                return next(shard, last)
            }
            Err(current) => mode = current,
        }
    }
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

#[cfg(test)]
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
    fn the_number_above_all_is_above_every_shards_last_and_the_counter() {
        let counter = SEQUENCE.load(Ordering::Relaxed);
        assert_eq!(above_all([3, counter + 7, 1].into_iter()), counter + 8);
        assert!(above_all(std::iter::empty()) >= counter);
    }
}
