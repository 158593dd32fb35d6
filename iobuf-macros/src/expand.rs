//! Code generation for valid input.
//!
//! Generated code names only `::iobuf::…` (or the `crate = …` path) and
//! `::core::…`, so it
//! works under `#![no_implicit_prelude]` and beside user items named
//! `Option` or `core`. Everything but the impl sits in an anonymous
//! `const _` so no helper leaks into the user's namespace.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::Input;
use crate::attr::{TIERS, tier_size};

pub(crate) fn buffer_tier(input: &Input<'_>) -> TokenStream {
    let name = input.ident;
    let krate = &input.krate;
    let field_checks = input.fields.iter().map(|f| {
        let ty = f.ty;
        quote_spanned! {ty.span()=>
            const _: fn() = #krate::__private::require_byte_array::<#ty>;
        }
    });
    let field_sizes = input.fields.iter().map(|f| {
        let ty = f.ty;
        quote!(::core::mem::size_of::<#ty>())
    });
    let no_padding = format!(
        "`{name}` has padding (is `repr(align)` larger than its bytes?); a `BufferTier` must be \
         exactly the sum of its byte arrays"
    );
    let non_zero = format!("`{name}` has no bytes; a `BufferTier` needs at least one byte");
    let tier_check = input.tier.as_ref().map(|tier| {
        let want = tier_size(tier.index) as usize;
        let msg = format!(
            "`{name}` must be {want} bytes to be tier `{}`",
            TIERS[tier.index]
        );
        quote_spanned! {tier.ident.span()=>
            const _: () = ::core::assert!(::core::mem::size_of::<#name>() == #want, #msg);
        }
    });
    // Point layout failures at what caused them: `align(N)` for padding, the
    // name for an empty type.
    let padding_span = input.repr.align.map_or(name.span(), |(_, span)| span);
    let no_padding = quote_spanned! {padding_span=>
        const _: () = ::core::assert!(
            ::core::mem::size_of::<#name>() == 0 #(+ #field_sizes)*,
            #no_padding
        );
    };
    let non_zero = quote_spanned! {name.span()=>
        const _: () = ::core::assert!(::core::mem::size_of::<#name>() != 0, #non_zero);
    };
    quote! {
        const _: () = {
            #(#field_checks)*
            #no_padding
            #non_zero
            #tier_check
        };
        // SAFETY: the assertions above prove, at compile time, the trait's
        // contract: every field is a byte array (any bit pattern valid, no
        // pointers), the size is the sum of the fields' (no padding), and it
        // is not zero.
        unsafe impl #krate::BufferTier for #name {}
    }
}
