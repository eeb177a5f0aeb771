use std::fmt::Display;

#[atexit::on_exit]
fn flush() -> Result<(), impl Display> {
    Ok::<(), String>(())
}

struct Service;

#[atexit::on_exit]
impl Service {
    #[on_exit]
    fn stop() -> Result<(), impl Display> {
        Err("not stopped")
    }
}

fn main() {
    assert_eq!(atexit::pending(), 2);
    atexit::clear();
}
