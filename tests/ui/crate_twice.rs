#[atexit::on_exit(crate = atexit, crate = atexit)]
fn flush() {}

fn main() {}
