//! Giving pages back: a [`Releaser`] hands whole pages of one mapped
//! [`AlignedMem`] back to the OS with `MADV_DONTNEED`, keeping the mapping,
//! rounding inward to pages (and to whole huge pages where they may back
//! it).

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::ptr::NonNull;

use super::map::{AlignedMem, Backing};
use super::sizes::{HUGE_PAGE_SIZE, page_size, round_down, round_up, transparent_huge_pages};

impl AlignedMem {
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
