//! How an exit ends once a caught signal has asked the program to stop: the program
//! that then ends by itself (returning from `main`, `std::process::exit`) dies by
//! that signal after its handlers, as it would have without the grace, unless it
//! chose a status with `atexit::exit` or crashed.

use std::sync::atomic::{fence, AtomicBool, AtomicI32, Ordering};

/// The first caught signal, or 0: set inside the signal handler, before it looks
/// whether an exit run began, so that a run claimed after that sees it.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// `atexit::exit` was called outside a run: the status is the program's choice.
static EXIT_CHOSEN: AtomicBool = AtomicBool::new(false);

/// The run going on ends by the signal unless a handler calls `atexit::exit`, which
/// then decides the status and the reason.
static EXIT_REPLACES_SIGNAL: AtomicBool = AtomicBool::new(false);

/// A caught signal arrived; returns whether it is the first. Async-signal-safe: one
/// atomic operation.
#[cfg(feature = "signals")]
pub(crate) fn signal_arrived(signal: i32) -> bool {
    let first = SIGNAL
        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok();
    // Pairs with the fence in `ending_signal`: either the caller's look at the exit
    // that follows sees the run claimed, or that run sees this signal.
    fence(Ordering::SeqCst);
    first
}

/// The first caught signal, once one arrived.
pub(crate) fn first_signal() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// `atexit::exit` ends the process: its code is the status, whatever signal came.
pub(super) fn exit_chosen() {
    EXIT_CHOSEN.store(true, Ordering::SeqCst);
}

/// The signal the exit starting now (from the libc exit hook) ends by, if a caught
/// signal asked the program to stop before: not after `atexit::exit` outside a run,
/// whose code stands, nor after a panic, which must still look like a crash.
pub(super) fn ending_signal(panicked: bool) -> Option<i32> {
    // The run was claimed just before: see `signal_arrived`.
    fence(Ordering::SeqCst);
    let signal = first_signal().filter(|_| !panicked && !EXIT_CHOSEN.load(Ordering::SeqCst));
    if signal.is_some() {
        EXIT_REPLACES_SIGNAL.store(true, Ordering::SeqCst);
    }
    signal
}

/// Whether `atexit::exit` in a handler of the run going on changes the reason from
/// the signal to its code: in the program's own exit after a stop, not in a run the
/// signal itself started (that one dies by the signal whatever the code).
pub(super) fn exit_replaces_signal() -> bool {
    EXIT_REPLACES_SIGNAL.load(Ordering::SeqCst)
}

/// Dies by `signal` if one is given: the end of [`ending_signal`]'s runs.
pub(super) fn die_if(signal: Option<i32>) {
    if let Some(signal) = signal {
        die_by(signal);
    }
}

/// Ends the process by `signal`, with its default action, so that the parent sees
/// the true cause (a shell: 130 after SIGINT, 143 after SIGTERM).
#[cfg(unix)]
pub(crate) fn die_by(signal: i32) -> ! {
    use std::mem::MaybeUninit;
    use std::ptr;
    // SAFETY: `action` and `unblock` are initialised by `sigemptyset` before use, and
    // every pointer passed is valid for the call; `sigaction`, `pthread_sigmask` and
    // `raise` have no other preconditions. The default action of every signal
    // `catch_signals` takes ends the process; should it somehow return, `_exit` ends
    // it the way a shell reports a death by signal (the handlers have run).
    unsafe {
        let mut action = MaybeUninit::<libc::sigaction>::zeroed().assume_init();
        action.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, ptr::null_mut());
        let mut unblock = MaybeUninit::<libc::sigset_t>::zeroed().assume_init();
        libc::sigemptyset(&mut unblock);
        libc::sigaddset(&mut unblock, signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &unblock, ptr::null_mut());
        libc::raise(signal);
        libc::_exit(128 + signal)
    }
}

/// Ends the process the way Windows ends a console program interrupted without a
/// handler (`STATUS_CONTROL_C_EXIT`).
#[cfg(windows)]
pub(crate) fn die_by(_signal: i32) -> ! {
    const INTERRUPTED: u32 = 0xC000_013A;
    // SAFETY: `ExitProcess` has no preconditions; the handlers have run.
    unsafe { windows_sys::Win32::System::Threading::ExitProcess(INTERRUPTED) }
}

/// Called in a forked child: the parent's signal is not the child's.
#[cfg(unix)]
pub(super) fn forget() {
    SIGNAL.store(0, Ordering::SeqCst);
    EXIT_CHOSEN.store(false, Ordering::SeqCst);
    EXIT_REPLACES_SIGNAL.store(false, Ordering::SeqCst);
}
