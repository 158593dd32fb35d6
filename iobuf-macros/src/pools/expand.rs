//! The items a valid `buffer_pools!` invocation emits.
//!
//! Paths follow the crate's one rule ("Generated paths" in the crate docs):
//! they start from `$crate` of the front macro (so a renamed `iobuf`
//! works), `core` included, so the output compiles under
//! `#![no_implicit_prelude]` and beside user items named `Option`, `Result`
//! or `core`. Every item is documented and allowed to go unused, so it
//! raises no warning in the user's crate.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};

use super::ast::{Entry, Invocation};
use crate::paths;

pub(crate) fn pools(invocation: &Invocation) -> TokenStream {
    let k = &invocation.krate;
    let core = paths::core(k);
    let mut entries: Vec<&Entry> = invocation.entries.iter().collect();
    entries.sort_by_key(|e| e.size().value);

    let per_entry = entries.iter().map(|e| entry_items(k, e));
    let types: Vec<_> = entries.iter().map(|e| &e.type_name).collect();
    let names: Vec<_> = entries.iter().map(|e| &e.name).collect();
    let name_strs: Vec<_> = entries.iter().map(|e| e.name.to_string()).collect();
    let sizes: Vec<_> = entries.iter().map(|e| usize_lit(e.size().value)).collect();
    let largest = sizes.last().cloned().unwrap_or_else(|| usize_lit(0));
    let n_entries = usize_lit(entries.len() as u128);
    let idx: Vec<_> = (0..entries.len()).map(|i| usize_lit(i as u128)).collect();
    let name_strs2 = name_strs.clone();
    let total = usize_lit(
        entries
            .iter()
            .map(|e| e.size().value * e.count.value)
            .sum::<u128>(),
    );
    let variant_docs = entries.iter().map(|e| {
        format!(
            " A buffer of the `{}` pool ({} bytes).",
            e.name,
            e.size().value
        )
    });
    let listing = entries
        .iter()
        .map(|e| format!("`{}` ({} bytes)", e.name, e.size().value))
        .collect::<Vec<_>>()
        .join(", ");
    let buf_doc = format!(
        " A buffer from one of the pools declared here: {listing}. It dereferences to \
         its bytes and goes back to its pool when dropped."
    );

    quote! {
        #(#per_entry)*

        /// The lock the set's `set_count`, `set_budget` and its pools'
        /// creation share (`PoolSet`): a budget changes every count or none.
        static __POOL_SET: #k::__private::PoolSet = #k::__private::PoolSet::new();

        /// Creates every pool declared here now, rather than on first use, and
        /// reports the first that fails.
        ///
        /// # Errors
        ///
        /// What creating a pool reports, e.g. `Error::Alloc`.
        #[allow(dead_code)]
        pub fn init() -> #core::result::Result<(), #k::Error> {
            #( <#types as #k::__private::DeclaredPool>::lazy().init()?; )*
            #core::result::Result::Ok(())
        }

        #[doc = #buf_doc]
        #[allow(dead_code)]
        pub enum Buf {
            #(
                #[doc = #variant_docs]
                #types(#k::Pooled<'static, #types>),
            )*
        }

        #[allow(dead_code)]
        impl Buf {
            /// The name of the entry the buffer comes from.
            pub fn name(&self) -> &'static str {
                match self {
                    #( Buf::#types(_) => #name_strs, )*
                }
            }

            /// The buffer's index in its pool.
            pub fn index(&self) -> u32 {
                match self {
                    #( Buf::#types(b) => b.index(), )*
                }
            }
        }

        impl #core::ops::Deref for Buf {
            type Target = [u8];

            fn deref(&self) -> &[u8] {
                match self {
                    #( Buf::#types(b) => &b.0, )*
                }
            }
        }

        impl #core::ops::DerefMut for Buf {
            fn deref_mut(&mut self) -> &mut [u8] {
                match self {
                    #( Buf::#types(b) => &mut b.0, )*
                }
            }
        }

        impl #core::convert::AsRef<[u8]> for Buf {
            fn as_ref(&self) -> &[u8] {
                self
            }
        }

        impl #core::convert::AsMut<[u8]> for Buf {
            fn as_mut(&mut self) -> &mut [u8] {
                self
            }
        }

        // SAFETY: each variant is a `Pooled<'static, _>` of a generated
        // tier type, whose `StableBuf` impl (iobuf's own) each method calls
        // by its full path: the set's buffers stay put as theirs do.
        unsafe impl #k::runtimes::StableBuf for Buf {
            fn stable_ptr(&self) -> *const u8 {
                match self {
                    #( Buf::#types(b) => #k::runtimes::StableBuf::stable_ptr(b), )*
                }
            }
            fn stable_mut_ptr(&mut self) -> *mut u8 {
                match self {
                    #( Buf::#types(b) => #k::runtimes::StableBuf::stable_mut_ptr(b), )*
                }
            }
            fn stable_len(&self) -> usize {
                match self {
                    #( Buf::#types(b) => #k::runtimes::StableBuf::stable_len(b), )*
                }
            }
        }

        // The io_uring runtimes' buffer traits for `Buf`, as iobuf's
        // features enable them (nothing without any).
        #k::__runtime_buffer_impls!(Buf);

        impl #core::fmt::Debug for Buf {
            fn fmt(&self, f: &mut #core::fmt::Formatter<'_>) -> #core::fmt::Result {
                f.debug_struct("Buf")
                    .field("pool", &self.name())
                    .field("len", &#core::ops::Deref::deref(self).len())
                    .field("index", &self.index())
                    .finish()
            }
        }

        /// Takes a buffer of at least `len` bytes from the smallest pool that
        /// holds it, waiting for one if that pool is empty; `None` if `len` is
        /// larger than every pool's buffers.
        #[allow(dead_code)]
        pub fn get(len: usize) -> #core::option::Option<Buf> {
            #(
                if len <= #sizes {
                    return #core::option::Option::Some(Buf::#types(#names().get()));
                }
            )*
            #core::option::Option::None
        }

        /// Takes a buffer of at least `len` bytes from the smallest pool that
        /// holds it, waiting asynchronously if that pool is empty (see
        /// `BoundedPool::get_async`: cancel-safe, runtime-agnostic); `None`
        /// only if `len` is larger than every pool's buffers.
        #[allow(dead_code)]
        pub async fn get_async(len: usize) -> #core::option::Option<Buf> {
            #(
                if len <= #sizes {
                    return #core::option::Option::Some(Buf::#types(#names().get_async().await));
                }
            )*
            #core::option::Option::None
        }

        /// Takes a buffer of at least `len` bytes from the smallest pool that
        /// holds it, without waiting.
        ///
        /// # Errors
        ///
        /// `Error::WouldBlock` when that pool is empty; `Error::InvalidArgument`
        /// when `len` is larger than every pool's buffers.
        #[allow(dead_code)]
        pub fn try_get(len: usize) -> #core::result::Result<Buf, #k::Error> {
            #(
                if len <= #sizes {
                    return #names().try_get().map(Buf::#types);
                }
            )*
            #core::result::Result::Err(#k::__private::too_large(len, #largest))
        }

        /// As [`try_get`], but when the smallest pool that holds `len` bytes is
        /// empty, tries the larger ones in turn.
        ///
        /// # Errors
        ///
        /// `Error::WouldBlock` when every pool large enough is empty;
        /// `Error::InvalidArgument` when `len` is larger than every pool's
        /// buffers.
        #[allow(dead_code)]
        pub fn try_get_any(len: usize) -> #core::result::Result<Buf, #k::Error> {
            let mut fits = false;
            #(
                if len <= #sizes {
                    fits = true;
                    if let #core::result::Result::Ok(b) = #names().try_get() {
                        return #core::result::Result::Ok(Buf::#types(b));
                    }
                }
            )*
            if fits {
                #core::result::Result::Err(#k::Error::WouldBlock)
            } else {
                #core::result::Result::Err(#k::__private::too_large(len, #largest))
            }
        }

        /// The bytes of every buffer of every pool declared here: the sum of
        /// `SIZE x COUNT` of the declared counts (each pool has exactly its
        /// count); see `set_count` and `set_budget` for counts set at run
        /// time.
        #[allow(dead_code)]
        pub const TOTAL_BYTES: usize = #total;

        /// Every pool of the set, in order of buffer size.
        fn __members() -> [&'static dyn #k::__private::SetMember; #n_entries] {
            [ #( <#types as #k::__private::DeclaredPool>::lazy(), )* ]
        }

        /// Sets the number of buffers of the pool declared as `name`, before
        /// its first use (or `init`): for counts read from a configuration at
        /// start-up. The declared count is the default. The pool gets exactly
        /// `count` buffers. Takes the set's lock (held for a few loads and
        /// stores, never across a pool's creation).
        ///
        /// # Errors
        ///
        /// `Error::InvalidArgument` if no pool is named `name`, the pool was
        /// already created (or is being created), or `count` is 0, above
        /// 2^31, or more buffers than the machine's physical memory holds
        /// (unless the entry has `#[pool(allow_overcommit)]`). Nothing
        /// changes then.
        #[allow(dead_code)]
        pub fn set_count(name: &str, count: usize) -> #core::result::Result<(), #k::Error> {
            #k::__private::set_count(&__members(), name, count)
        }

        /// Fits the set into `bytes` of memory, before any pool's first use:
        /// if the pools' total (`SIZE x count` summed) is above `bytes`, every
        /// count is scaled by the same factor, `bytes / total`, and rounded
        /// down, at least 1: the total fits, each pool is within one buffer
        /// of its share, and the budget is filled to within one buffer per
        /// pool. (Where a pool's share is below one buffer it keeps one, and
        /// if that pushes the total over, the larger pools give up the
        /// difference.) Call it after any `set_count`.
        ///
        /// All or nothing: it takes the set's lock, which every pool's first
        /// use also takes to make its count final, so a pool created on
        /// another thread meanwhile either gets its new count or makes this
        /// call fail before it changes any count.
        ///
        /// # Errors
        ///
        /// `Error::InvalidArgument` if a pool was already created (or is
        /// being created), or `bytes` cannot hold one buffer of every pool.
        /// Nothing changes then.
        #[allow(dead_code)]
        pub fn set_budget(bytes: usize) -> #core::result::Result<(), #k::Error> {
            #k::__private::set_budget(&__members(), bytes)
        }

        /// Every pool of the set by name, with its statistics (`None` for a
        /// pool not created yet: reading them creates nothing), in order of
        /// buffer size.
        #[allow(dead_code)]
        pub fn stats() -> [(&'static str, #core::option::Option<#k::PoolStats>); #n_entries] {
            let members = __members();
            [ #( (#name_strs2, #k::__private::SetMember::stats(members[#idx])), )* ]
        }

        /// Takes a buffer of at least `len` bytes from the smallest pool that
        /// holds it, waiting at most `timeout` if that pool is empty.
        ///
        /// # Errors
        ///
        /// `Error::TimedOut` when no buffer came in time;
        /// `Error::InvalidArgument` when `len` is larger than every pool's
        /// buffers.
        #[allow(dead_code)]
        pub fn get_timeout(
            len: usize,
            timeout: #core::time::Duration,
        ) -> #core::result::Result<Buf, #k::Error> {
            #(
                if len <= #sizes {
                    return #names().get_timeout(timeout).map(Buf::#types);
                }
            )*
            #core::result::Result::Err(#k::__private::too_large(len, #largest))
        }

        /// As `get_async`, but first tries every pool large enough, smallest
        /// first, without waiting (as `try_get_any`); only when all are empty
        /// does it wait, on the smallest. `None` only if `len` is larger than
        /// every pool's buffers.
        #[allow(dead_code)]
        pub async fn get_any_async(len: usize) -> #core::option::Option<Buf> {
            match try_get_any(len) {
                #core::result::Result::Ok(b) => #core::option::Option::Some(b),
                #core::result::Result::Err(_) => get_async(len).await,
            }
        }
    }
}

fn entry_items(k: &TokenStream, e: &Entry) -> TokenStream {
    let core = paths::core(k);
    let name = &e.name;
    let name_str = name.to_string();
    let ty = &e.type_name;
    let ty_str = ty.to_string();
    let size = usize_lit(e.size().value);
    let count = usize_lit(e.count.value);
    let docs: Vec<_> = e
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .collect();
    let others: Vec<_> = e
        .attrs
        .iter()
        .filter(|a| !a.path().is_ident("doc"))
        .collect();
    let type_doc = format!(
        " A {}-byte buffer of the `{name}` pool ({} buffers), declared with `buffer_pools!`.",
        e.size().value,
        e.count.value
    );
    let fn_doc = format!(
        " The `{name}` pool: {} buffers of [`{ty}`] ({} bytes each), created on first use.",
        e.count.value,
        e.size().value
    );
    let options = [
        ("zero_on_return", e.options.zero_on_return),
        ("huge_pages", e.options.huge_pages),
        ("lock_memory", e.options.lock_memory),
        ("prefault", e.options.prefault),
        ("allow_overcommit", e.options.allow_overcommit),
    ]
    .into_iter()
    .filter(|(_, on)| on.is_some())
    .map(|(option, _)| {
        let method = format_ident!("{option}");
        quote!(.#method(true))
    })
    .chain(e.options.thread_cache.map(|(n, _)| {
        let n = usize_lit(n);
        quote!(.thread_cache(#n))
    }));
    // Checked against the runtime's constant, the one place the limit is
    // written, and reported at the user's value.
    let thread_cache_check = e.options.thread_cache.map(|(n, span)| {
        let k = paths::located_at(k, span);
        let core = paths::core(&k);
        let mut value = usize_lit(n);
        value.set_span(span);
        let msg = format!(
            "`thread_cache = {n}` is above `iobuf::pool::MAX_THREAD_CACHE`, the most buffers a \
             thread cache holds; lower it"
        );
        quote_spanned! {span=>
            const _: () = #core::assert!(#value <= #k::pool::MAX_THREAD_CACHE, #msg);
        }
    });
    quote! {
        #[doc = #type_doc]
        #[doc = ""]
        #(#docs)*
        #(#others)*
        #[derive(#k::BufferTier)]
        #[buffer_tier(crate = #k)]
        #[repr(transparent)]
        #[allow(dead_code)]
        pub struct #ty(pub [u8; #size]);

        #thread_cache_check

        impl #core::fmt::Debug for #ty {
            fn fmt(&self, f: &mut #core::fmt::Formatter<'_>) -> #core::fmt::Result {
                #k::__private::debug_buffer(f, #ty_str, #size)
            }
        }

        impl #core::convert::AsRef<[u8]> for #ty {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl #core::convert::AsMut<[u8]> for #ty {
            fn as_mut(&mut self) -> &mut [u8] {
                &mut self.0
            }
        }

        impl #k::__private::DeclaredPool for #ty {
            fn lazy() -> &'static #k::__private::LazyPool<Self> {
                static POOL: #k::__private::LazyPool<#ty> = #k::__private::LazyPool::new(
                    #name_str,
                    #count,
                    #k::PoolConfig::new() #(#options)*,
                    &__POOL_SET,
                );
                &POOL
            }
        }

        #[doc = #fn_doc]
        #[doc = ""]
        #(#docs)*
        ///
        /// # Panics
        ///
        /// On first use, if the pool cannot be created (the message names the
        /// entry and the bytes); call `init` first to get the error instead.
        #[allow(dead_code)]
        #[inline]
        pub fn #name() -> &'static #k::BoundedPool<#ty> {
            <#ty as #k::__private::DeclaredPool>::lazy().get()
        }
    }
}

fn usize_lit(value: u128) -> Literal {
    Literal::u128_unsuffixed(value)
}
