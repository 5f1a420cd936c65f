//! Checks on the parsed model: names, roles, duplicates and handler signatures.

use std::collections::HashMap;

use proc_macro2::Span;

use super::{AuthAttr, Controller};
use crate::attr;
use crate::diag::Ctxt;
use crate::handler::{self, Handler};

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
        for code in &action.attr.errors {
            attr::check_name(cx, "error code", code);
        }
        handler::signature(cx, &action.sig, Handler::Action);
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
