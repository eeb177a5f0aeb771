#[atexit::on_exit(name = "flush", name = "flush again")]
fn flush() {}

fn main() {}
