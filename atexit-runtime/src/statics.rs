//! Handlers declared with `#[on_exit]`, gathered by the linker into one slice.
//!
//! Each element is a `static` that the attribute emits next to the function. Their
//! order in the slice is whatever the linker chose (it differs between debug and
//! release builds), so the exit order is computed from a key every element records:
//! its priority, then where it was declared.

use std::any::TypeId;
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
    state: AtomicU8,
}

/// What `describe` returns. Built only by the macro.
#[doc(hidden)]
pub struct StaticInfo {
    pub run: fn() -> Result<(), String>,
    pub function_type: fn() -> TypeId,
    pub name: &'static str,
    pub module_path: &'static str,
    pub file: &'static str,
    pub line: u32,
    pub column: u32,
    pub priority: i32,
}

impl StaticHandler {
    #[doc(hidden)]
    pub const fn new(describe: fn() -> StaticInfo) -> Self {
        StaticHandler {
            describe,
            state: AtomicU8::new(PENDING),
        }
    }

    pub(crate) fn info(&self) -> StaticInfo {
        (self.describe)()
    }

    pub(crate) fn priority(&self) -> i32 {
        self.info().priority
    }

    pub(crate) fn is_pending(&self) -> bool {
        self.state.load(Ordering::Acquire) == PENDING
    }

    /// Calls the function; an `Err` comes back as its message.
    pub(crate) fn call(&self) -> Result<(), String> {
        (self.info().run)()
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

impl StaticInfo {
    /// The crate that declared the handler.
    fn crate_name(&self) -> &'static str {
        // A crate name has no ':', and a one-byte pattern is a plain memchr.
        self.module_path.split(':').next().unwrap_or_default()
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

/// The `TypeId` of a function item, which identifies it for `unregister_fn`.
#[doc(hidden)]
pub fn type_id_of<F: 'static>(_: &F) -> TypeId {
    TypeId::of::<F>()
}

/// The static handlers in exit order: priority high to low, then the reverse of
/// declaration order. Sorted once, on first use, never before `main`.
pub(crate) fn exit_order() -> &'static [&'static StaticHandler] {
    static ORDER: OnceLock<Box<[&'static StaticHandler]>> = OnceLock::new();
    ORDER.get_or_init(sort_for_exit)
}

/// Sorts on integer keys: the (crate, file) pairs, few and mostly repeated in runs
/// (the linker keeps one object's elements together), are ranked first, so that the
/// thousands of handler comparisons never compare strings.
fn sort_for_exit() -> Box<[&'static StaticHandler]> {
    let infos: Vec<StaticInfo> = ATEXIT_V0_1_HANDLERS
        .iter()
        .map(StaticHandler::info)
        .collect();
    let mut sources: Vec<(&'static str, &'static str)> = Vec::new();
    let mut previous: Option<(&'static str, &'static str)> = None;
    for info in &infos {
        let source = (info.crate_name(), info.file);
        if previous != Some(source) {
            sources.push(source);
            previous = Some(source);
        }
    }
    sources.sort_unstable();
    sources.dedup();
    let mut keyed: Vec<(u128, &'static StaticHandler)> = infos
        .iter()
        .zip(ATEXIT_V0_1_HANDLERS.iter())
        .map(|(info, handler)| {
            let source = (info.crate_name(), info.file);
            let rank = sources.binary_search(&source).unwrap_or_default() as u128;
            // Flipping the sign bit orders i32s as u32s.
            let priority = u128::from((info.priority as u32) ^ (1 << 31));
            let key =
                priority << 96 | rank << 64 | u128::from(info.line) << 32 | u128::from(info.column);
            (key, handler)
        })
        .collect();
    keyed.sort_unstable_by_key(|&(key, _)| Reverse(key));
    keyed.into_iter().map(|(_, handler)| handler).collect()
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

/// Disables every pending handler declared on the function of type `function`.
pub(crate) fn disable_function(function: TypeId) -> usize {
    ATEXIT_V0_1_HANDLERS
        .iter()
        .filter(|handler| (handler.info().function_type)() == function && handler.disable())
        .count()
}

/// Disables every pending static handler.
pub(crate) fn disable_all() -> usize {
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
