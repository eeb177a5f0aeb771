//! Generates the code for `#[on_exit]`: the function as written, plus one element of
//! the runtime's link-time slice describing it.
//!
//! The attribute cannot tell whether a function sits in a module or in an `impl`
//! block, and a `static` is not allowed in an `impl`. So the element goes inside the
//! function's own body, which is valid in both places, and the body moves into a
//! nested function the element can name (`HANDLER_FN`). An `impl` block marked
//! `#[on_exit]` as a whole knows its type, so its elements go after the block and
//! name the functions through it, which lets their bodies use `Self`.

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{
    Attribute, Error, ImplItem, Item, ItemFn, ItemImpl, Result, ReturnType, Signature, Type,
};

use crate::args::Args;

/// The facade's hidden, versioned module that generated code goes through.
fn private() -> TokenStream {
    quote!(::atexit::__private_v0_1)
}

pub fn on_exit(args: TokenStream, item: TokenStream) -> Result<TokenStream> {
    match syn::parse2::<Item>(item)? {
        Item::Fn(function) => {
            let args: Args = syn::parse2(args)?;
            check_signature(&function.sig)?;
            expand_fn(&args, function)
        }
        Item::Impl(block) => {
            if !args.is_empty() {
                return Err(Error::new_spanned(
                    args,
                    "`#[on_exit]` on an `impl` block takes no options: give them to the functions marked inside",
                ));
            }
            expand_impl(block)
        }
        other => Err(Error::new_spanned(
            other,
            "`#[on_exit]` goes on a function, or on an `impl` block whose associated functions are marked `#[on_exit]`",
        )),
    }
}

/// The name of the nested function that holds a handler's body. The runtime's
/// `function_path` strips it from the path `type_name` reports.
const HANDLER_FN: &str = "__atexit_handler";

/// A function on its own, in a module or in an `impl` block: its body moves into a
/// nested function, next to the element that refers to it.
fn expand_fn(args: &Args, function: ItemFn) -> Result<TokenStream> {
    if let Some(span) = find_self(function.sig.output.to_token_stream())
        .or_else(|| find_self(function.block.to_token_stream()))
    {
        return Err(Error::new(
            span,
            "`Self` is not available in an `#[on_exit]` function marked on its own: mark its `impl` block `#[atexit::on_exit]` too, which allows it",
        ));
    }
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let handler_fn = Ident::new(HANDLER_FN, Span::call_site());
    let constness = &sig.constness;
    let output = &sig.output;
    let element = handler_element(args, &sig, quote!(#handler_fn));
    Ok(quote! {
        #(#attrs)*
        // It runs at exit; nothing else has to call it.
        #[allow(dead_code)]
        #vis #sig {
            #constness fn #handler_fn() #output #block
            #element
            #handler_fn()
        }
    })
}

/// An `impl` block: every associated function marked `#[on_exit]` inside becomes a
/// handler. A static cannot live in an `impl`, so the elements go after the block,
/// where the functions are reached through the type.
fn expand_impl(mut block: ItemImpl) -> Result<TokenStream> {
    if let Some(trait_) = &block.trait_ {
        return Err(Error::new_spanned(
            &trait_.1,
            "`#[on_exit]` goes on inherent `impl` blocks, not trait implementations",
        ));
    }
    if !block.generics.params.is_empty() {
        return Err(Error::new_spanned(
            &block.generics,
            "`#[on_exit]` cannot go on a generic `impl` block: a handler is one concrete function",
        ));
    }
    let self_ty = &*block.self_ty;
    let mut elements = Vec::new();
    for item in &mut block.items {
        let ImplItem::Fn(function) = item else {
            continue;
        };
        let Some(args) = take_on_exit_args(&mut function.attrs)? else {
            continue;
        };
        check_signature(&function.sig)?;
        let ident = &function.sig.ident;
        elements.push(handler_element(
            &args,
            &function.sig,
            quote!(<#self_ty>::#ident),
        ));
    }
    if elements.is_empty() {
        return Err(Error::new_spanned(
            self_ty,
            "this `impl` block has no function marked `#[on_exit]`",
        ));
    }
    Ok(quote! {
        #block
        #(#elements)*
    })
}

/// Removes the `#[on_exit]` attributes of an associated function and returns their
/// options; `None` if it has none.
fn take_on_exit_args(attrs: &mut Vec<Attribute>) -> Result<Option<Args>> {
    // `#[on_exit]` (imported) or `#[atexit::on_exit]`; another crate's `on_exit` is
    // left alone.
    let is_on_exit = |attr: &Attribute| {
        let path = attr.path();
        path.is_ident("on_exit")
            || (path.segments.len() == 2
                && path.segments[0].ident == "atexit"
                && path.segments[1].ident == "on_exit")
    };
    let mut marks = attrs.iter().filter(|attr| is_on_exit(attr));
    let Some(first) = marks.next() else {
        return Ok(None);
    };
    if let Some(second) = marks.next() {
        return Err(Error::new_spanned(second, "`#[on_exit]` is given twice"));
    }
    let args = match &first.meta {
        syn::Meta::Path(_) => Args::default(),
        _ => first.parse_args()?,
    };
    attrs.retain(|attr| !is_on_exit(attr));
    Ok(Some(args))
}

/// A handler is called with no arguments by the runtime, once, at exit.
fn check_signature(sig: &Signature) -> Result<()> {
    if let Some(receiver) = sig.receiver() {
        return Err(Error::new_spanned(
            receiver,
            "`#[on_exit]` functions cannot take `self`: there is no value to call them on at exit; register a closure that owns the value with `atexit::register` instead",
        ));
    }
    if !sig.inputs.is_empty() {
        return Err(Error::new_spanned(
            &sig.inputs,
            "`#[on_exit]` functions take no arguments; to pass values, register a closure with `atexit::register(move || ...)`",
        ));
    }
    if let Some(asyncness) = &sig.asyncness {
        return Err(Error::new_spanned(
            asyncness,
            "`#[on_exit]` functions cannot be `async`: no executor runs at exit",
        ));
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
    if let Some(variadic) = &sig.variadic {
        return Err(Error::new_spanned(
            variadic,
            "`#[on_exit]` functions take no arguments",
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

/// One element of the runtime's slice for the function at `path`.
fn handler_element(args: &Args, sig: &Signature, path: TokenStream) -> TokenStream {
    let private = private();
    let ident = &sig.ident;
    let name = match &args.name {
        Some(name) => quote!(#name),
        None => quote!(__atexit_path),
    };
    let priority = match &args.priority {
        // A named constant makes the type checker point at the expression itself.
        Some(priority) => quote_spanned! {priority.span()=>
            const __ATEXIT_PRIORITY: ::core::primitive::i32 = #priority;
        },
        None => quote!(
            const __ATEXIT_PRIORITY: ::core::primitive::i32 = 0;
        ),
    };
    let call_span = match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => ident.span(),
    };
    // Naming the return type makes a type error cover all of it. The element lives
    // outside the `impl`, where `Self` means nothing, so such types are inferred.
    let call = match &sig.output {
        ReturnType::Type(_, ty) if !mentions_self(ty.to_token_stream()) => {
            quote_spanned! {call_span=>
                <#ty as #private::HandlerReturn>::into_outcome(#path())
            }
        }
        _ => quote_spanned! {call_span=>
            #private::HandlerReturn::into_outcome(#path())
        },
    };
    let file = quote_spanned!(ident.span()=> ::core::file!());
    let line = quote_spanned!(ident.span()=> ::core::line!());
    let column = quote_spanned!(ident.span()=> ::core::column!());
    quote! {
        #[doc(hidden)]
        const _: () = {
            #priority

            // Evaluated at compile time: the file's hash is not computed at exit.
            const __ATEXIT_ORDER: #private::OrderKey = #private::OrderKey::new(
                __ATEXIT_PRIORITY,
                ::core::module_path!(),
                ::core::option_env!("CARGO_MANIFEST_DIR"),
                #file,
                #line,
                #column,
            );

            fn __atexit_run() -> ::core::result::Result<(), ::std::string::String> {
                #call
            }

            fn __atexit_describe() -> #private::StaticInfo {
                #private::link_exit_hook();
                let __atexit_path = #private::function_path(&#path);
                #private::StaticInfo {
                    run: __atexit_run,
                    path: __atexit_path,
                    name: #name,
                    file: #file,
                    order: __ATEXIT_ORDER,
                }
            }

            #[#private::linkme::distributed_slice(#private::ATEXIT_V0_1_HANDLERS)]
            #[linkme(crate = #private::linkme)]
            static __ATEXIT_HANDLER: #private::StaticHandler =
                #private::StaticHandler::new(__atexit_describe, __ATEXIT_PRIORITY);
        };
    }
}

fn mentions_self(tokens: TokenStream) -> bool {
    find_self(tokens).is_some()
}

/// The first `Self` in `tokens`, however deeply nested.
fn find_self(tokens: TokenStream) -> Option<Span> {
    tokens.into_iter().find_map(|token| match token {
        TokenTree::Ident(ident) if ident == "Self" => Some(ident.span()),
        TokenTree::Group(group) => find_self(group.stream()),
        _ => None,
    })
}
