//! A binary that uses the support library, whose `#[on_exit]` handlers must run here,
//! ordered together with this binary's own.

use atexit_test_support::greet;

#[atexit::on_exit]
fn binary_handler() {
    println!("binary: own handler");
}

fn main() {
    println!("{}", greet());
}
