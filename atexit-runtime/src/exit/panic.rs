//! Panics and the exit: telling a panic in `main` from `exit(101)`, and, with
//! `panic = "abort"`, running the exit handlers before the process aborts.
//!
//! The runtime's panic hook runs the program's previous hook first (which prints
//! the message), then [`on_panic`]. A program that sets its own hook afterwards
//! calls `atexit::on_panic` from it.

use std::cell::Cell;
use std::panic::{self, PanicHookInfo};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::threads;

/// Whether the main thread panicked (with unwinding, `main` then returns 101).
static MAIN_PANICKED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while this thread is in `on_panic`, and with `panic = "abort"` for good
    /// (the thread never goes on after its panic), so that a program whose own hook
    /// calls `on_panic` and chains to the runtime's does not run it twice.
    static IN_ON_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// Installs the runtime's panic hook in front of the one in place.
pub(crate) fn install_hook() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        previous(info);
        on_panic(info);
    }));
}

/// `atexit::on_panic`.
pub(crate) fn on_panic(info: &PanicHookInfo<'_>) {
    if IN_ON_PANIC.replace(true) {
        return;
    }
    if threads::is_main() && !threads::is_running_handlers() {
        MAIN_PANICKED.store(true, Ordering::SeqCst);
    }
    #[cfg(panic = "abort")]
    without_unwinding::after_panic(info);
    #[cfg(not(panic = "abort"))]
    {
        let _ = info;
        IN_ON_PANIC.set(false);
    }
}

/// Whether the main thread panicked: with status 101, the exit is a panic's.
pub(super) fn main_panicked() -> bool {
    MAIN_PANICKED.load(Ordering::SeqCst)
}

#[cfg(panic = "abort")]
mod without_unwinding {
    use std::panic::PanicHookInfo;

    use crate::report;
    use crate::threads;

    use super::super::job::panic_message;
    use super::super::{run_thread, watchdog};

    /// The process aborts once the hook returns. A panic in a handler reports it and
    /// stops the run's thread, and the run goes on without it on another; a panic
    /// anywhere else runs the exit handlers first.
    pub(super) fn after_panic(info: &PanicHookInfo<'_>) {
        if let Some(subject) = run_thread::current_subject() {
            let report = || {
                report::line(format_args!(
                    "handler {} panicked: {}",
                    subject.info().label(),
                    panic_message(info.payload())
                ));
            };
            match run_thread::this() {
                Some(thread) => watchdog::stop_in_handler(thread, true, report),
                // A run on the thread that began it: nothing can take the rest.
                None => {
                    report();
                    return;
                }
            }
        }
        if threads::is_running_handlers() {
            report::internal("the exit run itself panicked; the process aborts");
            return;
        }
        super::super::run_after_panic();
    }
}
