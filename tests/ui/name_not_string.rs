#[atexit::on_exit(name = flush)]
fn flush() {}

fn main() {}
