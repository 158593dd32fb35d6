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
//! Every constructor checks its input and returns [`Error`] rather than
//! allocating a wrong size: an alignment that is not a power of two, a zero
//! count, or a size that overflows `usize` is an
//! [`Error::InvalidArgument`].

use std::alloc::{self, Layout};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut, Index, IndexMut, Range};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

use crate::Error;

/// The size of the unit the CPU moves between caches, for padding against
/// false sharing.
///
/// The table follows crossbeam's `CachePadded`: 128 on x86_64, aarch64,
/// arm64ec and powerpc64 (Intel's spatial prefetcher pulls 64-byte lines in
/// pairs; big aarch64 cores have 128-byte lines), 32 on arm, mips, sparc and
/// hexagon, 16 on m68k, 256 on s390x, and 64 elsewhere. It is a reasoned
/// guess, not a guarantee.
///
/// ```
/// assert!(iobuf::CACHE_LINE_SIZE.is_power_of_two());
/// ```
pub const CACHE_LINE_SIZE: usize = if cfg!(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "arm64ec",
    target_arch = "powerpc64",
)) {
    128
} else if cfg!(any(
    target_arch = "arm",
    target_arch = "mips",
    target_arch = "mips32r6",
    target_arch = "mips64",
    target_arch = "mips64r6",
    target_arch = "sparc",
    target_arch = "hexagon",
)) {
    32
} else if cfg!(target_arch = "m68k") {
    16
} else if cfg!(target_arch = "s390x") {
    256
} else {
    64
};

// Our table and crossbeam's must agree, or padding would be wrong somewhere.
const _: () = assert!(align_of::<CachePadded<u8>>() == CACHE_LINE_SIZE);

/// Requests of this many bytes and more are mapped from the OS, lazily
/// committed; smaller ones come from the global allocator.
pub const MMAP_THRESHOLD: usize = 64 << 10;

/// The size of a transparent huge page on the targets we run on; mappings
/// this large are aligned to it and advised `MADV_HUGEPAGE`.
pub const HUGE_PAGE_SIZE: usize = 2 << 20;

/// The OS page size, asked of the OS once and then cached.
///
/// ```
/// let page = iobuf::page_size();
/// assert!(page.is_power_of_two() && page >= 4096);
/// ```
pub fn page_size() -> usize {
    static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);
    // ORDERING: Relaxed: the value is the same whoever computes it, and no
    // other memory is published with it.
    match PAGE_SIZE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: sysconf has no preconditions; it only reads a constant.
            let got = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let page = usize::try_from(got)
                .ok()
                .filter(|p| p.is_power_of_two())
                .unwrap_or(4096);
            // ORDERING: Relaxed, as above.
            PAGE_SIZE.store(page, Ordering::Relaxed);
            page
        }
        page => page,
    }
}

/// The machine's physical memory in bytes (`sysconf(_SC_PHYS_PAGES)` times
/// the page size), asked of the OS on each call (memory can be hot-plugged);
/// `None` where the OS cannot say, and under Miri, which does not model it.
/// A cgroup or `RLIMIT_AS` limit below it is not taken into account.
pub(crate) fn physical_memory() -> Option<usize> {
    #[cfg(all(
        not(miri),
        any(
            target_os = "linux",
            target_os = "android",
            target_os = "macos",
            target_os = "ios",
            target_os = "freebsd",
            target_os = "netbsd",
            target_os = "openbsd",
        )
    ))]
    {
        // SAFETY: sysconf has no preconditions; it only reads a value the
        // OS keeps.
        let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
        // -1: the OS cannot say.
        let pages = usize::try_from(pages).ok().filter(|&p| p > 0)?;
        Some(pages.saturating_mul(page_size()))
    }
    #[cfg(not(all(
        not(miri),
        any(
            target_os = "linux",
            target_os = "android",
            target_os = "macos",
            target_os = "ios",
            target_os = "freebsd",
            target_os = "netbsd",
            target_os = "openbsd",
        )
    )))]
    {
        None
    }
}

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
enum Backing {
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
    len: usize,
    align: usize,
    backing: Backing,
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

    /// What gives this memory's pages back to the OS ([`Releaser`]), or
    /// `None` where nothing can be given back:
    ///
    /// - bytes from the global allocator (under [`MMAP_THRESHOLD`] with
    ///   default options, and everything under Miri): the allocator's
    ///   memory is not ours to advise, and a custom global allocator need
    ///   not hand out private anonymous memory, whose released pages read
    ///   as zeros;
    /// - a locked mapping (`mlock`): Linux refuses `MADV_DONTNEED` on
    ///   locked pages (`EINVAL`), and whoever locked them asked for them to
    ///   stay resident;
    /// - any OS but Linux and Android: elsewhere `MADV_DONTNEED` is a hint
    ///   that need not zero anything, and `MADV_FREE` lets a page's bytes
    ///   turn from old to zero between two reads with no write in between.
    pub(crate) fn releaser(&self) -> Option<Releaser<'_>> {
        if !cfg!(any(target_os = "linux", target_os = "android")) {
            return None;
        }
        match self.backing {
            Backing::Map {
                base,
                len,
                huge,
                locked: false,
            } => Some(Releaser {
                base,
                len: self.len,
                mapped: len,
                huge_end: if huge && transparent_huge_pages() {
                    round_down(len, HUGE_PAGE_SIZE)
                } else {
                    0
                },
                _mem: PhantomData,
            }),
            _ => None,
        }
    }
}

/// Gives whole pages of one mapped [`AlignedMem`] back to the OS with
/// `MADV_DONTNEED`; made by [`AlignedMem::releaser`].
///
/// On a private anonymous mapping (all [`AlignedMem`] maps) the kernel
/// drops the pages at once, and the next access to them finds fresh zeroed
/// pages. Nothing else about the mapping changes.
pub(crate) struct Releaser<'a> {
    base: NonNull<u8>,
    /// The bytes asked for.
    len: usize,
    /// The mapping's length: `len` rounded up to the page size. The slack
    /// after `len` belongs to nobody.
    mapped: usize,
    /// Up to here the mapping may be backed by transparent huge pages: it
    /// is advised `MADV_HUGEPAGE`, THP is not off, and every 2 MiB block
    /// below it lies inside the mapping. Such a block goes back whole or
    /// not at all (see [`inward`]). 0 when there is none.
    huge_end: usize,
    _mem: PhantomData<&'a AlignedMem>,
}

impl Releaser<'_> {
    /// Gives back the physical memory of the pages that lie wholly inside
    /// `range` (byte offsets, rounded inward by [`inward`]), with one
    /// system call; returns how many bytes that was, 0 when the range
    /// holds no whole page or the kernel refused (memory locked by
    /// `mlockall`, say). Pages never touched count too: the kernel does
    /// not say which pages were resident.
    ///
    /// # Safety
    ///
    /// For the length of the call nothing may access the bytes in `range`,
    /// and no reference to them may live across it: afterwards the pages
    /// given back read as zeros, a change the compiler does not see. All
    /// zeros must be a valid value of whatever is stored there.
    pub(crate) unsafe fn release(&self, range: Range<usize>) -> usize {
        debug_assert!(
            range.start <= range.end && range.end <= self.len,
            "range {range:?} is not inside the {} bytes",
            self.len
        );
        let pages = inward(range, self.len, self.mapped, self.huge_end, page_size());
        if pages.is_empty() {
            return 0;
        }
        debug_assert!(
            pages.end <= self.mapped,
            "pages {pages:?} end past the mapping's {} bytes",
            self.mapped
        );
        // SAFETY: `pages.start < pages.end <= mapped` (asserted above), so
        // the offset stays inside the mapping that starts at `base`.
        let addr = unsafe { self.base.as_ptr().add(pages.start) };
        // SAFETY: madvise's own preconditions: `addr` is page-aligned (the
        // mapping's base is, and `inward` rounds to pages) and
        // `[addr, addr + len)` lies inside the mapping the `AlignedMem`
        // behind `self` owns and keeps mapped while `self` borrows it. What
        // it does to memory: the pages of a private anonymous mapping are
        // dropped and read as zeros afterwards, which the caller's contract
        // allows (no access during the call, no reference across it, zeros
        // are valid there).
        let done = unsafe { libc::madvise(addr.cast(), pages.len(), libc::MADV_DONTNEED) };
        if done == 0 { pages.len() } else { 0 }
    }
}

impl fmt::Debug for Releaser<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Releaser")
            .field("base", &self.base)
            .field("len", &self.len)
            .field("huge_end", &self.huge_end)
            .finish_non_exhaustive()
    }
}

/// The whole pages inside the byte range `range` of a mapping of `mapped`
/// bytes that holds `len` bytes of data: `range` rounded inward to `page`,
/// or to [`HUGE_PAGE_SIZE`] below `huge_end`.
///
/// Inward, because a page that `range` covers only in part holds bytes of
/// someone else's. Huge-page blocks whole, because the kernel frees a
/// transparent huge page only when all of it goes: releasing part of one
/// splits it and frees nothing until memory runs short, and khugepaged may
/// fill it in again (by default it collapses a block in which a single
/// small page is left). A range that reaches `len` takes the slack up to
/// `mapped` with it: those bytes are nobody's.
fn inward(
    range: Range<usize>,
    len: usize,
    mapped: usize,
    huge_end: usize,
    page: usize,
) -> Range<usize> {
    let unit = |at: usize| if at < huge_end { HUGE_PAGE_SIZE } else { page };
    let start = round_up(range.start, unit(range.start)).unwrap_or(usize::MAX);
    let end = if range.end == len { mapped } else { range.end };
    // `end` is in the huge part when the last byte before it is.
    let end = round_down(end, unit(end.saturating_sub(1)));
    start..end.max(start)
}

/// Whether the kernel may back `MADV_HUGEPAGE` mappings with transparent
/// huge pages: its setting is `always` or `madvise`, not `never`, and the
/// kernel has them at all. Read at each call (a file read), since an
/// administrator may change it at run time.
fn transparent_huge_pages() -> bool {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .is_ok_and(|mode| !mode.contains("[never]"))
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

/// `value` rounded down to a multiple of `align` (a power of two).
const fn round_down(value: usize, align: usize) -> usize {
    value & !(align - 1)
}

/// `value` rounded up to a multiple of `align` (a power of two), or `None`
/// on overflow.
pub(crate) const fn round_up(value: usize, align: usize) -> Option<usize> {
    match value.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{HUGE_PAGE_SIZE, inward};

    const PAGE: usize = 4096;
    const HUGE: usize = HUGE_PAGE_SIZE;

    #[test]
    fn a_range_rounds_inward_to_pages() {
        assert_eq!(
            inward(100..3 * PAGE + 5, 1 << 20, 1 << 20, 0, PAGE),
            PAGE..3 * PAGE
        );
        assert_eq!(
            inward(PAGE..2 * PAGE, 1 << 20, 1 << 20, 0, PAGE),
            PAGE..2 * PAGE
        );
        // No whole page inside: nothing, never a range that runs backwards.
        assert!(inward(100..PAGE - 1, 1 << 20, 1 << 20, 0, PAGE).is_empty());
        assert!(inward(PAGE - 1..PAGE + 1, 1 << 20, 1 << 20, 0, PAGE).is_empty());
    }

    #[test]
    fn a_range_to_the_end_takes_the_slack() {
        // 10_000 bytes in three mapped pages: the last page is partly
        // slack, which is nobody's.
        assert_eq!(inward(0..10_000, 10_000, 3 * PAGE, 0, PAGE), 0..3 * PAGE);
        assert_eq!(inward(0..9_999, 10_000, 3 * PAGE, 0, PAGE), 0..2 * PAGE);
    }

    #[test]
    fn huge_blocks_go_whole_or_not_at_all() {
        let mapped = 4 * HUGE + 5 * PAGE;
        let huge_end = 4 * HUGE;
        // Inside the huge part: whole 2 MiB blocks only.
        assert_eq!(
            inward(PAGE..3 * HUGE - PAGE, mapped, mapped, huge_end, PAGE),
            HUGE..2 * HUGE
        );
        assert!(inward(PAGE..2 * HUGE - PAGE, mapped, mapped, huge_end, PAGE).is_empty());
        // Past it (the tail no huge page fits in), single pages again.
        assert_eq!(
            inward(3 * HUGE + 1..mapped - 1, mapped, mapped, huge_end, PAGE),
            4 * HUGE..mapped - PAGE
        );
        assert_eq!(
            inward(HUGE - 1..mapped, mapped, mapped, huge_end, PAGE),
            HUGE..mapped
        );
    }
}
