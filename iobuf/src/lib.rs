//! Lock-free, bounded, page-aligned buffer pools for low-latency I/O.
//!
//! `iobuf` is the buffer layer a server, proxy, storage engine or io_uring
//! program sits on: after a thread's first use of a pool the hot path never
//! allocates, memory is bounded and
//! page-aligned, and buffers hand straight to `readv`/`writev`/io_uring as
//! iovecs. It is a Rust take on the Go library of the same name.
//!
//! This page is a guide, in the order you meet things: tiers, pools, the
//! macros that declare them, iovecs for vectored I/O, and the progress model
//! behind a blocking `get`.
//!
//! # Tiers
//!
//! Buffers come in twelve power-of-4 sizes, [`Tier::Pico`] (32 B) to
//! [`Tier::Titan`] (128 MiB), with one standard type each
//! ([`PicoBuffer`] … [`TitanBuffer`]) and [`RegisterBuffer`] for io_uring
//! registration. [`Tier::for_size`] and [`buffer_size_for`] pick the tier
//! for a length.
//!
//! ```
//! use iobuf::{Tier, buffer_size_for};
//! assert_eq!(Tier::for_size(1500), Some(Tier::Small));
//! assert_eq!(buffer_size_for(1500), Some(2048));
//! assert_eq!("huge".parse::<Tier>()?.size(), 2 << 20);
//! # Ok::<(), iobuf::ParseTierError>(())
//! ```
//!
//! # Pools
//!
//! A [`BoundedPool<T>`](BoundedPool) holds `capacity` buffers in one
//! page-aligned slab, committed lazily. Its free indices live in a
//! lock-free bitmap (one atomic read-modify-write per get and per put),
//! with a small per-thread cache in front (whose misses take
//! short locks, and whose first use on a thread allocates: see
//! [`pool`]'s docs for exactly what may lock, allocate or sleep). There are three
//! ways to hold a buffer:
//!
//! - a [`Pooled`] guard ([`get`](BoundedPool::get),
//!   [`try_get`](BoundedPool::try_get),
//!   [`get_timeout`](BoundedPool::get_timeout)), which puts the buffer back
//!   when dropped;
//! - an [`OwnedPooled`] guard for `Arc`-shared pools, `'static` for threads
//!   and tasks;
//! - a bare [`BufIndex`] token (the index is the io_uring buffer id).
//!
//! ```
//! use iobuf::{Error, SmallBufferPool};
//!
//! let pool = SmallBufferPool::new(1024)?;     // 1024 x 2 KiB
//! let mut buf = pool.get();                   // waits if all are taken
//! buf.0[..5].copy_from_slice(b"hello");
//!
//! let mut idx = pool.try_get_index()?;        // never waits
//! pool.value_mut(&mut idx).0[0] = 1;
//! pool.put(idx);
//!
//! drop(buf);                                  // back to the pool
//! assert_eq!(pool.available(), 1024);
//! # let _: Option<Error> = None;
//! # Ok::<(), iobuf::Error>(())
//! ```
//!
//! [`PoolConfig`] adds zero-on-return, huge pages, `mlock`, pre-faulting and
//! the per-thread cache size. [`PoolStats`] reports the pool's state.
//!
//! # Macros
//!
//! [`buffer_pools!`] declares an application's pools in one line per size,
//! with a typed buffer and a pool singleton for each, and `get(len)`, which
//! picks the smallest that fits. `#[derive(BufferTier)]` makes your own
//! buffer types; it checks at compile time that they are plain bytes with
//! no padding.
//!
//! ```
//! mod pools {
//!     iobuf::buffer_pools! {
//!         /// Packet buffers.
//!         small: 2KiB x 1024,
//!         #[pool(zero_on_return)]
//!         large: 128KiB x 64,
//!     }
//! }
//!
//! use iobuf::BufferTier;
//!
//! #[derive(BufferTier)]
//! #[buffer_tier(tier = Small)]
//! #[repr(C)]
//! struct Packet {
//!     header: [u8; 64],
//!     body: [u8; 1984],
//! }
//!
//! let buf = pools::get(1500).unwrap();        // a `small` buffer
//! assert_eq!((buf.name(), buf.len()), ("small", 2048));
//! let mut p = Packet::zeroed_box();           // on the heap, never the stack
//! p.header[0] = 0x45;
//! assert_eq!(p.as_bytes().len(), 2048);
//! ```
//!
//! # Vectored I/O
//!
//! [`IoVec`] ([`iovec`]) is a `libc::iovec` that carries the lifetime of
//! the bytes it points to, over shared bytes; [`IoVecMut`] is its
//! exclusive twin, for reads. [`IoVec::as_io_slices`] and
//! [`IoVecMut::as_io_slices_mut`] view them as std's `IoSlice`/`IoSliceMut`
//! (the same layout on Unix), so `write_vectored`/`read_vectored` on std
//! and tokio types take pooled buffers with no `unsafe` and no copy.
//! [`iovecs_from`] turns buffers into iovecs ([`fill_iovecs`] without
//! allocating); [`IoVec::advance_slices`] handles partial transfers;
//! [`addr_len`] gives raw `writev`/`readv` arguments; and
//! [`BoundedPool::iovecs`] hands a whole pool to io_uring's
//! `register_buffers`.
//!
//! ```
//! use std::io::Write;
//! use iobuf::{IoVec, PicoBuffer, iovecs_from};
//!
//! let bufs = [PicoBuffer([b'a'; 32]), PicoBuffer([b'b'; 32])];
//! let iov = iovecs_from(&bufs);
//! let mut out = Vec::new();                   // or a TcpStream, a File …
//! let n = out.write_vectored(IoVec::as_io_slices(&iov))?;
//! assert_eq!(n, 64);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # io_uring
//!
//! A buffer's pool index is its io_uring buffer id, in both of io_uring's
//! ways to name buffers:
//!
//! - **Fixed (registered) buffers.** [`BoundedPool::iovecs`] hands the
//!   whole slab to `register_buffers` once; `ReadFixed`/`WriteFixed` then
//!   name a buffer by its index (`Pooled::index`, [`BufIndex`]), and the
//!   kernel skips pinning pages on every call. Use them when the
//!   application picks the buffer before the operation: file I/O, sends.
//! - **Provided-buffer rings** (feature `io-uring`, `uring::BufRing`).
//!   The application fills a ring with buffers from a pool, and an
//!   operation that names the ring's group (a multishot `recv`) takes one
//!   only when data arrives. Use them for receives on many connections,
//!   most of them idle: buffers go to the active ones only.
//!
//! The kernel limits that bite: at most 16 384 registered buffers per
//! io_uring (`register_buffers`; one pool of at most that capacity, or
//! `register_buffers_sparse` and updates); registered buffers are pinned
//! and count against `RLIMIT_MEMLOCK` on older kernels (`ulimit -l`);
//! a provided-buffer ring has at most 32 768 entries, and buffer ids are
//! `u16`, so a pool behind a ring holds at most 65 536 buffers
//! (`BufRing::new` refuses a larger one).
//! The `uring` example uses fixed buffers; `uring_echo` serves TCP with
//! multishot `recv` on a provided-buffer ring.
//!
//! # Progress: strike, spin, adapt
//!
//! A blocking `get` makes one attempt (**strike**), then retries with
//! bounded exponential spinning and a few tens of microseconds of yielding
//! (**spin**), then sleeps in the pool's wait queue until a return wakes it
//! (**adapt**). A return costs one load, and no system call, when nobody
//! sleeps. The [`progress`] module exposes these tiers for other uses.
//!
//! # Async
//!
//! [`get_async`](BoundedPool::get_async),
//! [`get_owned_async`](BoundedPool::get_owned_async) (a `'static` future,
//! for `tokio::spawn`) and [`get_index_async`](BoundedPool::get_index_async)
//! wait without blocking a thread, on any runtime (only `std::task` is
//! used). At each tier: the strike is the same as a blocking `get`'s; there
//! is no spin (an executor's thread is not ours to hold); and the task waits
//! in the same FIFO queue as sleeping threads, woken when a return hands it
//! its buffer. No waker runs while the pool holds one of its locks, so a
//! waker may poll its task inline and re-enter the pool; one that panics
//! loses no buffer. A future that queues allocates its queue entry (one
//! `Arc`). The futures are cancel-safe (a dropped one loses neither a
//! buffer nor a wake-up), so a timeout is the runtime's:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! # futures_executor::block_on(async {
//! let pool = Arc::new(iobuf::SmallBufferPool::new(8)?);
//! let mut buf = pool.get_owned_async().await; // 'static: can move into a task
//! buf.0[..4].copy_from_slice(b"ping");
//! drop(buf);
//! // With tokio: tokio::time::timeout(Duration::from_millis(5), pool.get_async()).await
//! # let _ = Duration::ZERO;
//! assert_eq!(pool.available(), 8);
//! # Ok::<(), iobuf::Error>(())
//! # }).unwrap();
//! ```
//!
//! `buffer_pools!` declares `get_async(len)` too. The `tokio_pool` example
//! runs many tasks over few buffers on tokio's multi-thread runtime.
//!
//! # A filled length, `bytes` and tokio
//!
//! A pooled buffer is a fixed block; [`Filled`] ([`filled`]) adds how much
//! of it holds data, as a `Vec<u8>` that cannot grow past its buffer:
//! `len`, `capacity`, `clear`, `truncate`, `set_len`, `extend_from_slice`,
//! the unfilled part to read into ([`Filled::unfilled_mut`] then
//! [`Filled::commit`]), `Deref` to the filled bytes, and `std::io`'s
//! `Write`, `Read` and `BufRead`. It wraps any holder: [`Pooled`],
//! [`OwnedPooled`], or a [`buffer_pools!`] `Buf`.
//!
//! With the `bytes` feature (on by default) a `Filled` is a `bytes::BufMut`
//! and a `bytes::Buf`, so tokio's `read_buf` and `write_all_buf` take it,
//! and [`Filled::freeze`] turns it into a `bytes::Bytes` without copying;
//! the buffer goes home when the last clone or slice of that `Bytes` drops.
//!
//! ```
//! # #[cfg(feature = "bytes")] {
//! use std::sync::Arc;
//! use bytes::BufMut;
//! use iobuf::{Filled, SmallBufferPool};
//!
//! let pool = Arc::new(SmallBufferPool::new(8)?);
//! let mut buf = Filled::new(pool.get_owned());
//! buf.put_slice(b"HTTP/1.1 200 OK\r\n"); // with tokio: stream.read_buf(&mut buf).await?
//! let body = buf.freeze();                // a Bytes for hyper, tonic, a channel …
//! assert_eq!(&body[..4], b"HTTP");
//! assert_eq!(pool.available(), 7);        // out while `body` lives
//! drop(body);
//! assert_eq!(pool.available(), 8);
//! # }
//! # Ok::<(), iobuf::Error>(())
//! ```
//!
//! The `tokio_echo` example serves TCP this way, beside the same server
//! written with a `BytesMut` per read.
//!
//! # Frames and shared views
//!
//! [`frame`] reads a stream of frames into pooled buffers, many per read,
//! and hands each out as a [`shared::View`]: an immutable, cloneable,
//! sliceable view of the buffer (the `Bytes` of iobuf, no allocation per
//! split or clone), whose buffer goes home when the last view drops.
//! [`frame::FrameWriter`] writes views, `Bytes` and pooled buffers back
//! with vectored writes. [`shared::SplitBuf`] is the writer side alone:
//! fill a pooled buffer, cut frozen views off its front. The [`frame`]
//! docs show a length-delimited echo in a dozen lines, and say when to
//! prefer a frame reader, a [`Filled`] alone, or `Bytes`.
//!
//! # Aligned memory
//!
//! [`aligned_mem`] and friends ([`mem`]) return owned, zeroed, aligned
//! bytes. Large requests are mapped lazily from the OS (a 1 GiB region costs
//! no RAM until written), and bad input is an [`Error`], never a wrong size.
//!
//! # Cargo features
//!
//! - `bytes` (on by default): [`Filled`] as `bytes::BufMut` and
//!   `bytes::Buf`, and `Filled::freeze` into a zero-copy `bytes::Bytes`.
//! - `io-uring` (off by default; Linux): `uring::BufRing`, io_uring
//!   provided-buffer rings fed by a pool.
//! - `tokio` (off by default): `frame::{AsyncFrameReader, AsyncFrameWriter}`
//!   over tokio's `AsyncRead`/`AsyncWrite` (the traits only: no runtime).
//!   The blocking reader and writer and the views need no feature; views
//!   are `bytes::Buf` and convert into `Bytes` with `bytes`.
//! - `metrics` (off by default): `metrics::Reporter` (a thread, on an
//!   interval) or `metrics::record` publishes a pool's counters and its
//!   wait-time histogram through the `metrics` facade, for any exporter.
//! - `monoio`, `compio`, `tokio-uring` (off by default): the guards,
//!   `Filled`, the views and `buffer_pools!` buffers in each io_uring
//!   runtime's owned-buffer traits (compio reads through iobuf's own
//!   `CompioRead`/`CompioReadAt`); see [`runtimes`] for the versions, the
//!   types and what is not supported.
//!
//! # Architecture
//!
//! The crate is built in layers, listed here from the bottom up. Imports
//! point down only: a file names files of its own layer or of lower ones,
//! never a higher one, and no two files import each other, directly or
//! around a circle. `.ci/layers` checks this in CI from every `crate::`,
//! `super::` and child-module path of the source, with this same list, and
//! fails on an upward import, a circle, or a file over 450 lines of code.
//!
//! 1. **Ground floor**: `sync.rs` (the loom shim, the only file that names
//!    std's or loom's sync types), `clock.rs` (the wait statistics' clock), `error.rs`, `tier.rs` (the one tier
//!    table), [`iovec`] (the iovec types and their proofs in `types.rs`,
//!    below `buffer.rs`; collecting iovecs of buffers in `mod.rs`, above
//!    it), `buffer.rs` ([`BufferTier`] and the standard buffer types),
//!    [`filled`] (a filled-length view of any byte holder) and [`mem`]
//!    (aligned memory: `sizes`, `map`, `blocks`, `release`). Each knows
//!    nothing of pools.
//! 2. **Structures**: `bitmap.rs` (the free-index bitmap), `wait.rs` (the
//!    queue of waiting threads and tasks), [`progress`] (spin, park) and
//!    `fence.rs` (membarrier): lock-free parts over indices, unaware of
//!    buffers.
//! 3. **The pool** ([`pool`]): `mod.rs` is [`BoundedPool`]'s public surface
//!    and its fast path; `engine.rs` is the one acquire path and the only
//!    place that serves waiters; `cache/` holds the thread caches, which
//!    reach their pool only through `cache::Home`, a trait the cache owns
//!    and the engine implements (`engine/home.rs`); `slab.rs`
//!    the items, `side.rs` the per-index side words an integration may keep
//!    there, `guard.rs`, `config.rs`, `trim.rs`, `traits.rs` and
//!    `aliases.rs` the rest. A folder's `mod.rs` re-exporting its own child
//!    is the folder's face, not an import, so `guard.rs` may name
//!    `super::BoundedPool`.
//! 4. **`pools_macro.rs`**: what [`buffer_pools!`] expands to, over the
//!    pool's public surface.
//! 5. **Views** ([`shared`]): [`SplitBuf`](shared::SplitBuf) and
//!    [`View`](shared::View), whose share counts are the pool's side words;
//!    the pool does not know they exist.
//! 6. **Integrations**: [`frame`], [`runtimes`], `metrics` and `uring`,
//!    each over the layers below (the guards, indices, views and the side
//!    words), never over one another, and never into the bitmap, the wait
//!    queue, the thread caches or the engine.
//! 7. **`lib.rs`**: this guide, the lints and the re-exports.
//!
//! A new integration is a module of its own in the top layer, behind its
//! cargo feature, built over the pool's guards and indices; if it needs
//! per-index data it keeps it in side words of its own beside the slab
//! (`pool/side.rs`), which the pool keeps alive and never reads. Where a
//! lower layer must call back up, it owns a small trait that the upper
//! layer implements; trait impls for a type live beside the type (the
//! [`AsIoVec`] impls of the guards, [`Filled`] and the views sit with
//! those types). `.ci/layers` checks all of this on every CI run and
//! allows no exception: no import points up, and no circle.
//!
//! # Correctness
//!
//! A free index is a set bit of the bitmap and nothing else: a get wins it
//! with one `fetch_and` whose old value says whether it was still set, so
//! there is no tag to wrap and no ABA (the Go original's bare-index ring
//! hands one buffer to two holders); `try_get` answers "empty" only if the
//! pool was empty at some instant of the call. The bitmap, the
//! thread-cache protocol and the wait queue have loom models, and
//! deliberate bugs compiled into each are caught by them. Miri (both borrow models) and ThreadSanitizer run in CI.
//! Stress tests check that no buffer ever has two holders and none is lost.
//! Every public operation documents whether it can wait.

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

// Lets the derive's `::iobuf::…` paths resolve inside this crate too, so the
// standard buffer types are declared with the derive like any user type.
extern crate self as iobuf;

mod bitmap;
mod buffer;
mod clock;
mod error;
mod fence;
pub mod filled;
pub mod frame;
pub mod iovec;
pub mod mem;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod pool;
pub mod progress;
pub mod runtimes;
pub mod shared;
mod sync;
mod tier;
#[cfg(all(feature = "io-uring", target_os = "linux"))]
pub mod uring;
mod wait;

pub use buffer::BufferTier;
pub use error::Error;
pub use filled::Filled;
pub use iobuf_macros::BufferTier;

mod pools_macro;
pub use iovec::{
    AsIoVec, AsIoVecMut, IoVec, IoVecMut, addr_len, addr_len_mut, fill_iovecs,
    fill_iovecs_from_slices, fill_iovecs_mut, iovecs_from, iovecs_from_mut, iovecs_from_registered,
    iovecs_from_slices,
};
pub use mem::{
    AlignedBlocks, AlignedMem, CACHE_LINE_SIZE, aligned_mem, aligned_mem_block, aligned_mem_blocks,
    cache_line_aligned_mem, cache_line_aligned_mem_blocks, page_size,
};
pub use pool::{
    BoundedPool, BufIndex, IndirectPool, OwnedPooled, Pool, PoolConfig, PoolStats, Pooled,
};
pub use tier::{ParseTierError, Tier, buffer_size_for};

/// Re-exports each tier's size constant, buffer type and pool alias, in
/// size order, with the io_uring registration buffer after them.
macro_rules! reexport_tiers {
    ($({
        $variant:ident, $name:literal, $size_const:ident = $size:expr, $doc_size:literal,
        $article:literal, $buffer:ident, $pool:ident, $use_case:literal
    })*) => {
        pub use buffer::{$($buffer,)* RegisterBuffer};
        pub use pool::{$($pool,)* RegisterBufferPool};
        pub use tier::{$($size_const),*};
    };
}

tier::for_each_tier!(reexport_tiers);

/// What [`buffer_pools!`] emits, shown on a real invocation. This module
/// exists only in the documentation (`#[cfg(doc)]`); it was declared as:
///
/// ```ignore
/// iobuf::buffer_pools! {
///     /// Packet buffers (this doc comment comes from the invocation).
///     small: 2KiB x 1024,
///     /// Bulk transfers, zeroed when they come back.
///     #[pool(zero_on_return)]
///     large: 128KiB x 64,
/// }
/// ```
#[cfg(doc)]
pub mod example_generated {
    crate::buffer_pools! {
        /// Packet buffers (this doc comment comes from the invocation).
        small: 2KiB x 1024,
        /// Bulk transfers, zeroed when they come back.
        #[pool(zero_on_return)]
        large: 128KiB x 64,
    }
}

// Not public API: what macro-generated code needs. Referenced only by
// `iobuf-macros` output, which is released in lockstep (exact version pin).
#[doc(hidden)]
pub mod __private {
    pub use core;

    #[cfg(feature = "compio")]
    pub use compio_buf;
    #[cfg(all(feature = "monoio", unix))]
    pub use monoio;
    #[cfg(all(feature = "tokio-uring", target_os = "linux"))]
    pub use tokio_uring;

    /// How many of the pools' locks and `RefCell` borrows the calling
    /// thread holds now: always 0 in release builds. For the suite's
    /// wakers, which check that no wake-up runs under a lock of the pool.
    pub fn pool_locks_held() -> usize {
        crate::sync::locks_held()
    }

    pub use crate::buffer::{ByteArray, ByteFields};

    pub use crate::pools_macro::{
        DeclaredPool, LazyPool, PoolSet, SetGuard, SetMember, debug_buffer, set_budget, set_count,
        too_large,
    };
    pub use iobuf_macros::__buffer_pools;
}
