#[atexit::on_exit]
async fn flush() {}

fn main() {}
