struct Service;

#[atexit::on_exit]
impl Service {
    #[on_exit]
    const LIMIT: u32 = 3;

    #[on_exit]
    fn stop() {}
}

fn main() {}
