// `#[cfg_attr(..., on_exit)]` inside a marked block marks the function as the block's.
struct Service;

impl Service {
    const NAME: &'static str = "service";
}

#[atexit::on_exit]
impl Service {
    #[cfg_attr(all(), on_exit(priority = 3))]
    fn stop() {
        assert_eq!(Self::NAME, "service");
    }

    #[cfg_attr(any(), on_exit)]
    fn not_a_handler() {}
}

fn main() {
    let handlers = atexit::handlers();
    assert_eq!(handlers.len(), 1);
    assert_eq!(handlers[0].priority(), 3);
    Service::not_a_handler();
    atexit::clear();
}
