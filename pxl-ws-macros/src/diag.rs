//! Error accumulation (serde's `Ctxt`): every user mistake found while parsing and
//! validating one item is recorded here, and all of them are reported together.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// Collects the `syn::Error`s of one macro invocation.
#[derive(Default)]
pub(crate) struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Records an error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// Records an error at `span`.
    pub(crate) fn error_at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records an error spanning the tokens of `tokens`.
    pub(crate) fn error_spanned_by(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at `span` with a second message pointing at `note_span`
    /// (e.g. "first defined here").
    pub(crate) fn error_with_note(
        &mut self,
        span: Span,
        message: impl Display,
        note_span: Span,
        note: impl Display,
    ) {
        let mut error = syn::Error::new(span, message);
        error.combine(syn::Error::new(note_span, note));
        self.push(error);
    }

    /// Like [`Ctxt::error_with_note`], spanning whole token ranges.
    pub(crate) fn error_spanned_with_note(
        &mut self,
        tokens: impl ToTokens,
        message: impl Display,
        note_tokens: impl ToTokens,
        note: impl Display,
    ) {
        let mut error = syn::Error::new_spanned(tokens, message);
        error.combine(syn::Error::new_spanned(note_tokens, note));
        self.push(error);
    }

    /// Whether nothing has been recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// All recorded errors as `compile_error!` invocations (empty when there are none),
    /// in source order.
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        let mut errors: Vec<&syn::Error> = self.errors.iter().collect();
        errors.sort_by_key(|e| {
            let start = e.span().start();
            (start.line, start.column)
        });
        errors
            .into_iter()
            .map(syn::Error::to_compile_error)
            .collect()
    }
}
