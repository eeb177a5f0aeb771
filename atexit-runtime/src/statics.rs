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
#[doc(hidden)]
pub struct StaticHandler {
    run: fn() -> Result<(), String>,
    function_type: fn() -> TypeId,
    name: &'static str,
    module_path: &'static str,
    file: &'static str,
    line: u32,
    column: u32,
    priority: i32,
    state: AtomicU8,
    /// Keeps the exit hook linked into every binary that has a static handler.
    _hook: &'static hook::Anchor,
}

impl StaticHandler {
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub const fn new(
        run: fn() -> Result<(), String>,
        function_type: fn() -> TypeId,
        name: &'static str,
        module_path: &'static str,
        file: &'static str,
        line: u32,
        column: u32,
        priority: i32,
    ) -> Self {
        StaticHandler {
            run,
            function_type,
            name,
            module_path,
            file,
            line,
            column,
            priority,
            state: AtomicU8::new(PENDING),
            _hook: &hook::ANCHOR,
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn file(&self) -> &'static str {
        self.file
    }

    pub(crate) fn line(&self) -> u32 {
        self.line
    }

    pub(crate) fn priority(&self) -> i32 {
        self.priority
    }

    pub(crate) fn is_pending(&self) -> bool {
        self.state.load(Ordering::Acquire) == PENDING
    }

    /// Calls the function; an `Err` comes back as its message.
    pub(crate) fn call(&self) -> Result<(), String> {
        (self.run)()
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

    /// The crate that declared the handler.
    fn crate_name(&self) -> &'static str {
        self.module_path.split("::").next().unwrap_or_default()
    }

    /// Declaration order: crate, then file, then position in the file.
    fn declaration_key(&self) -> (&'static str, &'static str, u32, u32) {
        (self.crate_name(), self.file, self.line, self.column)
    }
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
    ORDER.get_or_init(|| {
        let mut keyed: Vec<_> = ATEXIT_V0_1_HANDLERS
            .iter()
            .map(|handler| {
                (
                    Reverse((handler.priority, handler.declaration_key())),
                    handler,
                )
            })
            .collect();
        // Keys are unique (no two handlers share a position), so stability is moot.
        keyed.sort_unstable_by_key(|&(key, _)| key);
        keyed.into_iter().map(|(_, handler)| handler).collect()
    })
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
        .filter(|handler| (handler.function_type)() == function && handler.disable())
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
