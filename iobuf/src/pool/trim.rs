//! Giving the memory of idle buffers back to the OS: the body of
//! [`BoundedPool::release_memory`].
//!
//! The call touches only buffers it holds, so it needs no protocol of its
//! own: it is a client of the engine's take and give, like any holder.
//!
//! 1. **Take** every idle index out of the pool with the engine's
//!    non-waiting take (the strike of `try_get`: this thread's cache, the
//!    bitmap, then the other threads' caches), at most `capacity` times,
//!    into a bit set. Each index taken is this call's alone (I1).
//! 2. **Keep warm**: give the `keep_warm` lowest taken indices straight
//!    back, untouched.
//! 3. **Release**: for each run of consecutive taken indices, give the OS
//!    the pages that lie wholly inside the run's items (`Releaser`, one
//!    `madvise` per run).
//! 4. **Give back** every index still taken, without zeroing.
//!
//! # Invariants
//!
//! - **R1** a page is given back only while this call holds every index
//!   whose item has a byte on it: the page lies wholly inside one run of
//!   taken items (`Releaser::release` rounds inward).
//! - **R2** every taken index goes back to the pool exactly once, on every
//!   path: its bit is cleared right before it goes back, and the set's
//!   `Drop` gives back whatever is still set, also when a take or a give
//!   resumes a waker's panic (W5 in `wait.rs`).

use std::any::Any;
use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};

use super::engine::{Engine, Wait};
use super::slab::Slab;
use crate::buffer::BufferTier;

/// Bits per word of [`Taken`].
const WORD_BITS: usize = u64::BITS as usize;

/// [`BoundedPool::release_memory`](super::BoundedPool::release_memory) of
/// the pool whose free indices are `engine`'s and whose items are `slab`'s:
/// the steps of the module docs; returns the bytes given back.
pub(super) fn release_idle<T: BufferTier>(
    engine: &Engine,
    slab: &Slab<T>,
    keep_warm: usize,
) -> usize {
    // A pool that can give nothing back is not disturbed at all.
    let Some(releaser) = slab.releaser() else {
        return 0;
    };
    let capacity = slab.capacity();
    let mut taken = Taken::new(engine, capacity);
    // Bounded: no more than `capacity` indices can be held at once, so the
    // loop ends even while other threads keep returning buffers.
    while taken.count < capacity {
        match engine.take(Wait::Never) {
            Some(i) => taken.insert(i),
            None => break,
        }
    }
    // The lowest indices, not the ones this thread would be handed next:
    // every thread starts its gets from its own place in the bitmap, so no
    // choice is "next" for all of them, while a warm block at the start of
    // the slab leaves the rest as one long run (one system call, and whole
    // huge pages where a warm buffer in each 2 MiB block would pin them all).
    // They go back before any system call, so that concurrent gets find
    // them meanwhile.
    taken.give_back(keep_warm);
    let mut released = 0;
    for run in taken.runs() {
        // SAFETY: R1: this call holds every index of `run` (taken above,
        // I1), so until they go back below no one else reaches their items,
        // and this call makes no reference to them; the bytes are exactly
        // those items'; and all zeros is a valid `T` (a `BufferTier` is
        // plain byte arrays).
        released += unsafe { releaser.release(slab.item_bytes(run)) };
    }
    // Not through `put`: a zeroing pool would write every released page
    // again. Its idle buffers were zeros (zeroed on their return), the warm
    // ones untouched, and the released ones read as zeros now.
    drop(taken);
    released
}

/// The indices this call holds: one bit per buffer of the pool, which is
/// smaller than a list once one buffer in 32 is idle, and sorted for free.
/// Dropping it gives back every index still in it (R2).
struct Taken<'a> {
    engine: &'a Engine,
    words: Vec<u64>,
    /// Set bits.
    count: usize,
}

impl<'a> Taken<'a> {
    fn new(engine: &'a Engine, capacity: usize) -> Self {
        Taken {
            engine,
            words: vec![0; capacity.div_ceil(WORD_BITS)],
            count: 0,
        }
    }

    fn insert(&mut self, index: u32) {
        let (word, bit) = (index as usize / WORD_BITS, index as usize % WORD_BITS);
        debug_assert!(
            self.words[word] & (1 << bit) == 0,
            "index {index} was taken twice"
        );
        self.words[word] |= 1 << bit;
        self.count += 1;
    }

    /// Gives the `n` lowest indices back to the pool (all, if fewer).
    ///
    /// Every one goes back even if giving one resumes a waker's panic (the
    /// engine settles the index first, W5): the first such panic resumes
    /// once all `n` are back, unless the thread is already unwinding (a
    /// second panic would abort), in which case it is dropped.
    fn give_back(&mut self, mut n: usize) {
        let engine = self.engine;
        let mut first_panic: Option<Box<dyn Any + Send>> = None;
        for (w, word) in self.words.iter_mut().enumerate() {
            while *word != 0 && n > 0 {
                let bit = word.trailing_zeros() as usize;
                *word &= !(1 << bit);
                self.count -= 1;
                n -= 1;
                let index = (w * WORD_BITS + bit) as u32;
                // Unwind safety: the engine puts the index where it belongs
                // before it resumes the panic, so it is whole afterwards.
                if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| engine.give(index))) {
                    first_panic.get_or_insert(payload);
                }
            }
        }
        if let Some(payload) = first_panic {
            if !std::thread::panicking() {
                panic::resume_unwind(payload);
            }
        }
    }

    /// The maximal runs of consecutive indices held, in order.
    fn runs(&self) -> Runs<'_> {
        Runs {
            words: &self.words,
            at: 0,
        }
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        self.give_back(usize::MAX);
    }
}

/// The iterator of [`Taken::runs`].
struct Runs<'a> {
    words: &'a [u64],
    /// The bit to look from.
    at: usize,
}

impl Runs<'_> {
    /// The first bit at or after `from` that is set (`set`) or clear.
    fn next_bit(&self, from: usize, set: bool) -> Option<usize> {
        let mut w = from / WORD_BITS;
        // Bits below `from` in its word do not count.
        let mut below = !0u64 << (from % WORD_BITS);
        while let Some(&word) = self.words.get(w) {
            let bits = if set { word } else { !word } & below;
            if bits != 0 {
                return Some(w * WORD_BITS + bits.trailing_zeros() as usize);
            }
            w += 1;
            below = !0;
        }
        None
    }
}

impl Iterator for Runs<'_> {
    type Item = Range<u32>;

    fn next(&mut self) -> Option<Range<u32>> {
        let start = self.next_bit(self.at, true)?;
        // Bits past the capacity are never set, so a run ends at the
        // capacity at the latest, which fits in a u32 (at most 2^31).
        let end = self
            .next_bit(start, false)
            .unwrap_or(self.words.len() * WORD_BITS);
        self.at = end;
        Some(start as u32..end as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::Runs;

    /// The runs as (start, end) pairs.
    fn runs(words: &[u64]) -> Vec<(u32, u32)> {
        Runs { words, at: 0 }.map(|r| (r.start, r.end)).collect()
    }

    #[test]
    fn runs_are_maximal_and_in_order() {
        assert!(runs(&[0, 0]).is_empty());
        assert_eq!(runs(&[0b1011_0110]), [(1, 3), (4, 6), (7, 8)]);
        // Across words, and to the very end.
        assert_eq!(runs(&[1 << 63, 0b11, 0]), [(63, 66)]);
        assert_eq!(runs(&[!0, !0]), [(0, 128)]);
        assert_eq!(runs(&[!0 << 1, 1 << 63]), [(1, 64), (127, 128)]);
    }
}
