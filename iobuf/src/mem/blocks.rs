//! Equal blocks carved from one aligned allocation: [`AlignedBlocks`] and
//! the constructors that return them.

use std::fmt;
use std::ops::{Index, IndexMut};

use super::map::AlignedMem;
use super::sizes::{CACHE_LINE_SIZE, page_size, round_up};
use crate::error::Error;

/// `n` equal blocks carved from one aligned allocation, each starting on an
/// alignment boundary (`stride` is the block length rounded up to it).
///
/// # Examples
///
/// ```
/// let mut blocks = iobuf::aligned_mem_blocks(4, 100)?;
/// assert_eq!(blocks.len(), 4);
/// for (i, block) in blocks.iter_mut().enumerate() {
///     assert_eq!(block.len(), 100);
///     assert_eq!(block.as_ptr() as usize % iobuf::page_size(), 0);
///     block[0] = i as u8;
/// }
/// assert_eq!(blocks[3][0], 3);
/// # Ok::<(), iobuf::Error>(())
/// ```
pub struct AlignedBlocks {
    mem: AlignedMem,
    count: usize,
    block_len: usize,
    stride: usize,
}

impl AlignedBlocks {
    fn new(count: usize, block_len: usize, align: usize) -> Result<Self, Error> {
        if count == 0 {
            return Err(Error::invalid("block count is 0"));
        }
        if block_len == 0 {
            return Err(Error::invalid("block length is 0"));
        }
        let stride = round_up(block_len, align).ok_or_else(|| {
            Error::invalid(format!(
                "block length {block_len} rounded up to {align} overflows"
            ))
        })?;
        let total = count.checked_mul(stride).ok_or_else(|| {
            Error::invalid(format!("{count} blocks of {stride} bytes overflow usize"))
        })?;
        let mem = AlignedMem::new(total, align)?;
        Ok(AlignedBlocks {
            mem,
            count,
            block_len,
            stride,
        })
    }

    /// The number of blocks.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always `false`: there is at least one block.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The usable length of each block.
    pub fn block_len(&self) -> usize {
        self.block_len
    }

    /// The distance between the starts of two neighbouring blocks.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Block `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let start = i.checked_mul(self.stride)?;
        self.mem.get(start..start.checked_add(self.block_len)?)
    }

    /// Block `i` for writing, or `None` past the end.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        let start = i.checked_mul(self.stride)?;
        self.mem.get_mut(start..start.checked_add(self.block_len)?)
    }

    /// Every block, in address order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.mem
            .chunks_exact(self.stride)
            .map(|c| &c[..self.block_len])
    }

    /// Every block for writing, in address order.
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = &mut [u8]> + '_ {
        let block_len = self.block_len;
        self.mem
            .chunks_exact_mut(self.stride)
            .map(move |c| &mut c[..block_len])
    }

    /// The whole allocation, gaps between blocks included.
    pub fn as_mem(&self) -> &AlignedMem {
        &self.mem
    }

    /// Gives up the block view and returns the whole allocation.
    pub fn into_mem(self) -> AlignedMem {
        self.mem
    }
}

impl Index<usize> for AlignedBlocks {
    type Output = [u8];

    fn index(&self, i: usize) -> &[u8] {
        let count = self.count;
        self.get(i)
            .unwrap_or_else(|| panic!("block index {i} out of range for {count} blocks"))
    }
}

impl IndexMut<usize> for AlignedBlocks {
    fn index_mut(&mut self, i: usize) -> &mut [u8] {
        let count = self.count;
        self.get_mut(i)
            .unwrap_or_else(|| panic!("block index {i} out of range for {count} blocks"))
    }
}

impl fmt::Debug for AlignedBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBlocks")
            .field("count", &self.count)
            .field("block_len", &self.block_len)
            .field("stride", &self.stride)
            .field("mem", &self.mem)
            .finish()
    }
}

/// `n` zeroed blocks of `block_len` bytes, each page-aligned, carved from one
/// allocation.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `n` or `block_len` is 0 or the total
/// overflows; [`Error::Alloc`] if the OS refuses the memory.
///
/// ```
/// let blocks = iobuf::aligned_mem_blocks(16, iobuf::page_size())?;
/// assert_eq!(blocks.len(), 16);
/// assert!(iobuf::aligned_mem_blocks(0, 4096).is_err());
/// # Ok::<(), iobuf::Error>(())
/// ```
pub fn aligned_mem_blocks(n: usize, block_len: usize) -> Result<AlignedBlocks, Error> {
    AlignedBlocks::new(n, block_len, page_size())
}

/// `n` zeroed blocks of `block_len` bytes, each starting on its own cache
/// line (so no two blocks share one), carved from one allocation.
///
/// Use it to keep small per-thread or per-connection state apart, where
/// tiers smaller than a cache line (Pico, Nano) would put several holders on
/// one line.
///
/// # Errors
///
/// As [`aligned_mem_blocks`].
///
/// ```
/// let blocks = iobuf::cache_line_aligned_mem_blocks(8, 40)?;
/// assert_eq!(blocks.stride(), iobuf::CACHE_LINE_SIZE);
/// # Ok::<(), iobuf::Error>(())
/// ```
pub fn cache_line_aligned_mem_blocks(n: usize, block_len: usize) -> Result<AlignedBlocks, Error> {
    AlignedBlocks::new(n, block_len, CACHE_LINE_SIZE)
}
