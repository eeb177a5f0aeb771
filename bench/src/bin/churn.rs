//! Churn workloads, one per run: `churn WORKLOAD N`.
//!
//! - `guard N`: N `atexit::guard` create-and-drop cycles;
//! - `scopeguard N`: the same with a `scopeguard` guard, registered nowhere;
//! - `unregister N`: N `atexit::register`s, then `atexit::unregister` of all of them
//!   in a random order. Each phase is timed on its own, and only the calls are timed:
//!   the storage of the handles is faulted in before and freed after.
//! - `chase N`: the floor of a random `unregister`: N steps of a pointer chase through
//!   a 32 MiB array of 32-byte slots (the registry's slots of 1,000,000 handlers),
//!   each step reading the slot whose index the previous one held, in one random
//!   cycle through them all. Only the steps are timed.
//!
//! Prints the time per operation of each phase and `vm_hwm_kib`, the process's own
//! peak RSS.

use std::hint::black_box;
use std::mem::MaybeUninit;
use std::time::Instant;

use atexit_bench::{arg_or, monotonic_ns, peak_rss_kib, report, ExitProbe};

static PROBE: ExitProbe = ExitProbe::new(0);

fn main() {
    let main_start = monotonic_ns();
    let workload = std::env::args().nth(1).unwrap_or_default();
    let cycles = arg_or(2, 1000);
    let probe: &'static ExitProbe = &PROBE;
    match workload.as_str() {
        "guard" => {
            let started = Instant::now();
            for _ in 0..cycles {
                drop(black_box(atexit::guard(move || probe.hit())));
            }
            report_per_op("cycle", started, cycles);
            assert_eq!(PROBE.hits(), cycles, "every guard ran on drop");
        }
        "scopeguard" => {
            let started = Instant::now();
            for _ in 0..cycles {
                drop(black_box(scopeguard::guard((), move |()| probe.hit())));
            }
            report_per_op("cycle", started, cycles);
            assert_eq!(PROBE.hits(), cycles, "every guard ran on drop");
        }
        "unregister" => {
            // The handles' storage is allocated and faulted in before the clock starts,
            // and freed after it stops, so that both phases time only the calls.
            let mut handles: Vec<atexit::Handle> = Vec::with_capacity(cycles);
            prefault(&mut handles);
            let started = Instant::now();
            for _ in 0..cycles {
                handles.push(atexit::register(move || probe.hit()));
            }
            report_per_op("register", started, cycles);
            shuffle(&mut handles);
            let started = Instant::now();
            for handle in handles.drain(..) {
                assert!(
                    atexit::unregister(handle),
                    "each handle removes its handler"
                );
            }
            report_per_op("unregister", started, cycles);
            assert_eq!(atexit::pending(), 0);
            drop(handles);
        }
        "chase" => {
            let slots = random_cycle(CHASED_SLOTS);
            let started = Instant::now();
            let mut at = 0;
            for _ in 0..cycles {
                at = slots[at][0] as usize;
            }
            report_per_op("step", started, cycles);
            black_box(at);
        }
        other => {
            panic!("unknown workload {other:?}: expected guard, scopeguard, unregister or chase")
        }
    }
    report("vm_hwm_kib", peak_rss_kib());
    report("main_start", main_start);
}

/// 32 MiB of 32-byte slots.
const CHASED_SLOTS: usize = (32 << 20) / 32;

/// `count` 32-byte slots, each holding in its first word the index of the next slot
/// of one cycle through them all: the slots in a random order, each linked to the
/// next one in it, the last to the first.
fn random_cycle(count: usize) -> Vec<[u64; 4]> {
    let mut order: Vec<u64> = (0..count as u64).collect();
    shuffle(&mut order);
    let mut slots = vec![[0u64; 4]; count];
    for (from, to) in order.iter().zip(order.iter().cycle().skip(1)) {
        slots[*from as usize][0] = *to;
    }
    slots
}

fn xorshift64_star(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn report_per_op(phase: &str, started: Instant, operations: usize) {
    let elapsed = started.elapsed().as_nanos() as f64;
    report(&format!("{phase}_ns"), elapsed / operations.max(1) as f64);
}

/// Writes every byte of `items`' spare capacity, so that filling it later does not
/// take page faults inside a timed phase.
fn prefault<T>(items: &mut Vec<T>) {
    let spare = items.spare_capacity_mut();
    spare.fill_with(MaybeUninit::zeroed);
    // The writes must happen although nothing reads them before `push` overwrites them.
    black_box(spare);
}

/// Fisher-Yates with a fixed-seed xorshift64*, so every run removes in the same order
/// and no random-number crate is needed.
fn shuffle<T>(items: &mut [T]) {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for last in (1..items.len()).rev() {
        let random = xorshift64_star(&mut state);
        items.swap(last, (random % (last as u64 + 1)) as usize);
    }
}
