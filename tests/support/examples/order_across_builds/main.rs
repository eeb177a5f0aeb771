//! Static handlers in two files and two crates, plus dynamic ones, for comparing the
//! exit order across debug, release and `codegen-units = 1` builds.

mod other;

use atexit_test_support as _;

#[atexit::on_exit]
fn main_a() {
    println!("main.rs: a");
}

#[atexit::on_exit(priority = 3)]
fn main_priority() {
    println!("main.rs: priority 3");
}

#[atexit::on_exit]
fn main_b() {
    println!("main.rs: b");
}

#[atexit::on_exit]
fn main_c() {
    println!("main.rs: c");
}

fn main() {
    atexit::register(|| println!("dynamic: 1"));
    atexit::register(|| println!("dynamic: 2"));
    other::touch();
}
