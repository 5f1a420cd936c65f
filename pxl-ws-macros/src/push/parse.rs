//! `#[push(...)]` into [`PushAttr`], key by key.

use syn::spanned::Spanned;

use super::PushAttr;
use crate::attr::{self, Attr};
use crate::diag::Ctxt;

/// The keys `#[push(...)]` accepts.
const PUSH_KEYS: &[&str] = &["type", "action", "crate"];

const USAGE: &str =
    "add `#[push(type = \"...\", action = \"...\")]` to bind the type to the frames that carry it";

/// Finds the one `#[push(...)]` attribute and parses it.
pub(super) fn push_attr(cx: &mut Ctxt, item: &syn::DeriveInput) -> PushAttr {
    let found: Vec<&syn::Attribute> = item
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("push"))
        .collect();
    let Some((first, rest)) = found.split_first() else {
        cx.error_at(
            item.ident.span(),
            format_args!("missing `#[push(...)]` on `{}`: {USAGE}", item.ident),
        );
        return PushAttr::default();
    };
    for extra in rest {
        cx.error_spanned_with_note(
            extra,
            "duplicate `#[push]` attribute: a type is bound to exactly one `(type, action)`",
            first,
            "first `#[push]` here",
        );
    }
    let list = match &first.meta {
        syn::Meta::List(list) => list,
        other => {
            cx.error_spanned_by(
                other,
                format_args!("expected `#[push(type = \"...\", action = \"...\")]`"),
            );
            return PushAttr::default();
        }
    };
    let mut ty = Attr::<Option<syn::LitStr>>::none("type");
    let mut action = Attr::<Option<syn::LitStr>>::none("action");
    let mut krate = Attr::<Option<syn::Path>>::none("crate");
    let result = list.parse_nested_meta(|meta| {
        let span = meta.path.span();
        if meta.path.is_ident("type") {
            let lit = attr::parse_lit_str(cx, &meta, "type = \"chat\"")?;
            ty.set(cx, span, lit);
        } else if meta.path.is_ident("action") {
            let lit = attr::parse_lit_str(cx, &meta, "action = \"message\"")?;
            action.set(cx, span, lit);
        } else if meta.path.is_ident("crate") {
            let path = attr::parse_crate(cx, &meta)?;
            krate.set(cx, span, path);
        } else {
            cx.push(attr::unknown_key(&meta, "#[push]", PUSH_KEYS));
            attr::skip_value(&meta)?;
        }
        Ok(())
    });
    let complete = match result {
        Ok(()) => true,
        Err(e) => {
            cx.push(e);
            false
        }
    };
    let (ty, action) = (ty.get(), action.get());
    if complete {
        for (key, value) in [("type", &ty), ("action", &action)] {
            if value.is_none() {
                cx.error_spanned_by(
                    first,
                    format_args!("missing `{key} = \"...\"` in `#[push(...)]`"),
                );
            }
        }
    }
    PushAttr {
        ty: ty.flatten(),
        action: action.flatten(),
        krate: krate.get().flatten(),
    }
}
