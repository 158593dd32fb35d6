//! What a holder of a pooled buffer has: a borrowing guard ([`Pooled`]), an
//! owning guard ([`OwnedPooled`]), or a bare token ([`BufIndex`]).

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::BoundedPool;
use crate::BufferTier;

/// A buffer taken from a [`BoundedPool`]; it goes back when dropped (also
/// while unwinding from a panic).
///
/// Dereferences to the buffer. The guard borrows the pool; for a guard that
/// can move freely across threads and tasks, see [`OwnedPooled`].
///
/// ```
/// let pool = iobuf::NanoBufferPool::new(2)?;
/// let mut buf = pool.get();
/// buf.0[..5].copy_from_slice(b"hello");
/// assert_eq!(&buf.as_ref()[..5], b"hello");
/// assert_eq!(pool.available(), 1);
/// drop(buf);
/// assert_eq!(pool.available(), 2);
/// # Ok::<(), iobuf::Error>(())
/// ```
#[must_use = "a Pooled returns its buffer the moment it is dropped"]
pub struct Pooled<'a, T> {
    pool: &'a BoundedPool<T>,
    index: u32,
    /// Access to one `T`: Send iff `T: Send`, Sync iff `T: Sync`; and
    /// invariant in `T`, as it hands out `&mut T`.
    _item: PhantomData<&'a mut T>,
}

impl<'a, T> Pooled<'a, T> {
    #[inline]
    pub(super) fn new(pool: &'a BoundedPool<T>, index: u32) -> Self {
        Pooled {
            pool,
            index,
            _item: PhantomData,
        }
    }

    /// The buffer's index in its pool: stable for the pool's life, and the
    /// position of the buffer in [`BoundedPool::iovecs`] (io_uring's fixed
    /// buffer index).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The pool the buffer belongs to.
    pub fn pool(&self) -> &'a BoundedPool<T> {
        self.pool
    }

    /// Gives up the guard and keeps the buffer as a bare [`BufIndex`] token,
    /// to be returned with [`BoundedPool::put`].
    pub fn into_index(self) -> BufIndex {
        let this = ManuallyDrop::new(self);
        this.pool.token(this.index)
    }
}

impl<T> Deref for Pooled<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds `index` alone (I1) for as long as it
        // lives, and `index < capacity` (I3).
        unsafe { &*self.pool.item(self.index) }
    }
}

impl<T> DerefMut for Pooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes the access exclusive.
        unsafe { &mut *self.pool.item(self.index) }
    }
}

impl<T: BufferTier> AsRef<[u8]> for Pooled<'_, T> {
    fn as_ref(&self) -> &[u8] {
        (**self).as_bytes()
    }
}

impl<T: BufferTier> AsMut<[u8]> for Pooled<'_, T> {
    fn as_mut(&mut self) -> &mut [u8] {
        (**self).as_bytes_mut()
    }
}

impl<T> Drop for Pooled<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.pool.release(self.index);
    }
}

impl<T> fmt::Debug for Pooled<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("type", &std::any::type_name::<T>())
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// Makes a marker invariant in `T`, whatever else it holds; `Send + Sync`.
type Invariant<T> = fn(T) -> T;

/// A buffer taken from an `Arc`-shared [`BoundedPool`]: `'static`, so it
/// can move into spawned threads and async tasks. It goes back when
/// dropped, keeping the pool alive until then.
///
/// ```
/// use std::sync::Arc;
/// let pool = Arc::new(iobuf::PicoBufferPool::new(4)?);
/// let mut buf = pool.get_owned();
/// std::thread::spawn(move || buf.0[0] = 1).join().unwrap();
/// assert_eq!(pool.available(), 4);
/// # Ok::<(), iobuf::Error>(())
/// ```
#[must_use = "an OwnedPooled returns its buffer the moment it is dropped"]
pub struct OwnedPooled<T> {
    pool: Arc<BoundedPool<T>>,
    index: u32,
    /// Owns access to one `T`: Send iff `T: Send`, Sync iff `T: Sync`; and
    /// invariant in `T` (`fn(T) -> T`), as it hands out `&mut T` (the `Arc`
    /// of an invariant pool makes it so already; this keeps it so on its
    /// own).
    _item: PhantomData<(Box<T>, Invariant<T>)>,
}

impl<T> OwnedPooled<T> {
    pub(super) fn new(pool: Arc<BoundedPool<T>>, index: u32) -> Self {
        OwnedPooled {
            pool,
            index,
            _item: PhantomData,
        }
    }

    /// The buffer's index in its pool (see [`Pooled::index`]).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The pool the buffer belongs to.
    pub fn pool(&self) -> &Arc<BoundedPool<T>> {
        &self.pool
    }

    /// Gives up the guard and keeps the buffer as a bare [`BufIndex`] token.
    pub fn into_index(self) -> BufIndex {
        let this = ManuallyDrop::new(self);
        let token = this.pool.token(this.index);
        // SAFETY: `this` is never used again and its destructor never runs,
        // so the Arc is dropped exactly once, here.
        drop(unsafe { std::ptr::read(&this.pool) });
        token
    }
}

impl<T> Deref for OwnedPooled<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: as for `Pooled`: this guard holds `index` alone (I1).
        unsafe { &*self.pool.item(self.index) }
    }
}

impl<T> DerefMut for OwnedPooled<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes the access exclusive.
        unsafe { &mut *self.pool.item(self.index) }
    }
}

impl<T: BufferTier> AsRef<[u8]> for OwnedPooled<T> {
    fn as_ref(&self) -> &[u8] {
        (**self).as_bytes()
    }
}

impl<T: BufferTier> AsMut<[u8]> for OwnedPooled<T> {
    fn as_mut(&mut self) -> &mut [u8] {
        (**self).as_bytes_mut()
    }
}

impl<T> Drop for OwnedPooled<T> {
    fn drop(&mut self) {
        self.pool.release(self.index);
    }
}

impl<T> fmt::Debug for OwnedPooled<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPooled")
            .field("type", &std::any::type_name::<T>())
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// A bare token for one buffer of one pool: the seed's `IndirectPool`
/// index, and io_uring's buffer id.
///
/// It is neither `Clone` nor `Copy`, so exactly one token exists per taken
/// buffer. Reach the buffer with [`BoundedPool::value`] and
/// [`BoundedPool::value_mut`], and give it back with [`BoundedPool::put`];
/// a token used with another pool panics. A token that is dropped instead of
/// put keeps its buffer out of the pool until the pool itself is dropped.
/// [`into_raw`](Self::into_raw)/[`from_raw`](Self::from_raw) carry it
/// through a kernel's `user_data`.
///
/// A `BufIndex` is `Send` but not `Sync`: sharing `&BufIndex` between
/// threads would let two of them reach the same buffer.
///
/// ```
/// let pool = iobuf::SmallBufferPool::new(8)?;
/// let mut idx = pool.get_index();
/// pool.value_mut(&mut idx).0[0] = 42;
/// assert_eq!(pool.value(&idx).0[0], 42);
/// let raw = idx.into_raw(); // e.g. into an io_uring SQE's user_data
/// // SAFETY: `raw` came from `into_raw` of a token of this pool, once.
/// let idx = unsafe { iobuf::BufIndex::from_raw(raw) };
/// pool.put(idx);
/// assert_eq!(pool.available(), 8);
/// # Ok::<(), iobuf::Error>(())
/// ```
#[must_use = "a BufIndex holds its buffer until it is given back with `put`"]
pub struct BufIndex {
    pool: u32,
    index: u32,
    /// Not Sync (see the type docs).
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl BufIndex {
    pub(super) fn new(pool: u32, index: u32) -> Self {
        BufIndex {
            pool,
            index,
            _not_sync: PhantomData,
        }
    }

    /// The buffer's index in its pool (see [`Pooled::index`]).
    pub fn index(&self) -> u32 {
        self.index
    }

    pub(super) fn pool_id(&self) -> u32 {
        self.pool
    }

    /// The token as one `u64` (pool id in the high half, index in the low),
    /// for a kernel's `user_data`. Turn it back with
    /// [`from_raw`](Self::from_raw).
    pub fn into_raw(self) -> u64 {
        (u64::from(self.pool) << 32) | u64::from(self.index)
    }

    /// Rebuilds a token from [`into_raw`](Self::into_raw).
    ///
    /// # Safety
    ///
    /// `raw` must come from `into_raw`, and each value may be rebuilt at
    /// most once: two tokens for one buffer would let two holders reach it.
    /// (Using a rebuilt token with the wrong pool still panics.)
    pub unsafe fn from_raw(raw: u64) -> Self {
        BufIndex::new((raw >> 32) as u32, raw as u32)
    }
}

impl fmt::Debug for BufIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufIndex")
            .field("pool", &self.pool)
            .field("index", &self.index)
            .finish()
    }
}
