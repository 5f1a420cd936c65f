//! `#[ws_controller]` and its helper attribute `#[action]`.
//!
//! [`parse`] turns the attribute and the impl block into the small model below (and
//! strips the `#[action]` attributes from the impl), [`validate`] checks the model, and
//! [`expand`] writes the `Controller` impl from the model alone. Every mistake found on
//! the way is recorded in one [`Ctxt`] and reported together; the user's impl block is
//! emitted in every case.

mod expand;
mod parse;
mod validate;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{LitStr, Type};

use crate::diag::Ctxt;

/// A parsed `#[ws_controller]` impl block.
pub(crate) struct Controller {
    /// The arguments of `#[ws_controller(...)]`.
    pub(crate) attr: ControllerAttr,
    /// The impl block's generics (passed through to the `Controller` impl).
    pub(crate) generics: syn::Generics,
    /// The type the impl block is for.
    pub(crate) self_ty: Type,
    /// The methods marked `#[action]`, in source order.
    pub(crate) actions: Vec<Action>,
}

/// `#[ws_controller(type = "...", crate = "...", auth, roles = [...])]`.
pub(crate) struct ControllerAttr {
    /// `type = "chat"`; `None` when missing or not a string (already reported).
    pub(crate) ty: Option<LitStr>,
    /// `crate = "path::to::pxl_ws"`.
    pub(crate) krate: Option<syn::Path>,
    /// `auth` and `roles = [...]`: the default of every action.
    pub(crate) auth: AuthAttr,
    /// `pushes = [ChatMessage, ...]`: the pushes the controller sends, for the contract.
    pub(crate) pushes: Vec<Type>,
}

/// The authorization keys of one attribute (`#[ws_controller]` or `#[action]`).
#[derive(Default)]
pub(crate) struct AuthAttr {
    /// The `auth` flag was given.
    pub(crate) auth: bool,
    /// `roles = ["admin", ...]`; `None` when not given or not a list of string literals
    /// (already reported).
    pub(crate) roles: Option<Vec<LitStr>>,
}

/// One `#[action("...")]` method.
pub(crate) struct Action {
    /// The arguments of `#[action(...)]`.
    pub(crate) attr: ActionAttr,
    /// Where the `#[action]` attribute starts: the route table reports this line.
    pub(crate) attr_span: Span,
    /// The method's signature (checked by `validate`).
    pub(crate) sig: syn::Signature,
    /// The method's arguments after the receiver: each one is an extractor.
    pub(crate) args: Vec<Arg>,
    /// How the return value becomes a reply.
    pub(crate) reply: ReplyKind,
    /// The `T` of a `Data<T>` argument, as source text.
    pub(crate) payload: Option<String>,
    /// The `T` of a `Data<T>` argument, for its schema.
    pub(crate) payload_ty: Option<Type>,
    /// The type of the reply's `response` (`T` of `Result<T, E>`, or the return type),
    /// for its schema; `None` for replies without `response`.
    pub(crate) response_ty: Option<Type>,
}

/// `#[action("send", auth, roles = [...])]`.
#[derive(Default)]
pub(crate) struct ActionAttr {
    /// The action name; `None` when missing or not a string (already reported).
    pub(crate) name: Option<LitStr>,
    /// `auth` and `roles = [...]`, overriding the controller's.
    pub(crate) auth: AuthAttr,
    /// `errors = ["NOT_IN_ROOM", ...]`: the app's error codes, for the contract.
    pub(crate) errors: Vec<LitStr>,
}

impl Action {
    /// What a client needs to call this action: `None` when anyone may, otherwise the
    /// roles of which it needs one (empty: any authenticated client).
    ///
    /// The route needs authentication when `auth` or `roles` is given on the controller
    /// or on the action; its roles are the action's if given, else the controller's.
    pub(crate) fn required_roles<'a>(
        &'a self,
        controller: &'a ControllerAttr,
    ) -> Option<&'a [LitStr]> {
        let (on_controller, on_action) = (&controller.auth, &self.attr.auth);
        let roles = on_action
            .roles
            .as_deref()
            .or(on_controller.roles.as_deref());
        let auth = on_controller.auth || on_action.auth || roles.is_some();
        auth.then(|| roles.unwrap_or_default())
    }
}

/// A handler argument.
pub(crate) struct Arg {
    /// Its type: must implement `FromMessage`.
    pub(crate) ty: Type,
    /// `pattern: Type` as source text, for build-time check messages.
    pub(crate) text: String,
}

/// How a handler's return value is turned into a `Reply`, decided from the syntax of
/// the return type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplyKind {
    /// No return type, or `()`: `reply_unit`.
    Unit,
    /// `Result<(), E>`: `reply_result_unit`.
    ResultUnit,
    /// `Result<T, E>`: `reply_result`.
    Result,
    /// Anything else (`T: Serialize`): `reply_value`.
    Value,
}

/// `#[ws_controller(...)]` on `input`.
pub(crate) fn ws_controller(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut cx = Ctxt::new();
    let attr = parse::controller_attr(&mut cx, args);
    let item = match syn::parse2::<syn::Item>(input.clone()) {
        Ok(item) => item,
        Err(e) => {
            cx.push(e);
            let errors = cx.to_compile_errors();
            return quote!(#input #errors);
        }
    };
    let mut item_impl = match parse::inherent_impl(&mut cx, item) {
        Ok(item_impl) => item_impl,
        Err(item) => {
            let errors = cx.to_compile_errors();
            return quote!(#item #errors);
        }
    };
    let controller = parse::controller(&mut cx, attr, &mut item_impl);
    validate::controller(&mut cx, &controller);
    let generated = if cx.is_empty() {
        expand::controller(&controller)
    } else {
        expand::fallback(&controller)
    };
    let errors = cx.to_compile_errors();
    quote! {
        #item_impl
        #generated
        #errors
    }
}

/// A stray `#[action(...)]`: one that `#[ws_controller]` did not consume.
pub(crate) fn stray_action(_args: TokenStream, input: TokenStream) -> TokenStream {
    let error = syn::Error::new(
        Span::call_site(),
        "`#[action]` must be used on a method inside an impl block annotated with \
         `#[ws_controller(type = \"...\")]`",
    )
    .to_compile_error();
    quote!(#input #error)
}
