//! The one libc `atexit` registration, and the `fork` hooks.
//!
//! A constructor installs both before `main`, doing constant work whatever the number
//! of handlers. The dynamic API installs them too on first use, in case the linker
//! dropped the constructor's object file; the code generated for every static handler
//! calls `ensure_installed` as well, so a binary with static handlers always links
//! this file.

use std::sync::Once;

use crate::{registry, run, statics};

static INSTALL: Once = Once::new();

#[ctor::ctor(unsafe)]
fn install_before_main() {
    ensure_installed();
}

/// Installs the exit hook and the fork hooks, once; a caller that finds them being
/// installed waits until they are.
#[inline]
pub(crate) fn ensure_installed() {
    if !INSTALL.is_completed() {
        INSTALL.call_once(install);
    }
}

#[cold]
fn install() {
    // SAFETY: `at_process_exit` is an `extern "C" fn()` that never unwinds (it catches
    // every panic) and lives as long as the program.
    let failed = unsafe { libc::atexit(at_process_exit) } != 0;
    if failed {
        run::report_internal("could not install the exit hook: libc's atexit failed");
    }
    // SAFETY: all three are `extern "C" fn()`s that cannot unwind (they take or
    // release a lock, move values and store atomics) and live as long as the program.
    let failed = unsafe {
        libc::pthread_atfork(
            Some(before_fork),
            Some(after_fork_in_parent),
            Some(after_fork_in_child),
        )
    } != 0;
    if failed {
        run::report_internal("could not install the fork hooks: pthread_atfork failed");
    }
}

extern "C" fn at_process_exit() {
    run::at_process_exit();
}

extern "C" fn before_fork() {
    // Sorted here if not yet, so that a child never inherits the sort half done by a
    // thread that does not exist there.
    statics::exit_order();
    registry::fork::before();
}

extern "C" fn after_fork_in_parent() {
    registry::fork::after_in_parent();
}

extern "C" fn after_fork_in_child() {
    statics::disown_after_fork();
    registry::fork::after_in_child();
    run::forget_parent_exit();
    #[cfg(feature = "signals")]
    crate::signals::after_fork_in_child();
}
