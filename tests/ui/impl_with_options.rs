struct Service;

#[atexit::on_exit(priority = 5)]
impl Service {
    #[on_exit]
    fn shutdown() {}
}

fn main() {}
