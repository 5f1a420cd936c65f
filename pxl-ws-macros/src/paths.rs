//! The one table of runtime paths used by generated code (Rocket's `exports.rs`).
//!
//! Generated code starts its `const _: () = { ... };` block with
//! `use <crate> as __pxl_ws;` — `<crate>` is `::pxl_ws` unless overridden with
//! `crate = "..."` — and names everything through that alias, reaching the standard
//! library through `__pxl_ws::__private::std`. So expansions work under
//! `#![no_implicit_prelude]`, and a wrong `crate` path is one error, at the literal,
//! rather than one per generated path (rustc does not report paths through a failed
//! import again).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::Ident;

/// Runtime paths, through the `__pxl_ws` alias of the crate path.
pub(crate) struct Paths {
    krate: TokenStream,
}

impl Paths {
    /// `krate` is the `crate = "..."` override, if any.
    pub(crate) fn new(krate: Option<&syn::Path>) -> Self {
        let krate = match krate {
            Some(path) => path.to_token_stream(),
            None => quote!(::pxl_ws),
        };
        Self { krate }
    }

    /// `use <crate> as __pxl_ws;`, the first item of the generated block.
    pub(crate) fn import(&self) -> TokenStream {
        let krate = &self.krate;
        let alias = alias();
        quote!(use #krate as #alias;)
    }

    /// `module::Item` under the crate path.
    fn runtime(&self, module: &str, item: &str) -> TokenStream {
        let alias = alias();
        let module = Ident::new(module, Span::call_site());
        let item = Ident::new(item, Span::call_site());
        quote!(#alias::#module::#item)
    }

    /// The standard library (`__private::std`), for `Option`, `Vec`, `format!`, ...
    pub(crate) fn std(&self) -> TokenStream {
        let alias = alias();
        quote!(#alias::__private::std)
    }

    pub(crate) fn controller(&self) -> TokenStream {
        self.runtime("controller", "Controller")
    }

    pub(crate) fn route_info(&self) -> TokenStream {
        self.runtime("controller", "RouteInfo")
    }

    pub(crate) fn message_context(&self) -> TokenStream {
        self.runtime("controller", "MessageContext")
    }

    pub(crate) fn box_future(&self) -> TokenStream {
        self.runtime("controller", "BoxFuture")
    }

    pub(crate) fn reply(&self) -> TokenStream {
        self.runtime("controller", "Reply")
    }

    pub(crate) fn extractor_trait(&self) -> TokenStream {
        self.runtime("controller", "FromMessage")
    }

    pub(crate) fn state_map(&self) -> TokenStream {
        self.runtime("controller", "StateMap")
    }

    pub(crate) fn push_trait(&self) -> TokenStream {
        self.runtime("push", "Push")
    }

    pub(crate) fn push_info(&self) -> TokenStream {
        self.runtime("push", "PushInfo")
    }

    pub(crate) fn schemas(&self) -> TokenStream {
        self.runtime("contract", "Schemas")
    }

    pub(crate) fn action_schema(&self) -> TokenStream {
        self.runtime("contract", "ActionSchema")
    }

    /// `serde_json::Value`, through `__private::JsonValue`.
    pub(crate) fn json_value(&self) -> TokenStream {
        self.private("JsonValue")
    }

    pub(crate) fn subscriber(&self) -> TokenStream {
        self.runtime("subscriber", "Subscriber")
    }

    pub(crate) fn subscriber_context(&self) -> TokenStream {
        self.runtime("subscriber", "SubscriberContext")
    }

    pub(crate) fn subscriber_error(&self) -> TokenStream {
        self.runtime("subscriber", "SubscriberError")
    }

    pub(crate) fn subscriber_return(&self) -> TokenStream {
        self.runtime("subscriber", "SubscriberReturn")
    }

    pub(crate) fn event_extractor_trait(&self) -> TokenStream {
        self.runtime("subscriber", "FromEvent")
    }

    pub(crate) fn matcher(&self) -> TokenStream {
        self.runtime("subscriber", "Matcher")
    }

    pub(crate) fn event(&self) -> TokenStream {
        self.runtime("subscriber", "Event")
    }

    pub(crate) fn middleware(&self) -> TokenStream {
        self.runtime("subscriber", "Middleware")
    }

    /// An item of `__private`: a reply conversion (`reply_unit`, `reply_value`, ...) or
    /// a re-exported dependency (`regex`).
    pub(crate) fn private(&self, name: &str) -> TokenStream {
        let alias = alias();
        let ident = Ident::new(name, Span::call_site());
        quote!(#alias::__private::#ident)
    }
}

fn alias() -> Ident {
    Ident::new("__pxl_ws", Span::call_site())
}
