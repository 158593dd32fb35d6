//! The examples' counting global allocator, shared by `echo_server` and
//! `tokio_echo` (and so `uring_echo`, which includes `tokio_echo`): each
//! includes this file with `#[path]`, so each binary has exactly one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts every allocation of the process, to show what the hot path costs.
struct CountingAlloc;

/// Allocations (and reallocations) so far, every thread together.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// One more allocation.
fn count_allocation() {
    // ORDERING: Relaxed: a statistics counter; readers take differences
    // across barrier waits, which already order the increments they cover.
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
}

/// Allocations so far, every thread together.
pub fn allocations() -> u64 {
    // ORDERING: Relaxed: see `count_allocation`.
    ALLOCATIONS.load(Ordering::Relaxed)
}

// SAFETY: every call goes to the system allocator unchanged, which upholds
// `GlobalAlloc`'s contract; the wrapper only counts on the side, without
// allocating.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: the caller's contract for `alloc` (non-zero size) is
        // passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: the caller's contract for `alloc_zeroed` (non-zero size)
        // is passed on unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`,
        // with this `layout` (the caller's contract).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: `ptr` came from `System` with `layout`, and `new_size` is
        // valid for it (the caller's contract for `realloc`).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;
