//! The two iovec types, [`IoVec`] and [`IoVecMut`], with every `unsafe`
//! of the module and its proof, and the raw address of an array of them
//! ([`addr_len`], [`addr_len_mut`]). Invariants V1–V3 are stated in the
//! module docs (`iovec/mod.rs`).

use std::fmt;
use std::io::{IoSlice, IoSliceMut};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// Where an empty iovec points: the dangling, non-null, aligned address that
/// `&[]` has (V1), never null, which `IoSlice`'s `Deref` must not see.
const DANGLING: *mut libc::c_void = NonNull::<u8>::dangling().as_ptr().cast();

/// One `(pointer, length)` pair of a vectored I/O call, borrowing its bytes
/// for `'a`, shared: for calls that read them (`writev`,
/// [`write_vectored`](std::io::Write::write_vectored)). Its exclusive twin,
/// for calls that write, is [`IoVecMut`].
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

/// One `(pointer, length)` pair of a vectored read, borrowing its bytes
/// exclusively for `'a`: for calls that write them (`readv`,
/// [`read_vectored`](std::io::Read::read_vectored)).
///
/// It can be made only from exclusive borrows (`&mut [u8]`,
/// [`IoSliceMut`], [`BufferTier::iovec_mut`](crate::BufferTier::iovec_mut), [`iovecs_from_mut`](super::iovecs_from_mut)), never
/// from an [`IoVec`], which may point to shared bytes; it turns into an
/// `IoVec` freely ([`as_iovec`](Self::as_iovec), `From`).
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use iobuf::IoVecMut;
///
/// let (mut a, mut b) = ([0u8; 3], [0u8; 4]);
/// let mut iov = [IoVecMut::from(&mut a[..]), IoVecMut::from(&mut b[..])];
/// let n = (&b"abcdefg"[..]).read_vectored(IoVecMut::as_io_slices_mut(&mut iov))?;
/// assert_eq!(n, 7);
/// assert_eq!(iov[1].as_slice(), b"defg");
/// iov[0].as_mut_slice()[0] = b'A';
/// assert_eq!((&a, &b), (b"Abc", b"defg"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[repr(transparent)]
pub struct IoVecMut<'a> {
    raw: libc::iovec,
    _bytes: PhantomData<&'a mut [u8]>,
}

// The repr(transparent) promise, checked: same size and alignment as
// iovec, and as std's IoSlice/IoSliceMut, which std documents as ABI
// compatible with iovec on Unix (the views below rely on it).
const _: () = assert!(size_of::<IoVec<'static>>() == size_of::<libc::iovec>());
const _: () = assert!(align_of::<IoVec<'static>>() == align_of::<libc::iovec>());
const _: () = assert!(size_of::<IoVec<'static>>() == size_of::<IoSlice<'static>>());
const _: () = assert!(align_of::<IoVec<'static>>() == align_of::<IoSlice<'static>>());
const _: () = assert!(size_of::<IoVecMut<'static>>() == size_of::<libc::iovec>());
const _: () = assert!(align_of::<IoVecMut<'static>>() == align_of::<libc::iovec>());
const _: () = assert!(size_of::<IoVecMut<'static>>() == size_of::<IoSliceMut<'static>>());
const _: () = assert!(align_of::<IoVecMut<'static>>() == align_of::<IoSliceMut<'static>>());

// SAFETY: an IoVec is a borrow of bytes (`&'a [u8]`, or a `&'a mut [u8]`
// used only shared, V2), both Send; it gives safe access only to `&[u8]`.
unsafe impl Send for IoVec<'_> {}
// SAFETY: as for Send: `&IoVec` yields only `&[u8]` and copies of the
// pointer, and `&[u8]` is Sync.
unsafe impl Sync for IoVec<'_> {}

// SAFETY: an IoVecMut stands for one `&'a mut [u8]` (V3), which is Send:
// moving it moves the only access to the bytes, and bytes have no thread
// affinity.
unsafe impl Send for IoVecMut<'_> {}
// SAFETY: `&IoVecMut` gives only shared access (`as_slice`, `as_iovec`,
// `as_raw`, all bound to that borrow), as `&&mut [u8]` does, which is Sync;
// writing needs `&mut IoVecMut`, which excludes every other borrow.
unsafe impl Sync for IoVecMut<'_> {}

impl<'a> IoVec<'a> {
    /// An empty `IoVec` (length 0, pointing where `&[]` does: dangling but
    /// never null), for filling arrays.
    ///
    /// ```
    /// let v = iobuf::IoVec::EMPTY;
    /// assert!(v.is_empty() && v.as_slice().is_empty());
    /// assert!(!v.as_raw().iov_base.is_null());
    /// ```
    pub const EMPTY: IoVec<'static> = IoVec {
        raw: libc::iovec {
            iov_base: DANGLING,
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
        // SAFETY: by V1 the pointer and length are those of a live
        // `&'a [u8]` or `&'a mut [u8]`; by V2 nothing writes these bytes
        // for 'a (a mutable borrow, if any, was moved into the IoVec, which
        // hands out only shared access), so a shared slice for 'a is valid.
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
        advance_raw(&mut self.raw, n, "IoVec");
    }

    /// Moves `bufs` forward by `n` bytes, as after a partial `writev` or
    /// `write_vectored`: drops the iovecs that were used up (and the empty
    /// ones after them) and advances the first of the rest. Mirrors
    /// [`IoSlice::advance_slices`]; with `n == 0` it drops leading empty
    /// iovecs, so a write loop can stop on `bufs.is_empty()`.
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
        advance_slices_by(bufs, n, IoVec::len, IoVec::advance);
    }

    /// Views `iovecs` as std [`IoSlice`]s, without copying, for
    /// [`Write::write_vectored`](std::io::Write::write_vectored) on std and
    /// tokio writers (sockets, files, pipes, `Vec<u8>`, `Cursor`, …).
    ///
    /// Sound because std guarantees `IoSlice` is ABI compatible with `iovec`
    /// on Unix, and an `IoVec` meets everything an `IoSlice` promises (V1,
    /// V2).
    ///
    /// # Examples
    ///
    /// One call, then a loop that writes everything over partial writes:
    ///
    /// ```
    /// use std::io::{Cursor, ErrorKind, Write};
    /// use iobuf::{IoVec, NanoBuffer, iovecs_from};
    ///
    /// let bufs = [NanoBuffer([b'a'; 128]), NanoBuffer([b'b'; 128])];
    /// let mut iov = iovecs_from(&bufs);
    ///
    /// let mut out = Vec::new();
    /// assert_eq!(out.write_vectored(IoVec::as_io_slices(&iov))?, 256);
    /// assert_eq!(&out[126..130], b"aabb");
    ///
    /// let mut small = Cursor::new([0u8; 300]);
    /// let mut rest = &mut iov[..];
    /// IoVec::advance_slices(&mut rest, 0);
    /// while !rest.is_empty() {
    ///     let n = small.write_vectored(IoVec::as_io_slices(rest))?;
    ///     if n == 0 {
    ///         return Err(ErrorKind::WriteZero.into());
    ///     }
    ///     IoVec::advance_slices(&mut rest, n);
    /// }
    /// assert_eq!(small.position(), 256);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(unix)]
    pub fn as_io_slices<'s>(iovecs: &'s [IoVec<'a>]) -> &'s [IoSlice<'a>] {
        let (ptr, len) = (iovecs.as_ptr().cast::<IoSlice<'a>>(), iovecs.len());
        // SAFETY: `from_raw_parts` needs `len` consecutive, properly
        // initialised `IoSlice<'a>`s at `ptr`, valid and unmutated for 's:
        // - Layout: IoVec is repr(transparent) over libc::iovec, and std
        //   documents IoSlice as "guaranteed to be ABI compatible with the
        //   iovec type on Unix platforms" (it is repr(transparent) over an
        //   iovec there); the consts above assert equal size and alignment,
        //   so the slice has the same length and stride under both types.
        // - Validity: an IoSlice<'a> is a `&'a [u8]` in iovec form; every
        //   IoVec<'a> holds the pointer and length of a live slice, never
        //   null (V1), whose bytes nobody writes for 'a (V2).
        // - Aliasing: the result reborrows `iovecs` shared for 's, and an
        //   IoSlice gives only shared access, so nothing mutates either the
        //   iovecs or their bytes through it; copying an IoSlice<'a> out is
        //   `From<IoVec<'a>> for IoSlice<'a>`, which is safe already.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }

    /// The raw `libc::iovec`.
    pub fn as_raw(&self) -> libc::iovec {
        self.raw
    }

    const fn from_raw_parts(ptr: *const u8, len: usize) -> Self {
        IoVec {
            raw: libc::iovec {
                iov_base: ptr.cast_mut().cast(),
                iov_len: len,
            },
            _bytes: PhantomData,
        }
    }
}

/// Moves an iovec's start forward by `n` bytes, for `advance` of both
/// kinds (`what` names it in the panic).
fn advance_raw(raw: &mut libc::iovec, n: usize, what: &str) {
    let len = raw.iov_len;
    assert!(n <= len, "advancing an {what} of {len} bytes by {n}");
    // In bounds (`n <= len`), and `wrapping_add` keeps the pointer's
    // provenance, so V1 (and V3 for an `IoVecMut`) hold for the shorter
    // tail.
    raw.iov_base = raw.iov_base.cast::<u8>().wrapping_add(n).cast();
    raw.iov_len = len - n;
}

/// Moves `bufs` forward by `n` bytes, for `advance_slices` of both kinds:
/// drops the iovecs a transfer of `n` bytes used up (and the empty ones
/// after them), then advances the first of the rest by what is left.
fn advance_slices_by<V>(
    bufs: &mut &mut [V],
    n: usize,
    len: fn(&V) -> usize,
    advance: fn(&mut V, usize),
) {
    let mut left = n;
    let mut used = 0;
    for v in bufs.iter() {
        if left < len(v) {
            break;
        }
        left -= len(v);
        used += 1;
    }
    *bufs = &mut std::mem::take(bufs)[used..];
    match bufs.first_mut() {
        Some(first) => advance(first, left),
        None => assert!(left == 0, "advancing iovecs past their end by {left} bytes"),
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

impl<'a> From<IoVecMut<'a>> for IoVec<'a> {
    /// Downgrades an exclusive iovec to a shared one for the rest of `'a`
    /// (the exclusive borrow is consumed).
    fn from(v: IoVecMut<'a>) -> Self {
        IoVec {
            raw: v.raw,
            _bytes: PhantomData,
        }
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

impl<'a> IoVecMut<'a> {
    /// An empty `IoVecMut` (length 0, pointing where `&mut []` does:
    /// dangling but never null), for filling arrays.
    ///
    /// ```
    /// let mut out = [iobuf::IoVecMut::EMPTY; 4];
    /// assert!(out.iter().all(|v| v.is_empty()));
    /// assert!(out[0].as_mut_slice().is_empty());
    /// ```
    pub const EMPTY: IoVecMut<'static> = IoVecMut {
        raw: libc::iovec {
            iov_base: DANGLING,
            iov_len: 0,
        },
        _bytes: PhantomData,
    };

    /// The number of bytes it covers.
    ///
    /// ```
    /// let mut data = [0u8; 5];
    /// let v = iobuf::IoVecMut::from(&mut data[..]);
    /// assert_eq!((v.len(), v.is_empty()), (5, false));
    /// ```
    pub fn len(&self) -> usize {
        self.raw.iov_len
    }

    /// Whether it covers no bytes.
    pub fn is_empty(&self) -> bool {
        self.raw.iov_len == 0
    }

    /// The bytes it covers, for reading, for as long as `self` is borrowed.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: by V1 the pointer and length are those of a live
        // `&'a mut [u8]`, never null (a dangling one when empty, which is
        // valid for 0 bytes); by V3 they are reachable only through `self`,
        // which is borrowed shared for the result's lifetime, so nothing
        // writes them meanwhile.
        unsafe { std::slice::from_raw_parts(self.raw.iov_base.cast::<u8>(), self.raw.iov_len) }
    }

    /// The bytes it covers, for writing, for as long as `self` is borrowed.
    ///
    /// ```
    /// let mut data = *b"abc";
    /// let mut v = iobuf::IoVecMut::from(&mut data[..]);
    /// v.as_mut_slice()[1] = b'B';
    /// assert_eq!(data, *b"aBc");
    /// ```
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: by V1 the pointer and length are those of a live
        // `&'a mut [u8]`, never null; by V3 they are reachable only through
        // `self`, which is borrowed exclusively for the result's lifetime,
        // so this is the only access to them meanwhile.
        unsafe { std::slice::from_raw_parts_mut(self.raw.iov_base.cast::<u8>(), self.raw.iov_len) }
    }

    /// The bytes it covers, for writing, for all of `'a` (the `IoVecMut`
    /// is consumed).
    pub fn into_mut_slice(self) -> &'a mut [u8] {
        // SAFETY: as in `as_mut_slice`, and `self`, which stood for the
        // exclusive borrow for 'a (V3), is consumed, so the returned slice
        // is the only access to these bytes for 'a.
        unsafe { std::slice::from_raw_parts_mut(self.raw.iov_base.cast::<u8>(), self.raw.iov_len) }
    }

    /// A shared [`IoVec`] over the same bytes, for as long as `self` is
    /// borrowed (for `writev`/`write_vectored` of what a read filled in).
    /// To downgrade for all of `'a`, use `IoVec::from(v)`.
    ///
    /// ```
    /// let mut data = *b"abc";
    /// let v = iobuf::IoVecMut::from(&mut data[..]);
    /// assert_eq!(v.as_iovec().as_slice(), b"abc");
    /// assert_eq!(iobuf::IoVec::from(v).len(), 3);
    /// ```
    pub fn as_iovec(&self) -> IoVec<'_> {
        IoVec::from(self.as_slice())
    }

    /// Moves the start forward by `n` bytes, after a call transferred them.
    ///
    /// # Panics
    ///
    /// If `n` is larger than [`len`](Self::len).
    ///
    /// ```
    /// let mut data = *b"abcdef";
    /// let mut v = iobuf::IoVecMut::from(&mut data[..]);
    /// v.advance(2);
    /// assert_eq!(v.as_slice(), b"cdef");
    /// ```
    pub fn advance(&mut self, n: usize) {
        advance_raw(&mut self.raw, n, "IoVecMut");
    }

    /// Moves `bufs` forward by `n` bytes, as after a partial `readv` or
    /// `read_vectored`: drops the iovecs that were filled (and the empty
    /// ones after them) and advances the first of the rest. Mirrors
    /// [`IoSliceMut::advance_slices`].
    ///
    /// # Panics
    ///
    /// If `n` is larger than the bytes the iovecs cover.
    ///
    /// ```
    /// use iobuf::IoVecMut;
    /// let (mut a, mut b) = (*b"abc", *b"defg");
    /// let mut all = [IoVecMut::from(&mut a[..]), IoVecMut::from(&mut b[..])];
    /// let mut rest = &mut all[..];
    /// IoVecMut::advance_slices(&mut rest, 5);
    /// assert_eq!(rest.len(), 1);
    /// assert_eq!(rest[0].as_slice(), b"fg");
    /// ```
    pub fn advance_slices(bufs: &mut &mut [IoVecMut<'a>], n: usize) {
        advance_slices_by(bufs, n, IoVecMut::len, IoVecMut::advance);
    }

    /// Views `iovecs` as std [`IoSliceMut`]s, without copying, for
    /// [`Read::read_vectored`](std::io::Read::read_vectored) (and tokio's
    /// `try_read_vectored`), which fill them in.
    ///
    /// Sound because std guarantees `IoSliceMut` is ABI compatible with
    /// `iovec` on Unix, and an `IoVecMut` is an exclusive borrow, as an
    /// `IoSliceMut` is (V1, V3). There is no such view of [`IoVec`]s.
    ///
    /// # Examples
    ///
    /// Reading until every buffer is full, over partial reads:
    ///
    /// ```
    /// use std::io::{ErrorKind, Read};
    /// use iobuf::{IoVecMut, PicoBuffer, iovecs_from_mut};
    ///
    /// let mut bufs = [PicoBuffer([0; 32]), PicoBuffer([0; 32])];
    /// let mut iov = iovecs_from_mut(&mut bufs);
    /// let src: Vec<u8> = (0..64).collect();
    /// let mut src = &src[..];
    /// let mut rest = &mut iov[..];
    /// while !rest.is_empty() {
    ///     let n = src.read_vectored(IoVecMut::as_io_slices_mut(rest))?;
    ///     if n == 0 {
    ///         return Err(ErrorKind::UnexpectedEof.into());
    ///     }
    ///     IoVecMut::advance_slices(&mut rest, n);
    /// }
    /// assert_eq!((bufs[0].0[31], bufs[1].0[0]), (31, 32));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(unix)]
    pub fn as_io_slices_mut<'s>(iovecs: &'s mut [IoVecMut<'a>]) -> &'s mut [IoSliceMut<'a>] {
        let (ptr, len) = (iovecs.as_mut_ptr().cast::<IoSliceMut<'a>>(), iovecs.len());
        // SAFETY: `from_raw_parts_mut` needs `len` consecutive, properly
        // initialised `IoSliceMut<'a>`s at `ptr`, accessed only through the
        // result for 's:
        // - Layout: IoVecMut is repr(transparent) over libc::iovec, and std
        //   documents IoSliceMut as "guaranteed to be ABI compatible with the
        //   iovec type on Unix platforms" (it is repr(transparent) over an
        //   iovec there); the consts above assert equal size and alignment,
        //   so the slice has the same length and stride under both types.
        // - Validity: an IoSliceMut<'a> is a `&'a mut [u8]` in iovec form;
        //   every IoVecMut<'a> holds the pointer and length of a live
        //   `&'a mut [u8]`, never null (V1), reachable only through it (V3),
        //   so writing the bytes through the IoSliceMut is sound.
        // - Back again: whatever safe code leaves in a slot (an advanced
        //   IoSliceMut, or another IoSliceMut<'a> swapped in) is again a live
        //   exclusive `&'a mut [u8]` from a valid slice, so V1 and V3 still
        //   hold when the view ends (`From<IoSliceMut<'a>>` is safe too).
        // - Aliasing: `ptr` comes from `iovecs`, borrowed exclusively for 's,
        //   so the result is the only access to these iovecs meanwhile.
        unsafe { std::slice::from_raw_parts_mut(ptr, len) }
    }

    /// The raw `libc::iovec`.
    pub fn as_raw(&self) -> libc::iovec {
        self.raw
    }

    fn from_raw_parts(ptr: *mut u8, len: usize) -> Self {
        IoVecMut {
            raw: libc::iovec {
                iov_base: ptr.cast(),
                iov_len: len,
            },
            _bytes: PhantomData,
        }
    }
}

impl Default for IoVecMut<'_> {
    fn default() -> Self {
        IoVecMut::EMPTY
    }
}

impl<'a> From<&'a mut [u8]> for IoVecMut<'a> {
    fn from(bytes: &'a mut [u8]) -> Self {
        IoVecMut::from_raw_parts(bytes.as_mut_ptr(), bytes.len())
    }
}

impl<'a> From<IoSliceMut<'a>> for IoVecMut<'a> {
    fn from(mut slice: IoSliceMut<'a>) -> Self {
        // The IoSliceMut, an exclusive borrow of these bytes for 'a, is
        // consumed; the pointer carries that borrow on.
        IoVecMut::from_raw_parts(slice.as_mut_ptr(), slice.len())
    }
}

impl<'a> From<IoVecMut<'a>> for IoSliceMut<'a> {
    fn from(v: IoVecMut<'a>) -> Self {
        IoSliceMut::new(v.into_mut_slice())
    }
}

impl<'a> From<IoVecMut<'a>> for &'a mut [u8] {
    fn from(v: IoVecMut<'a>) -> Self {
        v.into_mut_slice()
    }
}

impl fmt::Debug for IoVecMut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoVecMut")
            .field("base", &self.raw.iov_base)
            .field("len", &self.raw.iov_len)
            .finish()
    }
}

/// The address and count to pass to `writev` (and other calls that only
/// read the bytes): a pointer to the first `libc::iovec` and the number of
/// them; null and 0 for an empty slice. Safe code needs no raw address:
/// see [`IoVec::as_io_slices`].
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

/// The address and count to pass to `readv` (and other calls that write
/// the bytes): a pointer to the first `libc::iovec` and the number of them;
/// null and 0 for an empty slice. The iovecs, and through them the bytes,
/// are borrowed exclusively, so the kernel may write them while the
/// pointer is in use. Safe code needs no raw address: see
/// [`IoVecMut::as_io_slices_mut`].
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use iobuf::{IoVecMut, addr_len_mut};
///
/// let (mut tx, rx) = std::os::unix::net::UnixStream::pair()?;
/// tx.write_all(b"abcdef")?;
/// let (mut a, mut b) = ([0u8; 2], [0u8; 4]);
/// let mut iov = [IoVecMut::from(&mut a[..]), IoVecMut::from(&mut b[..])];
/// let (addr, count) = addr_len_mut(&mut iov);
/// // SAFETY: `addr` points to `count` iovecs over live bytes that are
/// // borrowed exclusively (by `iov`) for the call; readv writes at most
/// // their lengths.
/// let n = unsafe { libc::readv(rx.as_raw_fd(), addr, count as i32) };
/// assert_eq!(n, 6);
/// assert_eq!((&a, &b), (b"ab", b"cdef"));
/// assert_eq!(addr_len_mut(&mut []), (std::ptr::null_mut(), 0));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn addr_len_mut(iovecs: &mut [IoVecMut<'_>]) -> (*mut libc::iovec, usize) {
    if iovecs.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    // IoVecMut is repr(transparent) over libc::iovec (asserted above), so
    // the slice's pointer is a valid iovec array pointer.
    (iovecs.as_mut_ptr().cast::<libc::iovec>(), iovecs.len())
}
