//! `#[repr(...)]` and `#[buffer_tier(...)]`, parsed into values that keep
//! their spans.

use proc_macro2::Span;
use syn::{Attribute, Ident, LitInt};

use crate::errors::Errors;

/// The variants of `iobuf::Tier`, smallest first: names only, so that
/// `tier = Tiny` gets an error listing them instead of rustc's "no variant".
/// The sizes live in iobuf's tier table (`iobuf/src/tier.rs`), which the
/// emitted size check reads (`Tier::X.size()`).
pub(crate) const TIER_NAMES: [&str; 12] = [
    "Pico", "Nano", "Micro", "Small", "Medium", "Big", "Large", "Great", "Huge", "Vast", "Giant",
    "Titan",
];

/// What the struct's `#[repr]` attributes ask for.
#[derive(Default)]
pub(crate) struct Repr {
    /// `C` or `transparent`: fields keep their declared order.
    pub ordered: bool,
    /// `align(N)`, with N and its span.
    pub align: Option<(u128, Span)>,
}

/// The options of `#[buffer_tier(...)]`.
#[derive(Default)]
pub(crate) struct BufferTierAttr {
    pub tier: Option<TierAttr>,
    /// `crate = path`: where `iobuf` is, for renamed dependencies and for
    /// `buffer_pools!`, which passes its `$crate`.
    pub krate: Option<proc_macro2::TokenStream>,
}

/// `tier = Name`.
pub(crate) struct TierAttr {
    pub ident: Ident,
    /// Index into [`TIER_NAMES`].
    pub index: usize,
}

impl TierAttr {
    pub(crate) fn name(&self) -> &'static str {
        TIER_NAMES[self.index]
    }

    /// The tier's size, `32 * 4^index`: a formula that mirrors iobuf's tier
    /// table, for what the tokens alone show (literal field lengths) and for
    /// messages. It cannot make a wrong type pass: the emitted check
    /// compares with the table itself, and `tests/tiers.rs` derives every
    /// tier with literal lengths, so a drift fails the build.
    pub(crate) fn mirrored_size(&self) -> u128 {
        32 << (2 * self.index)
    }
}

pub(crate) fn repr(attrs: &[Attribute], all_errors: &mut Errors) -> Repr {
    let mut repr = Repr::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("repr")) {
        let mut errors = Errors::default();
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("C") || meta.path.is_ident("transparent") {
                repr.ordered = true;
            } else if meta.path.is_ident("align") {
                let content;
                syn::parenthesized!(content in meta.input);
                let lit: LitInt = content.parse()?;
                repr.align = Some((lit.base10_parse()?, lit.span()));
            } else {
                errors.push(meta.error(
                    "unsupported `repr` for a `BufferTier`; use `#[repr(C)]` or \
                     `#[repr(transparent)]`, optionally with `align(N)`",
                ));
                if meta.input.peek(syn::token::Paren) {
                    let skipped;
                    syn::parenthesized!(skipped in meta.input);
                    skipped.parse::<proc_macro2::TokenStream>()?;
                }
            }
            Ok(())
        });
        all_errors.append(errors);
        if let Err(err) = parsed {
            all_errors.push(err);
        }
    }
    repr
}

pub(crate) fn buffer_tier(attrs: &[Attribute], all_errors: &mut Errors) -> BufferTierAttr {
    let mut tier: Option<TierAttr> = None;
    let mut krate = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("buffer_tier")) {
        let mut errors = Errors::default();
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let path: syn::Path = meta.value()?.call(syn::Path::parse_mod_style)?;
                krate = Some(quote::ToTokens::into_token_stream(path));
                return Ok(());
            }
            if !meta.path.is_ident("tier") {
                errors.push(meta.error(format!(
                    "unknown `buffer_tier` option `{}`; write `tier = <Tier>`, e.g. \
                     `#[buffer_tier(tier = Small)]` (or `crate = path` for a renamed `iobuf`)",
                    path_text(&meta.path)
                )));
                // Skip the option's value so the options after it are read.
                if meta.input.peek(syn::Token![=]) {
                    meta.value()?.parse::<syn::Expr>()?;
                } else if meta.input.peek(syn::token::Paren) {
                    let skipped;
                    syn::parenthesized!(skipped in meta.input);
                    skipped.parse::<proc_macro2::TokenStream>()?;
                }
                return Ok(());
            }
            let ident: Ident = meta.value()?.parse()?;
            let Some(index) = TIER_NAMES.iter().position(|t| ident == t) else {
                errors.push(syn::Error::new(
                    ident.span(),
                    format!(
                        "unknown tier `{ident}`; expected one of {}",
                        TIER_NAMES.join(", ")
                    ),
                ));
                return Ok(());
            };
            if tier.is_some() {
                errors.push(syn::Error::new(
                    ident.span(),
                    "`tier` is given twice; keep one",
                ));
                return Ok(());
            }
            tier = Some(TierAttr { ident, index });
            Ok(())
        });
        all_errors.append(errors);
        if let Err(err) = parsed {
            all_errors.push(err);
        }
    }
    BufferTierAttr { tier, krate }
}

fn path_text(path: &syn::Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    segments.join("::")
}
