//! A library with `#[on_exit]` handlers of its own, for the tests: a binary that uses
//! it must run them, ordered with its own handlers by the documented rule.

/// Declared first in this file, so it runs after [`support_second`].
#[atexit::on_exit]
fn support_first() {
    println!("support: first");
}

/// Runs before [`support_first`]: reverse declaration order.
#[atexit::on_exit]
fn support_second() {
    println!("support: second");
}

/// Runs before every priority-0 handler, in any crate.
#[atexit::on_exit(priority = 100, name = "support::early")]
fn support_early() {
    println!("support: early (priority 100)");
}

/// Something for a binary to call, so that it links this crate.
///
/// ```
/// assert_eq!(atexit_test_support::greet(), "support linked");
/// // Calling into the crate linked it, and its three handlers with it.
/// assert_eq!(atexit::pending(), 3);
/// # atexit::clear();
/// ```
pub fn greet() -> &'static str {
    "support linked"
}
