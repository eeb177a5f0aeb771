fn cleanup() {}

fn main() {
    let pointer: fn() = cleanup;
    atexit::unregister_fn(pointer);
}
