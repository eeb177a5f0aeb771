//! Cheat sheet 9, the context manager: a resource released exactly once, at the end
//! of its scope, or at exit if the process ends while it is still in scope.
//!
//! Usage: `context_manager [exit]`; with `exit`, the process exits inside the scope.

struct Resource {
    name: String,
    _release: atexit::Guard,
}

fn acquire(name: &str) -> Resource {
    println!("Acquired {name}");
    let owned = name.to_owned();
    Resource {
        name: name.to_owned(),
        _release: atexit::guard(move || println!("Released {owned}")),
    }
}

fn main() {
    let exit_inside = std::env::args().nth(1).as_deref() == Some("exit");
    {
        let resource = acquire("scoped");
        println!("Using {}", resource.name);
    }
    println!("After the scope");

    let resource = acquire("long-lived");
    println!("Using {}", resource.name);
    if exit_inside {
        std::process::exit(4);
    }
    drop(resource);
    println!("Done");
}
