//! Handlers declared every way a crate can reach the attribute: through a renamed
//! dependency, a framework's re-export and its `macro_rules!`, from a `#![no_std]`
//! crate of edition 2015, in a file a build script generated, and under an attribute
//! that wraps the function. Each prints a line as it runs.

use atexit_fixture_wrapper::announce;

/// `#[on_exit]` first: the exit run still calls the function as `#[announce]` made it.
#[atexit::on_exit(priority = -10)]
#[announce]
fn wrapped_after() {
    println!("main: wrapped_after body");
}

/// `#[on_exit]` last: the same.
#[announce]
#[atexit::on_exit(priority = -11)]
fn wrapped_before() {
    println!("main: wrapped_before body");
}

/// Two handlers from one `macro_rules!` call: reverse declaration order, as in a file.
macro_rules! two_handlers {
    ($first:ident, $second:ident) => {
        #[atexit::on_exit(priority = -20)]
        fn $first() {
            println!("main: {} (first in the macro)", stringify!($first));
        }

        #[atexit::on_exit(priority = -20)]
        fn $second() {
            println!("main: {} (second in the macro)", stringify!($second));
        }
    };
}

// Declared names in reverse alphabetical order, so that the path does not order them.
two_handlers!(zulu, alpha);

/// Runs last of all: whether the `#![no_std]` crate's first handler ran.
#[atexit::on_exit(priority = -1000)]
fn last() {
    println!(
        "main: no_std 2015 handler ran: {}",
        atexit_fixture_no_std_2015::ran()
    );
}

fn main() {
    atexit_fixture_framework_user::link();
    atexit_fixture_generated::link();
    atexit_fixture_renamed::link();
    println!("main: returning");
}
