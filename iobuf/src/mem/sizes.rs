//! The sizes memory comes in on this machine: the cache line, the OS page,
//! the transparent huge page and whether the kernel has them, the size
//! from which memory is mapped rather than allocated, and physical memory;
//! and rounding to them.

use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

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

/// Whether the kernel may back `MADV_HUGEPAGE` mappings with transparent
/// huge pages: its setting is `always` or `madvise`, not `never`, and the
/// kernel has them at all. Read at each call (a file read), since an
/// administrator may change it at run time.
pub(super) fn transparent_huge_pages() -> bool {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .is_ok_and(|mode| !mode.contains("[never]"))
}

/// `value` rounded down to a multiple of `align` (a power of two).
pub(super) const fn round_down(value: usize, align: usize) -> usize {
    value & !(align - 1)
}

/// `value` rounded up to a multiple of `align` (a power of two), or `None`
/// on overflow.
pub(super) const fn round_up(value: usize, align: usize) -> Option<usize> {
    match value.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}
