//! `#[subscriber(...)]` and its function → [`SubscriberFn`].

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit};

use super::{MatcherSpec, SelectKey, Selection, SubscriberAttr, SubscriberFn};
use crate::attr::{Attr, parse_lit_str, skip_value, ungroup, ungroup_expr, unknown_key};
use crate::diag::Ctxt;

const KEYS: &[&str] = &[
    "channel",
    "channels",
    "matches",
    "priority",
    "name",
    "description",
    "middleware",
    "crate",
];

pub(crate) fn attr(cx: &mut Ctxt, args: TokenStream) -> SubscriberAttr {
    let mut out = SubscriberAttr::default();
    let mut priority = Attr::none("priority");
    let mut name = Attr::none("name");
    let mut description = Attr::none("description");
    let mut middleware = Attr::none("middleware");
    let mut krate = Attr::none("crate");
    let mut select_seen: Vec<(SelectKey, proc_macro2::Span)> = Vec::new();
    let parser = syn::meta::parser(|meta| {
        let key = crate::attr::key_name(&meta);
        let span = meta.path.span();
        match key.as_str() {
            "channel" | "channels" | "matches" => {
                let k = match key.as_str() {
                    "channel" => SelectKey::Channel,
                    "channels" => SelectKey::Channels,
                    _ => SelectKey::Matches,
                };
                if let Some((_, first_span)) = select_seen.iter().find(|(f, _)| *f == k) {
                    cx.error_with_note(
                        span,
                        format_args!("duplicate key `{key}`"),
                        *first_span,
                        format_args!("`{key}` first given here"),
                    );
                    return skip_value(&meta);
                }
                select_seen.push((k, span));
                if let Some(sel) = selection(cx, &meta, k)? {
                    out.selections.push(sel);
                }
                Ok(())
            }
            "priority" => {
                if !meta.input.peek(syn::Token![=]) {
                    cx.push(meta.error("expected `priority = N`, e.g. `priority = 20`"));
                    return skip_value(&meta);
                }
                let value: Expr = meta.value()?.parse()?;
                match int_value(ungroup_expr(&value)) {
                    Some(v) => priority.set(cx, span, v),
                    None => cx.error_spanned_by(
                        &value,
                        "`priority` must be an integer literal (an `i32`), e.g. `priority = 20`",
                    ),
                }
                Ok(())
            }
            "name" => {
                if let Some(s) = parse_lit_str(cx, &meta, "name = \"queueDashboard\"")? {
                    name.set(cx, span, s);
                }
                Ok(())
            }
            "description" => {
                if let Some(s) = parse_lit_str(cx, &meta, "description = \"...\"")? {
                    description.set(cx, span, s);
                }
                Ok(())
            }
            "middleware" => {
                let value: Expr = meta.value()?.parse()?;
                match ungroup(value) {
                    Expr::Array(a) => middleware.set(cx, span, a.elems.into_iter().collect()),
                    other => cx.error_spanned_by(
                        other,
                        "`middleware` must be a list, e.g. `middleware = [LoggingMiddleware]`",
                    ),
                }
                Ok(())
            }
            "crate" => {
                if let Some(p) = crate::attr::parse_crate(cx, &meta)? {
                    krate.set(cx, span, p);
                }
                Ok(())
            }
            _ => {
                cx.push(unknown_key(&meta, "#[subscriber]", KEYS));
                skip_value(&meta)
            }
        }
    });
    if let Err(e) = parser.parse2(args) {
        cx.push(e);
    }
    out.priority = priority.get();
    out.name = name.get();
    out.description = description.get();
    out.middleware = middleware.get().unwrap_or_default();
    out.krate = krate.get();
    out
}

/// `N` or `-N` as an `i32`.
fn int_value(e: &Expr) -> Option<(syn::LitInt, i32)> {
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<i32>().ok().map(|v| (i.clone(), v)),
        Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => {
            let (lit, v) = int_value(&u.expr)?;
            Some((lit, v.checked_neg()?))
        }
        _ => None,
    }
}

fn selection(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: SelectKey,
) -> syn::Result<Option<Selection>> {
    let key_span = meta.path.span();
    let value = ungroup(meta.value()?.parse()?);
    let list_span = value.span();
    let exprs: Vec<Expr> = match (key, value) {
        (SelectKey::Channel, Expr::Array(a)) => {
            cx.error_spanned_by(
                a,
                "`channel` takes one channel; use `channels = [...]` for several",
            );
            return Ok(Some(Selection {
                key,
                key_span,
                list_span,
                written: 1,
                items: Vec::new(),
            }));
        }
        (SelectKey::Channel, e) => vec![e],
        (_, Expr::Array(a)) => a.elems.into_iter().collect(),
        (_, other) => {
            cx.error_spanned_by(
                other,
                format_args!(
                    "`{}` must be a list, e.g. `{} = [\"orders\"]`",
                    key.as_str(),
                    key.as_str()
                ),
            );
            return Ok(Some(Selection {
                key,
                key_span,
                list_span,
                written: 1,
                items: Vec::new(),
            }));
        }
    };
    let written = exprs.len();
    let mut items = Vec::new();
    for e in exprs {
        if let Some(m) = matcher(cx, key, e) {
            items.push(m);
        }
    }
    Ok(Some(Selection {
        key,
        key_span,
        list_span,
        written,
        items,
    }))
}

fn matcher(cx: &mut Ctxt, key: SelectKey, e: Expr) -> Option<MatcherSpec> {
    let expected = match key {
        SelectKey::Matches => {
            "expected `\"*\"`, a channel string, `Event::Variant`, `regex(\"...\")` or `predicate(path::to_fn)`"
        }
        _ => "expected a channel string literal or `Event::Variant`",
    };
    match ungroup(e) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(MatcherSpec::Str(s)),
        Expr::Path(p) if p.qself.is_none() => Some(MatcherSpec::Event(p.path)),
        Expr::Call(c) if key == SelectKey::Matches => {
            let f = match &*c.func {
                Expr::Path(p) if p.path.is_ident("regex") || p.path.is_ident("predicate") => {
                    p.path.segments[0].ident.to_string()
                }
                other => {
                    cx.error_spanned_by(other, expected);
                    return None;
                }
            };
            if c.args.len() != 1 {
                cx.error_spanned_by(&c, format_args!("`{f}(...)` takes exactly one argument"));
                return None;
            }
            let arg = c.args.into_iter().next()?;
            match (f.as_str(), ungroup(arg)) {
                (
                    "regex",
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }),
                ) => Some(MatcherSpec::Regex(s)),
                ("regex", other) => {
                    cx.error_spanned_by(
                        other,
                        "`regex(...)` takes a string literal, e.g. `regex(\"^analytics:\")`",
                    );
                    None
                }
                (_, Expr::Path(p)) if p.qself.is_none() => Some(MatcherSpec::Predicate(p.path)),
                (_, other) => {
                    cx.error_spanned_by(other, "`predicate(...)` takes a path to a function `fn(&str, &serde_json::Value) -> bool`");
                    None
                }
            }
        }
        other => {
            cx.error_spanned_by(other, expected);
            None
        }
    }
}

pub(crate) fn function(attr: SubscriberAttr, func: syn::ItemFn) -> SubscriberFn {
    // A receiver is reported by `validate`.
    let args = func
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            syn::FnArg::Typed(t) => Some((*t.ty).clone()),
            syn::FnArg::Receiver(_) => None,
        })
        .collect();
    SubscriberFn { attr, func, args }
}
