// Constants and functions of the user's named like the items the attribute generates
// for its own use (`ORDER`, `PRIORITY`, `run`, `describe`) mean the user's.

const ORDER: i32 = 3;
const PRIORITY: i32 = 2;

const fn run() -> i32 {
    1
}

#[atexit::on_exit(priority = ORDER + PRIORITY + run())]
fn flush() {}

fn main() {
    assert_eq!(atexit::handlers()[0].priority(), 6);
    assert_eq!(run(), 1);
}
