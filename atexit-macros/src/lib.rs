//! The `#[on_exit]` attribute of the [`atexit`](https://docs.rs/atexit) crate, which
//! documents it. Depend on `atexit`: the code this generates refers to it.

#![warn(missing_docs)]

mod expand;
mod parse;
mod validate;

use proc_macro::TokenStream;

/// Runs the function when the process exits; see the `atexit` crate.
#[proc_macro_attribute]
pub fn on_exit(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::on_exit(args.into(), input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
