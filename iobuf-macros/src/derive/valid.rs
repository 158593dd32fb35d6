//! The rules of `#[derive(BufferTier)]`, checked on the model. Every
//! violation found is reported, not just the first.
//!
//! Rules that need the compiler's layout (sizes behind constants or type
//! aliases) are left to the compile-time assertions that `expand` emits;
//! here we catch what the tokens alone show, with precise spans and
//! messages.

use super::ast::Input;
use crate::errors::Errors;

/// Checks the rules, adding each violation to `errors`.
pub(crate) fn check(input: &Input<'_>, errors: &mut Errors) {
    let name = input.ident;
    if input.fields.is_empty() {
        errors.push(syn::Error::new_spanned(
            name,
            format!(
                "`{name}` has no bytes: a `BufferTier` needs at least one `[u8; N]` field, \
                 e.g. `struct {name}([u8; 2048]);`"
            ),
        ));
    }
    if input.fields.len() > 1 && !input.repr.ordered {
        errors.push(syn::Error::new_spanned(
            name,
            format!(
                "`{name}` has several fields, so it needs `#[repr(C)]` (fields in declared \
                 order); add `#[repr(C)]` above `struct {name}`"
            ),
        ));
    }
    for field in &input.fields {
        if let Some((0, span)) = field.literal_len {
            errors.push(syn::Error::new(
                span,
                "zero-length field: every byte array of a `BufferTier` needs at least one \
                 byte; remove the field or give it a length",
            ));
        }
    }
    if let Some((align, span)) = input.repr.align {
        if let Some(size) = input.literal_size().filter(|&s| s > 0 && s % align != 0) {
            let padded = size.div_ceil(align) * align;
            errors.push(syn::Error::new(
                span,
                format!(
                    "`align({align})` pads `{name}` from {size} to {padded} bytes, and a \
                     `BufferTier` must have no padding; make its fields {padded} bytes long"
                ),
            ));
        }
    }
    if let (Some(tier), Some(size)) = (&input.tier, input.literal_size()) {
        let want = tier.mirrored_size();
        if size != want {
            let tier_name = tier.name();
            errors.push(syn::Error::new(
                tier.ident.span(),
                format!(
                    "`{name}` is {size} bytes, but tier `{tier_name}` is {want} bytes; make \
                     the fields {want} bytes long or remove `tier = {tier_name}`"
                ),
            ));
        }
    }
}
