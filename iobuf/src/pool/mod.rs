//! [`BoundedPool`]: a bounded, lock-free MPMC pool of buffers.
//!
//! This module is the public layer: the pool type, its methods and their
//! docs, each a line or two over one private acquire path. Underneath:
//!
//! - `slab.rs`: the items, in one contiguous, page-aligned allocation
//!   (buffer `i` at byte `i * size_of::<T>()`);
//! - `engine.rs`: the free indices, the acquire path (strike, spin, wait)
//!   and returns, and invariant **I1** (each index is in exactly one place:
//!   the free bitmap, one thread's cache, or one holder's hands);
//! - `cache/`: the per-thread caches in front of the bitmap;
//! - `guard.rs`: what a holder has ([`Pooled`], [`OwnedPooled`],
//!   [`BufIndex`]);
//! - `config.rs`: [`PoolConfig`], resolved once into the pool's settings.
//!
//! # Thread caches
//!
//! Pools of 64 buffers and more keep a small per-thread cache (a *magazine*)
//! in front of the free bitmap ([`PoolConfig::thread_cache`]). A get or return
//! that hits it costs a few plain loads and stores on memory only this
//! thread writes: no atomic read-modify-write and no shared cache line. The
//! most recently returned, cache-hot buffer goes out first. Misses refill or
//! spill a batch at a time (up to 32 indices per atomic operation) through
//! the bitmap. A getter that finds the bitmap
//! empty takes the buffers idle in other threads' caches, even from threads
//! that never run again, using an asymmetric fence (`membarrier(2)` on Linux)
//! that costs the owners nothing. A blocking `get` therefore never sleeps
//! while buffers sit idle in a cache. A thread's caches go back to their
//! pools when the thread exits. Dropping a pool while threads still cache
//! its buffers is safe.
//!
//! # Progress, locks and allocation
//!
//! - `try_get*` and every return (guard drop, `put`) never sleep on an
//!   empty pool. A cache hit takes a few loads and stores, and the bitmap is
//!   lock-free, so with caching off (pools under 64 buffers,
//!   [`PoolConfig::thread_cache`]`(0)`, or no `membarrier(2)`) they are
//!   lock-free.
//! - With caching on they are **not** strictly lock-free: refilling an empty
//!   cache or spilling a full one takes that cache's mutex, which a thief
//!   holds across a `membarrier(2)` system call; a thread's first use of a
//!   pool, and taking buffers from other threads' caches (when the bitmap is
//!   empty), take the pool's registry mutex; and a thief waits for the
//!   owner to finish the few instructions of the operation it is in. These
//!   locks are held for short, bounded work, but a preempted holder delays
//!   the others.
//! - A return costs no system call unless a `get` sleeps.
//! - `get*` may wait: strike, spin, then sleep until a return wakes it
//!   ([`progress`](crate::progress)). `get_timeout` stops at its deadline.
//! - Allocation: creating a pool allocates the slab (committed lazily) and
//!   bitmap of free indices (4 bytes per buffer: 32 buffers per 64-bit word,
//!   each word on a 128-byte cache line of its own; pools under 128 buffers
//!   spread over up to four words, so at least `min(capacity, 4)` lines;
//!   written at creation, so committed at once: 8 GiB at capacity 2^31). With caching on, a
//!   thread's first get or return on a pool allocates its cache (four heap
//!   allocations: the cache, its slots, and an entry in the thread's and the
//!   pool's lists); and a getter that queues to wait (a blocking `get`
//!   that goes to sleep, a `get_async` future that returns `Pending`)
//!   allocates its queue entry (one `Arc`, freed when it leaves). Nothing
//!   else allocates after creation.

mod aliases;
mod cache;
mod config;
mod engine;
mod guard;
mod side;
mod slab;
mod traits;
mod trim;

use std::fmt;
use std::future::Future;
use std::mem::size_of;
use std::sync::Arc;
use std::time::Duration;

pub use aliases::*;
pub use config::{MAX_THREAD_CACHE, PoolConfig, PoolStats, default_thread_cache};
pub use guard::{BufIndex, OwnedPooled, Pooled};
pub use traits::{IndirectPool, Pool};

use crate::bitmap::MAX_CAPACITY;
use crate::buffer::BufferTier;
use crate::error::Error;
use crate::mem::MapOptions;
use config::Settings;
use engine::{Engine, Take, Wait};
use side::SideWords;
use slab::Slab;

/// A bounded, lock-free pool of `capacity` items of type `T`.
///
/// - **Bounded**: exactly `capacity` items (`1..=2^31`), allocated once at
///   creation; a capacity whose memory is above the machine's physical
///   memory is refused up front (see [`new`](Self::new)). After that only a thread's first use
///   of a pool with caching on allocates (its cache; see the
///   [module docs](self)).
/// - **Non-blocking** `try_get` and returns: lock-free with caching off; with
///   thread caches on, cache misses take short per-cache and per-pool locks
///   (never a sleep on an empty pool). `get` escalates from spinning to
///   sleeping. See the [module docs](self) for exactly when.
/// - **Page-aligned**: one contiguous slab, buffer `i` at `i * size_of::<T>()`,
///   committed lazily, so a large pool costs memory only as buffers are
///   written. The bitmap of free indices (4 bytes per buffer, at least
///   `min(capacity, 4)` 128-byte lines) is committed at creation.
/// - **Exclusive**: a buffer is free exactly while its bit in the bitmap is
///   set, and a get wins the bit with one atomic `fetch_and`: no buffer is
///   ever handed to two holders at once (loom-checked and stress-tested).
///
/// Three ways to hold a buffer: a [`Pooled`] guard borrowing the pool
/// ([`get`](Self::get)), an [`OwnedPooled`] guard holding an `Arc` of it
/// ([`get_owned`](Self::get_owned)), or a bare [`BufIndex`] token
/// ([`get_index`](Self::get_index)), e.g. for io_uring buffer ids.
///
/// # Examples
///
/// ```
/// use iobuf::{BoundedPool, Error, SmallBuffer};
///
/// let pool = BoundedPool::<SmallBuffer>::new(2)?;
/// let mut a = pool.get();
/// a.0[..4].copy_from_slice(b"ping");
/// let b = pool.try_get()?;
/// assert_eq!(pool.try_get().unwrap_err(), Error::WouldBlock);
/// drop((a, b));
/// assert_eq!(pool.available(), 2);
/// # Ok::<(), iobuf::Error>(())
/// ```
pub struct BoundedPool<T> {
    /// Free indices, sleepers and thread caches, shared with the thread
    /// caches' weak references (a thread flushing its cache at exit keeps
    /// it alive until it is done, even if the pool drops meanwhile). It
    /// holds indices only, never a pointer into the slab.
    engine: Arc<Engine>,
    slab: Slab<T>,
    settings: Settings<T>,
    /// Distinguishes this pool's tokens and caches from every other pool's;
    /// here (as well as in the engine) for the inlined fast path.
    id: u32,
    /// Per-index side data for an integration (`side.rs`), allocated on
    /// first use; the pool never reads it.
    side: std::sync::OnceLock<SideWords>,
}

// SAFETY: the pool owns its items; moving it to another thread moves them,
// which needs `T: Send`. The engine is Send + Sync (atomics and mutexes).
unsafe impl<T: Send> Send for BoundedPool<T> {}
// SAFETY: through `&BoundedPool` a thread reaches an item only while it
// holds that item's index alone (I1), via a guard or a token, and tokens
// are not Sync; so items move between threads but are never shared, which
// needs `T: Send` only (as for `Mutex<T>`).
unsafe impl<T: Send> Sync for BoundedPool<T> {}

/// Next pool id; 0 is never used. Global and outside any loom model, so a
/// plain std atomic.
static NEXT_POOL_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

fn next_pool_id() -> Result<u32, Error> {
    // ORDERING: Relaxed: only uniqueness matters, which the RMW gives.
    NEXT_POOL_ID
        .fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |id| id.checked_add(1),
        )
        .map_err(|_| {
            Error::invalid("2^32 - 1 pools were created in this process; pool ids are used up")
        })
}

/// Checks a requested capacity of items of `item_size` bytes: in
/// `1..=2^31` ([`Error::InvalidCapacity`]), and, unless `allow_overcommit`,
/// within the machine's physical memory ([`Error::InvalidArgument`]). The
/// capacity is the one asked for: the bitmap needs no power of two.
fn checked_capacity(
    requested: usize,
    item_size: usize,
    allow_overcommit: bool,
) -> Result<usize, Error> {
    if requested == 0 || requested > MAX_CAPACITY {
        return Err(Error::InvalidCapacity { requested });
    }
    if !allow_overcommit && let Some(why) = beyond_memory(requested, item_size) {
        return Err(Error::invalid(format!(
            "{why}; ask for fewer, or allow it with `PoolConfig::allow_overcommit(true)`"
        )));
    }
    Ok(requested)
}

/// Why `capacity` items of `item_size` bytes cannot be had on this machine:
/// with the free-index bitmap (and, counted whether or not the pool caches,
/// the per-buffer get counters of a pool without thread caches), they need
/// more bytes than its physical memory. `None` when they fit, or where the OS cannot say (and under
/// Miri). For `buffer_pools!`' `set_count` too, which adds its own remedy.
pub(crate) fn beyond_memory(capacity: usize, item_size: usize) -> Option<String> {
    let physical = crate::mem::physical_memory()?;
    let needed = capacity as u128 * item_size as u128
        + crate::bitmap::bytes_for(capacity) as u128
        + engine::HolderCounts::bytes_for(capacity) as u128;
    (needed > physical as u128).then(|| {
        format!(
            "{capacity} buffers of {item_size} bytes need {needed} bytes with their free-index \
             bitmap, more than this machine's {physical} bytes of physical memory"
        )
    })
}

impl<T: BufferTier> BoundedPool<T> {
    /// A pool of exactly `capacity` zeroed buffers.
    ///
    /// The slab is committed lazily, so a large pool costs memory only as
    /// its buffers are first written; but a pool that could never be
    /// backed (its buffers and free-index bitmap above the machine's
    /// physical memory) is refused now rather than failing later as an
    /// out-of-memory. [`PoolConfig::allow_overcommit`] lets it through.
    /// (Where the OS does not report its memory, `sysconf(_SC_PHYS_PAGES)`
    /// failing, nothing is refused on that ground; a cgroup limit below
    /// the machine's memory is not consulted.)
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCapacity`] unless `1 <= capacity <= 2^31`;
    /// [`Error::InvalidArgument`] if `capacity` buffers would need more
    /// than the machine's physical memory; [`Error::Alloc`] if the memory
    /// cannot be had.
    ///
    /// ```
    /// let pool = iobuf::LargeBufferPool::new(100)?;
    /// assert_eq!(pool.capacity(), 100);
    /// assert!(iobuf::LargeBufferPool::new(0).is_err());
    /// # Ok::<(), iobuf::Error>(())
    /// ```
    pub fn new(capacity: usize) -> Result<Self, Error> {
        Self::with_config(capacity, PoolConfig::new())
    }

    /// A pool of `capacity` zeroed buffers with the given options.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new) (the memory check unless
    /// [`allow_overcommit`](PoolConfig::allow_overcommit)); also
    /// [`Error::Alloc`] when
    /// [`lock_memory`](PoolConfig::lock_memory) exceeds `RLIMIT_MEMLOCK`,
    /// and [`Error::InvalidArgument`] for a
    /// [`thread_cache`](PoolConfig::thread_cache) above
    /// [`MAX_THREAD_CACHE`].
    pub fn with_config(capacity: usize, config: PoolConfig) -> Result<Self, Error> {
        let capacity = checked_capacity(capacity, size_of::<T>(), config.allow_overcommit)?;
        let settings = Settings::for_buffers(&config, capacity)?;
        // Zeroed memory is a valid T: BufferTier types are plain bytes.
        let slab = Slab::alloc(capacity, config.map_options())?;
        Self::from_parts(slab, settings)
    }

    /// One `iovec` per buffer, in index order, for io_uring's
    /// `register_buffers`: the buffer of index `i` is fixed buffer `i`.
    ///
    /// The iovecs point into the pool; they stay valid while it lives.
    /// Registering them lets the kernel write any buffer, so use the fixed
    /// buffer of an index only while you hold that index.
    ///
    /// ```
    /// let pool = iobuf::PicoBufferPool::new(4)?;
    /// let iov = pool.iovecs();
    /// assert_eq!(iov.len(), 4);
    /// assert_eq!(iov[1].iov_base as usize - iov[0].iov_base as usize, 32);
    /// # Ok::<(), iobuf::Error>(())
    /// ```
    pub fn iovecs(&self) -> Vec<libc::iovec> {
        (0..self.capacity() as u32)
            .map(|i| libc::iovec {
                iov_base: self.slab.item(i).cast(),
                iov_len: size_of::<T>(),
            })
            .collect()
    }
}

impl<T> BoundedPool<T> {
    /// A pool of exactly `capacity` items, item `i` made by `make(i)`.
    /// Works for any `T`, not only buffers.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new) (every item is made now, so there is no
    /// overcommit to allow). If `make` panics, the items made so far are
    /// dropped and the panic goes on.
    ///
    /// ```
    /// let pool = iobuf::BoundedPool::from_fn(3, |i| vec![i as u8; 16])?;
    /// assert_eq!(pool.capacity(), 3);
    /// let v = pool.get();
    /// assert_eq!(u32::from(v[0]), v.index()); // item i made by make(i)
    /// # Ok::<(), iobuf::Error>(())
    /// ```
    pub fn from_fn(capacity: usize, make: impl FnMut(usize) -> T) -> Result<Self, Error> {
        let capacity = checked_capacity(capacity, size_of::<T>(), false)?;
        let settings = Settings::resolve(&PoolConfig::new(), capacity)?;
        let slab = Slab::<T>::alloc(capacity, MapOptions::default())?;
        slab.fill(make);
        Self::from_parts(slab, settings)
    }

    /// The pool over a slab whose every item is initialised.
    fn from_parts(slab: Slab<T>, settings: Settings<T>) -> Result<Self, Error> {
        let id = next_pool_id()?;
        Ok(BoundedPool {
            engine: Engine::new(slab.capacity(), id, settings.cache_capacity),
            slab,
            settings,
            id,
            side: std::sync::OnceLock::new(),
        })
    }

    /// The free indices, sleepers and thread caches.
    #[inline(always)]
    fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The number of buffers.
    pub fn capacity(&self) -> usize {
        self.slab.capacity()
    }

    /// The number of buffers held by no user: in the shared bitmap or idle
    /// in any thread's cache.
    ///
    /// Exact when no other thread is using the pool; under concurrency a
    /// racy estimate. A thread that is exiting counts as using it: while it
    /// moves its cache to the bitmap, those buffers may be missed. (Joining
    /// the thread waits for that.) It counts the bitmap word by word:
    /// O(capacity).
    pub fn available(&self) -> usize {
        self.engine().available()
    }

    /// Buffers per thread cache (0: caching is off); see
    /// [`PoolConfig::thread_cache`]. Caching is also off where the OS lacks
    /// `membarrier(2)` (Linux before 4.14, or a seccomp filter that denies it).
    pub fn thread_cache_capacity(&self) -> usize {
        self.settings.cache_capacity as usize
    }

    /// A snapshot of the pool's state and slow-path counters.
    ///
    /// It takes the wait queue's lock for a moment (the waits and their
    /// histogram are counted under it), the lock of the pool's cache
    /// registry and, one at a time, each thread cache's lock (to read its
    /// hit count exactly), so it briefly delays threads on their slow
    /// paths; the fast path never waits for it. It counts the free buffers
    /// word by word: O(capacity + threads).
    pub fn stats(&self) -> PoolStats {
        let engine = self.engine();
        let available = engine.available();
        let in_use = self.capacity() - available.min(self.capacity());
        engine.note_in_use(in_use);
        let counts = engine.counters();
        PoolStats {
            capacity: self.capacity(),
            available,
            in_use,
            provided: engine.provided(),
            waiting: engine.waiting(),
            cached: engine.caches.cached(),
            thread_caches: engine.caches.count(),
            waits: counts.thread_waits + counts.task_waits,
            thread_waits: counts.thread_waits,
            task_waits: counts.task_waits,
            timeouts: counts.timeouts,
            cancellations: counts.cancellations,
            cache_hits: engine.caches.hits(),
            shared_gets: counts.shared_gets,
            refill_gets: counts.refill_gets,
            steal_gets: counts.steal_gets,
            try_get_failures: counts.try_get_failures,
            wait_histogram: counts.wait_times.counts,
            wait_nanos: counts.wait_times.nanos,
            high_water: counts.high_water,
        }
    }

    /// Gives the physical memory of idle buffers back to the OS, keeping
    /// `keep_warm` of them resident; returns how many bytes went back.
    ///
    /// It touches only buffers it holds: it takes the idle buffers out of
    /// the pool (as [`try_get_index`](Self::try_get_index) would, thread
    /// caches included), gives the `keep_warm` with the lowest indices
    /// straight back, tells the OS it may drop the pages of the others
    /// (`madvise(MADV_DONTNEED)`), and returns them to the pool. A buffer
    /// that anyone holds (a guard, a token, a buffer lent to an io_uring
    /// provided-buffer ring) is never touched, and its contents survive.
    ///
    /// A released buffer reads as zeros afterwards, and each of its pages
    /// is committed again (a page fault and a zeroed page from the kernel)
    /// when first touched, as at creation. The old contents of idle buffers
    /// are lost. With [`zero_on_return`](PoolConfig::zero_on_return) they
    /// were zeros already, so buffers still come out zeroed; they go back
    /// without being zeroed again, which would commit every page anew.
    ///
    /// # What goes back
    ///
    /// Whole pages that lie wholly inside idle buffers, one `madvise` per
    /// run of consecutive idle indices. A held or warm buffer keeps the
    /// pages it shares a byte with resident, so buffers smaller than a page
    /// free a page only when every buffer on it is released. The warm ones
    /// are the lowest indices, so that the rest form long runs; they are
    /// not the ones a get will be handed first, which depends on each
    /// thread's cache and its place in the bitmap: a get after the call may
    /// be handed a released buffer and pay its page faults.
    ///
    /// The result counts the bytes of the ranges given back, pages never
    /// touched included (the kernel does not say which were resident): at
    /// most what resident memory falls by.
    ///
    /// Nothing goes back, and the call returns 0 without taking a buffer:
    ///
    /// - with [`lock_memory`](PoolConfig::lock_memory): Linux refuses
    ///   `MADV_DONTNEED` on locked pages, and a locked pool asked for its
    ///   pages to stay resident. (Memory locked by `mlockall` is refused
    ///   range by range: the buffers are taken and returned, and 0 counted.)
    /// - for a slab under [`MMAP_THRESHOLD`](crate::mem::MMAP_THRESHOLD)
    ///   with no mapping option, which comes from the global allocator
    ///   (and for every slab under Miri);
    /// - on any OS but Linux and Android: elsewhere `MADV_DONTNEED` need
    ///   not zero anything, and `MADV_FREE` lets a page's bytes turn from
    ///   old to zero between two reads.
    ///
    /// # Huge pages
    ///
    /// Slabs of 2 MiB and up (and smaller ones with
    /// [`huge_pages`](PoolConfig::huge_pages)) are advised for transparent
    /// huge pages (THP; the pool never uses `MAP_HUGETLB`). Where THP is on
    /// (`/sys/kernel/mm/transparent_hugepage/enabled` is not `never`, read
    /// at each call), the part of the slab that huge pages can back goes
    /// back in whole 2 MiB blocks only: the kernel frees a huge page only
    /// when all of it goes, and khugepaged may refill a block released in
    /// part. So a held or warm buffer keeps its whole 2 MiB block
    /// resident, and the first write to a released block may commit a
    /// whole huge page again.
    ///
    /// # io_uring fixed buffers
    ///
    /// Do not call it while the slab is registered with io_uring
    /// (`register_buffers` of [`iovecs`](Self::iovecs)): the kernel pinned
    /// the old pages, so afterwards a fixed read into a released buffer
    /// fills pages the program no longer sees, and a fixed write sends
    /// their stale bytes. Unregister first, and register again after.
    ///
    /// # Progress, locks and allocation
    ///
    /// Never waits for a return and never sleeps on an empty pool. Not
    /// lock-free: its takes and returns are those of `try_get` and `put`
    /// (taking what other threads cache costs a `membarrier(2)`), and it
    /// makes one `madvise` system call per run, whose work in the kernel
    /// grows with the pages dropped, and reads one sysfs file for huge
    /// slabs. It allocates one bit per buffer (`capacity / 8` bytes) for
    /// the buffers it holds, and this thread's cache on its first use of
    /// the pool. While it runs, the idle buffers other than the warm ones
    /// are out of the pool: a concurrent `try_get` may fail with
    /// [`Error::WouldBlock`] although buffers are idle, and a `get` may
    /// spin or sleep until the call returns them.
    ///
    /// # Panics
    ///
    /// Only if the waker of a queued `get_async` panics when a buffer this
    /// call returns is handed to it: the panic resumes here, after every
    /// buffer went back.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = iobuf::LargeBufferPool::new(8)?; // 8 x 128 KiB
    /// let mut bufs: Vec<_> = (0..8).map(|_| pool.get()).collect();
    /// for buf in &mut bufs {
    ///     buf.0.fill(1); // every page committed
    /// }
    /// drop(bufs);
    /// let mut held = pool.get();
    /// held.0[0] = 7;
    ///
    /// let released = pool.release_memory(0);
    /// assert_eq!(held.0[0], 7); // a held buffer is never touched
    /// if cfg!(target_os = "linux") {
    ///     assert_eq!(released, 7 * 128 << 10); // the 7 idle buffers
    ///     assert_eq!(pool.try_get()?.0[0], 0); // released: zeros
    /// }
    /// assert_eq!(pool.available(), 7);
    /// # Ok::<(), iobuf::Error>(())
    /// ```
    pub fn release_memory(&self, keep_warm: usize) -> usize
    where
        T: BufferTier,
    {
        trim::release_idle(self.engine(), &self.slab, keep_warm)
    }

    /// Takes a buffer if one is free, without waiting for a return.
    ///
    /// Lock-free with caching off; with thread caches on, a miss may take
    /// short locks and the thread's first call allocates its cache (see the
    /// [module docs](self)). With caches on, a call that finds no buffer
    /// checks once more with every thread's cache of the pool locked at
    /// once: that costs one `membarrier(2)` system call and a small
    /// allocation, but only on the way to `WouldBlock`.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] only when every buffer was held at some instant
    /// of the call (none free in the pool or in any thread's cache).
    #[inline]
    pub fn try_get(&self) -> Result<Pooled<'_, T>, Error> {
        // The cache hit is inlined; everything else goes out of line, as one
        // call that builds the whole result, so nothing stays live across it
        // and the inlined part needs no saved registers (measured on the CI
        // machine: 3.6 -> 3.2 ns per get+put pair through a non-inlined
        // call).
        match cache::pop(self.id) {
            Some(i) => Ok(Pooled::new(self, i)),
            None => self.try_get_slow(),
        }
    }

    #[cold]
    #[inline(never)]
    fn try_get_slow(&self) -> Result<Pooled<'_, T>, Error> {
        self.acquire(Wait::Never, |i| Pooled::new(self, i))
    }

    /// Takes a buffer, waiting as long as it takes for one to be returned:
    /// strike, spin, then sleep until a return wakes it.
    #[inline]
    pub fn get(&self) -> Pooled<'_, T> {
        // As `try_get`: the cache hit inline, the rest in one call.
        match cache::pop(self.id) {
            Some(i) => Pooled::new(self, i),
            None => self.get_slow(),
        }
    }

    #[cold]
    #[inline(never)]
    fn get_slow(&self) -> Pooled<'_, T> {
        self.acquire_waiting(|i| Pooled::new(self, i))
    }

    /// Takes a buffer, waiting at most `timeout` for one to be returned.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when the timeout passed with every buffer held.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = iobuf::PicoBufferPool::new(1)?;
    /// let held = pool.get();
    /// let err = pool.get_timeout(Duration::from_millis(5)).unwrap_err();
    /// assert_eq!(err, iobuf::Error::TimedOut);
    /// drop(held);
    /// assert!(pool.get_timeout(Duration::from_millis(5)).is_ok());
    /// # Ok::<(), iobuf::Error>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<Pooled<'_, T>, Error> {
        self.acquire(Wait::at_most(timeout), |i| Pooled::new(self, i))
    }

    /// As [`get`](Self::get), for an `Arc`-shared pool: the guard is
    /// `'static`.
    pub fn get_owned(self: &Arc<Self>) -> OwnedPooled<T> {
        self.acquire_waiting(|i| OwnedPooled::new(self.clone(), i))
    }

    /// As [`try_get`](Self::try_get), for an `Arc`-shared pool.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] only when every buffer was held at some instant
    /// of the call, as for `try_get`.
    pub fn try_get_owned(self: &Arc<Self>) -> Result<OwnedPooled<T>, Error> {
        self.acquire(Wait::Never, |i| OwnedPooled::new(self.clone(), i))
    }

    /// As [`get_timeout`](Self::get_timeout), for an `Arc`-shared pool.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when the timeout passed with every buffer held.
    pub fn get_owned_timeout(self: &Arc<Self>, timeout: Duration) -> Result<OwnedPooled<T>, Error> {
        self.acquire(Wait::at_most(timeout), |i| {
            OwnedPooled::new(self.clone(), i)
        })
    }

    /// Takes a buffer as a bare token, without waiting for a return; as
    /// [`try_get`](Self::try_get) for locks and allocation.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] only when every buffer was held at some instant
    /// of the call, as for `try_get`.
    pub fn try_get_index(&self) -> Result<BufIndex, Error> {
        self.acquire(Wait::Never, |i| self.token(i))
    }

    /// Takes a buffer as a bare token, waiting as [`get`](Self::get) does.
    pub fn get_index(&self) -> BufIndex {
        self.acquire_waiting(|i| self.token(i))
    }

    /// Takes a buffer as a bare token, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when the timeout passed with every buffer held.
    pub fn get_index_timeout(&self, timeout: Duration) -> Result<BufIndex, Error> {
        self.acquire(Wait::at_most(timeout), |i| self.token(i))
    }

    /// Takes a buffer, waiting asynchronously as long as it takes: a
    /// strike, then the task waits in the pool's queue (the same FIFO as
    /// sleeping [`get`](Self::get)s, with no spinning) until a return hands
    /// it a buffer. Runtime-agnostic: only `std::task`.
    ///
    /// The future is `Send` when `T: Send`. It is **cancel-safe**: dropped
    /// at any point (say by `tokio::time::timeout`), it loses neither a
    /// buffer nor a wake-up; a buffer handed to it just before goes on to
    /// the next waiter. A future that returns `Pending` allocates once (its
    /// queue entry); one that finds a buffer free allocates nothing.
    ///
    /// Wakers run after the pool released every lock it holds, so a waker
    /// may poll its task inline and re-enter the pool. A waker that panics
    /// loses no buffer: the buffer was handed to its future first, and the
    /// panic resumes in the operation that woke it (a return, or another
    /// getter) once that operation has put every buffer where it belongs.
    /// A future that is `mem::forget`ten while queued never leaves the
    /// queue: the buffer a return hands it when it reaches the front is
    /// lost with it, as a forgotten guard's is (one buffer, no more; the
    /// waiters behind it are served).
    ///
    /// ```
    /// use std::sync::Arc;
    /// # futures_executor::block_on(async {
    /// let pool = Arc::new(iobuf::SmallBufferPool::new(1)?);
    /// let held = pool.get_async().await;
    /// // A second getter waits in the queue until `held` goes back.
    /// let waiter = std::thread::spawn({
    ///     let pool = pool.clone();
    ///     move || futures_executor::block_on(pool.get_owned_async()).index()
    /// });
    /// drop(held);
    /// assert_eq!(waiter.join().unwrap(), 0);
    /// # Ok::<(), iobuf::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn get_async(&self) -> impl Future<Output = Pooled<'_, T>> + '_ {
        Hold::new(self, Pooled::new)
    }

    /// As [`get_async`](Self::get_async), for an `Arc`-shared pool: the
    /// future and its guard are `'static` (and `Send` when `T: Send`), so
    /// the future can be `tokio::spawn`ed.
    pub fn get_owned_async(self: &Arc<Self>) -> impl Future<Output = OwnedPooled<T>> + 'static
    where
        T: 'static,
    {
        let pool = self.clone();
        async move {
            let index = pool.engine().take_async().await;
            OwnedPooled::new(pool, index)
        }
    }

    /// As [`get_async`](Self::get_async), as a bare token.
    pub fn get_index_async(&self) -> impl Future<Output = BufIndex> + '_ {
        Hold::new(self, |pool, i| pool.token(i))
    }

    /// The one acquire path of the fallible methods: an index from the
    /// engine, handed to `hold`; without one, the error `wait` calls for.
    ///
    /// The engine's first try (`Engine::take_first`) inlined, the rest in
    /// one call in tail position: a ring-only get that the first try serves
    /// makes no call and saves no register.
    #[inline(always)]
    fn acquire<H>(&self, wait: Wait, hold: impl FnOnce(u32) -> H) -> Result<H, Error> {
        match self.engine().take_first(matches!(wait, Wait::Never)) {
            Some(i) => Ok(hold(i)),
            None => self.acquire_rest(wait, hold),
        }
    }

    /// `acquire` past the engine's first try.
    #[inline(never)]
    fn acquire_rest<H>(&self, wait: Wait, hold: impl FnOnce(u32) -> H) -> Result<H, Error> {
        match self.engine().take_rest(wait) {
            Some(i) => Ok(hold(i)),
            None if matches!(wait, Wait::Never) => {
                self.engine().note_try_get_failure(self.capacity());
                Err(Error::WouldBlock)
            }
            None => Err(Error::TimedOut),
        }
    }

    /// The one acquire path of the waiting methods: as `acquire`, waiting
    /// as long as it takes.
    #[inline(always)]
    fn acquire_waiting<H>(&self, hold: impl FnOnce(u32) -> H) -> H {
        match self.engine().take_first(false) {
            Some(i) => hold(i),
            None => self.acquire_waiting_rest(hold),
        }
    }

    /// `acquire_waiting` past the engine's first try.
    #[inline(never)]
    fn acquire_waiting_rest<H>(&self, hold: impl FnOnce(u32) -> H) -> H {
        let i = self
            .engine()
            .take_rest(Wait::Forever)
            .expect("a wait without a deadline ends only with an index");
        hold(i)
    }

    /// Returns a token's buffer to the pool, waking a sleeping getter if
    /// there is one. Never waits; as [`try_get`](Self::try_get) for locks
    /// and allocation.
    ///
    /// # Panics
    ///
    /// If the token belongs to another pool.
    pub fn put(&self, index: BufIndex) {
        self.check(&index);
        self.release(index.index());
    }

    /// The buffer of a token.
    ///
    /// # Panics
    ///
    /// If the token belongs to another pool.
    pub fn value<'a>(&'a self, index: &'a BufIndex) -> &'a T {
        self.check(index);
        // SAFETY: the token is this pool's and in range (checked) and unique
        // (not Clone, not Sync), so its holder alone reaches the item (I1,
        // I3).
        unsafe { &*self.slab.item(index.index()) }
    }

    /// The buffer of a token, for writing.
    ///
    /// The result borrows the token mutably, so a second `value_mut` (or
    /// `put`) waits until it is gone: one `&mut` per buffer at a time.
    ///
    /// # Panics
    ///
    /// If the token belongs to another pool.
    pub fn value_mut<'a>(&'a self, index: &'a mut BufIndex) -> &'a mut T {
        self.check(index);
        // SAFETY: as in `value`; `&mut BufIndex` makes the access exclusive.
        unsafe { &mut *self.slab.item(index.index()) }
    }

    /// Replaces the buffer of a token with `value` (dropping the old one).
    ///
    /// # Panics
    ///
    /// If the token belongs to another pool.
    pub fn set_value(&self, index: &mut BufIndex, value: T) {
        *self.value_mut(index) = value;
    }

    /// Returns `index`, which the caller holds (I1) and gives up: the cache
    /// hit inlined, as for gets, the rest out of line.
    #[inline]
    pub(crate) fn release(&self, index: u32) {
        if self.settings.zero.is_some() {
            return self.release_zeroed(index);
        }
        if cache::push(self.id, index) {
            return;
        }
        self.release_slow(index);
    }

    /// `release` past a cache hit, in a pool that does not zero returns: a
    /// full or missing cache, a waiter, or no caching at all.
    #[cold]
    #[inline(never)]
    fn release_slow(&self, index: u32) {
        // Inlined, with its slow paths in tail position: a ring-only
        // return makes no call and saves no register.
        self.engine().give(index);
    }

    /// `release` in a pool that zeroes returns: zero, then give (past the
    /// inlined cache push, which would skip the zeroing).
    #[cold]
    #[inline(never)]
    fn release_zeroed(&self, index: u32) {
        if let Some(zero) = self.settings.zero {
            // SAFETY: the releasing holder still owns `index` (I1), so
            // nothing else touches the item.
            zero(unsafe { &mut *self.slab.item(index) });
        }
        self.engine().give(index);
    }

    /// Counts buffers lent to (`added`) or taken back from io_uring
    /// provided-buffer rings, for [`PoolStats::provided`].
    #[cfg_attr(not(all(feature = "io-uring", target_os = "linux")), allow(dead_code))]
    pub(crate) fn note_provided(&self, n: usize, added: bool) {
        self.engine().note_provided(n, added);
    }

    pub(crate) fn item(&self, index: u32) -> *mut T {
        self.slab.item(index)
    }

    /// The pool's side words (`side.rs`): one `AtomicU32` per index for an
    /// integration, all 0 at first, allocated on first use (one allocation
    /// per pool, which may take the allocator's lock), alive and unmoved as
    /// long as the pool.
    pub(crate) fn side_words(&self) -> &SideWords {
        self.side.get_or_init(|| SideWords::new(self.capacity()))
    }

    pub(crate) fn token(&self, index: u32) -> BufIndex {
        BufIndex::new(self.id, index)
    }

    fn check(&self, index: &BufIndex) {
        assert!(
            index.pool_id() == self.id,
            "BufIndex {} belongs to pool #{}, not to this pool (#{})",
            index.index(),
            index.pool_id(),
            self.id
        );
        // A token of this pool holds an index below its capacity (I3); a
        // forged one (`BufIndex::from_raw`) must not reach past the slab. One
        // compare, next to the id check's.
        assert!(
            (index.index() as usize) < self.capacity(),
            "BufIndex {} is out of range for pool #{} of capacity {}",
            index.index(),
            self.id,
            self.capacity()
        );
    }
}

/// The future of [`BoundedPool::get_async`] and
/// [`BoundedPool::get_index_async`]: the thread cache's hit inlined, as in
/// `try_get`, then the engine's cancel-safe `Take`, whose index `hold`
/// turns into what the caller gets. Written out rather than an `async`
/// block, so that a first poll that hits the cache does what `try_get`
/// does plus the future's own state (`pool` and `take` written when made,
/// `pool` cleared on completion, `take` checked when dropped): the `Take`
/// is made only when the cache missed, `hold` is a function of the pool,
/// with no bytes of its own, and the misses are calls out of line that
/// never read the `Context` (callgrind: 66 instructions per get+drop
/// against `try_get`'s 57, `benches/RESULTS.md`).
struct Hold<'a, T, F> {
    /// The pool, until the future completed; `None` after, so that polled
    /// again it panics, as an `async` block does, rather than take a
    /// second buffer.
    pool: Option<&'a BoundedPool<T>>,
    /// The engine's acquire, once a poll missed the thread cache.
    take: Option<Take<'a>>,
    hold: F,
}

impl<'a, T, H, F: Fn(&'a BoundedPool<T>, u32) -> H> Hold<'a, T, F> {
    #[inline]
    fn new(pool: &'a BoundedPool<T>, hold: F) -> Self {
        Hold {
            pool: Some(pool),
            take: None,
            hold,
        }
    }
}

impl<'a, T, H, F: Fn(&'a BoundedPool<T>, u32) -> H + Unpin> Future for Hold<'a, T, F> {
    type Output = H;

    #[inline]
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<H> {
        let this = self.get_mut();
        let pool = this
            .pool
            .expect("a get_async future was polled after it completed");
        // The first poll's cache hit, inlined as in `try_get`; the ring's
        // first try (pools without caches) and the `Take` each in one call
        // out of line, which takes the waker alone: on a hit the caller's
        // `Context` is never read, and the caller saves no register for
        // the misses.
        let first = match this.take {
            None => match cache::pop(pool.id) {
                Some(i) => Some(i),
                None => take_first(pool.engine()),
            },
            Some(_) => None,
        };
        let index = match first {
            Some(i) => i,
            None => std::task::ready!(poll_take(&mut this.take, pool.engine(), cx.waker())),
        };
        this.pool = None;
        std::task::Poll::Ready((this.hold)(pool, index))
    }
}

/// [`Hold`]'s first poll past the cache: the ring's first try, as `get`
/// makes it (pools without caches). Out of line, as `try_get_slow`.
#[cold]
#[inline(never)]
fn take_first(engine: &Engine) -> Option<u32> {
    engine.take_first(false)
}

/// [`Hold`]'s poll past the first poll's tries: the `Take`, made on the
/// first poll that missed and kept in `take` from then on, polled.
#[cold]
#[inline(never)]
fn poll_take<'a>(
    take: &mut Option<Take<'a>>,
    engine: &'a Engine,
    waker: &std::task::Waker,
) -> std::task::Poll<u32> {
    take.get_or_insert_with(|| engine.take_async())
        .poll_missed(waker)
}

impl<T> Drop for BoundedPool<T> {
    fn drop(&mut self) {
        // SAFETY: every item was initialised at creation and is dropped only
        // here; no guard outlives the pool (guards borrow it or hold an Arc
        // of it), and tokens left over cannot reach it any more.
        unsafe { self.slab.drop_items(self.capacity()) };
        // The engine goes with its last `Arc`: here, or at the end of a
        // thread's flush that holds it now (it points into no buffer).
    }
}

impl<T> fmt::Debug for BoundedPool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedPool")
            .field("type", &std::any::type_name::<T>())
            .field("capacity", &self.capacity())
            .field("available", &self.available())
            .finish_non_exhaustive()
    }
}
