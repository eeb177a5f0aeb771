//! The attribute's arguments: `#[on_exit(priority = ..., name = "...", crate = path)]`,
//! on a function or, inside an `impl` block marked `#[on_exit]`, on an associated
//! function.

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Attribute, Error, Lit, LitStr, Meta, Path, Result, Token};

/// `#[on_exit(priority = <const i32 expression>, name = "…", crate = path)]`, each
/// optional.
#[derive(Default)]
pub struct Args {
    /// The expression, as written: the type checker checks what is not a literal.
    pub priority: Option<TokenStream>,
    pub name: Option<LitStr>,
    /// Where the `atexit` crate is, for a crate that reaches it through a re-export.
    pub krate: Option<Path>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            let key = input.call(Ident::parse_any)?;
            if !input.peek(Token![=]) {
                let rest = option_value(input)?;
                return Err(Error::new_spanned(
                    quote!(#key #rest),
                    "expected `priority = <integer>`, `name = \"...\"` or `crate = path::to::atexit`",
                ));
            }
            input.parse::<Token![=]>()?;
            let value = option_value(input)?;
            if value.is_empty() {
                return Err(Error::new_spanned(&key, format!("`{key}` needs a value")));
            }
            if key == "priority" {
                if args.priority.is_some() {
                    return Err(Error::new_spanned(key, "`priority` is given twice"));
                }
                args.priority = Some(priority(&key, value)?);
            } else if key == "name" {
                if args.name.is_some() {
                    return Err(Error::new_spanned(key, "`name` is given twice"));
                }
                args.name = Some(name(value)?);
            } else if key == "crate" {
                if args.krate.is_some() {
                    return Err(Error::new_spanned(key, "`crate` is given twice"));
                }
                args.krate = Some(krate(value)?);
            } else {
                return Err(Error::new_spanned(
                    key,
                    "unknown option: `#[on_exit]` takes `priority = <integer>`, `name = \"...\"` and `crate = path::to::atexit`",
                ));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// The tokens of an option's value: up to the next `,` outside brackets.
fn option_value(input: ParseStream) -> Result<TokenStream> {
    let mut value = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        value.extend([input.parse::<TokenTree>()?]);
    }
    Ok(value)
}

/// Any constant `i32` expression; literals that cannot be one are refused here, the
/// rest is left to the type checker, which points at the same tokens.
///
/// An error about a negative literal points at the `priority` key, the same on every
/// compiler (the span of a `-` and a literal joined depends on it).
fn priority(key: &Ident, value: TokenStream) -> Result<TokenStream> {
    let tokens: Vec<TokenTree> = value.clone().into_iter().collect();
    let (negative, literal) = match tokens.as_slice() {
        [literal] => (false, literal),
        [TokenTree::Punct(minus), literal @ TokenTree::Literal(_)] if minus.as_char() == '-' => {
            (true, literal)
        }
        _ => return Ok(value),
    };
    let Ok(lit) = syn::parse2::<Lit>(literal.to_token_stream()) else {
        return Ok(value);
    };
    match lit {
        Lit::Int(int) => {
            let digits = if negative {
                format!("-{}", int.base10_digits())
            } else {
                int.base10_digits().to_owned()
            };
            if digits.parse::<i32>().is_err() {
                let at = if negative { key.span() } else { int.span() };
                return Err(Error::new(
                    at,
                    format!(
                        "the priority must fit in an `i32` ({}..={}), and {digits} does not",
                        i32::MIN,
                        i32::MAX,
                    ),
                ));
            }
            Ok(value)
        }
        Lit::Float(_) if negative => Ok(value),
        other => Err(Error::new_spanned(
            other,
            "the priority must be an integer (a constant `i32` expression)",
        )),
    }
}

fn name(value: TokenStream) -> Result<LitStr> {
    match syn::parse2::<LitStr>(value.clone()) {
        Ok(name) if !name.value().trim().is_empty() => Ok(name),
        Ok(name) => Err(Error::new_spanned(name, "the name must not be empty")),
        Err(_) => Err(Error::new_spanned(
            value,
            "the name must be a string literal",
        )),
    }
}

fn krate(value: TokenStream) -> Result<Path> {
    Parser::parse2(Path::parse_mod_style, value.clone()).map_err(|_| {
        Error::new_spanned(
            value,
            "`crate` takes the path of the `atexit` crate, as this crate reaches it: `crate = framework::atexit`",
        )
    })
}

/// Whether `path` names this attribute: `on_exit`, `atexit::on_exit`, or the same
/// through a renamed or re-exported crate (`my_atexit::on_exit`,
/// `framework::atexit::on_exit`). An alias (`use atexit::on_exit as at_exit`) cannot
/// be told from another attribute.
pub fn is_on_exit(path: &Path) -> bool {
    path.segments
        .last()
        .is_some_and(|segment| segment.ident == "on_exit" && segment.arguments.is_none())
}

/// How an associated function of a marked `impl` block is marked.
pub struct Mark {
    pub args: Args,
    /// The `cfg` of a `#[cfg_attr(<predicate>, on_exit)]`: the handler exists when it
    /// holds.
    pub cfg: Option<Meta>,
}

/// Removes the `#[on_exit]` attributes of an associated function in a marked `impl`
/// block, also from `#[cfg_attr(...)]`, and returns their options; `None` if it has
/// none.
pub fn take_on_exit_args(attrs: &mut Vec<Attribute>) -> Result<Option<Mark>> {
    let mut mark: Option<(Mark, &Attribute)> = None;
    let mut kept = Vec::with_capacity(attrs.len());
    let mut found = Vec::new();
    for attr in attrs.iter() {
        if is_on_exit(attr.path()) {
            found.push((attr, None, attr.meta.clone()));
            continue;
        }
        if attr.path().is_ident("cfg_attr") {
            if let Ok((predicate, inner)) = cfg_attr(attr) {
                if inner.iter().any(|meta| is_on_exit(meta.path())) {
                    let others: Vec<&Meta> = inner
                        .iter()
                        .filter(|meta| !is_on_exit(meta.path()))
                        .collect();
                    if !others.is_empty() {
                        kept.push(syn::parse_quote!(#[cfg_attr(#predicate, #(#others),*)]));
                    }
                    for meta in inner.iter().filter(|meta| is_on_exit(meta.path())) {
                        found.push((attr, Some(predicate.clone()), meta.clone()));
                    }
                    continue;
                }
            }
        }
        kept.push(attr.clone());
    }
    for (attr, cfg, meta) in found {
        if mark.is_some() {
            return Err(Error::new_spanned(attr, "`#[on_exit]` is given twice"));
        }
        let args = match &meta {
            Meta::Path(_) => Args::default(),
            Meta::List(list) => list.parse_args()?,
            Meta::NameValue(_) => {
                return Err(Error::new_spanned(
                    meta,
                    "expected `#[on_exit]` or `#[on_exit(...)]`",
                ))
            }
        };
        if let Some(krate) = &args.krate {
            return Err(Error::new_spanned(
                krate,
                "`crate = ...` goes on the `impl` block's `#[on_exit]`, not on the functions marked inside",
            ));
        }
        mark = Some((Mark { args, cfg }, attr));
    }
    let Some((mark, _)) = mark else {
        return Ok(None);
    };
    *attrs = kept;
    Ok(Some(mark))
}

/// `#[cfg_attr(<predicate>, <attribute>, ...)]`, split.
pub fn cfg_attr(attr: &Attribute) -> Result<(Meta, Punctuated<Meta, Token![,]>)> {
    attr.parse_args_with(|input: ParseStream| {
        let predicate: Meta = input.parse()?;
        input.parse::<Token![,]>()?;
        let inner = Punctuated::<Meta, Token![,]>::parse_terminated(input)?;
        Ok((predicate, inner))
    })
}

/// The attributes of `attrs` that decide whether the item exists (`cfg`, and
/// `cfg_attr`s that give a `cfg`), for a generated item that must exist with it.
pub fn cfgs(attrs: &[Attribute]) -> Vec<TokenStream> {
    let mut cfgs = Vec::new();
    for attr in attrs {
        if attr.path().is_ident("cfg") {
            cfgs.push(attr.to_token_stream());
        } else if attr.path().is_ident("cfg_attr") {
            if let Ok((predicate, inner)) = cfg_attr(attr) {
                let inner_cfgs: Vec<&Meta> = inner
                    .iter()
                    .filter(|meta| meta.path().is_ident("cfg"))
                    .collect();
                if !inner_cfgs.is_empty() {
                    cfgs.push(quote!(#[cfg_attr(#predicate, #(#inner_cfgs),*)]));
                }
            }
        }
    }
    cfgs
}

/// The lints the user allows (or expects) on a function, as `allow`s for a generated
/// item that repeats some of its tokens: an `expect` there could go unfulfilled.
pub fn allowed_lints(attrs: &[Attribute]) -> Vec<TokenStream> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("allow") || attr.path().is_ident("expect"))
        .filter_map(|attr| match &attr.meta {
            Meta::List(list) => {
                let lints = Punctuated::<Meta, Token![,]>::parse_terminated
                    .parse2(list.tokens.clone())
                    .ok()?;
                // Without `reason = "..."`, which applies to the user's item.
                let lints = lints.iter().filter_map(|lint| match lint {
                    Meta::Path(path) => Some(path),
                    _ => None,
                });
                Some(quote!(#[allow(#(#lints),*)]))
            }
            _ => None,
        })
        .collect()
}
