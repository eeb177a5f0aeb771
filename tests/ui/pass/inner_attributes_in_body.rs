#[atexit::on_exit]
fn flush() {
    //! Flushes what is left.
    #![allow(unused_variables)]
    let unused = 1;
}

struct Service;

impl Service {
    #[atexit::on_exit]
    fn stop() {
        #![allow(unused_variables)]
        let unused = 2;
    }
}

fn main() {
    assert_eq!(atexit::pending(), 2);
    atexit::clear();
}
