//! `buffer_pools!`: the public `macro_rules!` front and the runtime pieces
//! its expansion uses (re-exported, hidden, from `__private`).

use std::fmt;
use std::sync::{Mutex, OnceLock};

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
/// - `COUNT` is the number of buffers, `1..=2^31`. As with
///   [`BoundedPool::new`], the pool rounds it up to a power of two.
/// - Doc comments on an entry document its buffer type and its accessor.
///   Other attributes go on the buffer type.
/// - `#[pool(...)]` sets [`PoolConfig`] options: `zero_on_return`,
///   `huge_pages`, `lock_memory`, `prefault`, and `thread_cache = N`
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
///   count down by one factor to fit); both fail, changing nothing, once a
///   pool was created or for a bad name or count;
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

/// A pool created on first use, for `buffer_pools!` singletons.
#[derive(Debug)]
pub struct LazyPool<T> {
    cell: OnceLock<BoundedPool<T>>,
    name: &'static str,
    /// The declared count.
    count: usize,
    /// A count set at run time (`set_count`), before creation. Creation
    /// reads it under this lock, and `set_count` checks under it that the
    /// pool was not created yet, so a count is never set too late unseen.
    configured: Mutex<Option<usize>>,
    config: PoolConfig,
}

impl<T: BufferTier> LazyPool<T> {
    /// A pool of `count` buffers of `T`, named `name` in messages.
    pub const fn new(name: &'static str, count: usize, config: PoolConfig) -> Self {
        LazyPool {
            cell: OnceLock::new(),
            name,
            count,
            configured: Mutex::new(None),
            config,
        }
    }

    /// The count the pool is (or will be) created with: set at run time,
    /// or declared.
    pub fn count(&self) -> usize {
        match self.cell.get() {
            Some(pool) => pool.capacity(),
            None => self.lock().unwrap_or(self.count),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<usize>> {
        // A panic under this lock leaves the option whole.
        self.configured.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the number of buffers, before the pool is first used.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the pool was already created, or
    /// `count` is 0 or above 2^31.
    pub fn set_count(&self, count: usize) -> Result<(), Error> {
        let mut configured = self.lock();
        if let Some(pool) = self.cell.get() {
            return Err(Error::invalid(format!(
                "buffer_pools!: pool `{}` was already created (with {} buffers); set counts \
                 before its first use or `init`",
                self.name,
                pool.capacity()
            )));
        }
        if count == 0 || count > crate::bitmap::MAX_CAPACITY {
            return Err(Error::invalid(format!(
                "buffer_pools!: pool `{}` cannot have {count} buffers (1 ..= 2^31)",
                self.name
            )));
        }
        *configured = Some(count);
        Ok(())
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
            panic!(
                "buffer_pools!: cannot create pool `{}` ({} x {} bytes = {} bytes): {err}",
                self.name,
                self.count,
                T::SIZE,
                self.count.saturating_mul(T::SIZE)
            )
        })
    }

    /// Creates the pool if it was not yet.
    ///
    /// # Errors
    ///
    /// What [`BoundedPool::with_config`] reports.
    pub fn init(&'static self) -> Result<&'static BoundedPool<T>, Error> {
        if let Some(pool) = self.cell.get() {
            return Ok(pool);
        }
        // Under the lock: a concurrent `set_count` lands before (and is
        // used) or after (and fails).
        let configured = self.lock();
        if let Some(pool) = self.cell.get() {
            return Ok(pool);
        }
        let count = configured.unwrap_or(self.count);
        let pool = BoundedPool::with_config(count, self.config.clone())?;
        Ok(self.cell.get_or_init(|| pool))
    }
}

/// One pool of a `buffer_pools!` set, whatever its buffer type: what the
/// set's `set_count`, `set_budget` and `stats` go through.
pub trait SetMember: Sync {
    /// The entry's name.
    fn name(&self) -> &'static str;
    /// The size of its buffers.
    fn buffer_size(&self) -> usize;
    /// The count it has or will be created with.
    fn count(&self) -> usize;
    /// Whether it was created.
    fn created(&self) -> bool;
    /// `LazyPool::set_count`.
    fn set_count(&self, count: usize) -> Result<(), Error>;
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
    fn count(&self) -> usize {
        LazyPool::count(self)
    }
    fn created(&self) -> bool {
        self.cell.get().is_some()
    }
    fn set_count(&self, count: usize) -> Result<(), Error> {
        LazyPool::set_count(self, count)
    }
    fn stats(&self) -> Option<crate::PoolStats> {
        self.cell.get().map(BoundedPool::stats)
    }
}

/// `set_count(name, count)` of a set: the member named `name`.
pub fn set_count(members: &[&dyn SetMember], name: &str, count: usize) -> Result<(), Error> {
    match members.iter().find(|m| m.name() == name) {
        Some(m) => m.set_count(count),
        None => {
            let names: Vec<_> = members.iter().map(|m| m.name()).collect();
            Err(Error::invalid(format!(
                "buffer_pools!: no pool named `{name}`; the pools are {}",
                names.join(", ")
            )))
        }
    }
}

/// `set_budget(bytes)` of a set: if the pools' total (counts rounded up to
/// powers of two, as pools round them) is above `bytes`, scales every count
/// down by the same factor, to a power of two, so that the total fits.
/// Changes nothing on an error.
pub fn set_budget(members: &[&dyn SetMember], bytes: usize) -> Result<(), Error> {
    let total = |counts: &[usize]| -> u128 {
        members
            .iter()
            .zip(counts)
            .map(|(m, &c)| m.buffer_size() as u128 * c.next_power_of_two() as u128)
            .sum()
    };
    if let Some(m) = members.iter().find(|m| m.created()) {
        return Err(Error::invalid(format!(
            "buffer_pools!: pool `{}` was already created; set the budget before any pool's \
             first use or `init`",
            m.name()
        )));
    }
    let counts: Vec<usize> = members.iter().map(|m| m.count()).collect();
    let now = total(&counts);
    if now <= bytes as u128 {
        return Ok(());
    }
    // The largest power of two at or below `count * bytes / now`, at
    // least 1.
    let scaled: Vec<usize> = counts
        .iter()
        .map(|&c| {
            let want = (c as u128 * bytes as u128 / now).max(1) as usize;
            1 << (usize::BITS - 1 - want.leading_zeros())
        })
        .collect();
    let fitted = total(&scaled);
    if fitted > bytes as u128 {
        return Err(Error::invalid(format!(
            "buffer_pools!: a budget of {bytes} bytes cannot hold even {fitted} bytes (each \
             pool scaled down by the same factor, at least one buffer each)"
        )));
    }
    for (m, &c) in members.iter().zip(&scaled) {
        m.set_count(c)?;
    }
    Ok(())
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
