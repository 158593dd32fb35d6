//! `iovec`s for vectored I/O: `readv`, `writev`, `preadv2`, io_uring, and
//! std's (or tokio's) `write_vectored`/`read_vectored`.
//!
//! An [`IoVec<'a>`](IoVec) or [`IoVecMut<'a>`](IoVecMut) is a `libc::iovec`
//! that remembers, in its lifetime, the bytes it points to, so it cannot
//! outlive them. Both are `#[repr(transparent)]`, so a slice of them is a
//! valid `libc::iovec` array ([`addr_len`], [`addr_len_mut`]) and, on Unix,
//! where std guarantees that [`IoSlice`] and [`IoSliceMut`] are ABI
//! compatible with `iovec`, a valid slice of std's types:
//! [`IoVec::as_io_slices`] for [`Write::write_vectored`] and
//! [`IoVecMut::as_io_slices_mut`] for [`Read::read_vectored`], with no
//! `unsafe` in the caller and no copy.
//!
//! Which way the bytes may flow is in the type:
//!
//! - An [`IoVec`] may be made from shared bytes (`&[u8]`, [`IoSlice`],
//!   [`iovecs_from`]) and gives only shared access: it is for calls that
//!   read the bytes (`writev`, `write_vectored`).
//! - An [`IoVecMut`] is made only from exclusive bytes (`&mut [u8]`,
//!   [`IoSliceMut`], [`iovecs_from_mut`], [`BufferTier::iovec_mut`]): it is
//!   for calls that write them (`readv`, `read_vectored`).
//!
//! There is deliberately no `&mut [IoVec]` → `&mut [IoSliceMut]` view: an
//! `IoVec` may point to bytes that were only lent shared, and a reader
//! writing through them would be undefined behaviour. An `IoVec` can still
//! be made from `&mut [u8]`; handing its raw address to a reading syscall
//! is the caller's `unsafe` promise, which [`IoVecMut`] makes unnecessary.
//!
//! # Invariants
//!
//! - **V1** `iov_base` and `iov_len` are the pointer and length of a valid
//!   `&'a [u8]` (or `&'a mut [u8]`): `iov_base` is never null (an empty
//!   iovec points where `&[]` does, `NonNull::dangling()`), and the
//!   `iov_len` bytes behind it are initialised, in one allocation, and live
//!   for `'a`. This is exactly what `IoSlice<'a>`/`IoSliceMut<'a>` require
//!   ("a prior decomposition of a valid slice").
//! - **V2** No one writes the bytes of an `IoVec<'a>` during `'a`: it was
//!   made from a shared borrow held for `'a`, or from an exclusive borrow
//!   moved into it for `'a`, and it hands out only `&[u8]`.
//! - **V3** The bytes of an `IoVecMut<'a>` are reachable during `'a` only
//!   through it: it was made from a `&'a mut [u8]` moved into it, and it is
//!   neither `Copy` nor `Clone`, so it stands for that one exclusive borrow.
//!
//! [`Read::read_vectored`]: std::io::Read::read_vectored
//! [`IoSlice`]: std::io::IoSlice
//! [`IoSliceMut`]: std::io::IoSliceMut
//! [`Write::write_vectored`]: std::io::Write::write_vectored

pub(crate) mod types;

use crate::buffer::{BufferTier, RegisterBuffer};
use crate::error::Error;

pub use types::{IoVec, IoVecMut, addr_len, addr_len_mut};

/// What a value sends in a `writev`: its bytes as one [`IoVec`]. A pooled
/// buffer type (`BufferTier`) and the guards give the whole buffer; a
/// [`Filled`](crate::Filled), a [`View`](crate::shared::View) and a
/// [`SplitBuf`](crate::shared::SplitBuf) their filled bytes.
pub trait AsIoVec {
    /// The bytes, as an iovec.
    fn as_iovec(&self) -> IoVec<'_>;
}

/// Where a value takes a `readv`: its writable bytes as one [`IoVecMut`].
/// A buffer type and the guards give the whole buffer; a `Filled` and a
/// `SplitBuf` their unfilled part.
pub trait AsIoVecMut {
    /// The writable bytes, as an iovec.
    fn as_iovec_mut(&mut self) -> IoVecMut<'_>;
}

impl<T: BufferTier> AsIoVec for T {
    fn as_iovec(&self) -> IoVec<'_> {
        self.iovec()
    }
}

impl<T: BufferTier> AsIoVecMut for T {
    fn as_iovec_mut(&mut self) -> IoVecMut<'_> {
        self.iovec_mut()
    }
}

/// One `IoVec` per buffer, over shared bytes (for `writev`): buffers,
/// guards, `Filled`s (their filled bytes) or views ([`AsIoVec`]).
///
/// ```
/// use iobuf::{iovecs_from, NanoBuffer};
/// let bufs = [NanoBuffer([1; 128]), NanoBuffer([2; 128])];
/// let v = iovecs_from(&bufs);
/// assert_eq!(v.len(), 2);
/// assert_eq!(v[1].as_slice()[0], 2);
/// ```
pub fn iovecs_from<T: AsIoVec>(buffers: &[T]) -> Vec<IoVec<'_>> {
    buffers.iter().map(AsIoVec::as_iovec).collect()
}

/// One [`IoVecMut`] per buffer, over exclusive bytes (for `readv` and
/// [`IoVecMut::as_io_slices_mut`]): buffers, guards, or `Filled`s (their
/// unfilled parts) ([`AsIoVecMut`]).
///
/// ```
/// use iobuf::{iovecs_from_mut, NanoBuffer};
/// let mut bufs = [NanoBuffer([0; 128]), NanoBuffer([0; 128])];
/// let mut v = iovecs_from_mut(&mut bufs);
/// v[1].as_mut_slice()[0] = 7;
/// assert_eq!(bufs[1].0[0], 7);
/// ```
pub fn iovecs_from_mut<T: AsIoVecMut>(buffers: &mut [T]) -> Vec<IoVecMut<'_>> {
    buffers.iter_mut().map(AsIoVecMut::as_iovec_mut).collect()
}

/// One `IoVec` per byte slice (for `writev`).
///
/// ```
/// let parts: [&[u8]; 2] = [b"GET ", b"/"];
/// let v = iobuf::iovecs_from_slices(&parts);
/// assert_eq!(v.iter().map(|v| v.len()).sum::<usize>(), 5);
/// ```
pub fn iovecs_from_slices<'a>(slices: &[&'a [u8]]) -> Vec<IoVec<'a>> {
    slices.iter().map(|s| IoVec::from(*s)).collect()
}

/// One `IoVec` per registered buffer, in order, as io_uring's
/// `register_buffers` wants them.
pub fn iovecs_from_registered(buffers: &[RegisterBuffer]) -> Vec<IoVec<'_>> {
    iovecs_from(buffers)
}

/// Fills the front of `out` with one `IoVec` per buffer, without
/// allocating, and returns the filled part.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `out` is shorter than `buffers` (nothing is
/// silently dropped).
///
/// ```
/// use iobuf::{fill_iovecs, IoVec, PicoBuffer};
/// let bufs = [PicoBuffer([0; 32]), PicoBuffer([1; 32])];
/// let mut out = [IoVec::EMPTY; 8];
/// let filled = fill_iovecs(&bufs, &mut out)?;
/// assert_eq!(filled.len(), 2);
/// assert!(fill_iovecs(&bufs, &mut [IoVec::EMPTY; 1]).is_err());
/// # Ok::<(), iobuf::Error>(())
/// ```
pub fn fill_iovecs<'a, 'o, T: AsIoVec>(
    buffers: &'a [T],
    out: &'o mut [IoVec<'a>],
) -> Result<&'o mut [IoVec<'a>], Error> {
    fill(buffers.iter().map(AsIoVec::as_iovec), buffers.len(), out)
}

/// As [`fill_iovecs`], over exclusive bytes: fills `out` with one
/// [`IoVecMut`] per buffer (for `readv` and [`IoVecMut::as_io_slices_mut`]).
///
/// # Errors
///
/// As [`fill_iovecs`].
///
/// ```
/// use std::io::Read;
/// use iobuf::{fill_iovecs_mut, IoVecMut, PicoBuffer};
/// let mut bufs = [PicoBuffer([0; 32]), PicoBuffer([0; 32])];
/// let mut out = [IoVecMut::EMPTY; 8];
/// let filled = fill_iovecs_mut(&mut bufs, &mut out)?;
/// let n = (&[9u8; 40][..]).read_vectored(IoVecMut::as_io_slices_mut(filled))?;
/// assert_eq!(n, 40);
/// assert_eq!((bufs[1].0[7], bufs[1].0[8]), (9, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn fill_iovecs_mut<'a, 'o, T: AsIoVecMut>(
    buffers: &'a mut [T],
    out: &'o mut [IoVecMut<'a>],
) -> Result<&'o mut [IoVecMut<'a>], Error> {
    let n = buffers.len();
    fill(buffers.iter_mut().map(AsIoVecMut::as_iovec_mut), n, out)
}

/// As [`fill_iovecs`], from byte slices.
///
/// # Errors
///
/// As [`fill_iovecs`].
pub fn fill_iovecs_from_slices<'a, 'o>(
    slices: &[&'a [u8]],
    out: &'o mut [IoVec<'a>],
) -> Result<&'o mut [IoVec<'a>], Error> {
    fill(slices.iter().map(|s| IoVec::from(*s)), slices.len(), out)
}

fn fill<V>(iovecs: impl Iterator<Item = V>, n: usize, out: &mut [V]) -> Result<&mut [V], Error> {
    if out.len() < n {
        return Err(Error::invalid(format!(
            "{n} buffers do not fit in an array of {} iovecs",
            out.len()
        )));
    }
    let filled = &mut out[..n];
    for (slot, v) in filled.iter_mut().zip(iovecs) {
        *slot = v;
    }
    Ok(filled)
}
