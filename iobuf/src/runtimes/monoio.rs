//! monoio 0.2's `IoBuf`, `IoBufMut`, `IoVecBuf` and `IoVecBufMut`.

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};

use super::StableBuf;
use crate::buffer::BufferTier;
use crate::filled::Filled;
use crate::pool::{OwnedPooled, Pooled};
use crate::shared::View;

/// The traits for a bare guard: the whole buffer, always initialised.
macro_rules! guard_impls {
    ($($ty:ty),*) => {$(
        // SAFETY: `StableBuf`: the address never changes while the runtime
        // owns the guard, and `size_of::<T>()` bytes are initialised there.
        unsafe impl<T: BufferTier> IoBuf for $ty {
            fn read_ptr(&self) -> *const u8 {
                self.stable_ptr()
            }
            fn bytes_init(&self) -> usize {
                self.stable_len()
            }
        }

        // SAFETY: as for `IoBuf`; `bytes_total` is the buffer's size, and
        // `set_init` changes nothing (every byte already counts).
        unsafe impl<T: BufferTier> IoBufMut for $ty {
            fn write_ptr(&mut self) -> *mut u8 {
                self.stable_mut_ptr()
            }
            fn bytes_total(&mut self) -> usize {
                self.stable_len()
            }
            unsafe fn set_init(&mut self, _: usize) {}
        }
    )*};
}

guard_impls!(OwnedPooled<T>, Pooled<'static, T>);

// SAFETY: the filled part starts at the holder's stable address plus the
// view's offset, which changes only through `&mut self` (never while the
// runtime owns the value), and `len` bytes there are filled.
unsafe impl<H: StableBuf> IoBuf for Filled<H> {
    fn read_ptr(&self) -> *const u8 {
        self.stable_read_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: `write_ptr` is the same address as `read_ptr`, with `room` bytes
// of the holder's buffer from there (`bytes_total`); `set_init` sets the
// filled length to `pos`, which the runtime promises is at most
// `bytes_total` (checked all the same).
unsafe impl<H: StableBuf> IoBufMut for Filled<H> {
    fn write_ptr(&mut self) -> *mut u8 {
        self.stable_parts().base
    }
    fn bytes_total(&mut self) -> usize {
        self.stable_parts().room
    }
    unsafe fn set_init(&mut self, pos: usize) {
        self.set_filled_from_head(pos);
    }
}

// SAFETY: a view's bytes are frozen pooled bytes that stay put while the
// view (and so its buffer's share) lives; `len` of them.
unsafe impl IoBuf for View {
    fn read_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

/// An owned batch of pooled buffers for monoio's vectored reads and writes
/// (`IoVecBuf`, `IoVecBufMut`): `readv`/`writev` over pooled buffers with
/// no allocation per call once the batch has held that many buffers.
///
/// Push `Filled` buffers, hand the batch to `writev` (their filled parts)
/// or `readv` (their unfilled parts, filling each in turn), take it back
/// from the `BufResult`, and [`clear`](Self::clear) or
/// [`drain`](Self::drain) it to reuse it.
///
/// ```
/// use std::sync::Arc;
/// use iobuf::{Filled, runtimes::IoBatch};
///
/// let pool = Arc::new(iobuf::SmallBufferPool::new(2)?);
/// let mut batch = IoBatch::new();
/// let mut a = Filled::new(pool.get_owned());
/// a.extend_from_slice(b"head");
/// batch.push(a);
/// batch.push(Filled::new(pool.get_owned()));
/// assert_eq!(batch.len(), 2);
/// # Ok::<(), iobuf::Error>(())
/// ```
pub struct IoBatch<H> {
    bufs: Vec<Filled<H>>,
    /// The filled parts, for `writev`; rebuilt whenever `bufs` changes.
    read: Vec<libc::iovec>,
    /// The unfilled parts, for `readv`; rebuilt by `write_iovec_ptr`.
    write: Vec<libc::iovec>,
}

// SAFETY: the iovecs only point into the buffers, which the batch owns
// (`Filled<H>: Send` is what moving the batch moves).
unsafe impl<H: Send> Send for IoBatch<H> {}

impl<H: StableBuf> IoBatch<H> {
    /// An empty batch (allocates nothing until the first push).
    pub fn new() -> Self {
        IoBatch {
            bufs: Vec::new(),
            read: Vec::new(),
            write: Vec::new(),
        }
    }

    /// Adds a buffer at the end.
    pub fn push(&mut self, mut buf: Filled<H>) {
        let parts = buf.stable_parts();
        self.read.push(libc::iovec {
            iov_base: parts.base.cast(),
            iov_len: parts.len,
        });
        self.bufs.push(buf);
    }

    /// The number of buffers.
    pub fn len(&self) -> usize {
        self.bufs.len()
    }

    /// Whether the batch holds no buffer.
    pub fn is_empty(&self) -> bool {
        self.bufs.is_empty()
    }

    /// The buffers, in order.
    pub fn buffers(&self) -> &[Filled<H>] {
        &self.bufs
    }

    /// Total filled bytes.
    pub fn filled(&self) -> usize {
        self.bufs.iter().map(Filled::len).sum()
    }

    /// Drops every buffer (they go home); keeps the allocations.
    pub fn clear(&mut self) {
        self.bufs.clear();
        self.read.clear();
    }

    /// Takes the buffers out in order; keeps the allocations.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Filled<H>> {
        self.read.clear();
        self.bufs.drain(..)
    }
}

impl<H: StableBuf> Default for IoBatch<H> {
    fn default() -> Self {
        IoBatch::new()
    }
}

impl<H> std::fmt::Debug for IoBatch<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoBatch")
            .field("buffers", &self.bufs.len())
            .finish_non_exhaustive()
    }
}

// SAFETY: `read` holds one iovec per buffer, each the buffer's filled part
// at its stable address (rebuilt by every change of `bufs`, which needs
// `&mut self`, so never while the runtime owns the batch); the vector's own
// heap array does not move while it is not changed.
unsafe impl<H: StableBuf> IoVecBuf for IoBatch<H> {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.read.as_ptr()
    }
    fn read_iovec_len(&self) -> usize {
        self.read.len()
    }
}

// SAFETY: `write_iovec_ptr` rebuilds `write`: one iovec per buffer, its
// unfilled part (after its filled bytes, to the buffer's end) at its stable
// address; the array is not changed again until `set_init`, which the
// runtime calls after the kernel is done.
unsafe impl<H: StableBuf> IoVecBufMut for IoBatch<H> {
    fn write_iovec_ptr(&mut self) -> *mut libc::iovec {
        self.write.clear();
        for buf in &mut self.bufs {
            let parts = buf.stable_parts();
            self.write.push(libc::iovec {
                iov_base: parts.base.wrapping_add(parts.len).cast(),
                iov_len: parts.room - parts.len,
            });
        }
        self.write.as_mut_ptr()
    }
    fn write_iovec_len(&mut self) -> usize {
        self.bufs.len()
    }
    /// `pos` bytes were read: they filled the unfilled parts in order.
    unsafe fn set_init(&mut self, mut pos: usize) {
        self.read.clear();
        for buf in &mut self.bufs {
            let parts = buf.stable_parts();
            let n = pos.min(parts.room - parts.len);
            buf.set_filled_from_head(parts.len + n);
            pos -= n;
            let parts = buf.stable_parts();
            self.read.push(libc::iovec {
                iov_base: parts.base.cast(),
                iov_len: parts.len,
            });
        }
    }
}
