// The generated code adds no warning of its own to the user's.
#![deny(warnings)]

struct Service;

#[atexit::on_exit]
impl Service {
    #[deprecated = "use the new shutdown path"]
    #[on_exit]
    fn old_shutdown() {}
}

#[deprecated = "use the new flush"]
#[atexit::on_exit]
fn old_flush() {}

fn main() {
    assert_eq!(atexit::pending(), 2);
    atexit::clear();
}
