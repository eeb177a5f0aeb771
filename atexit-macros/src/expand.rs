//! Generates the code for `#[on_exit]`: the function as written, plus one element of
//! the runtime's link-time slice describing it.
//!
//! The attribute cannot tell whether a function sits in a module or in an `impl`
//! block, and a `static` is not allowed in an `impl`. So the element goes inside the
//! function's own body, which is valid in both places, and the body moves into a
//! nested function the element can name (`HANDLER_FN`). An `impl` block marked
//! `#[on_exit]` as a whole knows its type, so its elements go after the block and
//! name the functions through it, which lets their bodies use `Self`.

use std::sync::atomic::{AtomicU32, Ordering};

use proc_macro2::{Group, Ident, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Attribute, Error, Result, ReturnType};

use crate::item::{self, Function, ImplBlock, Item, Signature};
use crate::krate;
use crate::parse::{self, Args};
use crate::validate;

/// The name of the nested function that holds the body of a function marked on its
/// own. The runtime's `function_path` (`atexit-runtime/src/statics.rs`) strips
/// `::__atexit_handler` from the path `type_name` reports, to give the path of the
/// function the user wrote: the two spellings must stay the same.
const HANDLER_FN: &str = "__atexit_handler";

/// Where the exit run calls the function from: as written, or wrapped by attributes
/// that come after `#[on_exit]`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// As the user wrote it: attributes after it have not run yet.
    AsWritten,
    /// Re-attached after the user's other attributes, which have run.
    Last,
}

/// The hidden, versioned module of the facade that generated code goes through, under
/// the path the crate reaches `atexit` by. Nothing else is named from the user's crate
/// root: not `std` or `core`, which a `#![no_std]` crate or edition 2015 lacks there.
fn private(args: &Args) -> TokenStream {
    let krate = match &args.krate {
        // Where the user wrote it, but generated: lints leave generated code alone.
        Some(path) => as_generated(path.to_token_stream()),
        None => krate::default_path(),
    };
    quote!(#krate::__private_v0_1)
}

/// `tokens`, still pointing at where they were written for errors, but marked as
/// generated.
fn as_generated(tokens: TokenStream) -> TokenStream {
    respan(tokens, &|span| Span::call_site().located_at(span))
}

/// Generated `tokens`, reported at `span`.
fn located_at(tokens: TokenStream, span: Span) -> TokenStream {
    respan(tokens, &|_| span)
}

fn respan(tokens: TokenStream, span: &dyn Fn(Span) -> Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(group.span());
                token = TokenTree::Group(respanned);
            }
            token.set_span(span(token.span()));
            token
        })
        .collect()
}

/// `#[on_exit]` with `args` on `input`: a function, or an `impl` block whose
/// associated functions are marked.
pub fn on_exit(args: TokenStream, input: TokenStream, placement: Placement) -> Result<TokenStream> {
    // Only the signature is parsed: a syntax error in a body is the compiler's to
    // report, once.
    let item = item::parse(input)?;
    let parsed: Args = syn::parse2(args.clone())?;
    match item {
        Item::Fn(mut function) => {
            validate::check_not_marked_again(&function.attrs)?;
            if placement == Placement::AsWritten && wrapped(&function.attrs) {
                let attrs = std::mem::take(&mut function.attrs);
                return Ok(place_last(&parsed, args, &attrs, function.into_token_stream()));
            }
            validate::check_signature(&function.sig)?;
            validate::check_no_self(&function)?;
            if let Some(priority) = &parsed.priority {
                validate::check_priority(priority)?;
            }
            Ok(expand_fn(&parsed, function))
        }
        Item::Impl(mut block) => {
            if parsed.priority.is_some() || parsed.name.is_some() {
                return Err(Error::new_spanned(
                    args,
                    "`#[on_exit]` on an `impl` block takes no options: give them to the functions marked inside",
                ));
            }
            validate::check_not_marked_again(&block.attrs)?;
            if placement == Placement::AsWritten && wrapped(&block.attrs) {
                let attrs = std::mem::take(&mut block.attrs);
                return Ok(place_last(&parsed, args, &attrs, block.into_token_stream()));
            }
            expand_impl(&parsed, block)
        }
        Item::Other(other) => Err(Error::new_spanned(
            other,
            "`#[on_exit]` goes on a function, or on an `impl` block whose associated functions are marked `#[on_exit]`",
        )),
    }
}

/// Whether an attribute that may change the item follows `#[on_exit]`: one that is
/// not one of the compiler's inert attributes. (Attribute macros before `#[on_exit]`
/// have run already; the inert ones stay on the item whatever the order.)
fn wrapped(attrs: &[Attribute]) -> bool {
    const TOOLS: &[&str] = &["rustfmt", "clippy", "diagnostic", "rustdoc"];
    attrs.iter().any(|attr| {
        let path = attr.path();
        match path.get_ident() {
            Some(ident) => !validate::is_compiler_attribute(ident),
            None => !TOOLS.iter().any(|tool| path.segments[0].ident == tool),
        }
    })
}

/// The item with `#[on_exit]` moved after the user's other attributes: they run
/// first, and the exit run calls the function as they made it.
fn place_last(
    args: &Args,
    raw_args: TokenStream,
    attrs: &[Attribute],
    item: TokenStream,
) -> TokenStream {
    let private = private(args);
    quote! {
        #(#attrs)*
        #[#private::on_exit_after_wrappers(#raw_args)]
        #item
    }
}

/// A function on its own, in a module or in an `impl` block: its body moves into a
/// nested function, next to the element that refers to it. Inner attributes of the
/// body (`#![allow(...)]`, `//!`) move with it.
fn expand_fn(args: &Args, function: Function) -> TokenStream {
    let Function {
        attrs,
        vis,
        sig,
        body,
    } = function;
    let handler_fn = Ident::new(HANDLER_FN, Span::call_site());
    let constness = &sig.constness;
    let asyncness = &sig.asyncness;
    let output = &sig.output;
    let element = handler_element(
        args,
        &sig,
        &[],
        &parse::allowed_lints(&attrs),
        quote!(#handler_fn),
    );
    let call = match asyncness {
        Some(_) => quote!(#handler_fn().await),
        None => quote!(#handler_fn()),
    };
    quote! {
        #(#attrs)*
        // It runs at exit; nothing else has to call it.
        #[allow(dead_code)]
        #vis #sig {
            // The signature is the user's: lints about it are theirs to see on it.
            #[allow(clippy::unnecessary_wraps, clippy::unused_async)]
            #constness #asyncness fn #handler_fn() #output #body
            #element
            #call
        }
    }
}

/// An `impl` block: every associated function marked `#[on_exit]` inside becomes a
/// handler. A static cannot live in an `impl`, so the elements go after the block,
/// where the functions are reached through the type.
fn expand_impl(block_args: &Args, mut block: ImplBlock) -> Result<TokenStream> {
    validate::check_impl(&block)?;
    let self_ty = &block.self_ty;
    let mut elements = Vec::new();
    for member in &mut block.members {
        validate::check_not_marked_member(member)?;
        let Some(sig) = &member.sig else {
            continue;
        };
        let Some(mark) = parse::take_on_exit_args(&mut member.attrs)? else {
            continue;
        };
        let args = Args {
            krate: block_args.krate.clone(),
            ..mark.args
        };
        validate::check_signature(sig)?;
        if let Some(priority) = &args.priority {
            validate::check_priority(priority)?;
        }
        let ident = &sig.ident;
        let mut cfgs = parse::cfgs(&member.attrs);
        if let Some(predicate) = &mark.cfg {
            cfgs.push(quote!(#[cfg(#predicate)]));
        }
        // The element names the function: if it is deprecated, that is no news.
        let mut allowed = parse::allowed_lints(&member.attrs);
        allowed.push(quote!(#[allow(deprecated)]));
        elements.push(handler_element(
            &args,
            sig,
            &cfgs,
            &allowed,
            quote!(<#self_ty>::#ident),
        ));
    }
    if elements.is_empty() {
        return Err(validate::no_marked_function(&block));
    }
    Ok(quote! {
        #block
        #(#elements)*
    })
}

/// The order in which the compiler expands the attribute's elements, which is source
/// order: it tells apart the handlers of one `macro_rules!` call, whose `line!()` and
/// `column!()` are both the call's. One compiler process compiles one crate, and only
/// the order within a call matters, so a count for the process will do.
fn next_sequence() -> u32 {
    static EXPANDED: AtomicU32 = AtomicU32::new(0);
    EXPANDED.fetch_add(1, Ordering::Relaxed)
}

/// One element of the runtime's slice for the function at `path`.
///
/// The user's tokens in it (the priority, the return type, the path) see one name the
/// element adds, the type `__AtexitElement`: the rest are its associated items, not in
/// scope unqualified, and the static, in a block of its own. So the user's items keep
/// their meaning, whatever they are called.
fn handler_element(
    args: &Args,
    sig: &Signature,
    cfgs: &[TokenStream],
    allowed: &[TokenStream],
    path: TokenStream,
) -> TokenStream {
    let private = private(args);
    let ident = &sig.ident;
    // By default the name is the path. Computed twice rather than bound to a local:
    // a `let` would be captured by a constant of the user's with the same name.
    let name = match &args.name {
        Some(name) => quote!(#name),
        None => quote!(Self::path()),
    };
    let priority = match &args.priority {
        // A named constant makes the type checker point at the expression itself.
        Some(priority) => quote_spanned! {priority.span()=>
            const PRIORITY: #private::core::primitive::i32 = #priority;
        },
        None => quote!(
            const PRIORITY: #private::core::primitive::i32 = 0;
        ),
    };
    let call_span = match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => ident.span(),
    };
    let invoke = match &sig.asyncness {
        Some(_) => quote!(#path().await),
        None => quote!(#path()),
    };
    // Naming the return type makes a type error cover all of it. In the element,
    // `Self` is not the user's type, so a type that mentions it is inferred.
    let call = match &sig.output {
        ReturnType::Type(_, ty) if validate::can_be_named_outside(ty) => {
            quote_spanned! {call_span=>
                <#ty as #private::HandlerReturn>::into_outcome(#invoke)
            }
        }
        _ => quote_spanned! {call_span=>
            #private::HandlerReturn::into_outcome(#invoke)
        },
    };
    // An async handler gives the runtime its future, boxed; the runtime runs it.
    let (run, run_kind) = match &sig.asyncness {
        Some(asyncness) => (
            // Spanned so that a future that is not `Send` is reported at `async`: all
            // of it, `::atexit` included, which resolves there as in the attribute
            // (`async fn` is not edition 2015's).
            {
                let boxed = located_at(quote!(#private::std::boxed::Box::pin), asyncness.span());
                quote_spanned! {asyncness.span()=>
                    fn run() -> #private::BoxFuture<#private::core::result::Result<(), #private::std::string::String>> {
                        #boxed(async move { #call })
                    }
                }
            },
            quote!(new_async),
        ),
        None => (
            quote! {
                fn run() -> #private::core::result::Result<(), #private::std::string::String> {
                    #call
                }
            },
            quote!(new),
        ),
    };
    let reply = match &sig.asyncness {
        Some(_) => quote!(started),
        None => quote!(finished),
    };
    let working_dir = std::env::current_dir()
        .ok()
        .and_then(|dir| dir.to_str().map(str::to_owned))
        .unwrap_or_default();
    let sequence = next_sequence();
    let file = quote_spanned!(ident.span()=> #private::core::file!());
    let line = quote_spanned!(ident.span()=> #private::core::line!());
    let column = quote_spanned!(ident.span()=> #private::core::column!());
    quote! {
        #(#cfgs)*
        #(#allowed)*
        #[doc(hidden)]
        const _: () = {
            enum __AtexitElement {}

            impl __AtexitElement {
                #priority

                // Evaluated at compile time: the file's hash is not computed at exit.
                const ORDER: #private::OrderKey = #private::OrderKey::new(
                    Self::PRIORITY,
                    #private::Source {
                        module_path: #private::core::module_path!(),
                        file: #file,
                        manifest_dir: #private::core::option_env!("CARGO_MANIFEST_DIR"),
                        out_dir: #private::core::option_env!("OUT_DIR"),
                        working_dir: #working_dir,
                    },
                    #line,
                    #column,
                    #sequence,
                );

                #run

                fn path() -> &'static #private::core::primitive::str {
                    #private::function_path(&#path)
                }

                // One function for both, so that the element holds one pointer.
                fn entry(call: #private::Request) -> #private::Reply {
                    match call {
                        #private::Request::Run => #private::Reply::#reply(Self::run()),
                        #private::Request::Describe(slot) => Self::describe(slot),
                    }
                }

                // Apart, so that running does not pay for what only reports ask.
                #[cold]
                #[inline(never)]
                fn describe(
                    slot: &mut #private::core::option::Option<#private::StaticInfo>,
                ) -> #private::Reply {
                    #private::link_exit_hook();
                    *slot = #private::core::option::Option::Some(#private::StaticInfo {
                        path: Self::path(),
                        name: #name,
                        file: #file,
                    });
                    #private::Reply::Described
                }
            }

            const _: () = {
                #[#private::linkme::distributed_slice(#private::ATEXIT_V0_1_HANDLERS)]
                #[linkme(crate = #private::linkme)]
                static __ATEXIT_HANDLER: #private::StaticHandler =
                    #private::StaticHandler::#run_kind(
                        __AtexitElement::entry,
                        __AtexitElement::ORDER,
                    );
                #private::keep_linked!(__ATEXIT_HANDLER);
            };
        };
    }
}
