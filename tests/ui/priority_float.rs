#[atexit::on_exit(priority = 1.5)]
fn flush() {}

fn main() {}
