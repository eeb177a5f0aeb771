//! Cheat sheet 7, the order handlers run in: newest first, and higher priorities
//! before lower ones, static and dynamic handlers alike.

fn first() {
    println!("First (registered first, runs last)");
}

fn second() {
    println!("Second");
}

fn third() {
    println!("Third (registered last, runs first)");
}

#[atexit::on_exit(priority = 1)]
fn flush_buffers() {
    println!("Priority 1: flush buffers before anything at priority 0");
}

#[atexit::on_exit(priority = -1)]
fn close_log() {
    println!("Priority -1: close the log after everything at priority 0");
}

fn main() {
    atexit::register(first);
    atexit::register(second);
    atexit::register(third);
    print!("{}", atexit::HandlerInfo::table(&atexit::handlers()));
}
