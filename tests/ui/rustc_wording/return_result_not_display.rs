#[derive(Debug)]
struct NotDisplay;

#[atexit::on_exit]
fn flush() -> Result<(), NotDisplay> {
    Err(NotDisplay)
}

fn main() {}
