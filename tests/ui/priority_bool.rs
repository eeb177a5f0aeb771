#[atexit::on_exit(priority = true)]
fn flush() {}

fn main() {}
