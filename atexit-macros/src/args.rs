//! Parses the arguments of `#[on_exit(...)]`.

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Error, Expr, ExprLit, Lit, LitStr, Meta, Result, Token};

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
                args.priority = Some(priority(option.value)?);
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
fn priority(value: Expr) -> Result<Expr> {
    if let Expr::Lit(ExprLit { lit, .. }) = &value {
        match lit {
            Lit::Int(int) => {
                int.base10_parse::<i32>().map_err(|_| {
                    Error::new_spanned(
                        int,
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
