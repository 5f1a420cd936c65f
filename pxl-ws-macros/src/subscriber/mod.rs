//! `#[subscriber]`: an `async fn` becomes a pxl-ws subscriber.
//!
//! [`parse`] turns the attribute and the function into the model below, [`validate`]
//! checks it (including every regex, compiled here) and [`expand`] writes the companion
//! struct and its `Subscriber` impl from the model alone. The function is emitted
//! unchanged in every case, so it stays callable; after an error the companion is still
//! emitted, matching nothing, so that `subscribers![name]` adds no follow-on errors.

mod expand;
mod parse;
mod validate;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Expr, LitInt, LitStr, Path, Type};

use crate::diag::Ctxt;

/// The eleven built-in events: `Event` variant and channel name.
pub(crate) const EVENTS: [(&str, &str); 11] = [
    ("ClientConnected", "clientConnected"),
    ("ClientDisconnected", "clientDisconnected"),
    ("DisconnectClient", "disconnectClient"),
    ("ClientJoinedRoom", "clientJoinedRoom"),
    ("ClientLeftRoom", "clientLeftRoom"),
    ("SendMessage", "sendMessage"),
    ("SendMessageToAll", "sendMessageToAll"),
    ("MessageError", "messageError"),
    ("QueueJobCompleted", "queueJobCompleted"),
    ("QueueJobError", "queueJobError"),
    ("Custom", "custom"),
];

/// A parsed `#[subscriber]` function.
pub(crate) struct SubscriberFn {
    pub(crate) attr: SubscriberAttr,
    pub(crate) func: syn::ItemFn,
    /// The argument types: each one is an extractor.
    pub(crate) args: Vec<Type>,
}

/// Which key selected the channels.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SelectKey {
    Channel,
    Channels,
    Matches,
}

impl SelectKey {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SelectKey::Channel => "channel",
            SelectKey::Channels => "channels",
            SelectKey::Matches => "matches",
        }
    }
}

/// One selection key as given: the key, its span, the list's span and its items.
pub(crate) struct Selection {
    pub(crate) key: SelectKey,
    pub(crate) key_span: Span,
    pub(crate) list_span: Span,
    /// How many matchers were written (invalid ones, already reported, are not in `items`).
    pub(crate) written: usize,
    pub(crate) items: Vec<MatcherSpec>,
}

/// One matcher as written.
pub(crate) enum MatcherSpec {
    /// A string literal: `"*"` or an exact channel.
    Str(LitStr),
    /// `Event::Variant` (the path as written; the variant checked by `validate`).
    Event(Path),
    /// `regex("...")`.
    Regex(LitStr),
    /// `predicate(path::to_fn)`.
    Predicate(Path),
}

/// `#[subscriber(...)]`.
#[derive(Default)]
pub(crate) struct SubscriberAttr {
    pub(crate) selections: Vec<Selection>,
    /// `priority = N`, parsed.
    pub(crate) priority: Option<(LitInt, i32)>,
    pub(crate) name: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
    pub(crate) middleware: Vec<Expr>,
    pub(crate) krate: Option<Path>,
}

/// `#[subscriber(...)]` on `input`.
pub(crate) fn subscriber(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut cx = Ctxt::new();
    let attr = parse::attr(&mut cx, args);
    let func = match syn::parse2::<syn::ItemFn>(input.clone()) {
        Ok(f) => f,
        Err(_) => {
            cx.error_at(
                Span::call_site(),
                "`#[subscriber]` must be used on an `async fn`",
            );
            let errors = cx.to_compile_errors();
            return quote!(#input #errors);
        }
    };
    let sub = parse::function(attr, func);
    validate::subscriber(&mut cx, &sub);
    let generated = if cx.is_empty() {
        expand::subscriber(&sub)
    } else if sub.func.sig.receiver().is_some() {
        // Most likely a method: a companion struct cannot be declared inside an impl
        // block, and would only add errors.
        TokenStream::new()
    } else {
        expand::fallback(&sub)
    };
    let errors = cx.to_compile_errors();
    let func = &sub.func;
    quote! {
        #func
        #generated
        #errors
    }
}
