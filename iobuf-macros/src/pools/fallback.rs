//! What an invalid `buffer_pools!` expands to: the errors, plus a stub of
//! every item that could be declared, so that code using them does not pile
//! follow-on errors ("cannot find function `small`") on top.

use proc_macro2::TokenStream;
use quote::quote;

use super::ast::Invocation;
use crate::paths;

pub(crate) fn pools(invocation: &Invocation, err: syn::Error) -> TokenStream {
    let k = &invocation.krate;
    let core = paths::core(k);
    let errors = err.to_compile_error();
    let mut seen = std::collections::HashSet::new();
    let stubs = invocation
        .entries
        .iter()
        .filter(|e| super::valid::is_usable_name(&e.name.to_string()))
        .filter(|e| seen.insert(e.type_name.to_string()))
        .map(|e| {
            let name = &e.name;
            let ty = &e.type_name;
            quote! {
                #[allow(dead_code)]
                pub struct #ty(pub [u8; 1]);
                #[allow(dead_code)]
                pub fn #name() -> &'static #k::BoundedPool<#ty> {
                    #core::unreachable!()
                }
            }
        });
    quote! {
        #errors
        #(#stubs)*
        #[allow(dead_code)]
        pub enum Buf {}
        #[allow(dead_code)]
        pub fn init() -> #core::result::Result<(), #k::Error> {
            #core::unreachable!()
        }
        #[allow(dead_code)]
        pub fn get(_: usize) -> #core::option::Option<Buf> {
            #core::unreachable!()
        }
        #[allow(dead_code)]
        pub fn try_get(_: usize) -> #core::result::Result<Buf, #k::Error> {
            #core::unreachable!()
        }
        #[allow(dead_code)]
        pub fn try_get_any(_: usize) -> #core::result::Result<Buf, #k::Error> {
            #core::unreachable!()
        }
        #[allow(dead_code)]
        pub const TOTAL_BYTES: usize = 0;
    }
}
