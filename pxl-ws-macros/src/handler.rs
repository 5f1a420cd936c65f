//! The handler-signature rules shared by `#[action]` methods and `#[subscriber]`
//! functions: both are called by generated code with concrete extractor values, so both
//! must be plain `async fn`s.

use syn::{FnArg, Signature, Type};

use crate::attr;
use crate::diag::Ctxt;

/// Which kind of handler a signature belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handler {
    /// An `#[action]` method: takes `&self`.
    Action,
    /// A `#[subscriber]` function: a free function, no receiver.
    Subscriber,
}

impl Handler {
    /// The subject of every message ("`#[action]` methods must be ...").
    fn subject(self) -> &'static str {
        match self {
            Handler::Action => "`#[action]` methods",
            Handler::Subscriber => "a `#[subscriber]` function",
        }
    }

    /// The attribute, for the `impl Trait` message.
    fn attribute(self) -> &'static str {
        match self {
            Handler::Action => "`#[action]`",
            Handler::Subscriber => "`#[subscriber]`",
        }
    }

    /// Who calls the handler, for the generics message.
    fn caller(self) -> &'static str {
        match self {
            Handler::Action => "the router calls them",
            Handler::Subscriber => "the dispatcher calls it",
        }
    }
}

/// Records every way `sig` is not `async fn name(<receiver>, extractor: Type, ...)`:
/// not `async`; `const`, `unsafe`, `extern` or variadic; generic; the wrong receiver
/// (`&self` for an action, none for a subscriber); an `impl Trait` argument.
pub(crate) fn signature(cx: &mut Ctxt, sig: &Signature, handler: Handler) {
    let subject = handler.subject();
    if let Some(constness) = &sig.constness {
        cx.error_spanned_by(constness, format_args!("{subject} cannot be `const`"));
    }
    if sig.asyncness.is_none() {
        cx.error_at(
            sig.fn_token.span,
            format_args!("{subject} must be `async`: write `async fn`"),
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        cx.error_spanned_by(unsafety, format_args!("{subject} cannot be `unsafe`"));
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(abi, format_args!("{subject} cannot have an `extern` ABI"));
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            format_args!(
                "{subject} cannot have generic parameters (types, consts or lifetimes): \
                 {} with concrete extractor types",
                handler.caller()
            ),
        );
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(variadic, format_args!("{subject} cannot be variadic"));
    }
    match handler {
        Handler::Action => action_receiver(cx, sig),
        Handler::Subscriber => {
            for input in &sig.inputs {
                if let FnArg::Receiver(receiver) = input {
                    cx.error_spanned_by(
                        receiver,
                        format_args!("{subject} cannot take `self`; write a free `async fn`"),
                    );
                }
            }
        }
    }
    for input in &sig.inputs {
        if let FnArg::Typed(arg) = input
            && let Some(impl_trait) = attr::find_impl_trait(&arg.ty)
        {
            cx.error_spanned_by(
                impl_trait,
                format_args!(
                    "`impl Trait` is not supported in {} arguments: name a concrete \
                     extractor type",
                    handler.attribute()
                ),
            );
        }
    }
}

/// An action takes `&self` (or `self: &Self`) first: one controller value serves every
/// connection.
fn action_receiver(cx: &mut Ctxt, sig: &Signature) {
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
