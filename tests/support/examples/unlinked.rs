//! A binary that depends on the support library but never refers to it: the linker
//! leaves the library out, and its handlers with it.
//!
//! Usage: `unlinked [use]`; the `use` build path is the documented fix, but it has to
//! be in the source, so this binary shows only the problem.

#[atexit::on_exit]
fn binary_handler() {
    println!("binary: own handler");
}

fn main() {
    println!("support handlers pending: {}", atexit::pending() - 1);
}
