//! `#[derive(Push)]` with its helper attribute `#[push(type = "...", action = "...")]`.
//!
//! [`parse`] reads the attribute into [`PushAttr`], [`validate`] checks the names, and
//! [`expand`] writes the `Push` impl from the model. Mistakes are reported together; an
//! impl is emitted in every case (with empty names after an error) so that sends of the
//! type add no follow-on errors.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::quote;
use syn::LitStr;

use crate::diag::Ctxt;

/// `#[push(type = "chat", action = "message", crate = "...")]`.
#[derive(Default)]
pub(crate) struct PushAttr {
    /// `type = "chat"`; `None` when missing or invalid (already reported).
    pub(crate) ty: Option<LitStr>,
    /// `action = "message"`.
    pub(crate) action: Option<LitStr>,
    /// `crate = "path::to::pxl_ws"`.
    pub(crate) krate: Option<syn::Path>,
}

/// `#[derive(Push)]` on `input`.
pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let mut cx = Ctxt::new();
    let item = match syn::parse2::<syn::DeriveInput>(input) {
        Ok(item) => item,
        Err(e) => return e.to_compile_error(),
    };
    let attr = parse::push_attr(&mut cx, &item);
    validate::push(&mut cx, &attr);
    let valid = cx.is_empty();
    let generated = expand::push(&item, &attr, valid);
    let errors = cx.to_compile_errors();
    quote! {
        #generated
        #errors
    }
}
