//! Async cleanup in a tokio program: async handlers write a file with `tokio::fs` and
//! say goodbye to a peer over TCP, whichever way the program exits.
//!
//! ```text
//! cargo run --example async_cleanup --features tokio -- FILE ADDRESS [MODE]
//! ```
//!
//! MODE is how the program exits: `return` (from `#[tokio::main]`, the default),
//! `exit-in-task` (`std::process::exit` in a task on a runtime worker thread),
//! `exit-in-block-on` (`std::process::exit` inside `block_on` on the main thread),
//! `signal` (SIGTERM caught by `catch_signals` while the runtime is busy),
//! `no-runtime` (a program with no runtime of its own), `hung` (an async handler
//! that never completes, abandoned after the handler timeout) or `err` (an async
//! handler that returns `Err`).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

/// Where the handlers write, and whom they say goodbye to.
static SETTINGS: OnceLock<(PathBuf, String, String)> = OnceLock::new();

fn settings() -> &'static (PathBuf, String, String) {
    SETTINGS.get().expect("main sets the settings first")
}

/// Runs first: priority 10.
#[atexit::on_exit(priority = 10)]
async fn say_goodbye() -> std::io::Result<()> {
    let (_, address, _) = settings();
    let mut peer = tokio::net::TcpStream::connect(address).await?;
    peer.write_all(b"goodbye\n").await?;
    println!("async: said goodbye");
    Ok(())
}

#[atexit::on_exit]
fn sync_static() {
    println!("sync: static handler ran");
}

/// Declared after `sync_static`, so it runs before it.
#[atexit::on_exit]
async fn write_state() -> Result<(), String> {
    let (path, _, mode) = settings();
    if mode == "err" {
        return Err("the disk is full".into());
    }
    tokio::fs::write(path, "state flushed\n")
        .await
        .map_err(|error| error.to_string())?;
    println!("async: wrote the state file");
    Ok(())
}

fn register_dynamic(mode: &str) {
    atexit::register(|| println!("sync: dynamic handler ran"));
    atexit::register_async(async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        println!("async: dynamic handler ran");
    });
    if mode == "hung" {
        atexit::set_handler_timeout(Some(Duration::from_millis(300)));
        atexit::register_async(std::future::pending());
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(address)) = (args.next(), args.next()) else {
        eprintln!("usage: async_cleanup FILE ADDRESS [MODE]");
        std::process::exit(2);
    };
    let mode = args.next().unwrap_or_else(|| "return".into());
    SETTINGS
        .set((path.into(), address, mode.clone()))
        .expect("set once");
    register_dynamic(&mode);
    match mode.as_str() {
        "no-runtime" => {}
        "exit-in-task" | "exit-in-block-on" | "signal" => with_runtime(&mode),
        _ => tokio_main(),
    }
}

/// An ordinary `#[tokio::main]` program that returns.
#[tokio::main]
async fn tokio_main() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn with_runtime(mode: &str) {
    match mode {
        "exit-in-task" => {
            let _ = tokio::spawn(async { std::process::exit(3) }).await;
        }
        "exit-in-block-on" => std::process::exit(4),
        _ => {
            atexit::catch_signals().expect("signal handlers installed");
            // Keep the program's runtime busy on every thread it has.
            for _ in 0..2 {
                tokio::spawn(async {
                    loop {
                        std::thread::sleep(Duration::from_millis(10));
                        tokio::task::yield_now().await;
                    }
                });
            }
            // SAFETY: `raise` has no preconditions.
            unsafe { libc::raise(libc::SIGTERM) };
            std::thread::sleep(Duration::from_secs(30));
        }
    }
}
