//! A filled length over a pooled buffer: [`Filled`], a `Vec<u8>` that
//! cannot grow past its buffer.
//!
//! A pooled buffer is a fixed block of bytes; I/O code wants to know how
//! much of it holds data. [`Filled<H>`](Filled) wraps any holder of bytes
//! (a [`Pooled`](crate::Pooled), an [`OwnedPooled`](crate::OwnedPooled),
//! the `Buf` of [`buffer_pools!`](crate::buffer_pools)) and keeps two
//! offsets into it:
//!
//! ```text
//!  0          head             tail                 capacity
//!  | consumed  |  filled (data)  |  unfilled (spare)  |
//! ```
//!
//! Writing ([`extend_from_slice`](Filled::extend_from_slice),
//! [`std::io::Write`], `bytes::BufMut`, or a `read` into
//! [`unfilled_mut`](Filled::unfilled_mut) followed by
//! [`commit`](Filled::commit)) moves `tail`; reading from the front
//! ([`std::io::Read`], [`std::io::BufRead`], `bytes::Buf`,
//! [`consume`](Filled::consume)) moves `head`. The view dereferences to the
//! filled part, `head..tail`. [`len`](Filled::len) is the filled part,
//! [`capacity`](Filled::capacity) the whole buffer: room consumed from the
//! front is not lost, as a write first moves the filled bytes back to the
//! front ([`compact`](Filled::compact)), and when reading catches up with
//! writing, both offsets go back to 0 for free.
//!
//! The length lives in the view, not in the pool: the holder inside knows
//! nothing of it, and a buffer that goes back to its pool comes out of the
//! next `get` with whatever bytes it held (zeroed if the pool was built with
//! [`PoolConfig::zero_on_return`](crate::PoolConfig::zero_on_return)), but
//! in a new, empty view.
//!
//! Pooled bytes are always initialised, so [`set_len`](Filled::set_len) is
//! safe: it exposes old bytes, never uninitialised memory. Every access
//! slices the holder's bytes with bounds checks, so a holder whose length
//! changes (an odd `AsRef`) can cause wrong lengths or a panic, never
//! undefined behaviour.
//!
//! With the `bytes` feature (on by default), a view is a `bytes::BufMut`
//! (so tokio's `read_buf` reads into it) and a `bytes::Buf` (so
//! `write_all_buf` writes from it), and [`Filled::freeze`] turns a view of
//! a `'static` holder into a `bytes::Bytes` without copying.

#[cfg(feature = "bytes")]
mod with_bytes;

use std::fmt;
use std::io;
use std::ops::Deref;

use crate::iovec::{AsIoVec, AsIoVecMut, IoVec, IoVecMut};

/// A filled length over a holder of a buffer: the bytes read into it so
/// far, not yet consumed. See the [module docs](self) for the picture.
///
/// `H` is anything whose bytes are reachable as `AsRef<[u8]>` (to read)
/// and `AsMut<[u8]>` (to write): [`Pooled`](crate::Pooled) and
/// [`OwnedPooled`](crate::OwnedPooled) of a [`BufferTier`](crate::BufferTier),
/// a `buffer_pools!` `Buf`, or a plain `Vec<u8>` or array.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use iobuf::{Filled, PicoBufferPool};
///
/// let pool = PicoBufferPool::new(4)?;
/// let mut buf = Filled::new(pool.get());          // 32 bytes, none filled
/// assert_eq!((buf.len(), buf.capacity()), (0, 32));
///
/// buf.extend_from_slice(b"hello, ");
/// write!(buf, "world")?;                          // std::io::Write
/// assert_eq!(&buf[..], b"hello, world");
///
/// let mut word = [0; 5];
/// buf.read_exact(&mut word)?;                     // consumes from the front
/// assert_eq!(&word, b"hello");
/// assert_eq!(&buf[..], b", world");
///
/// drop(buf);                                      // the buffer goes home
/// assert_eq!(pool.available(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Reading from a socket into the unfilled part:
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use iobuf::{Filled, SmallBufferPool};
///
/// let pool = SmallBufferPool::new(8)?;
/// let (mut a, mut b) = UnixStream::pair()?;
/// a.write_all(b"ping")?;
///
/// let mut buf = Filled::new(pool.get());
/// let n = b.read(buf.unfilled_mut())?;
/// buf.commit(n);
/// assert_eq!(&buf[..], b"ping");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a Filled over a pooled holder returns its buffer when dropped"]
pub struct Filled<H> {
    holder: H,
    /// Start of the filled part: bytes before it were consumed.
    head: usize,
    /// End of the filled part. `head <= tail <= capacity` (checked on every
    /// change; each access slices with bounds checks all the same).
    tail: usize,
}

impl<H: AsRef<[u8]>> Filled<H> {
    /// An empty view over `holder`'s bytes. The holder must be bytes
    /// (`AsRef<[u8]>`): `Filled::new(pools::get_async(n).await)` without
    /// its `unwrap` is an error here, at the mistake, not later.
    pub const fn new(holder: H) -> Self {
        Filled {
            holder,
            head: 0,
            tail: 0,
        }
    }
}

impl<H> Filled<H> {
    /// The number of filled bytes not yet consumed.
    pub fn len(&self) -> usize {
        self.tail - self.head
    }

    /// Whether no bytes are filled.
    pub fn is_empty(&self) -> bool {
        self.tail == self.head
    }

    /// Empties the view: length 0, and the whole buffer free again.
    pub fn clear(&mut self) {
        self.head = 0;
        self.tail = 0;
    }

    /// Shortens the filled part to `len` bytes, keeping the first ones; does
    /// nothing if it is already no longer.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.tail = self.head + len;
            self.rewind_if_empty();
        }
    }

    /// Drops the first `n` filled bytes, as after they were sent or parsed
    /// (what [`std::io::BufRead::consume`] and `bytes::Buf::advance` do).
    ///
    /// # Panics
    ///
    /// If `n` is larger than [`len`](Self::len).
    pub fn consume(&mut self, n: usize) {
        let len = self.len();
        assert!(n <= len, "consuming {n} bytes of a Filled of length {len}");
        self.head += n;
        self.rewind_if_empty();
    }

    /// The holder, for what the view does not offer (its index, its pool).
    pub fn holder(&self) -> &H {
        &self.holder
    }

    /// The holder, writable: the whole buffer, filled or not, with no
    /// pointer arithmetic from [`unfilled_mut`](Self::unfilled_mut). (The
    /// filled range is kept; if the holder's bytes shrink under it,
    /// accessors panic rather than read out of bounds.)
    pub fn holder_mut(&mut self) -> &mut H {
        &mut self.holder
    }

    /// Where the filled bytes start.
    #[cfg_attr(
        not(any(feature = "monoio", feature = "compio", feature = "tokio-uring")),
        allow(dead_code)
    )]
    pub(crate) fn head(&self) -> usize {
        self.head
    }

    /// Sets where the filled bytes end (at or after `head`; the caller
    /// checked it against the capacity).
    #[cfg_attr(
        not(any(feature = "monoio", feature = "compio", feature = "tokio-uring")),
        allow(dead_code)
    )]
    pub(crate) fn set_tail(&mut self, tail: usize) {
        assert!(tail >= self.head);
        self.tail = tail;
    }

    /// Gives up the view and returns the holder; the filled length is lost.
    pub fn into_inner(self) -> H {
        self.holder
    }

    /// The holder and its filled range `head..tail`.
    pub(crate) fn into_parts(self) -> (H, usize, usize) {
        (self.holder, self.head, self.tail)
    }

    /// When everything filled was consumed, starts over at the front, so
    /// the whole buffer is free again.
    fn rewind_if_empty(&mut self) {
        if self.head == self.tail {
            self.clear();
        }
    }
}

impl<H: AsRef<[u8]>> Filled<H> {
    /// The size of the buffer: what [`len`](Self::len) can grow to.
    pub fn capacity(&self) -> usize {
        self.holder.as_ref().len()
    }

    /// How many more bytes fit: `capacity() - len()`. Writing may first
    /// move the filled bytes to the front (see [`compact`](Self::compact)).
    pub fn remaining_capacity(&self) -> usize {
        self.capacity().saturating_sub(self.len())
    }

    /// The filled bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.holder.as_ref()[self.head..self.tail]
    }
}

/// The writing side. Each write first [`compact`](Self::compact)s a view
/// whose front was consumed, so that the whole
/// [`remaining_capacity`](Self::remaining_capacity) is one unfilled part
/// after the filled bytes; that copies `len()` bytes once per consume
/// followed by a write, and nothing otherwise.
impl<H: AsRef<[u8]> + AsMut<[u8]>> Filled<H> {
    /// A view over `holder` whose first `len` bytes count as filled, as
    /// after a completion that wrote `len` bytes into the buffer.
    ///
    /// # Panics
    ///
    /// If `len` is larger than the buffer.
    pub fn with_len(holder: H, len: usize) -> Self {
        let mut view = Filled::new(holder);
        view.set_len(len);
        view
    }

    /// Sets the filled length to `len`, keeping the start. Safe because a
    /// buffer's bytes are always initialised: growing the length exposes
    /// the bytes the buffer held before (zeros in a fresh pool).
    ///
    /// # Panics
    ///
    /// If `len` is larger than [`capacity`](Self::capacity).
    pub fn set_len(&mut self, len: usize) {
        let capacity = self.capacity();
        assert!(
            len <= capacity,
            "length {len} exceeds the capacity {capacity} of a Filled"
        );
        self.compact();
        self.tail = len;
    }

    /// Counts the first `n` bytes of the unfilled part as filled, after a
    /// `read` into [`unfilled_mut`](Self::unfilled_mut) returned `n`.
    ///
    /// # Panics
    ///
    /// If `n` is larger than [`remaining_capacity`](Self::remaining_capacity).
    pub fn commit(&mut self, n: usize) {
        let spare = self.remaining_capacity();
        assert!(
            n <= spare,
            "committing {n} bytes to a Filled with {spare} bytes unfilled"
        );
        self.compact();
        self.tail += n;
    }

    /// The filled bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.holder.as_mut()[self.head..self.tail]
    }

    /// The unfilled part, [`remaining_capacity`](Self::remaining_capacity)
    /// bytes to `read`/`recv` into; [`commit`](Self::commit) what arrived.
    /// It holds the buffer's old bytes, never uninitialised memory.
    pub fn unfilled_mut(&mut self) -> &mut [u8] {
        self.compact();
        &mut self.holder.as_mut()[self.tail..]
    }

    /// Appends `data` to the filled part.
    ///
    /// # Panics
    ///
    /// If `data` does not fit ([`remaining_capacity`](Self::remaining_capacity));
    /// nothing is written then. For a write that stops at the end of the
    /// buffer instead, use [`std::io::Write::write`], which reports how
    /// much it took.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        let spare = self.remaining_capacity();
        assert!(
            data.len() <= spare,
            "extending a Filled by {} bytes with {spare} bytes unfilled",
            data.len()
        );
        self.append(data);
    }

    /// Moves the filled bytes to the start of the buffer, so that the room
    /// consumed from the front joins the unfilled part. Copies `len()`
    /// bytes if the front was consumed; does nothing otherwise. Writes do
    /// it themselves.
    pub fn compact(&mut self) {
        if self.head != 0 {
            let (head, tail) = (self.head, self.tail);
            self.holder.as_mut().copy_within(head..tail, 0);
            self.head = 0;
            self.tail = tail - head;
        }
    }

    /// Copies as much of `data` as fits; returns how much that was.
    fn append(&mut self, data: &[u8]) -> usize {
        let spare = self.unfilled_mut();
        let n = data.len().min(spare.len());
        spare[..n].copy_from_slice(&data[..n]);
        self.tail += n;
        n
    }
}

impl<H: AsRef<[u8]>> From<H> for Filled<H> {
    /// An empty view, as [`Filled::new`].
    fn from(holder: H) -> Self {
        Filled::new(holder)
    }
}

impl<H: AsRef<[u8]>> Deref for Filled<H> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// Indexes the filled bytes, as a `[u8]`.
impl<H: AsRef<[u8]>, I: std::slice::SliceIndex<[u8]>> std::ops::Index<I> for Filled<H> {
    type Output = I::Output;

    fn index(&self, index: I) -> &I::Output {
        &self.as_slice()[index]
    }
}

/// Indexes the filled bytes, writable: `filled[0] = b'x'`,
/// `&mut filled[..4]`.
///
/// There is no `DerefMut` to `[u8]`, on purpose: with it, `&mut filled`
/// would coerce to the filled bytes wherever a `&mut [u8]` is expected, and
/// `stream.read(&mut filled)` would read into the (empty) filled part and
/// return `Ok(0)`, which looks like end of file. Read into
/// [`unfilled_mut`](Filled::unfilled_mut) and [`commit`](Filled::commit), or
/// with `read_buf` (`Filled` is a `bytes::BufMut`).
impl<H: AsRef<[u8]> + AsMut<[u8]>, I: std::slice::SliceIndex<[u8]>> std::ops::IndexMut<I>
    for Filled<H>
{
    fn index_mut(&mut self, index: I) -> &mut I::Output {
        &mut self.as_mut_slice()[index]
    }
}

impl<H: AsRef<[u8]>> AsRef<[u8]> for Filled<H> {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl<H: AsRef<[u8]> + AsMut<[u8]>> AsMut<[u8]> for Filled<H> {
    fn as_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

/// Appends to the filled part. A write that does not fit is partial: it
/// takes what fits and returns that count, and `Ok(0)` once the buffer is
/// full, so `write_all` past the end fails with
/// [`io::ErrorKind::WriteZero`], having written what fit.
impl<H: AsRef<[u8]> + AsMut<[u8]>> io::Write for Filled<H> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        Ok(self.append(data))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads from the front of the filled part, consuming what it returns.
impl<H: AsRef<[u8]>> io::Read for Filled<H> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = out.len().min(self.len());
        out[..n].copy_from_slice(&self.as_slice()[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The filled part is the buffer `fill_buf` returns; it never reads more.
impl<H: AsRef<[u8]>> io::BufRead for Filled<H> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        Ok(self.as_slice())
    }

    fn consume(&mut self, n: usize) {
        Filled::consume(self, n);
    }
}

impl<H: fmt::Debug> fmt::Debug for Filled<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filled")
            .field("holder", &self.holder)
            .field("head", &self.head)
            .field("tail", &self.tail)
            .finish()
    }
}

// A `Filled`'s bytes for vectored I/O: the filled ones to send, the
// unfilled ones to read into.
impl<H: AsRef<[u8]>> AsIoVec for Filled<H> {
    fn as_iovec(&self) -> IoVec<'_> {
        IoVec::from(self.as_slice())
    }
}

impl<H: AsRef<[u8]> + AsMut<[u8]>> AsIoVecMut for Filled<H> {
    fn as_iovec_mut(&mut self) -> IoVecMut<'_> {
        IoVecMut::from(self.unfilled_mut())
    }
}

#[cfg(test)]
mod tests;
