use atexit::on_exit;

struct Service;

impl Service {
    #[on_exit]
    fn shutdown() {}
}

fn main() {}
