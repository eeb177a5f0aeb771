// A handler that a `cfg` removes goes with its function, in a marked `impl` too.
struct Service;

#[atexit::on_exit]
impl Service {
    #[cfg(any())]
    #[on_exit]
    fn only_with_feature() {}

    #[cfg_attr(any(), cfg(any()))]
    #[on_exit]
    fn kept() {}

    #[cfg_attr(all(), cfg(any()))]
    #[on_exit]
    fn removed_by_cfg_attr() {}

    #[on_exit]
    fn always() {}
}

fn main() {
    let names: Vec<_> = atexit::handlers().iter().map(|h| h.name().to_owned()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().any(|name| name.ends_with("Service::kept")), "{names:?}");
    assert!(names.iter().any(|name| name.ends_with("Service::always")), "{names:?}");
    atexit::clear();
}
