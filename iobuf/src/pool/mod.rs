//! [`BoundedPool`]: a bounded, lock-free MPMC pool of buffers.
//!
//! The items live in one contiguous, page-aligned slab: buffer `i` sits at
//! byte `i * size_of::<T>()`. The free indices circulate through an SCQ index
//! ring (`ring.rs`). A holder gets exclusive access to an index, through a
//! guard or a token, and the slot of the slab behind it (I1).
//!
//! # Thread caches
//!
//! Pools of 64 buffers and more keep a small per-thread cache (a *magazine*)
//! in front of the ring ([`PoolConfig::thread_cache`]). A get or return
//! that hits it costs a few plain loads and stores on memory only this
//! thread writes: no atomic read-modify-write and no shared cache line. The
//! most recently returned, cache-hot buffer goes out first. Misses refill or
//! spill a batch at a time through the ring. A getter that finds the ring
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
//!   empty pool. A cache hit takes a few loads and stores, and the ring is
//!   lock-free, so with caching off (pools under 64 buffers,
//!   [`PoolConfig::thread_cache`]`(0)`, or no `membarrier(2)`) they are
//!   lock-free.
//! - With caching on they are **not** strictly lock-free: refilling an empty
//!   cache or spilling a full one takes that cache's mutex, which a thief
//!   holds across a `membarrier(2)` system call; a thread's first use of a
//!   pool, and taking buffers from other threads' caches (when the ring is
//!   empty), take the pool's registry mutex; and a thief waits for the
//!   owner to finish the few instructions of the operation it is in. These
//!   locks are held for short, bounded work, but a preempted holder delays
//!   the others.
//! - A return costs no system call unless a `get` sleeps.
//! - `get*` may wait: strike, spin, then sleep until a return wakes it
//!   ([`progress`](crate::progress)). `get_timeout` stops at its deadline.
//! - Allocation: creating a pool allocates the slab (committed lazily) and
//!   the ring of free indices (16 bytes per buffer, written at creation, so
//!   committed at once: 32 GiB at capacity 2^31). With caching on, a
//!   thread's first get or return on a pool allocates its cache (four heap
//!   allocations: the cache, its slots, and an entry in the thread's and the
//!   pool's lists); nothing else allocates after creation.

mod cache;
mod config;
mod guard;

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::size_of;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use config::{MAX_THREAD_CACHE, PoolConfig, PoolStats, default_thread_cache};
pub use guard::{BufIndex, OwnedPooled, Pooled};

use crate::mem::{AlignedMem, MapOptions, page_size};
use crate::progress::{Adapt, Spin};
use crate::ring::{MAX_CAPACITY, Ring};
use crate::sync::{AtomicU64, Ordering};
use crate::{
    BigBuffer, BufferTier, Error, GiantBuffer, GreatBuffer, HugeBuffer, LargeBuffer, MediumBuffer,
    MicroBuffer, NanoBuffer, PicoBuffer, RegisterBuffer, SmallBuffer, TitanBuffer, VastBuffer,
};

/// A bounded, lock-free pool of `capacity` items of type `T`.
///
/// - **Bounded**: `capacity` items (rounded up to a power of two, at most
///   2^31), allocated once at creation. After that only a thread's first use
///   of a pool with caching on allocates (its cache; see the
///   [module docs](self)).
/// - **Non-blocking** `try_get` and returns: lock-free with caching off; with
///   thread caches on, cache misses take short per-cache and per-pool locks
///   (never a sleep on an empty pool). `get` escalates from spinning to
///   sleeping. See the [module docs](self) for exactly when.
/// - **Page-aligned**: one contiguous slab, buffer `i` at `i * size_of::<T>()`,
///   committed lazily, so a large pool costs memory only as buffers are
///   written. The ring of free indices (16 bytes per buffer) is committed
///   at creation.
/// - **Exclusive**: the ring's cycle tags make sure no buffer is ever handed
///   to two holders at once (loom-checked and stress-tested).
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
    /// Ring, sleepers and magazines: a heap allocation of its own, at a
    /// stable address, that thread caches point to. Owned through a raw
    /// pointer, not a `Box`: other threads' magazines keep `&Shared`
    /// borrows into it (flushing at thread exit) while the pool moves or
    /// drops, which a `Box`'s uniqueness would forbid. Freed in `Drop`, after
    /// every magazine is detached.
    shared: NonNull<Shared>,
    slab: Slab<T>,
    /// Distinguishes this pool's tokens from every other pool's.
    id: u32,
    /// Indices per thread cache; 0 turns caching off.
    cache_capacity: u32,
    zero_on_return: bool,
    waits: AtomicU64,
    timeouts: AtomicU64,
}

// SAFETY: the pool owns its items; moving it to another thread moves them,
// which needs `T: Send`.
unsafe impl<T: Send> Send for BoundedPool<T> {}
// SAFETY: through `&BoundedPool` a thread reaches an item only while it
// holds that item's index alone (I1), via a guard or a token, and tokens
// are not Sync; so items move between threads but are never shared, which
// needs `T: Send` only (as for `Mutex<T>`).
unsafe impl<T: Send> Sync for BoundedPool<T> {}

/// The part of a pool that thread caches reach: it must not move.
pub(crate) struct Shared {
    ring: Ring,
    adapt: Adapt,
    /// Every thread's magazine for this pool.
    magazines: Mutex<Vec<Arc<cache::Magazine>>>,
}

impl Shared {
    /// Makes and lists a magazine for the calling thread. Under the
    /// registry lock, so that it starts marked `WAIT` exactly when getters
    /// sleep (they mark and unmark magazines under the same lock).
    fn register(&self, pool_id: u32, capacity: u32) -> Arc<cache::Magazine> {
        let mut magazines = self.magazines.lock().unwrap_or_else(|e| e.into_inner());
        // Drop the magazines of threads that exited (already flushed).
        magazines.retain(|m| !m.is_retired());
        let waiting = self.adapt.waiters() != 0;
        let magazine = cache::Magazine::new(self, pool_id, capacity, waiting);
        magazines.push(magazine.clone());
        magazine
    }

    /// Moves the indices idle in other threads' magazines to the ring (so
    /// that every getter can have them) and takes one. The liveness
    /// mechanism: see `cache.rs`.
    ///
    /// A sleeping getter (`waiting`) also marks every magazine `WAIT`, so
    /// that their owners' returns go to the ring until no getter sleeps.
    #[cold]
    fn steal(&self, own: Option<*const cache::Magazine>, waiting: bool) -> Option<u32> {
        let mut magazines = self.magazines.lock().unwrap_or_else(|e| e.into_inner());
        magazines.retain(|m| !m.is_retired());
        for magazine in magazines.iter() {
            if Some(Arc::as_ptr(magazine)) == own {
                continue;
            }
            if waiting || magazine.len() > 0 {
                let mut mag = magazine.lock_as_thief();
                if waiting {
                    mag.set_waiting(true);
                }
                mag.drain();
            }
        }
        drop(magazines);
        self.ring.dequeue()
    }

    /// After a getter stopped waiting: if none waits any more, let the
    /// owners cache their returns again.
    #[cold]
    fn stop_waiting(&self) {
        let magazines = self.magazines.lock().unwrap_or_else(|e| e.into_inner());
        // Under the registry lock: a getter that starts waiting now counts
        // itself first and marks magazines under this lock after us.
        if self.adapt.waiters() != 0 {
            return;
        }
        for magazine in magazines.iter() {
            magazine.lock().set_waiting(false);
        }
    }

    /// Magazines listed now (live threads, plus exited ones not yet pruned).
    fn magazine_count(&self) -> usize {
        let mut magazines = self.magazines.lock().unwrap_or_else(|e| e.into_inner());
        magazines.retain(|m| !m.is_retired());
        magazines.len()
    }

    /// Indices idle in magazines (racy under concurrency).
    fn cached(&self) -> usize {
        let magazines = self.magazines.lock().unwrap_or_else(|e| e.into_inner());
        magazines.iter().map(|m| m.len()).sum()
    }
}

/// The items: `capacity` values of `T` in one aligned allocation.
struct Slab<T> {
    /// Owns the bytes behind `base`; freed when the slab drops.
    _mem: AlignedMem,
    base: NonNull<T>,
    capacity: usize,
    /// Owns `capacity` values of `T` and hands out `&mut T` through `&self`
    /// (to the holder of an index), as a `Mutex<T>` does: so `T` must be
    /// invariant, or `&Slab<&'static U>` would coerce to `&Slab<&'short U>`
    /// and let a short-lived reference be stored for a long-lived reader.
    /// `UnsafeCell` makes it so (and tells drop check that `T`s are owned).
    _items: PhantomData<UnsafeCell<T>>,
}

impl<T> Slab<T> {
    fn alloc(capacity: usize, opts: MapOptions) -> Result<Self, Error> {
        let len = capacity.checked_mul(size_of::<T>()).ok_or_else(|| {
            Error::invalid(format!(
                "{capacity} items of {} bytes overflow usize",
                size_of::<T>()
            ))
        })?;
        let align = page_size().max(align_of::<T>());
        let mut mem = AlignedMem::with_options(len, align, opts)?;
        let base = NonNull::new(mem.as_mut_ptr().cast::<T>()).expect("AlignedMem is non-null");
        Ok(Slab {
            _mem: mem,
            base,
            capacity,
            _items: PhantomData,
        })
    }

    /// A pointer to item `i`.
    fn item(&self, i: u32) -> *mut T {
        let i = i as usize;
        debug_assert!(i < self.capacity, "index {i} >= capacity {}", self.capacity);
        // SAFETY: `i < capacity` (I3), so the offset stays inside the
        // allocation of `capacity * size_of::<T>()` bytes.
        unsafe { self.base.as_ptr().add(i) }
    }
}

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

/// The ring size for a requested capacity: a power of two in `1..=2^31`.
fn ring_capacity(requested: usize) -> Result<usize, Error> {
    if requested == 0 || requested > MAX_CAPACITY {
        return Err(Error::InvalidCapacity { requested });
    }
    Ok(requested.next_power_of_two())
}

impl<T: BufferTier> BoundedPool<T> {
    /// A pool of `capacity` zeroed buffers (rounded up to a power of two).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCapacity`] unless `1 <= capacity <= 2^31`;
    /// [`Error::Alloc`] if the memory cannot be had.
    ///
    /// ```
    /// let pool = iobuf::LargeBufferPool::new(100)?;
    /// assert_eq!(pool.capacity(), 128);
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
    /// As [`new`](Self::new); also [`Error::Alloc`] when
    /// [`lock_memory`](PoolConfig::lock_memory) exceeds `RLIMIT_MEMLOCK`.
    pub fn with_config(capacity: usize, config: PoolConfig) -> Result<Self, Error> {
        let capacity = ring_capacity(capacity)?;
        // Zeroed memory is a valid T: BufferTier types are plain bytes.
        let slab = Slab::alloc(capacity, config.map_options())?;
        Self::from_slab(slab, config.zero_on_return, config.thread_cache)
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
    /// A pool of `capacity` items (rounded up to a power of two), item `i`
    /// made by `make(i)`. Works for any `T`, not only buffers.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new). If `make` panics, the items made so far are
    /// dropped and the panic goes on.
    ///
    /// ```
    /// let pool = iobuf::BoundedPool::from_fn(3, |i| vec![i as u8; 16])?;
    /// assert_eq!(pool.capacity(), 4);
    /// let v = pool.get();
    /// assert_eq!(v[0], 0);
    /// # Ok::<(), iobuf::Error>(())
    /// ```
    pub fn from_fn(capacity: usize, mut make: impl FnMut(usize) -> T) -> Result<Self, Error> {
        let capacity = ring_capacity(capacity)?;
        let slab = Slab::<T>::alloc(capacity, MapOptions::default())?;
        /// Drops the items made so far if `make` panics.
        struct Filled<'a, T> {
            slab: &'a Slab<T>,
            count: usize,
        }
        impl<T> Drop for Filled<'_, T> {
            fn drop(&mut self) {
                for i in 0..self.count {
                    // SAFETY: items 0..count were written and not dropped.
                    unsafe { self.slab.item(i as u32).drop_in_place() };
                }
            }
        }
        let mut filled = Filled {
            slab: &slab,
            count: 0,
        };
        for i in 0..capacity {
            let value = make(i);
            // SAFETY: `i < capacity`; the slot is uninitialised (written once,
            // here), aligned and inside the slab.
            unsafe { slab.item(i as u32).write(value) };
            filled.count += 1;
        }
        std::mem::forget(filled);
        Self::from_slab(slab, false, None)
    }

    fn from_slab(
        slab: Slab<T>,
        zero_on_return: bool,
        thread_cache: Option<usize>,
    ) -> Result<Self, Error> {
        let id = next_pool_id()?;
        let requested = thread_cache
            .unwrap_or_else(|| config::default_thread_cache(slab.capacity))
            .min(slab.capacity)
            .min(config::MAX_THREAD_CACHE) as u32;
        // The owner's fast path relies on `membarrier(2)` for thieves; where
        // it is missing, caching is off (a full fence per operation would
        // cost more than the ring).
        let cache_capacity = if requested != 0 && crate::fence::light_side_is_cheap() {
            requested
        } else {
            0
        };
        let shared = Box::new(Shared {
            ring: Ring::new_full(slab.capacity),
            adapt: Adapt::new(),
            magazines: Mutex::new(Vec::new()),
        });
        Ok(BoundedPool {
            shared: NonNull::from(Box::leak(shared)),
            slab,
            id,
            cache_capacity,
            zero_on_return,
            waits: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
        })
    }

    /// The ring, sleepers and magazines.
    #[inline(always)]
    fn shared(&self) -> &Shared {
        // SAFETY: `shared` points to the `Shared` leaked in `from_slab`,
        // freed only in `Drop`, so it is valid while `&self` is; it is only
        // ever borrowed shared (never `&mut`).
        unsafe { self.shared.as_ref() }
    }

    /// The number of buffers.
    pub fn capacity(&self) -> usize {
        self.slab.capacity
    }

    /// The number of buffers held by no user: in the shared ring or idle
    /// in any thread's cache.
    ///
    /// Exact when no other thread is using the pool; under concurrency a
    /// racy estimate. A thread that is exiting counts as using it: while it
    /// moves its cache to the ring, those buffers may be missed. (Joining
    /// the thread waits for that.) It counts the ring slot by slot:
    /// O(capacity).
    pub fn available(&self) -> usize {
        self.shared().ring.len() + self.shared().cached()
    }

    /// Buffers per thread cache (0: caching is off); see
    /// [`PoolConfig::thread_cache`]. Caching is also off where the OS lacks
    /// `membarrier(2)` (Linux before 4.14, or a seccomp filter that denies it).
    pub fn thread_cache_capacity(&self) -> usize {
        self.cache_capacity as usize
    }

    /// A snapshot of the pool's state and slow-path counters.
    pub fn stats(&self) -> PoolStats {
        let available = self.available();
        PoolStats {
            capacity: self.capacity(),
            available,
            in_use: self.capacity() - available.min(self.capacity()),
            waiting: self.shared().adapt.waiters(),
            cached: self.shared().cached(),
            thread_caches: self.shared().magazine_count(),
            // ORDERING: Relaxed: statistics; no edge is needed.
            waits: self.waits.load(Ordering::Relaxed),
            // ORDERING: Relaxed: statistics.
            timeouts: self.timeouts.load(Ordering::Relaxed),
        }
    }

    /// Takes a buffer if one is free, without waiting for a return.
    ///
    /// Lock-free with caching off; with thread caches on, a miss may take
    /// short locks and the thread's first call allocates its cache (see the
    /// [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when every buffer is held.
    #[inline]
    pub fn try_get(&self) -> Result<Pooled<'_, T>, Error> {
        match self.pop_cached() {
            Some(i) => Ok(Pooled::new(self, i)),
            None => self.try_get_slow(),
        }
    }

    #[cold]
    #[inline(never)]
    fn try_get_slow(&self) -> Result<Pooled<'_, T>, Error> {
        self.strike()
            .map(|i| Pooled::new(self, i))
            .ok_or(Error::WouldBlock)
    }

    /// Takes a buffer, waiting as long as it takes for one to be returned:
    /// strike, spin, then sleep until a return wakes it.
    #[inline]
    pub fn get(&self) -> Pooled<'_, T> {
        match self.pop_cached() {
            Some(i) => Pooled::new(self, i),
            None => self.get_slow(),
        }
    }

    #[cold]
    #[inline(never)]
    fn get_slow(&self) -> Pooled<'_, T> {
        Pooled::new(self, self.acquire(None).expect("no deadline"))
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
        self.acquire(deadline(timeout))
            .map(|i| Pooled::new(self, i))
            .ok_or(Error::TimedOut)
    }

    /// As [`get`](Self::get), for an `Arc`-shared pool: the guard is
    /// `'static`.
    pub fn get_owned(self: &Arc<Self>) -> OwnedPooled<T> {
        OwnedPooled::new(self.clone(), self.acquire(None).expect("no deadline"))
    }

    /// As [`try_get`](Self::try_get), for an `Arc`-shared pool.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when every buffer is held.
    pub fn try_get_owned(self: &Arc<Self>) -> Result<OwnedPooled<T>, Error> {
        self.strike()
            .map(|i| OwnedPooled::new(self.clone(), i))
            .ok_or(Error::WouldBlock)
    }

    /// As [`get_timeout`](Self::get_timeout), for an `Arc`-shared pool.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when the timeout passed with every buffer held.
    pub fn get_owned_timeout(self: &Arc<Self>, timeout: Duration) -> Result<OwnedPooled<T>, Error> {
        self.acquire(deadline(timeout))
            .map(|i| OwnedPooled::new(self.clone(), i))
            .ok_or(Error::TimedOut)
    }

    /// Takes a buffer as a bare token, without waiting for a return; as
    /// [`try_get`](Self::try_get) for locks and allocation.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when every buffer is held.
    pub fn try_get_index(&self) -> Result<BufIndex, Error> {
        self.strike()
            .map(|i| self.token(i))
            .ok_or(Error::WouldBlock)
    }

    /// Takes a buffer as a bare token, waiting as [`get`](Self::get) does.
    pub fn get_index(&self) -> BufIndex {
        self.token(self.acquire(None).expect("no deadline"))
    }

    /// Takes a buffer as a bare token, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when the timeout passed with every buffer held.
    pub fn get_index_timeout(&self, timeout: Duration) -> Result<BufIndex, Error> {
        self.acquire(deadline(timeout))
            .map(|i| self.token(i))
            .ok_or(Error::TimedOut)
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
        // SAFETY: the token is this pool's (checked) and unique (not Clone,
        // not Sync), so its holder alone reaches the item (I1, I3).
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

    /// The whole of a cache hit, inlined into `get` and `try_get`; anything
    /// else (a miss, an empty magazine, a thief at work) goes out of line.
    ///
    /// Callers hand a `None` to an out-of-line function that builds the
    /// whole result, so nothing stays live across a call and the inlined
    /// part needs no saved registers (measured on the CI machine: 3.6 ->
    /// 3.2 ns per get+put pair through a non-inlined call).
    #[inline(always)]
    fn pop_cached(&self) -> Option<u32> {
        let magazine = cache::front(self.id)?;
        // SAFETY: `front` hands out pointers that stay valid for the
        // current operation (see its docs).
        match unsafe { &*magazine }.pop() {
            cache::Fast::Got(i) => Some(i),
            _ => None,
        }
    }

    /// A Strike: one attempt, without waiting: this thread's cache, then
    /// the ring, then the other threads' caches.
    #[inline]
    fn strike(&self) -> Option<u32> {
        self.pop_cached().or_else(|| self.strike_slow())
    }

    /// `strike` past a cache hit: no caching, a magazine not at the front
    /// of this thread's table (or none yet), or an empty one.
    #[inline(never)]
    fn strike_slow(&self) -> Option<u32> {
        if self.cache_capacity == 0 {
            return self.shared().ring.dequeue();
        }
        match cache::lookup(self.id) {
            cache::Lookup::Found(magazine) => {
                // SAFETY: `lookup` hands out pointers as `front` does.
                if let cache::Fast::Got(i) = unsafe { &*magazine }.pop() {
                    return Some(i);
                }
                self.refill(magazine)
            }
            cache::Lookup::Missing => {
                match cache::attach(self.shared(), self.id, self.cache_capacity) {
                    Some(magazine) => self.refill(magazine),
                    None => self.shared().ring.dequeue().or_else(|| self.steal(None)),
                }
            }
            cache::Lookup::Disabled => self.shared().ring.dequeue().or_else(|| self.steal(None)),
        }
    }

    /// Other threads' caches, when any caching is on.
    fn steal(&self, own: Option<*const cache::Magazine>) -> Option<u32> {
        if self.cache_capacity == 0 {
            return None;
        }
        self.shared().steal(own, false)
    }

    /// This thread's cache is empty (or being stolen from): take a batch
    /// from the ring, keep all but one, and return that one.
    #[cold]
    fn refill(&self, magazine: *const cache::Magazine) -> Option<u32> {
        // SAFETY: as in `strike_slow`.
        let mut mag = unsafe { &*magazine }.lock();
        if let Some(i) = mag.pop_one() {
            return Some(i);
        }
        let first = self.shared().ring.dequeue();
        if first.is_some() {
            for _ in 1..mag.batch() {
                match self.shared().ring.dequeue() {
                    Some(i) => {
                        let kept = mag.push_one(i);
                        debug_assert!(kept, "a refill overflowed an empty magazine");
                    }
                    None => break,
                }
            }
        }
        drop(mag);
        first.or_else(|| self.steal(Some(magazine)))
    }

    /// Strike, spin, adapt; `None` only when `deadline` passed.
    #[inline]
    fn acquire(&self, deadline: Option<Instant>) -> Option<u32> {
        if let Some(i) = self.strike() {
            return Some(i);
        }
        self.acquire_slow(deadline)
    }

    #[cold]
    fn acquire_slow(&self, deadline: Option<Instant>) -> Option<u32> {
        let mut spin = Spin::new();
        while spin.spin() {
            // Poll with loads only; dequeue (which writes the shared head and
            // tail) only once a put has landed.
            if !self.shared().ring.looks_empty() {
                if let Some(i) = self.shared().ring.dequeue() {
                    return Some(i);
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        // ORDERING: Relaxed: a statistic.
        self.waits.fetch_add(1, Ordering::Relaxed);
        // `wait_until` counts us as a waiter before each attempt, so from
        // the first attempt on, a put sees us and sends its buffer to the
        // ring; the attempt steals whatever sat idle in caches before that.
        let caching = self.cache_capacity != 0;
        let got = self.shared().adapt.wait_until(deadline, || {
            self.shared()
                .ring
                .dequeue()
                .or_else(|| caching.then(|| self.shared().steal(None, true)).flatten())
        });
        if caching {
            self.shared().stop_waiting();
        }
        if got.is_none() {
            // ORDERING: Relaxed: a statistic.
            self.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        got
    }

    /// Returns `index`: into this thread's cache if there is room and nobody
    /// waits, else to the ring, waking a sleeper if there is one.
    #[inline]
    pub(crate) fn release(&self, index: u32) {
        // The inlined fast path, as `pop_cached` for gets: everything else
        // continues out of line, as a tail call.
        if !self.zero_on_return {
            if let Some(magazine) = cache::front(self.id) {
                // SAFETY: as in `pop_cached`.
                if let cache::Fast::Done = unsafe { &*magazine }.push(index) {
                    return;
                }
            }
        }
        self.release_slow(index);
    }

    /// `release` past a cache hit: zeroing, a full or missing cache, a
    /// waiter, or no caching at all.
    #[cold]
    #[inline(never)]
    fn release_slow(&self, index: u32) {
        if self.zero_on_return {
            // SAFETY: only pools of `T: BufferTier` turn zeroing on, for which
            // all-zero bytes are a valid value; the releasing holder still
            // owns `index` (I1), so nothing else touches the item.
            unsafe { self.slab.item(index).write_bytes(0, 1) };
        }
        if self.cache_capacity == 0 {
            return self.release_to_ring(index);
        }
        match cache::lookup(self.id) {
            cache::Lookup::Found(magazine) => {
                // SAFETY: `lookup` hands out pointers as `front` does.
                if let cache::Fast::Done = unsafe { &*magazine }.push(index) {
                    return;
                }
                self.spill(magazine, index)
            }
            cache::Lookup::Missing => {
                match cache::attach(self.shared(), self.id, self.cache_capacity) {
                    Some(magazine) => self.spill(magazine, index),
                    None => self.release_to_ring(index),
                }
            }
            cache::Lookup::Disabled => self.release_to_ring(index),
        }
    }

    /// Returns `index` to the ring and wakes a sleeper, if any.
    fn release_to_ring(&self, index: u32) {
        self.shared().ring.enqueue(index);
        self.shared().adapt.notify_one();
    }

    /// This thread's cache is full, being stolen from, or someone waits:
    /// return a batch (or, for waiters, everything) to the ring.
    #[cold]
    fn spill(&self, magazine: *const cache::Magazine, index: u32) {
        // SAFETY: as in `strike_slow`.
        let mut mag = unsafe { &*magazine }.lock();
        if self.shared().adapt.waiters() != 0 {
            drop(mag);
            self.shared().ring.enqueue(index);
            self.shared().adapt.notify_one();
            return;
        }
        if !mag.push_one(index) {
            for _ in 0..mag.batch() {
                match mag.pop_one() {
                    Some(i) => self.shared().ring.enqueue(i),
                    None => break,
                }
            }
            let kept = mag.push_one(index);
            debug_assert!(kept, "a spill left no room");
            self.shared().adapt.notify_one();
        }
    }

    pub(crate) fn item(&self, index: u32) -> *mut T {
        self.slab.item(index)
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

fn deadline(timeout: Duration) -> Option<Instant> {
    // A timeout too long to represent waits forever.
    Instant::now().checked_add(timeout)
}

impl<T> Drop for BoundedPool<T> {
    fn drop(&mut self) {
        // Detach every thread's magazine first: flushes that come later (a
        // thread exiting) must not push into the freed ring. A flush running
        // now holds its magazine's lock and a `&Shared`: `lock()` (not
        // `get_mut()`, which would assert a unique borrow of `Shared`) and
        // each magazine's lock wait for it to finish.
        let magazines = std::mem::take(
            &mut *self
                .shared()
                .magazines
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for magazine in magazines {
            magazine.lock_as_thief().detach();
        }
        // SAFETY: `shared` came from `Box::leak` in `from_slab` and is freed
        // only here. Every magazine is detached (above, under its lock), so
        // no thread holds or can take a `&Shared` any more (`Exclusive::shared`
        // hands one out only while not detached), and `&mut self` excludes
        // this pool's own methods.
        drop(unsafe { Box::from_raw(self.shared.as_ptr()) });
        if std::mem::needs_drop::<T>() {
            for i in 0..self.capacity() {
                // SAFETY: every item was initialised at creation, and no
                // guard outlives the pool (guards borrow it or hold an Arc of
                // it); tokens left over cannot reach it any more.
                unsafe { self.slab.item(i as u32).drop_in_place() };
            }
        }
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

/// A pool of [`PicoBuffer`]s (32 B).
pub type PicoBufferPool = BoundedPool<PicoBuffer>;
/// A pool of [`NanoBuffer`]s (128 B).
pub type NanoBufferPool = BoundedPool<NanoBuffer>;
/// A pool of [`MicroBuffer`]s (512 B).
pub type MicroBufferPool = BoundedPool<MicroBuffer>;
/// A pool of [`SmallBuffer`]s (2 KiB).
pub type SmallBufferPool = BoundedPool<SmallBuffer>;
/// A pool of [`MediumBuffer`]s (8 KiB).
pub type MediumBufferPool = BoundedPool<MediumBuffer>;
/// A pool of [`BigBuffer`]s (32 KiB).
pub type BigBufferPool = BoundedPool<BigBuffer>;
/// A pool of [`LargeBuffer`]s (128 KiB).
pub type LargeBufferPool = BoundedPool<LargeBuffer>;
/// A pool of [`GreatBuffer`]s (512 KiB).
pub type GreatBufferPool = BoundedPool<GreatBuffer>;
/// A pool of [`HugeBuffer`]s (2 MiB).
pub type HugeBufferPool = BoundedPool<HugeBuffer>;
/// A pool of [`VastBuffer`]s (8 MiB).
pub type VastBufferPool = BoundedPool<VastBuffer>;
/// A pool of [`GiantBuffer`]s (32 MiB).
pub type GiantBufferPool = BoundedPool<GiantBuffer>;
/// A pool of [`TitanBuffer`]s (128 MiB).
pub type TitanBufferPool = BoundedPool<TitanBuffer>;
/// A pool of [`RegisterBuffer`]s (128 KiB), for io_uring registration.
pub type RegisterBufferPool = BoundedPool<RegisterBuffer>;
