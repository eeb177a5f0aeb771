#[atexit::on_exit(order = 3)]
fn flush() {}

fn main() {}
