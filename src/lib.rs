//! (user guide: written below)

pub use atexit_macros::on_exit;
pub use atexit_runtime::*;

#[doc(hidden)]
pub use atexit_runtime::__private as __private_v0_1;
