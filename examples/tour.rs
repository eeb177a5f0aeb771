use std::time::Duration;

#[atexit::on_exit]
fn first_declared() {
    println!("static: first declared, runs last");
}

#[atexit::on_exit(priority = 10, name = "flush-logs")]
fn flush() -> Result<(), String> {
    println!("static: priority 10 runs first");
    Ok(())
}

#[atexit::on_exit]
fn fails() -> std::io::Result<()> {
    Err(std::io::Error::other("disk full"))
}

struct Service;

#[atexit::on_exit]
impl Service {
    #[on_exit(priority = 5)]
    fn cleanup_all() {
        println!("Service::cleanup_all {}", Self::NAME);
    }
    const NAME: &'static str = "svc";
}

fn main() {
    atexit::register(|| println!("dynamic: registered first"));
    atexit::register(|| panic!("boom"));
    atexit::register(|| println!("dynamic: registered last"));
    println!("{}", atexit::HandlerInfo::table(&atexit::handlers()));
    let _ = Duration::ZERO;
    if std::env::args().nth(1).as_deref() == Some("exit") {
        std::process::exit(3);
    }
}
