#[atexit::on_exit(name = "")]
fn flush() {}

fn main() {}
