//! Cheat sheet 3, temporary files deleted at exit, whichever way the program exits.
//!
//! Usage: `temp_files DIR [exit|panic]`: creates `DIR/temp1.txt` and `DIR/temp2.txt`,
//! then returns from `main`, calls `std::process::exit(2)`, or panics.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn create_temp_file(path: PathBuf) -> std::io::Result<PathBuf> {
    fs::write(&path, "temp data")?;
    TEMP_FILES.lock().unwrap().push(path.clone());
    Ok(path)
}

#[atexit::on_exit]
fn cleanup_temp_files() -> std::io::Result<()> {
    for path in TEMP_FILES.lock().unwrap().drain(..) {
        if path.exists() {
            fs::remove_file(&path)?;
            println!("Removed: {}", path.display());
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    for name in ["temp1.txt", "temp2.txt"] {
        let path = create_temp_file(dir.join(name))?;
        println!("Created: {}", path.display());
    }
    match args.next().as_deref() {
        Some("exit") => std::process::exit(2),
        Some("panic") => panic!("something went wrong"),
        _ => {}
    }
    assert!(Path::new(&dir.join("temp1.txt")).exists());
    Ok(())
}
