struct Service;

#[atexit::on_exit]
impl Service {
    #[on_exit]
    fn shutdown(&self) {}
}

fn main() {}
