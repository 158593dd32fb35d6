//! `buffer_pools!`: the public `macro_rules!` front and the runtime pieces
//! its expansion uses (re-exported, hidden, from `__private`).

use std::fmt;
use std::sync::OnceLock;

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
/// - `name` is a snake_case identifier. It cannot be `init`, `get`,
///   `try_get`, `try_get_any` or `buf`, which the macro itself emits.
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
/// - `const TOTAL_BYTES: usize`, the sum of `SIZE × COUNT`, checked for
///   overflow at compile time.
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
    count: usize,
    config: PoolConfig,
}

impl<T: BufferTier> LazyPool<T> {
    /// A pool of `count` buffers of `T`, named `name` in messages.
    pub const fn new(name: &'static str, count: usize, config: PoolConfig) -> Self {
        LazyPool {
            cell: OnceLock::new(),
            name,
            count,
            config,
        }
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
        let pool = BoundedPool::with_config(self.count, self.config.clone())?;
        // A racing init may have won: then ours is dropped, theirs is kept.
        Ok(self.cell.get_or_init(|| pool))
    }
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
