//! The error collector both macros share.
//!
//! Each phase pushes every violation it finds instead of returning at the
//! first, so a user sees all their mistakes in one compile (serde's `Ctxt`
//! does the same); `finish` then combines them into one `syn::Error`, which
//! `compile_error!`s each at its own span.

/// Gathers errors so that all of them are reported together.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }

    pub(crate) fn append(&mut self, other: Errors) {
        if let Some(err) = other.0 {
            self.push(err);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}
