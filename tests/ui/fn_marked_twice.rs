#[atexit::on_exit(priority = 1)]
#[atexit::on_exit(priority = 2)]
fn shutdown() {}

fn main() {}
