use atexit::on_exit as at_exit;

struct Service;

#[at_exit]
impl Service {
    #[at_exit]
    fn stop() {}
}

fn main() {}
