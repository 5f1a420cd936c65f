//! Building blocks for parsing attribute arguments key by key with syn alone
//! (serde's `internals/attr.rs`, axum-macros' `attr_parsing.rs`).

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitStr};

use crate::diag::Ctxt;

/// One key of an attribute: remembers where it was first given, so that a second
/// occurrence is reported (on the second one) instead of silently overriding the first.
pub(crate) struct Attr<T> {
    key: &'static str,
    value: Option<(Span, T)>,
}

impl<T> Attr<T> {
    pub(crate) fn none(key: &'static str) -> Self {
        Self { key, value: None }
    }

    /// Records `value` given at `span` (the key's span); errors on a duplicate.
    pub(crate) fn set(&mut self, cx: &mut Ctxt, span: Span, value: T) {
        match &self.value {
            Some((first, _)) => cx.error_with_note(
                span,
                format_args!("duplicate key `{}`", self.key),
                *first,
                format_args!("`{}` first given here", self.key),
            ),
            None => self.value = Some((span, value)),
        }
    }

    pub(crate) fn get(self) -> Option<T> {
        self.value.map(|(_, v)| v)
    }
}

/// The name of the key being parsed, e.g. `type` (keywords included).
pub(crate) fn key_name(meta: &ParseNestedMeta<'_>) -> String {
    let path = &meta.path;
    let mut name = String::new();
    if path.leading_colon.is_some() {
        name.push_str("::");
    }
    for (i, segment) in path.segments.iter().enumerate() {
        if i > 0 {
            name.push_str("::");
        }
        name.push_str(&segment.ident.to_string());
    }
    name
}

/// "unknown key `typ`; expected one of `type`, `crate`", at the key. `attribute` names
/// the attribute (`#[action]`) when it accepts no keys at all.
pub(crate) fn unknown_key(
    meta: &ParseNestedMeta<'_>,
    attribute: &str,
    expected: &[&str],
) -> syn::Error {
    let name = key_name(meta);
    let message = match expected {
        [] => format!("unknown key `{name}`; `{attribute}` takes no keys besides the name"),
        [only] => format!("unknown key `{name}`; expected `{only}`"),
        _ => {
            let list: Vec<String> = expected.iter().map(|k| format!("`{k}`")).collect();
            format!("unknown key `{name}`; expected one of {}", list.join(", "))
        }
    };
    syn::Error::new(meta.path.span(), message)
}

/// Consumes whatever follows an unknown key (`= value`, `(...)` or nothing), so that
/// parsing can go on and report the remaining keys too.
pub(crate) fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    meta.input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if let proc_macro2::TokenTree::Punct(p) = &tt
                && p.as_char() == ','
            {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    })
}

/// The value of `crate = "path::to::pxl_ws"`; a value that is not a path is reported at
/// the literal.
pub(crate) fn parse_crate(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
) -> syn::Result<Option<syn::Path>> {
    Ok(
        parse_lit_str(cx, meta, "crate = \"::pxl_ws\"")?.and_then(|lit| {
            lit.parse::<syn::Path>()
                .map_err(|_| {
                    cx.error_at(
                        lit.span(),
                        "`crate` must be a path to the pxl_ws crate, e.g. `crate = \"::pxl_ws\"`",
                    )
                })
                .ok()
        }),
    )
}

/// Parses `= "string"` after a key. A missing `=` or a value that is not a string
/// literal is recorded as an error (and `None` returned) so parsing can continue.
pub(crate) fn parse_lit_str(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
    example: &str,
) -> syn::Result<Option<LitStr>> {
    let key = key_name(meta);
    if !meta.input.peek(syn::Token![=]) {
        cx.push(meta.error(format_args!("expected `{key} = \"...\"`, e.g. `{example}`")));
        skip_value(meta)?;
        return Ok(None);
    }
    let value: Expr = meta.value()?.parse()?;
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(Some(s)),
        other => {
            cx.error_spanned_by(
                other,
                format_args!("`{key}` must be a string literal, e.g. `{example}`"),
            );
            Ok(None)
        }
    }
}

/// Parses a bare flag key (`auth`). A value (`auth = true`, `auth(...)`) is recorded as an
/// error at the key and skipped; the flag still counts as given.
pub(crate) fn parse_flag(cx: &mut Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.is_empty() || meta.input.peek(syn::Token![,]) {
        return Ok(());
    }
    let key = key_name(meta);
    let written = if meta.input.peek(syn::Token![=]) {
        format!("{key} = ...")
    } else {
        format!("{key}(...)")
    };
    cx.error_at(
        meta.path.span(),
        format_args!("`{key}` is a flag: write `{key}`, not `{written}`"),
    );
    skip_value(meta)
}

/// The character rule shared by controller types and action names:
/// `^[A-Za-z][A-Za-z0-9_.-]{0,63}$`.
pub(crate) const NAME_RULE: &str = "it must start with an ASCII letter and contain only ASCII letters, digits, `_`, `.` and `-`, at most 64 characters";

/// Checks a controller type or action name against [`NAME_RULE`]; `what` names it in
/// the error ("controller type", "action name").
pub(crate) fn check_name(cx: &mut Ctxt, what: &str, lit: &LitStr) {
    let value = lit.value();
    if value.is_empty() {
        cx.error_at(
            lit.span(),
            format_args!("the {what} must not be empty; {NAME_RULE}"),
        );
    } else if !is_valid_name(&value) {
        cx.error_at(
            lit.span(),
            format_args!("invalid {what} {value:?}: {NAME_RULE}"),
        );
    }
}

fn is_valid_name(value: &str) -> bool {
    let mut chars = value.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphabetic()
        && value.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Looks through invisible groups (`macro_rules!` fragments).
pub(crate) fn ungroup_expr(mut expr: &syn::Expr) -> &syn::Expr {
    while let syn::Expr::Group(g) = expr {
        expr = &g.expr;
    }
    expr
}

/// [`ungroup_expr`], by value.
pub(crate) fn ungroup(mut expr: syn::Expr) -> syn::Expr {
    while let syn::Expr::Group(g) = expr {
        expr = *g.expr;
    }
    expr
}

/// The first `impl Trait` anywhere in `ty`.
pub(crate) fn find_impl_trait(ty: &syn::Type) -> Option<&syn::Type> {
    match ty {
        syn::Type::ImplTrait(_) => Some(ty),
        syn::Type::Array(a) => find_impl_trait(&a.elem),
        syn::Type::Group(g) => find_impl_trait(&g.elem),
        syn::Type::Paren(p) => find_impl_trait(&p.elem),
        syn::Type::Ptr(p) => find_impl_trait(&p.elem),
        syn::Type::Reference(r) => find_impl_trait(&r.elem),
        syn::Type::Slice(s) => find_impl_trait(&s.elem),
        syn::Type::Tuple(t) => t.elems.iter().find_map(find_impl_trait),
        syn::Type::Path(p) => p
            .qself
            .as_ref()
            .and_then(|q| find_impl_trait(&q.ty))
            .or_else(|| {
                p.path.segments.iter().find_map(|s| match &s.arguments {
                    syn::PathArguments::AngleBracketed(args) => {
                        args.args.iter().find_map(|a| match a {
                            syn::GenericArgument::Type(t) => find_impl_trait(t),
                            _ => None,
                        })
                    }
                    _ => None,
                })
            }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::is_valid_name;

    #[test]
    fn name_rule() {
        for ok in ["a", "chat", "Chat.v2", "a-b_c.d", &"a".repeat(64)] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "9chat", "_x", "-x", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
