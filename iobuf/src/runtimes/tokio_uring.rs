//! tokio-uring 0.5's `IoBuf` and `IoBufMut`.

use tokio_uring::buf::{IoBuf, IoBufMut};

use super::StableBuf;
use crate::buffer::BufferTier;
use crate::filled::Filled;
use crate::pool::{OwnedPooled, Pooled};
use crate::shared::View;

/// The traits for a bare guard: the whole buffer, always initialised.
macro_rules! guard_impls {
    ($($ty:ty),*) => {$(
        // SAFETY: `StableBuf`: the address never changes while the runtime
        // owns the guard; all `size_of::<T>()` bytes are initialised.
        unsafe impl<T: BufferTier> IoBuf for $ty {
            fn stable_ptr(&self) -> *const u8 {
                StableBuf::stable_ptr(self)
            }
            fn bytes_init(&self) -> usize {
                self.stable_len()
            }
            fn bytes_total(&self) -> usize {
                self.stable_len()
            }
        }

        // SAFETY: as for `IoBuf`; every byte already counts as
        // initialised, so `set_init` has nothing to raise.
        unsafe impl<T: BufferTier> IoBufMut for $ty {
            fn stable_mut_ptr(&mut self) -> *mut u8 {
                StableBuf::stable_mut_ptr(self)
            }
            unsafe fn set_init(&mut self, _: usize) {}
        }
    )*};
}

guard_impls!(OwnedPooled<T>, Pooled<'static, T>);

// SAFETY: the filled part's address is stable (it changes only through
// `&mut self`, never while the runtime owns the value); `bytes_init` bytes
// there are filled and `bytes_total` is the room to the buffer's end.
unsafe impl<H: StableBuf> IoBuf for Filled<H> {
    fn stable_ptr(&self) -> *const u8 {
        self.stable_read_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.holder().stable_len() - self.head()
    }
}

// SAFETY: the same address, writable through `&mut self`; `set_init`
// sets the filled length to `pos`, clamped to `bytes_total`, and every
// byte of a pooled buffer is initialised whatever the runtime wrote.
unsafe impl<H: StableBuf> IoBufMut for Filled<H> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.stable_parts().base
    }
    /// Sets the filled length to `pos`: the bytes from the first filled
    /// byte up to `pos` are what the operation wrote. tokio-uring's own
    /// buffers only *raise* their length here (its trait docs call it a
    /// watermark), but its reads (`read_at`, `read_fixed_at`, `recv_from`,
    /// `recv_msg`) all write from `stable_mut_ptr` and pass the count read,
    /// so raising would leave the bytes of an earlier, longer read after
    /// the short one's, as filled. `readv_at` writes after `bytes_init`
    /// and passes `bytes_init + count`, so it appends either way. Through a
    /// tokio-uring `Slice` the position is the slice's start plus the count:
    /// filled bytes past the slice's end are dropped.
    ///
    /// `pos` is clamped to the room (`bytes_total`): tokio-uring 0.5's
    /// `recv_msg` passes each buffer the count still to distribute, which
    /// can exceed that buffer; the kernel wrote at most its room into it.
    unsafe fn set_init(&mut self, pos: usize) {
        let room = self.stable_parts().room;
        self.set_filled_from_head(pos.min(room));
    }
}

// SAFETY: a view's frozen bytes stay put while it lives; all initialised.
unsafe impl IoBuf for View {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}
