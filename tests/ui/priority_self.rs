struct Service;

impl Service {
    const PRIORITY: i32 = 3;
}

#[atexit::on_exit]
impl Service {
    #[on_exit(priority = Self::PRIORITY)]
    fn shutdown() {}
}

fn main() {}
