//! The thread an exit run executes its handlers on, and what it shares with the
//! thread that waits for it.
//!
//! The handler the thread is at is published in one atomic word. While no time
//! limit is in force nothing is published at all; while one is, each handler costs
//! one compare-and-swap, which settles a race that a plain store cannot: the
//! watching thread gives up on handler `n` at the moment it returns. Whichever
//! swap comes first decides, so a handler is either abandoned (and its thread stops
//! touching the run) or finished, never both.

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::threads;

use super::job::Subject;

/// What the thread's word holds, besides the number of the handler it is running.
const IDLE: u64 = 0;
/// Between two handlers: taking the next one, which runs no user code.
const TAKING: u64 = 1;
/// The watching thread gave up on the handler that was running.
const ABANDONED: u64 = 2;
const FIRST_HANDLER: u64 = 3;

const NO_TIMEOUT: u64 = u64::MAX;

/// How a pass of the run ended on its thread, as the waiting thread learns it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum PassEnd {
    /// No handler is left.
    Completed,
    /// The deadline passed before the thread started the next handler, which it
    /// reported as skipped.
    DeadlinePassed,
    /// The thread stopped for good inside a handler that could not return to it
    /// (`panic = "abort"`: a panic, or `atexit::exit`).
    #[cfg_attr(not(panic = "abort"), allow(dead_code))]
    Stopped { panicked: bool },
}

/// What the waiting thread asks of the run's thread.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    Wait,
    /// Take every pending handler, in exit order.
    Pass,
    /// The run is over: return.
    Release,
}

struct Shared {
    order: Order,
    end: Option<PassEnd>,
    /// Set when the handler count flips from unwatched to watched, so that a
    /// waiting thread sleeping without a limit starts watching.
    watch_needed: bool,
}

/// One thread of an exit run. Leaked: a thread abandoned inside a handler may come
/// back to it at any time.
pub(super) struct RunThread {
    at: AtomicU64,
    /// The handler `at` names, for the report of the thread that abandons it: valid
    /// while the handler runs, and after an abandonment until the abandoning thread
    /// clears it.
    subject: AtomicPtr<Subject>,
    /// The handler timeout the handler `at` names started under, in nanoseconds, or
    /// `NO_TIMEOUT`.
    timeout: AtomicU64,
    shared: Mutex<Shared>,
    changed: Condvar,
    /// The fork generation the thread started in: a handler that forks goes on in
    /// the child with this thread as its only one.
    fork_generation: usize,
    /// The deadline of the run, if one is in force: then every handler is watched,
    /// not only those that start while a handler timeout is set, and none starts
    /// after it, however late the waiting thread is.
    pub(super) deadline: Option<Instant>,
}

thread_local! {
    /// The run thread the calling thread is, if it is one.
    static THIS: Cell<Option<&'static RunThread>> = const { Cell::new(None) };
}

/// The run thread the calling thread is, if it is one.
pub(super) fn this() -> Option<&'static RunThread> {
    THIS.get()
}

impl RunThread {
    pub(super) fn new(deadline: Option<Instant>) -> &'static RunThread {
        Box::leak(Box::new(RunThread {
            at: AtomicU64::new(IDLE),
            subject: AtomicPtr::new(std::ptr::null_mut()),
            timeout: AtomicU64::new(NO_TIMEOUT),
            shared: Mutex::new(Shared {
                order: Order::Wait,
                end: None,
                watch_needed: false,
            }),
            changed: Condvar::new(),
            fork_generation: threads::fork_generation(),
            deadline,
        }))
    }

    /// Makes the calling thread this run thread, for `this`.
    pub(super) fn enter(&'static self) {
        THIS.set(Some(self));
    }

    /// Whether a handler that forked left this thread the only one of a child.
    #[inline]
    pub(super) fn in_forked_child(&self) -> bool {
        threads::fork_generation() != self.fork_generation
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // No user code runs under this lock, so it is never poisoned by a handler.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // The run thread's side.

    /// Waits for the next order: true for a pass, false when released.
    pub(super) fn next_order(&self) -> bool {
        let mut shared = self.lock();
        loop {
            match shared.order {
                Order::Wait => {
                    shared = self
                        .changed
                        .wait(shared)
                        .unwrap_or_else(PoisonError::into_inner)
                }
                Order::Pass => {
                    shared.order = Order::Wait;
                    return true;
                }
                Order::Release => return false,
            }
        }
    }

    /// Called as a pass begins: false if the waiting thread gave up on this thread
    /// before it started (the deadline passed first).
    pub(super) fn begin_pass(&self) -> bool {
        self.at
            .compare_exchange(IDLE, TAKING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Publishes that handler `number` (counted from 0 in this pass) starts, with
    /// `subject` naming it and the handler timeout in force now. Only while
    /// watched.
    #[inline]
    pub(super) fn publish_start(&self, number: u64, subject: &Subject, timeout: Option<Duration>) {
        self.subject
            .store(std::ptr::from_ref(subject).cast_mut(), Ordering::Relaxed);
        let nanos = timeout.map_or(NO_TIMEOUT, |timeout| {
            u64::try_from(timeout.as_nanos()).unwrap_or(NO_TIMEOUT - 1)
        });
        self.timeout.store(nanos, Ordering::Relaxed);
        // A plain store: from `TAKING` nothing else writes the word.
        self.at.store(FIRST_HANDLER + number, Ordering::Release);
    }

    /// Called when handler `number`, published as started, has returned: false if
    /// the watching thread abandoned it first, and this thread must stop taking part
    /// in the run (after the watching thread is done with the subject, which lives in
    /// the caller's frame). Only while watched.
    #[inline]
    pub(super) fn finish_published(&self, number: u64) -> bool {
        let finished = self
            .at
            .compare_exchange(
                FIRST_HANDLER + number,
                TAKING,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if !finished {
            self.wait_for_acknowledgement();
        }
        finished
    }

    /// Whether the watching thread abandoned this thread's handler.
    pub(super) fn is_abandoned(&self) -> bool {
        self.at.load(Ordering::Acquire) == ABANDONED
    }

    /// Tells a waiting thread that sleeps without a limit to start watching.
    #[cold]
    pub(super) fn ask_to_be_watched(&self) {
        self.lock().watch_needed = true;
        self.changed.notify_all();
    }

    /// The pass is over. The end is told before the word goes back to `IDLE`, so
    /// that a waiting thread that finds no end and `IDLE` knows the pass has not
    /// begun.
    pub(super) fn end_pass(&self, end: PassEnd) {
        self.lock().end = Some(end);
        self.at.store(IDLE, Ordering::Release);
        self.changed.notify_all();
    }

    /// The abandoning thread reads the subject until it acknowledges; the subject
    /// lives in the caller's frame, which must stay until then.
    fn wait_for_acknowledgement(&self) {
        let mut shared = self.lock();
        while !self.subject.load(Ordering::Acquire).is_null() {
            shared = self
                .changed
                .wait_timeout(shared, Duration::from_millis(1))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    // The waiting thread's side.

    /// Asks for a pass.
    pub(super) fn order_pass(&self) {
        let mut shared = self.lock();
        shared.order = Order::Pass;
        shared.end = None;
        drop(shared);
        self.changed.notify_all();
    }

    /// Lets the thread return.
    pub(super) fn release(&self) {
        self.lock().order = Order::Release;
        self.changed.notify_all();
    }

    /// Waits until the pass ends, or until `limit` passes, or until the thread asks
    /// to be watched; `None` unless the pass ended.
    pub(super) fn wait_for_end(&self, limit: Option<Duration>) -> Option<PassEnd> {
        let mut shared = self.lock();
        if shared.end.is_none() && !shared.watch_needed {
            shared = match limit {
                Some(limit) => {
                    self.changed
                        .wait_timeout(shared, limit)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(shared)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
        shared.watch_needed = false;
        shared.end
    }

    /// What the word says now: the number of the handler running, if one is
    /// published.
    /// The number of the handler running, if one is published, with the timeout it
    /// started under.
    pub(super) fn handler_running(&self) -> Option<(u64, Option<Duration>)> {
        loop {
            let at = self.at.load(Ordering::Acquire);
            if at < FIRST_HANDLER {
                return None;
            }
            // Acquire: read before the word is read again.
            let nanos = self.timeout.load(Ordering::Acquire);
            // The thread writes the next handler's timeout only after it finished
            // this one: the same word now means the timeout read is this handler's.
            if self.at.load(Ordering::Relaxed) == at {
                let timeout = (nanos != NO_TIMEOUT).then(|| Duration::from_nanos(nanos));
                return Some((at - FIRST_HANDLER, timeout));
            }
        }
    }

    /// Whether the thread began the pass it was ordered (or has ended it).
    pub(super) fn has_begun(&self) -> bool {
        self.at.load(Ordering::Acquire) != IDLE || self.lock().end.is_some()
    }

    /// Whether the thread is between two handlers (no user code runs there).
    pub(super) fn is_taking(&self) -> bool {
        self.at.load(Ordering::Acquire) == TAKING
    }

    /// Gives up on handler `number` if it is still running: then calls `report`
    /// with its subject, before the thread may leave the handler's frame.
    pub(super) fn abandon(&self, number: u64, report: impl FnOnce(&Subject)) -> bool {
        let abandoned = self
            .at
            .compare_exchange(
                FIRST_HANDLER + number,
                ABANDONED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if abandoned {
            let subject = self.subject.load(Ordering::Acquire);
            // SAFETY: `publish_start` stored a pointer to the subject of the handler
            // numbered `number` before publishing that number (release), and the
            // swap above saw the number still published (acquire): the handler's
            // thread had not yet passed its own swap in `finish_published`, which
            // from now on fails and waits in `wait_for_acknowledgement` until the
            // pointer is cleared below; a thread stopped in its handler
            // (`stop_in_handler`) never leaves the frame. The frame holding the
            // subject lives until then, and nothing writes the subject meanwhile.
            report(unsafe { &*subject });
            let _shared = self.lock();
            self.subject.store(std::ptr::null_mut(), Ordering::Release);
            self.changed.notify_all();
        }
        abandoned
    }

    /// Gives up on the thread before its pass begins (the deadline passed first);
    /// false if the pass began, or has ended.
    pub(super) fn abandon_before_start(&self) -> bool {
        self.at
            .compare_exchange(IDLE, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
            // `end_pass` tells the end before it goes back to `IDLE`.
            && self.lock().end.is_none()
    }

    /// With `panic = "abort"`: the handler cannot return (it panicked, or called
    /// `atexit::exit`). Unless the watching thread abandoned it first, calls
    /// `report` and tells the waiting thread; then stops the calling thread.
    #[cfg(panic = "abort")]
    pub(super) fn stop_in_handler(&self, panicked: bool, report: impl FnOnce()) -> ! {
        if self.at.swap(ABANDONED, Ordering::AcqRel) != ABANDONED {
            report();
            self.lock().end = Some(PassEnd::Stopped { panicked });
            self.changed.notify_all();
        }
        threads::park_forever()
    }
}

#[cfg(panic = "abort")]
thread_local! {
    /// The subject of the handler this thread runs, for a panic that cannot unwind.
    static CURRENT: Cell<Option<*const Subject>> = const { Cell::new(None) };
}

/// With `panic = "abort"`: the handler the calling thread is running, for the
/// report of a panic that cannot unwind.
#[cfg(panic = "abort")]
pub(super) fn current_subject() -> Option<Subject> {
    CURRENT.get().map(|subject| {
        // SAFETY: `CURRENT` points at the subject of the handler this thread is
        // running, in the frame of `run::take_and_run` (or `run_here`) that called
        // it, and is cleared before that frame goes; the caller is that handler (a
        // panic hook or `atexit::exit` in it), deeper on the same stack, so the frame
        // is alive.
        unsafe { (*subject).clone() }
    })
}

/// Marks `subject` as the handler the calling thread runs while it lives: what a
/// panic hook names when nothing can unwind. Restores the mark it replaced, that of
/// the handler a nested run was started from.
pub(super) struct Running<'a> {
    #[cfg(panic = "abort")]
    outer: Option<*const Subject>,
    _subject: std::marker::PhantomData<&'a Subject>,
}

/// See [`Running`].
#[inline]
pub(super) fn running(subject: &Subject) -> Running<'_> {
    #[cfg(not(panic = "abort"))]
    let _ = subject;
    Running {
        #[cfg(panic = "abort")]
        outer: CURRENT.replace(Some(std::ptr::from_ref(subject))),
        _subject: std::marker::PhantomData,
    }
}

impl Drop for Running<'_> {
    #[inline]
    fn drop(&mut self) {
        #[cfg(panic = "abort")]
        CURRENT.set(self.outer);
    }
}
