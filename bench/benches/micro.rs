//! Micro benchmarks of the dynamic API, with divan:
//!
//! ```text
//! cargo bench -p atexit-bench
//! cargo bench -p atexit-bench -- --sample-count 20   # quicker
//! ```

use std::hint::black_box;

use atexit_bench::ExitProbe;

static PROBE: ExitProbe = ExitProbe::new(0);

fn main() {
    // The first registration allocates the registry's storage, and a thread's first
    // guard its guard block. Divan sizes its samples from the first calls it times, so
    // that one-off cost would make it time one call per sample, below the timer's
    // precision.
    atexit::unregister(atexit::register(|| {}));
    drop(atexit::guard(|| {}));
    divan::main();
}

/// Unregisters its handler when dropped. Divan drops what a benchmark returns after
/// timing the sample, so the registry does not grow from sample to sample and the
/// unregistering is not counted.
struct Registered(atexit::Handle);

impl Drop for Registered {
    fn drop(&mut self) {
        atexit::unregister(self.0);
    }
}

/// `register` of a closure capturing one word.
#[divan::bench]
fn register(bencher: divan::Bencher) {
    let probe: &'static ExitProbe = &PROBE;
    bencher.bench_local(|| Registered(atexit::register(move || probe.hit())));
}

/// `register` immediately followed by `unregister`.
#[divan::bench]
fn register_unregister(bencher: divan::Bencher) {
    let probe: &'static ExitProbe = &PROBE;
    bencher.bench(|| atexit::unregister(atexit::register(move || probe.hit())));
}

/// `guard` created and dropped, which runs its closure.
#[divan::bench]
fn guard_create_drop(bencher: divan::Bencher) {
    let probe: &'static ExitProbe = &PROBE;
    bencher.bench_local(|| drop(black_box(atexit::guard(move || probe.hit()))));
}

/// The baseline of `guard_create_drop`: a scope guard registered nowhere.
#[divan::bench]
fn scopeguard_create_drop(bencher: divan::Bencher) {
    let probe: &'static ExitProbe = &PROBE;
    bencher.bench_local(|| drop(black_box(scopeguard::guard((), move |()| probe.hit()))));
}

/// `handlers()` while 1,000 dynamic handlers are pending.
#[divan::bench]
fn handlers_1000(bencher: divan::Bencher) {
    let probe: &'static ExitProbe = &PROBE;
    let registered: Vec<Registered> = (0..1000)
        .map(|_| Registered(atexit::register(move || probe.hit())))
        .collect();
    assert_eq!(atexit::handlers().len(), 1000);
    bencher.bench_local(atexit::handlers);
    drop(registered);
}

/// Two lock-and-unlock pairs of an uncontended mutex: the floor of any guard that
/// takes a process-wide lock once when created and once when dropped.
#[divan::bench]
fn floor_two_mutex_lock_pairs(bencher: divan::Bencher) {
    let lock = std::sync::Mutex::new(0u64);
    bencher.bench_local(|| {
        *black_box(&lock).lock().expect("not poisoned") += 1;
        *black_box(&lock).lock().expect("not poisoned") += 1;
    });
}
