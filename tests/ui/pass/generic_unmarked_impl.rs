// In an unmarked generic `impl`, the function is one handler for every `T`, and
// `unregister_fn` finds it through any of them.
struct Gen<T>(T);

impl<T> Gen<T> {
    #[atexit::on_exit]
    fn stop() {}
}

fn main() {
    let handlers = atexit::handlers();
    assert_eq!(handlers.len(), 1);
    assert!(handlers[0].name().ends_with("Gen<_>::stop"), "{}", handlers[0].name());
    assert_eq!(atexit::unregister_fn(Gen::<u8>::stop), 1);
    assert_eq!(atexit::pending(), 0);
}
