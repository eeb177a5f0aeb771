const LATE: u64 = 10;

#[atexit::on_exit(priority = LATE)]
fn flush() {}

fn main() {}
