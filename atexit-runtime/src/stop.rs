//! The graceful stop: a caught signal, or the program itself, asks the program to
//! stop; everything waiting for that wakes, and the program drains its work before
//! the exit handlers run.
//!
//! The request is one atomic word, set once. Waiters are wakers in a slab behind a
//! lock held only to insert, replace or take one (never while a waker or any other
//! code of the program runs), so that the thread that requests the stop only sets
//! the word, takes the slab and wakes what it took. Blocking waiters are wakers that
//! unpark their thread.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::exit::Limit;
use crate::report;

/// Why the program was asked to stop, as [`stop_request`](crate::stop_request)
/// tells.
///
/// ```
/// use atexit::StopRequest;
///
/// atexit::request_stop();
/// assert_eq!(atexit::stop_request(), Some(StopRequest::Program));
/// assert_eq!(StopRequest::Signal(15).to_string(), "signal 15");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRequest {
    /// A signal caught by [`catch_signals`](crate::catch_signals): its number (on
    /// Windows, the numbers [`ExitReason::Signal`](crate::ExitReason::Signal) uses
    /// for console events).
    Signal(i32),
    /// The program called [`request_stop`](crate::request_stop).
    Program,
}

impl fmt::Display for StopRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopRequest::Signal(signal) => write!(f, "signal {signal}"),
            StopRequest::Program => f.write_str("request_stop()"),
        }
    }
}

impl StopRequest {
    fn pack(self) -> u64 {
        match self {
            StopRequest::Signal(signal) => 1 << 32 | u64::from(signal as u32),
            StopRequest::Program => 2 << 32,
        }
    }

    fn unpack(packed: u64) -> Option<Self> {
        match packed >> 32 {
            1 => Some(StopRequest::Signal(packed as u32 as i32)),
            2 => Some(StopRequest::Program),
            _ => None,
        }
    }
}

/// `set_stop_grace` and `ATEXIT_GRACE_MS`: how long a caught signal waits for the
/// program to stop by itself before the exit handlers run.
static GRACE: Limit = Limit::new("ATEXIT_GRACE_MS");

pub(crate) fn set_grace(grace: Option<Duration>) {
    GRACE.set(grace);
}

/// The grace in force; reading it the first time reports a bad `ATEXIT_GRACE_MS`.
#[cfg(feature = "signals")]
pub(crate) fn grace() -> Option<Duration> {
    GRACE.duration()
}

/// A stop request and the waiters it wakes. The process has one, [`STOP`]; the
/// tests make their own.
pub(crate) struct Stop {
    /// A packed [`StopRequest`], or `NONE`.
    request: AtomicU64,
    waiters: Mutex<Waiters>,
}

const NONE: u64 = 0;

/// The wakers of pending [`Stopping`] futures, in a slab whose free slots are
/// reused, so that its size follows the most futures pending at once.
struct Waiters {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
    /// Bumped each time the slab is taken away (by the request, or in a forked
    /// child): a future's slot of an older epoch is no longer its own.
    epoch: u64,
}

/// A future's place among the waiters.
#[derive(Clone, Copy)]
struct Slot {
    epoch: u64,
    index: usize,
}

impl Waiters {
    fn own(&self, slot: Option<Slot>) -> Option<usize> {
        slot.filter(|slot| slot.epoch == self.epoch)
            .map(|slot| slot.index)
    }

    fn insert(&mut self, waker: Waker) -> Slot {
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index] = Some(waker);
                index
            }
            None => {
                self.slots.push(Some(waker));
                self.slots.len() - 1
            }
        };
        Slot {
            epoch: self.epoch,
            index,
        }
    }

    /// Frees `slot` if it is still its owner's; the waker goes back to the caller,
    /// to be dropped once the lock is released.
    fn remove(&mut self, slot: Option<Slot>) -> Option<Waker> {
        let index = self.own(slot)?;
        let waker = self.slots[index].take();
        self.free.push(index);
        waker
    }

    /// Every waker, leaving the slab empty for a new epoch.
    fn take_all(&mut self) -> Vec<Option<Waker>> {
        self.epoch += 1;
        self.free = Vec::new();
        mem::take(&mut self.slots)
    }
}

impl Stop {
    pub(crate) const fn new() -> Self {
        Stop {
            request: AtomicU64::new(NONE),
            waiters: Mutex::new(Waiters {
                slots: Vec::new(),
                free: Vec::new(),
                epoch: 0,
            }),
        }
    }

    /// The lock is never held while code of the program runs, so a panic cannot
    /// leave the slab half changed: a poisoned lock is as good as any.
    fn waiters(&self) -> MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn request(&self) -> Option<StopRequest> {
        StopRequest::unpack(self.request.load(Ordering::SeqCst))
    }

    /// Records `request` unless one was made before (the first wins), then wakes
    /// every waiter. Returns whether this one was first.
    pub(crate) fn request_stop(&self, request: StopRequest) -> bool {
        let first = self
            .request
            .compare_exchange(NONE, request.pack(), Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if first {
            // A waiter inserts itself under the lock after seeing no request there,
            // so every waiter that saw none is in what this takes.
            let wakers = self.waiters().take_all();
            for waker in wakers.into_iter().flatten() {
                waker.wake();
            }
        }
        first
    }

    /// A future that completes once a stop is requested here.
    pub(crate) fn stopping(&'static self) -> Stopping {
        Stopping {
            stop: self,
            slot: None,
        }
    }

    /// Blocks until a stop is requested, or `timeout` passes (`None`: never).
    /// Returns whether a stop was requested.
    pub(crate) fn wait(&'static self, timeout: Option<Duration>) -> bool {
        if self.request().is_some() {
            return true;
        }
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let waker = Waker::from(Arc::new(Unparker(thread::current())));
        let mut context = Context::from_waker(&waker);
        let mut stopping = self.stopping();
        loop {
            if Pin::new(&mut stopping).poll(&mut context).is_ready() {
                return true;
            }
            match deadline {
                None => thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    thread::park_timeout(deadline - now);
                }
            }
        }
    }

    /// The wakers the slab holds, for the tests.
    #[cfg(test)]
    fn waiting(&self) -> (usize, usize) {
        let waiters = self.waiters();
        let waiting = waiters.slots.iter().flatten().count();
        (waiting, waiters.slots.capacity())
    }
}

/// The stop request of this process.
pub(crate) static STOP: Stop = Stop::new();

/// `request_stop`, and the first caught signal: records the request unless one was
/// made before, and wakes every waiter.
pub(crate) fn request(request: StopRequest) {
    if STOP.request_stop(request) && report::trace_enabled() {
        report::line(format_args!("stop requested: {request}"));
    }
}

/// A future that completes once the program is asked to stop, at once if it
/// already was: see [`stopping`](crate::stopping).
///
/// It needs no particular runtime: it keeps the waker of its last poll, and the
/// request wakes it. Dropping it before it completes forgets that waker.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// struct Server {
///     shutdown: atexit::Stopping,
/// }
///
/// let server = Server { shutdown: atexit::stopping() };
/// atexit::request_stop();
/// server.shutdown.await;
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Stopping {
    stop: &'static Stop,
    slot: Option<Slot>,
}

impl fmt::Debug for Stopping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stopping")
            .field("requested", &self.stop.request())
            .finish_non_exhaustive()
    }
}

impl Future for Stopping {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.stop.request().is_some() {
            this.release();
            return Poll::Ready(());
        }
        {
            let waiters = this.stop.waiters();
            if let Some(index) = waiters.own(this.slot) {
                let same = waiters.slots[index]
                    .as_ref()
                    .is_some_and(|waker| waker.will_wake(context.waker()));
                // Checked under the lock: a request made after this takes the
                // waker kept here.
                if same && this.stop.request().is_none() {
                    return Poll::Pending;
                }
            }
        }
        // Cloned and dropped outside the lock: a waker is the executor's code.
        let waker = context.waker().clone();
        let mut waiters = this.stop.waiters();
        if this.stop.request().is_some() {
            let old = waiters.remove(this.slot);
            drop(waiters);
            this.slot = None;
            drop((old, waker));
            return Poll::Ready(());
        }
        let old = match waiters.own(this.slot) {
            Some(index) => waiters.slots[index].replace(waker),
            None => {
                this.slot = Some(waiters.insert(waker));
                None
            }
        };
        drop(waiters);
        drop(old);
        Poll::Pending
    }
}

impl Stopping {
    fn release(&mut self) {
        if self.slot.is_some() {
            let old = self.stop.waiters().remove(self.slot.take());
            drop(old);
        }
    }
}

impl Drop for Stopping {
    fn drop(&mut self) {
        self.release();
    }
}

/// Wakes a thread blocked in [`Stop::wait`].
struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(unix)]
mod fork {
    use std::cell::UnsafeCell;
    use std::mem;
    use std::sync::atomic::Ordering;
    use std::sync::MutexGuard;

    use super::{Waiters, NONE, STOP};

    /// The waiters' lock, held across `fork()` so that the child never inherits it
    /// locked by a thread that does not exist there.
    struct HeldAcrossFork(UnsafeCell<Option<MutexGuard<'static, Waiters>>>);

    // SAFETY: the cell is used only by the `pthread_atfork` callbacks below, and
    // only while the waiters' lock is held by the forking thread: `before_fork` fills
    // it after taking the lock, and the after-fork functions empty it before
    // releasing it. Two threads forking at once are serialised by that lock.
    unsafe impl Sync for HeldAcrossFork {}

    static HELD: HeldAcrossFork = HeldAcrossFork(UnsafeCell::new(None));

    pub(crate) fn before_fork() {
        let guard = STOP.waiters();
        // SAFETY: see `HeldAcrossFork`: the lock is held.
        unsafe { *HELD.0.get() = Some(guard) };
    }

    fn held() -> Option<MutexGuard<'static, Waiters>> {
        // SAFETY: see `HeldAcrossFork`: the lock is still held.
        unsafe { (*HELD.0.get()).take() }
    }

    pub(crate) fn after_fork_in_parent() {
        drop(held());
    }

    /// The child starts with no stop requested. The wakers it inherited belong to
    /// the parent's tasks and threads: they are forgotten, not dropped or woken,
    /// since no code of theirs may run here.
    pub(crate) fn after_fork_in_child() {
        if let Some(mut waiters) = held() {
            mem::forget(waiters.take_all());
        }
        STOP.request.store(NONE, Ordering::SeqCst);
    }
}

#[cfg(unix)]
pub(crate) use fork::{after_fork_in_child, after_fork_in_parent, before_fork};

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn new_stop() -> &'static Stop {
        Box::leak(Box::new(Stop::new()))
    }

    /// Counts its wakes.
    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter::default());
        (counter.clone(), Waker::from(counter))
    }

    fn poll(stopping: &mut Stopping, waker: &Waker) -> Poll<()> {
        Pin::new(stopping).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn a_million_futures_polled_and_dropped_leave_nothing_behind() {
        let stop = new_stop();
        let (_, waker) = counter();
        for _ in 0..1_000_000 {
            let mut stopping = stop.stopping();
            assert!(poll(&mut stopping, &waker).is_pending());
        }
        // Those never polled take no slot at all.
        for _ in 0..1_000_000 {
            drop(stop.stopping());
        }
        let (waiting, capacity) = stop.waiting();
        assert_eq!(waiting, 0);
        assert!(capacity <= 4, "the slab grew to {capacity}");
    }

    #[test]
    fn a_hundred_thousand_pending_futures_all_complete_after_one_request() {
        let stop = new_stop();
        let (counter, waker) = counter();
        let mut futures: Vec<Stopping> = (0..100_000).map(|_| stop.stopping()).collect();
        for stopping in &mut futures {
            assert!(poll(stopping, &waker).is_pending());
        }
        assert_eq!(stop.waiting().0, 100_000);
        assert!(stop.request_stop(StopRequest::Program));
        assert_eq!(counter.0.load(Ordering::SeqCst), 100_000);
        for stopping in &mut futures {
            assert!(poll(stopping, &waker).is_ready());
        }
        assert_eq!(stop.waiting().0, 0);
        // Created after the request: complete at once.
        assert!(poll(&mut stop.stopping(), &waker).is_ready());
    }

    #[test]
    fn a_future_polled_again_with_a_new_waker_wakes_that_one() {
        let stop = new_stop();
        let (first, first_waker) = counter();
        let (second, second_waker) = counter();
        let mut stopping = stop.stopping();
        assert!(poll(&mut stopping, &first_waker).is_pending());
        assert!(poll(&mut stopping, &second_waker).is_pending());
        assert_eq!(stop.waiting().0, 1, "one slot, its waker replaced");
        stop.request_stop(StopRequest::Signal(15));
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn stopping_is_a_send_sync_unpin_static_future_of_unit() {
        fn check<F: Future<Output = ()> + Send + Sync + Unpin + 'static>(_: &F) {}
        check(&new_stop().stopping());
    }

    #[test]
    fn the_first_request_wins() {
        let stop = new_stop();
        assert_eq!(stop.request(), None);
        assert!(stop.request_stop(StopRequest::Program));
        assert!(!stop.request_stop(StopRequest::Signal(2)));
        assert_eq!(stop.request(), Some(StopRequest::Program));
    }

    #[test]
    fn a_blocked_thread_wakes_on_the_request_and_a_timeout_runs_out() {
        let stop = new_stop();
        assert!(!stop.wait(Some(Duration::from_millis(20))));
        let waiter = thread::spawn(move || stop.wait(None));
        while stop.waiting().0 == 0 {
            thread::yield_now();
        }
        stop.request_stop(StopRequest::Program);
        assert!(waiter.join().unwrap());
        assert!(stop.wait(Some(Duration::ZERO)), "at once once requested");
    }

    #[test]
    fn every_request_survives_packing() {
        for request in [
            StopRequest::Signal(2),
            StopRequest::Signal(i32::MAX),
            StopRequest::Signal(-1),
            StopRequest::Program,
        ] {
            assert_eq!(StopRequest::unpack(request.pack()), Some(request));
        }
        assert_eq!(StopRequest::unpack(NONE), None);
    }
}
