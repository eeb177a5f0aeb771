#[atexit::on_exit]
fn flush(path: &str, retries: u32) {
    let _ = (path, retries);
}

fn main() {}
