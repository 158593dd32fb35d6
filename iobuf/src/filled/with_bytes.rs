//! `bytes` integration (feature `bytes`): [`Filled`] as `BufMut` and `Buf`,
//! and [`Filled::freeze`] into a zero-copy `Bytes`.

use bytes::buf::UninitSlice;
use bytes::{Buf, BufMut, Bytes};

use super::Filled;

/// Writes go to the unfilled part, so tokio's `AsyncReadExt::read_buf`
/// reads into a view. Like every `BufMut` over fixed memory, `put_slice`
/// and the other `put_*` methods panic past
/// [`remaining_capacity`](Filled::remaining_capacity); check
/// `remaining_mut` first, or write with [`std::io::Write`].
// SAFETY: `chunk_mut` is the unfilled part, `tail..capacity`, of bytes this
// view may write; `advance_mut(cnt)` moves `tail` by `cnt` only after
// checking `cnt <= remaining_mut()`, so the filled part never covers bytes
// past the buffer. (A buffer's bytes are always initialised, so reading
// bytes the caller did not write exposes old data, never uninitialised
// memory.)
unsafe impl<H: AsRef<[u8]> + AsMut<[u8]>> BufMut for Filled<H> {
    fn remaining_mut(&self) -> usize {
        self.remaining_capacity()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        self.commit(cnt);
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        UninitSlice::new(self.unfilled_mut())
    }
}

/// Reads from the front of the filled part, as [`std::io::Read`] does, so
/// tokio's `AsyncWriteExt::write_all_buf` writes a view out.
impl<H: AsRef<[u8]>> Buf for Filled<H> {
    fn remaining(&self) -> usize {
        self.len()
    }

    fn chunk(&self) -> &[u8] {
        self.as_slice()
    }

    fn advance(&mut self, cnt: usize) {
        self.consume(cnt);
    }
}

impl<H: AsRef<[u8]> + Send + 'static> Filled<H> {
    /// Turns the filled part into [`Bytes`] without copying the bytes: the
    /// `Bytes` owns the holder, so its clones and slices share the buffer,
    /// and the buffer goes back to its pool when the last of them drops.
    /// (`Bytes::from_owner` boxes the holder: one small allocation per
    /// `freeze`, none per clone or slice.)
    ///
    /// `H` must be `'static`: an [`OwnedPooled`](crate::OwnedPooled), a
    /// [`Pooled<'static, _>`](crate::Pooled) of a pool that lives for the
    /// program (a `buffer_pools!` singleton), or that macro's `Buf`.
    ///
    /// A frozen buffer is out of its pool for as long as any clone or slice
    /// lives, and counts in [`PoolStats::in_use`](crate::PoolStats::in_use)
    /// until then: a bounded pool can be starved by long-lived `Bytes`
    /// (say, kept in a cache). Copy what must outlive a request
    /// (`Bytes::copy_from_slice`) instead.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use iobuf::{Filled, SmallBufferPool};
    ///
    /// let pool = Arc::new(SmallBufferPool::new(2)?);
    /// let mut buf = Filled::new(pool.get_owned());
    /// buf.extend_from_slice(b"GET / HTTP/1.1\r\n");
    ///
    /// let bytes = buf.freeze();               // no copy
    /// let method = bytes.slice(..3);          // shares the buffer
    /// drop(bytes);
    /// assert_eq!(pool.available(), 1);        // still out: `method` lives
    /// assert_eq!(&method[..], b"GET");
    /// drop(method);
    /// assert_eq!(pool.available(), 2);        // home
    /// # Ok::<(), iobuf::Error>(())
    /// ```
    #[must_use = "the buffer goes back to its pool when the Bytes drops"]
    pub fn freeze(self) -> Bytes {
        Bytes::from_owner(Frozen(self))
    }
}

/// The owner a frozen view becomes: its bytes are the filled part, fixed
/// from now on (`Bytes` reads them once, when it is made).
struct Frozen<H>(Filled<H>);

impl<H: AsRef<[u8]>> AsRef<[u8]> for Frozen<H> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}
