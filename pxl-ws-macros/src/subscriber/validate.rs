//! Checks of a parsed [`SubscriberFn`].

use proc_macro2::Span;
use syn::spanned::Spanned;

use super::{EVENTS, MatcherSpec, SubscriberFn};
use crate::diag::Ctxt;
use crate::handler::{self, Handler};

pub(crate) fn subscriber(cx: &mut Ctxt, sub: &SubscriberFn) {
    handler::signature(cx, &sub.func.sig, Handler::Subscriber);
    let attr = &sub.attr;
    match attr.selections.as_slice() {
        [] => cx.error_at(
            Span::call_site(),
            "`#[subscriber]` needs exactly one of `channel = \"...\"`, `channels = [...]` or `matches = [...]`",
        ),
        [_] => {}
        [first, rest @ ..] => {
            for s in rest {
                cx.error_with_note(
                    s.key_span,
                    format_args!(
                        "`{}` cannot be combined with `{}`: give exactly one of `channel`, `channels` or `matches`",
                        s.key.as_str(),
                        first.key.as_str()
                    ),
                    first.key_span,
                    format_args!("`{}` given here", first.key.as_str()),
                );
            }
        }
    }
    if let Some(name) = &attr.name
        && name.value().trim().is_empty()
    {
        cx.error_at(name.span(), "the subscriber name must not be empty");
    }
    for s in &attr.selections {
        if s.written == 0 {
            cx.error_at(
                s.list_span,
                format_args!("`{}` must not be empty", s.key.as_str()),
            );
        }
        let mut seen: Vec<(String, Span)> = Vec::new();
        for item in &s.items {
            let (key, span) = match item {
                MatcherSpec::Str(l) => {
                    if l.value().is_empty() {
                        cx.error_at(l.span(), "a channel must not be empty");
                    }
                    (format!("channel {:?}", l.value()), l.span())
                }
                MatcherSpec::Event(p) => match event_name(p) {
                    Some(name) => (format!("channel {name:?}"), p.span()),
                    None => {
                        let list: Vec<String> = EVENTS
                            .iter()
                            .map(|(v, _)| format!("`Event::{v}`"))
                            .collect();
                        cx.error_spanned_by(
                            p,
                            format_args!(
                                "unknown event; expected one of {}, or a channel string",
                                list.join(", ")
                            ),
                        );
                        continue;
                    }
                },
                MatcherSpec::Regex(l) => {
                    if let Err(e) = regex_syntax::Parser::new().parse(&l.value()) {
                        cx.error_at(l.span(), format_args!("invalid regex: {e}"));
                    }
                    (format!("regex {:?}", l.value()), l.span())
                }
                MatcherSpec::Predicate(p) => (format!("predicate {}", quote::quote!(#p)), p.span()),
            };
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
                cx.error_with_note(
                    span,
                    format_args!("duplicate {key}"),
                    *first,
                    "first given here",
                );
            } else {
                seen.push((key, span));
            }
        }
    }
}

/// The channel of `Event::Variant` (or a longer path ending in it).
pub(crate) fn event_name(p: &syn::Path) -> Option<&'static str> {
    let n = p.segments.len();
    if n < 2 || p.segments[n - 2].ident != "Event" {
        return None;
    }
    let variant = p.segments[n - 1].ident.to_string();
    EVENTS.iter().find(|(v, _)| *v == variant).map(|(_, c)| *c)
}
