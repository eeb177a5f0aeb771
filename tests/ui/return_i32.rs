#[atexit::on_exit]
fn flush() -> i32 {
    0
}

fn main() {}
