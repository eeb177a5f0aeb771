struct Service<T>(T);

#[atexit::on_exit]
impl<T> Service<T> {
    #[on_exit]
    fn shutdown() {}
}

fn main() {}
