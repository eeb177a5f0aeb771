//! Static and dynamic handlers at several priorities, interleaved by the ordering rule:
//! higher priority first; at equal priority, dynamic (newest first) before static
//! (reverse declaration order).

#[atexit::on_exit(priority = 5)]
fn static_5() {
    println!("static 5");
}

#[atexit::on_exit]
fn static_0_first() {
    println!("static 0, declared first");
}

#[atexit::on_exit]
fn static_0_second() {
    println!("static 0, declared second");
}

#[atexit::on_exit(priority = -5)]
fn static_minus_5() {
    println!("static -5");
}

fn main() {
    atexit::register_with(-5, || println!("dynamic -5"));
    atexit::register_with(5, || println!("dynamic 5, older"));
    atexit::register(|| println!("dynamic 0"));
    atexit::register_with(5, || println!("dynamic 5, newer"));
    atexit::register_with(10, || println!("dynamic 10"));
}
