//! The engine's statistics (`PoolStats`): the slow-path counters and the
//! holder-written shared-get counts of a pool without thread caches. The
//! waits and their wait-time histogram are counted by the wait queue,
//! under its lock (W6 in `wait.rs`).

use crossbeam_utils::CachePadded;

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
    lines: Box<[CachePadded<[AtomicU64; COUNTS_PER_LINE as usize]>]>,
    /// Index `i`'s counter is on line `i >> line_shift`: the index's word
    /// when a word has at most 16 indices, else its half of the word.
    line_shift: u32,
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
                .map(|_| CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            line_shift: per_line.trailing_zeros(),
        }
    }

    /// The bytes `HolderCounts::new` allocates for a pool of `capacity`
    /// buffers without caches.
    pub(crate) fn bytes_for(capacity: usize) -> usize {
        let (words, per) = bitmap::shape_for(capacity);
        let lines = words.saturating_mul(per.div_ceil(COUNTS_PER_LINE) as usize);
        lines.saturating_mul(std::mem::size_of::<
            CachePadded<[AtomicU64; COUNTS_PER_LINE as usize]>,
        >())
    }

    /// The holder of `index` (the caller) counts a get.
    #[inline]
    pub(super) fn bump(&self, index: u32) {
        let line = &self.lines[(index >> self.line_shift) as usize];
        let counter = &line[(index & ((1 << self.line_shift) - 1)) as usize];
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
            .flat_map(|line| line.iter())
            // ORDERING: Relaxed: a statistic.
            .map(|c| c.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}
