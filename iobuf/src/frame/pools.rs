//! Where a frame reader gets its buffers: one pool or several tiers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::buffer::BufferTier;
use crate::pool::BoundedPool;
use crate::shared::SplitBuf;

/// A boxed wait for a buffer (only when a pool is empty).
pub(crate) type Wait = Pin<Box<dyn Future<Output = SplitBuf> + Send + 'static>>;

/// A pool a frame reader can take [`SplitBuf`]s from: an
/// `Arc<BoundedPool<T>>` or a `&'static BoundedPool<T>` (a
/// [`buffer_pools!`](crate::buffer_pools) pool).
pub trait SplitSource: Send + Sync + 'static {
    /// The size of each buffer, in bytes.
    fn buffer_size(&self) -> usize;
    /// A buffer if one is free now.
    fn try_take(&self) -> Option<SplitBuf>;
    /// A buffer, blocking the thread until one is free.
    fn take_blocking(&self) -> SplitBuf;
    /// A future for the next free buffer; boxed (one allocation per wait,
    /// and only when the pool was empty: readers try `try_take` first).
    fn take_async(&self) -> Pin<Box<dyn Future<Output = SplitBuf> + Send + 'static>>;
}

impl<T: BufferTier> SplitSource for Arc<BoundedPool<T>> {
    fn buffer_size(&self) -> usize {
        size_of::<T>()
    }
    fn try_take(&self) -> Option<SplitBuf> {
        self.try_get_owned().ok().map(SplitBuf::from)
    }
    fn take_blocking(&self) -> SplitBuf {
        SplitBuf::from(self.get_owned())
    }
    fn take_async(&self) -> Wait {
        let wait = self.get_owned_async();
        Box::pin(async move { SplitBuf::from(wait.await) })
    }
}

impl<T: BufferTier> SplitSource for &'static BoundedPool<T> {
    fn buffer_size(&self) -> usize {
        size_of::<T>()
    }
    fn try_take(&self) -> Option<SplitBuf> {
        self.try_get().ok().map(SplitBuf::from)
    }
    fn take_blocking(&self) -> SplitBuf {
        SplitBuf::from(self.get())
    }
    fn take_async(&self) -> Wait {
        let pool: &'static BoundedPool<T> = self;
        Box::pin(async move { SplitBuf::from(pool.get_async().await) })
    }
}

/// The pools a frame reader takes buffers from: the read-ahead pool (the
/// one given to [`new`](Self::new)), and larger tiers ([`with`](Self::with))
/// for frames that do not fit a read-ahead buffer: such a frame takes a
/// buffer of the smallest tier that holds it.
///
/// ```
/// use std::sync::Arc;
/// use iobuf::frame::Pools;
///
/// let pools = Pools::new(Arc::new(iobuf::MediumBufferPool::new(16)?))
///     .with(Arc::new(iobuf::LargeBufferPool::new(2)?));
/// assert_eq!(pools.read_ahead_size(), 8 * 1024);
/// assert_eq!(pools.largest(), 128 * 1024);
/// # Ok::<(), iobuf::Error>(())
/// ```
#[derive(Clone)]
pub struct Pools {
    read_ahead: Arc<dyn SplitSource>,
    /// Every pool, the read-ahead one too, sorted by buffer size.
    tiers: Vec<Arc<dyn SplitSource>>,
}

impl Pools {
    /// Reads ahead into buffers of `read_ahead`.
    pub fn new(read_ahead: impl SplitSource) -> Pools {
        let read_ahead: Arc<dyn SplitSource> = Arc::new(read_ahead);
        Pools {
            tiers: vec![read_ahead.clone()],
            read_ahead,
        }
    }

    /// Adds a tier: one of larger buffers than the read-ahead holds frames
    /// that do not fit a read-ahead buffer, and the first such tier also
    /// takes the reads of a connection that sends in bursts larger than a
    /// read-ahead buffer, when it has a buffer free (so that a read takes
    /// what the socket has in one call); one of smaller buffers holds
    /// the partial frame of a stalled connection (an async reader whose
    /// read would wait with a partial frame at most a quarter of its
    /// buffer moves it into the smallest tier that holds it, if that tier
    /// has a buffer free, and lets the larger buffer go).
    pub fn with(mut self, tier: impl SplitSource) -> Pools {
        let tier: Arc<dyn SplitSource> = Arc::new(tier);
        let at = self
            .tiers
            .partition_point(|t| t.buffer_size() <= tier.buffer_size());
        self.tiers.insert(at, tier);
        self
    }

    /// The size of the read-ahead buffers.
    pub fn read_ahead_size(&self) -> usize {
        self.read_ahead.buffer_size()
    }

    /// The smallest tier of buffers larger than `size`, if any.
    pub(crate) fn larger(&self, size: usize) -> Option<&dyn SplitSource> {
        self.tiers
            .iter()
            .find(|t| t.buffer_size() > size)
            .map(|t| &**t)
    }

    /// The read-ahead pool.
    pub(crate) fn read_ahead(&self) -> &dyn SplitSource {
        &*self.read_ahead
    }

    /// The largest buffer size: the longest frame a reader can hold.
    pub fn largest(&self) -> usize {
        self.tiers[self.tiers.len() - 1].buffer_size()
    }

    /// The tier a stalled partial frame of `len` bytes, in a buffer of
    /// `size` bytes, moves into: the smallest tier that holds it, if its
    /// buffers are at most a quarter of `size` (a smaller move is not worth
    /// the copy).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn shrink_tier(&self, len: usize, size: usize) -> Option<&dyn SplitSource> {
        let tier = self.tiers.iter().find(|t| t.buffer_size() >= len)?;
        (tier.buffer_size() <= size / 4).then_some(&**tier)
    }

    /// The read-ahead pool if its buffers hold `len` bytes, else the
    /// smallest tier whose buffers do.
    pub(crate) fn tier_for(&self, len: usize) -> Option<&dyn SplitSource> {
        if len <= self.read_ahead.buffer_size() {
            return Some(&*self.read_ahead);
        }
        self.tiers
            .iter()
            .find(|t| t.buffer_size() >= len)
            .map(|t| &**t)
    }
}

impl std::fmt::Debug for Pools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.tiers.iter().map(|t| t.buffer_size()))
            .finish()
    }
}
