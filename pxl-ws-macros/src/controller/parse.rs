//! Attribute and impl-block parsing into the [`Controller`] model.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser, discouraged::Speculative};
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, ExprLit, FnArg, GenericArgument, ImplItem, ItemImpl, Lit, LitStr, Meta,
    PathArguments, ReturnType, Token, Type,
};

use super::{Action, ActionAttr, Arg, AuthAttr, Controller, ControllerAttr, ReplyKind};
use crate::attr::{self, Attr};
use crate::diag::Ctxt;

/// The keys `#[ws_controller(...)]` accepts.
const CONTROLLER_KEYS: &[&str] = &["type", "crate", "auth", "roles", "pushes"];

/// The keys `#[action("name", ...)]` accepts after the name.
const ACTION_KEYS: &[&str] = &["auth", "roles", "errors"];

/// Parses `type = "chat", crate = "...", auth, roles = [...]`.
pub(super) fn controller_attr(cx: &mut Ctxt, args: TokenStream) -> ControllerAttr {
    let mut ty = Attr::<Option<LitStr>>::none("type");
    let mut krate = Attr::<Option<syn::Path>>::none("crate");
    let mut pushes = Attr::<Vec<Type>>::none("pushes");
    let mut auth = AuthKeys::new();
    let parser = syn::meta::parser(|meta| {
        let span = meta.path.span();
        if auth.parse(cx, &meta)? {
            // `auth` or `roles`
        } else if meta.path.is_ident("pushes") {
            let list = push_types(cx, &meta)?;
            pushes.set(cx, span, list);
        } else if meta.path.is_ident("type") {
            let lit = attr::parse_lit_str(cx, &meta, "type = \"chat\"")?;
            ty.set(cx, span, lit);
        } else if meta.path.is_ident("crate") {
            let path = attr::parse_crate(cx, &meta)?;
            krate.set(cx, span, path);
        } else {
            cx.push(attr::unknown_key(
                &meta,
                "#[ws_controller]",
                CONTROLLER_KEYS,
            ));
            attr::skip_value(&meta)?;
        }
        Ok(())
    });
    // After a syntax error the rest of the attribute is unknown: do not also report
    // `type` as missing.
    let complete = match parser.parse2(args) {
        Ok(()) => true,
        Err(e) => {
            cx.push(e);
            false
        }
    };
    let ty = match ty.get() {
        Some(ty) => ty,
        None if !complete => None,
        None => {
            cx.error_at(
                proc_macro2::Span::call_site(),
                "missing controller type: write `#[ws_controller(type = \"...\")]`",
            );
            None
        }
    };
    ControllerAttr {
        ty,
        krate: krate.get().flatten(),
        auth: auth.finish(),
        pushes: pushes.get().unwrap_or_default(),
    }
}

/// Parses `= [ChatMessage, Typing]` after `pushes`: a list of types.
fn push_types(cx: &mut Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<Type>> {
    const EXAMPLE: &str = "e.g. `pushes = [ChatMessage, Typing]`";
    if !meta.input.peek(Token![=]) {
        cx.error_at(
            meta.path.span(),
            format_args!("expected `pushes = [...]`, {EXAMPLE}"),
        );
        attr::skip_value(meta)?;
        return Ok(Vec::new());
    }
    meta.input.parse::<Token![=]>()?;
    if !meta.input.peek(syn::token::Bracket) {
        let value: TokenTree = meta.input.parse()?;
        cx.error_at(
            value.span(),
            format_args!("`pushes` must be a list of types, {EXAMPLE}"),
        );
        attr::skip_value(meta)?;
        return Ok(Vec::new());
    }
    let content;
    syn::bracketed!(content in meta.input);
    let types = syn::punctuated::Punctuated::<Type, Token![,]>::parse_terminated(&content)?;
    Ok(types.into_iter().collect())
}

/// Parses `= ["NOT_IN_ROOM", ...]` after `errors`: a list of string literals.
fn error_codes(cx: &mut Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<LitStr>> {
    const EXAMPLE: &str = "e.g. `errors = [\"NOT_IN_ROOM\"]`";
    if !meta.input.peek(Token![=]) {
        cx.error_at(
            meta.path.span(),
            format_args!("expected `errors = [...]`, {EXAMPLE}"),
        );
        attr::skip_value(meta)?;
        return Ok(Vec::new());
    }
    let value: Expr = meta.value()?.parse()?;
    let Expr::Array(array) = attr::ungroup_expr(&value) else {
        cx.error_spanned_by(
            &value,
            format_args!("`errors` must be a list of string literals, {EXAMPLE}"),
        );
        return Ok(Vec::new());
    };
    let mut codes = Vec::new();
    for elem in &array.elems {
        match attr::ungroup_expr(elem) {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => codes.push(lit.clone()),
            other => cx.error_spanned_by(
                other,
                format_args!("an error code must be a string literal, {EXAMPLE}"),
            ),
        }
    }
    Ok(codes)
}

/// The authorization keys of one attribute, `auth` and `roles = [...]`, collected key by
/// key (a repeated key is an error on the second).
struct AuthKeys {
    auth: Attr<()>,
    roles: Attr<Option<Vec<LitStr>>>,
}

impl AuthKeys {
    fn new() -> Self {
        Self {
            auth: Attr::none("auth"),
            roles: Attr::none("roles"),
        }
    }

    /// Parses `meta` if it is `auth` or `roles`; returns whether it was.
    fn parse(&mut self, cx: &mut Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<bool> {
        let span = meta.path.span();
        if meta.path.is_ident("auth") {
            attr::parse_flag(cx, meta)?;
            self.auth.set(cx, span, ());
        } else if meta.path.is_ident("roles") {
            let roles = roles(cx, meta)?;
            self.roles.set(cx, span, roles);
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    fn finish(self) -> AuthAttr {
        AuthAttr {
            auth: self.auth.get().is_some(),
            roles: self.roles.get().flatten(),
        }
    }
}

/// Parses `= ["admin", "moderator"]` after `roles`: a non-empty list of string literals
/// (their spelling is checked by `validate`). Mistakes are recorded and `None` returned.
fn roles(cx: &mut Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Option<Vec<LitStr>>> {
    const EXAMPLE: &str = "e.g. `roles = [\"admin\", \"moderator\"]`";
    if !meta.input.peek(Token![=]) {
        // `roles` alone (error at the key) or `roles(...)` (error at the value).
        let span = if meta.input.is_empty() || meta.input.peek(Token![,]) {
            meta.path.span()
        } else {
            meta.input.fork().parse::<TokenTree>()?.span()
        };
        cx.error_at(span, format_args!("expected `roles = [...]`, {EXAMPLE}"));
        attr::skip_value(meta)?;
        return Ok(None);
    }
    let value: Expr = meta.value()?.parse()?;
    let array = match attr::ungroup_expr(&value) {
        Expr::Array(array) => array,
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => {
            cx.error_spanned_by(
                lit,
                format_args!(
                    "`roles` must be a list of string literals: write `roles = [{}]`",
                    lit.to_token_stream()
                ),
            );
            return Ok(None);
        }
        other => {
            cx.error_spanned_by(
                other,
                format_args!("`roles` must be a list of string literals, {EXAMPLE}"),
            );
            return Ok(None);
        }
    };
    if array.elems.is_empty() {
        cx.error_spanned_by(
            array,
            "`roles` needs at least one role; drop it (and write `auth`) to allow any \
             authenticated user",
        );
        return Ok(None);
    }
    let mut roles = Vec::new();
    for elem in &array.elems {
        match attr::ungroup_expr(elem) {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => roles.push(lit.clone()),
            // Reported; the other roles are still checked.
            other => cx.error_spanned_by(
                other,
                format_args!("a role must be a string literal, {EXAMPLE}"),
            ),
        }
    }
    Ok(Some(roles))
}

/// Accepts an inherent impl block; anything else is reported and handed back to be
/// re-emitted as it was (minus `#[action]` attributes, which would only add errors).
pub(super) fn inherent_impl(cx: &mut Ctxt, item: syn::Item) -> Result<ItemImpl, Box<syn::Item>> {
    const USAGE: &str = "`#[ws_controller]` must be placed on an inherent impl block, \
                         like `#[ws_controller(type = \"chat\")] impl ChatController { ... }`";
    match item {
        syn::Item::Impl(mut item_impl) => match &item_impl.trait_ {
            None => Ok(item_impl),
            Some((_, path, _)) => {
                cx.error_spanned_by(path, format_args!("{USAGE}, not on a trait impl"));
                strip_all_actions(&mut item_impl);
                Err(Box::new(syn::Item::Impl(item_impl)))
            }
        },
        other => {
            cx.error_at(item_keyword(&other), USAGE);
            Err(Box::new(other))
        }
    }
}

/// The span of an item's keyword (`fn`, `struct`, ...), where "this is not an impl
/// block" is best reported.
fn item_keyword(item: &syn::Item) -> proc_macro2::Span {
    use syn::Item;
    match item {
        Item::Const(i) => i.const_token.span,
        Item::Enum(i) => i.enum_token.span,
        Item::ExternCrate(i) => i.extern_token.span,
        Item::Fn(i) => i.sig.fn_token.span,
        Item::ForeignMod(i) => i.abi.extern_token.span,
        Item::Macro(i) => i.mac.path.span(),
        Item::Mod(i) => i.mod_token.span,
        Item::Static(i) => i.static_token.span,
        Item::Struct(i) => i.struct_token.span,
        Item::Trait(i) => i.trait_token.span,
        Item::TraitAlias(i) => i.trait_token.span,
        Item::Type(i) => i.type_token.span,
        Item::Union(i) => i.union_token.span,
        Item::Use(i) => i.use_token.span,
        _ => proc_macro2::Span::call_site(),
    }
}

/// Parses the impl block into the model, stripping every `#[action]` attribute from it.
pub(super) fn controller(
    cx: &mut Ctxt,
    attr: ControllerAttr,
    item_impl: &mut ItemImpl,
) -> Controller {
    let mut actions = Vec::new();
    let mut action_attrs_seen = false;
    for item in &mut item_impl.items {
        let attrs = match item {
            ImplItem::Fn(f) => &mut f.attrs,
            ImplItem::Const(c) => &mut c.attrs,
            ImplItem::Type(t) => &mut t.attrs,
            ImplItem::Macro(m) => &mut m.attrs,
            _ => continue,
        };
        let found = take_action_attrs(attrs);
        let Some((first, rest)) = found.split_first() else {
            continue;
        };
        action_attrs_seen = true;
        let ImplItem::Fn(method) = item else {
            for a in &found {
                cx.error_spanned_by(a, "`#[action]` can only be placed on methods");
            }
            continue;
        };
        for extra in rest {
            cx.error_spanned_with_note(
                extra,
                "duplicate `#[action]` attribute: a method handles exactly one action",
                first,
                "first `#[action]` here",
            );
        }
        actions.push(action(cx, first, &method.sig));
    }
    if !action_attrs_seen {
        cx.error_at(
            proc_macro2::Span::call_site(),
            "`#[ws_controller]` impl has no `#[action]` methods: mark at least one method \
             with `#[action(\"...\")]`",
        );
    }
    Controller {
        attr,
        generics: item_impl.generics.clone(),
        self_ty: (*item_impl.self_ty).clone(),
        actions,
    }
}

/// Whether `attr` is `#[action(...)]` (also written as a path such as `#[pxl_ws::action]`).
fn is_action_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "action")
}

/// Removes and returns the `#[action]` attributes.
fn take_action_attrs(attrs: &mut Vec<Attribute>) -> Vec<Attribute> {
    let (found, kept): (Vec<_>, Vec<_>) = attrs.drain(..).partition(is_action_attr);
    *attrs = kept;
    found
}

fn strip_all_actions(item_impl: &mut ItemImpl) {
    for item in &mut item_impl.items {
        match item {
            ImplItem::Fn(f) => drop(take_action_attrs(&mut f.attrs)),
            ImplItem::Const(c) => drop(take_action_attrs(&mut c.attrs)),
            ImplItem::Type(t) => drop(take_action_attrs(&mut t.attrs)),
            ImplItem::Macro(m) => drop(take_action_attrs(&mut m.attrs)),
            _ => {}
        }
    }
}

/// One `#[action(...)]` method.
fn action(cx: &mut Ctxt, attr: &Attribute, sig: &syn::Signature) -> Action {
    let args: Vec<Arg> = sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(pat_type) => Some(Arg {
                ty: (*pat_type.ty).clone(),
                text: format!(
                    "{}: {}",
                    tokens_text(pat_type.pat.to_token_stream()),
                    tokens_text(pat_type.ty.to_token_stream())
                ),
            }),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let payload_ty = args
        .iter()
        .find_map(|arg| data_payload_type(&arg.ty))
        .cloned();
    let payload = payload_ty
        .as_ref()
        .map(|t| tokens_text(t.to_token_stream()));
    let reply = reply_kind(&sig.output);
    Action {
        attr: action_attr(cx, attr),
        attr_span: attr.pound_token.span,
        sig: sig.clone(),
        response_ty: response_type(&sig.output, reply),
        reply,
        args,
        payload,
        payload_ty,
    }
}

/// Parses `#[action("name", auth, roles = [...])]`: a string literal, then keys.
fn action_attr(cx: &mut Ctxt, attr: &Attribute) -> ActionAttr {
    const USAGE: &str = "expected the action name as a string literal, e.g. `#[action(\"send\")]`";
    let list = match &attr.meta {
        Meta::List(list) => list,
        Meta::Path(_) => {
            cx.error_spanned_by(attr, format_args!("missing action name: {USAGE}"));
            return ActionAttr::default();
        }
        Meta::NameValue(nv) => {
            cx.error_spanned_by(nv, USAGE);
            return ActionAttr::default();
        }
    };
    let parser = |input: ParseStream<'_>| -> syn::Result<ActionAttr> {
        let mut name = None;
        let mut name_given = false;
        let mut auth = AuthKeys::new();
        let mut errors = Attr::<Vec<LitStr>>::none("errors");
        if input.peek(LitStr) {
            name = Some(input.parse::<LitStr>()?);
            name_given = true;
        } else if input.peek(Lit) {
            let lit: Lit = input.parse()?;
            cx.error_spanned_by(lit, USAGE);
            name_given = true;
        } else if input.peek(syn::Ident::peek_any) {
            // `#[action(send)]` is most likely a name without quotes; a known key is not.
            let fork = input.fork();
            let ident = fork.call(syn::Ident::parse_any)?;
            if (fork.is_empty() || fork.peek(Token![,]))
                && !ACTION_KEYS.contains(&ident.to_string().as_str())
            {
                input.advance_to(&fork);
                cx.error_at(ident.span(), USAGE);
                name_given = true;
            }
        }
        if !name_given {
            cx.error_spanned_by(attr, format_args!("missing action name: {USAGE}"));
        }
        if !input.is_empty() {
            if name_given {
                input.parse::<Token![,]>()?;
            }
            if input.peek(LitStr) {
                let second: LitStr = input.parse()?;
                match &name {
                    Some(first) => cx.error_with_note(
                        second.span(),
                        "duplicate action name: `#[action]` takes exactly one name",
                        first.span(),
                        "first name given here",
                    ),
                    None => cx.error_at(second.span(), "duplicate action name"),
                }
                if !input.is_empty() {
                    input.parse::<Token![,]>()?;
                }
            }
            let rest: TokenStream = input.parse()?;
            syn::meta::parser(|meta| {
                if meta.path.is_ident("errors") {
                    let span = meta.path.span();
                    let codes = error_codes(cx, &meta)?;
                    errors.set(cx, span, codes);
                } else if !auth.parse(cx, &meta)? {
                    cx.push(attr::unknown_key(&meta, "#[action]", ACTION_KEYS));
                    attr::skip_value(&meta)?;
                }
                Ok(())
            })
            .parse2(rest)?;
        }
        Ok(ActionAttr {
            name,
            auth: auth.finish(),
            errors: errors.get().unwrap_or_default(),
        })
    };
    match parser.parse2(list.tokens.clone()) {
        Ok(parsed) => parsed,
        Err(e) => {
            cx.push(e);
            ActionAttr::default()
        }
    }
}

/// How the return type becomes a reply, decided syntactically.
fn reply_kind(output: &ReturnType) -> ReplyKind {
    let ty = match output {
        ReturnType::Default => return ReplyKind::Unit,
        ReturnType::Type(_, ty) => ungroup(ty),
    };
    match ty {
        Type::Tuple(tuple) if tuple.elems.is_empty() => ReplyKind::Unit,
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return ReplyKind::Value;
            };
            if last.ident != "Result" {
                return ReplyKind::Value;
            }
            match first_type_arg(&last.arguments).map(ungroup) {
                Some(Type::Tuple(tuple)) if tuple.elems.is_empty() => ReplyKind::ResultUnit,
                Some(_) => ReplyKind::Result,
                None => ReplyKind::Value,
            }
        }
        _ => ReplyKind::Value,
    }
}

/// The type of the reply's `response`: `T` of `Result<T, E>`, or the return type.
fn response_type(output: &ReturnType, reply: ReplyKind) -> Option<Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    match reply {
        ReplyKind::Unit | ReplyKind::ResultUnit => None,
        ReplyKind::Value => Some((**ty).clone()),
        ReplyKind::Result => match ungroup(ty) {
            Type::Path(path) => path
                .path
                .segments
                .last()
                .and_then(|last| first_type_arg(&last.arguments))
                .cloned(),
            _ => None,
        },
    }
}

/// `T` for an argument of type `Data<T>` (last path segment `Data`).
fn data_payload_type(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ungroup(ty) else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != "Data" {
        return None;
    }
    first_type_arg(&last.arguments)
}

fn first_type_arg(arguments: &PathArguments) -> Option<&Type> {
    let PathArguments::AngleBracketed(args) = arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

/// Looks through `(T)` and invisible groups.
fn ungroup(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Paren(p) => ty = &p.elem,
            Type::Group(g) => ty = &g.elem,
            _ => return ty,
        }
    }
}

/// Source text with rustfmt-like spacing: `Vec<String>`, `&'a str`, `(u8, u8)`,
/// `Iterator<Item = u8>`, `Data(msg)`. Deterministic, unlike `TokenStream::to_string`.
pub(super) fn tokens_text(tokens: TokenStream) -> String {
    let mut out = String::new();
    write_tokens(&mut out, tokens);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    /// Start of a group: never a space.
    Start,
    /// An identifier or literal: a following identifier needs a space.
    Word,
    /// A token after which nothing needs a space (`<`, `&`, `::`, `)`).
    Tight,
    /// A token after which a space goes (`,`, `;`, `:`, `=`, `+`, `->`).
    SpaceAfter,
}

fn write_tokens(out: &mut String, tokens: TokenStream) {
    let mut last = Last::Start;
    let mut joint_with: Option<char> = None;
    for tt in tokens {
        match tt {
            TokenTree::Ident(_) | TokenTree::Literal(_) => {
                if matches!(last, Last::Word | Last::SpaceAfter) {
                    out.push(' ');
                }
                out.push_str(&tt.to_string());
                last = Last::Word;
                joint_with = None;
            }
            TokenTree::Group(group) => {
                if last == Last::SpaceAfter {
                    out.push(' ');
                }
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("", ""),
                };
                out.push_str(open);
                write_tokens(out, group.stream());
                out.push_str(close);
                last = Last::Tight;
                joint_with = None;
            }
            TokenTree::Punct(punct) => {
                let ch = punct.as_char();
                let joint = punct.spacing() == Spacing::Joint;
                let (before, after) = match ch {
                    ',' | ';' => (false, true),
                    '+' | '=' => (true, true),
                    ':' if !joint && joint_with != Some(':') => (false, true),
                    '-' if joint => (true, false),
                    '>' if joint_with == Some('-') => (false, true),
                    _ => (false, false),
                };
                if (before && last != Last::Start) || last == Last::SpaceAfter {
                    out.push(' ');
                }
                out.push(ch);
                last = if after { Last::SpaceAfter } else { Last::Tight };
                joint_with = joint.then_some(ch);
            }
        }
    }
}

/// Whether `ty` is spelled `Box<RawValue>` (any path to either): such a response is
/// taken as it is, without serialising it again, when it is serde_json's.
pub(crate) fn is_boxed_raw_value(ty: &Type) -> bool {
    let last_ident = |ty: &Type| match ungroup(ty) {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last().cloned(),
        _ => None,
    };
    let Some(last) = last_ident(ty) else {
        return false;
    };
    last.ident == "Box"
        && first_type_arg(&last.arguments)
            .and_then(last_ident)
            .is_some_and(|inner| inner.ident == "RawValue" && inner.arguments.is_none())
}

/// Whether `ty` is spelled `Data<Box<RawValue>>` (any path to each): such an argument
/// is copied from the envelope as it is, without reading the JSON again, when it is this
/// crate's `Data` of serde_json's raw value.
pub(crate) fn is_data_of_boxed_raw_value(ty: &Type) -> bool {
    let Type::Path(path) = ungroup(ty) else {
        return false;
    };
    let Some(last) = path.path.segments.last() else {
        return false;
    };
    path.qself.is_none()
        && last.ident == "Data"
        && first_type_arg(&last.arguments).is_some_and(is_boxed_raw_value)
}

#[cfg(test)]
mod tests {
    use super::{Type, is_boxed_raw_value, is_data_of_boxed_raw_value, tokens_text};
    use quote::quote;

    #[test]
    fn text() {
        let cases = [
            (quote!(Vec<String>), "Vec<String>"),
            (quote!(&'a mut str), "&'a mut str"),
            (
                quote!((u8, ::std::string::String)),
                "(u8, ::std::string::String)",
            ),
            (
                quote!(Box<dyn Iterator<Item = u8> + Send>),
                "Box<dyn Iterator<Item = u8> + Send>",
            ),
            (quote!([u8; 4]), "[u8; 4]"),
            (
                quote!(Data(msg): Data<Option<Vec<u8>>>),
                "Data(msg): Data<Option<Vec<u8>>>",
            ),
            (quote!(fn(u8) -> u8), "fn(u8) -> u8"),
            (quote!(mut x), "mut x"),
        ];
        for (tokens, expected) in cases {
            assert_eq!(tokens_text(tokens), expected);
        }
    }

    /// `check` on each type's spelling gives the expected answer.
    fn spellings(check: fn(&Type) -> bool, cases: &[(&str, bool)]) {
        for &(ty, expected) in cases {
            let parsed: Type = syn::parse_str(ty).unwrap();
            assert_eq!(check(&parsed), expected, "{ty}");
        }
    }

    #[test]
    fn boxed_raw_values_are_recognised_by_their_spelling() {
        spellings(
            is_boxed_raw_value,
            &[
                ("Box<RawValue>", true),
                ("std::boxed::Box<serde_json::value::RawValue>", true),
                ("Box<RawValue<T>>", false),
                ("Box<str>", false),
                ("RawValue", false),
                ("Vec<RawValue>", false),
            ],
        );
    }

    #[test]
    fn raw_data_arguments_are_recognised_by_their_spelling() {
        spellings(
            is_data_of_boxed_raw_value,
            &[
                ("Data<Box<RawValue>>", true),
                (
                    "pxl_ws::Data<std::boxed::Box<serde_json::value::RawValue>>",
                    true,
                ),
                ("Data<Value>", false),
                ("Data<RawValue>", false),
                ("State<Box<RawValue>>", false),
                ("Box<RawValue>", false),
            ],
        );
    }
}
