//! What `#[on_exit]` refuses: signatures the runtime cannot call, `impl` blocks it
//! cannot name the functions of, and `Self` where the expansion takes it away.

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::ToTokens;
use syn::{Attribute, Error, Result, ReturnType, Type};

use crate::item::{self, Function, ImplBlock, Member, Signature};
use crate::parse;

/// A handler is called with no arguments by the runtime, once, at exit.
pub fn check_signature(sig: &Signature) -> Result<()> {
    let inputs = sig.inputs.stream();
    if let Some(receiver) = receiver(&inputs) {
        return Err(Error::new_spanned(
            receiver,
            "`#[on_exit]` functions cannot take `self`: there is no value to call them on at exit; register a closure that owns the value with `atexit::register` instead",
        ));
    }
    if !inputs.is_empty() {
        return Err(Error::new_spanned(
            inputs,
            "`#[on_exit]` functions take no arguments; to pass values, register a closure with `atexit::register(move || ...)`",
        ));
    }
    if let Some(asyncness) = &sig.asyncness {
        if !cfg!(feature = "tokio") {
            return Err(Error::new_spanned(
                asyncness,
                "`#[on_exit] async fn` needs the `tokio` feature of `atexit`: `atexit = { version = \"0.1\", features = [\"tokio\"] }`",
            ));
        }
    }
    if let Some(unsafety) = &sig.unsafety {
        return Err(Error::new_spanned(
            unsafety,
            "`#[on_exit]` functions cannot be `unsafe`: the runtime has no way to uphold their contract",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(Error::new_spanned(
            &sig.generics,
            "`#[on_exit]` functions cannot be generic: a handler is one concrete function",
        ));
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        return Err(Error::new_spanned(
            where_clause,
            "`#[on_exit]` functions cannot have a `where` clause: a handler is one concrete function",
        ));
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        if !returns_unit_or_result(ty) {
            return Err(Error::new_spanned(
                ty,
                "`#[on_exit]` functions must return `()` or `Result<(), E>` with `E: Display`",
            ));
        }
    }
    Ok(())
}

/// The receiver the parameters begin with (`self`, `&mut self`, `self: Box<Self>`...):
/// the tokens of the first parameter, if it names `self` before any `:`.
fn receiver(inputs: &TokenStream) -> Option<TokenStream> {
    let first: Vec<TokenTree> = inputs
        .clone()
        .into_iter()
        .take_while(|token| !matches!(token, TokenTree::Punct(punct) if punct.as_char() == ','))
        .collect();
    let names_self = first
        .iter()
        .take_while(|token| !matches!(token, TokenTree::Punct(punct) if punct.as_char() == ':' ))
        .any(|token| matches!(token, TokenTree::Ident(ident) if ident == "self"));
    names_self.then(|| first.into_iter().collect())
}

/// `()`, or a path whose last segment is `Result` (so `io::Result<()>` and aliases
/// named `Result` pass here; the type checker checks the rest).
fn returns_unit_or_result(ty: &Type) -> bool {
    match ty {
        Type::Tuple(tuple) => tuple.elems.is_empty(),
        Type::Paren(inner) => returns_unit_or_result(&inner.elem),
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|segment| segment.ident == "Result")
        }
        _ => false,
    }
}

/// An `impl` block marked as a whole: its handlers are named through its type, after
/// the block, so the type must be one concrete type of this crate's.
pub fn check_impl(block: &ImplBlock) -> Result<()> {
    if let Some(trait_) = &block.trait_ {
        return Err(Error::new_spanned(
            trait_,
            "`#[on_exit]` goes on inherent `impl` blocks, not trait implementations",
        ));
    }
    if !block.generics.params.is_empty() {
        return Err(Error::new_spanned(
            &block.generics,
            "`#[on_exit]` cannot go on a generic `impl` block: a handler is one concrete function",
        ));
    }
    Ok(())
}

/// A function marked on its own has its body moved into a nested function, where
/// `Self` means nothing: refuse it at the first `Self`, in the return type or the body,
/// rather than let the compiler say it cannot use `Self` from an outer item. Items
/// nested in the body are skipped: a `Self` in them is theirs.
pub fn check_no_self(function: &Function) -> Result<()> {
    let output = match &function.sig.output {
        ReturnType::Type(_, ty) => ty.to_token_stream(),
        ReturnType::Default => TokenStream::new(),
    };
    let first = item::find_self(output).or_else(|| item::find_self(function.body.stream()));
    match first {
        Some(span) => Err(Error::new(
            span,
            "`Self` is not available in an `#[on_exit]` function marked on its own: mark its `impl` block `#[atexit::on_exit]` too, which allows it",
        )),
        None => Ok(()),
    }
}

/// The priority is evaluated in the element's own `impl` block (see `expand.rs`),
/// where `Self` would be the element's type, never the user's.
pub fn check_priority(priority: &TokenStream) -> Result<()> {
    match item::find_self(priority.clone()) {
        Some(span) => Err(Error::new(
            span,
            "`Self` is not available in the priority of an `#[on_exit]` function: name the type instead",
        )),
        None => Ok(()),
    }
}

/// Whether `ty` means the same written in the element as on the function: it does not
/// mention `Self` (outside any item nested in it), nor `impl Trait`, which only a
/// signature may hold.
pub fn can_be_named_outside(ty: &Type) -> bool {
    let tokens = ty.to_token_stream();
    item::find_self(tokens.clone()).is_none() && !item::mentions_impl_trait(tokens)
}

/// `#[on_exit]` once on an item: the attribute being expanded is not among `attrs`,
/// a second one is.
pub fn check_not_marked_again(attrs: &[Attribute]) -> Result<()> {
    match attrs.iter().find(|attr| parse::is_on_exit(attr.path())) {
        Some(second) => Err(Error::new_spanned(second, "`#[on_exit]` is given twice")),
        None => Ok(()),
    }
}

/// In a marked `impl` block, `#[on_exit]` on something other than a function.
pub fn check_not_marked_member(member: &Member) -> Result<()> {
    if member.sig.is_some() {
        return Ok(());
    }
    match member
        .attrs
        .iter()
        .find(|attr| parse::is_on_exit(attr.path()))
    {
        Some(mark) => Err(Error::new_spanned(
            mark,
            "`#[on_exit]` goes on a function: an associated function without receiver",
        )),
        None => Ok(()),
    }
}

/// A marked `impl` block in which no function is marked: if a function has an
/// attribute that may be `#[on_exit]` under another name, say so there.
pub fn no_marked_function(block: &ImplBlock) -> Error {
    let alias = block
        .members
        .iter()
        .filter(|member| member.sig.is_some())
        .find_map(|member| {
            member.attrs.iter().find(|attr| {
                attr.path()
                    .get_ident()
                    .is_some_and(|ident| !is_compiler_attribute(ident))
            })
        });
    match alias {
        Some(alias) => Error::new_spanned(
            alias,
            "inside an `impl` block marked `#[on_exit]`, handlers are marked `#[on_exit]` (or `#[path::on_exit]`): the block cannot tell an alias from another attribute, so write `#[on_exit]` here",
        ),
        None => Error::new_spanned(
            &block.self_ty,
            "this `impl` block has no function marked `#[on_exit]`",
        ),
    }
}

/// The compiler's own attributes on functions, which are no alias of `on_exit`.
pub fn is_compiler_attribute(ident: &Ident) -> bool {
    [
        "allow",
        "warn",
        "deny",
        "forbid",
        "expect",
        "deprecated",
        "must_use",
        "doc",
        "inline",
        "cold",
        "no_mangle",
        "export_name",
        "link_section",
        "used",
        "track_caller",
        "target_feature",
        "cfg",
        "cfg_attr",
        "instruction_set",
        "optimize",
        "coverage",
        "unsafe",
        "link_name",
    ]
    .iter()
    .any(|name| ident == name)
}
