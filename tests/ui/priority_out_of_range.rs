#[atexit::on_exit(priority = 3000000000)]
fn flush() {}

fn main() {}
