//! What a holder of a pooled buffer has: a borrowing guard ([`Pooled`]), an
//! owning guard ([`OwnedPooled`]), or a bare token ([`BufIndex`]).
//!
//! The two guards are one implementation, [`Held`], generic over how it
//! reaches its pool (a reference or an `Arc`); the public types wrap it
//! for their names, variance and auto traits.

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::BoundedPool;
use crate::buffer::BufferTier;
use crate::iovec::{AsIoVec, AsIoVecMut, IoVec, IoVecMut};

/// How a holder reaches its pool: borrowed, or through an `Arc`.
trait Reach {
    type Item;
    fn pool(&self) -> &BoundedPool<Self::Item>;
}

impl<T> Reach for &BoundedPool<T> {
    type Item = T;
    #[inline(always)]
    fn pool(&self) -> &BoundedPool<T> {
        self
    }
}

impl<T> Reach for Arc<BoundedPool<T>> {
    type Item = T;
    #[inline(always)]
    fn pool(&self) -> &BoundedPool<T> {
        self
    }
}

/// Index `index` of the pool behind `pool`, held alone (I1) until this
/// drops and returns it.
struct Held<P: Reach> {
    pool: P,
    index: u32,
}

impl<P: Reach> Held<P> {
    #[inline(always)]
    fn get(&self) -> &P::Item {
        // SAFETY: this holder holds `index` alone (I1) for as long as it
        // lives, and `index < capacity` (I3); `&self` allows shared access.
        unsafe { &*self.pool.pool().item(self.index) }
    }

    #[inline(always)]
    fn get_mut(&mut self) -> &mut P::Item {
        // SAFETY: as in `get`; `&mut self` makes the access exclusive.
        unsafe { &mut *self.pool.pool().item(self.index) }
    }

    /// Gives up the guard and keeps the buffer as a bare token.
    fn into_index(self) -> BufIndex {
        let this = ManuallyDrop::new(self);
        let token = this.pool.pool().token(this.index);
        // SAFETY: `this` is never used again and its destructor never runs,
        // so its way to the pool (an `Arc`, say) is dropped exactly once,
        // here.
        drop(unsafe { std::ptr::read(&this.pool) });
        token
    }
}

impl<P: Reach> Drop for Held<P> {
    #[inline]
    fn drop(&mut self) {
        self.pool.pool().release(self.index);
    }
}

/// Makes a marker invariant in `T`, whatever else it holds; `Send + Sync`.
type Invariant<T> = fn(T) -> T;

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
    held: Held<&'a BoundedPool<T>>,
    /// Access to one `T`: Send iff `T: Send`, Sync iff `T: Sync`; and
    /// invariant in `T`, as it hands out `&mut T`.
    _item: PhantomData<&'a mut T>,
}

impl<'a, T> Pooled<'a, T> {
    #[inline]
    pub(super) fn new(pool: &'a BoundedPool<T>, index: u32) -> Self {
        Pooled {
            held: Held { pool, index },
            _item: PhantomData,
        }
    }

    /// Turns a token back into a guard that returns the buffer when
    /// dropped: the inverse of [`into_index`](Self::into_index). Never
    /// waits.
    ///
    /// ```
    /// use iobuf::Pooled;
    /// let pool = iobuf::PicoBufferPool::new(2)?;
    /// let idx = pool.try_get_index()?;       // e.g. back from a kernel
    /// let buf = Pooled::from_index(&pool, idx);
    /// assert_eq!(pool.available(), 1);
    /// drop(buf);
    /// assert_eq!(pool.available(), 2);
    /// # Ok::<(), iobuf::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// If the token belongs to another pool.
    pub fn from_index(pool: &'a BoundedPool<T>, index: BufIndex) -> Self {
        pool.check(&index);
        Pooled::new(pool, index.index())
    }

    /// The pool the buffer belongs to.
    pub fn pool(&self) -> &'a BoundedPool<T> {
        self.held.pool
    }
}

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
    held: Held<Arc<BoundedPool<T>>>,
    /// Owns access to one `T`: Send iff `T: Send`, Sync iff `T: Sync`; and
    /// invariant in `T`, as it hands out `&mut T` (the `Arc` of an
    /// invariant pool makes it so already; this keeps it so on its own).
    _item: PhantomData<(Box<T>, Invariant<T>)>,
}

impl<T> OwnedPooled<T> {
    pub(super) fn new(pool: Arc<BoundedPool<T>>, index: u32) -> Self {
        OwnedPooled {
            held: Held { pool, index },
            _item: PhantomData,
        }
    }

    /// As [`Pooled::from_index`], for an `Arc`-shared pool: the inverse of
    /// [`into_index`](Self::into_index).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use iobuf::OwnedPooled;
    /// let pool = Arc::new(iobuf::PicoBufferPool::new(2)?);
    /// let idx = pool.try_get_index()?;
    /// let buf = OwnedPooled::from_index(pool.clone(), idx);
    /// std::thread::spawn(move || drop(buf)).join().unwrap();
    /// assert_eq!(pool.available(), 2);
    /// # Ok::<(), iobuf::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// If the token belongs to another pool.
    pub fn from_index(pool: Arc<BoundedPool<T>>, index: BufIndex) -> Self {
        pool.check(&index);
        OwnedPooled::new(pool, index.index())
    }

    /// The pool the buffer belongs to.
    pub fn pool(&self) -> &Arc<BoundedPool<T>> {
        &self.held.pool
    }
}

/// What both guards offer, written once over [`Held`].
macro_rules! guard_impls {
    ($($name:ident $(<$lt:lifetime>)?),*) => {$(
        impl<$($lt,)? T> $name<$($lt,)? T> {
            /// The buffer's index in its pool: stable for the pool's life,
            /// and the position of the buffer in [`BoundedPool::iovecs`]
            /// (io_uring's fixed buffer index).
            pub fn index(&self) -> u32 {
                self.held.index
            }

            /// Gives up the guard and keeps the buffer as a bare
            /// [`BufIndex`] token, to be returned with [`BoundedPool::put`].
            pub fn into_index(self) -> BufIndex {
                self.held.into_index()
            }
        }

        impl<$($lt,)? T> Deref for $name<$($lt,)? T> {
            type Target = T;

            #[inline]
            fn deref(&self) -> &T {
                self.held.get()
            }
        }

        impl<$($lt,)? T> DerefMut for $name<$($lt,)? T> {
            #[inline]
            fn deref_mut(&mut self) -> &mut T {
                self.held.get_mut()
            }
        }

        impl<$($lt,)? T: BufferTier> AsRef<[u8]> for $name<$($lt,)? T> {
            fn as_ref(&self) -> &[u8] {
                self.held.get().as_bytes()
            }
        }

        impl<$($lt,)? T: BufferTier> AsMut<[u8]> for $name<$($lt,)? T> {
            fn as_mut(&mut self) -> &mut [u8] {
                self.held.get_mut().as_bytes_mut()
            }
        }

        /// Indexes the buffer's bytes, as a `[u8]`: `&buf[..10]`,
        /// `buf[0]`. (The guard dereferences to the buffer type, which
        /// need not be indexable itself.)
        impl<$($lt,)? T: BufferTier, I: std::slice::SliceIndex<[u8]>> std::ops::Index<I>
            for $name<$($lt,)? T>
        {
            type Output = I::Output;

            fn index(&self, index: I) -> &I::Output {
                &self.as_ref()[index]
            }
        }

        impl<$($lt,)? T: BufferTier, I: std::slice::SliceIndex<[u8]>> std::ops::IndexMut<I>
            for $name<$($lt,)? T>
        {
            fn index_mut(&mut self, index: I) -> &mut I::Output {
                &mut self.as_mut()[index]
            }
        }

        impl<$($lt,)? T> fmt::Debug for $name<$($lt,)? T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("type", &std::any::type_name::<T>())
                    .field("index", &self.held.index)
                    .finish_non_exhaustive()
            }
        }
    )*};
}

guard_impls!(Pooled<'a>, OwnedPooled);

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

// The guards' bytes for vectored I/O: the whole buffer.
impl<T: BufferTier> AsIoVec for Pooled<'_, T> {
    fn as_iovec(&self) -> IoVec<'_> {
        (**self).iovec()
    }
}

impl<T: BufferTier> AsIoVecMut for Pooled<'_, T> {
    fn as_iovec_mut(&mut self) -> IoVecMut<'_> {
        (**self).iovec_mut()
    }
}

impl<T: BufferTier> AsIoVec for OwnedPooled<T> {
    fn as_iovec(&self) -> IoVec<'_> {
        (**self).iovec()
    }
}

impl<T: BufferTier> AsIoVecMut for OwnedPooled<T> {
    fn as_iovec_mut(&mut self) -> IoVecMut<'_> {
        (**self).iovec_mut()
    }
}
