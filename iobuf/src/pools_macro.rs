//! `buffer_pools!`: the public `macro_rules!` front and the runtime pieces
//! its expansion uses (re-exported, hidden, from `__private`).

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::{BoundedPool, BufferTier, Error, PoolConfig};

/// Declares an application's buffer pools, one line per tier.
///
/// ```
/// mod net {
///     iobuf::buffer_pools! {
///         /// Packet buffers.
///         small: 2KiB x 1024,
///         /// Bulk transfers, zeroed when returned.
///         #[pool(zero_on_return)]
///         large: 128KiB x 64,
///     }
/// }
///
/// net::init()?;                        // create every pool now (else: on first use)
/// let mut buf = net::get(1500).unwrap(); // the smallest entry that holds 1500 bytes
/// assert_eq!(buf.len(), 2048);
/// assert_eq!(buf.name(), "small");
/// buf[..5].copy_from_slice(b"hello");
/// let pool: &'static iobuf::BoundedPool<net::Small> = net::small();
/// assert_eq!(pool.capacity(), 1024);
/// assert!(net::get(200_000).is_none()); // larger than every entry
/// assert_eq!(net::TOTAL_BYTES, 2048 * 1024 + 131072 * 64);
/// # Ok::<(), iobuf::Error>(())
/// ```
///
/// # Syntax
///
/// Each entry is `name: SIZE x COUNT`, separated by commas (a trailing comma
/// is fine):
///
/// - `name` is a snake_case identifier. It cannot be a name the macro
///   emits itself: `init`, `get`, `get_async`, `get_any_async`,
///   `get_timeout`, `try_get`, `try_get_any`, `set_count`, `set_budget`,
///   `stats`, or `buf` (the enum `Buf`); each is a compile error naming it.
/// - `SIZE` is an integer with a unit: `B`, `KiB`, `MiB` or `GiB`, or none
///   (bytes). It is written `2KiB` or `2 KiB`, with `_` separators or in
///   hex: `0x8KiB`. In hex, a bare `B` is a hex digit, so write a byte count
///   in hex without a unit.
/// - `COUNT` is the number of buffers, `1..=2^31`: the pool's exact
///   capacity, as with [`BoundedPool::new`].
/// - Doc comments on an entry document its buffer type and its accessor.
///   Other attributes go on the buffer type.
/// - `#[pool(...)]` sets [`PoolConfig`] options: `zero_on_return`,
///   `huge_pages`, `lock_memory`, `prefault`, `allow_overcommit` (a count
///   whose memory is above the machine's physical memory is then no
///   error, in `set_count` or at creation), and `thread_cache = N`
///   (buffers per thread cache, at most
///   [`MAX_THREAD_CACHE`](crate::pool::MAX_THREAD_CACHE); 0 turns caching
///   off).
///
/// Mistakes are compile errors that point at the offending tokens, all
/// reported together.
///
/// # What it emits
///
/// Into the invoking module, all `pub`:
///
/// - per entry, a buffer type named in UpperCamelCase (`small` → `Small`,
///   `rx_ring` → `RxRing`), a tuple struct over `[u8; SIZE]` deriving
///   [`BufferTier`](crate::BufferTier);
/// - per entry, `fn name() -> &'static BoundedPool<Name>`: the pool,
///   created on first use. If creation fails, it panics, naming the entry
///   and the bytes it asked for; call `init` first to get the error instead;
/// - `fn init() -> Result<(), iobuf::Error>`, which creates every pool now;
/// - `enum Buf`, one variant per entry holding a `Pooled<'static, _>`. It
///   dereferences to `[u8]` and has `len`, `name` and `index`;
/// - `fn get(len) -> Option<Buf>`, which waits for a buffer from the
///   smallest entry that holds `len` bytes. It returns `None` when `len` is
///   larger than every entry;
/// - `async fn get_async(len) -> Option<Buf>`, the same for async code: the
///   task waits in the pool's queue (see [`BoundedPool::get_async`]:
///   cancel-safe, any runtime); `None` only when `len` is too large;
/// - `fn try_get(len) -> Result<Buf, iobuf::Error>`, the same without
///   waiting: [`Error::WouldBlock`] when that entry is empty,
///   [`Error::InvalidArgument`] when `len` is too large;
/// - `fn try_get_any(len)`, as `try_get`, but it falls through to larger
///   entries while the smaller ones are empty;
/// - `fn get_timeout(len, Duration) -> Result<Buf, iobuf::Error>`, which
///   waits at most that long ([`Error::TimedOut`]), and `async fn
///   get_any_async(len)`, which tries every entry large enough before it
///   waits;
/// - `const TOTAL_BYTES: usize`, the sum of `SIZE × COUNT` of the declared
///   counts, checked for overflow at compile time;
/// - sizes at run time, before the pools' first use: `fn set_count(name,
///   count) -> Result<(), iobuf::Error>` (a count read from a configuration
///   replaces the declared one) and `fn set_budget(bytes)` (scales every
///   count by one factor, rounded down, to fit: within one buffer per pool
///   of the budget); both fail, changing nothing, once a pool was created
///   (or is being created) or for a bad name or count (0, above 2^31, or
///   above the machine's memory). They share one lock with the pools'
///   creation: a `set_budget` racing a first use on another thread
///   changes every count or none;
/// - `fn stats() -> [(&str, Option<PoolStats>); N]`: every pool by name,
///   `None` for one not created yet.
///
/// Why `get` returns an `Option` and `try_get` a `Result`: `get` waits, so
/// its only failure is a length no entry holds (`None`); `try_get` can also
/// find the entry empty, and says which. `Buf` shares its name with
/// `bytes::Buf`: with `use bytes::Buf;` and `use pools::*;` both in scope,
/// `Buf` means the trait (the explicit import wins); name the enum
/// `pools::Buf` then.
///
/// ```
/// mod pools {
///     iobuf::buffer_pools! { small: 2KiB x 1024, large: 128KiB x 64 }
/// }
/// // At start-up, from the configuration, before any pool is used:
/// pools::set_count("small", 4096)?;
/// pools::set_budget(64 << 20)?;            // at most 64 MiB in all
/// assert_eq!(pools::small().capacity(), 4096);
/// assert!(pools::set_count("small", 1).is_err()); // created: too late
/// # Ok::<(), iobuf::Error>(())
/// ```
#[macro_export]
macro_rules! buffer_pools {
    ($($body:tt)*) => {
        $crate::__private::__buffer_pools! { $crate; $($body)* }
    };
}

/// The lock one `buffer_pools!` set's sizing and its pools' creation share,
/// so that `set_budget` changes every count or none.
///
/// Under it, a count is set (`set_count`, `set_budget`) and a pool's count
/// is made final (*frozen*) just before the pool is created; the creation
/// itself (allocating the slab, writing the bitmap: slow for a large pool,
/// seconds with `prefault`) runs outside it, so one pool's first use never
/// waits for another pool's creation. A frozen count can no longer change:
/// `set_count` and `set_budget` fail, changing nothing, once any pool of
/// the set they touch is frozen. A creation that fails thaws its count, so
/// a smaller count can be set and tried again.
#[derive(Debug)]
pub struct PoolSet {
    lock: Mutex<()>,
}

impl PoolSet {
    /// A set with no count frozen.
    pub const fn new() -> Self {
        PoolSet {
            lock: Mutex::new(()),
        }
    }

    /// Holds the set's lock (a few loads and stores under it, never a
    /// creation).
    pub fn lock(&self) -> SetGuard<'_> {
        SetGuard {
            set: self,
            // A panic under this lock leaves the members' states whole:
            // each is one atomic store.
            _held: self.lock.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }
}

impl Default for PoolSet {
    fn default() -> Self {
        PoolSet::new()
    }
}

/// Proof that a [`PoolSet`]'s lock is held: what reading and changing its
/// members' counts takes.
#[derive(Debug)]
pub struct SetGuard<'a> {
    set: &'a PoolSet,
    _held: MutexGuard<'a, ()>,
}

/// A pool created on first use, for `buffer_pools!` singletons.
#[derive(Debug)]
pub struct LazyPool<T> {
    cell: OnceLock<BoundedPool<T>>,
    name: &'static str,
    /// The declared count.
    count: usize,
    config: PoolConfig,
    /// The set whose lock guards `configured` and `frozen`.
    set: &'static PoolSet,
    /// A count set at run time (`set_count`, `set_budget`); 0 for none.
    /// Read and written only under the set's lock.
    configured: AtomicUsize,
    /// The count is final: the pool is being or was created with it. Set
    /// under the set's lock by the creator, before it creates the pool;
    /// cleared again (under the lock) if the creation fails.
    frozen: AtomicBool,
    /// Held by the one thread creating the pool; other first uses of this
    /// pool wait on it (not on the set's lock).
    creating: Mutex<()>,
}

impl<T: BufferTier> LazyPool<T> {
    /// A pool of `count` buffers of `T`, named `name` in messages, one of
    /// `set`.
    pub const fn new(
        name: &'static str,
        count: usize,
        config: PoolConfig,
        set: &'static PoolSet,
    ) -> Self {
        LazyPool {
            cell: OnceLock::new(),
            name,
            count,
            config,
            set,
            configured: AtomicUsize::new(0),
            frozen: AtomicBool::new(false),
            creating: Mutex::new(()),
        }
    }

    /// The count the pool is (or will be) created with: set at run time,
    /// or declared. Takes the set's lock while the pool is not created.
    pub fn count(&self) -> usize {
        match self.cell.get() {
            Some(pool) => pool.capacity(),
            None => self.count_locked(&self.set.lock()),
        }
    }

    fn count_locked(&self, set: &SetGuard<'_>) -> usize {
        debug_assert!(std::ptr::eq(set.set, self.set), "another set's lock");
        // ORDERING: Relaxed: read and written only under the set's lock,
        // which orders them.
        match self.configured.load(Relaxed) {
            0 => self.count,
            n => n,
        }
    }

    fn frozen_locked(&self, set: &SetGuard<'_>) -> bool {
        debug_assert!(std::ptr::eq(set.set, self.set), "another set's lock");
        // ORDERING: Relaxed: under the set's lock, as `configured`.
        self.frozen.load(Relaxed)
    }

    /// Sets the number of buffers, before the pool is first used.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the pool was already created (or is
    /// being created), or `count` is 0, above 2^31, or more buffers than
    /// the machine's physical memory holds (unless the entry allows
    /// overcommit).
    pub fn set_count(&self, count: usize) -> Result<(), Error> {
        let set = self.set.lock();
        self.check_count(&set, count)?;
        self.store_count(&set, count);
        Ok(())
    }

    /// Whether `count` may be stored now: the pool's count is not frozen,
    /// and `count` is one the pool can be created with.
    fn check_count(&self, set: &SetGuard<'_>, count: usize) -> Result<(), Error> {
        if self.frozen_locked(set) {
            let when = if self.cell.get().is_some() {
                "was already created"
            } else {
                "is being created"
            };
            return Err(Error::invalid(format!(
                "buffer_pools!: pool `{}` {when} (with {} buffers); set counts before its first \
                 use or `init`",
                self.name,
                self.count_locked(set)
            )));
        }
        if count == 0 || count > crate::bitmap::MAX_CAPACITY {
            return Err(Error::invalid(format!(
                "buffer_pools!: pool `{}` cannot have {count} buffers (1 ..= 2^31)",
                self.name
            )));
        }
        if !self.config.allow_overcommit
            && let Some(why) = crate::pool::beyond_memory(count, T::SIZE)
        {
            return Err(Error::invalid(format!(
                "buffer_pools!: pool `{}`: {why}; set fewer, or allow it with \
                 `#[pool(allow_overcommit)]`",
                self.name
            )));
        }
        Ok(())
    }

    /// Stores a count [`check_count`](Self::check_count) accepted under the
    /// same hold of the lock.
    fn store_count(&self, set: &SetGuard<'_>, count: usize) {
        debug_assert!(!self.frozen_locked(set) && count != 0);
        // ORDERING: Relaxed: under the set's lock, as `count_locked`.
        self.configured.store(count, Relaxed);
    }

    /// The pool, created now if it was not yet.
    ///
    /// # Panics
    ///
    /// If creation fails: the message names the entry and the bytes.
    #[inline]
    pub fn get(&'static self) -> &'static BoundedPool<T> {
        match self.cell.get() {
            Some(pool) => pool,
            None => self.create_or_panic(),
        }
    }

    #[cold]
    fn create_or_panic(&'static self) -> &'static BoundedPool<T> {
        self.init().unwrap_or_else(|err| {
            let count = self.count();
            panic!(
                "buffer_pools!: cannot create pool `{}` ({count} x {} bytes = {} bytes): {err}",
                self.name,
                T::SIZE,
                count.saturating_mul(T::SIZE)
            )
        })
    }

    /// Creates the pool if it was not yet.
    ///
    /// Freezes its count under the set's lock, then creates it outside
    /// that lock: other pools of the set are not held up, and a concurrent
    /// `set_count` or `set_budget` lands wholly before (and is used) or
    /// fails, changing nothing. Concurrent first uses of this pool wait
    /// for the one creating it.
    ///
    /// # Errors
    ///
    /// What [`BoundedPool::with_config`] reports; the count is then thawed,
    /// so it can be changed and creation tried again.
    pub fn init(&'static self) -> Result<&'static BoundedPool<T>, Error> {
        if let Some(pool) = self.cell.get() {
            return Ok(pool);
        }
        // A panic while creating leaves nothing half-done here: the cell is
        // empty and the count thawed (`Thaw`).
        let _creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = self.cell.get() {
            return Ok(pool);
        }
        let count = {
            let set = self.set.lock();
            // ORDERING: Relaxed: under the set's lock, as `configured`.
            self.frozen.store(true, Relaxed);
            self.count_locked(&set)
        };
        let thaw = Thaw(self);
        let pool = BoundedPool::with_config(count, self.config.clone())?;
        std::mem::forget(thaw);
        Ok(self.cell.get_or_init(|| pool))
    }
}

/// Thaws a pool's count if its creation does not finish (an error or a
/// panic), so that it can be set again.
struct Thaw<'a, T>(&'a LazyPool<T>);

impl<T> Drop for Thaw<'_, T> {
    fn drop(&mut self) {
        let _set = self.0.set.lock();
        // ORDERING: Relaxed: under the set's lock, as `configured`.
        self.0.frozen.store(false, Relaxed);
    }
}

/// One pool of a `buffer_pools!` set, whatever its buffer type: what the
/// set's `set_count`, `set_budget` and `stats` go through. The `_locked`
/// methods take the member's set's lock as proof.
pub trait SetMember: Sync {
    /// The entry's name.
    fn name(&self) -> &'static str;
    /// The size of its buffers.
    fn buffer_size(&self) -> usize;
    /// The set it belongs to.
    fn set(&self) -> &'static PoolSet;
    /// The count it has or will be created with.
    fn count_locked(&self, set: &SetGuard<'_>) -> usize;
    /// Whether its count is final (it is being or was created).
    fn frozen_locked(&self, set: &SetGuard<'_>) -> bool;
    /// Whether `count` may be set now ([`LazyPool::set_count`]'s errors).
    fn check_count(&self, set: &SetGuard<'_>, count: usize) -> Result<(), Error>;
    /// Sets a count `check_count` accepted under the same hold of the lock.
    fn store_count(&self, set: &SetGuard<'_>, count: usize);
    /// Its statistics, if it was created.
    fn stats(&self) -> Option<crate::PoolStats>;
}

impl<T: BufferTier> SetMember for LazyPool<T> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn buffer_size(&self) -> usize {
        T::SIZE
    }
    fn set(&self) -> &'static PoolSet {
        self.set
    }
    fn count_locked(&self, set: &SetGuard<'_>) -> usize {
        LazyPool::count_locked(self, set)
    }
    fn frozen_locked(&self, set: &SetGuard<'_>) -> bool {
        LazyPool::frozen_locked(self, set)
    }
    fn check_count(&self, set: &SetGuard<'_>, count: usize) -> Result<(), Error> {
        LazyPool::check_count(self, set, count)
    }
    fn store_count(&self, set: &SetGuard<'_>, count: usize) {
        LazyPool::store_count(self, set, count);
    }
    fn stats(&self) -> Option<crate::PoolStats> {
        self.cell.get().map(BoundedPool::stats)
    }
}

/// `set_count(name, count)` of a set: the member named `name`.
pub fn set_count(members: &[&dyn SetMember], name: &str, count: usize) -> Result<(), Error> {
    match members.iter().find(|m| m.name() == name) {
        Some(m) => {
            let set = m.set().lock();
            m.check_count(&set, count)?;
            m.store_count(&set, count);
            Ok(())
        }
        None => {
            let names: Vec<_> = members.iter().map(|m| m.name()).collect();
            Err(Error::invalid(format!(
                "buffer_pools!: no pool named `{name}`; the pools are {}",
                names.join(", ")
            )))
        }
    }
}

/// `set_budget(bytes)` of a set: if the pools' total is above `bytes`,
/// scales every count by one factor so that the total fits (see `fit`).
/// All or nothing: under the set's lock, it checks that no pool's count is
/// frozen and that every new count is valid before it stores any.
pub fn set_budget(members: &[&dyn SetMember], bytes: usize) -> Result<(), Error> {
    let Some(first) = members.first() else {
        return Ok(());
    };
    let set = first.set().lock();
    debug_assert!(members.iter().all(|m| std::ptr::eq(m.set(), first.set())));
    if let Some(m) = members.iter().find(|m| m.frozen_locked(&set)) {
        return Err(Error::invalid(format!(
            "buffer_pools!: pool `{}` was already created (or is being created); set the \
             budget before any pool's first use or `init`",
            m.name()
        )));
    }
    let sizes: Vec<usize> = members.iter().map(|m| m.buffer_size()).collect();
    let counts: Vec<usize> = members.iter().map(|m| m.count_locked(&set)).collect();
    let scaled = fit(&sizes, &counts, bytes).ok_or_else(|| {
        let least: u128 = sizes.iter().map(|&s| s as u128).sum();
        Error::invalid(format!(
            "buffer_pools!: a budget of {bytes} bytes cannot hold one buffer of every pool \
             ({least} bytes)"
        ))
    })?;
    for (m, &c) in members.iter().zip(&scaled) {
        m.check_count(&set, c)?;
    }
    for (m, &c) in members.iter().zip(&scaled) {
        m.store_count(&set, c);
    }
    Ok(())
}

/// Counts of buffers of `sizes` bytes that fit in `bytes`, from `counts`
/// that may not: unchanged if they fit; else each count scaled by one
/// factor `k / total` and rounded down, at least 1, with `k` the largest at
/// or below `bytes` whose counts fit (`total`: the bytes of `counts`).
/// Normally `k` is `bytes`: each count is its proportional share rounded
/// down, within one buffer of it, and the budget is filled to within one
/// buffer per pool. Only where pools shrink to their one buffer (a share
/// below one) and that pushes the total over is `k` lower: the other pools
/// give up the difference. `None` if one buffer each is already too much.
pub(crate) fn fit(sizes: &[usize], counts: &[usize], bytes: usize) -> Option<Vec<usize>> {
    let bytes = bytes as u128;
    let sum = |counts: &[usize]| -> u128 {
        sizes
            .iter()
            .zip(counts)
            .map(|(&s, &c)| s as u128 * c as u128)
            .sum()
    };
    let total = sum(counts);
    if total <= bytes {
        return Some(counts.to_vec());
    }
    // Below `total`, `c * k / total < c <= 2^31`, so it fits a usize; and
    // `c * k < 2^31 * 2^64` fits a u128.
    let at = |k: u128| -> Vec<usize> {
        counts
            .iter()
            .map(|&c| ((c as u128 * k / total) as usize).max(1))
            .collect()
    };
    let fits = |k: u128| sum(&at(k)) <= bytes;
    if fits(bytes) {
        return Some(at(bytes));
    }
    if !fits(0) {
        return None;
    }
    // The counts only grow with `k`: bisect between a `k` that fits (`lo`)
    // and one that does not (`hi`).
    let (mut lo, mut hi) = (0, bytes);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(at(lo))
}

/// A buffer type declared by `buffer_pools!`, with its singleton.
pub trait DeclaredPool: BufferTier {
    /// The singleton of this type's pool.
    fn lazy() -> &'static LazyPool<Self>;
}

/// `Debug` for declared buffer types: name and length, never the bytes.
pub fn debug_buffer(f: &mut fmt::Formatter<'_>, name: &str, len: usize) -> fmt::Result {
    f.debug_struct(name)
        .field("len", &len)
        .finish_non_exhaustive()
}

/// The error of `try_get(len)` for a `len` no entry holds.
pub fn too_large(len: usize, largest: usize) -> Error {
    Error::invalid(format!(
        "no declared pool holds {len} bytes; the largest holds {largest}"
    ))
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn a_budget_is_filled_to_within_one_buffer_per_pool() {
        // Shares with fractions: 100 000 x 2 KiB + 1000 x 128 KiB into 64 MiB.
        let (sizes, counts, bytes) = ([2048, 131_072], [100_000, 1000], 64 << 20);
        let got = fit(&sizes, &counts, bytes).unwrap();
        let total: usize = sizes.iter().zip(&got).map(|(s, c)| s * c).sum();
        assert!(total <= bytes, "{got:?}: {total}");
        assert!(bytes - total < 2048 + 131_072, "{got:?}: {total}");
        let all: usize = sizes.iter().zip(&counts).map(|(s, c)| s * c).sum();
        for (&c, &g) in counts.iter().zip(&got) {
            let share = c as f64 * bytes as f64 / all as f64;
            assert!(
                g as f64 <= share && share - (g as f64) < 1.0,
                "{g} for {share}"
            );
        }
        assert_eq!(got, [19_980, 199]);
    }

    #[test]
    fn counts_that_fit_stay_and_one_each_is_the_floor() {
        assert_eq!(fit(&[10, 20], &[3, 5], 130), Some(vec![3, 5]));
        assert_eq!(fit(&[10, 20], &[3, 5], 30), Some(vec![1, 1]));
        assert_eq!(fit(&[10, 20], &[3, 5], 29), None);
    }

    #[test]
    fn pools_held_at_one_buffer_leave_the_rest_to_the_others() {
        // The small pool's share is half a buffer, so it keeps one; the
        // large pool's share, 50, no longer fits beside it: 49.
        let (sizes, counts) = ([2048, 131_072], [1, 100]);
        let bytes = 131_072 * 50 + 1024;
        assert_eq!(fit(&sizes, &counts, bytes), Some(vec![1, 49]));
    }
}
