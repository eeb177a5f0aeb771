struct Service;

#[atexit::on_exit]
impl Service {
    #[on_exit(priority = 1)]
    #[on_exit(priority = 2)]
    fn shutdown() {}
}

fn main() {}
