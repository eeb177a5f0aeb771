#[atexit::on_exit]
async fn flush() {
    let not_send = std::rc::Rc::new(());
    async {}.await;
    drop(not_send);
}

fn main() {}
