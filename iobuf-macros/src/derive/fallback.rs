//! What invalid input expands to: the errors, plus a stub impl so that code
//! using the type as a `BufferTier` does not pile further errors on top.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

pub(crate) fn buffer_tier(
    input: &DeriveInput,
    krate: &TokenStream,
    err: syn::Error,
) -> TokenStream {
    let errors = err.to_compile_error();
    if !input.generics.params.is_empty() {
        // A stub impl of a generic type would raise bound errors of its own.
        return errors;
    }
    let name = &input.ident;
    // Through `krate`, as the real impl, so that a renamed `iobuf` adds no
    // "unresolved path" error to the real ones.
    quote! {
        #errors
        // SAFETY: never compiled into a program: the errors above fail the build.
        unsafe impl #krate::BufferTier for #name {
            type __Fields = ();
        }
    }
}
