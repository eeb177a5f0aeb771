//! Loads the plugin shared library given as argument, lets it register handlers,
//! unloads it, then exits: the plugin's handlers run when it is unloaded, and the
//! host's own at exit, with nothing of the unloaded code left to crash the process,
//! even a panic (with `panic`, the host panics after the unload), and even when the
//! plugin set a handler timeout (with `watched`), which elsewhere starts a thread,
//! and even when a handler of the plugin calls `atexit::exit` (with `exit`: the
//! process then ends with the plugin's code, without the host's handlers), and even
//! when a handler of the plugin runs the plugin's other handlers itself with
//! `run_exit_handlers` (with `nested`).
//!
//! Loading is `dlopen`/`dlclose` on Unix and `LoadLibraryW`/`FreeLibrary` on Windows.

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: plugin_host PATH [watched|panic|exit|nested]");
    let mode = args.next().unwrap_or_default();
    atexit::register(|| println!("host: handler ran"));
    let library = library::Library::open(&path);
    match mode.as_str() {
        "watched" => library.call(c"plugin_watch"),
        "exit" => {
            // The host's own run would then start a thread, which under the
            // loader's lock the unload holds would wait forever.
            atexit::set_handler_timeout(Some(std::time::Duration::from_secs(5)));
            library.call(c"plugin_exit_when_unloaded");
        }
        "nested" => library.call(c"plugin_run_nested_when_unloaded"),
        _ => {}
    }
    library.call(c"plugin_start");
    library.close();
    println!(
        "host: unloaded the plugin, {} handler pending",
        atexit::pending()
    );
    if mode == "panic" {
        panic!("the host panics after the unload");
    }
}

#[cfg(unix)]
mod library {
    use std::ffi::{c_void, CStr, CString};

    /// A loaded shared object.
    pub struct Library(*mut c_void);

    impl Library {
        pub fn open(path: &str) -> Library {
            let path = CString::new(path).expect("a path without NUL");
            // SAFETY: `path` is a valid C string; the library is the test plugin,
            // whose constructors only install its runtime's exit hook.
            let library = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW) };
            assert!(!library.is_null(), "dlopen failed");
            Library(library)
        }

        /// Calls the plugin's `extern "C" fn()` named `name`.
        pub fn call(&self, name: &CStr) {
            // SAFETY: the name is a valid C string and the library is loaded.
            let function = unsafe { libc::dlsym(self.0, name.as_ptr()) };
            assert!(!function.is_null(), "the plugin exports {name:?}");
            // SAFETY: the plugin declares each of these `extern "C" fn()`.
            let function: extern "C" fn() = unsafe { std::mem::transmute(function) };
            function();
        }

        pub fn close(self) {
            // SAFETY: nothing of the library is used after this.
            let closed = unsafe { libc::dlclose(self.0) };
            assert_eq!(closed, 0, "dlclose failed");
        }
    }
}

#[cfg(windows)]
mod library {
    use std::ffi::CStr;
    use std::os::windows::ffi::OsStrExt;

    use windows_sys::Win32::Foundation::{FreeLibrary, HMODULE};
    use windows_sys::Win32::System::LibraryLoader::{GetProcAddress, LoadLibraryW};

    /// A loaded DLL.
    pub struct Library(HMODULE);

    impl Library {
        pub fn open(path: &str) -> Library {
            let wide: Vec<u16> = std::ffi::OsStr::new(path)
                .encode_wide()
                .chain([0])
                .collect();
            // SAFETY: `wide` is a NUL-terminated UTF-16 path; the library is the test
            // plugin, whose initialisers only install its runtime's exit hook.
            let library = unsafe { LoadLibraryW(wide.as_ptr()) };
            assert!(!library.is_null(), "LoadLibraryW failed");
            Library(library)
        }

        /// Calls the plugin's `extern "C" fn()` named `name`.
        pub fn call(&self, name: &CStr) {
            // SAFETY: the name is a valid C string and the library is loaded.
            let function = unsafe { GetProcAddress(self.0, name.as_ptr().cast()) }
                .unwrap_or_else(|| panic!("the plugin exports {name:?}"));
            // SAFETY: the plugin declares each of these `extern "C" fn()`, which on
            // x86_64 Windows is the same calling convention as `system`.
            let function: extern "C" fn() = unsafe { std::mem::transmute(function) };
            function();
        }

        pub fn close(self) {
            // SAFETY: nothing of the library is used after this.
            let closed = unsafe { FreeLibrary(self.0) };
            assert_ne!(closed, 0, "FreeLibrary failed");
        }
    }
}
