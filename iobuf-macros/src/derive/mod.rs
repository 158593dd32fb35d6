//! `#[derive(BufferTier)]`: read the input into a model ([`ast`], with
//! [`attr`] for its attributes), check every rule ([`valid`]), then emit the
//! impl and its compile-time checks ([`expand`]), or the errors plus a stub
//! impl ([`fallback`]).

mod ast;
mod attr;
mod expand;
mod fallback;
mod valid;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::errors::Errors;

/// Expands the derive on `input`.
pub(crate) fn buffer_tier(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let model = ast::Input::from_syn(input, &mut errors);
    if model.is_struct {
        valid::check(&model, &mut errors);
    }
    match errors.finish() {
        Ok(()) => expand::buffer_tier(&model),
        Err(err) => fallback::buffer_tier(input, &model.krate, err),
    }
}
