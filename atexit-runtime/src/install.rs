//! The one libc `atexit` registration and the `fork` hooks: the top of the runtime.
//!
//! A constructor installs both before `main`, doing constant work whatever the number
//! of handlers. The dynamic API installs them too on first use, in case the linker
//! dropped the constructor's object file; the code generated for every static handler
//! calls [`link_exit_hook`] as well, so a binary with static handlers always links
//! this file.

use std::sync::Once;

use crate::{exit, fork, report};

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

/// Called by the code `#[on_exit]` generates, so that any binary with a static
/// handler links the exit hook's code as well.
#[doc(hidden)]
#[inline(never)]
pub fn link_exit_hook() {
    ensure_installed();
}

#[cold]
fn install() {
    // SAFETY: `at_process_exit` is an `extern "C" fn()` that never unwinds (the run
    // catches every panic) and lives as long as the program.
    if unsafe { libc::atexit(at_process_exit) } != 0 {
        report::internal("could not install the exit hook: libc's atexit failed");
    }
    // SAFETY: the three callbacks are `extern "C" fn()`s that cannot unwind (they
    // take or release locks, move values and store atomics) and live as long as the
    // program.
    let installed = unsafe {
        libc::pthread_atfork(
            Some(fork::before_fork),
            Some(fork::after_fork_in_parent),
            Some(fork::after_fork_in_child),
        )
    };
    if installed != 0 {
        report::internal("could not install the fork hooks: pthread_atfork failed");
    }
}

extern "C" fn at_process_exit() {
    exit::at_process_exit();
}
