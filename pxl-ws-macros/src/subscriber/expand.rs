//! [`SubscriberFn`] → the companion struct and its `Subscriber` impl.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::{MatcherSpec, SubscriberFn};
use crate::paths::Paths;

pub(crate) fn subscriber(sub: &SubscriberFn) -> TokenStream {
    let paths = Paths::new(sub.attr.krate.as_ref());
    let import = paths.import();
    let std = paths.std();
    let krate = paths.alias();
    let ident = &sub.func.sig.ident;
    let vis = &sub.func.vis;
    let name = match &sub.attr.name {
        Some(n) => n.value(),
        None => ident.to_string(),
    };
    let description = match &sub.attr.description {
        Some(d) => quote!(#std::option::Option::Some(#d)),
        None => quote!(#std::option::Option::None),
    };
    let priority = sub.attr.priority.as_ref().map_or(0, |(_, v)| *v);
    let matchers = sub
        .attr
        .selections
        .iter()
        .flat_map(|s| &s.items)
        .map(|m| match m {
            MatcherSpec::Str(l) => quote!(<#krate::Matcher as #std::convert::From<&str>>::from(#l)),
            // The path as written (so that the user's `use pxl_ws::Event` is used); the
            // variant was checked against the eleven.
            MatcherSpec::Event(p) => {
                quote!(<#krate::Matcher as #std::convert::From<#krate::Event>>::from(#p))
            }
            MatcherSpec::Regex(l) => quote! {
                #krate::Matcher::Regex(
                    #krate::__private::regex::Regex::new(#l).expect("checked by #[subscriber]")
                )
            },
            MatcherSpec::Predicate(p) => quote!(#krate::Matcher::predicate(#p)),
        });
    let middleware = sub.attr.middleware.iter().map(|e| {
        quote_spanned! {e.span()=>
            #std::sync::Arc::new(#e) as #std::sync::Arc<dyn #krate::Middleware>
        }
    });
    let arg_names: Vec<_> = (0..sub.args.len())
        .map(|i| format_ident!("__pxl_arg{}", i))
        .collect();
    let extract = sub.args.iter().zip(&arg_names).map(|(ty, n)| {
        let call = quote_spanned!(ty.span()=> <#ty as #krate::FromEvent>::from_event);
        quote!(let #n = #call(__pxl_ctx)?;)
    });
    let checks = sub.args.iter().map(|ty| {
        let call = quote_spanned!(ty.span()=> <#ty as #krate::FromEvent>::check);
        quote! {
            if let #std::result::Result::Err(__pxl_problem) = #call(__pxl_state) {
                __pxl_problems.push(__pxl_problem);
            }
        }
    });
    // The result is bound to a variable spanned at the return type, so that a return
    // type that is not `()` or `Result<(), E>` is reported there.
    let output_span = match &sub.func.sig.output {
        syn::ReturnType::Default => sub.func.sig.ident.span(),
        syn::ReturnType::Type(_, ty) => ty.span(),
    };
    let out = format_ident!("__pxl_out", span = output_span);
    let ret = quote_spanned!(output_span=> #krate::SubscriberReturn::into_result);
    let doc = format!("The [`Subscriber`](pxl_ws::Subscriber) of the function `{ident}`.");
    quote! {
        #[doc = #doc]
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #ident {}

        const _: () = {
            #import
            #[automatically_derived]
            impl #krate::Subscriber for #ident {
                fn name(&self) -> &str {
                    #name
                }
                fn description(&self) -> #std::option::Option<&str> {
                    #description
                }
                fn priority(&self) -> i32 {
                    #priority
                }
                fn matchers(&self) -> #std::vec::Vec<#krate::Matcher> {
                    <[_]>::into_vec(#std::boxed::Box::new([#(#matchers),*]))
                }
                fn middleware(&self) -> #std::vec::Vec<#std::sync::Arc<dyn #krate::Middleware>> {
                    <[_]>::into_vec(#std::boxed::Box::new([#(#middleware),*]))
                }
                fn check(&self, __pxl_state: &#krate::StateMap) -> #std::vec::Vec<#std::string::String> {
                    let mut __pxl_problems = #std::vec::Vec::new();
                    #(#checks)*
                    __pxl_problems
                }
                fn handle<'__pxl_a>(
                    &'__pxl_a self,
                    __pxl_ctx: &'__pxl_a #krate::SubscriberContext,
                ) -> #krate::BoxFuture<'__pxl_a, #std::result::Result<(), #krate::SubscriberError>> {
                    #std::boxed::Box::pin(async move {
                        #(#extract)*
                        let #out = #ident(#(#arg_names),*).await;
                        #ret(#out)
                    })
                }
            }
        };
    }
}
