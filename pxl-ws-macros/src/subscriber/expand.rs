//! [`SubscriberFn`] → the companion struct and its `Subscriber` impl, naming the runtime
//! through the path table (`paths.rs`) only.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::LitStr;
use syn::spanned::Spanned;

use super::{MatcherSpec, SubscriberFn};
use crate::paths::Paths;

/// The companion struct and the `Subscriber` impl of a valid subscriber.
pub(crate) fn subscriber(sub: &SubscriberFn) -> TokenStream {
    let paths = Paths::new(sub.attr.krate.as_ref());
    let std = paths.std();
    let ident = &sub.func.sig.ident;
    let matcher = paths.matcher();
    let matchers = sub
        .attr
        .selections
        .iter()
        .flat_map(|s| &s.items)
        .map(|m| match m {
            MatcherSpec::Str(l) => quote! {
                <#matcher as #std::convert::From<&#std::primitive::str>>::from(#l)
            },
            // The path as written (so that the user's `use pxl_ws::Event` is used); the
            // variant was checked against the eleven.
            MatcherSpec::Event(p) => {
                let event = paths.event();
                quote!(<#matcher as #std::convert::From<#event>>::from(#p))
            }
            MatcherSpec::Regex(l) => {
                let regex = paths.private("regex");
                quote! {
                    #matcher::Regex(
                        #std::result::Result::expect(
                            #regex::Regex::new(#l),
                            "checked by #[subscriber]",
                        )
                    )
                }
            }
            MatcherSpec::Predicate(p) => quote!(#matcher::predicate(#p)),
        });
    let middleware_trait = paths.middleware();
    let middleware = sub.attr.middleware.iter().map(|e| {
        quote_spanned! {e.span()=>
            #std::sync::Arc::new(#e) as #std::sync::Arc<dyn #middleware_trait>
        }
    });
    let from_event = paths.event_extractor_trait();
    let arg_names: Vec<_> = (0..sub.args.len())
        .map(|i| format_ident!("__pxl_arg{}", i))
        .collect();
    let extract = sub.args.iter().zip(&arg_names).map(|(ty, n)| {
        let call = quote_spanned!(ty.span()=> <#ty as #from_event>::from_event);
        quote!(let #n = #call(__pxl_ctx)?;)
    });
    let checks = sub.args.iter().map(|ty| {
        let call = quote_spanned!(ty.span()=> <#ty as #from_event>::check);
        quote! {
            if let #std::result::Result::Err(__pxl_problem) = #call(__pxl_state) {
                __pxl_problems.push(__pxl_problem);
            }
        }
    });
    let state_map = paths.state_map();
    let check = quote! {
        fn check(&self, __pxl_state: &#state_map) -> #std::vec::Vec<#std::string::String> {
            let mut __pxl_problems = #std::vec::Vec::new();
            #(#checks)*
            __pxl_problems
        }
    };
    // The result is bound to a variable spanned at the return type, so that a return
    // type that is not `()` or `Result<(), E>` is reported there.
    let output_span = match &sub.func.sig.output {
        syn::ReturnType::Default => sub.func.sig.ident.span(),
        syn::ReturnType::Type(_, ty) => ty.span(),
    };
    let out = format_ident!("__pxl_out", span = output_span);
    let subscriber_return = paths.subscriber_return();
    let ret = quote_spanned!(output_span=> #subscriber_return::into_result);
    let body = quote! {
        #(#extract)*
        let #out = #ident(#(#arg_names),*).await;
        #ret(#out)
    };
    let parts = Parts {
        matchers: quote!(#(#matchers),*),
        middleware: quote!(#(#middleware),*),
        check,
        body,
    };
    companion(&paths, sub, &parts, Registration::Reported)
}

/// After an error: the companion struct with a `Subscriber` impl that matches nothing
/// and never calls the function, so that `subscribers![name]` elsewhere adds no
/// follow-on errors.
pub(crate) fn fallback(sub: &SubscriberFn) -> TokenStream {
    let paths = Paths::new(sub.attr.krate.as_ref());
    let std = paths.std();
    let parts = Parts {
        matchers: TokenStream::new(),
        middleware: TokenStream::new(),
        check: TokenStream::new(),
        body: quote!(#std::result::Result::Ok(())),
    };
    companion(&paths, sub, &parts, Registration::Silent)
}

/// The generated bodies that differ between a valid subscriber and the fallback.
struct Parts {
    matchers: TokenStream,
    middleware: TokenStream,
    check: TokenStream,
    body: TokenStream,
}

/// Whether a companion that is never constructed is reported.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Registration {
    /// Warn (`dead_code`, with a note naming `subscribers![...]`) when the subscriber is
    /// never registered.
    Reported,
    /// Say nothing: an error was already reported.
    Silent,
}

/// `struct name {}` and `impl Subscriber for name` inside `const _: () = { ... };`.
fn companion(
    paths: &Paths,
    sub: &SubscriberFn,
    parts: &Parts,
    registration: Registration,
) -> TokenStream {
    let import = paths.import();
    let std = paths.std();
    let subscriber_trait = paths.subscriber();
    let matcher = paths.matcher();
    let middleware_trait = paths.middleware();
    let subscriber_context = paths.subscriber_context();
    let subscriber_error = paths.subscriber_error();
    let box_future = paths.box_future();
    let ident = &sub.func.sig.ident;
    let vis = &sub.func.vis;
    let name = LitStr::new(
        &match &sub.attr.name {
            Some(n) => n.value(),
            None => ident.to_string(),
        },
        Span::call_site(),
    );
    let description = match &sub.attr.description {
        Some(d) => quote!(#std::option::Option::Some(#d)),
        None => quote!(#std::option::Option::None),
    };
    let priority = sub.attr.priority.as_ref().map_or(0, |(_, v)| *v);
    let Parts {
        matchers,
        middleware,
        check,
        body,
    } = parts;
    let (lint, anchor) = lint(sub, registration);
    let doc = format!("The [`Subscriber`](pxl_ws::Subscriber) of the function `{ident}`.");
    // Spanned at the function's name, so that the `dead_code` lint reports it as the
    // user's item rather than discarding it as part of a macro expansion.
    let companion = quote_spanned! {ident.span()=>
        #[doc = #doc]
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #lint
        #vis struct #ident {}
    };
    quote! {
        #companion

        const _: () = {
            #import
            #anchor

            #[automatically_derived]
            impl #subscriber_trait for #ident {
                fn name(&self) -> &#std::primitive::str {
                    #name
                }
                fn description(&self) -> #std::option::Option<&#std::primitive::str> {
                    #description
                }
                fn priority(&self) -> #std::primitive::i32 {
                    #priority
                }
                fn matchers(&self) -> #std::vec::Vec<#matcher> {
                    <[_]>::into_vec(#std::boxed::Box::new([#matchers]))
                }
                fn middleware(&self) -> #std::vec::Vec<#std::sync::Arc<dyn #middleware_trait>> {
                    <[_]>::into_vec(#std::boxed::Box::new([#middleware]))
                }
                #check
                fn handle<'__pxl_a>(
                    &'__pxl_a self,
                    __pxl_ctx: &'__pxl_a #subscriber_context,
                ) -> #box_future<'__pxl_a, #std::result::Result<(), #subscriber_error>> {
                    #std::boxed::Box::pin(async move { #body })
                }
            }
        };
    }
}

/// The lint attribute of the companion struct, and an item that keeps the function
/// itself used.
///
/// The companion is constructed only by `subscribers![name]`, so rustc's `dead_code`
/// lint reports an unregistered subscriber as "struct `name` is never constructed", at
/// the function's name; the lint reason adds a note saying how to register it. The
/// function is referenced from the generated block so that it is not reported a second
/// time. A crate-wide `allow(dead_code)` silences the warning; an `allow` or `expect` of
/// `dead_code` (or `unused`) on the function is honoured as well.
fn lint(sub: &SubscriberFn, registration: Registration) -> (TokenStream, TokenStream) {
    let ident = &sub.func.sig.ident;
    if registration == Registration::Silent || allows_dead_code(&sub.func.attrs) {
        return (quote!(#[allow(dead_code)]), TokenStream::new());
    }
    let reason = LitStr::new(
        &format!(
            "the subscriber `{ident}` never runs: register it with \
             `WsServer::builder().subscribers(subscribers![{ident}, ...])`"
        ),
        Span::call_site(),
    );
    (
        quote!(#[warn(dead_code, reason = #reason)]),
        quote!(const _: () = { let _ = #ident; };),
    )
}

/// Whether `attrs` hold `#[allow(..)]` or `#[expect(..)]` naming `dead_code` or `unused`.
fn allows_dead_code(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        if !(attr.path().is_ident("allow") || attr.path().is_ident("expect")) {
            return false;
        }
        let mut found = false;
        // Lints are paths, possibly followed by `reason = "..."`.
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("dead_code") || meta.path.is_ident("unused") {
                found = true;
            }
            if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            }
            Ok(())
        });
        found
    })
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::{Registration, fallback, lint, subscriber};
    use crate::subscriber::{SubscriberAttr, SubscriberFn};

    fn sub(func: syn::ItemFn) -> SubscriberFn {
        SubscriberFn {
            attr: SubscriberAttr::default(),
            func,
            args: Vec::new(),
        }
    }

    /// The warning of an unregistered subscriber names `subscribers![...]`.
    #[test]
    fn unregistered_note() {
        let (attr, anchor) = lint(
            &sub(syn::parse_quote!(
                async fn forgotten() {}
            )),
            Registration::Reported,
        );
        let reason = "the subscriber `forgotten` never runs: register it with \
                      `WsServer::builder().subscribers(subscribers![forgotten, ...])`";
        assert_eq!(
            attr.to_string(),
            quote!(#[warn(dead_code, reason = #reason)]).to_string()
        );
        assert_eq!(
            anchor.to_string(),
            quote!(
                const _: () = {
                    let _ = forgotten;
                };
            )
            .to_string()
        );
    }

    /// An `allow` or `expect` of `dead_code` on the function, and the fallback, say
    /// nothing.
    #[test]
    fn silenced() {
        let allow = quote!(#[allow(dead_code)]).to_string();
        for func in [
            syn::parse_quote!(
                #[allow(dead_code)]
                async fn a() {}
            ),
            syn::parse_quote!(
                #[expect(unused, reason = "later")]
                async fn a() {}
            ),
            syn::parse_quote!(
                #[allow(clippy::all, dead_code)]
                async fn a() {}
            ),
        ] {
            let (attr, anchor) = lint(&sub(func), Registration::Reported);
            assert_eq!(attr.to_string(), allow);
            assert!(anchor.is_empty());
        }
        let (attr, _) = lint(
            &sub(syn::parse_quote!(
                async fn a() {}
            )),
            Registration::Silent,
        );
        assert_eq!(attr.to_string(), allow);
    }

    /// After an error the companion is still emitted (so `subscribers![name]` resolves),
    /// matching nothing and never calling the function, whose signature may be wrong.
    #[test]
    fn fallback_never_calls_the_function() {
        let sub = sub(syn::parse_quote!(
            async unsafe fn broken() {}
        ));
        let valid = subscriber(&sub).to_string();
        assert!(valid.contains("broken ()"), "{valid}");
        let tokens = fallback(&sub);
        let text = tokens.to_string();
        assert!(!text.contains("broken ("), "{text}");
        let file: syn::File = syn::parse2(tokens).unwrap();
        assert!(matches!(
            &file.items[0],
            syn::Item::Struct(s) if s.ident == "broken" && s.fields.is_empty()
        ));
    }
}
