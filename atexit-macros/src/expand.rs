//! Generates the code for `#[on_exit]`: the function as written, plus one element of
//! the runtime's link-time slice describing it.
//!
//! The attribute cannot tell whether a function sits in a module or in an `impl`
//! block, and a `static` is not allowed in an `impl`. So the element goes inside the
//! function's own body, which is valid in both places, and the body moves into a
//! nested function the element can name (`HANDLER_FN`). An `impl` block marked
//! `#[on_exit]` as a whole knows its type, so its elements go after the block and
//! name the functions through it, which lets their bodies use `Self`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Error, ImplItem, Item, ItemFn, ItemImpl, Result, ReturnType, Signature};

use crate::parse::{self, Args};
use crate::validate;

/// The name of the nested function that holds the body of a function marked on its
/// own. The runtime's `function_path` (`atexit-runtime/src/statics.rs`) strips
/// `::__atexit_handler` from the path `type_name` reports, to give the path of the
/// function the user wrote: the two spellings must stay the same.
const HANDLER_FN: &str = "__atexit_handler";

/// The facade's hidden, versioned module that generated code goes through.
fn private() -> TokenStream {
    quote!(::atexit::__private_v0_1)
}

/// `#[on_exit]` with `args` on `input`: a function, or an `impl` block whose
/// associated functions are marked.
pub fn on_exit(args: TokenStream, input: TokenStream) -> Result<TokenStream> {
    match syn::parse2::<Item>(input)? {
        Item::Fn(function) => {
            let args: Args = syn::parse2(args)?;
            validate::check_signature(&function.sig)?;
            validate::check_no_self(&function)?;
            if let Some(priority) = &args.priority {
                validate::check_priority(priority)?;
            }
            Ok(expand_fn(&args, function))
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

/// A function on its own, in a module or in an `impl` block: its body moves into a
/// nested function, next to the element that refers to it.
fn expand_fn(args: &Args, function: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
        ..
    } = function;
    let handler_fn = Ident::new(HANDLER_FN, Span::call_site());
    let constness = &sig.constness;
    let asyncness = &sig.asyncness;
    let output = &sig.output;
    let element = handler_element(args, &sig, quote!(#handler_fn));
    let call = match asyncness {
        Some(_) => quote!(#handler_fn().await),
        None => quote!(#handler_fn()),
    };
    quote! {
        #(#attrs)*
        // It runs at exit; nothing else has to call it.
        #[allow(dead_code)]
        #vis #sig {
            #constness #asyncness fn #handler_fn() #output #block
            #element
            #call
        }
    }
}

/// An `impl` block: every associated function marked `#[on_exit]` inside becomes a
/// handler. A static cannot live in an `impl`, so the elements go after the block,
/// where the functions are reached through the type.
fn expand_impl(mut block: ItemImpl) -> Result<TokenStream> {
    validate::check_impl(&block)?;
    let self_ty = &*block.self_ty;
    let mut elements = Vec::new();
    for item in &mut block.items {
        let ImplItem::Fn(function) = item else {
            continue;
        };
        let Some(args) = parse::take_on_exit_args(&mut function.attrs)? else {
            continue;
        };
        validate::check_signature(&function.sig)?;
        if let Some(priority) = &args.priority {
            validate::check_priority(priority)?;
        }
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

/// One element of the runtime's slice for the function at `path`.
///
/// The user's tokens in it (the priority, the return type, the path) see one name the
/// element adds, the type `__AtexitElement`: the rest are its associated items, not in
/// scope unqualified, and the static, in a block of its own. So the user's items keep
/// their meaning, whatever they are called.
fn handler_element(args: &Args, sig: &Signature, path: TokenStream) -> TokenStream {
    let private = private();
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
            const PRIORITY: ::core::primitive::i32 = #priority;
        },
        None => quote!(
            const PRIORITY: ::core::primitive::i32 = 0;
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
        ReturnType::Type(_, ty) if !validate::mentions_self(ty) => {
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
            // Spanned so that a future that is not `Send` is reported at `async`.
            quote_spanned! {asyncness.span()=>
                fn run() -> #private::BoxFuture<::core::result::Result<(), ::std::string::String>> {
                    ::std::boxed::Box::pin(async move { #call })
                }
            },
            quote!(Async),
        ),
        None => (
            quote! {
                fn run() -> ::core::result::Result<(), ::std::string::String> {
                    #call
                }
            },
            quote!(Sync),
        ),
    };
    let file = quote_spanned!(ident.span()=> ::core::file!());
    let line = quote_spanned!(ident.span()=> ::core::line!());
    let column = quote_spanned!(ident.span()=> ::core::column!());
    quote! {
        #[doc(hidden)]
        const _: () = {
            enum __AtexitElement {}

            impl __AtexitElement {
                #priority

                // Evaluated at compile time: the file's hash is not computed at exit.
                const ORDER: #private::OrderKey = #private::OrderKey::new(
                    Self::PRIORITY,
                    ::core::module_path!(),
                    ::core::option_env!("CARGO_MANIFEST_DIR"),
                    #file,
                    #line,
                    #column,
                );

                #run

                fn path() -> &'static ::core::primitive::str {
                    #private::function_path(&#path)
                }

                fn describe() -> #private::StaticInfo {
                    #private::link_exit_hook();
                    #private::StaticInfo {
                        path: Self::path(),
                        name: #name,
                        file: #file,
                    }
                }
            }

            const _: () = {
                #[#private::linkme::distributed_slice(#private::ATEXIT_V0_1_HANDLERS)]
                #[linkme(crate = #private::linkme)]
                static __ATEXIT_HANDLER: #private::StaticHandler =
                    #private::StaticHandler::new(
                        #private::Run::#run_kind(__AtexitElement::run),
                        __AtexitElement::describe,
                        __AtexitElement::ORDER,
                    );
                #private::keep_linked!(__ATEXIT_HANDLER);
            };
        };
    }
}
