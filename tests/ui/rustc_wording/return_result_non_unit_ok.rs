#[atexit::on_exit]
fn flush() -> Result<i32, String> {
    Ok(0)
}

fn main() {}
