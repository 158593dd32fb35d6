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
// raises the filled length to `pos` (tokio-uring's rule), within
// `bytes_total` (checked).
unsafe impl<H: StableBuf> IoBufMut for Filled<H> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.stable_parts().base
    }
    unsafe fn set_init(&mut self, pos: usize) {
        if pos > self.len() {
            self.set_filled_from_head(pos);
        }
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
