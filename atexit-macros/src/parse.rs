//! The attribute's arguments: `#[on_exit(priority = ..., name = "...")]`, on a
//! function or, inside an `impl` block marked `#[on_exit]`, on an associated function.

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Error, Expr, ExprLit, Lit, LitStr, Meta, Path, Result, Token};

/// `#[on_exit(priority = <const i32 expression>, name = "…")]`, both optional.
#[derive(Default)]
pub struct Args {
    pub priority: Option<Expr>,
    pub name: Option<LitStr>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> Result<Self> {
        let mut args = Args::default();
        for meta in Punctuated::<Meta, Token![,]>::parse_terminated(input)? {
            let Meta::NameValue(option) = meta else {
                return Err(Error::new_spanned(
                    meta,
                    "expected `priority = <integer>` or `name = \"...\"`",
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
            } else {
                return Err(Error::new_spanned(
                    key,
                    "unknown option: `#[on_exit]` takes `priority = <integer>` and `name = \"...\"`",
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

/// Removes the `#[on_exit]` attributes of an associated function in a marked `impl`
/// block and returns their options; `None` if it has none.
pub fn take_on_exit_args(attrs: &mut Vec<Attribute>) -> Result<Option<Args>> {
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
        Meta::Path(_) => Args::default(),
        _ => first.parse_args()?,
    };
    attrs.retain(|attr| !is_on_exit(attr));
    Ok(Some(args))
}
