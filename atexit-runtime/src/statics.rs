//! Handlers declared with `#[on_exit]`, gathered by the linker into one slice.
//!
//! Each element is a `static` that the attribute emits next to the function. Their
//! order in the slice is whatever the linker chose (it differs between debug and
//! release builds), so the exit order is sorted on a key each handler's `describe`
//! function gives: its priority, then where it was declared.

use std::any::type_name;
use std::cmp::Reverse;
use std::fmt::Display;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::OnceLock;

use linkme::distributed_slice;

use crate::hook;

/// Every `#[on_exit]` handler linked into the program.
#[distributed_slice]
pub static ATEXIT_V0_1_HANDLERS: [StaticHandler];

const PENDING: u8 = 0;
const DISABLED: u8 = 1;
const CLAIMED: u8 = 2;

/// How many elements left the `PENDING` state, so that `pending()` is O(1).
static CONSUMED: AtomicUsize = AtomicUsize::new(0);

/// Whether this process runs the static handlers (false in a forked child until it
/// adopts them).
static OWNED: AtomicBool = AtomicBool::new(true);
/// What `OWNED` was in the parent when this process was forked.
static OWNED_BY_PARENT: AtomicBool = AtomicBool::new(true);

/// One `#[on_exit]` function, as the attribute records it. Built only by the macro.
///
/// An element holds a single pointer: in a position-independent executable every
/// pointer stored in data is patched by the loader before `main`, so a thousand
/// handlers with several pointers each would slow down the start of the program.
/// Everything else comes from `describe`, which builds it in code.
#[doc(hidden)]
pub struct StaticHandler {
    describe: fn() -> StaticInfo,
    /// Read at every step of the exit run, so kept here rather than in `describe`.
    priority: i32,
    state: AtomicU8,
}

/// A handler's place in the exit order, packed into one integer so that sorting
/// compares integers: priority, then a hash of the crate's name and file path, then
/// line, then column. Built only by the macro, at compile time.
#[doc(hidden)]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OrderKey(u128);

impl OrderKey {
    #[doc(hidden)]
    pub const fn new(
        priority: i32,
        module_path: &str,
        manifest_dir: Option<&str>,
        file: &str,
        line: u32,
        column: u32,
    ) -> Self {
        // Flipping the sign bit orders i32s as u32s.
        let priority = (priority as u32 ^ (1 << 31)) as u128;
        let source = source_hash(module_path, package_relative(file, manifest_dir)) as u128;
        OrderKey(priority << 96 | source << 64 | (line as u128) << 32 | column as u128)
    }

    pub(crate) fn line(&self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// `file!()` is absolute for a dependency from a registry or a git checkout; relative
/// to its package, it is the same on every machine.
const fn package_relative<'a>(file: &'a str, manifest_dir: Option<&str>) -> &'a str {
    let Some(dir) = manifest_dir else {
        return file;
    };
    let (file_bytes, dir_bytes) = (file.as_bytes(), dir.as_bytes());
    if file_bytes.len() <= dir_bytes.len() + 1 || file_bytes[dir_bytes.len()] != b'/' {
        return file;
    }
    let mut index = 0;
    while index < dir_bytes.len() {
        if file_bytes[index] != dir_bytes[index] {
            return file;
        }
        index += 1;
    }
    // The cut is after an ASCII '/', so the rest is valid UTF-8.
    match std::str::from_utf8(file_bytes.split_at(dir_bytes.len() + 1).1) {
        Ok(relative) => relative,
        Err(_) => file,
    }
}

/// FNV-1a over the crate name (the first segment of the module path), a separator and
/// the file path: the same for every build of the same source. Two files whose hashes
/// collided would only have their handlers interleaved by line, still deterministically.
const fn source_hash(module_path: &str, file: &str) -> u32 {
    const PRIME: u32 = 0x0100_0193;
    let mut hash: u32 = 0x811c_9dc5;
    let crate_name = module_path.as_bytes();
    let mut index = 0;
    while index < crate_name.len() && crate_name[index] != b':' {
        hash = (hash ^ crate_name[index] as u32).wrapping_mul(PRIME);
        index += 1;
    }
    hash = (hash ^ 0xff).wrapping_mul(PRIME);
    let file = file.as_bytes();
    let mut index = 0;
    while index < file.len() {
        hash = (hash ^ file[index] as u32).wrapping_mul(PRIME);
        index += 1;
    }
    hash
}

/// What `describe` returns: the parts of a handler that hold pointers. Built only by
/// the macro.
#[doc(hidden)]
pub struct StaticInfo {
    pub run: fn() -> Result<(), String>,
    /// The function's path as `std::any::type_name` spells it, for `unregister_fn`.
    pub path: &'static str,
    pub name: &'static str,
    pub file: &'static str,
    pub order: OrderKey,
}

impl StaticHandler {
    #[doc(hidden)]
    pub const fn new(describe: fn() -> StaticInfo, priority: i32) -> Self {
        StaticHandler {
            describe,
            priority,
            state: AtomicU8::new(PENDING),
        }
    }

    pub(crate) fn info(&self) -> StaticInfo {
        (self.describe)()
    }

    pub(crate) fn priority(&self) -> i32 {
        self.priority
    }

    pub(crate) fn is_pending(&self) -> bool {
        self.state.load(Ordering::Acquire) == PENDING
    }

    /// Takes the handler for running; false if another run has it or it was disabled.
    pub(crate) fn claim(&self) -> bool {
        self.leave_pending(CLAIMED)
    }

    fn disable(&self) -> bool {
        self.leave_pending(DISABLED)
    }

    fn leave_pending(&self, to: u8) -> bool {
        let left = self
            .state
            .compare_exchange(PENDING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if left {
            CONSUMED.fetch_add(1, Ordering::Relaxed);
        }
        left
    }
}

/// Called by the code `#[on_exit]` generates, so that any binary with a static
/// handler links the exit hook's code as well.
#[doc(hidden)]
#[inline(never)]
pub fn link_exit_hook() {
    hook::ensure_installed();
}

/// Turns what an `#[on_exit]` function returns into the runtime's outcome.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[on_exit]` functions must return `()` or `Result<(), E>` with `E: Display`, not `{Self}`",
    label = "this return type is not supported"
)]
pub trait HandlerReturn {
    fn into_outcome(self) -> Result<(), String>;
}

impl HandlerReturn for () {
    fn into_outcome(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Display> HandlerReturn for Result<(), E> {
    fn into_outcome(self) -> Result<(), String> {
        self.map_err(|error| error.to_string())
    }
}

/// The path of a function item, as `type_name` spells it: what identifies a static
/// handler for `unregister_fn`. For a body moved into the nested handler function
/// (`HANDLER_FN` in the macro crate's `expand.rs`), the path of the function it was
/// written in.
#[doc(hidden)]
pub fn function_path<F>(_: &F) -> &'static str {
    let path = type_name::<F>();
    path.strip_suffix("::__atexit_handler").unwrap_or(path)
}

/// A static handler with what `describe` says of it, kept so that the exit run asks
/// each handler once.
pub(crate) struct Described {
    pub(crate) handler: &'static StaticHandler,
    pub(crate) info: StaticInfo,
}

/// The static handlers in exit order: priority high to low, then the reverse of
/// declaration order. Sorted once, on first use, never before `main`.
pub(crate) fn exit_order() -> &'static [Described] {
    static ORDER: OnceLock<Box<[Described]>> = OnceLock::new();
    ORDER.get_or_init(sort_for_exit)
}

fn sort_for_exit() -> Box<[Described]> {
    let mut order: Vec<Described> = ATEXIT_V0_1_HANDLERS
        .iter()
        .map(|handler| Described {
            handler,
            info: handler.info(),
        })
        .collect();
    // Handlers that one `macro_rules!` call declares share a position; their paths
    // tell them apart.
    order.sort_unstable_by(|a, b| {
        Reverse((a.info.order, a.info.path)).cmp(&Reverse((b.info.order, b.info.path)))
    });
    order.into_boxed_slice()
}

/// Whether this process runs the static handlers.
pub(crate) fn owned() -> bool {
    OWNED.load(Ordering::Acquire)
}

/// The number of static handlers that would run at exit.
pub(crate) fn pending() -> usize {
    if owned() {
        ATEXIT_V0_1_HANDLERS.len() - CONSUMED.load(Ordering::Relaxed)
    } else {
        0
    }
}

/// Disables every pending handler declared on the function at `path`; in a forked
/// child that did not adopt them, none: they are the parent's.
pub(crate) fn disable_function(path: &str) -> usize {
    if !owned() {
        return 0;
    }
    ATEXIT_V0_1_HANDLERS
        .iter()
        .filter(|handler| handler.info().path == path && handler.disable())
        .count()
}

/// Disables every pending static handler this process owns.
pub(crate) fn disable_all() -> usize {
    if !owned() {
        return 0;
    }
    ATEXIT_V0_1_HANDLERS
        .iter()
        .filter(|handler| handler.disable())
        .count()
}

/// Called in a forked child: the handlers belong to the parent from now on.
pub(crate) fn disown_after_fork() {
    OWNED_BY_PARENT.store(OWNED.load(Ordering::Relaxed), Ordering::Relaxed);
    OWNED.store(false, Ordering::Release);
}

/// Called by `adopt_inherited`: take back what the parent owned.
pub(crate) fn adopt() {
    OWNED.store(OWNED_BY_PARENT.load(Ordering::Relaxed), Ordering::Release);
}
