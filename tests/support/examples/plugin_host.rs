//! Loads the plugin shared library given as argument, lets it register handlers,
//! unloads it, then exits: the plugin's handlers run when it is unloaded, and the
//! host's own at exit, with nothing of the unloaded code left to crash the process,
//! even a panic (with `panic`, the host panics after the unload).

use std::ffi::CString;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: plugin_host PATH [panic]");
    let panic_after = args.next().is_some_and(|mode| mode == "panic");
    atexit::register(|| println!("host: handler ran"));
    let path = CString::new(path).expect("a path without NUL");
    // SAFETY: `path` is a valid C string; the library is the test plugin, whose
    // constructors only install its runtime's exit hook.
    let library = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW) };
    assert!(!library.is_null(), "dlopen failed");
    // SAFETY: the symbol name is a valid C string and `library` a loaded library.
    let start = unsafe { libc::dlsym(library, c"plugin_start".as_ptr()) };
    assert!(!start.is_null(), "the plugin exports plugin_start");
    // SAFETY: `plugin_start` is declared `extern "C" fn()` in the plugin.
    let start: extern "C" fn() = unsafe { std::mem::transmute(start) };
    start();
    // SAFETY: nothing of the library is used after this.
    let closed = unsafe { libc::dlclose(library) };
    assert_eq!(closed, 0, "dlclose failed");
    println!(
        "host: unloaded the plugin, {} handler pending",
        atexit::pending()
    );
    if panic_after {
        panic!("the host panics after the unload");
    }
}
