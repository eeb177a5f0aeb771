use linkme::distributed_slice;

#[distributed_slice]
static EXIT_HANDLERS: [fn()];

#[distributed_slice(EXIT_HANDLERS)]
static GOODBYE: fn() = goodbye;

fn goodbye() {
    println!("goodbye");
}

fn main() {
    println!("hello");
    for handler in EXIT_HANDLERS {
        handler();
    }
}
