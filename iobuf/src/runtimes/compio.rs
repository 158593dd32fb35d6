//! compio 0.19: compio-buf 0.8's `IoBuf` for writes, and iobuf's own reads
//! into a [`Filled`] ([`CompioRead`], [`CompioReadAt`]).
//!
//! # Writes
//!
//! The guards, `Filled` and the views are compio-buf's `IoBuf` (read-only:
//! `as_init` hands out `&[u8]`), so compio's writes take them as they are,
//! and its vectored writes take `Vec`s and arrays of them (compio's own
//! impls).
//!
//! # Reads, and what is guaranteed
//!
//! compio-buf 0.8's `IoBufMut` cannot be implemented soundly by a value
//! that user code holds. Its `as_uninit` is a *safe* method returning the
//! whole buffer as `&mut [MaybeUninit<u8>]`, the bytes already read
//! included, so any code holding such a value can store
//! `MaybeUninit::uninit()` over a byte and make it uninitialised again,
//! at any time, in safe code. A pooled buffer is read as `u8` (by the
//! `Filled`, and by the next holder of the buffer), so that would be
//! undefined behaviour later, far from the cause; zeroing the exposed
//! bytes afterwards cannot repair it, as it would destroy the data read.
//! (compio-buf's own `Vec<u8>` impl has the same property.)
//!
//! So no public type of iobuf implements `IoBufMut` or `SetLen`. A read
//! goes through iobuf's own functions instead: [`CompioRead`] (streams) and
//! [`CompioReadAt`] (files) take a `Filled` by value, lend it to compio
//! inside a wrapper private to this module, run compio's operation over
//! it, and give the `Filled` back in the `BufResult`. Guaranteed, for any
//! safe program:
//!
//! 1. **No user code ever holds or names the wrapper.** Its type is
//!    private; the functions take and return `Filled`, and unwrap it
//!    before returning, on every path (errors included). A read future
//!    dropped mid-flight leaves the wrapper with compio, which drops it
//!    when the kernel is done: the buffer then goes home.
//! 2. **Only compio's own code calls `as_uninit` on it.** The traits are
//!    sealed and implemented only for compio's concrete types (its TCP and
//!    Unix streams, their borrowed read halves, pipes, files), never for a
//!    generic reader: a user's `AsyncRead` impl would be handed the
//!    wrapper as a generic `B: IoBufMut` and could de-initialise its bytes.
//!    compio's code for these types passes the pointer to the kernel (or to
//!    `read(2)`/`recv(2)` on its polling driver), which writes
//!    initialised bytes or none, and raises the length only to bytes the
//!    kernel reported written (`SetLen::advance_to`).
//!
//! Hence every byte of the buffer is initialised when the `Filled` comes
//! back, and stays so for the next holder: `Filled::as_slice` and the
//! pool's next `get` read only initialised bytes. Bytes a read did not
//! reach keep their old (initialised) values. Miri checks the path compio
//! takes through the wrapper under both borrow models (this module's
//! tests).
//!
//! # What a read fills
//!
//! compio writes a read from the start of what `as_uninit` returns. The
//! wrapper lends a *window* of the buffer, presented to compio as an empty
//! buffer, and afterwards the filled part ends exactly where the read
//! stopped writing:
//!
//! - [`read_filled`](CompioRead::read_filled),
//!   [`read_exact_filled`](CompioRead::read_exact_filled),
//!   [`read_at_filled`](CompioReadAt::read_at_filled),
//!   [`read_exact_at_filled`](CompioReadAt::read_exact_at_filled)
//!   *replace* the filled part: the `Filled` is emptied, the read writes
//!   from the buffer's first byte, and the filled length is then exactly
//!   the bytes read. A `Filled` reused across reads never shows stale
//!   bytes past what the last read wrote.
//! - [`append_filled`](CompioRead::append_filled) and the vectored read
//!   *append*: the filled bytes move to the front, the read writes after
//!   them, and the filled length grows by the bytes read.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;

use compio_buf::{BufResult, IoBuf, IoBufMut, SetLen};
use compio_io::{AsyncRead, AsyncReadAt, AsyncReadAtExt, AsyncReadExt};

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

/// A `Filled` lent to one compio operation: the window `begin..end` of its
/// buffer, presented to compio as an empty buffer of `end - begin` bytes.
/// Private to this module: user code can neither name nor hold one (module
/// docs, guarantee 1).
///
/// Invariants: the filled part starts at 0 (`head == 0`, so the filled
/// part's address is the buffer's), `begin <= end <= capacity`, and the
/// filled part ends at or after `begin` (at `begin` when lent; compio
/// moves it within `begin..=end` through `set_len`).
struct Lent<H: StableBuf + AsRef<[u8]> + AsMut<[u8]>> {
    filled: Filled<H>,
    begin: usize,
    end: usize,
}

impl<H: StableBuf + AsRef<[u8]> + AsMut<[u8]>> Lent<H> {
    /// The first `len` bytes of the buffer, the filled part emptied first:
    /// the read replaces it. `len` is at most the capacity (checked by the
    /// callers; asserted here).
    fn replacing(mut filled: Filled<H>, len: usize) -> Self {
        assert!(len <= filled.capacity());
        filled.clear();
        Lent {
            filled,
            begin: 0,
            end: len,
        }
    }

    /// The unfilled part, after the filled bytes (moved to the front
    /// first): the read appends.
    fn appending(mut filled: Filled<H>) -> Self {
        filled.compact();
        let (begin, end) = (filled.len(), filled.capacity());
        Lent { filled, begin, end }
    }

    /// How many bytes the window holds.
    fn room(&self) -> usize {
        self.end - self.begin
    }
}

impl<H: StableBuf + AsRef<[u8]> + AsMut<[u8]>> IoBuf for Lent<H> {
    /// What compio's operation wrote into the window so far.
    fn as_init(&self) -> &[u8] {
        &self.filled.as_slice()[self.begin..]
    }
}

impl<H: StableBuf + AsRef<[u8]> + AsMut<[u8]>> IoBufMut for Lent<H> {
    /// The window. Only compio's code for its own types calls this (module
    /// docs, guarantee 2): it hands the pointer to the kernel.
    fn as_uninit(&mut self) -> &mut [MaybeUninit<u8>] {
        let parts = self.filled.stable_parts();
        debug_assert!(
            self.begin <= parts.len && self.begin <= self.end && self.end <= parts.room,
            "window {}..{} of a buffer of {} filled to {}",
            self.begin,
            self.end,
            parts.room,
            parts.len
        );
        // `begin <= room`, so this stays inside the buffer (or one past
        // it): `wrapping_add` cannot wrap here.
        let start = parts.base.wrapping_add(self.begin);
        // SAFETY: the filled part starts at 0 (invariant), so `base` is the
        // buffer's first byte and `room` its size (`stable_parts`); the
        // window `begin..end` lies inside it (invariant, asserted above in
        // debug builds), so `start` is valid for `end - begin` bytes. They
        // are this value's alone (the `Filled` owns its holder,
        // `StableBuf`) and stay borrowed through `&mut self` for the
        // slice's life. `MaybeUninit<u8>` has `u8`'s layout, and the bytes
        // are initialised, so the slice starts out valid; only compio's own
        // code writes through it, with initialised bytes (module docs), so
        // they stay initialised for every later `u8` read.
        unsafe { std::slice::from_raw_parts_mut(start.cast(), self.end - self.begin) }
    }
}

impl<H: StableBuf + AsRef<[u8]> + AsMut<[u8]>> SetLen for Lent<H> {
    /// Sets the filled length to `begin + len`: the read wrote `len` bytes
    /// from the window's start.
    ///
    /// # Safety
    ///
    /// compio's contract (`len` at most the window, those bytes
    /// initialised); the length is checked all the same, and every byte of
    /// a pooled buffer is initialised anyway.
    unsafe fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.room(),
            "compio set {len} bytes read into a window of {}",
            self.room()
        );
        self.filled.set_filled_from_head(self.begin + len);
    }
}

/// The error for a read with no room: a read of 0 bytes would return
/// `Ok(0)`, which looks like end of file.
fn no_room(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("no room to read into: {what}"),
    )
}

mod sealed {
    /// Keeps [`CompioRead`](super::CompioRead) and
    /// [`CompioReadAt`](super::CompioReadAt) to compio's own types (module
    /// docs, guarantee 2).
    pub trait Sealed {}
}

/// Reads from compio's own byte streams into a [`Filled`], through a
/// wrapper that no user code can reach (see the [module docs](self) for
/// what that guarantees). Sealed: implemented for compio's `TcpStream`,
/// `UnixStream` (owned, borrowed, and their borrowed read halves) and, on
/// Unix, `pipe::Receiver`.
///
/// Each method takes the `Filled` by value and gives it back in the
/// `BufResult`, with or without an error. None allocates on success but
/// the vectored read (compio allocates one operation cell per read
/// itself); an error that iobuf reports (no room) allocates its message.
/// None holds a lock.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use compio_buf::BufResult;
/// use iobuf::runtimes::CompioRead;
/// use iobuf::{Filled, SmallBufferPool};
///
/// # async fn serve(mut stream: compio_net::TcpStream) -> std::io::Result<()> {
/// let pool = Arc::new(SmallBufferPool::new(64)?);
/// let mut buf = Filled::new(pool.get_owned());
/// loop {
///     let BufResult(res, back) = stream.read_filled(buf).await;
///     buf = back;
///     if res? == 0 {
///         return Ok(()); // end of stream
///     }
///     // `buf` holds exactly the bytes this read wrote.
///     println!("{} bytes", buf.len());
/// }
/// # }
/// # let _ = serve;
/// ```
pub trait CompioRead: AsyncRead + sealed::Sealed {
    /// One read, replacing the filled part: the `Filled` is emptied, the
    /// read writes from the buffer's first byte, and the filled length is
    /// then exactly the bytes read (`Ok(0)`: end of stream).
    ///
    /// # Errors
    ///
    /// The read's error, with the `Filled` emptied.
    fn read_filled<H>(
        &mut self,
        buf: Filled<H>,
    ) -> impl Future<Output = BufResult<usize, Filled<H>>>
    where
        H: StableBuf + AsRef<[u8]> + AsMut<[u8]>,
    {
        async move {
            let cap = buf.capacity();
            if cap == 0 {
                return BufResult(Err(no_room("an empty buffer")), buf);
            }
            let BufResult(res, lent) = AsyncRead::read(self, Lent::replacing(buf, cap)).await;
            BufResult(res, lent.filled)
        }
    }

    /// One read appended after the filled bytes (which move to the front
    /// first, if the front was consumed); the filled length grows by the
    /// bytes read (`Ok(0)`: end of stream).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] if the `Filled` is full (nothing is
    /// read: a read of 0 bytes would look like end of stream); otherwise
    /// the read's error, with the filled bytes as they were.
    fn append_filled<H>(
        &mut self,
        buf: Filled<H>,
    ) -> impl Future<Output = BufResult<usize, Filled<H>>>
    where
        H: StableBuf + AsRef<[u8]> + AsMut<[u8]>,
    {
        async move {
            if buf.remaining_capacity() == 0 {
                return BufResult(Err(no_room("the Filled is full")), buf);
            }
            let BufResult(res, lent) = AsyncRead::read(self, Lent::appending(buf)).await;
            BufResult(res, lent.filled)
        }
    }

    /// Reads exactly `len` bytes, replacing the filled part: on success the
    /// `Filled` holds those `len` bytes and nothing else. Reads no byte of
    /// the stream past them.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] if `len` is 0 or larger than the
    /// buffer (nothing is read, the `Filled` is as it was);
    /// [`io::ErrorKind::UnexpectedEof`] if the stream ends first, with the
    /// bytes that did arrive filled; otherwise the read's error, likewise.
    fn read_exact_filled<H>(
        &mut self,
        buf: Filled<H>,
        len: usize,
    ) -> impl Future<Output = BufResult<(), Filled<H>>>
    where
        H: StableBuf + AsRef<[u8]> + AsMut<[u8]>,
    {
        async move {
            if len == 0 || len > buf.capacity() {
                let what = format!("{len} bytes into a buffer of {}", buf.capacity());
                return BufResult(Err(no_room(&what)), buf);
            }
            let BufResult(res, lent) =
                AsyncReadExt::read_exact(self, Lent::replacing(buf, len)).await;
            BufResult(res, lent.filled)
        }
    }

    /// One vectored read (`readv`/`recvmsg`) appended to the buffers in
    /// order: each one's unfilled part (after its filled bytes, moved to
    /// the front first) takes the next bytes until the read's count is
    /// spent; each filled length grows by what it took.
    ///
    /// Allocates per call: the list of lent buffers (the wrapper is larger
    /// than a `Filled`, so the list is not converted in place), besides
    /// the iovec array compio builds itself.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] if every buffer is full (or there is
    /// none); otherwise the read's error, with the filled bytes as they
    /// were.
    fn read_vectored_filled<H>(
        &mut self,
        bufs: Vec<Filled<H>>,
    ) -> impl Future<Output = BufResult<usize, Vec<Filled<H>>>>
    where
        H: StableBuf + AsRef<[u8]> + AsMut<[u8]>,
    {
        async move {
            if bufs.iter().all(|b| b.remaining_capacity() == 0) {
                return BufResult(Err(no_room("every buffer is full")), bufs);
            }
            let lent: Vec<Lent<H>> = bufs.into_iter().map(Lent::appending).collect();
            let BufResult(res, lent) = AsyncRead::read_vectored(self, lent).await;
            BufResult(res, lent.into_iter().map(|l| l.filled).collect())
        }
    }
}

/// Reads from compio's files at an offset into a [`Filled`], through a
/// wrapper that no user code can reach (see the [module docs](self)).
/// Sealed: implemented for compio's `fs::File`.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use compio_buf::BufResult;
/// use iobuf::runtimes::CompioReadAt;
/// use iobuf::{Filled, SmallBufferPool};
///
/// # async fn block(file: &compio_fs::File) -> std::io::Result<()> {
/// let pool = Arc::new(SmallBufferPool::new(8)?);
/// let buf = Filled::new(pool.get_owned());
/// let BufResult(res, buf) = file.read_exact_at_filled(buf, 512, 4096).await;
/// res?;
/// assert_eq!(buf.len(), 512); // bytes 4096..4608 of the file
/// # Ok(())
/// # }
/// # let _ = block;
/// ```
pub trait CompioReadAt: AsyncReadAt + sealed::Sealed {
    /// One read at `pos`, replacing the filled part: the filled length is
    /// then exactly the bytes read (`Ok(0)`: `pos` is at or past the end).
    ///
    /// # Errors
    ///
    /// The read's error, with the `Filled` emptied.
    fn read_at_filled<H>(
        &self,
        buf: Filled<H>,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, Filled<H>>>
    where
        H: StableBuf + AsRef<[u8]> + AsMut<[u8]>,
    {
        async move {
            let cap = buf.capacity();
            if cap == 0 {
                return BufResult(Err(no_room("an empty buffer")), buf);
            }
            let BufResult(res, lent) =
                AsyncReadAt::read_at(self, Lent::replacing(buf, cap), pos).await;
            BufResult(res, lent.filled)
        }
    }

    /// Reads exactly `len` bytes at `pos`, replacing the filled part.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] if `len` is 0 or larger than the
    /// buffer (nothing is read, the `Filled` is as it was);
    /// [`io::ErrorKind::UnexpectedEof`] if the file ends first, with the
    /// bytes that were there filled; otherwise the read's error, likewise.
    fn read_exact_at_filled<H>(
        &self,
        buf: Filled<H>,
        len: usize,
        pos: u64,
    ) -> impl Future<Output = BufResult<(), Filled<H>>>
    where
        H: StableBuf + AsRef<[u8]> + AsMut<[u8]>,
    {
        async move {
            if len == 0 || len > buf.capacity() {
                let what = format!("{len} bytes into a buffer of {}", buf.capacity());
                return BufResult(Err(no_room(&what)), buf);
            }
            let BufResult(res, lent) =
                AsyncReadAtExt::read_exact_at(self, Lent::replacing(buf, len), pos).await;
            BufResult(res, lent.filled)
        }
    }
}

/// The sealed impls: compio's own concrete types only, never a generic
/// reader (module docs, guarantee 2).
macro_rules! sealed_readers {
    ($trait:ident: $($(#[$attr:meta])* [$($lt:lifetime)?] $ty:ty),* $(,)?) => {$(
        $(#[$attr])*
        impl<$($lt)?> sealed::Sealed for $ty {}
        $(#[$attr])*
        impl<$($lt)?> $trait for $ty {}
    )*};
}

sealed_readers!(CompioRead:
    [] compio_net::TcpStream,
    ['a] &'a compio_net::TcpStream,
    ['a] compio_net::ReadHalf<'a, compio_net::TcpStream>,
    [] compio_net::UnixStream,
    ['a] &'a compio_net::UnixStream,
    ['a] compio_net::ReadHalf<'a, compio_net::UnixStream>,
    #[cfg(unix)] [] compio_fs::pipe::Receiver,
    #[cfg(unix)] ['a] &'a compio_fs::pipe::Receiver,
);

sealed_readers!(CompioReadAt:
    [] compio_fs::File,
);

#[cfg(test)]
mod tests;
