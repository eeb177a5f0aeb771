#[atexit::on_exit]
unsafe fn flush() {}

fn main() {}
