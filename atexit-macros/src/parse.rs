//! The attribute's arguments: `#[on_exit(priority = ..., name = "...", crate = path)]`,
//! on a function or, inside an `impl` block marked `#[on_exit]`, on an associated
//! function.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Error, Expr, ExprLit, ExprPath, Lit, LitStr, Meta, Path, Result, Token};

/// `#[on_exit(priority = <const i32 expression>, name = "…", crate = path)]`, each
/// optional.
#[derive(Default)]
pub struct Args {
    pub priority: Option<Expr>,
    pub name: Option<LitStr>,
    /// Where the `atexit` crate is, for a crate that reaches it through a re-export.
    pub krate: Option<Path>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> Result<Self> {
        let mut args = Args::default();
        for meta in Punctuated::<Meta, Token![,]>::parse_terminated(input)? {
            let Meta::NameValue(option) = meta else {
                return Err(Error::new_spanned(
                    meta,
                    "expected `priority = <integer>`, `name = \"...\"` or `crate = path::to::atexit`",
                ));
            };
            let key = &option.path;
            if key.is_ident("priority") {
                if args.priority.is_some() {
                    return Err(Error::new_spanned(key, "`priority` is given twice"));
                }
                args.priority = Some(priority(key, option.value)?);
            } else if key.is_ident("name") {
                if args.name.is_some() {
                    return Err(Error::new_spanned(key, "`name` is given twice"));
                }
                args.name = Some(name(option.value)?);
            } else if key.is_ident("crate") {
                if args.krate.is_some() {
                    return Err(Error::new_spanned(key, "`crate` is given twice"));
                }
                args.krate = Some(krate(option.value)?);
            } else {
                return Err(Error::new_spanned(
                    key,
                    "unknown option: `#[on_exit]` takes `priority = <integer>`, `name = \"...\"` and `crate = path::to::atexit`",
                ));
            }
        }
        Ok(args)
    }
}

/// Any constant `i32` expression; literals that cannot be one are refused here, the
/// rest is left to the type checker, which points at the same tokens.
///
/// syn reads `-3000000000` as one literal, whose span covers the whole of it or only
/// the `-`, depending on the compiler; an error about a negative literal points at
/// the `priority` key instead, the same everywhere.
fn priority(key: &Path, value: Expr) -> Result<Expr> {
    if let Expr::Lit(ExprLit { lit, .. }) = &value {
        match lit {
            Lit::Int(int) => {
                int.base10_parse::<i32>().map_err(|_| {
                    let negative = int.base10_digits().starts_with('-');
                    let at = if negative { key.span() } else { int.span() };
                    Error::new(
                        at,
                        format!(
                            "the priority must fit in an `i32` ({}..={}), and {} does not",
                            i32::MIN,
                            i32::MAX,
                            int.base10_digits()
                        ),
                    )
                })?;
            }
            _ => {
                return Err(Error::new_spanned(
                    lit,
                    "the priority must be an integer (a constant `i32` expression)",
                ))
            }
        }
    }
    Ok(value)
}

fn name(value: Expr) -> Result<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(name),
            ..
        }) if !name.value().trim().is_empty() => Ok(name),
        Expr::Lit(ExprLit {
            lit: Lit::Str(name),
            ..
        }) => Err(Error::new_spanned(name, "the name must not be empty")),
        other => Err(Error::new_spanned(
            other,
            "the name must be a string literal",
        )),
    }
}

fn krate(value: Expr) -> Result<Path> {
    match value {
        Expr::Path(ExprPath {
            qself: None, path, ..
        }) => Ok(path),
        other => Err(Error::new_spanned(
            other,
            "`crate` takes the path of the `atexit` crate, as this crate reaches it: `crate = framework::atexit`",
        )),
    }
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
