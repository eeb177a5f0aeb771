#[atexit::on_exit]
fn flush() {
    let x = ;
}

fn main() {}
