//! `buffer_pools!`: parse the entries into a model ([`ast`]), check every
//! rule ([`valid`]), then emit the items ([`expand`]), or the errors plus
//! stubs of every declared item ([`fallback`]).

pub(crate) mod ast;
pub(crate) mod expand;
pub(crate) mod fallback;
pub(crate) mod valid;

use proc_macro2::TokenStream;

use crate::errors::Errors;

/// Expands `$crate; entries…` (what `iobuf::buffer_pools!` passes on).
pub(crate) fn buffer_pools(input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let invocation = ast::Invocation::parse(input, &mut errors);
    valid::check(&invocation, &mut errors);
    match errors.finish() {
        Ok(()) => expand::pools(&invocation),
        Err(err) => fallback::pools(&invocation, err),
    }
}
