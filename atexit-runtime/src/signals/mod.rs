//! `catch_signals`: the exit handlers run when the user or the system asks the
//! program to stop, and the process then ends the way it would have.

#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
pub(crate) use unix::{after_fork_in_child, catch_signals};
#[cfg(windows)]
pub(crate) use windows::catch_signals;
