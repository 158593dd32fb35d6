//! Helpers for the one rule both macros follow for the paths they generate
//! (the crate docs' "Generated paths"): every path starts from the `iobuf`
//! path the macro was given.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::quote;

/// `core` as generated code names it: through the runtime crate's
/// re-export, because the user's crate can shadow `::core` (`extern crate
/// self as core`) but not `iobuf::__private`.
pub(crate) fn core(krate: &TokenStream) -> TokenStream {
    quote!(#krate::__private::core)
}

/// `tokens` resolved as before but reported at `span`: for a crate path
/// inside a check spanned on the user's tokens, so that rustc points there
/// rather than at the derive or the macro call. Only the location changes:
/// re-spanning `$crate` outright would change what it resolves to.
pub(crate) fn located_at(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), located_at(&g.stream(), span));
                group.set_span(g.span().located_at(span));
                TokenTree::Group(group)
            }
            mut tt => {
                tt.set_span(tt.span().located_at(span));
                tt
            }
        })
        .collect()
}
