//! Cheat sheet 4, a database connection closed at exit.
//!
//! Python registers the bound method `self.disconnect`. In Rust the handler must own
//! what it uses, so the connection state is shared (`Arc`) between the `Database`
//! value and its exit handler, and disconnecting twice is harmless.

use std::sync::{Arc, Mutex};

struct Connection {
    name: String,
    connected: bool,
}

impl Connection {
    fn disconnect(&mut self) {
        if self.connected {
            println!("Disconnecting from {}", self.name);
            self.connected = false;
        }
    }
}

struct Database {
    connection: Arc<Mutex<Connection>>,
}

impl Database {
    fn connect(name: &str) -> Self {
        println!("Connected to {name}");
        let connection = Arc::new(Mutex::new(Connection {
            name: name.to_owned(),
            connected: true,
        }));
        let at_exit = Arc::clone(&connection);
        atexit::register(move || at_exit.lock().unwrap().disconnect());
        Database { connection }
    }

    fn query(&self, sql: &str) {
        let connection = self.connection.lock().unwrap();
        assert!(connection.connected);
        println!("Using database {}: {sql}", connection.name);
    }
}

fn main() {
    let db = Database::connect("mydb");
    db.query("SELECT 1");
    // No explicit disconnect: it happens at exit.
}
