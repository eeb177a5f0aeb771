//! Cheat sheet 6, a shutdown line appended to a log file.
//!
//! Usage: `shutdown_log FILE`.

use std::fs::OpenOptions;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "shutdown.log".into());
    atexit::register(move || {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("the log file opens");
        writeln!(
            log,
            "Program terminated at {seconds} (seconds since the Unix epoch)"
        )
        .expect("the log line is written");
    });
    println!("Working...");
}
