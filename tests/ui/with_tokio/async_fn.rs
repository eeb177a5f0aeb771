//! With the `tokio` feature, `async fn` handlers are accepted, on their own, in an
//! `impl` block, with options, returning `()` or a `Result`.

#[atexit::on_exit]
async fn flush() {}

#[atexit::on_exit(priority = 3, name = "close")]
async fn close() -> std::io::Result<()> {
    Ok(())
}

struct Exporter;

#[atexit::on_exit]
impl Exporter {
    #[on_exit]
    async fn shutdown() -> Result<(), String> {
        Self::drain().await;
        Ok(())
    }

    async fn drain() {}
}

fn main() {
    let kinds: Vec<bool> = atexit::handlers().iter().map(|h| h.is_async()).collect();
    assert_eq!(kinds, [true, true, true]);
    assert_eq!(atexit::unregister_fn(flush), 1);
    atexit::clear();
}
