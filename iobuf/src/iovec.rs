//! `iovec`s for vectored I/O: `readv`, `writev`, `preadv2`, io_uring.
//!
//! An [`IoVec<'a>`](IoVec) is a `libc::iovec` that remembers, in its
//! lifetime, the bytes it points to, so it cannot outlive them. It is
//! `#[repr(transparent)]`, so a `&[IoVec]` is a valid `*const libc::iovec`
//! array ([`addr_len`]).
//!
//! An `IoVec` made from shared bytes (`&[u8]`, [`IoSlice`], [`iovecs_from`])
//! is for calls in which the kernel reads (`writev`); one made from
//! exclusive bytes (`&mut [u8]`, [`IoSliceMut`], [`iovecs_from_mut`]) is for
//! calls in which it writes (`readv`). Passing the former to a reading call
//! is a bug the compiler cannot see, because the syscall itself is `unsafe`.

use std::fmt;
use std::io::{IoSlice, IoSliceMut};
use std::marker::PhantomData;

use crate::{BufferTier, Error, RegisterBuffer};

/// One `(pointer, length)` pair of a vectored I/O call, borrowing its bytes
/// for `'a`.
///
/// # Examples
///
/// ```
/// use iobuf::IoVec;
///
/// let data = *b"hello";
/// let v = IoVec::from(&data[..]);
/// assert_eq!(v.len(), 5);
/// assert_eq!(v.as_slice(), b"hello");
/// ```
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct IoVec<'a> {
    raw: libc::iovec,
    _bytes: PhantomData<&'a [u8]>,
}

// The repr(transparent) promise, checked: same size and alignment as iovec.
const _: () = assert!(size_of::<IoVec<'static>>() == size_of::<libc::iovec>());
const _: () = assert!(align_of::<IoVec<'static>>() == align_of::<libc::iovec>());
const _: () = assert!(size_of::<IoVec<'static>>() == size_of::<IoSlice<'static>>());

// SAFETY: an IoVec is a borrow of bytes (`&'a [u8]` or `&'a mut [u8]`, both
// Send and Sync); it gives safe access only to `&[u8]`.
unsafe impl Send for IoVec<'_> {}
// SAFETY: as for Send.
unsafe impl Sync for IoVec<'_> {}

impl<'a> IoVec<'a> {
    /// An empty `IoVec` (null pointer, length 0), for filling arrays.
    pub const EMPTY: IoVec<'static> = IoVec {
        raw: libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        },
        _bytes: PhantomData,
    };

    /// The number of bytes it covers.
    pub fn len(&self) -> usize {
        self.raw.iov_len
    }

    /// Whether it covers no bytes.
    pub fn is_empty(&self) -> bool {
        self.raw.iov_len == 0
    }

    /// The bytes it covers.
    pub fn as_slice(&self) -> &'a [u8] {
        if self.raw.iov_len == 0 {
            return &[];
        }
        // SAFETY: a non-empty IoVec is only built from a live `&'a [u8]` or
        // `&'a mut [u8]` of exactly this pointer and length; the mutable
        // borrow, if any, was moved into the IoVec for 'a, and an IoVec hands
        // out only shared access, so no `&mut` to these bytes exists for 'a.
        unsafe { std::slice::from_raw_parts(self.raw.iov_base.cast::<u8>(), self.raw.iov_len) }
    }

    /// Moves the start forward by `n` bytes, after a call transferred them.
    ///
    /// # Panics
    ///
    /// If `n` is larger than [`len`](Self::len).
    ///
    /// ```
    /// let mut v = iobuf::IoVec::from(&b"abcdef"[..]);
    /// v.advance(2);
    /// assert_eq!(v.as_slice(), b"cdef");
    /// ```
    pub fn advance(&mut self, n: usize) {
        let len = self.raw.iov_len;
        assert!(n <= len, "advancing an IoVec of {len} bytes by {n}");
        if n == 0 {
            return;
        }
        // Re-derive from the slice so the pointer keeps its provenance.
        *self = IoVec::from_raw_parts(self.as_slice()[n..].as_ptr(), len - n);
    }

    /// Moves `bufs` forward by `n` bytes, as after a partial `readv` or
    /// `writev`: drops the iovecs that were used up and advances the first
    /// of the rest. Mirrors [`IoSlice::advance_slices`].
    ///
    /// # Panics
    ///
    /// If `n` is larger than the bytes the iovecs cover.
    ///
    /// ```
    /// use iobuf::IoVec;
    /// let (a, b) = (*b"abc", *b"defg");
    /// let mut all = [IoVec::from(&a[..]), IoVec::from(&b[..])];
    /// let mut rest = &mut all[..];
    /// IoVec::advance_slices(&mut rest, 5);
    /// assert_eq!(rest.len(), 1);
    /// assert_eq!(rest[0].as_slice(), b"fg");
    /// ```
    pub fn advance_slices(bufs: &mut &mut [IoVec<'a>], n: usize) {
        let mut left = n;
        let mut used = 0;
        for v in bufs.iter() {
            if left < v.len() {
                break;
            }
            left -= v.len();
            used += 1;
        }
        *bufs = &mut std::mem::take(bufs)[used..];
        match bufs.first_mut() {
            Some(first) => first.advance(left),
            None => assert!(left == 0, "advancing iovecs past their end by {left} bytes"),
        }
    }

    /// The raw `libc::iovec`.
    pub fn as_raw(&self) -> libc::iovec {
        self.raw
    }

    fn from_raw_parts(ptr: *const u8, len: usize) -> Self {
        IoVec {
            raw: libc::iovec {
                iov_base: ptr.cast_mut().cast(),
                iov_len: len,
            },
            _bytes: PhantomData,
        }
    }
}

impl Default for IoVec<'_> {
    fn default() -> Self {
        IoVec::EMPTY
    }
}

impl<'a> From<&'a [u8]> for IoVec<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        IoVec::from_raw_parts(bytes.as_ptr(), bytes.len())
    }
}

impl<'a> From<&'a mut [u8]> for IoVec<'a> {
    fn from(bytes: &'a mut [u8]) -> Self {
        IoVec::from_raw_parts(bytes.as_mut_ptr(), bytes.len())
    }
}

impl<'a> From<IoSlice<'a>> for IoVec<'a> {
    fn from(slice: IoSlice<'a>) -> Self {
        // Deref on IoSlice<'a> yields a borrow of the IoSlice; the bytes it
        // points to live for 'a, so re-borrowing them for 'a is what the
        // pointer carries.
        IoVec::from_raw_parts(slice.as_ptr(), slice.len())
    }
}

impl<'a> From<IoSliceMut<'a>> for IoVec<'a> {
    fn from(mut slice: IoSliceMut<'a>) -> Self {
        IoVec::from_raw_parts(slice.as_mut_ptr(), slice.len())
    }
}

impl<'a> From<IoVec<'a>> for IoSlice<'a> {
    fn from(v: IoVec<'a>) -> Self {
        IoSlice::new(v.as_slice())
    }
}

impl<'a> From<IoVec<'a>> for &'a [u8] {
    fn from(v: IoVec<'a>) -> Self {
        v.as_slice()
    }
}

impl fmt::Debug for IoVec<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoVec")
            .field("base", &self.raw.iov_base)
            .field("len", &self.raw.iov_len)
            .finish()
    }
}

/// One `IoVec` per buffer, over shared bytes (for `writev`).
///
/// ```
/// use iobuf::{iovecs_from, NanoBuffer};
/// let bufs = [NanoBuffer([1; 128]), NanoBuffer([2; 128])];
/// let v = iovecs_from(&bufs);
/// assert_eq!(v.len(), 2);
/// assert_eq!(v[1].as_slice()[0], 2);
/// ```
pub fn iovecs_from<T: BufferTier>(buffers: &[T]) -> Vec<IoVec<'_>> {
    buffers.iter().map(BufferTier::iovec).collect()
}

/// One `IoVec` per buffer, over exclusive bytes (for `readv`).
pub fn iovecs_from_mut<T: BufferTier>(buffers: &mut [T]) -> Vec<IoVec<'_>> {
    buffers.iter_mut().map(BufferTier::iovec_mut).collect()
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
pub fn fill_iovecs<'a, 'o, T: BufferTier>(
    buffers: &'a [T],
    out: &'o mut [IoVec<'a>],
) -> Result<&'o mut [IoVec<'a>], Error> {
    fill(buffers.iter().map(BufferTier::iovec), buffers.len(), out)
}

/// As [`fill_iovecs`], over exclusive bytes (for `readv`).
///
/// # Errors
///
/// As [`fill_iovecs`].
pub fn fill_iovecs_mut<'a, 'o, T: BufferTier>(
    buffers: &'a mut [T],
    out: &'o mut [IoVec<'a>],
) -> Result<&'o mut [IoVec<'a>], Error> {
    let n = buffers.len();
    fill(buffers.iter_mut().map(BufferTier::iovec_mut), n, out)
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

fn fill<'a, 'o>(
    iovecs: impl Iterator<Item = IoVec<'a>>,
    n: usize,
    out: &'o mut [IoVec<'a>],
) -> Result<&'o mut [IoVec<'a>], Error> {
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

/// The address and count to pass to `readv`/`writev`: a pointer to the
/// first `libc::iovec` and the number of them; null and 0 for an empty
/// slice.
///
/// ```
/// let data = [1u8, 2, 3];
/// let v = [iobuf::IoVec::from(&data[..])];
/// let (addr, n) = iobuf::addr_len(&v);
/// assert_eq!(n, 1);
/// assert_eq!(unsafe { (*addr).iov_len }, 3);
/// assert_eq!(iobuf::addr_len(&[]), (std::ptr::null(), 0));
/// ```
pub fn addr_len(iovecs: &[IoVec<'_>]) -> (*const libc::iovec, usize) {
    if iovecs.is_empty() {
        return (std::ptr::null(), 0);
    }
    // IoVec is repr(transparent) over libc::iovec (asserted above), so the
    // slice's pointer is a valid iovec array pointer.
    (iovecs.as_ptr().cast::<libc::iovec>(), iovecs.len())
}
