const BASE: i32 = 10;

#[atexit::on_exit(priority = BASE + 1, name = "after base")]
fn flush() {}

fn main() {}
