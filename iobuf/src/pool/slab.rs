//! The items of a pool: `capacity` values of `T` in one page-aligned
//! allocation, item `i` at byte `i * size_of::<T>()`.
//!
//! The slab only stores; who may touch item `i` is the pool's invariant
//! (**I1**, in `engine.rs`): whoever holds index `i`, alone. The same holds
//! for giving the pages of items back to the OS (`releaser`): only pages
//! that lie wholly inside items whose indices the caller holds.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::mem::size_of;
use std::ops::Range;
use std::ptr::NonNull;

use crate::error::Error;
use crate::mem::{AlignedMem, MapOptions, Releaser, page_size};

/// `capacity` values of `T` in one aligned allocation.
pub(super) struct Slab<T> {
    /// Owns the bytes behind `base`; freed when the slab drops.
    mem: AlignedMem,
    base: NonNull<T>,
    capacity: usize,
    /// Owns `capacity` values of `T` and hands out `&mut T` through `&self`
    /// (to the holder of an index), as a `Mutex<T>` does: so `T` must be
    /// invariant, or `&Slab<&'static U>` would coerce to `&Slab<&'short U>`
    /// and let a short-lived reference be stored for a long-lived reader.
    /// `UnsafeCell` makes it so (and tells drop check that `T`s are owned).
    _items: PhantomData<UnsafeCell<T>>,
}

impl<T> Slab<T> {
    /// Room for `capacity` items, zeroed (and lazily committed where the
    /// memory is mapped); the caller initialises every item before use.
    pub(super) fn alloc(capacity: usize, opts: MapOptions) -> Result<Self, Error> {
        let len = capacity.checked_mul(size_of::<T>()).ok_or_else(|| {
            Error::invalid(format!(
                "{capacity} items of {} bytes overflow usize",
                size_of::<T>()
            ))
        })?;
        let align = page_size().max(align_of::<T>());
        let mut mem = AlignedMem::with_options(len, align, opts)?;
        let base = NonNull::new(mem.as_mut_ptr().cast::<T>()).expect("AlignedMem is non-null");
        Ok(Slab {
            mem,
            base,
            capacity,
            _items: PhantomData,
        })
    }

    /// Fills every item with `make(i)`. If `make` panics, the items made so
    /// far are dropped and the panic goes on.
    pub(super) fn fill(&self, mut make: impl FnMut(usize) -> T) {
        /// Drops the items made so far if `make` panics.
        struct Filled<'a, T> {
            slab: &'a Slab<T>,
            count: usize,
        }
        impl<T> Drop for Filled<'_, T> {
            fn drop(&mut self) {
                // SAFETY: items 0..count were written and not dropped.
                unsafe { self.slab.drop_items(self.count) };
            }
        }
        let mut filled = Filled {
            slab: self,
            count: 0,
        };
        for i in 0..self.capacity {
            let value = make(i);
            // SAFETY: `i < capacity`; the slot is uninitialised (written
            // once, here), aligned and inside the slab.
            unsafe { self.item(i as u32).write(value) };
            filled.count += 1;
        }
        std::mem::forget(filled);
    }

    /// The number of items.
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// A pointer to item `i`.
    #[inline(always)]
    pub(super) fn item(&self, i: u32) -> *mut T {
        let i = i as usize;
        debug_assert!(i < self.capacity, "index {i} >= capacity {}", self.capacity);
        // SAFETY: `i < capacity` (I3), so the offset stays inside the
        // allocation of `capacity * size_of::<T>()` bytes.
        unsafe { self.base.as_ptr().add(i) }
    }

    /// What gives the slab's pages back to the OS, or `None` where nothing
    /// can be given back (see [`AlignedMem::releaser`]).
    pub(super) fn releaser(&self) -> Option<Releaser<'_>> {
        self.mem.releaser()
    }

    /// The bytes of items `items`, as offsets from the slab's start: what
    /// [`Releaser::release`] takes.
    pub(super) fn item_bytes(&self, items: Range<u32>) -> Range<usize> {
        let (first, end) = (items.start as usize, items.end as usize);
        debug_assert!(
            first <= end && end <= self.capacity,
            "items {items:?} are not inside 0..{}",
            self.capacity
        );
        // No overflow: `capacity * size_of::<T>()` was checked in `alloc`.
        first * size_of::<T>()..end * size_of::<T>()
    }

    /// Drops items `0..count` in place.
    ///
    /// # Safety
    ///
    /// Items `0..count` must be initialised, not dropped before, never used
    /// again, and no reference to them may be live.
    pub(super) unsafe fn drop_items(&self, count: usize) {
        if std::mem::needs_drop::<T>() {
            for i in 0..count {
                // SAFETY: the caller's contract.
                unsafe { self.item(i as u32).drop_in_place() };
            }
        }
    }
}
