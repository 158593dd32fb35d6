//! Zero-copy shared views of one pooled buffer: fill a [`SplitBuf`], cut
//! frozen [`View`]s off its front, hand them to other threads; the buffer
//! goes home when the writer and the last view are dropped.
//!
//! This is the shape of `bytes`' `BytesMut::split_to` + `freeze` over a
//! pooled buffer, for a protocol boundary: one read brings several frames
//! into one buffer, and each frame leaves as a view, with no copy.
//!
//! ```
//! use std::sync::Arc;
//! use iobuf::shared::SplitBuf;
//!
//! let pool = Arc::new(iobuf::SmallBufferPool::new(4)?);
//! let mut buf = SplitBuf::from(pool.get_owned());
//! buf.extend_from_slice(b"helloworld");
//! let hello = buf.split_to(5);               // a view of "hello"
//! let world = buf.split_to(5).slice(1..);    // "orld"
//! let copy = hello.clone();                  // no allocation, no copy
//! drop(buf);
//! assert_eq!(&hello[..], b"hello");
//! assert_eq!(&world[..], b"orld");
//! assert_eq!(pool.available(), 3);           // the views keep it
//! drop((hello, copy, world));
//! assert_eq!(pool.available(), 4);
//! # Ok::<(), iobuf::Error>(())
//! ```
//!
//! # Costs
//!
//! - The first split buffer of a pool allocates the pool's share counts:
//!   one `AtomicU32` per buffer (4 bytes per buffer, once per pool).
//!   After that nothing allocates: a slice and a clone add 1 to the
//!   buffer's count, a drop subtracts 1; a split (a [`SplitBuf`] cutting
//!   a view) adds 32 at a time and hands them out one per view, so that
//!   cutting many frames costs one atomic add per 32 of them (the writer
//!   gives back the ones it did not use when it drops). A frame writer
//!   joins the views of consecutive frames it queues and gives their
//!   shares back with one subtraction once they are written.
//! - A [`View`] is 48 bytes (pointer, length, and its share); converting
//!   it into `bytes::Bytes` ([`View::into_bytes`]) allocates once, there.
//! - A frozen part of the buffer is not reused until every view of it is
//!   gone: a view kept long keeps its whole buffer from the pool.
//!
//! # Soundness
//!
//! Every byte of a shared buffer is in exactly one of two states: frozen
//! (reachable only through views, read-only from then on) or owned by one
//! `SplitBuf` (its range `start..end`, readable and writable through
//! `&mut` to that writer only). Splits move bytes from a writer's range
//! into views and never back; two writers (after
//! [`split_off`](SplitBuf::split_off)) own disjoint ranges. Views and
//! writers reach the bytes through a raw pointer taken from the pool's
//! slab, never through a reference to the whole buffer, so a writer's
//! `&mut` to its range and another thread's `&` to a frozen range never
//! overlap (Stacked and Tree Borrows; the Miri tests do exactly this).
//! The buffer stays out of the pool while any share lives (the share count
//! of `count.rs`), and its pool stays alive: an `Arc` the shares own
//! together, or a `'static` pool.

mod count;
mod joined;
pub(crate) use joined::Joined;
#[cfg(all(loom, test))]
mod tests;
#[cfg(feature = "bytes")]
mod with_bytes;

use std::fmt;
use std::ops::{Bound, Deref, DerefMut, RangeBounds};
use std::ptr::NonNull;
use std::sync::Arc;

use crate::buffer::BufferTier;
use crate::filled::Filled;
use crate::iovec::{AsIoVec, AsIoVecMut, IoVec, IoVecMut};
use crate::pool::{BoundedPool, BufIndex, OwnedPooled, Pooled};
use crate::sync::AtomicU32;

/// One share of a pooled buffer: its count, and how to send the buffer
/// home when the last share drops.
struct Home {
    /// The buffer's share count: its word of the pool's side words (alive
    /// and unmoved while the pool is, which this share keeps alive).
    count: NonNull<AtomicU32>,
    /// The pool: an `Arc<BoundedPool<T>>` that the shares own together
    /// (turned into a pointer once), or a `&'static BoundedPool<T>`.
    pool: NonNull<()>,
    /// The buffer's token (`BufIndex::into_raw`); only the last share
    /// rebuilds it.
    token: u64,
    /// Sends the buffer home: `send_owned::<T>` or `send_static::<T>`.
    send: unsafe fn(NonNull<()>, u64),
}

impl Home {
    fn count(&self) -> &AtomicU32 {
        // SAFETY: the count is a word of the pool's side words, which live
        // at one address as long as the pool (`pool/side.rs`), which this
        // share keeps alive (module docs).
        unsafe { self.count.as_ref() }
    }
}

impl Clone for Home {
    fn clone(&self) -> Home {
        count::add(self.count());
        Home { ..*self }
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if count::remove(self.count()) {
            // SAFETY: this was the last share of the buffer (its count went
            // from 1 to 0), so no view or writer reaches it any more and
            // `token` is rebuilt exactly once; `send` and `pool` were set
            // together for the pool's type.
            unsafe { (self.send)(self.pool, self.token) }
        }
    }
}

/// Sends a buffer of an `Arc`-held pool home, and gives up the shares'
/// `Arc`.
///
/// # Safety
///
/// `pool` is `Arc::into_raw` of an `Arc<BoundedPool<T>>` that the shares
/// owned, and `token` the raw token of a buffer of that pool that no share
/// reaches any more; called once per buffer.
unsafe fn send_owned<T: BufferTier>(pool: NonNull<()>, token: u64) {
    // SAFETY: as the caller promises: the shares' `Arc`, given up once.
    let pool = unsafe { Arc::from_raw(pool.as_ptr().cast::<BoundedPool<T>>()) };
    // SAFETY: the token from `into_raw`, rebuilt once (by the last share).
    let token = unsafe { BufIndex::from_raw(token) };
    drop(OwnedPooled::from_index(pool, token));
}

/// Sends a buffer of a `'static` pool home.
///
/// # Safety
///
/// As `send_owned`, for a `&'static BoundedPool<T>`.
unsafe fn send_static<T: BufferTier>(pool: NonNull<()>, token: u64) {
    // SAFETY: the pointer came from a `&'static BoundedPool<T>`.
    let pool: &'static BoundedPool<T> = unsafe { pool.cast::<BoundedPool<T>>().as_ref() };
    // SAFETY: as in `send_owned`.
    let token = unsafe { BufIndex::from_raw(token) };
    drop(Pooled::from_index(pool, token));
}

/// A pooled buffer being filled, whose filled front can be cut off as
/// frozen, shared [`View`]s.
///
/// Made from an [`OwnedPooled`] or a `Pooled<'static, _>` (a
/// [`buffer_pools!`](crate::buffer_pools) buffer) with `From`. It
/// dereferences to its filled bytes (those not split off yet); write into
/// its unfilled tail with [`unfilled_mut`](Self::unfilled_mut) and
/// [`commit`](Self::commit), [`extend_from_slice`](Self::extend_from_slice),
/// `bytes::BufMut`, or the `read_from` helpers.
///
/// The buffer goes home when the `SplitBuf` and every view of it are gone.
/// See the [module docs](self) for the costs: the first `SplitBuf` of a
/// pool allocates its share counts; nothing allocates after that.
pub struct SplitBuf {
    /// The buffer's first byte (from the slab, not from a reference).
    base: NonNull<u8>,
    /// This writer's range of the buffer is `start..end`; `start..filled`
    /// is filled. `start <= filled <= end <= ` the buffer's size.
    start: usize,
    filled: usize,
    end: usize,
    /// The buffer's size: what the writer owns again once it is the only
    /// share ([`try_reclaim`](Self::try_reclaim)).
    size: usize,
    /// Shares of the buffer this writer holds besides its own, added to
    /// the count in one batch and handed to the views it cuts with no
    /// atomic operation each (`share`); given back when it drops, or
    /// before it watches the count.
    credits: u32,
    home: Home,
}

/// Shares a writer adds to its count at once when it has no credit left:
/// a cut costs one atomic increment per this many views.
const CREDIT_BATCH: u32 = 32;

impl Drop for SplitBuf {
    fn drop(&mut self) {
        if self.credits > 0 {
            // Its own share (dropped next, by `Home`) keeps the count above
            // the credits.
            count::give_back(self.home.count(), self.credits);
        }
    }
}

// SAFETY: a `SplitBuf` owns its range of the buffer alone (module docs), as
// a `Vec<u8>` owns its bytes; its share is an atomic count and a pool that
// is `Send + Sync` (`BufferTier: Send + Sync`).
unsafe impl Send for SplitBuf {}
// SAFETY: `&SplitBuf` only reads its filled bytes.
unsafe impl Sync for SplitBuf {}

impl SplitBuf {
    /// The first share of buffer `token` of `pool` (reached through the
    /// pointer `pool_ptr` that `send` expects).
    fn new<T: BufferTier>(
        pool: &BoundedPool<T>,
        pool_ptr: NonNull<()>,
        token: BufIndex,
        send: unsafe fn(NonNull<()>, u64),
    ) -> SplitBuf {
        let index = token.index();
        let count = pool.side_words().get(index);
        count::first(count);
        // The slab's pointer, not one through a reference to the item: a
        // reference to the whole buffer would overlap views' ranges.
        let base = NonNull::new(pool.item(index).cast::<u8>()).expect("the slab is not null");
        SplitBuf {
            base,
            start: 0,
            filled: 0,
            end: size_of::<T>(),
            size: size_of::<T>(),
            credits: 0,
            home: Home {
                count: NonNull::from(count),
                pool: pool_ptr,
                token: token.into_raw(),
                send,
            },
        }
    }

    /// The buffer's byte at `offset`, for `offset` in this writer's range
    /// (or one past it).
    fn at(&self, offset: usize) -> *mut u8 {
        debug_assert!(offset <= self.end);
        // SAFETY: `offset <= end <=` the buffer's size: in the buffer or
        // one past its end.
        unsafe { self.base.as_ptr().add(offset) }
    }

    /// Bytes filled and not split off yet.
    pub fn len(&self) -> usize {
        self.filled - self.start
    }

    /// Whether no byte is filled.
    pub fn is_empty(&self) -> bool {
        self.filled == self.start
    }

    /// Bytes of the buffer this writer still owns, filled or not.
    pub fn capacity(&self) -> usize {
        self.end - self.start
    }

    /// Bytes that can still be written: `capacity() - len()`.
    pub fn remaining_capacity(&self) -> usize {
        self.end - self.filled
    }

    /// The filled bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `start..filled` is in this writer's range, which no one
        // else reaches (module docs), inside the buffer.
        unsafe { std::slice::from_raw_parts(self.at(self.start), self.len()) }
    }

    /// The filled bytes, writable (for decoding in place).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as `as_slice`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.at(self.start), self.len()) }
    }

    /// The unfilled tail, to read into; then [`commit`](Self::commit) the
    /// bytes written. It holds whatever the buffer held before.
    pub fn unfilled_mut(&mut self) -> &mut [u8] {
        // SAFETY: `filled..end` is in this writer's range; `&mut self`
        // makes the access exclusive. Pooled buffers are plain bytes
        // (`BufferTier`), always initialised.
        unsafe { std::slice::from_raw_parts_mut(self.at(self.filled), self.remaining_capacity()) }
    }

    /// Marks `n` more bytes of the unfilled tail as filled.
    ///
    /// # Panics
    ///
    /// If `n > remaining_capacity()`.
    pub fn commit(&mut self, n: usize) {
        assert!(
            n <= self.remaining_capacity(),
            "committing {n} bytes of a SplitBuf with {} unfilled",
            self.remaining_capacity()
        );
        self.filled += n;
    }

    /// Appends `data`.
    ///
    /// # Panics
    ///
    /// If `data` is longer than `remaining_capacity()`; nothing is written
    /// then.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        assert!(
            data.len() <= self.remaining_capacity(),
            "extending a SplitBuf by {} bytes with {} unfilled",
            data.len(),
            self.remaining_capacity()
        );
        self.unfilled_mut()[..data.len()].copy_from_slice(data);
        self.filled += data.len();
    }

    /// Reads once from `reader` into the unfilled tail; returns the bytes
    /// read (0 at end of input, or if the tail is full).
    pub fn read_from(&mut self, reader: &mut impl std::io::Read) -> std::io::Result<usize> {
        let n = reader.read(self.unfilled_mut())?;
        self.commit(n);
        Ok(n)
    }

    /// Freezes the first `n` filled bytes into a view, and keeps the rest.
    ///
    /// # Panics
    ///
    /// If `n > len()`.
    pub fn split_to(&mut self, n: usize) -> View {
        assert!(
            n <= self.len(),
            "splitting {n} bytes off a SplitBuf of length {}",
            self.len()
        );
        let view = self.view(self.start, n);
        self.start += n;
        view
    }

    /// Freezes every filled byte into a view; the writer keeps the
    /// unfilled tail.
    pub fn split(&mut self) -> View {
        self.split_to(self.len())
    }

    /// Freezes the filled bytes into a view and gives up the unfilled
    /// tail (it is not reused until the buffer goes home).
    pub fn freeze(mut self) -> View {
        self.split()
    }

    /// Splits the writer in two at `at` bytes from its front: `self` keeps
    /// `..at` (filled as far as it was, no room beyond `at`), the returned
    /// writer owns `at..`, with the bytes filled there. Both share the
    /// buffer, which goes home when both and their views are gone.
    ///
    /// # Panics
    ///
    /// If `at > capacity()`.
    pub fn split_off(&mut self, at: usize) -> SplitBuf {
        assert!(
            at <= self.capacity(),
            "splitting a SplitBuf of capacity {} at {at}",
            self.capacity()
        );
        let mid = self.start + at;
        let tail = SplitBuf {
            base: self.base,
            start: mid,
            filled: self.filled.max(mid),
            end: self.end,
            size: self.size,
            credits: 0,
            home: self.home.clone(),
        };
        self.filled = self.filled.min(mid);
        self.end = mid;
        tail
    }

    /// Drops the first `n` filled bytes without making a view of them.
    ///
    /// # Panics
    ///
    /// If `n > len()`.
    pub fn consume(&mut self, n: usize) {
        assert!(
            n <= self.len(),
            "consuming {n} bytes of a SplitBuf of length {}",
            self.len()
        );
        self.start += n;
    }

    /// If this writer is the buffer's only share (no view of it and no
    /// other writer lives), takes the whole buffer back: moves the filled
    /// bytes to its front (one `memmove` of [`len`](Self::len) bytes) and
    /// owns every byte again, so [`capacity`](Self::capacity) is the
    /// buffer's size. Returns whether it did; with other shares alive it
    /// changes nothing. (`bytes`' `BytesMut::try_reclaim` does the same for
    /// a `BytesMut`.)
    ///
    /// ```
    /// use std::sync::Arc;
    /// use iobuf::shared::SplitBuf;
    ///
    /// let pool = Arc::new(iobuf::SmallBufferPool::new(1)?);
    /// let mut buf = SplitBuf::from(pool.get_owned());
    /// buf.extend_from_slice(b"framepartial");
    /// let frame = buf.split_to(5);
    /// assert!(!buf.try_reclaim());               // `frame` shares the buffer
    /// drop(frame);
    /// assert!(buf.try_reclaim());
    /// assert_eq!(&buf[..], b"partial");
    /// assert_eq!(buf.capacity(), 2048);
    /// # Ok::<(), iobuf::Error>(())
    /// ```
    pub fn try_reclaim(&mut self) -> bool {
        if !self.is_only() {
            return false;
        }
        let len = self.len();
        // SAFETY: this writer is the only share (just checked, with the
        // Acquire that orders every former share's reads before this
        // write), so it owns all of the buffer: `start..start + len` and
        // `0..len` are both inside it (`start + len = filled <= size`);
        // `copy` allows the overlap.
        unsafe { std::ptr::copy(self.at(self.start), self.base.as_ptr(), len) };
        self.start = 0;
        self.filled = len;
        self.end = self.size;
        true
    }

    /// Whether this writer is the buffer's only share (see
    /// [`try_reclaim`](Self::try_reclaim)).
    pub(crate) fn is_only(&self) -> bool {
        count::is_only_with(self.home.count(), 1 + self.credits)
    }

    /// The buffer's size, all of which `try_reclaim` can give back.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Watches for becoming the buffer's only share: `waker` is woken when
    /// the last other share drops; `true` (and nothing watched) if this
    /// already is the only one (`count.rs`). The caller calls
    /// [`unwatch`](Self::unwatch) before it drops the writer (U1).
    pub(crate) fn watch_only(&mut self, waker: &std::task::Waker) -> bool {
        // The watch counts one share for the watcher (U2 of `count.rs`).
        if self.credits > 0 {
            count::give_back(self.home.count(), self.credits);
            self.credits = 0;
        }
        count::watch(self.home.count(), waker)
    }

    /// Stops watching (see [`watch_only`](Self::watch_only)).
    pub(crate) fn unwatch(&self) {
        count::unwatch(self.home.count());
    }

    /// Cuts a frame out of the front: a view of `frame` (relative to the
    /// filled bytes) and `consumed` bytes gone from the front, with one
    /// count increment. The caller checked `frame.start <= frame.end <=
    /// consumed <= len()`.
    #[inline]
    pub(crate) fn cut(&mut self, frame: std::ops::Range<usize>, consumed: usize) -> View {
        assert!(frame.start <= frame.end && frame.end <= consumed && consumed <= self.len());
        let view = self.view(self.start + frame.start, frame.end - frame.start);
        self.start += consumed;
        view
    }

    /// A view of `len` bytes at `offset` of the buffer, from the writer's
    /// filled range.
    #[inline]
    fn view(&mut self, offset: usize, len: usize) -> View {
        debug_assert!(offset >= self.start && offset + len <= self.filled);
        View {
            // SAFETY: `offset <= filled <= ` the buffer's size, so the
            // pointer stays in (or one past) the buffer.
            ptr: unsafe { self.base.add(offset) },
            len,
            home: self.share(),
        }
    }

    /// A share for a new view: one of the writer's credits, after adding
    /// a batch of them to the count if none is left.
    #[inline]
    fn share(&mut self) -> Home {
        if self.credits == 0 {
            count::add_n(self.home.count(), CREDIT_BATCH);
            self.credits = CREDIT_BATCH;
        }
        self.credits -= 1;
        // The credit moves into the new share: the count already holds it.
        Home { ..self.home }
    }
}

impl<T: BufferTier> From<OwnedPooled<T>> for SplitBuf {
    /// The buffer, empty, as a `SplitBuf` (the first of its pool allocates
    /// the pool's share counts).
    fn from(buf: OwnedPooled<T>) -> SplitBuf {
        let pool = Arc::clone(buf.pool());
        let token = buf.into_index();
        let mut split = SplitBuf::new(&pool, NonNull::dangling(), token, send_owned::<T>);
        // The shares own this `Arc` together from now on; `send_owned`
        // takes it back with the last of them, from `into_raw`'s pointer.
        let raw = Arc::into_raw(pool).cast_mut().cast::<()>();
        split.home.pool = NonNull::new(raw).expect("an Arc is not null");
        split
    }
}

impl<T: BufferTier> From<Pooled<'static, T>> for SplitBuf {
    /// The buffer of a `'static` pool (a [`buffer_pools!`](crate::buffer_pools)
    /// pool), empty, as a `SplitBuf`.
    fn from(buf: Pooled<'static, T>) -> SplitBuf {
        let pool: &'static BoundedPool<T> = buf.pool();
        let token = buf.into_index();
        SplitBuf::new(pool, NonNull::from(pool).cast(), token, send_static::<T>)
    }
}

impl<T: BufferTier> From<Filled<OwnedPooled<T>>> for SplitBuf {
    /// The buffer with its filled bytes, no copy: freeze them into a view
    /// to queue a `Filled` on a [`FrameWriter`](crate::frame::FrameWriter)
    /// or share it.
    fn from(filled: Filled<OwnedPooled<T>>) -> SplitBuf {
        let (holder, head, tail) = filled.into_parts();
        let mut split = SplitBuf::from(holder);
        split.filled = tail;
        split.start = head;
        split
    }
}

impl<T: BufferTier> From<Filled<Pooled<'static, T>>> for SplitBuf {
    /// As for a `Filled<OwnedPooled<T>>`.
    fn from(filled: Filled<Pooled<'static, T>>) -> SplitBuf {
        let (holder, head, tail) = filled.into_parts();
        let mut split = SplitBuf::from(holder);
        split.filled = tail;
        split.start = head;
        split
    }
}

impl Deref for SplitBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for SplitBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl AsRef<[u8]> for SplitBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsMut<[u8]> for SplitBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl fmt::Debug for SplitBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplitBuf")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

impl std::io::Write for SplitBuf {
    /// Writes as much of `data` as fits (0 once the buffer is full).
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(self.remaining_capacity());
        self.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An immutable, shared view of bytes of a pooled buffer: the `Bytes` of
/// iobuf.
///
/// Cut from a [`SplitBuf`]. Cloning, slicing and splitting make more views
/// of the same buffer without allocating or copying (one atomic increment
/// each). `Send + Sync + 'static`: hand it to any thread or task. The
/// buffer goes home when its writer and the last view are dropped.
#[derive(Clone)]
pub struct View {
    ptr: NonNull<u8>,
    len: usize,
    home: Home,
}

// SAFETY: a view only reads frozen bytes, which nothing writes while a
// share lives (module docs); its share is an atomic count and a pool that
// is `Send + Sync`.
unsafe impl Send for View {}
// SAFETY: as for `Send`: `&View` reads frozen bytes only.
unsafe impl Sync for View {}

impl View {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr..ptr + len` is frozen (module docs), inside the
        // buffer, which this view's share keeps out of the pool.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the view has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A view of `range` of this one.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds or decreasing, as slicing panics.
    pub fn slice(&self, range: impl RangeBounds<usize>) -> View {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.checked_add(1).expect("range start overflows"),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.checked_add(1).expect("range end overflows"),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => self.len,
        };
        assert!(
            start <= end && end <= self.len,
            "slicing {start}..{end} of a View of length {}",
            self.len
        );
        View {
            // SAFETY: `start <= len`, so inside (or one past) the view.
            ptr: unsafe { self.ptr.add(start) },
            len: end - start,
            home: self.home.clone(),
        }
    }

    /// Splits off the first `n` bytes as a view; `self` keeps the rest.
    ///
    /// # Panics
    ///
    /// If `n > len()`.
    pub fn split_to(&mut self, n: usize) -> View {
        let head = self.slice(..n);
        self.advance_by(n);
        head
    }

    /// Splits off the bytes from `at` on as a view; `self` keeps `..at`.
    ///
    /// # Panics
    ///
    /// If `at > len()`.
    pub fn split_off(&mut self, at: usize) -> View {
        let tail = self.slice(at..);
        self.len = at;
        tail
    }

    /// Keeps the first `len` bytes (no effect if the view is shorter).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Drops the first `n` bytes of the view.
    fn advance_by(&mut self, n: usize) {
        assert!(
            n <= self.len,
            "advancing {n} bytes past a View of length {}",
            self.len
        );
        // SAFETY: `n <= len`: still inside (or one past) the view.
        self.ptr = unsafe { self.ptr.add(n) };
        self.len -= n;
    }
}

impl Deref for View {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for View {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::borrow::Borrow<[u8]> for View {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("View")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl PartialEq for View {
    fn eq(&self, other: &View) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for View {}

impl PartialEq<[u8]> for View {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<&[u8]> for View {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}

impl std::hash::Hash for View {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

// Views' bytes for vectored I/O: a view's and a writer's filled bytes to
// send, a writer's unfilled ones to read into.
impl AsIoVec for View {
    fn as_iovec(&self) -> IoVec<'_> {
        IoVec::from(self.as_slice())
    }
}

impl AsIoVec for SplitBuf {
    fn as_iovec(&self) -> IoVec<'_> {
        IoVec::from(self.as_slice())
    }
}

impl AsIoVecMut for SplitBuf {
    fn as_iovec_mut(&mut self) -> IoVecMut<'_> {
        IoVecMut::from(self.unfilled_mut())
    }
}
