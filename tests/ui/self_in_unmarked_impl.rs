struct Service;

impl Service {
    const NAME: &'static str = "service";

    #[atexit::on_exit]
    fn shutdown() {
        println!("{}", Self::NAME);
    }
}

fn main() {}
