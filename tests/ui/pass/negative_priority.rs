#[atexit::on_exit(priority = -5)]
fn flush() {}

fn main() {}
