//! Code generation: the `Controller` impl, written from the model alone.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, LitStr, ReturnType};

use super::{Action, Arg, Controller, ReplyKind, parse};
use crate::paths::Paths;

/// The `Controller` impl for a valid controller, inside `const _: () = { ... };`.
pub(super) fn controller(controller: &Controller) -> TokenStream {
    let paths = Paths::new(controller.attr.krate.as_ref());
    let ty = controller_type(controller);
    let routes: Vec<TokenStream> = controller
        .actions
        .iter()
        .map(|action| route(&paths, &ty, controller, action))
        .collect();
    let arms: Vec<TokenStream> = controller
        .actions
        .iter()
        .map(|action| arm(&paths, controller, action))
        .collect();
    let mut extra = check_fn(&paths, &ty, controller);
    extra.extend(contract_fn(&paths, controller));
    extra.extend(pushes_fn(&paths, controller));
    controller_impl(&paths, controller, &routes, &arms, extra)
}

/// After an error: a `Controller` impl that routes nothing, so that uses of the
/// controller elsewhere (`.controller(ChatController)`) do not add follow-on errors.
pub(super) fn fallback(controller: &Controller) -> TokenStream {
    let paths = Paths::new(controller.attr.krate.as_ref());
    controller_impl(&paths, controller, &[], &[], TokenStream::new())
}

/// The impl itself: the route table, the `match` on the action, and `check`.
fn controller_impl(
    paths: &Paths,
    controller: &Controller,
    routes: &[TokenStream],
    arms: &[TokenStream],
    check_fn: TokenStream,
) -> TokenStream {
    let ty = controller_type(controller);
    let std = paths.std();
    let controller_trait = paths.controller();
    let route_info = paths.route_info();
    let message_context = paths.message_context();
    let box_future = paths.box_future();
    let reply = paths.reply();
    let self_ty = &controller.self_ty;
    let (impl_generics, _, where_clause) = controller.generics.split_for_impl();
    let import = paths.import();
    quote! {
        const _: () = {
            #import

            #[automatically_derived]
            impl #impl_generics #controller_trait for #self_ty #where_clause {
                fn controller_type(&self) -> &'static #std::primitive::str {
                    #ty
                }

                fn routes(&self) -> &'static [#route_info] {
                    const ROUTES: &[#route_info] = &[#(#routes),*];
                    ROUTES
                }

                fn call<'__pxl>(
                    &'__pxl self,
                    __pxl_action: &#std::primitive::str,
                    __pxl_ctx: &'__pxl #message_context<'__pxl>,
                ) -> #std::option::Option<#box_future<'__pxl, #reply>> {
                    match __pxl_action {
                        #(#arms)*
                        _ => #std::option::Option::None,
                    }
                }

                #check_fn
            }
        };
    }
}

/// The controller type as a string literal (empty if it was missing).
fn controller_type(controller: &Controller) -> LitStr {
    match &controller.attr.ty {
        Some(ty) => LitStr::new(&ty.value(), Span::call_site()),
        None => LitStr::new("", Span::call_site()),
    }
}

fn action_name(action: &Action) -> LitStr {
    let name = action
        .attr
        .name
        .as_ref()
        .map(LitStr::value)
        .unwrap_or_default();
    LitStr::new(&name, Span::call_site())
}

/// `&["admin", "moderator"]`, for `RouteInfo::with_auth` and `__private::authorize`.
fn roles_slice(roles: &[LitStr]) -> TokenStream {
    let roles = roles
        .iter()
        .map(|role| LitStr::new(&role.value(), Span::call_site()));
    quote!(&[#(#roles),*])
}

/// `RouteInfo::new(type, action, method, payload, file!(), line!())`, with `file!()` and
/// `line!()` spanned at the `#[action]` attribute so they report its location, followed
/// by `.with_auth(&[roles...])` when the route needs authentication.
fn route(paths: &Paths, ty: &LitStr, controller: &Controller, action: &Action) -> TokenStream {
    let std = paths.std();
    let route_info = paths.route_info();
    let name = action_name(action);
    let method = LitStr::new(&action.sig.ident.to_string(), Span::call_site());
    let payload = match &action.payload {
        Some(payload) => {
            let payload = LitStr::new(payload, Span::call_site());
            quote!(#std::option::Option::Some(#payload))
        }
        None => quote!(#std::option::Option::None),
    };
    let file = respan(quote!(#std::file!()), action.attr_span);
    let line = respan(quote!(#std::line!()), action.attr_span);
    let with_auth = action.required_roles(&controller.attr).map(|roles| {
        let roles = roles_slice(roles);
        quote!(.with_auth(#roles))
    });
    quote!(#route_info::new(#ty, #name, #method, #payload, #file, #line) #with_auth)
}

/// One `match` arm of `call`: check authorization, extract every argument, call the
/// method, convert the return value.
fn arm(paths: &Paths, controller: &Controller, action: &Action) -> TokenStream {
    let std = paths.std();
    let reply = paths.reply();
    // Before any extractor runs: an unauthorized client learns nothing about the payload.
    let authorize = action.required_roles(&controller.attr).map(|roles| {
        let authorize = paths.private("authorize");
        let roles = roles_slice(roles);
        quote! {
            if let #std::result::Result::Err(__pxl_error) = #authorize(__pxl_ctx, #roles) {
                return #reply::Error(__pxl_error);
            }
        }
    });
    let name = action_name(action);
    let method = &action.sig.ident;
    let vars: Vec<_> = (0..action.args.len())
        .map(|i| format_ident!("__pxl_arg{}", i))
        .collect();
    let extractions = action.args.iter().zip(&vars).map(|(arg, var)| {
        let from_message = if parse::is_data_of_boxed_raw_value(&arg.ty) {
            raw_data_call(paths, arg)
        } else {
            let from_message = from_message_call(paths, arg, "from_message");
            quote!(#from_message(__pxl_ctx))
        };
        quote! {
            let #var = match #from_message {
                #std::result::Result::Ok(__pxl_value) => __pxl_value,
                #std::result::Result::Err(__pxl_error) => return #reply::Error(__pxl_error),
            };
        }
    });
    let call = quote!(self.#method(#(#vars),*).await);
    let reply = convert(paths, action, call);
    // Spanned at the method name: "future cannot be sent between threads safely" points
    // at the handler.
    let boxed = respan(quote!(#std::boxed::Box::pin), method.span());
    let future = quote_spanned! {method.span()=>
        #boxed(async move {
            #authorize
            #(#extractions)*
            #reply
        })
    };
    quote! {
        #name => #std::option::Option::Some(#future),
    }
}

/// `<Ty as FromMessage>::function`, spanned at the argument type.
fn from_message_call(paths: &Paths, arg: &Arg, function: &str) -> TokenStream {
    let from_message = respan(paths.extractor_trait(), arg.ty.span());
    let function = syn::Ident::new(function, arg.ty.span());
    let ty = &arg.ty;
    quote_spanned!(arg.ty.span()=> <#ty as #from_message>::#function)
}

/// The extraction of an argument spelled `Data<Box<RawValue>>`: through
/// `__private::RawData`, whose method lookup copies the envelope's `data` as it is when
/// the type is this crate's `Data` of serde_json's raw value (no second read of the JSON)
/// and calls `FromMessage` for any other type spelled so.
fn raw_data_call(paths: &Paths, arg: &Arg) -> TokenStream {
    let raw_data = paths.private("RawData");
    let by_raw = paths.private("DataRawValue");
    let by_from_message = paths.private("DataFromMessage");
    let ty = &arg.ty;
    quote_spanned! {arg.ty.span()=> {
        #[allow(unused_imports)]
        use #by_raw as _;
        #[allow(unused_imports)]
        use #by_from_message as _;
        (&#raw_data::<#ty>::new()).__pxl_data(__pxl_ctx)
    }}
}

/// `__private::reply_*(value)` for the return type. Spanned at the return type, so that
/// a value that is not `Serialize` (or an error that is not `Into<ActionError>`) is
/// reported there.
fn convert(paths: &Paths, action: &Action, call: TokenStream) -> TokenStream {
    let name = match action.reply {
        ReplyKind::Unit => "reply_unit",
        ReplyKind::ResultUnit => "reply_result_unit",
        ReplyKind::Result => "reply_result",
        ReplyKind::Value => "reply_value",
    };
    let function = paths.private(name);
    if let (ReturnType::Type(_, ty), Some(response)) = (&action.sig.output, &action.response_ty)
        && matches!(action.reply, ReplyKind::Value | ReplyKind::Result)
        && parse::is_boxed_raw_value(response)
    {
        return convert_raw(paths, action.reply, ty.span(), call);
    }
    match &action.sig.output {
        ReturnType::Type(_, ty) => {
            let span = ty.span();
            let function = respan(function, span);
            let value = Ident::new("__pxl_return", span);
            quote! {
                let __pxl_return = #call;
                #function(#value)
            }
        }
        ReturnType::Default => quote!(#function(#call)),
    }
}

/// [`convert`] for a response spelled `Box<RawValue>`: through `__private::RawReply`,
/// whose method lookup takes serde_json's raw value as the response as it is (no copy)
/// and serialises any other type spelled so.
fn convert_raw(paths: &Paths, reply: ReplyKind, span: Span, call: TokenStream) -> TokenStream {
    let std = paths.std();
    let raw_reply = paths.private("RawReply");
    let by_raw = paths.private("ReplyRawValue");
    let by_serialize = paths.private("ReplySerialize");
    let reply_error = respan(paths.private("reply_error"), span);
    let to_reply = |value: TokenStream| {
        quote! {{
            #[allow(unused_imports)]
            use #by_raw as _;
            #[allow(unused_imports)]
            use #by_serialize as _;
            (&#raw_reply::new(#value)).__pxl_reply()
        }}
    };
    if reply == ReplyKind::Value {
        let reply = to_reply(quote!(__pxl_return));
        return quote! {
            let __pxl_return = #call;
            #reply
        };
    }
    let ok = to_reply(quote!(__pxl_value));
    let error = Ident::new("__pxl_error", span);
    quote! {
        match #call {
            #std::result::Result::Ok(__pxl_value) => #ok,
            #std::result::Result::Err(__pxl_error) => #reply_error(#error),
        }
    }
}

/// `fn check`: asserts at compile time that every argument is an extractor, and asks
/// each one at build time whether the server can provide it. Omitted (keeping the
/// trait's default) when no action takes arguments.
fn check_fn(paths: &Paths, ty: &LitStr, controller: &Controller) -> TokenStream {
    let mut assertions = Vec::new();
    let mut checks = Vec::new();
    for action in &controller.actions {
        for arg in &action.args {
            assertions.push(assertion(paths, arg));
            checks.push(check(paths, ty, action, arg));
        }
    }
    if checks.is_empty() {
        return TokenStream::new();
    }
    let std = paths.std();
    let state_map = paths.state_map();
    quote! {
        fn check(&self, __pxl_state: &#state_map) -> #std::vec::Vec<#std::string::String> {
            // Compile time: every handler argument must be an extractor. Spanned at the
            // argument, so that is where rustc reports a type that is not one.
            #(#assertions)*

            let mut __pxl_problems = #std::vec::Vec::new();
            #(#checks)*
            __pxl_problems
        }
    }
}

/// The build-time check of one argument (e.g. that a `State<T>` was registered).
fn check(paths: &Paths, ty: &LitStr, action: &Action, arg: &Arg) -> TokenStream {
    let std = paths.std();
    let prefix = LitStr::new(
        &format!(
            "action `{}/{}`, argument `{}`",
            ty.value(),
            action_name(action).value(),
            arg.text
        ),
        Span::call_site(),
    );
    let check = from_message_call(paths, arg, "check");
    quote! {
        if let #std::result::Result::Err(__pxl_problem) = #check(__pxl_state) {
            __pxl_problems.push(#std::format!("{}: {}", #prefix, __pxl_problem));
        }
    }
}

/// `let _ = <Ty as FromMessage>::check;`: asserts that the argument type is an
/// extractor (axum's `debug_handler`), spanned at the argument.
///
/// It names the trait through the same qualified path as the extraction in `call` and
/// the check in `check`, so the three identical diagnostics are reported once. (A generic
/// `assert_extractor::<Ty>()` would add a second error per argument, with a note pointing
/// at the attribute.) It lives in a method body rather than a free item so that argument
/// types may mention the impl's generics and `Self`.
fn assertion(paths: &Paths, arg: &Arg) -> TokenStream {
    let check = from_message_call(paths, arg, "check");
    quote!(let _ = #check;)
}

/// `tokens` with every span replaced by `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(group) = &tt {
                let mut new =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                new.set_span(span);
                tt = TokenTree::Group(new);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// `fn contract`: each action's payload and response schemas (through the schema probe:
/// untyped when the type has no `JsonSchema` or the `schema` feature is off) and error
/// codes.
fn contract_fn(paths: &Paths, controller: &Controller) -> TokenStream {
    let std = paths.std();
    let schemas = paths.schemas();
    let action_schema = paths.action_schema();
    let probe = paths.private("Probe");
    let has = paths.private("HasSchema");
    let no = paths.private("NoSchema");
    let entries = controller.actions.iter().map(|action| {
        let name = action_name(action);
        let schema_of = |ty: &syn::Type, method: &str| {
            let text = LitStr::new(&super::parse::tokens_text(quote!(#ty)), Span::call_site());
            let schema = if crate::attr::find_impl_trait(ty).is_some() {
                quote!(#std::option::Option::None)
            } else {
                let method = Ident::new(method, Span::call_site());
                quote!((&#probe::<#ty>::new()).#method(__pxl_schemas))
            };
            (text, schema)
        };
        let payload = action.payload_ty.as_ref().map(|ty| {
            let (text, schema) = schema_of(ty, "input_schema");
            quote!(.payload(#text, #schema))
        });
        let response = action.response_ty.as_ref().map(|ty| {
            let (text, schema) = schema_of(ty, "output_schema");
            quote!(.response(#text, #schema))
        });
        let codes = action
            .attr
            .errors
            .iter()
            .map(|c| LitStr::new(&c.value(), Span::call_site()));
        quote! {
            #action_schema::new(#name) #payload #response .errors(&[#(#codes),*])
        }
    });
    quote! {
        fn contract(&self, __pxl_schemas: &mut #schemas) -> #std::vec::Vec<#action_schema> {
            #[allow(unused_imports)]
            use #has as _;
            #[allow(unused_imports)]
            use #no as _;
            #std::vec![#(#entries),*]
        }
    }
}

/// `fn pushes`: the `pushes = [...]` of the controller, each asserted to be a `Push`
/// at its own span.
fn pushes_fn(paths: &Paths, controller: &Controller) -> TokenStream {
    if controller.attr.pushes.is_empty() {
        return TokenStream::new();
    }
    let std = paths.std();
    let push_info = paths.push_info();
    let entries = controller.attr.pushes.iter().map(|ty| {
        let of = respan(quote!(#push_info::of), ty.span());
        quote_spanned!(ty.span()=> #of::<#ty>())
    });
    quote! {
        fn pushes(&self) -> #std::vec::Vec<#push_info> {
            #std::vec![#(#entries),*]
        }
    }
}
