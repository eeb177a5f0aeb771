#[atexit::on_exit(crate = "atexit")]
fn flush() {}

fn main() {}
