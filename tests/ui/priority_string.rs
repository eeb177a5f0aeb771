#[atexit::on_exit(priority = "high")]
fn flush() {}

fn main() {}
