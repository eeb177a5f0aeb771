//! Handlers declared with `#[on_exit]`, gathered by the linker into one slice.
//!
//! Each element is a `static` that the attribute emits next to the function. Their
//! order in the slice is whatever the linker chose (it differs between debug and
//! release builds), so the runtime sorts them once on the [`OrderKey`] each element
//! holds, the first time it needs the order, never before `main`.

use std::any::type_name;
use std::fmt::Display;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::OnceLock;

use linkme::distributed_slice;

use crate::info::HandlerInfo;
use crate::order::{OrderKey, Rank, Registered};
#[cfg(feature = "tokio")]
use crate::payload::BoxFuture;

/// Every `#[on_exit]` handler linked into the program.
#[distributed_slice]
pub static ATEXIT_V0_1_HANDLERS: [StaticHandler];

/// One `#[on_exit]` function, as the attribute records it. Built only by the macro.
///
/// What the exit run needs is in the element itself, so that running a thousand
/// handlers does not call a thousand functions to ask. It holds one pointer, `entry`,
/// which both runs the handler and describes it: each pointer in an element is a
/// relocation the loader patches before `main` in a position-independent executable,
/// the largest part of what an element costs a program that never reports.
#[doc(hidden)]
pub struct StaticHandler {
    entry: fn(Request) -> Reply,
    order: OrderKey,
    state: AtomicU8,
    #[cfg(feature = "tokio")]
    is_async: bool,
}

/// What the runtime asks of a static handler's entry function. Built only by the
/// runtime.
#[doc(hidden)]
pub enum Request<'a> {
    /// Run the handler; an `async fn` gives its future instead.
    Run,
    /// Write what only reports need (names, file, path) into the slot.
    Describe(&'a mut Option<StaticInfo>),
}

/// What a static handler's entry function answers: two words, returned in registers,
/// so that the common answer, [`Reply::Done`], costs next to nothing (an error and an
/// async handler's future are boxed once more for that). Built only by the macro,
/// through [`Reply::finished`] and [`Reply::started`].
#[doc(hidden)]
pub enum Reply {
    /// To [`Request::Run`]: the handler returned `()` or `Ok(())`.
    Done,
    /// To [`Request::Run`]: the handler returned this error.
    Failed(Box<String>),
    /// To [`Request::Run`], from an `async fn`: the future to run.
    #[cfg(feature = "tokio")]
    Started(Box<BoxFuture<Result<(), String>>>),
    /// To [`Request::Describe`]: the slot is filled.
    Described,
}

impl Reply {
    /// How a handler that is not async ended.
    #[doc(hidden)]
    #[inline]
    pub fn finished(outcome: Result<(), String>) -> Self {
        match outcome {
            Ok(()) => Reply::Done,
            Err(message) => Reply::Failed(Box::new(message)),
        }
    }

    /// The future of an `async fn`.
    #[doc(hidden)]
    #[cfg(feature = "tokio")]
    pub fn started(future: BoxFuture<Result<(), String>>) -> Self {
        Reply::Started(Box::new(future))
    }

    /// How a handler that is not async ended, from its answer to [`Request::Run`].
    #[inline]
    pub(crate) fn into_outcome(self) -> Result<(), String> {
        match self {
            Reply::Done => Ok(()),
            Reply::Failed(message) => Err(*message),
            // The attribute's entry functions answer `Run` with one of the above, or,
            // for an `async fn`, which the run gives an executor, with its future.
            #[cfg(feature = "tokio")]
            Reply::Started(_) => unreachable!("an async handler was run as a sync one"),
            Reply::Described => unreachable!("a static handler answered a run with a description"),
        }
    }
}

/// What a handler's entry function describes: the parts of a handler that only
/// reports need. Built only by the macro.
#[doc(hidden)]
pub struct StaticInfo {
    /// The function's path as `std::any::type_name` spells it, for `unregister_fn`.
    pub path: &'static str,
    pub name: &'static str,
    pub file: &'static str,
}

/// The life of a static handler: it leaves `Pending` once, for good.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Pending = 0,
    /// Removed by `unregister_fn` or `clear`.
    Disabled = 1,
    /// Taken by an exit run.
    Claimed = 2,
}

/// How many elements left `State::Pending`, so that `pending()` is O(1).
static CONSUMED: AtomicUsize = AtomicUsize::new(0);

/// Whether this process runs the static handlers (false in a forked child until it
/// adopts them).
static OWNED: AtomicBool = AtomicBool::new(true);
/// What `OWNED` was in the parent when this process was forked.
#[cfg(unix)]
static OWNED_BY_PARENT: AtomicBool = AtomicBool::new(true);

impl StaticHandler {
    /// A handler whose entry function answers [`Request::Run`] with [`Reply::Done`]
    /// or [`Reply::Failed`].
    #[doc(hidden)]
    pub const fn new(entry: fn(Request) -> Reply, order: OrderKey) -> Self {
        StaticHandler {
            entry,
            order,
            state: AtomicU8::new(State::Pending as u8),
            #[cfg(feature = "tokio")]
            is_async: false,
        }
    }

    /// A handler whose entry function answers [`Request::Run`] with [`Reply::Started`]: an
    /// `async fn`.
    #[doc(hidden)]
    #[cfg(feature = "tokio")]
    pub const fn new_async(entry: fn(Request) -> Reply, order: OrderKey) -> Self {
        StaticHandler {
            is_async: true,
            ..StaticHandler::new(entry, order)
        }
    }

    pub(crate) fn is_pending(&self) -> bool {
        self.state.load(Ordering::Acquire) == State::Pending as u8
    }

    /// Takes the handler for running; false if another run has it or it was removed.
    pub(crate) fn claim(&self) -> bool {
        self.leave_pending(State::Claimed)
    }

    pub(crate) fn is_async(&self) -> bool {
        #[cfg(feature = "tokio")]
        return self.is_async;
        #[cfg(not(feature = "tokio"))]
        false
    }

    /// Runs the handler, or, if it is async, gives the future to run.
    #[inline]
    pub(crate) fn run(&self) -> Reply {
        (self.entry)(Request::Run)
    }

    fn describe(&self) -> StaticInfo {
        let mut slot = None;
        let _described = (self.entry)(Request::Describe(&mut slot));
        // The attribute's entry functions answer `Describe` by filling the slot.
        slot.expect("a static handler's entry function describes it")
    }

    fn path(&self) -> &'static str {
        self.describe().path
    }

    /// What reports and `handlers()` say of it, asked of the handler each time: only
    /// they need it.
    pub(crate) fn info(&self) -> HandlerInfo {
        let info = self.describe();
        HandlerInfo::new(
            info.name,
            self.order.priority(),
            info.file,
            self.order.line(),
            true,
            self.is_async(),
        )
    }

    /// Moves the handler out of `Pending`; false if it had left it already.
    fn leave_pending(&self, to: State) -> bool {
        let left = self
            .state
            .compare_exchange(
                State::Pending as u8,
                to as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if left {
            CONSUMED.fetch_add(1, Ordering::Relaxed);
        }
        left
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

/// The path of a function item, as `type_name` spells it: what identifies a static
/// handler for `unregister_fn`. For a body moved into the nested handler function
/// (`HANDLER_FN` in the macro crate), the path of the function it was written in; an
/// `async fn`'s body is a closure, which its nested items' paths name.
#[doc(hidden)]
pub fn function_path<F>(_: &F) -> &'static str {
    let path = type_name::<F>();
    path.strip_suffix("::{{closure}}::__atexit_handler")
        .or_else(|| path.strip_suffix("::__atexit_handler"))
        .unwrap_or(path)
}

/// The static handlers in exit order, greatest [`Rank`] first: by priority, then
/// the one declared last first.
pub(crate) struct ExitOrder(Box<[&'static StaticHandler]>);

impl ExitOrder {
    pub(crate) fn get(&self, position: usize) -> Option<&'static StaticHandler> {
        self.0.get(position).copied()
    }

    /// The rank of the handler at `position`: the last in exit order counts as the
    /// first registered.
    pub(crate) fn rank(&self, position: usize) -> Rank {
        Rank {
            priority: self.0[position].order.priority(),
            registered: Registered::BeforeMain(self.0.len() - 1 - position),
        }
    }

    pub(crate) fn ranked(&self) -> impl Iterator<Item = (Rank, &'static StaticHandler)> + '_ {
        (0..self.0.len()).map(|position| (self.rank(position), self.0[position]))
    }
}

/// The static handlers in exit order.
pub(crate) fn exit_order() -> &'static ExitOrder {
    static ORDER: OnceLock<ExitOrder> = OnceLock::new();
    ORDER.get_or_init(sort_for_exit)
}

/// Sorts the slice on the keys. The linker lays out the elements of each file in
/// declaration order, one run per file: a program whose handlers are in one file
/// (and so in order) pays a check, and others a merging sort, which takes the runs
/// as they are.
fn sort_for_exit() -> ExitOrder {
    let slice = &ATEXIT_V0_1_HANDLERS[..];
    if slice.windows(2).all(|pair| pair[0].order < pair[1].order) {
        return ExitOrder(slice.iter().rev().collect());
    }
    let mut order: Box<[&'static StaticHandler]> = slice.iter().collect();
    // Keys tie only past their fields' widths (or for two copies of one crate); the
    // paths then decide, asked only then.
    order.sort_by(|a, b| b.order.cmp(&a.order).then_with(|| b.path().cmp(a.path())));
    ExitOrder(order)
}

/// The static handlers this process runs, in exit order, pending or not.
pub(crate) fn owned_in_exit_order() -> impl Iterator<Item = (Rank, &'static StaticHandler)> {
    owned()
        .then(exit_order)
        .into_iter()
        .flat_map(ExitOrder::ranked)
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

/// Disables every pending handler declared on the function at `path`.
pub(crate) fn disable_function(path: &str) -> usize {
    owned_in_exit_order()
        .filter(|(_, handler)| {
            declares(handler.path(), path) && handler.leave_pending(State::Disabled)
        })
        .count()
}

/// Whether the handler declared at `declared` is the function at `path`. A function
/// of a generic `impl` is one handler for every instance (its body moved into a
/// nested function, which has no generics): `type_name` spells it `Gen<_>::f`, which
/// `Gen<u8>::f` and `Gen<Vec<u8>>::f` both are.
fn declares(declared: &str, path: &str) -> bool {
    let (declared, path) = (declared.as_bytes(), path.as_bytes());
    let (mut at_declared, mut at_path) = (0, 0);
    while at_declared < declared.len() {
        if declared[at_declared] == b'<' && is_any_instance(&declared[at_declared..]) {
            let (Some(skip_declared), Some(skip_path)) = (
                generic_arguments_len(&declared[at_declared..]),
                path.get(at_path..).and_then(generic_arguments_len),
            ) else {
                return false;
            };
            at_declared += skip_declared;
            at_path += skip_path;
            continue;
        }
        if path.get(at_path) != Some(&declared[at_declared]) {
            return false;
        }
        at_declared += 1;
        at_path += 1;
    }
    at_path == path.len()
}

/// Whether `text` starts with generic arguments that are all `_`: `<_>`, `<_, _>`.
fn is_any_instance(text: &[u8]) -> bool {
    generic_arguments_len(text).is_some_and(|len| {
        text[1..len - 1]
            .iter()
            .all(|&byte| matches!(byte, b'_' | b',' | b' '))
    })
}

/// The length of the `<...>` that `text` starts with, nested brackets included.
fn generic_arguments_len(text: &[u8]) -> Option<usize> {
    if text.first() != Some(&b'<') {
        return None;
    }
    let mut depth = 0usize;
    for (index, &byte) in text.iter().enumerate() {
        match byte {
            b'<' => depth += 1,
            // The arrow of a function type (`Gen<fn() -> u8>`) closes nothing.
            b'>' if index > 0 && text[index - 1] == b'-' => {}
            b'>' => {
                depth -= 1;
                if depth == 0 {
                    return Some(index + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Disables every pending static handler this process owns.
pub(crate) fn disable_all() -> usize {
    owned_in_exit_order()
        .filter(|(_, handler)| handler.leave_pending(State::Disabled))
        .count()
}

#[cfg(unix)]
/// Called before `fork()`: sorted now if not yet, so that a child never inherits the
/// sort half done by a thread that does not exist there.
pub(crate) fn before_fork() {
    exit_order();
}

#[cfg(unix)]
/// Called in a forked child: the handlers belong to the parent from now on.
pub(crate) fn after_fork_in_child() {
    OWNED_BY_PARENT.store(OWNED.load(Ordering::Relaxed), Ordering::Relaxed);
    OWNED.store(false, Ordering::Release);
}

#[cfg(unix)]
/// Called by `adopt_inherited`: takes back what the parent owned; returns how many
/// pending handlers that gave this process.
pub(crate) fn adopt() -> usize {
    if owned() || !OWNED_BY_PARENT.load(Ordering::Relaxed) {
        return 0;
    }
    OWNED.store(true, Ordering::Release);
    pending()
}

/// Keeps a slice element in the binary where the linker would drop it: GNU ld for
/// Windows (`x86_64-pc-windows-gnu`) removes, under `--gc-sections`, every section
/// nothing refers to, and the elements of a `linkme` slice are exactly that (linkme
/// issue #25: the slice is then empty, and no static handler runs). A constructor
/// that names the element is kept, and keeps it; it costs one empty call per handler
/// before `main`, on that target only. Used by the code `#[on_exit]` generates.
///
/// A `macro_rules!` macro rather than tokens of the attribute's, so that its
/// `link_section` is written in this crate's edition, not in the user's.
#[doc(hidden)]
#[macro_export]
macro_rules! __atexit_keep_linked_v0_1 {
    ($element:ident) => {
        #[cfg(all(windows, target_env = "gnu"))]
        const _: () = {
            extern "C" fn keep() {
                ::core::hint::black_box(&$element);
            }
            // The C runtime calls the functions in `.CRT$XCU` before `main`.
            #[used]
            #[link_section = ".CRT$XCU"]
            static KEEP: extern "C" fn() = keep;
        };
    };
}

#[cfg(test)]
mod tests {
    use super::declares;

    #[test]
    fn a_generic_impl_handler_is_every_instance_of_its_function() {
        assert!(declares("c::Gen<_>::stop", "c::Gen<u8>::stop"));
        assert!(declares(
            "c::Gen<_>::stop",
            "c::Gen<alloc::vec::Vec<u8>>::stop"
        ));
        assert!(declares("c::Two<_, _>::stop", "c::Two<u8, i8>::stop"));
        assert!(declares("c::Gen<_>::stop", "c::Gen<fn() -> u8>::stop"));
        assert!(!declares("c::Gen<_>::stop", "c::Gen<u8>::start"));
        assert!(!declares("c::Gen<_>::stop", "c::Other<u8>::stop"));
        assert!(declares("c::stop", "c::stop"));
        assert!(!declares("c::stop", "c::stop_all"));
        assert!(declares("c::Fixed<u8>::stop", "c::Fixed<u8>::stop"));
        assert!(!declares("c::Fixed<u8>::stop", "c::Fixed<i8>::stop"));
    }
}
