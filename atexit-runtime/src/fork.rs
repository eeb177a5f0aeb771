//! `fork()`: a handler runs only in the process that registered it, unless a forked
//! child adopts what it inherited.
//!
//! The `pthread_atfork` callbacks call one function of each module that keeps state
//! across a fork; each module decides what its state means in the child.

use crate::{exit, registry, statics, stop, threads};

pub(crate) extern "C" fn before_fork() {
    statics::before_fork();
    registry::lock_for_fork();
    stop::before_fork();
}

pub(crate) extern "C" fn after_fork_in_parent() {
    registry::unlock_after_fork_in_parent();
    stop::after_fork_in_parent();
}

pub(crate) extern "C" fn after_fork_in_child() {
    registry::unlock_after_fork_in_child();
    statics::after_fork_in_child();
    threads::after_fork_in_child(registry::own_guards_in_flight());
    exit::after_fork_in_child();
    stop::after_fork_in_child();
    #[cfg(feature = "signals")]
    crate::signals::after_fork_in_child();
}

/// `adopt_inherited`.
pub(crate) fn adopt_inherited() -> usize {
    statics::adopt() + registry::adopt()
}
