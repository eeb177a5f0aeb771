struct Service;

#[atexit::on_exit]
impl Service {
    fn shutdown() {}
}

fn main() {}
