#[atexit::on_exit]
fn flush() -> Result<(), String> {
    Ok(())
}

fn main() {}
