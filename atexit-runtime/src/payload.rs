//! A type-erased `FnOnce() + Send` that stores closures of up to one word inline.
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

/// The operations a payload needs for its concrete closure type.
struct VTable {
    /// Moves the closure out of the word and calls it.
    call: unsafe fn(Word),
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
            f()
        },
        drop: |word| {
            // SAFETY: as for `call`.
            drop(unsafe { take::<F>(word) })
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

    /// Calls the closure, consuming it.
    pub(crate) fn call(self) {
        let this = mem::ManuallyDrop::new(self);
        // SAFETY: `vtable` belongs to the type stored in `word`, and `ManuallyDrop`
        // keeps `Drop` from taking the closure a second time.
        unsafe { (this.vtable.call)(this.word) }
    }

    /// The type name of the closure.
    pub(crate) fn type_name(&self) -> &'static str {
        (self.vtable.type_name)()
    }

    /// The type of the closure.
    pub(crate) fn type_id(&self) -> TypeId {
        (self.vtable.type_id)()
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
