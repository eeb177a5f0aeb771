//! The `#[on_exit]` attribute of the [`atexit`](https://docs.rs/atexit) crate, which
//! documents it. Depend on `atexit`: the code this generates refers to it.

#![warn(missing_docs)]

mod expand;
mod item;
mod krate;
mod parse;
mod validate;

use proc_macro::TokenStream;

/// Runs the function when the process exits; see the `atexit` crate.
#[proc_macro_attribute]
pub fn on_exit(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::on_exit(args.into(), input.into(), expand::Placement::AsWritten)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// `#[on_exit]` moved after the attributes that followed it, once they have run. Not
/// public API: generated code reaches it through `atexit`'s private module.
#[doc(hidden)]
#[proc_macro_attribute]
pub fn on_exit_after_wrappers(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::on_exit(args.into(), input.into(), expand::Placement::Last)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
