#[atexit::on_exit]
fn flush() {}

#[atexit::on_exit(name = "explicit unit")]
fn explicit_unit() -> () {}

fn main() {}
