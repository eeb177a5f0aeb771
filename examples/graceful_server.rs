//! A graceful stop in a tokio server: SIGTERM or Ctrl-C asks the server to stop, it
//! stops accepting connections, finishes the requests in flight and returns from
//! `main`; only then does the exit handler run, and the process dies by the signal.
//!
//! ```text
//! cargo run --example graceful_server --features tokio [-- ADDRESS]
//! ```
//!
//! Each request is one line; the answer comes in two parts a second apart, so that
//! a request can be in flight when the signal comes. `curl` or `nc ADDRESS` then
//! `kill -TERM PID` show it.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Runs after `main` has returned: the requests are finished by then, so closing
/// what they used (a pool, a log) races nothing.
#[atexit::on_exit]
fn close_the_pool() {
    println!(
        "on_exit: closing the pool after main returned ({:?})",
        atexit::exit_reason()
    );
}

async fn serve(socket: TcpStream) -> std::io::Result<()> {
    let (reader, mut writer) = socket.into_split();
    let mut request = String::new();
    BufReader::new(reader).read_line(&mut request).await?;
    println!("request started: {}", request.trim());
    writer.write_all(b"first half\n").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    writer.write_all(b"second half\n").await?;
    println!("request finished: {}", request.trim());
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    atexit::catch_signals()?;
    // Up to 20 s to drain after the signal; then the handlers run anyway.
    atexit::set_stop_grace(Some(Duration::from_secs(20)));

    let address = std::env::args().nth(1).unwrap_or("127.0.0.1:0".into());
    let listener = TcpListener::bind(address).await?;
    println!("listening on {}", listener.local_addr()?);

    let mut requests = JoinSet::new();
    loop {
        tokio::select! {
            _ = atexit::stopping() => break,
            accepted = listener.accept() => {
                let (socket, _) = accepted?;
                requests.spawn(serve(socket));
            }
        }
    }
    drop(listener);
    println!(
        "stop requested ({}): not accepting any more",
        atexit::stop_request().expect("the loop ends on a stop")
    );
    while let Some(request) = requests.join_next().await {
        if let Ok(Err(error)) = request {
            eprintln!("a request failed: {error}");
        }
    }
    // A future made after the request completes at once.
    atexit::stopping().await;
    println!("main: every request finished, returning");
    Ok(())
}
