//! Page- and cache-line-aligned memory.
//!
//! Small requests come from the global allocator (zeroed). Requests of
//! [`MMAP_THRESHOLD`] bytes and more come straight from anonymous `mmap`, so
//! they are committed lazily: a 1 GiB [`AlignedMem`] costs no resident memory
//! until its pages are written. From 2 MiB up the mapping is also aligned to
//! 2 MiB and advised with `MADV_HUGEPAGE`, so transparent huge pages can back
//! it.
//!
//! The crate can give the pages of a mapping back to the OS while keeping
//! the mapping (`MADV_DONTNEED`, on Linux): the pools' `release_memory` does,
//! for idle buffers. Pages given back read as zeros and are committed again
//! when next written. Allocator-backed and locked memory is never given
//! back.
//!
//! Every constructor checks its input and returns [`Error`](crate::Error) rather than
//! allocating a wrong size: an alignment that is not a power of two, a zero
//! count, or a size that overflows `usize` is an
//! [`Error::InvalidArgument`](crate::Error::InvalidArgument).
//!
//! # Layout
//!
//! One concern per file: `sizes.rs` (what the machine's memory comes in:
//! cache lines, pages, huge pages, the mapping threshold, physical memory),
//! `map.rs` (mapping and its options: [`AlignedMem`], from the allocator or
//! `mmap`, huge pages, locking, pre-faulting), `blocks.rs` (equal blocks of
//! one allocation: [`AlignedBlocks`]) and `release.rs` (giving pages back to
//! the OS while keeping the mapping: `Releaser`). Each proves its own
//! `unsafe`.

mod blocks;
mod map;
mod release;
mod sizes;

pub use blocks::{AlignedBlocks, aligned_mem_blocks, cache_line_aligned_mem_blocks};
pub(crate) use map::MapOptions;
pub use map::{AlignedMem, aligned_mem, aligned_mem_block, cache_line_aligned_mem};
pub(crate) use release::Releaser;
pub(crate) use sizes::physical_memory;
pub use sizes::{CACHE_LINE_SIZE, HUGE_PAGE_SIZE, MMAP_THRESHOLD, page_size};
