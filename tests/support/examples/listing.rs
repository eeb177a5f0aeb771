//! `handlers()` lists the pending handlers in the order the exit runs them: a mix of
//! static and dynamic handlers (and a guard), at equal and different priorities.
//!
//! Prints `listed NAME` for each handler `handlers()` lists, then each handler prints
//! `ran NAME` as it runs at exit.

/// Dynamic handlers are functions, so that `handlers()` names each apart.
macro_rules! handlers {
    ($($name:ident),* $(,)?) => {
        $(
            fn $name() {
                println!("ran {}", stringify!($name));
            }
        )*
    };
}

handlers!(
    dynamic_ten,
    dynamic_five_old,
    dynamic_five_new,
    dynamic_zero,
    dynamic_minus_five,
    guarded
);

#[atexit::on_exit(priority = 5)]
fn static_five() {
    println!("ran static_five");
}

#[atexit::on_exit]
fn static_zero_first() {
    println!("ran static_zero_first");
}

#[atexit::on_exit]
fn static_zero_second() {
    println!("ran static_zero_second");
}

#[atexit::on_exit(priority = -5)]
fn static_minus_five() {
    println!("ran static_minus_five");
}

fn main() {
    atexit::register(dynamic_zero);
    atexit::register_with(5, dynamic_five_old);
    atexit::register_with(-5, dynamic_minus_five);
    atexit::register_with(10, dynamic_ten);
    atexit::register_with(5, dynamic_five_new);
    // A thread registers too: its registration is newer than every one above.
    let guard = std::thread::spawn(|| atexit::guard(guarded))
        .join()
        .unwrap();
    for handler in atexit::handlers() {
        let name = handler.name();
        println!("listed {}", name.rsplit("::").next().unwrap_or(name));
    }
    println!("---");
    std::mem::forget(guard);
}
