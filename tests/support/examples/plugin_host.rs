//! Loads the plugin shared library given as argument, lets it register handlers,
//! unloads it, then exits: the plugin's handlers run when it is unloaded, and the
//! host's own at exit, with nothing of the unloaded code left to crash the process,
//! even a panic (with `panic`, the host panics after the unload), and even when the
//! plugin set a handler timeout (with `watched`), which elsewhere starts a thread.

use std::ffi::CString;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: plugin_host PATH [panic]");
    let mode = args.next().unwrap_or_default();
    let panic_after = mode == "panic";
    atexit::register(|| println!("host: handler ran"));
    let path = CString::new(path).expect("a path without NUL");
    // SAFETY: `path` is a valid C string; the library is the test plugin, whose
    // constructors only install its runtime's exit hook.
    let library = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW) };
    assert!(!library.is_null(), "dlopen failed");
    let call = |name: &std::ffi::CStr| {
        // SAFETY: the name is a valid C string and `library` a loaded library.
        let function = unsafe { libc::dlsym(library, name.as_ptr()) };
        assert!(!function.is_null(), "the plugin exports {name:?}");
        // SAFETY: the plugin declares each of these `extern "C" fn()`.
        let function: extern "C" fn() = unsafe { std::mem::transmute(function) };
        function();
    };
    if mode == "watched" {
        call(c"plugin_watch");
    }
    call(c"plugin_start");
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
