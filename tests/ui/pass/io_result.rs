#[atexit::on_exit]
fn flush() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
