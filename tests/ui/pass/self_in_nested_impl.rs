// `Self` in an item nested in the body of a function marked on its own is that item's
// `Self`, not the function's: such handlers compile and run, whether the item is
// written out or passed to a macro.

use std::sync::atomic::{AtomicU32, Ordering};

static TOTAL: AtomicU32 = AtomicU32::new(0);

macro_rules! items {
    ($($item:item)*) => {
        $($item)*
    };
}

struct Service;

impl Service {
    #[atexit::on_exit]
    fn shutdown() {
        struct Counter {
            step: u32,
        }

        impl Counter {
            fn new() -> Self {
                Self { step: 1 }
            }

            fn add(&self) -> &Self {
                TOTAL.fetch_add(self.step, Ordering::SeqCst);
                self
            }
        }

        trait Twice {
            fn twice(&self) -> &Self;
        }

        impl Twice for Counter {
            fn twice(&self) -> &Self {
                self.add().add()
            }
        }

        Counter::new().twice();
    }
}

#[atexit::on_exit]
fn flush() {
    enum Step {
        Ten,
    }

    impl Step {
        fn value(&self) -> u32 {
            match self {
                Self::Ten => 10,
            }
        }
    }

    items! {
        struct Hundred;

        impl Hundred {
            const VALUE: u32 = 100;

            fn get() -> Self {
                Self
            }

            fn value(&self) -> u32 {
                Self::VALUE
            }
        }
    }

    TOTAL.fetch_add(Step::Ten.value() + Hundred::get().value(), Ordering::SeqCst);
}

fn main() {
    let mut names: Vec<String> = atexit::handlers()
        .iter()
        .map(|handler| handler.name().to_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].ends_with("::Service::shutdown"), "{names:?}");
    assert!(names[1].ends_with("::flush"), "{names:?}");
    atexit::run_exit_handlers();
    assert_eq!(TOTAL.load(Ordering::SeqCst), 112);
}
