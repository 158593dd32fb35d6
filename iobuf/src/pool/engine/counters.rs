//! The engine's statistics (`PoolStats`): the slow-path counters and the
//! holder-written shared-get counts of a pool without thread caches. The
//! waits and their wait-time histogram are counted by the wait queue,
//! under its lock (W6 in `wait.rs`).

use crate::bitmap::{self, Bitmap};
use crate::sync::{AtomicU64, AtomicUsize, Ordering};
pub(crate) use crate::wait::{WAIT_BOUNDS_MICROS, WaitTimes};

/// The slow-path statistics (`PoolStats`); every atomic one `Relaxed`:
/// counts, which order nothing.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) timeouts: AtomicU64,
    pub(super) cancellations: AtomicU64,
    /// Strikes served by the bitmap with no cache involved, in a pool with
    /// caching on (a thread that is exiting); without caches,
    /// `Engine::ring_gets` counts them.
    pub(super) shared_gets: AtomicU64,
    /// Strikes served by refilling the thread's cache from the bitmap.
    pub(super) refill_gets: AtomicU64,
    /// Strikes served after moving other threads' cached indices.
    pub(super) steal_gets: AtomicU64,
    /// `try_get`s (and `try_get_*`) that found the pool empty.
    pub(super) try_get_failures: AtomicU64,
    /// The most buffers seen in use at once (see `PoolStats::high_water`).
    pub(super) high_water: AtomicUsize,
}

/// The counters of [`Engine::counters`].
pub(crate) struct Counts {
    pub(crate) thread_waits: u64,
    pub(crate) task_waits: u64,
    pub(crate) timeouts: u64,
    pub(crate) cancellations: u64,
    pub(crate) shared_gets: u64,
    pub(crate) refill_gets: u64,
    pub(crate) steal_gets: u64,
    pub(crate) try_get_failures: u64,
    pub(crate) wait_times: WaitTimes,
    pub(crate) high_water: usize,
}

impl Counters {
    pub(super) fn bump(counter: &AtomicU64) {
        // ORDERING: Relaxed: a statistic.
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// At least `in_use` buffers are (or were just) in use.
    pub(super) fn saw_in_use(&self, in_use: usize) {
        // A load first: once the mark is reached (an exhausted pool, where
        // every queued wait lands here) no RMW dirties the line for the
        // other threads' loads.
        // ORDERING: Relaxed: a statistic.
        if self.high_water.load(Ordering::Relaxed) < in_use {
            // ORDERING: Relaxed: a statistic.
            self.high_water.fetch_max(in_use, Ordering::Relaxed);
        }
    }
}

/// Counters of the indices per line: 16 of 8 bytes on a 128-byte line.
const COUNTS_PER_LINE: u32 = 16;

/// One line of [`HolderCounts`]: `COUNTS_PER_LINE` counters, alone on a
/// 128-byte line (`CACHE_LINE_SIZE` or more everywhere but s390x, whose
/// 256-byte lines it halves). `repr(C)`: the counters start the line.
#[repr(C, align(128))]
struct Line([AtomicU64; COUNTS_PER_LINE as usize]);

/// Whether the lines, back to back, are one array of counters: a line is
/// exactly its counters, with no padding (std's 8-byte atomics; not
/// loom's, whose atomics are larger). Then `bump` indexes that array.
const FLAT: bool =
    std::mem::size_of::<Line>() == COUNTS_PER_LINE as usize * std::mem::size_of::<AtomicU64>();

/// One counter per index, each written only by the index's holder: the
/// shared gets of a pool without thread caches.
///
/// Every get of such a pool is a shared get, so one pool-wide atomic would
/// cost each a third RMW beside the bitmap's two (a `lock` instruction even
/// alone, and under contention a cache line every getter writes). The
/// holder of an index is its only owner (I1), and it got the index through
/// the bitmap's RMWs or a waiter's hand-off, which order the previous
/// holder's increment before its own: so a `Relaxed` load and store count
/// without losing any. The counters of one bitmap word's indices share
/// their lines with no other word's, so threads on different words (the
/// bitmap spreads them) write different lines here too. A reader sums them
/// (racy, but each counter only grows, so a later sum is never smaller).
///
/// Memory: a 128-byte line per 16 indices of a word (8 bytes per index in
/// pools of 128 buffers or more; a line per word in smaller ones).
pub(crate) struct HolderCounts {
    lines: Box<[Line]>,
    /// Index `i`'s counter is counter `i << spread` of the lines taken as
    /// one array (16 per line): `spread = log2(16 / per_line)`, with
    /// `per_line = min(per, 16)` a word's indices per line. So line
    /// `i >> log2(per_line)` (the index's word when a word has at most 16
    /// indices, else its half of the word), slot `(i % per_line) << spread`.
    spread: u32,
}

impl HolderCounts {
    /// Counters for every index of `free` (`on`), or none.
    pub(super) fn new(free: &Bitmap, on: bool) -> HolderCounts {
        let (words, per) = free.shape();
        // Both powers of two (`Bitmap`'s layout).
        let per_line = per.min(COUNTS_PER_LINE);
        let lines = if on {
            words * (per / per_line) as usize
        } else {
            0
        };
        HolderCounts {
            lines: (0..lines)
                .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            spread: (COUNTS_PER_LINE / per_line).trailing_zeros(),
        }
    }

    /// The bytes `HolderCounts::new` allocates for a pool of `capacity`
    /// buffers without caches.
    pub(crate) fn bytes_for(capacity: usize) -> usize {
        let (words, per) = bitmap::shape_for(capacity);
        let lines = words.saturating_mul(per.div_ceil(COUNTS_PER_LINE) as usize);
        lines.saturating_mul(std::mem::size_of::<Line>())
    }

    /// The holder of `index` (the caller) counts a get.
    #[inline]
    pub(super) fn bump(&self, index: u32) {
        let flat = (index as usize) << self.spread;
        debug_assert!(
            flat < self.lines.len() * COUNTS_PER_LINE as usize,
            "index {index}: counter {flat} of {} lines",
            self.lines.len()
        );
        let counter = if FLAT {
            let first = self.lines.as_ptr().cast::<AtomicU64>();
            // SAFETY: `FLAT`: each `Line` (`repr(C)`) is its 16 counters
            // with no padding, and a slice lays its lines back to back, so
            // the slice is one array of `lines.len() * 16` counters, and the
            // pointer from `as_ptr` may reach all of it. `flat` is in it:
            // `index` is an index of the bitmap `new` sized these counters
            // for (its holder calls: I1), so `index < words * per`, and
            // `flat = index * 16 / per_line < words * (per / per_line) * 16`,
            // the counters of the lines `new` made (with counting on: `bump`
            // is called only then).
            let counter = unsafe { first.add(flat) };
            // SAFETY: an initialised counter of `lines` (above), which lives
            // as long as `&self`; atomics are shared through `&`.
            unsafe { &*counter }
        } else {
            let (line, slot) = (
                flat / COUNTS_PER_LINE as usize,
                flat % COUNTS_PER_LINE as usize,
            );
            // SAFETY: `line < lines.len()`, as `flat` is in range (above).
            let line = unsafe { self.lines.get_unchecked(line) };
            &line.0[slot]
        };
        // ORDERING: Relaxed: only the index's holder writes its counter, and
        // the previous holder's store happens before this load (the bitmap's
        // SeqCst RMWs or the hand-off's lock passed the index on), so
        // nothing is lost; a reader needs no edge (a statistic).
        let n = counter.load(Ordering::Relaxed);
        // ORDERING: Relaxed, as the load.
        counter.store(n.wrapping_add(1), Ordering::Relaxed);
    }

    /// The gets counted so far (racy, never smaller than an earlier sum).
    pub(super) fn sum(&self) -> u64 {
        self.lines
            .iter()
            .flat_map(|line| line.0.iter())
            // ORDERING: Relaxed: a statistic.
            .map(|c| c.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

#[cfg(all(test, not(loom)))]
mod holder_count_tests {
    use super::{COUNTS_PER_LINE, FLAT, HolderCounts};
    use crate::bitmap::Bitmap;
    use crate::sync::Ordering;

    /// Where index `i`'s count lands: the (line, slot) whose counter a bump
    /// of `i` alone raised.
    fn place_of(counts: &HolderCounts, i: u32) -> (usize, usize) {
        let before: Vec<u64> = counts
            .lines
            .iter()
            .flat_map(|l| l.0.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        counts.bump(i);
        let after = counts
            .lines
            .iter()
            .flat_map(|l| l.0.iter().map(|c| c.load(Ordering::Relaxed)));
        let changed: Vec<usize> = before
            .iter()
            .zip(after)
            .enumerate()
            .filter(|(_, (b, a))| **b != *a)
            .map(|(k, _)| k)
            .collect();
        assert_eq!(changed.len(), 1, "index {i} bumped {changed:?}");
        let k = changed[0];
        (k / COUNTS_PER_LINE as usize, k % COUNTS_PER_LINE as usize)
    }

    #[test]
    fn every_index_has_its_own_counter_on_its_own_words_lines() {
        // On x86-64 (std's 8-byte atomics) `bump` takes the flat path.
        assert_eq!(FLAT, std::mem::size_of::<crate::sync::AtomicU64>() == 8);
        // Each bump is checked against every counter: fewer under Miri.
        let capacities: Vec<usize> = if cfg!(miri) {
            vec![1, 2, 3, 4, 5, 8, 33, 64, 129]
        } else {
            (1..=70).chain([100, 128, 129, 1000, 1024]).collect()
        };
        for capacity in capacities {
            let free = Bitmap::new_full(capacity);
            let (_, per) = free.shape();
            let counts = HolderCounts::new(&free, true);
            assert_eq!(
                counts.lines.len() * std::mem::size_of::<super::Line>(),
                HolderCounts::bytes_for(capacity),
                "capacity {capacity}"
            );
            let mut owner = vec![None; counts.lines.len() * COUNTS_PER_LINE as usize];
            for i in 0..capacity as u32 {
                let (line, slot) = place_of(&counts, i);
                let word = i / per;
                let k = line * COUNTS_PER_LINE as usize + slot;
                assert_eq!(owner[k], None, "capacity {capacity}: {i} shares a counter");
                owner[k] = Some(i);
                // No line holds two words' counters.
                let other = owner[line * COUNTS_PER_LINE as usize..][..COUNTS_PER_LINE as usize]
                    .iter()
                    .flatten()
                    .find(|&&j| j / per != word);
                assert_eq!(other, None, "capacity {capacity}: {i}'s line");
            }
            assert_eq!(counts.sum(), capacity as u64);
        }
    }
}
