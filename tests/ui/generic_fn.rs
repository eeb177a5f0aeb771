#[atexit::on_exit]
fn flush<T: Default>() {
    let _ = T::default();
}

fn main() {}
