//! The typed model of a `#[derive(BufferTier)]` input.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, Fields, Ident, Type};

use super::attr::{self, Repr, TierAttr};
use crate::errors::Errors;

/// A struct the derive accepted as to its shape (not yet as to its rules).
pub(crate) struct Input<'a> {
    pub ident: &'a Ident,
    /// False for enums and unions, whose errors are already reported.
    pub is_struct: bool,
    pub fields: Vec<Field<'a>>,
    pub repr: Repr,
    pub tier: Option<TierAttr>,
    /// The path of the `iobuf` crate (`::iobuf` unless `crate = …` says).
    pub krate: TokenStream,
}

/// One field of the struct.
pub(crate) struct Field<'a> {
    pub ty: &'a Type,
    /// The array length when the type is written `[u8; <integer literal>]`.
    pub literal_len: Option<(u128, Span)>,
}

impl<'a> Input<'a> {
    /// Reads the input, adding every shape error it finds to `errors`. The
    /// model is returned even then, so that later checks can report theirs
    /// too.
    pub(crate) fn from_syn(input: &'a DeriveInput, errors: &mut Errors) -> Self {
        let data = match &input.data {
            Data::Struct(data) => Some(data),
            Data::Enum(data) => {
                errors.push(syn::Error::new_spanned(
                    data.enum_token,
                    "`BufferTier` cannot be derived for an enum: a buffer is a plain block of \
                     bytes; write `struct Name([u8; N]);` instead",
                ));
                None
            }
            Data::Union(data) => {
                errors.push(syn::Error::new_spanned(
                    data.union_token,
                    "`BufferTier` cannot be derived for a union; write `struct Name([u8; N]);` \
                     instead",
                ));
                None
            }
        };
        if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
            errors.push(syn::Error::new_spanned(
                &input.generics,
                "`BufferTier` cannot be derived for a generic type: its size must be fixed; \
                 remove the parameters and write the length, e.g. `[u8; 2048]`",
            ));
        }
        let repr = attr::repr(&input.attrs, errors);
        let options = attr::buffer_tier(&input.attrs, errors);
        let fields = match data.map(|d| &d.fields) {
            Some(Fields::Named(named)) => named.named.iter().map(Field::new).collect(),
            Some(Fields::Unnamed(unnamed)) => unnamed.unnamed.iter().map(Field::new).collect(),
            Some(Fields::Unit) | None => Vec::new(),
        };
        Input {
            ident: &input.ident,
            is_struct: data.is_some(),
            fields,
            repr,
            tier: options.tier,
            krate: options.krate.unwrap_or_else(|| quote!(::iobuf)),
        }
    }

    /// The size in bytes, when every field's length is an integer literal.
    pub(crate) fn literal_size(&self) -> Option<u128> {
        self.fields
            .iter()
            .try_fold(0u128, |sum, f| sum.checked_add(f.literal_len?.0))
    }
}

impl<'a> Field<'a> {
    fn new(field: &'a syn::Field) -> Self {
        Field {
            ty: &field.ty,
            literal_len: literal_byte_array_len(&field.ty),
        }
    }
}

/// `Some(N)` for a type written `[u8; N]` with `N` an integer literal.
fn literal_byte_array_len(ty: &Type) -> Option<(u128, Span)> {
    let Type::Array(array) = ty else { return None };
    let Type::Path(elem) = &*array.elem else {
        return None;
    };
    if !elem.path.is_ident("u8") {
        return None;
    }
    let Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Int(int),
        ..
    }) = &array.len
    else {
        return None;
    };
    Some((int.base10_parse().ok()?, array.len.span()))
}
