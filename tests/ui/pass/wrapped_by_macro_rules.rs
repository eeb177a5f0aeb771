// Handlers that one `macro_rules!` call declares, and `crate = ...` on the path a
// re-exporting crate would give.
mod framework {
    pub use atexit;
}

macro_rules! handlers {
    ($($name:ident),*) => {
        $(
            #[atexit::on_exit(crate = crate::framework::atexit)]
            fn $name() {}
        )*
    };
}

handlers!(zeta, alpha);

fn main() {
    assert_eq!(atexit::pending(), 2);
    atexit::clear();
}
