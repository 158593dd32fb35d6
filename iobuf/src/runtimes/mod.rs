//! Pooled buffers in the io_uring runtimes' owned-buffer traits: monoio
//! (feature `monoio`), compio (feature `compio`) and tokio-uring (feature
//! `tokio-uring`).
//!
//! These runtimes take a buffer by value, keep it while the kernel reads
//! or writes it, and give it back with the result (`BufResult`). A buffer
//! they take must stay at one address for as long as they hold it, even
//! when the value moves (into a boxed operation, say). A pooled buffer
//! does: its bytes are in the pool's slab, which never moves, and the
//! guard keeps its pool alive ([`StableBuf`]). So the guards, `Filled` over
//! them and the shared views go in as they are:
//!
//! | runtime (feature) | version | read-only traits | read/write traits | vectored |
//! |---|---|---|---|---|
//! | monoio (`monoio`) | 0.2 | `IoBuf`: `OwnedPooled`, `Pooled<'static>`, the `buffer_pools!` enum, `Filled` over those, `View` | `IoBufMut`: the same but `View` | `IoBatch`: `IoVecBuf`/`IoVecBufMut`, no allocation per `readv`/`writev` (monoio's `read_vectored_exact`/`write_vectored_all` copy the iovecs into a new `Vec` per call, and the former never updates the batch's lengths: use plain `readv`/`writev`) |
//! | compio (`compio`) | compio 0.19 / compio-buf 0.8 | `IoBuf`: as monoio | none: reads go through iobuf's `CompioRead`/`CompioReadAt` into a `Filled` (compio's safe `as_uninit` makes a user-held `IoBufMut` unsound; see the `compio` module) | writes: `Vec`/arrays of them (compio's own impls); reads: `CompioRead::read_vectored_filled` |
//! | tokio-uring (`tokio-uring`) | 0.5 | `IoBuf`: as monoio | `IoBufMut`: the same but `View` | `Vec` of them (`readv_at`/`writev_at` take a `Vec`; reads need `Filled`s: tokio-uring reads after each buffer's initialised bytes, and a bare guard is all initialised, so a vectored read into guards returns `Ok(0)`) |
//!
//! What a read fills: a bare guard is all initialised bytes (its whole
//! buffer counts as written: a pooled buffer is always initialised), so a
//! read into it writes from its start and leaves its length alone. A
//! `Filled` counts from its first filled byte, and a read sets its filled
//! length to exactly what the read wrote, on every runtime, so a `Filled`
//! reused across reads never shows an earlier, longer read's bytes after a
//! short one's:
//!
//! - monoio and tokio-uring write a read from the first filled byte and
//!   report the count; the filled length becomes that count (a 3-byte read
//!   into a 12-byte `Filled` leaves 3 bytes filled). For a `Vec`,
//!   tokio-uring and compio only *raise* the length, keeping stale bytes
//!   after a short read; iobuf's `Filled` does not. Their vectored reads
//!   (`readv`) write after each buffer's filled bytes, so they append; so
//!   does a read into the runtime's slice of the unfilled part
//!   (`filled.slice_mut(filled.len()..)`). Through a slice starting
//!   elsewhere, the filled part ends where the read stopped writing.
//! - compio: `CompioRead::read_filled` and the exact and positioned reads
//!   replace the filled part; `CompioRead::append_filled` and the vectored
//!   read append (see the `compio` module).
//!
//! Uninitialised memory: no safe program reads an uninitialised byte
//! through these impls. monoio's `IoBufMut::write_ptr` and tokio-uring's
//! `stable_mut_ptr` return raw pointers (writing through one is
//! `unsafe`), their `set_init` is `unsafe`, and their slices dereference
//! to the initialised bytes only, as `[u8]`: no safe method of either
//! hands out `MaybeUninit` bytes, so the guards and `Filled` implement
//! their traits directly. compio-buf's `IoBufMut::as_uninit` does, safely,
//! so no iobuf type implements it (the `compio` module says why and what
//! replaces it).
//!
//! A read future dropped mid-flight: monoio and compio cancel the
//! operation and give the buffer back within milliseconds; tokio-uring 0.5
//! does not cancel it, so the buffer stays out of its pool until the
//! operation completes (data arrives or the socket closes), then goes home.
//!
//! With monoio's `IoBuf` in scope, `view.slice(..)` means monoio's
//! `IoBuf::slice`, which consumes the view; call `View::slice(&view, ..)`
//! for the view's own.
//!
//! Not supported: compio's provided-buffer pool is internal to the runtime,
//! so a `uring::BufRing` cannot back it; tokio-uring's
//! fixed-buffer operations take only buffers of its own registry.

#[cfg(feature = "compio")]
pub mod compio;
#[cfg(all(feature = "monoio", unix))]
mod monoio;
#[cfg(all(feature = "tokio-uring", target_os = "linux"))]
mod tokio_uring;

#[cfg(feature = "compio")]
pub use compio::{CompioRead, CompioReadAt};
#[cfg(all(feature = "monoio", unix))]
pub use monoio::IoBatch;

use crate::buffer::BufferTier;
#[cfg(any(feature = "monoio", feature = "compio", feature = "tokio-uring"))]
use crate::filled::Filled;
use crate::pool::{OwnedPooled, Pooled};

/// A holder of a pooled buffer whose bytes stay at one address for as long
/// as the holder lives, wherever the holder moves: what the runtimes'
/// owned-buffer traits require. Not to be implemented outside iobuf (the
/// `buffer_pools!` enum's impl is generated and delegates to its
/// variants).
///
/// # Safety
///
/// `stable_ptr` and `stable_mut_ptr` return the same address for the
/// holder's whole life, valid for `stable_len` bytes, all initialised;
/// through `&mut self` the holder reaches them alone.
pub unsafe trait StableBuf: Unpin + 'static {
    /// The first byte.
    fn stable_ptr(&self) -> *const u8;
    /// The first byte, writable.
    fn stable_mut_ptr(&mut self) -> *mut u8;
    /// The size of the buffer.
    fn stable_len(&self) -> usize;
}

// SAFETY: the bytes are the pool's slab's, which never moves while the pool
// lives (it is one mapping, freed only when the pool drops), and the guard
// keeps the pool alive (an `Arc`); it holds the buffer alone (I1), so
// `&mut self` is exclusive; pooled buffers are plain bytes (`BufferTier`),
// always initialised.
unsafe impl<T: BufferTier> StableBuf for OwnedPooled<T> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ref().as_ptr()
    }
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut().as_mut_ptr()
    }
    fn stable_len(&self) -> usize {
        size_of::<T>()
    }
}

// SAFETY: as for `OwnedPooled`; the pool is `'static`.
unsafe impl<T: BufferTier> StableBuf for Pooled<'static, T> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ref().as_ptr()
    }
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut().as_mut_ptr()
    }
    fn stable_len(&self) -> usize {
        size_of::<T>()
    }
}

#[cfg(any(feature = "monoio", feature = "compio", feature = "tokio-uring"))]
#[cfg_attr(not(any(feature = "monoio", feature = "compio")), allow(dead_code))]
/// A `Filled`'s parts as the runtimes see them: its filled part starts at
/// `base`, `len` bytes are filled, `room` bytes from `base` to the buffer's
/// end.
pub(crate) struct FilledParts {
    pub(crate) base: *mut u8,
    pub(crate) len: usize,
    pub(crate) room: usize,
}

#[cfg(any(feature = "monoio", feature = "compio", feature = "tokio-uring"))]
impl<H: StableBuf> Filled<H> {
    /// The filled part's address (stable: the holder's plus the offset).
    pub(crate) fn stable_parts(&mut self) -> FilledParts {
        let (head, len) = (self.head(), self.len());
        let room = self.holder().stable_len() - head;
        // `head <= capacity`, so the pointer stays in the buffer (or one
        // past it): `wrapping_add` cannot wrap here.
        let base = self.holder_mut().stable_mut_ptr().wrapping_add(head);
        FilledParts { base, len, room }
    }

    /// The filled part's address, read-only.
    #[cfg_attr(
        not(any(feature = "monoio", feature = "tokio-uring")),
        allow(dead_code)
    )]
    pub(crate) fn stable_read_ptr(&self) -> *const u8 {
        self.holder().stable_ptr().wrapping_add(self.head())
    }

    /// Sets the filled length, counted from the first filled byte, after
    /// the kernel wrote `len` bytes there.
    ///
    /// # Panics
    ///
    /// If `len` is past the buffer's end (a runtime's bug, never the
    /// kernel's: it writes at most `room` bytes).
    pub(crate) fn set_filled_from_head(&mut self, len: usize) {
        let room = self.holder().stable_len() - self.head();
        assert!(
            len <= room,
            "a runtime set {len} bytes filled with room for {room}"
        );
        self.set_tail(self.head() + len);
    }
}

/// Not public API: the runtimes' buffer traits for a `buffer_pools!` set's
/// `Buf` enum, generated into the user's crate (the only place a foreign
/// trait can be implemented for it), for each runtime feature iobuf was
/// built with. Each method goes through `StableBuf`, whose impl for `Buf`
/// the same macro generates by delegating to the variants.
#[doc(hidden)]
#[macro_export]
macro_rules! __runtime_buffer_impls {
    ($ty:ident) => {
        $crate::__monoio_buffer_impls!($ty);
        $crate::__compio_buffer_impls!($ty);
        $crate::__tokio_uring_buffer_impls!($ty);
    };
}

#[cfg(all(feature = "monoio", unix))]
#[doc(hidden)]
#[macro_export]
macro_rules! __monoio_buffer_impls {
    ($ty:ident) => {
        // SAFETY: `StableBuf`: a stable address, `stable_len` bytes, all
        // initialised.
        unsafe impl $crate::__private::monoio::buf::IoBuf for $ty {
            fn read_ptr(&self) -> *const u8 {
                $crate::runtimes::StableBuf::stable_ptr(self)
            }
            fn bytes_init(&self) -> usize {
                $crate::runtimes::StableBuf::stable_len(self)
            }
        }
        // SAFETY: as above; every byte already counts as initialised.
        unsafe impl $crate::__private::monoio::buf::IoBufMut for $ty {
            fn write_ptr(&mut self) -> *mut u8 {
                $crate::runtimes::StableBuf::stable_mut_ptr(self)
            }
            fn bytes_total(&mut self) -> usize {
                $crate::runtimes::StableBuf::stable_len(self)
            }
            unsafe fn set_init(&mut self, _: usize) {}
        }
    };
}

#[cfg(not(all(feature = "monoio", unix)))]
#[doc(hidden)]
#[macro_export]
macro_rules! __monoio_buffer_impls {
    ($ty:ident) => {};
}

#[cfg(feature = "compio")]
#[doc(hidden)]
#[macro_export]
macro_rules! __compio_buffer_impls {
    ($ty:ident) => {
        impl $crate::__private::compio_buf::IoBuf for $ty {
            fn as_init(&self) -> &[u8] {
                $crate::__private::core::convert::AsRef::<[u8]>::as_ref(self)
            }
        }
    };
}

#[cfg(not(feature = "compio"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __compio_buffer_impls {
    ($ty:ident) => {};
}

#[cfg(all(feature = "tokio-uring", target_os = "linux"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __tokio_uring_buffer_impls {
    ($ty:ident) => {
        // SAFETY: `StableBuf`: a stable address, `stable_len` bytes, all
        // initialised.
        unsafe impl $crate::__private::tokio_uring::buf::IoBuf for $ty {
            fn stable_ptr(&self) -> *const u8 {
                $crate::runtimes::StableBuf::stable_ptr(self)
            }
            fn bytes_init(&self) -> usize {
                $crate::runtimes::StableBuf::stable_len(self)
            }
            fn bytes_total(&self) -> usize {
                $crate::runtimes::StableBuf::stable_len(self)
            }
        }
        // SAFETY: as above; every byte already counts as initialised.
        unsafe impl $crate::__private::tokio_uring::buf::IoBufMut for $ty {
            fn stable_mut_ptr(&mut self) -> *mut u8 {
                $crate::runtimes::StableBuf::stable_mut_ptr(self)
            }
            unsafe fn set_init(&mut self, _: usize) {}
        }
    };
}

#[cfg(not(all(feature = "tokio-uring", target_os = "linux")))]
#[doc(hidden)]
#[macro_export]
macro_rules! __tokio_uring_buffer_impls {
    ($ty:ident) => {};
}
