//! The items `#[on_exit]` goes on, parsed as far as the attribute needs: a function's
//! attributes and signature, its body kept as the tokens it is; an `impl` block's
//! header, and of each member its attributes and, for a function, its signature.
//!
//! Only derive-level syn types are used (`Type`, `Generics`, `Attribute`), which the
//! syn that `linkme` compiles has anyway: parsing whole function bodies would need
//! syn's `full` feature, which doubles the time syn takes to build.

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Abi, Attribute, Error, Generics, Result, ReturnType, Token, Type, Visibility};

/// What the attribute is on.
pub enum Item {
    Fn(Function),
    Impl(ImplBlock),
    /// Anything else, for the error to cover.
    Other(TokenStream),
}

/// A function with a body, in a module or in an `impl` block.
pub struct Function {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    /// The body, braces included, as written.
    pub body: Group,
}

/// A function's signature, up to its body.
pub struct Signature {
    pub constness: Option<Token![const]>,
    pub asyncness: Option<Token![async]>,
    pub unsafety: Option<Token![unsafe]>,
    pub abi: Option<Abi>,
    pub fn_token: Token![fn],
    pub ident: Ident,
    pub generics: Generics,
    /// The parenthesized parameters.
    pub inputs: Group,
    pub output: ReturnType,
}

/// An `impl` block.
pub struct ImplBlock {
    pub attrs: Vec<Attribute>,
    /// From `impl` (or `unsafe`) to the brace, as written.
    pub head: TokenStream,
    pub generics: Generics,
    /// The trait of a trait implementation, for the error.
    pub trait_: Option<TokenStream>,
    pub self_ty: Type,
    pub brace_span: Span,
    pub inner_attrs: Vec<Attribute>,
    pub members: Vec<Member>,
}

/// An item of an `impl` block: its attributes, and the rest as written.
pub struct Member {
    pub attrs: Vec<Attribute>,
    /// The signature, for a function.
    pub sig: Option<Signature>,
    pub rest: TokenStream,
}

pub fn parse(tokens: TokenStream) -> Result<Item> {
    let kind = Parser::parse2(kind, tokens.clone())?;
    match kind {
        Kind::Fn => Parser::parse2(function, tokens).map(Item::Fn),
        Kind::Impl => Parser::parse2(impl_block, tokens).map(Item::Impl),
        Kind::Other => Ok(Item::Other(tokens)),
    }
}

enum Kind {
    Fn,
    Impl,
    Other,
}

/// Which item `input` is, from its first tokens after attributes and visibility.
fn kind(input: ParseStream) -> Result<Kind> {
    Attribute::parse_outer(input)?;
    input.parse::<Visibility>()?;
    let kind = if is_fn(input) {
        Kind::Fn
    } else if input.peek(Token![impl]) || (input.peek(Token![unsafe]) && input.peek2(Token![impl]))
    {
        Kind::Impl
    } else {
        Kind::Other
    };
    // The rest is not looked at.
    input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((_, next)) = rest.token_tree() {
            rest = next;
        }
        Ok(((), rest))
    })?;
    Ok(kind)
}

/// Whether `input` is at a function's qualifiers or `fn`.
fn is_fn(input: ParseStream) -> bool {
    let fork = input.fork();
    let _ = fork.parse::<Option<Token![default]>>();
    loop {
        if fork.peek(Token![fn]) {
            return true;
        }
        if fork.peek(Token![const]) || fork.peek(Token![async]) || fork.peek(Token![unsafe]) {
            let _ = fork.parse::<TokenTree>();
        } else if fork.peek(Token![extern]) {
            if fork.parse::<Option<Abi>>().is_err() {
                return false;
            }
        } else {
            return false;
        }
    }
}

fn function(input: ParseStream) -> Result<Function> {
    Ok(Function {
        attrs: Attribute::parse_outer(input)?,
        vis: input.parse()?,
        sig: signature(input)?,
        body: group(input, Delimiter::Brace, "a function body")?,
    })
}

fn signature(input: ParseStream) -> Result<Signature> {
    let constness = input.parse()?;
    let asyncness = input.parse()?;
    let unsafety = input.parse()?;
    let abi = input.parse()?;
    let fn_token = input.parse()?;
    let ident = input.call(Ident::parse_any)?;
    let mut generics: Generics = input.parse()?;
    let inputs = group(input, Delimiter::Parenthesis, "parameters")?;
    let output = input.parse()?;
    generics.where_clause = input.parse()?;
    Ok(Signature {
        constness,
        asyncness,
        unsafety,
        abi,
        fn_token,
        ident,
        generics,
        inputs,
        output,
    })
}

/// The next token, a group of `delimiter`; also inside the invisible group that a
/// `macro_rules!` fragment (`$body:block`) arrives in.
fn group(input: ParseStream, delimiter: Delimiter, what: &str) -> Result<Group> {
    let token = input.parse::<TokenTree>()?;
    let mut candidate = token.clone();
    while let TokenTree::Group(group) = &candidate {
        if group.delimiter() == delimiter {
            return Ok(group.clone());
        }
        let mut inside = group.stream().into_iter();
        match (group.delimiter(), inside.next(), inside.next()) {
            (Delimiter::None, Some(only), None) => candidate = only,
            _ => break,
        }
    }
    Err(Error::new(token.span(), format!("expected {what}")))
}

fn impl_block(input: ParseStream) -> Result<ImplBlock> {
    let attrs = Attribute::parse_outer(input)?;
    let head_start = input.fork();
    input.parse::<Option<Token![unsafe]>>()?;
    input.parse::<Token![impl]>()?;
    let mut generics: Generics = if input.peek(Token![<]) {
        input.parse()?
    } else {
        Generics::default()
    };
    let negative: Option<Token![!]> = input.parse()?;
    let first: Type = input.parse()?;
    let (trait_, self_ty) = if input.peek(Token![for]) {
        input.parse::<Token![for]>()?;
        (Some(quote!(#negative #first)), input.parse()?)
    } else {
        (None, first)
    };
    generics.where_clause = input.parse()?;
    let head = tokens_between(&head_start, input);
    let content;
    let brace = syn::braced!(content in input);
    let inner_attrs = Attribute::parse_inner(&content)?;
    let mut members = Vec::new();
    while !content.is_empty() {
        members.push(member(&content)?);
    }
    Ok(ImplBlock {
        attrs,
        head,
        generics,
        trait_,
        self_ty,
        brace_span: brace.span.join(),
        inner_attrs,
        members,
    })
}

/// The tokens `start` has that `end` has not: what was parsed in between.
fn tokens_between(start: ParseStream, end: ParseStream) -> TokenStream {
    let end = end.cursor();
    let mut tokens = TokenStream::new();
    let mut cursor = start.cursor();
    while cursor != end {
        let Some((token, next)) = cursor.token_tree() else {
            break;
        };
        tokens.extend([token]);
        cursor = next;
    }
    tokens
}

fn member(input: ParseStream) -> Result<Member> {
    let attrs = Attribute::parse_outer(input)?;
    let start = input.fork();
    let ahead = input.fork();
    ahead.parse::<Visibility>()?;
    let sig = if is_fn(&ahead) {
        input.parse::<Visibility>()?;
        input.parse::<Option<Token![default]>>()?;
        let sig = signature(input)?;
        if input.peek(Token![;]) {
            input.parse::<Token![;]>()?;
        } else {
            group(input, Delimiter::Brace, "a function body")?;
        }
        Some(sig)
    } else {
        // A constant, a type, a macro call: up to its `;`, or a macro's braces.
        input.step(|cursor| {
            let mut rest = *cursor;
            let mut after_bang = false;
            while let Some((token, next)) = rest.token_tree() {
                rest = next;
                match &token {
                    TokenTree::Punct(punct) if punct.as_char() == ';' => break,
                    TokenTree::Group(group)
                        if after_bang && group.delimiter() == Delimiter::Brace =>
                    {
                        if let Some((TokenTree::Punct(punct), next)) = rest.token_tree() {
                            if punct.as_char() == ';' {
                                rest = next;
                            }
                        }
                        break;
                    }
                    _ => {}
                }
                after_bang = matches!(&token, TokenTree::Punct(punct) if punct.as_char() == '!');
            }
            Ok(((), rest))
        })?;
        None
    };
    Ok(Member {
        attrs,
        sig,
        rest: tokens_between(&start, input),
    })
}

impl ToTokens for Signature {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let Signature {
            constness,
            asyncness,
            unsafety,
            abi,
            fn_token,
            ident,
            generics,
            inputs,
            output,
        } = self;
        let where_clause = &generics.where_clause;
        tokens.extend(quote! {
            #constness #asyncness #unsafety #abi #fn_token #ident #generics #inputs #output #where_clause
        });
    }
}

impl ToTokens for Function {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let Function {
            attrs,
            vis,
            sig,
            body,
        } = self;
        tokens.extend(quote!(#(#attrs)* #vis #sig #body));
    }
}

impl ToTokens for ImplBlock {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let ImplBlock {
            attrs,
            head,
            brace_span,
            inner_attrs,
            members,
            ..
        } = self;
        let members = members
            .iter()
            .map(|Member { attrs, rest, .. }| quote!(#(#attrs)* #rest));
        let mut body = Group::new(Delimiter::Brace, quote!(#(#inner_attrs)* #(#members)*));
        body.set_span(*brace_span);
        tokens.extend(quote!(#(#attrs)* #head #body));
    }
}

/// The first `Self` in `tokens`, however deeply nested, outside the items nested in
/// them: inside a nested `impl`, `trait`, `struct`, `enum`, `union`, `fn` or `mod`,
/// `Self` is that item's (or an error the compiler words well).
pub fn find_self(tokens: TokenStream) -> Option<Span> {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut index = 0;
    while index < tokens.len() {
        match &tokens[index] {
            TokenTree::Ident(ident) if ident == "Self" => return Some(ident.span()),
            TokenTree::Ident(ident) if starts_item(ident, tokens.get(index + 1)) => {
                index = end_of_item(&tokens, index);
                continue;
            }
            TokenTree::Group(group) => {
                if let Some(span) = find_self(group.stream()) {
                    return Some(span);
                }
            }
            _ => {}
        }
        index += 1;
    }
    None
}

/// Whether `ident`, followed by `next`, begins an item.
fn starts_item(ident: &Ident, next: Option<&TokenTree>) -> bool {
    if ["impl", "trait", "struct", "enum"]
        .iter()
        .any(|keyword| ident == keyword)
    {
        return true;
    }
    // Also a method (`a.union(b)`), a function pointer type (`fn() -> Self`), a
    // variable: an item only when a name follows.
    ["union", "fn", "mod"]
        .iter()
        .any(|keyword| ident == keyword)
        && matches!(next, Some(TokenTree::Ident(_)))
}

/// The index after the item that begins at `start`: after its first brace group or
/// `;` at this level.
fn end_of_item(tokens: &[TokenTree], start: usize) -> usize {
    tokens[start..]
        .iter()
        .position(|token| match token {
            TokenTree::Group(group) => group.delimiter() == Delimiter::Brace,
            TokenTree::Punct(punct) => punct.as_char() == ';',
            _ => false,
        })
        .map_or(tokens.len(), |offset| start + offset + 1)
}

/// Whether `tokens` mention `impl Trait`, which only a signature may hold.
pub fn mentions_impl_trait(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => mentions_impl_trait(group.stream()),
        _ => false,
    })
}
