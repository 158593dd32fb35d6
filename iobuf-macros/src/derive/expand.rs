//! Code generation for valid input.
//!
//! Paths follow the crate's one rule ("Generated paths" in the crate docs):
//! they start from `#krate` (`::iobuf` unless `crate = …` says), `core`
//! included, so the output works under `#![no_implicit_prelude]` and beside
//! user items named `Option` or `core`. The checks the `unsafe impl`
//! relies on are items of the trait itself (see `BufferTier`'s safety
//! section), never of a path the user can supply. Nothing but the impl and
//! anonymous `const _` items is emitted, so no helper leaks into the user's
//! namespace.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::ast::Input;
use crate::paths;

pub(crate) fn buffer_tier(input: &Input<'_>) -> TokenStream {
    let name = input.ident;
    let krate = &input.krate;
    // One check per field, spanned on its type, so that a field that is
    // not a byte array is reported where it is written.
    let field_checks = input.fields.iter().map(|f| {
        let ty = f.ty;
        quote_spanned! {ty.span()=>
            const _: fn() = <#name as #krate::BufferTier>::__require_byte_array::<#ty>;
        }
    });
    // The field types as nested pairs, for the trait's size check.
    let fields = input.fields.iter().rev().fold(quote!(()), |rest, f| {
        let ty = f.ty;
        quote!((#ty, #rest))
    });
    // Not a safety check, so it may go through `krate`'s `Tier`: the size
    // comes from iobuf's tier table, and the macro's own figure is only
    // the message's (see `TierAttr::mirrored_size`).
    let tier_check = input.tier.as_ref().map(|tier| {
        let span = tier.ident.span();
        let krate = paths::located_at(krate, span);
        let core = paths::core(&krate);
        let variant = &tier.ident;
        let msg = format!(
            "`{name}` must be {} bytes to be tier `{}`",
            tier.mirrored_size(),
            tier.name()
        );
        quote_spanned! {span=>
            const _: () = #core::assert!(
                <#name as #krate::BufferTier>::SIZE == #krate::Tier::#variant.size(),
                #msg
            );
        }
    });
    // Point a layout failure at what caused it: `align(N)` for padding, else
    // the name.
    let layout_span = input.repr.align.map_or(name.span(), |(_, span)| span);
    let layout = quote_spanned! {layout_span=>
        const _: () = <#name as #krate::BufferTier>::__LAYOUT;
    };
    // Soundness rests on the trait alone: `__require_byte_array` and
    // `__LAYOUT` are the real trait's items, checked against its definition,
    // so a `crate = …` path, a re-export or a shadowed `core`/`assert!` in
    // the user's crate can change which trait is implemented, never which
    // checks the real trait's impl passes.
    quote! {
        // SAFETY: the trait's own checks, forced below: each field's type is
        // a byte array (`__require_byte_array`, bounded by a sealed trait
        // implemented for `[u8; N]` only), and `__LAYOUT` asserts that the
        // type is exactly its fields (`__Fields`, every one of them), with no
        // padding and a non-zero size.
        unsafe impl #krate::BufferTier for #name {
            type __Fields = #fields;
        }
        #(#field_checks)*
        #layout
        #tier_check
    }
}
