// `#[on_exit]` directly on an associated function, in an `impl` block that is not
// marked: it is a handler, named after its type, and `unregister_fn` finds it.

struct Service;

impl Service {
    #[atexit::on_exit(priority = 1)]
    fn shutdown() -> Result<(), String> {
        Ok(())
    }
}

mod nested {
    pub struct Pool;

    impl Pool {
        #[atexit::on_exit]
        pub fn shutdown() {}
    }
}

fn main() {
    let names: Vec<String> = atexit::handlers()
        .iter()
        .map(|handler| handler.name().to_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].ends_with("::Service::shutdown"), "{names:?}");
    assert!(names[1].ends_with("::nested::Pool::shutdown"), "{names:?}");
    assert_eq!(atexit::unregister_fn(Service::shutdown), 1);
    assert_eq!(atexit::unregister_fn(nested::Pool::shutdown), 1);
    assert_eq!(atexit::pending(), 0);
}
