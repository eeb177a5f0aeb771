//! A static handler that makes a guard and forgets it, between two others: the guard
//! is the newest handler, so it runs next, before the older static handler, even
//! though static handlers with nothing else pending run one after another without
//! looking at the guard blocks. The oldest static handler registers a dynamic one,
//! which runs next and makes a guard too.

mod shared;

use shared::say;

#[atexit::on_exit]
fn declared_first() {
    say("static declared first");
    atexit::register(|| {
        say("dynamic handler registered at exit");
        std::mem::forget(atexit::guard(|| say("guard made by a dynamic handler")));
    });
}

#[atexit::on_exit]
fn makes_a_guard() {
    say("static that makes a guard");
    std::mem::forget(atexit::guard(|| say("guard made by a static handler")));
}

#[atexit::on_exit]
fn declared_last() {
    say("static declared last");
}

fn main() {
    shared::exit_with_limits(0);
}
