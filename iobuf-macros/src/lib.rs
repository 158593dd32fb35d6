//! Implementation detail of the `iobuf` crate: its procedural macros.
//!
//! Depend on `iobuf` and use the macros it re-exports; this crate's paths
//! and output are not a stable interface of their own.
//!
//! `#[derive(BufferTier)]` works in phases, one module each: `ast` reads `syn` input
//! into a typed model, `attr` parses attributes, `valid` checks every
//! rule and gathers all errors, `expand` generates code for valid input,
//! and `fallback` emits the errors plus stubs that stop follow-on errors.
//! `buffer_pools!` has the same phases in the `pools` module.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ast;
mod attr;
mod expand;
mod fallback;
mod pools;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `iobuf::BufferTier` for a struct whose fields are all `[u8; N]`.
///
/// See the `iobuf` crate's documentation of `BufferTier` for the rules and
/// the `#[buffer_tier(tier = …)]` option.
#[proc_macro_derive(BufferTier, attributes(buffer_tier))]
pub fn derive_buffer_tier(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let mut errors = valid::Errors::default();
    let model = ast::Input::from_syn(&input, &mut errors);
    if model.is_struct {
        valid::check(&model, &mut errors);
    }
    match errors.finish() {
        Ok(()) => expand::buffer_tier(&model),
        Err(err) => fallback::buffer_tier(&input, err),
    }
    .into()
}

/// The engine of `iobuf::buffer_pools!`; call that macro instead (it passes
/// its `$crate` as the first tokens, before a `;`).
#[doc(hidden)]
#[proc_macro]
pub fn __buffer_pools(input: TokenStream) -> TokenStream {
    pools::buffer_pools(input.into()).into()
}
