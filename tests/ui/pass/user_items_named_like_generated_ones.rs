// Items of the user's named like those `#[on_exit]` generates keep their meaning in
// the user's code: in a priority, in a handler's body, in the rest of the module.
//
// Two names remain the attribute's: a bare `__atexit_handler` in the body or the
// priority of a function marked on its own is the nested function its body moves into
// (the runtime knows it by that name), hence `self::__atexit_handler` below; and the
// element's type, `__AtexitElement`, is in scope of the priority and the types.

#![allow(non_upper_case_globals)]

use std::sync::atomic::{AtomicI32, Ordering};

// Named like the items the attribute generates.
const __ATEXIT_PRIORITY: i32 = 1;
const __ATEXIT_ORDER: i32 = 2;
const fn __atexit_run() -> i32 {
    4
}
const fn __atexit_describe() -> i32 {
    8
}
const __ATEXIT_HANDLER: i32 = 16;
const fn __atexit_handler() -> i32 {
    32
}
// A static: a `let __atexit_path` next to it would not compile.
static __atexit_path: &str = "the user's path";

// Named like the element's associated items, and the items it generated before.
const PRIORITY: i32 = 64;
const ORDER: i32 = 128;
const fn run() -> i32 {
    256
}
const fn path() -> i32 {
    512
}
const fn describe() -> i32 {
    1024
}

const ALL: i32 = __ATEXIT_PRIORITY
    + __ATEXIT_ORDER
    + __atexit_run()
    + __atexit_describe()
    + __ATEXIT_HANDLER
    + __atexit_handler()
    + PRIORITY
    + ORDER
    + run()
    + path()
    + describe();

static RAN: AtomicI32 = AtomicI32::new(0);

#[atexit::on_exit(
    priority = __ATEXIT_PRIORITY
        + __ATEXIT_ORDER
        + __atexit_run()
        + __atexit_describe()
        + __ATEXIT_HANDLER
        + self::__atexit_handler()
        + PRIORITY
        + ORDER
        + run()
        + path()
        + describe()
)]
fn flush() {
    assert_eq!(__atexit_path, "the user's path");
    RAN.fetch_add(
        __ATEXIT_PRIORITY
            + __ATEXIT_ORDER
            + __atexit_run()
            + __atexit_describe()
            + __ATEXIT_HANDLER
            + self::__atexit_handler()
            + PRIORITY
            + ORDER
            + run()
            + path()
            + describe(),
        Ordering::SeqCst,
    );
}

struct Service;

impl Service {
    #[atexit::on_exit(priority = -__ATEXIT_PRIORITY - __atexit_run() - PRIORITY - run())]
    fn shutdown() {
        assert_eq!(__atexit_path, "the user's path");
        RAN.fetch_add(1, Ordering::SeqCst);
    }
}

struct Pool;

// The functions of a marked `impl` block keep their bodies: there, a bare
// `__atexit_handler` is the user's too.
#[atexit::on_exit]
impl Pool {
    #[on_exit(priority = __ATEXIT_ORDER + __atexit_handler() + ORDER + path())]
    fn close() {
        RAN.fetch_add(__atexit_handler() + describe(), Ordering::SeqCst);
    }
}

fn main() {
    let priority = |suffix: &str| {
        atexit::handlers()
            .iter()
            .find(|handler| handler.name().ends_with(suffix))
            .map(|handler| handler.priority())
    };
    assert_eq!(priority("::flush"), Some(ALL));
    assert_eq!(priority("::Service::shutdown"), Some(-1 - 4 - 64 - 256));
    assert_eq!(priority("::Pool::close"), Some(2 + 32 + 128 + 512));
    assert_eq!(atexit::handlers().len(), 3);
    atexit::run_exit_handlers();
    assert_eq!(RAN.load(Ordering::SeqCst), ALL + 1 + 32 + 1024);
    assert_eq!(__atexit_path, "the user's path");
}
