//! Pool options and statistics.

use crate::buffer::BufferTier;
use crate::error::Error;
use crate::mem::MapOptions;

/// How a [`BoundedPool`](crate::BoundedPool) is built and behaves.
///
/// Start from [`PoolConfig::new`] (everything off) and switch options on
/// with the builder methods; the fields are public for reading and
/// adjusting.
///
/// ```
/// use iobuf::{PoolConfig, SmallBufferPool};
///
/// let config = PoolConfig::new().zero_on_return(true).prefault(true);
/// let pool = SmallBufferPool::with_config(1, config)?;
/// let mut buf = pool.get();
/// buf.0[0] = 0xFF;
/// drop(buf); // zeroed on its way back
/// assert_eq!(pool.get().0[0], 0);
/// # Ok::<(), iobuf::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Zero every buffer when it is returned, so no holder sees another's
    /// data. Costs a `memset` of the buffer on each return.
    pub zero_on_return: bool,
    /// Ask for transparent huge pages for the slab (always done from 2 MiB
    /// up; this asks for it for smaller slabs too).
    pub huge_pages: bool,
    /// Lock the slab in RAM (`mlock`), so buffers never page out.
    /// Creation fails with [`Error::Alloc`](crate::Error::Alloc) when the
    /// slab exceeds `RLIMIT_MEMLOCK`.
    pub lock_memory: bool,
    /// Commit every page of the slab at creation, so first use pays no page
    /// faults (otherwise pages are committed as buffers are first written).
    pub prefault: bool,
    /// Buffers each thread may keep in its own cache (0: no caching), at
    /// most [`MAX_THREAD_CACHE`] (more is an [`Error::InvalidArgument`] at
    /// creation) and never more than the pool's capacity (a larger value is
    /// lowered to it). `None` picks [`default_thread_cache`]: a sixteenth
    /// of the capacity, at most 256, and no caching below 64 buffers, where
    /// caches would strand most of the pool. Where `membarrier(2)` is
    /// missing (not Linux, or refused) caching is off whatever this says:
    /// the owner's fast path would need a full fence per operation, which
    /// costs more than the shared bitmap.
    pub thread_cache: Option<usize>,
    /// Create the pool even when its buffers (with the free-index bitmap)
    /// need more bytes than the machine's physical memory. Off, such a
    /// pool is an [`Error::InvalidArgument`](crate::Error::InvalidArgument)
    /// at creation: usually a mistyped count, which would otherwise surface
    /// as an out-of-memory much later. On, for a deliberate overcommit: the
    /// slab is committed lazily, so a pool whose buffers are never all
    /// written at once can exceed RAM (the bitmap, 4 bytes per buffer, is
    /// still committed at creation). With [`lock_memory`](Self::lock_memory)
    /// or [`prefault`](Self::prefault) the whole slab is committed at
    /// creation, so what the machine cannot back fails then
    /// ([`Error::Alloc`](crate::Error::Alloc), or the OS's out-of-memory
    /// handling) whatever this says.
    pub allow_overcommit: bool,
}

/// The largest thread cache: the one limit that [`PoolConfig::thread_cache`]
/// and `buffer_pools!`' `#[pool(thread_cache = N)]` both enforce.
pub const MAX_THREAD_CACHE: usize = 4096;

/// The default per-thread cache size for a pool of `capacity` buffers: a
/// sixteenth of the pool, at most 256; off (0) below 64 buffers.
///
/// ```
/// use iobuf::pool::default_thread_cache;
/// assert_eq!(default_thread_cache(16), 0);
/// assert_eq!(default_thread_cache(1024), 64);
/// assert_eq!(default_thread_cache(1 << 20), 256);
/// ```
pub const fn default_thread_cache(capacity: usize) -> usize {
    if capacity < 64 {
        0
    } else if capacity / 16 > 256 {
        256
    } else {
        capacity / 16
    }
}

impl PoolConfig {
    /// Every option off: buffers are returned as they are, and memory is
    /// committed lazily.
    pub const fn new() -> Self {
        PoolConfig {
            zero_on_return: false,
            huge_pages: false,
            lock_memory: false,
            prefault: false,
            thread_cache: None,
            allow_overcommit: false,
        }
    }

    /// Sets [`zero_on_return`](Self::zero_on_return).
    #[must_use = "builder methods return the changed config"]
    pub const fn zero_on_return(mut self, on: bool) -> Self {
        self.zero_on_return = on;
        self
    }

    /// Sets [`huge_pages`](Self::huge_pages).
    #[must_use = "builder methods return the changed config"]
    pub const fn huge_pages(mut self, on: bool) -> Self {
        self.huge_pages = on;
        self
    }

    /// Sets [`lock_memory`](Self::lock_memory).
    #[must_use = "builder methods return the changed config"]
    pub const fn lock_memory(mut self, on: bool) -> Self {
        self.lock_memory = on;
        self
    }

    /// Sets [`prefault`](Self::prefault).
    #[must_use = "builder methods return the changed config"]
    pub const fn prefault(mut self, on: bool) -> Self {
        self.prefault = on;
        self
    }

    /// Sets [`thread_cache`](Self::thread_cache): each thread keeps up to
    /// `buffers` in its own cache (0 turns caching off). Above
    /// [`MAX_THREAD_CACHE`], creating the pool fails.
    ///
    /// Where `membarrier(2)` is missing, caching stays off whatever this
    /// says (see [`thread_cache`](Self::thread_cache)).
    ///
    /// # Choosing a size
    ///
    /// Where the same threads both get and return (a worker that reads
    /// into a buffer, uses it, drops it), a cache that holds each thread's
    /// working set keeps nearly every get and put off the shared bitmap,
    /// even when the pool runs dry: a thread that needs a buffer cached by
    /// a descheduled thread takes it from that cache. In the benchmark
    /// `threads/exhausted` (`cargo bench -p iobuf-benches --bench async --
    /// threads/exhausted`, 2 vCPUs), 4 threads cycling one buffer each
    /// through a pool of 2 ran 11 to 14 times faster with `thread_cache(1)`
    /// than with the default (no cache below 64 buffers), and 8 threads
    /// holding 8 each of 64 buffers 6 to 10 times faster with
    /// `thread_cache(8)` than with the default 4 (three runs).
    ///
    /// Where one thread gets and another returns (a producer and a
    /// consumer), the returns collect in the consumer's cache, and each get
    /// that finds the bitmap empty must take them from there, which costs a
    /// `membarrier(2)` system call: keep a small pool's cache off (the
    /// default below 64 buffers).
    #[must_use = "builder methods return the changed config"]
    pub const fn thread_cache(mut self, buffers: usize) -> Self {
        self.thread_cache = Some(buffers);
        self
    }

    /// Sets [`allow_overcommit`](Self::allow_overcommit): create the pool
    /// even when it needs more memory than the machine has.
    ///
    /// ```
    /// use iobuf::{Error, PoolConfig, SmallBufferPool};
    ///
    /// // 2^31 buffers of 2 KiB: 4 TiB, more than this machine has.
    /// let err = SmallBufferPool::new(1 << 31).unwrap_err();
    /// assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    /// assert!(err.to_string().contains("physical memory"), "{err}");
    /// // Allowed, the check is skipped (creating it would still commit an
    /// // 8 GiB bitmap, so this example stops here).
    /// let config = PoolConfig::new().allow_overcommit(true);
    /// assert!(config.allow_overcommit);
    /// ```
    #[must_use = "builder methods return the changed config"]
    pub const fn allow_overcommit(mut self, on: bool) -> Self {
        self.allow_overcommit = on;
        self
    }

    pub(crate) fn map_options(&self) -> MapOptions {
        MapOptions {
            huge_pages: self.huge_pages,
            populate: self.prefault,
            lock: self.lock_memory,
        }
    }
}

/// A [`PoolConfig`] resolved once, at creation, for one pool: what the
/// pool consults afterwards.
pub(super) struct Settings<T> {
    /// Indices per thread cache, after the default, the capacity and the
    /// platform (`membarrier`) had their say; 0 turns caching off.
    pub(super) cache_capacity: u32,
    /// Zeroes an item on its way back. Only [`Settings::for_buffers`] (for
    /// `T: BufferTier`, whose every byte pattern is valid) can set it, and
    /// it is safe code: zeroing needs no proof of its own.
    pub(super) zero: Option<fn(&mut T)>,
}

impl<T> Settings<T> {
    /// Settings for a pool of any `T`: never zeroes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a thread cache above
    /// [`MAX_THREAD_CACHE`].
    pub(super) fn resolve(config: &PoolConfig, capacity: usize) -> Result<Self, Error> {
        let requested = config
            .thread_cache
            .unwrap_or_else(|| default_thread_cache(capacity));
        if requested > MAX_THREAD_CACHE {
            return Err(Error::invalid(format!(
                "a thread cache of {requested} buffers is above MAX_THREAD_CACHE ({MAX_THREAD_CACHE})"
            )));
        }
        // The owner's fast path relies on an asymmetric fence for thieves;
        // where the light side would cost a full fence per operation,
        // caching is off (it would cost more than the bitmap).
        let cache_capacity = if crate::fence::light_side_is_cheap() {
            requested.min(capacity) as u32
        } else {
            0
        };
        Ok(Settings {
            cache_capacity,
            zero: None,
        })
    }
}

impl<T: BufferTier> Settings<T> {
    /// Settings for a pool of buffers: zeroing as configured.
    pub(super) fn for_buffers(config: &PoolConfig, capacity: usize) -> Result<Self, Error> {
        let mut settings = Settings::resolve(config, capacity)?;
        if config.zero_on_return {
            settings.zero = Some(|item: &mut T| item.as_bytes_mut().fill(0));
        }
        Ok(settings)
    }
}

/// A snapshot of a pool's state and slow-path counters.
///
/// `available` and `in_use` are exact when no other thread is using the
/// pool; under concurrency they are a racy estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// The number of buffers.
    pub capacity: usize,
    /// Buffers held by no user.
    pub available: usize,
    /// Buffers held by users (`capacity - available`), including those
    /// frozen into `bytes::Bytes` (`Filled::freeze`)
    /// and those lent to io_uring provided-buffer rings.
    pub in_use: usize,
    /// Of `in_use`, the buffers sitting in io_uring provided-buffer rings
    /// (`iobuf::uring::BufRing`), waiting for the kernel to pick them.
    pub provided: usize,
    /// Getters queued right now, waiting for a buffer: blocking gets
    /// asleep and `get_async` futures pending (see `waits`).
    pub waiting: usize,
    /// Of `available`, the buffers idle in threads' caches.
    pub cached: usize,
    /// Thread caches the pool tracks: one per thread that used it, dropped
    /// after the thread exits.
    pub thread_caches: usize,
    /// Getters that found the pool empty and queued to wait:
    /// `thread_waits + task_waits`.
    pub waits: u64,
    /// Blocking gets (`get`, `get_timeout`, …) that found the pool empty
    /// after spinning and went to sleep in the queue.
    pub thread_waits: u64,
    /// `get_async` futures (and their `_owned`/`_index` twins) that found
    /// the pool empty and returned `Pending`, queued.
    pub task_waits: u64,
    /// Blocking gets whose deadline (`get_timeout`) passed before a buffer
    /// came back.
    pub timeouts: u64,
    /// Queued futures dropped before they completed (a `select!`, a
    /// `tokio::time::timeout`); a buffer handed to one went on to the
    /// next waiter.
    pub cancellations: u64,
    /// Gets served by the getting thread's own cache (the fast path;
    /// counted there with a plain load and store, no atomic RMW).
    pub cache_hits: u64,
    /// Gets served by the shared bitmap of free buffers with no thread
    /// cache involved (caching off, or a thread that is exiting).
    pub shared_gets: u64,
    /// Gets that refilled the thread's cache from the bitmap (one batch
    /// moved per refill).
    pub refill_gets: u64,
    /// Gets served after moving other threads' idle cached buffers to the
    /// bitmap (a steal: the pool looked empty to this thread's cache).
    pub steal_gets: u64,
    /// `try_get` (and its `_owned`/`_index` twins, and the set's
    /// `try_get`) calls that found the pool empty (`WouldBlock`).
    pub try_get_failures: u64,
    /// Queued waits (threads and tasks, whatever their end: a buffer, a
    /// timeout, a cancellation) by how long they lasted: bucket `i` counts
    /// waits of at most [`WAIT_BOUNDS_MICROS`](Self::WAIT_BOUNDS_MICROS)`[i]`
    /// microseconds and more than the bound before it (not cumulative);
    /// the last bucket counts the waits longer than 1 s. Their sum is
    /// `waits` once no wait is in progress (a cancelled wait is one of the
    /// `waits`, counted once). A wait lasts from its getter's queueing to
    /// its leaving the queue: handed a returned buffer, or leaving with one
    /// it found free, on its timeout, or cancelled. A task's wait ends when
    /// a return hands it its buffer, not when its executor next polls it.
    /// Where Linux keeps time with the CPU's time-stamp counter (clocksource
    /// `tsc`), waits are timed with that counter (one `rdtsc` at each end,
    /// scaled to nanoseconds against `Instant` over the process's first
    /// millisecond of waiting); elsewhere with `Instant`. The first queued
    /// wait of the process reads one sysfs file to decide.
    pub wait_histogram: [u64; 7],
    /// The summed lengths, in nanoseconds, of the waits each bucket of
    /// [`wait_histogram`](Self::wait_histogram) counts (wrapping after
    /// 2^64 ns, 584 years of waiting). The two arrays come from the same
    /// set of finished waits, so `wait_nanos[i] / wait_histogram[i]` is the
    /// mean length of a wait in bucket `i`, within its bounds.
    pub wait_nanos: [u64; 7],
    /// The most buffers in use at once, as far as the pool saw: all of
    /// them once a getter found the pool empty (a failed `try_get`, a
    /// queued wait), else the largest `in_use` a `stats` call read. A
    /// lower bound between `stats` calls (tracking every get exactly would
    /// cost the fast path an atomic).
    pub high_water: usize,
}

impl PoolStats {
    /// The upper bounds of [`wait_histogram`](Self::wait_histogram)'s first
    /// six buckets, in microseconds: 10 µs, 100 µs, 1 ms, 10 ms, 100 ms,
    /// 1 s.
    pub const WAIT_BOUNDS_MICROS: [u64; 6] = crate::pool::engine::WAIT_BOUNDS_MICROS;
}
