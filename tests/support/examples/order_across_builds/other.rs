#[atexit::on_exit]
fn other_a() {
    println!("other.rs: a");
}

#[atexit::on_exit(priority = 3)]
fn other_priority() {
    println!("other.rs: priority 3");
}

#[atexit::on_exit]
fn other_b() {
    println!("other.rs: b");
}

pub fn touch() {}
