//! Checks on `#[push(...)]`: the names follow the rule of controller types and actions.

use super::PushAttr;
use crate::attr;
use crate::diag::Ctxt;

pub(super) fn push(cx: &mut Ctxt, attr: &PushAttr) {
    if let Some(ty) = &attr.ty {
        attr::check_name(cx, "push type", ty);
    }
    if let Some(action) = &attr.action {
        attr::check_name(cx, "push action", action);
    }
}
