//! The pool as traits, for generic code: [`IndirectPool`] (the index API,
//! object-safe) and [`Pool`] (guards, with a generic associated type).

use std::time::Duration;

use super::{BoundedPool, BufIndex, Pooled};
use crate::error::Error;

/// The index API as an object-safe trait: the seed's `IndirectPool`, for
/// code that works with buffer ids (io_uring) over any pool.
///
/// ```
/// use iobuf::{IndirectPool, SmallBuffer};
/// fn fill(pool: &dyn IndirectPool<SmallBuffer>) {
///     let mut idx = pool.get_index();
///     pool.value_mut(&mut idx).0.fill(7);
///     pool.put(idx);
/// }
/// fill(&iobuf::SmallBufferPool::new(2)?);
/// # Ok::<(), iobuf::Error>(())
/// ```
pub trait IndirectPool<T> {
    /// See [`BoundedPool::try_get_index`].
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when every buffer is held.
    fn try_get_index(&self) -> Result<BufIndex, Error>;
    /// See [`BoundedPool::get_index`].
    fn get_index(&self) -> BufIndex;
    /// See [`BoundedPool::put`].
    fn put(&self, index: BufIndex);
    /// See [`BoundedPool::value`].
    fn value<'a>(&'a self, index: &'a BufIndex) -> &'a T;
    /// See [`BoundedPool::value_mut`].
    fn value_mut<'a>(&'a self, index: &'a mut BufIndex) -> &'a mut T;
    /// See [`BoundedPool::set_value`].
    fn set_value(&self, index: &mut BufIndex, value: T);
    /// See [`BoundedPool::capacity`].
    fn capacity(&self) -> usize;
}

impl<T> IndirectPool<T> for BoundedPool<T> {
    fn try_get_index(&self) -> Result<BufIndex, Error> {
        BoundedPool::try_get_index(self)
    }
    fn get_index(&self) -> BufIndex {
        BoundedPool::get_index(self)
    }
    fn put(&self, index: BufIndex) {
        BoundedPool::put(self, index)
    }
    fn value<'a>(&'a self, index: &'a BufIndex) -> &'a T {
        BoundedPool::value(self, index)
    }
    fn value_mut<'a>(&'a self, index: &'a mut BufIndex) -> &'a mut T {
        BoundedPool::value_mut(self, index)
    }
    fn set_value(&self, index: &mut BufIndex, value: T) {
        BoundedPool::set_value(self, index, value)
    }
    fn capacity(&self) -> usize {
        BoundedPool::capacity(self)
    }
}

/// A pool of guards, for code generic over pool implementations.
///
/// ```
/// use iobuf::{Pool, SmallBufferPool};
/// fn use_one<P: Pool>(pool: &P) -> usize {
///     let _guard = pool.get();
///     pool.capacity() - pool.available()
/// }
/// assert_eq!(use_one(&SmallBufferPool::new(4)?), 1);
/// # Ok::<(), iobuf::Error>(())
/// ```
pub trait Pool {
    /// What the pool holds.
    type Item;
    /// What a taker holds: derefs to the item, returns it on drop.
    type Guard<'a>: std::ops::DerefMut<Target = Self::Item>
    where
        Self: 'a;

    /// Takes an item without waiting.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when every item is held.
    fn try_get(&self) -> Result<Self::Guard<'_>, Error>;
    /// Takes an item, waiting as long as it takes.
    fn get(&self) -> Self::Guard<'_>;
    /// Takes an item, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when the timeout passed.
    fn get_timeout(&self, timeout: Duration) -> Result<Self::Guard<'_>, Error>;
    /// The number of items.
    fn capacity(&self) -> usize;
    /// The number of items held by nobody (racy under concurrency).
    fn available(&self) -> usize;
}

impl<T> Pool for BoundedPool<T> {
    type Item = T;
    type Guard<'a>
        = Pooled<'a, T>
    where
        T: 'a;

    fn try_get(&self) -> Result<Pooled<'_, T>, Error> {
        BoundedPool::try_get(self)
    }
    fn get(&self) -> Pooled<'_, T> {
        BoundedPool::get(self)
    }
    fn get_timeout(&self, timeout: Duration) -> Result<Pooled<'_, T>, Error> {
        BoundedPool::get_timeout(self, timeout)
    }
    fn capacity(&self) -> usize {
        BoundedPool::capacity(self)
    }
    fn available(&self) -> usize {
        BoundedPool::available(self)
    }
}
