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

    fn runtime(&self, item: &str) -> TokenStream {
        let alias = alias();
        let item = Ident::new(item, Span::call_site());
        quote!(#alias::#item)
    }

    /// The standard library (`__private::std`), for `Option`, `Vec`, `format!`, ...
    pub(crate) fn std(&self) -> TokenStream {
        let alias = alias();
        quote!(#alias::__private::std)
    }

    pub(crate) fn controller(&self) -> TokenStream {
        self.runtime("Controller")
    }

    pub(crate) fn route_info(&self) -> TokenStream {
        self.runtime("RouteInfo")
    }

    pub(crate) fn message_context(&self) -> TokenStream {
        self.runtime("MessageContext")
    }

    pub(crate) fn box_future(&self) -> TokenStream {
        self.runtime("BoxFuture")
    }

    pub(crate) fn reply(&self) -> TokenStream {
        self.runtime("Reply")
    }

    pub(crate) fn extractor_trait(&self) -> TokenStream {
        self.runtime("FromMessage")
    }

    pub(crate) fn state_map(&self) -> TokenStream {
        self.runtime("StateMap")
    }

    pub(crate) fn subscriber(&self) -> TokenStream {
        self.runtime("Subscriber")
    }

    pub(crate) fn subscriber_context(&self) -> TokenStream {
        self.runtime("SubscriberContext")
    }

    pub(crate) fn subscriber_error(&self) -> TokenStream {
        self.runtime("SubscriberError")
    }

    pub(crate) fn subscriber_return(&self) -> TokenStream {
        self.runtime("SubscriberReturn")
    }

    pub(crate) fn event_extractor_trait(&self) -> TokenStream {
        self.runtime("FromEvent")
    }

    pub(crate) fn matcher(&self) -> TokenStream {
        self.runtime("Matcher")
    }

    pub(crate) fn event(&self) -> TokenStream {
        self.runtime("Event")
    }

    pub(crate) fn middleware(&self) -> TokenStream {
        self.runtime("Middleware")
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
