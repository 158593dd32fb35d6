//! compio-buf 0.8's `IoBuf`, `IoBufMut` and `SetLen` (compio 0.19).
//!
//! compio's traits are safe: the runtime takes the pointers from
//! `as_init`/`as_uninit` and relies on the bytes staying put while it owns
//! the value, which `StableBuf` promises. Its vectored traits come with its
//! own impls for `Vec`s and arrays of these types.
//!
//! `IoBufMut::as_uninit` is the catch: a safe method that hands out
//! `&mut [MaybeUninit<u8>]`, through which safe code can write
//! uninitialised bytes. Over a `Vec`'s spare capacity that is harmless;
//! over a pooled buffer, which the pool and every guard read as `u8`, it
//! would be undefined behaviour later. So the read-write traits are on
//! [`CompioBuf`], which zeroes whatever `as_uninit` exposed beyond the
//! filled bytes before the buffer can be read as `u8` again.

use std::mem::MaybeUninit;

use compio_buf::{IoBuf, IoBufMut, SetLen};

use super::StableBuf;
use crate::buffer::BufferTier;
use crate::filled::Filled;
use crate::pool::{OwnedPooled, Pooled};
use crate::shared::View;

impl<T: BufferTier> IoBuf for OwnedPooled<T> {
    fn as_init(&self) -> &[u8] {
        self.as_ref()
    }
}

impl<T: BufferTier> IoBuf for Pooled<'static, T> {
    fn as_init(&self) -> &[u8] {
        self.as_ref()
    }
}

impl IoBuf for View {
    fn as_init(&self) -> &[u8] {
        self
    }
}

impl<H: StableBuf + AsRef<[u8]>> IoBuf for Filled<H> {
    fn as_init(&self) -> &[u8] {
        self.as_slice()
    }
}

/// A [`Filled`] lent to compio for a read (`IoBufMut` + `SetLen`): the
/// kernel writes from its first filled byte, and compio raises the filled
/// length to the bytes read (it never lowers it, as for a `Vec`). Take the `Filled` back with
/// [`into_filled`](Self::into_filled) (or drop it: the buffer goes home).
///
/// Why a wrapper: compio's `as_uninit` lets safe code write uninitialised
/// bytes into the buffer (module docs); this type zeroes every byte past
/// the filled length that `as_uninit` exposed, on the way out, so the
/// buffer is all initialised again before anything reads it as `u8`. That
/// costs a `memset` of the unfilled part after a read that did not fill
/// the buffer (about 20 ns for the rest of a 2 KiB buffer).
pub struct CompioBuf<H: StableBuf + AsRef<[u8]>> {
    filled: Option<Filled<H>>,
    /// Whether `as_uninit` ran since the last sanitising.
    exposed: bool,
}

impl<H: StableBuf + AsRef<[u8]>> CompioBuf<H> {
    /// Lends `filled` to compio.
    pub fn new(filled: Filled<H>) -> Self {
        CompioBuf {
            filled: Some(filled),
            exposed: false,
        }
    }

    /// The buffer back, every byte initialised.
    pub fn into_filled(mut self) -> Filled<H> {
        self.sanitize();
        self.filled.take().expect("present until dropped")
    }

    /// The filled bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.inner().as_slice()
    }

    fn inner(&self) -> &Filled<H> {
        self.filled.as_ref().expect("present until dropped")
    }

    /// Zeroes the bytes past the filled length if `as_uninit` exposed them.
    fn sanitize(&mut self) {
        if !std::mem::take(&mut self.exposed) {
            return;
        }
        let Some(filled) = self.filled.as_mut() else {
            return;
        };
        let parts = filled.stable_parts();
        let end = parts.base.wrapping_add(parts.len);
        // SAFETY: `len..room` from the filled part's start is inside the
        // holder's buffer (`stable_parts`), which this value owns alone;
        // writing bytes through a raw pointer makes them initialised
        // whatever they held.
        unsafe { std::ptr::write_bytes(end, 0, parts.room - parts.len) };
    }
}

impl<H: StableBuf + AsRef<[u8]>> Drop for CompioBuf<H> {
    fn drop(&mut self) {
        self.sanitize();
    }
}

impl<H: StableBuf + AsRef<[u8]>> std::fmt::Debug for CompioBuf<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompioBuf")
            .field("len", &self.inner().len())
            .finish_non_exhaustive()
    }
}

impl<H: StableBuf + AsRef<[u8]>> IoBuf for CompioBuf<H> {
    fn as_init(&self) -> &[u8] {
        self.as_slice()
    }
}

impl<H: StableBuf + AsRef<[u8]>> IoBufMut for CompioBuf<H> {
    /// From the first filled byte to the buffer's end.
    fn as_uninit(&mut self) -> &mut [MaybeUninit<u8>] {
        self.exposed = true;
        let parts = self
            .filled
            .as_mut()
            .expect("present until dropped")
            .stable_parts();
        // SAFETY: `room` bytes from `base` are the rest of the holder's
        // buffer, owned by this value alone and borrowed mutably through
        // `&mut self`; `MaybeUninit<u8>` has `u8`'s layout, and whatever is
        // written through the slice is zeroed past the filled length before
        // the bytes are read as `u8` again (`sanitize`).
        unsafe { std::slice::from_raw_parts_mut(parts.base.cast(), parts.room) }
    }
}

impl<H: StableBuf + AsRef<[u8]>> SetLen for CompioBuf<H> {
    /// Sets the filled length, counted from the first filled byte.
    ///
    /// # Safety
    ///
    /// compio's contract: `len` is at most `as_uninit().len()` and those
    /// bytes are initialised.
    unsafe fn set_len(&mut self, len: usize) {
        self.filled
            .as_mut()
            .expect("present until dropped")
            .set_filled_from_head(len);
    }
}
