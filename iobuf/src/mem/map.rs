//! Mapping and its options: [`AlignedMem`], owned zeroed aligned bytes from
//! the global allocator or an anonymous `mmap` (aligned and advised for
//! transparent huge pages from 2 MiB, optionally populated or locked), and
//! the constructors that return one.

use std::alloc::{self, Layout};
use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::ptr::{self, NonNull};

use super::sizes::{CACHE_LINE_SIZE, HUGE_PAGE_SIZE, MMAP_THRESHOLD, page_size, round_up};
use crate::error::Error;

/// How [`AlignedMem`] should obtain its memory, beyond size and alignment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MapOptions {
    /// Ask for transparent huge pages even below 2 MiB.
    pub huge_pages: bool,
    /// Commit every page now (`MAP_POPULATE`).
    pub populate: bool,
    /// Lock the pages in RAM (`mlock`); fails past `RLIMIT_MEMLOCK`.
    pub lock: bool,
}

/// Where an [`AlignedMem`]'s bytes came from, so `Drop` can give them back.
pub(super) enum Backing {
    /// Nothing was allocated (`len == 0`).
    Empty,
    /// The global allocator, with this layout.
    Heap(Layout),
    /// An anonymous mapping of `len` bytes at `base`.
    Map {
        base: NonNull<u8>,
        len: usize,
        /// Advised `MADV_HUGEPAGE`, and aligned to [`HUGE_PAGE_SIZE`].
        huge: bool,
        /// Locked in RAM (`mlock`).
        locked: bool,
    },
}

/// Owned, zeroed, aligned bytes.
///
/// Dereferences to `[u8]`. Large sizes ([`MMAP_THRESHOLD`] and up) are
/// mapped from the OS and committed page by page as they are first written;
/// small ones come from the global allocator.
///
/// # Examples
///
/// ```
/// let mut mem = iobuf::aligned_mem(10_000, 4096)?;
/// assert_eq!(mem.len(), 10_000);
/// assert_eq!(mem.as_ptr() as usize % 4096, 0);
/// assert!(mem.iter().all(|&b| b == 0));
/// mem[9_999] = 7;
/// assert_eq!(mem[9_999], 7);
/// # Ok::<(), iobuf::Error>(())
/// ```
pub struct AlignedMem {
    ptr: NonNull<u8>,
    /// The bytes asked for.
    pub(super) len: usize,
    align: usize,
    /// Where the bytes came from (`release.rs` reads it too).
    pub(super) backing: Backing,
}

// SAFETY: an AlignedMem owns its bytes exclusively, like a Vec<u8>: nothing
// else points into them, and &self gives only shared read access.
unsafe impl Send for AlignedMem {}
// SAFETY: as for Send; &AlignedMem hands out only &[u8].
unsafe impl Sync for AlignedMem {}

impl AlignedMem {
    /// Allocates `len` zeroed bytes aligned to `align`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `align` is not a power of two or the
    /// rounded size overflows; [`Error::Alloc`] if the OS refuses.
    pub fn new(len: usize, align: usize) -> Result<Self, Error> {
        Self::with_options(len, align, MapOptions::default())
    }

    pub(crate) fn with_options(len: usize, align: usize, opts: MapOptions) -> Result<Self, Error> {
        if !align.is_power_of_two() {
            return Err(Error::invalid(format!(
                "alignment {align} is not a power of two"
            )));
        }
        if len > isize::MAX as usize {
            return Err(Error::invalid(format!(
                "length {len} is larger than isize::MAX"
            )));
        }
        if len == 0 {
            let ptr = NonNull::new(ptr::without_provenance_mut(align))
                .expect("a power of two is never zero");
            return Ok(AlignedMem {
                ptr,
                len,
                align,
                backing: Backing::Empty,
            });
        }
        let map = !cfg!(miri)
            && (len >= MMAP_THRESHOLD || align > page_size() || opts != MapOptions::default());
        let mem = if map {
            Self::map(len, align, opts)?
        } else {
            Self::heap(len, align)?
        };
        debug_assert!(
            mem.ptr.as_ptr() as usize % align == 0,
            "{:p} is not aligned to {align}",
            mem.ptr
        );
        Ok(mem)
    }

    fn heap(len: usize, align: usize) -> Result<Self, Error> {
        let layout = Layout::from_size_align(len, align).map_err(|_| {
            Error::invalid(format!(
                "length {len} rounded up to alignment {align} overflows isize"
            ))
        })?;
        // SAFETY: `layout` has a non-zero size (len == 0 returned early).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).ok_or_else(|| Error::out_of_memory(len))?;
        Ok(AlignedMem {
            ptr,
            len,
            align,
            backing: Backing::Heap(layout),
        })
    }

    fn map(len: usize, align: usize, opts: MapOptions) -> Result<Self, Error> {
        let page = page_size();
        let huge = opts.huge_pages || len >= HUGE_PAGE_SIZE;
        // Huge pages need a 2 MiB-aligned start to be used at all.
        let map_align = align.max(page).max(if huge { HUGE_PAGE_SIZE } else { 1 });
        let overflow = || Error::invalid(format!("length {len} with alignment {align} overflows"));
        let len_rounded = round_up(len, page).ok_or_else(overflow)?;
        // Over-map by the alignment slack, then unmap what falls outside.
        let slack = map_align - page;
        let total = len_rounded.checked_add(slack).ok_or_else(overflow)?;
        if total > isize::MAX as usize {
            return Err(overflow());
        }
        let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        if opts.populate && slack == 0 {
            flags |= libc::MAP_POPULATE;
        }
        // SAFETY: a fresh anonymous mapping with a null hint touches no
        // existing memory; all arguments are valid for mmap.
        let raw = unsafe {
            libc::mmap(
                ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(Error::alloc(len, io::Error::last_os_error()));
        }
        let start = raw as usize;
        let aligned = round_up(start, map_align).ok_or_else(overflow)?;
        let head = aligned - start;
        let tail = slack - head;
        if head > 0 {
            // SAFETY: [raw, raw + head) is the page-aligned start of the
            // mapping just made (head is a multiple of the page size, as both
            // `start` and `aligned` are page-aligned), and nothing uses it.
            unsafe { libc::munmap(raw, head) };
        }
        if tail > 0 {
            // SAFETY: the `tail` bytes after `aligned + len_rounded` are the
            // page-aligned end of the same mapping, and nothing uses them.
            unsafe { libc::munmap((aligned + len_rounded) as *mut libc::c_void, tail) };
        }
        let base = NonNull::new(aligned as *mut u8).expect("mmap never maps address 0");
        let mem = AlignedMem {
            ptr: base,
            len,
            align,
            backing: Backing::Map {
                base,
                len: len_rounded,
                huge,
                locked: false,
            },
        };
        if huge {
            // Advice only: where THP is off the call fails and nothing changes.
            // SAFETY: the range is exactly the mapping `mem` owns.
            unsafe { libc::madvise(base.as_ptr().cast(), len_rounded, libc::MADV_HUGEPAGE) };
        }
        let mut mem = mem;
        if opts.populate && slack != 0 {
            mem.prefault();
        }
        if opts.lock {
            // SAFETY: the range is exactly the mapping `mem` owns.
            if unsafe { libc::mlock(base.as_ptr().cast(), len_rounded) } != 0 {
                let err = io::Error::last_os_error();
                let hint = if matches!(err.raw_os_error(), Some(libc::ENOMEM | libc::EPERM)) {
                    " (raise RLIMIT_MEMLOCK, `ulimit -l`, or turn locking off)"
                } else {
                    ""
                };
                return Err(Error::alloc(
                    len,
                    io::Error::new(
                        err.kind(),
                        format!("mlock of {len_rounded} bytes: {err}{hint}"),
                    ),
                ));
            }
            if let Backing::Map { locked, .. } = &mut mem.backing {
                *locked = true;
            }
        }
        Ok(mem)
    }

    /// Commits every page now by touching it, so that first use pays no page
    /// faults. Reads would map the shared zero page, so this writes a zero.
    pub(crate) fn prefault(&mut self) {
        let page = page_size();
        let bytes: &mut [u8] = self;
        for off in (0..bytes.len()).step_by(page) {
            let byte: *mut u8 = &mut bytes[off];
            // SAFETY: `byte` comes from a live `&mut u8`, so it is valid and
            // aligned for a one-byte write. Volatile, so the store that
            // commits the page is kept even though it writes the zero that
            // is already there.
            unsafe { byte.write_volatile(0) };
        }
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The alignment that was asked for (the start may be aligned more).
    pub fn align(&self) -> usize {
        self.align
    }

    /// A pointer to the first byte.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// A mutable pointer to the first byte.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Whether the bytes come from an OS mapping (lazily committed) rather
    /// than the global allocator.
    pub fn is_mapped(&self) -> bool {
        matches!(self.backing, Backing::Map { .. })
    }
}

impl Drop for AlignedMem {
    fn drop(&mut self) {
        match self.backing {
            Backing::Empty => {}
            Backing::Heap(layout) => {
                // SAFETY: `ptr` came from `alloc_zeroed(layout)` and is freed
                // once, here.
                unsafe { alloc::dealloc(self.ptr.as_ptr(), layout) };
            }
            Backing::Map { base, len, .. } => {
                // SAFETY: [base, base + len) is the part of the mapping we
                // kept; it is unmapped once, here, and no borrow outlives self.
                unsafe { libc::munmap(base.as_ptr().cast(), len) };
            }
        }
    }
}

impl Deref for AlignedMem {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `len` initialised (zeroed) bytes owned by
        // self, and `&self` forbids concurrent mutation.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedMem {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl AsRef<[u8]> for AlignedMem {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for AlignedMem {
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl fmt::Debug for AlignedMem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedMem")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("align", &self.align)
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

/// `len` zeroed bytes aligned to `align` (a power of two).
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `align` is 0 or not a power of two, or the
/// size overflows; [`Error::Alloc`] if the OS refuses the memory.
///
/// # Examples
///
/// ```
/// let mem = iobuf::aligned_mem(65536, iobuf::page_size())?;
/// assert_eq!(mem.as_ptr() as usize % iobuf::page_size(), 0);
/// assert!(iobuf::aligned_mem(1, 0).is_err());
/// # Ok::<(), iobuf::Error>(())
/// ```
pub fn aligned_mem(len: usize, align: usize) -> Result<AlignedMem, Error> {
    AlignedMem::new(len, align)
}

/// One zeroed, page-aligned page.
///
/// # Errors
///
/// [`Error::Alloc`] if the allocator refuses.
///
/// ```
/// let block = iobuf::aligned_mem_block()?;
/// assert_eq!(block.len(), iobuf::page_size());
/// # Ok::<(), iobuf::Error>(())
/// ```
pub fn aligned_mem_block() -> Result<AlignedMem, Error> {
    let page = page_size();
    AlignedMem::new(page, page)
}

/// `len` zeroed bytes aligned to [`CACHE_LINE_SIZE`].
///
/// # Errors
///
/// As [`aligned_mem`].
///
/// ```
/// let mem = iobuf::cache_line_aligned_mem(100)?;
/// assert_eq!(mem.as_ptr() as usize % iobuf::CACHE_LINE_SIZE, 0);
/// # Ok::<(), iobuf::Error>(())
/// ```
pub fn cache_line_aligned_mem(len: usize) -> Result<AlignedMem, Error> {
    AlignedMem::new(len, CACHE_LINE_SIZE)
}
