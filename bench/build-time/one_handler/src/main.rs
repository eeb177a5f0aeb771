#[atexit::on_exit]
fn goodbye() {
    println!("goodbye");
}

fn main() {
    println!("hello");
}
