//! Lock-free, bounded, page-aligned buffer pools for low-latency I/O.
//!
//! `iobuf` is the buffer layer a server, proxy, storage engine or io_uring
//! program sits on: the hot path never allocates, memory is bounded and
//! page-aligned, and buffers hand straight to `readv`/`writev`/io_uring as
//! iovecs. It is a Rust take on the Go library of the same name.
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
//! ```
//!
//! # Buffer types
//!
//! A buffer type is a plain block of bytes: [`BufferTier`], implemented with
//! `#[derive(BufferTier)]`, which checks at compile time that the type has
//! only byte-array fields and no padding.
//!
//! ```
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
//! let mut p = Packet::zeroed_box();
//! p.header[0] = 0x45;
//! assert_eq!(p.as_bytes().len(), 2048);
//! ```
//!
//! # Aligned memory
//!
//! [`aligned_mem`] and friends ([`mem`]) return owned, zeroed, aligned
//! bytes; large requests are mapped lazily from the OS.
//!
//! # Vectored I/O
//!
//! [`IoVec`] ([`iovec`]) is a `libc::iovec` with a lifetime;
//! [`iovecs_from`] and [`addr_len`] turn buffers into the arguments of
//! `writev`/`readv`.
//!
//! ```
//! use iobuf::{PicoBuffer, addr_len, iovecs_from};
//!
//! let bufs = [PicoBuffer([b'a'; 32]), PicoBuffer([b'b'; 32])];
//! let iov = iovecs_from(&bufs);
//! let (addr, count) = addr_len(&iov);
//! assert_eq!(count, 2);
//! # let _ = addr;
//! ```

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

// Lets the derive's `::iobuf::…` paths resolve inside this crate too, so the
// standard buffer types are declared with the derive like any user type.
extern crate self as iobuf;

mod buffer;
mod error;
mod fence;
pub mod iovec;
pub mod mem;
pub mod pool;
pub mod progress;
mod ring;
mod sync;
mod tier;

pub use buffer::{
    BigBuffer, BufferTier, GiantBuffer, GreatBuffer, HugeBuffer, LargeBuffer, MediumBuffer,
    MicroBuffer, NanoBuffer, PicoBuffer, RegisterBuffer, SmallBuffer, TitanBuffer, VastBuffer,
};
pub use error::Error;
pub use iobuf_macros::BufferTier;

mod pools_macro;
pub use iovec::{
    IoVec, addr_len, fill_iovecs, fill_iovecs_from_slices, fill_iovecs_mut, iovecs_from,
    iovecs_from_mut, iovecs_from_registered, iovecs_from_slices,
};
pub use mem::{
    AlignedBlocks, AlignedMem, CACHE_LINE_SIZE, aligned_mem, aligned_mem_block, aligned_mem_blocks,
    cache_line_aligned_mem, cache_line_aligned_mem_blocks, page_size,
};
pub use pool::{
    BigBufferPool, BoundedPool, BufIndex, GiantBufferPool, GreatBufferPool, HugeBufferPool,
    IndirectPool, LargeBufferPool, MediumBufferPool, MicroBufferPool, NanoBufferPool, OwnedPooled,
    PicoBufferPool, Pool, PoolConfig, PoolStats, Pooled, RegisterBufferPool, SmallBufferPool,
    TitanBufferPool, VastBufferPool,
};
pub use tier::{
    BUFFER_SIZE_BIG, BUFFER_SIZE_GIANT, BUFFER_SIZE_GREAT, BUFFER_SIZE_HUGE, BUFFER_SIZE_LARGE,
    BUFFER_SIZE_MEDIUM, BUFFER_SIZE_MICRO, BUFFER_SIZE_NANO, BUFFER_SIZE_PICO, BUFFER_SIZE_SMALL,
    BUFFER_SIZE_TITAN, BUFFER_SIZE_VAST, ParseTierError, Tier, buffer_size_for,
};

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

    /// Implemented for `[u8; N]` only: the field check of the derive.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not a byte array, so it cannot be a field of a `BufferTier`",
        label = "not `[u8; N]`",
        note = "every field of a `#[derive(BufferTier)]` type must be a byte array `[u8; N]`; \
                store numbers as bytes (e.g. `[u8; 4]` with `u32::from_le_bytes`) and keep \
                owned data such as `Vec<u8>` outside the buffer"
    )]
    pub trait ByteArray {}

    impl<const N: usize> ByteArray for [u8; N] {}

    /// Compiles only when `T` is a byte array; the derive names it once per
    /// field, spanned on the field's type.
    pub const fn require_byte_array<T: ByteArray>() {}

    pub use crate::pools_macro::{DeclaredPool, LazyPool, debug_buffer, too_large};
    pub use iobuf_macros::__buffer_pools;
}
