#[atexit::on_exit(priority = 1, priority = 2)]
fn flush() {}

fn main() {}
