//! The share count of one pooled buffer: how many [`View`](super::View)s
//! and [`SplitBuf`](super::SplitBuf)s reach it. The last one to drop sends
//! the buffer home.
//!
//! One `AtomicU32` per buffer of the pool, in an array beside the slab
//! (allocated on the pool's first split buffer), so that a split or a clone
//! costs one atomic increment and no allocation; a box per split, as
//! `Bytes::from_owner` makes, would allocate per frame.
//!
//! The protocol is `Arc`'s: an increment needs no ordering (the caller
//! already holds a share, so the count cannot reach 0 meanwhile); a
//! decrement is `Release`, and the one that takes the count from 1 to 0
//! then loads the count with `Acquire` before it sends the buffer home. So every
//! read of the buffer through any share happens before the next holder's
//! first write (the pool's zeroing, a new read-ahead), which is what makes
//! handing frozen views to other threads sound.

use crate::sync::{AtomicU32, Ordering};

/// Beyond this many shares of one buffer, a clone aborts rather than risk
/// wrapping the count (as `Arc` does): 2^31 live views of one buffer can
/// only be a leak in a loop.
const MAX_SHARES: u32 = i32::MAX as u32;

/// One share count per buffer of a pool.
pub(crate) struct Counts {
    counts: Box<[AtomicU32]>,
}

impl Counts {
    /// All counts 0: no buffer is shared.
    pub(crate) fn new(capacity: usize) -> Counts {
        Counts {
            counts: (0..capacity).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// The count of buffer `index`.
    pub(crate) fn get(&self, index: u32) -> &AtomicU32 {
        &self.counts[index as usize]
    }
}

/// The first share of a buffer its caller holds alone (the count is 0:
/// nothing shares it, and nobody else can start to).
pub(crate) fn first(count: &AtomicU32) {
    debug_assert_eq!(count.load(Ordering::Relaxed), 0, "a held buffer was shared");
    // ORDERING: Relaxed: the share travels to other threads only inside a
    // value that is sent (a move, which synchronises by its own means).
    count.store(1, Ordering::Relaxed);
}

/// One more share, from a caller that holds one.
pub(crate) fn add(count: &AtomicU32) {
    // ORDERING: Relaxed, as `Arc::clone`: the caller's share keeps the count
    // above 0, and the new share is sent to other threads only by moving it.
    let old = count.fetch_add(1, Ordering::Relaxed);
    if old >= MAX_SHARES {
        std::process::abort();
    }
}

/// Drops a share; `true` if it was the last one: the caller then holds
/// the buffer alone and must send it home.
pub(crate) fn remove(count: &AtomicU32) -> bool {
    if cfg!(iobuf_mutant = "share_drop_without_acquire") {
        // The mutant: the last share sends the buffer home without
        // acquiring the other shares' reads (they race with the next
        // holder's writes).
        return count.fetch_sub(1, Ordering::Relaxed) == 1;
    }
    // ORDERING: Release: this share's reads of the buffer happen before the
    // decrement, and so before the last share's Acquire load below.
    if count.fetch_sub(1, Ordering::Release) != 1 {
        return false;
    }
    // ORDERING: Acquire: synchronises with every earlier Release decrement
    // (each heads a release sequence that the later RMWs on the count
    // continue, and this load reads the last of them), so all other shares'
    // reads happen before the buffer goes home. A load rather than
    // `fence(Acquire)`, as std's `Arc` does under ThreadSanitizer: TSan
    // does not model fences and reports the next holder's writes as racing
    // with those reads. The load costs nothing that matters here (the last
    // drop of a buffer, once per buffer use).
    count.load(Ordering::Acquire);
    true
}
