//! Checks on the parsed model: names, roles, duplicates and handler signatures.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::{FnArg, Signature, Type};

use super::{AuthAttr, Controller};
use crate::attr;
use crate::diag::Ctxt;

/// Records every problem of `controller` in `cx`.
pub(super) fn controller(cx: &mut Ctxt, controller: &Controller) {
    if let Some(ty) = &controller.attr.ty {
        attr::check_name(cx, "controller type", ty);
    }
    roles(cx, &controller.attr.auth);
    let mut seen: HashMap<String, Span> = HashMap::new();
    for action in &controller.actions {
        if let Some(name) = &action.attr.name {
            attr::check_name(cx, "action name", name);
            match seen.get(&name.value()) {
                Some(first) => cx.error_with_note(
                    name.span(),
                    format_args!("duplicate action {:?} in this controller", name.value()),
                    *first,
                    "first defined here",
                ),
                None => {
                    seen.insert(name.value(), name.span());
                }
            }
        }
        roles(cx, &action.attr.auth);
        signature(cx, &action.sig);
    }
}

/// The character rule of roles: `^[A-Za-z0-9_.:-]{1,64}$`.
const ROLE_RULE: &str = "a role contains only ASCII letters, digits, `_`, `.`, `:` and `-`, \
                         at most 64 characters";

/// Every role of `roles = [...]` follows [`ROLE_RULE`] and is given once.
fn roles(cx: &mut Ctxt, auth: &AuthAttr) {
    let Some(roles) = &auth.roles else {
        return;
    };
    let mut seen: HashMap<String, Span> = HashMap::new();
    for role in roles {
        let value = role.value();
        if value.is_empty() {
            cx.error_at(
                role.span(),
                format_args!("a role must not be empty; {ROLE_RULE}"),
            );
            continue;
        }
        if !is_valid_role(&value) {
            cx.error_at(
                role.span(),
                format_args!("invalid role {value:?}: {ROLE_RULE}"),
            );
        }
        match seen.get(&value) {
            Some(first) => cx.error_with_note(
                role.span(),
                format_args!("duplicate role {value:?}"),
                *first,
                "first given here",
            ),
            None => {
                seen.insert(value, role.span());
            }
        }
    }
}

fn is_valid_role(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
}

/// An action handler is `async fn name(&self, extractor: Type, ...)`, not generic.
fn signature(cx: &mut Ctxt, sig: &Signature) {
    if sig.asyncness.is_none() {
        cx.error_at(
            sig.fn_token.span,
            "`#[action]` methods must be `async`: write `async fn`",
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        cx.error_spanned_by(unsafety, "`#[action]` methods cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(abi, "`#[action]` methods cannot have an `extern` ABI");
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            "`#[action]` methods cannot have generic parameters (types, consts or lifetimes): \
             the router calls them with concrete extractor types",
        );
    }
    receiver(cx, sig);
    for input in &sig.inputs {
        if let FnArg::Typed(arg) = input
            && let Some(impl_trait) = attr::find_impl_trait(&arg.ty)
        {
            cx.error_spanned_by(
                impl_trait,
                "`impl Trait` is not supported in `#[action]` arguments: name a concrete \
                 extractor type",
            );
        }
    }
}

fn receiver(cx: &mut Ctxt, sig: &Signature) {
    const MESSAGE: &str = "`#[action]` methods must take `&self`: one controller value serves \
                           every connection";
    match sig.inputs.first() {
        Some(FnArg::Receiver(receiver)) => {
            let shared_ref = match &receiver.colon_token {
                None => receiver.reference.is_some() && receiver.mutability.is_none(),
                Some(_) => is_ref_self(&receiver.ty),
            };
            if !shared_ref {
                cx.error_spanned_by(receiver, MESSAGE);
            }
        }
        _ => cx.error_at(
            sig.paren_token.span.join(),
            format_args!("{MESSAGE}; add `&self` as the first parameter"),
        ),
    }
}

/// `&Self` (explicit receiver type `self: &Self`).
fn is_ref_self(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => {
            r.mutability.is_none()
                && matches!(&*r.elem, Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_valid_role;

    #[test]
    fn role_rule() {
        for ok in ["admin", "9", "_", "org:admin", "a.b-c_d", &"r".repeat(64)] {
            assert!(is_valid_role(ok), "{ok}");
        }
        for bad in ["", "a b", "a/b", "é", "admin!", &"r".repeat(65)] {
            assert!(!is_valid_role(bad), "{bad}");
        }
    }
}
