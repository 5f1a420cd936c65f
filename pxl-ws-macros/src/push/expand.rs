//! The `Push` impl, from the model.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::LitStr;

use super::PushAttr;
use crate::paths::Paths;

/// `impl Push for T` inside `const _: () = { ... };`. After an error (`valid` false) the
/// names are empty: the impl only keeps uses of the type from adding errors.
pub(super) fn push(item: &syn::DeriveInput, attr: &PushAttr, valid: bool) -> TokenStream {
    let paths = Paths::new(attr.krate.as_ref());
    let import = paths.import();
    let std = paths.std();
    let push_trait = paths.push_trait();
    let schemas = paths.schemas();
    let value = paths.json_value();
    let probe = paths.private("Probe");
    let has = paths.private("HasSchema");
    let no = paths.private("NoSchema");
    let name = |lit: &Option<LitStr>| {
        let v = if valid {
            lit.as_ref().map(LitStr::value).unwrap_or_default()
        } else {
            String::new()
        };
        LitStr::new(&v, Span::call_site())
    };
    let (ty, action) = (name(&attr.ty), name(&attr.action));
    let ident = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    quote! {
        const _: () = {
            #import

            #[automatically_derived]
            impl #impl_generics #push_trait for #ident #ty_generics #where_clause {
                const TYPE: &'static #std::primitive::str = #ty;
                const ACTION: &'static #std::primitive::str = #action;

                fn schema(__pxl_schemas: &mut #schemas) -> #std::option::Option<#value> {
                    #[allow(unused_imports)]
                    use #has as _;
                    #[allow(unused_imports)]
                    use #no as _;
                    (&#probe::<Self>::new()).output_schema(__pxl_schemas)
                }
            }
        };
    }
}
