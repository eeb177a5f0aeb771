//! A type-erased `FnOnce() + Send`, or with the `tokio` feature a boxed
//! `Future<Output = ()> + Send`, that stores closures of up to one word inline.
//!
//! The registry keeps one [`Payload`] per dynamic handler. A `Box<dyn FnOnce()>` would
//! cost a heap allocation for every closure that captures anything, which doubles the
//! memory of a registry holding a million handlers compared with libc's own `atexit`.
//! Most exit closures capture one pointer (an `Arc`, a `&'static`, a `Box`), so that
//! case is stored in place and everything larger is boxed.

use std::any::{type_name, TypeId};
use std::marker::PhantomData;
use std::mem::{self, MaybeUninit};
use std::ptr;

/// One pointer's worth of storage, the inline capacity of a payload. A pointer, not
/// an integer, so that a boxed closure's address keeps its provenance.
type Word = MaybeUninit<*mut ()>;

/// A future an async handler runs to completion.
#[cfg(feature = "tokio")]
#[doc(hidden)]
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// What calling a payload gives.
pub(crate) enum Called {
    /// The closure ran.
    Done,
    /// The future of an async handler, not polled yet.
    #[cfg(feature = "tokio")]
    Future(BoxFuture<()>),
}

/// The operations a payload needs for its concrete closure type.
struct VTable {
    /// Moves the closure out of the word and calls it, or the future out to be run.
    call: unsafe fn(Word) -> Called,
    /// Whether `call` gives a future.
    is_async: bool,
    /// Moves the closure out of the word and drops it.
    drop: unsafe fn(Word),
    /// The closure's type name, the default name of a dynamic handler.
    type_name: fn() -> &'static str,
    /// The closure's type, which `unregister_fn` matches function items against.
    type_id: fn() -> TypeId,
}

/// Whether `F` is stored in the word itself rather than behind a `Box`.
const fn fits_inline<F>() -> bool {
    mem::size_of::<F>() <= mem::size_of::<Word>() && mem::align_of::<F>() <= mem::align_of::<Word>()
}

/// Writes `f` into a word: in place when it fits, otherwise as a `Box` pointer.
fn store<F>(f: F) -> Word {
    let mut word = Word::uninit();
    if fits_inline::<F>() {
        // SAFETY: `fits_inline` checked that `F` fits in a word and needs no stricter
        // alignment, so the word's storage is a valid place to write one `F`.
        unsafe { ptr::write(word.as_mut_ptr().cast::<F>(), f) };
    } else {
        word.write(Box::into_raw(Box::new(f)).cast());
    }
    word
}

/// Moves the `F` that [`store`] wrote back out of the word.
///
/// # Safety
/// `word` must come from `store::<F>` with this very `F`, and be taken only once.
unsafe fn take<F>(word: Word) -> F {
    if fits_inline::<F>() {
        // SAFETY: the caller guarantees that `store::<F>` wrote an `F` in place here,
        // and that it has not been moved out before.
        unsafe { ptr::read(word.as_ptr().cast::<F>()) }
    } else {
        // SAFETY: `store::<F>` wrote the pointer of a leaked `Box<F>` here; the caller
        // guarantees this is the only time it is turned back into a box.
        unsafe { *Box::from_raw(word.assume_init().cast::<F>()) }
    }
}

/// The vtable of one closure type, promoted to a `'static` constant.
struct VTableOf<F>(PhantomData<fn() -> F>);

impl<F: FnOnce() + Send + 'static> VTableOf<F> {
    const VTABLE: VTable = VTable {
        call: |word| {
            // SAFETY: a `VTableOf<F>` is only attached to words made by `store::<F>`,
            // and `Payload` calls `call` or `drop` once.
            let f = unsafe { take::<F>(word) };
            f();
            Called::Done
        },
        is_async: false,
        drop: |word| {
            // SAFETY: as for `call`.
            drop(unsafe { take::<F>(word) })
        },
        type_name: type_name::<F>,
        type_id: TypeId::of::<F>,
    };
}

/// The vtable of one future type, stored as a `Box` of it.
#[cfg(feature = "tokio")]
struct AsyncVTableOf<F>(PhantomData<fn() -> F>);

#[cfg(feature = "tokio")]
impl<F: std::future::Future<Output = ()> + Send + 'static> AsyncVTableOf<F> {
    const VTABLE: VTable = VTable {
        call: |word| {
            // SAFETY: an `AsyncVTableOf<F>` is only attached to words made by
            // `store::<Box<F>>`, and `Payload` calls `call` or `drop` once.
            let future = unsafe { take::<Box<F>>(word) };
            Called::Future(Box::into_pin(future))
        },
        is_async: true,
        drop: |word| {
            // SAFETY: as for `call`.
            drop(unsafe { take::<Box<F>>(word) })
        },
        type_name: type_name::<F>,
        type_id: TypeId::of::<F>,
    };
}

/// A closure waiting to run, two words in size.
pub(crate) struct Payload {
    vtable: &'static VTable,
    word: Word,
}

// SAFETY: a payload owns exactly one `F: Send` (in place, or boxed behind the pointer
// that makes the type `!Send` by default) and no other state, so moving it to another
// thread moves only that `F`.
unsafe impl Send for Payload {}

impl Payload {
    pub(crate) fn new<F: FnOnce() + Send + 'static>(f: F) -> Self {
        Payload {
            vtable: &VTableOf::<F>::VTABLE,
            word: store(f),
        }
    }

    /// An async handler's future, boxed once, stored in place as that box.
    #[cfg(feature = "tokio")]
    pub(crate) fn new_async<F: std::future::Future<Output = ()> + Send + 'static>(
        future: F,
    ) -> Self {
        Payload {
            vtable: &AsyncVTableOf::<F>::VTABLE,
            word: store(Box::new(future)),
        }
    }

    /// Calls the closure, consuming it; an async handler's future is given back, to
    /// be run.
    pub(crate) fn call(self) -> Called {
        let this = mem::ManuallyDrop::new(self);
        // SAFETY: `vtable` belongs to the type stored in `word`, and `ManuallyDrop`
        // keeps `Drop` from taking the closure a second time.
        unsafe { (this.vtable.call)(this.word) }
    }

    /// Whether this is an async handler's future.
    pub(crate) fn is_async(&self) -> bool {
        self.kind().is_async()
    }

    /// The type name of the closure.
    pub(crate) fn type_name(&self) -> &'static str {
        self.kind().type_name()
    }

    /// What kind of closure this is, as a value of its own.
    pub(crate) fn kind(&self) -> Kind {
        Kind(self.vtable)
    }
}

/// What kind of closure a payload holds (its type's name and identity, whether it is
/// a future), apart from the closure: one pointer to static data, which a reader may
/// copy while the payload itself belongs to another thread.
#[derive(Clone, Copy)]
pub(crate) struct Kind(&'static VTable);

impl Kind {
    pub(crate) fn is_async(self) -> bool {
        self.0.is_async
    }

    pub(crate) fn type_name(self) -> &'static str {
        (self.0.type_name)()
    }

    pub(crate) fn type_id(self) -> TypeId {
        (self.0.type_id)()
    }

    /// The kind as a raw pointer, to keep in an `AtomicPtr`.
    pub(crate) fn into_raw(self) -> *mut () {
        ptr::from_ref(self.0).cast_mut().cast()
    }

    /// The kind `into_raw` gave.
    ///
    /// # Safety
    /// `raw` must come from [`Kind::into_raw`].
    pub(crate) unsafe fn from_raw(raw: *mut ()) -> Kind {
        // SAFETY: the caller guarantees that `raw` is the address of a `&'static
        // VTable`, which lives for the whole program and is never written.
        Kind(unsafe { &*raw.cast_const().cast::<VTable>() })
    }
}

impl Drop for Payload {
    fn drop(&mut self) {
        // SAFETY: `vtable` belongs to the type stored in `word`; `call` forgets `self`,
        // so a payload reaching `drop` still owns its closure.
        unsafe { (self.vtable.drop)(self.word) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn payload_is_two_words() {
        assert_eq!(mem::size_of::<Payload>(), 2 * mem::size_of::<usize>());
        assert_eq!(
            mem::size_of::<Option<Payload>>(),
            2 * mem::size_of::<usize>()
        );
    }

    #[test]
    fn calls_inline_and_boxed_closures_once() {
        let count = Arc::new(AtomicUsize::new(0));
        let small = {
            let count = Arc::clone(&count);
            move || {
                count.fetch_add(1, Ordering::SeqCst);
            }
        };
        let big = {
            let count = Arc::clone(&count);
            let padding = [7u64; 4];
            move || {
                count.fetch_add(padding[0] as usize, Ordering::SeqCst);
            }
        };
        assert!(fits_inline::<Arc<AtomicUsize>>());
        Payload::new(small).call();
        Payload::new(big).call();
        assert!(!Payload::new(|| {}).is_async());
        assert_eq!(count.load(Ordering::SeqCst), 8);
        assert_eq!(Arc::strong_count(&count), 1, "every capture was released");
    }

    #[test]
    fn dropping_releases_the_capture_without_calling() {
        let count = Arc::new(AtomicUsize::new(0));
        for padding in [None, Some([1u64; 8])] {
            let count2 = Arc::clone(&count);
            let payload = Payload::new(move || {
                let _ = padding;
                count2.fetch_add(1, Ordering::SeqCst);
            });
            drop(payload);
        }
        assert_eq!(count.load(Ordering::SeqCst), 0);
        assert_eq!(Arc::strong_count(&count), 1);
    }

    #[test]
    fn reports_the_closure_type_name() {
        fn named() {}
        assert!(Payload::new(named).type_name().ends_with("named"));
    }
}
