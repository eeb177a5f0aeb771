//! The one libc exit registration, the `fork` hooks and the panic hook: the top of
//! the runtime.
//!
//! A constructor installs both before `main`, doing constant work whatever the number
//! of handlers. The dynamic API installs them too on first use, in case the linker
//! dropped the constructor's object file; the code generated for every static handler
//! calls [`link_exit_hook`] as well, so a binary with static handlers always links
//! this file.

use std::sync::Once;

#[cfg(unix)]
use crate::fork;
use crate::{exit, report, threads};

static INSTALL: Once = Once::new();

// ctor's declarative form: its attribute form would build two more crates, a proc
// macro among them, for every user.
ctor::declarative::ctor! {
    #[ctor(unsafe)]
    fn install_before_main() {
        threads::mark_main();
        ensure_installed();
    }
}

/// Installs the exit hook and the fork hooks, once; a caller that finds them being
/// installed waits until they are.
#[inline]
pub(crate) fn ensure_installed() {
    if !INSTALL.is_completed() {
        INSTALL.call_once(install);
    }
}

/// Called by the code `#[on_exit]` generates, so that any binary with a static
/// handler links the exit hook's code as well.
#[doc(hidden)]
#[inline(never)]
pub fn link_exit_hook() {
    ensure_installed();
}

#[cold]
fn install() {
    let in_main_executable = exit_hook::in_main_executable();
    if !exit_hook::install(in_main_executable) {
        report::internal("could not install the exit hook: libc refused it");
    }
    #[cfg(unix)]
    {
        // SAFETY: the three callbacks are `extern "C" fn()`s that cannot unwind (they
        // take or release locks, move values and store atomics) and live as long as
        // the program.
        let installed = unsafe {
            libc::pthread_atfork(
                Some(fork::before_fork),
                Some(fork::after_fork_in_parent),
                Some(fork::after_fork_in_child),
            )
        };
        if installed != 0 {
            report::internal("could not install the fork hooks: pthread_atfork failed");
        }
    }
    exit::install_panic_hook();
    #[cfg(windows)]
    {
        process_detach::keep_callback();
        // The constructor runs on the main thread; a DLL's is not known to, and its
        // callback would outlive its code.
        if in_main_executable && threads::is_main() {
            process_detach::watch_main_thread();
        }
    }
}

/// Windows: `std::process::exit` calls `ExitProcess`, which skips the C runtime's
/// `atexit` table. Two callbacks then run the handlers that nothing else has run,
/// whichever comes first:
/// - the loader calls every TLS callback with `DLL_PROCESS_DETACH` on `ExitProcess`
///   (not on `TerminateProcess`, `abort` or a crash; Wine does not call it);
/// - Windows and Wine call the fiber-local storage callbacks of the thread that
///   calls `ExitProcess`: one is set on the main thread.
///
/// So under Wine, `std::process::exit` on a thread other than the main one runs no
/// handler; `atexit::exit` is the path that always works.
#[cfg(windows)]
mod process_detach {
    use std::ffi::c_void;

    use windows_sys::Win32::System::SystemServices::DLL_PROCESS_DETACH;
    use windows_sys::Win32::System::Threading::{FlsAlloc, FlsSetValue, FLS_OUT_OF_INDEXES};

    use crate::{exit, report, threads};

    /// Gives the calling thread, the main one, a fiber-local value whose callback
    /// runs the handlers when the thread ends with the process: on return from
    /// `main` the C runtime's `exit` has run them already, and after `ExitProcess`
    /// this is what runs them (a fiber the main thread switched to has no such value:
    /// then only the TLS callback does).
    pub(super) fn watch_main_thread() {
        // SAFETY: the callback is an `extern "system"` function that lives as long as
        // the program (this is the main executable) and never unwinds (the run
        // catches every panic).
        let index = unsafe { FlsAlloc(Some(on_main_thread_end)) };
        if index == FLS_OUT_OF_INDEXES {
            report::internal("could not watch the main thread: no fiber-local slot left");
            return;
        }
        // SAFETY: `index` was just allocated; the value is only a non-null marker
        // (the callback runs only for non-null values) and is never dereferenced.
        if unsafe { FlsSetValue(index, std::ptr::NonNull::<u8>::dangling().as_ptr().cast()) } == 0 {
            report::internal("could not watch the main thread: FlsSetValue failed");
        }
    }

    unsafe extern "system" fn on_main_thread_end(_: *const c_void) {
        if !threads::others_were_ended() {
            // The main thread ended alone (`ExitThread`): the process goes on, and
            // its exit runs the handlers later, through the C runtime or the TLS
            // callback.
            return;
        }
        exit::at_process_detach();
    }

    extern "C" {
        /// The C runtime's TLS directory, which holds the callbacks.
        #[link_name = "_tls_used"]
        static TLS_USED: u8;
    }

    /// Keeps the TLS directory and the callback from being dropped by the linker
    /// and the compiler, which see nothing that uses them: one volatile read of each,
    /// as `std` does for its own callback.
    pub(super) fn keep_callback() {
        // SAFETY: both are statics that live as long as the program; reading a byte
        // of one and the pointer of the other has no effect.
        unsafe {
            std::ptr::addr_of!(TLS_USED).read_volatile();
            std::ptr::addr_of!(ON_PROCESS_DETACH).read_volatile();
        }
    }

    /// Placed where the linker gathers TLS callbacks, as `std` does for its own.
    #[used]
    #[link_section = ".CRT$XLB"]
    static ON_PROCESS_DETACH: unsafe extern "system" fn(*mut c_void, u32, *mut c_void) =
        on_tls_event;

    unsafe extern "system" fn on_tls_event(_: *mut c_void, reason: u32, _: *mut c_void) {
        if reason == DLL_PROCESS_DETACH {
            // Also called when a DLL copy of the runtime is freed, while the
            // process's other threads live on.
            exit::at_process_detach();
        }
    }
}

/// The libc registration that runs the exit handlers.
mod exit_hook {
    use crate::exit;

    /// Registers the exit hook; false if the C library refused.
    pub(super) fn install(in_main_executable: bool) -> bool {
        if !in_main_executable {
            // In a shared object, the C library runs the hook when the object is
            // unloaded (glibc: `dlclose`; Windows: `FreeLibrary`, and the TLS
            // callback then too), under the loader's lock.
            exit::start_no_threads();
        } else {
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            // SAFETY: `at_exit_with_status` is an `extern "C"` function that never
            // unwinds (the run catches every panic) and lives as long as the program,
            // which its code is part of; it does not use its argument.
            return unsafe { on_exit(at_exit_with_status, std::ptr::null_mut()) } == 0;
        }
        // SAFETY: `at_exit` is an `extern "C" fn()` that never unwinds (the run
        // catches every panic). In a shared object, the C library runs it when the
        // object is unloaded, while its code is still there.
        unsafe { libc::atexit(at_exit) == 0 }
    }

    extern "C" fn at_exit() {
        exit::at_process_exit(None);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    extern "C" {
        /// glibc's `on_exit`, which the `libc` crate does not declare: like `atexit`,
        /// but the function is given the status passed to `exit`.
        fn on_exit(
            function: extern "C" fn(libc::c_int, *mut libc::c_void),
            argument: *mut libc::c_void,
        ) -> libc::c_int;
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    extern "C" fn at_exit_with_status(status: libc::c_int, _: *mut libc::c_void) {
        exit::at_process_exit(Some(status));
    }

    /// Whether this code is part of the main executable rather than a shared object.
    /// glibc ties an `atexit` registration made in a shared object to it and runs it
    /// when the object is unloaded, but not an `on_exit` one, which would then point
    /// into unmapped code at exit.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    pub(super) fn in_main_executable() -> bool {
        let object_of = |address: *const libc::c_void| {
            let mut info = std::mem::MaybeUninit::<libc::Dl_info>::uninit();
            // SAFETY: `dladdr` only reads the address and fills `info` in; it
            // returns 0 when it does not know the address, and `info` is then unused.
            let found = unsafe { libc::dladdr(address, info.as_mut_ptr()) } != 0;
            // SAFETY: `dladdr` returned non-zero, so it filled `info` in.
            found.then(|| unsafe { info.assume_init() }.dli_fbase)
        };
        // SAFETY: `getauxval` has no preconditions; `AT_PHDR` is the address of the
        // main executable's program headers, which lie inside its mapping.
        let main_headers = unsafe { libc::getauxval(libc::AT_PHDR) } as *const libc::c_void;
        let here = at_exit_with_status as *const libc::c_void;
        matches!((object_of(here), object_of(main_headers)), (Some(a), Some(b)) if a == b)
    }

    /// Whether this code is part of the program's `.exe` rather than a DLL: the
    /// module that holds this function against the one the process started from.
    #[cfg(windows)]
    pub(super) fn in_main_executable() -> bool {
        use windows_sys::Win32::System::LibraryLoader::{
            GetModuleHandleExW, GetModuleHandleW, GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
            GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
        };
        let mut here = std::ptr::null_mut();
        // SAFETY: with FROM_ADDRESS the "name" is an address inside a module (this
        // function's code); UNCHANGED_REFCOUNT takes no reference, so there is
        // nothing to release; `here` is a valid place for the handle.
        let found = unsafe {
            GetModuleHandleExW(
                GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS
                    | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                (in_main_executable as *const ()).cast(),
                &mut here,
            )
        } != 0;
        // SAFETY: a null name asks for the module the process was started from,
        // with no reference taken.
        let main = unsafe { GetModuleHandleW(std::ptr::null()) };
        // Unknown is treated as a DLL: a callback or a thread of a DLL's copy could
        // outlive its code, while a program's copy only loses threads.
        found && here == main
    }

    /// Elsewhere the runtime assumes it is in the main executable: musl never
    /// unloads a shared object (its `dlclose` does nothing), so an `atexit` made in
    /// one runs at process exit with its code still there, where threads may start.
    /// What macOS does with the registration of a dylib that is unloaded is not
    /// verified here (nothing runs there).
    #[cfg(not(any(all(target_os = "linux", target_env = "gnu"), windows)))]
    pub(super) fn in_main_executable() -> bool {
        true
    }
}
