//! Cheat sheet 8, a class method as the handler: an associated function, declared
//! with `#[on_exit]` inside an `impl` block that is itself marked `#[on_exit]`.

use std::sync::Mutex;

struct Service {
    name: String,
}

static INSTANCES: Mutex<Vec<Service>> = Mutex::new(Vec::new());

#[atexit::on_exit]
impl Service {
    fn start(name: &str) {
        INSTANCES
            .lock()
            .unwrap()
            .push(Service { name: name.into() });
    }

    fn cleanup(&self) {
        println!("Cleaning up {}", self.name);
    }

    #[on_exit]
    fn cleanup_all() {
        for instance in INSTANCES.lock().unwrap().iter() {
            instance.cleanup();
        }
    }
}

fn main() {
    Service::start("Service1");
    Service::start("Service2");
}
