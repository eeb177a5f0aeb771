//! A forked child does not run its parent's handlers, but runs its own; with `adopt`
//! it takes the parent's over.
//!
//! Usage: `fork [adopt]`. The child reports with status 0 when its checks pass.

#[atexit::on_exit]
fn static_handler() {
    println!("static handler ran in {}", std::process::id());
}

fn main() {
    let adopt = std::env::args().nth(1).as_deref() == Some("adopt");
    atexit::register(|| println!("parent's dynamic handler ran in {}", std::process::id()));
    println!("parent {}", std::process::id());

    // SAFETY: the program has a single thread here, so the child may run Rust code.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork failed");
    if child == 0 {
        println!(
            "child {} pending before adopting {}",
            std::process::id(),
            atexit::pending()
        );
        if adopt {
            println!("child adopted {}", atexit::adopt_inherited());
        }
        atexit::register(|| println!("child's own handler ran in {}", std::process::id()));
        println!("child pending {}", atexit::pending());
        std::process::exit(0);
    }
    let mut status = 0;
    // SAFETY: `child` is our child's pid and `status` a valid place to store its status.
    let waited = unsafe { libc::waitpid(child, &mut status, 0) };
    assert_eq!(waited, child);
    println!("child exited with {}", libc::WEXITSTATUS(status));
}
