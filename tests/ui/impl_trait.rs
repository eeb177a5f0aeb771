struct Service;

trait Shutdown {
    fn shutdown();
}

#[atexit::on_exit]
impl Shutdown for Service {
    #[on_exit]
    fn shutdown() {}
}

fn main() {}
