//! One `#[atexit::on_exit]` handler and an empty `main`: what the exit run's thread
//! costs a small program, against `one_dtor`.

use atexit_bench::report;

#[atexit::on_exit]
fn only_handler() {
    report("exit_handlers", 1);
}

fn main() {}
