//! One `#[dtor]` function and an empty `main`: the baseline of `one_on_exit`.

use atexit_bench::report;

#[dtor::dtor(unsafe)]
fn only_handler() {
    report("exit_handlers", 1);
}

fn main() {}
