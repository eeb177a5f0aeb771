#[atexit::on_exit]
struct Cleanup;

fn main() {}
