//! Implementation detail of the `iobuf` crate: its procedural macros.
//!
//! Depend on `iobuf` and use the macros it re-exports; this crate's paths
//! and output are not a stable interface of their own.
//!
//! # Layout
//!
//! Each macro has a module, and in it one file per phase: `ast` reads the
//! input into a typed model, `valid` checks every rule, `expand` generates
//! code for valid input, and `fallback` emits the errors plus stubs that
//! stop follow-on errors.
//!
//! - `derive`: `#[derive(BufferTier)]`, with `attr` for its `#[repr]` and
//!   `#[buffer_tier]` attributes;
//! - `pools`: the engine of `buffer_pools!`;
//! - `errors`: the collector both use, so every mistake of an input is
//!   reported in one compile;
//! - `paths`: helpers for the rule below.
//!
//! # Generated paths
//!
//! Both macros follow one rule, so that their output compiles under
//! `#![no_implicit_prelude]`, beside user items named `Option` or `core`,
//! and against a renamed `iobuf`:
//!
//! - Every path starts from the `iobuf` path the macro was given: the
//!   derive's `krate` (`::iobuf`, or the `#[buffer_tier(crate = …)]` path),
//!   and for `buffer_pools!` the `$crate` that its `macro_rules!` front
//!   passes in.
//! - `core` is always `<krate>::__private::core`, never `::core`: a crate
//!   can shadow `::core` (`extern crate self as core`).
//! - A check that an `unsafe impl`'s soundness rests on goes through items
//!   of the real trait, `<T as krate::BufferTier>::…`, whose bodies live in
//!   `iobuf`. A `crate = …` path, a re-export or a shadowed `assert!` can
//!   change what else the output calls, never what those checks prove.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod derive;
mod errors;
mod paths;
mod pools;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `iobuf::BufferTier` for a struct whose fields are all `[u8; N]`.
///
/// See the `iobuf` crate's documentation of `BufferTier` for the rules and
/// the `#[buffer_tier(tier = …)]` option.
#[proc_macro_derive(BufferTier, attributes(buffer_tier))]
pub fn derive_buffer_tier(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    derive::buffer_tier(&input).into()
}

/// The engine of `iobuf::buffer_pools!`; call that macro instead (it passes
/// its `$crate` as the first tokens, before a `;`).
#[doc(hidden)]
#[proc_macro]
pub fn __buffer_pools(input: TokenStream) -> TokenStream {
    pools::buffer_pools(input.into()).into()
}
