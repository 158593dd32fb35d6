//! The share count of one pooled buffer: how many [`View`](super::View)s
//! and [`SplitBuf`](super::SplitBuf)s reach it. The last one to drop sends
//! the buffer home.
//!
//! One `AtomicU32` per buffer of the pool: the pool's side words
//! (`BoundedPool::side_words`, an array beside the slab allocated on the
//! pool's first split buffer, which the pool itself never reads), so that a split or a clone
//! costs one atomic increment and no allocation; a box per split, as
//! `Bytes::from_owner` makes, would allocate per frame.
//!
//! A writer (`SplitBuf`) may hold *credits*: shares it added in one batch
//! (`add_n`) and hands to the views it cuts with no atomic operation each.
//! The count is then the live shares plus the writer's credits; the writer
//! counts them in when it asks whether it is the only share
//! (`is_only_with`), and gives them back (`give_back`) before it watches
//! and when it drops, so a watched count is the watcher's one share plus
//! the others, as below.
//!
//! The protocol is `Arc`'s: an increment needs no ordering (the caller
//! already holds a share, so the count cannot reach 0 meanwhile); a
//! decrement is `Release`, and the one that takes the count from 1 to 0
//! then loads the count with `Acquire` before it sends the buffer home. So every
//! read of the buffer through any share happens before the next holder's
//! first write (the pool's zeroing, a new read-ahead), which is what makes
//! handing frozen views to other threads sound.

//!
//! # Watching for the only share
//!
//! A frame reader that needs room for a partial frame, while views of
//! frames it handed out share its buffer, must not wait for another buffer
//! of the same pool forever: once those views drop, its own buffer may be
//! the one it waits for (the reader would wait on itself). So it *watches*
//! its buffer: it registers a waker (`watch`), then raises the
//! count's `WATCHED` bit with one RMW whose old value says whether it is
//! already the only share. A share whose drop takes a watched count from 2
//! to 1 (the watcher's share is the one left) wakes the registered waker
//! (`remove`). The bit and the count are one word, so either the
//! RMW that raises the bit sees the count at 1, or the drop that brings it
//! to 1 sees the bit: no wake-up is lost (loom model
//! `a_watcher_learns_it_is_the_only_share`, mutant
//! `watch_checks_before_flag`).
//!
//! - **U1** only the holder of a share watches, and at most one share of a
//!   buffer watches at a time (a frame reader's writer); it stops watching
//!   (`unwatch`) before it drops its share.
//! - **U2** while a share is watched, the count without `WATCHED` is at
//!   least 1 (the watcher's own share), so the watched bit never reaches a
//!   "last share" decision.

use std::task::Waker;

use crate::sync::{self, AtomicU32, Mutex, Ordering, fence};

/// The count's top bit: the buffer's writer waits to become its only share
/// (`MAX_SHARES` keeps counts below it).
const WATCHED: u32 = 1 << 31;

/// Beyond this many shares of one buffer, a clone aborts rather than risk
/// wrapping the count (as `Arc` does): 2^31 live views of one buffer can
/// only be a leak in a loop.
const MAX_SHARES: u32 = i32::MAX as u32;

/// The wakers of watched counts, keyed by the count's address. Global, not
/// in the pool: a drop that wakes a watcher has already given up its share
/// (the decrement is what made the watcher the only one), so the watcher
/// may free the pool at once; the waking drop then touches only this table.
/// A stale key (a freed count's address reused by a new watcher) only costs
/// that watcher a spurious wake-up, which every watcher tolerates.
#[cfg(not(all(loom, test)))]
fn watchers() -> &'static Mutex<Vec<(usize, Waker)>> {
    static WATCHERS: Mutex<Vec<(usize, Waker)>> = Mutex::new(Vec::new());
    &WATCHERS
}

#[cfg(all(loom, test))]
fn watchers() -> &'static Mutex<Vec<(usize, Waker)>> {
    loom::lazy_static! {
        static ref WATCHERS: Mutex<Vec<(usize, Waker)>> = Mutex::new(Vec::new());
    }
    &WATCHERS
}

/// Removes `key`'s waker from the table, if it is there; the caller drops
/// or wakes it after the lock is released.
fn take_waker(key: usize) -> Option<Waker> {
    let mut watchers = sync::lock(watchers());
    let at = watchers.iter().position(|(k, _)| *k == key);
    at.map(|at| watchers.swap_remove(at).1)
}

fn key(count: &AtomicU32) -> usize {
    std::ptr::from_ref(count) as usize
}

/// Whether the caller's share (it holds one) is the buffer's only one.
/// When `true`, every other share's reads happen before the caller's next
/// write.
pub(crate) fn is_only(count: &AtomicU32) -> bool {
    is_only_with(count, 1)
}

/// Whether the caller, which holds `held` shares (its own and its unused
/// credits, see `SplitBuf`), holds every share of the buffer; as
/// `is_only`.
pub(crate) fn is_only_with(count: &AtomicU32, held: u32) -> bool {
    // ORDERING: Acquire: pairs with the Release decrement of each share
    // dropped (`remove`), as `Arc::get_mut` does.
    count.load(Ordering::Acquire) & !WATCHED == held
}

/// Starts (or renews) watching `count`, of which the caller holds a share
/// (U1): `waker` is woken once that share is the only one. Returns `true`,
/// watching nothing, if it already is (then, as for `is_only`, every other
/// share's reads happen before the caller's next write). The waker is
/// cloned, and the one it replaces dropped, outside the lock (no user code
/// under it).
pub(crate) fn watch(count: &AtomicU32, waker: &Waker) -> bool {
    let waker = waker.clone();
    let replaced = {
        let mut watchers = sync::lock(watchers());
        match watchers.iter_mut().find(|(k, _)| *k == key(count)) {
            Some((_, w)) => Some(std::mem::replace(w, waker)),
            None => {
                watchers.push((key(count), waker));
                None
            }
        }
    };
    drop(replaced);
    let only = if cfg!(iobuf_mutant = "watch_checks_before_flag") {
        // The mutant: look, then raise the bit. A drop between the two
        // neither sees the bit nor is seen: its wake-up is lost.
        let only = is_only(count);
        // ORDERING: as below.
        count.fetch_or(WATCHED, Ordering::AcqRel);
        only
    } else {
        // ORDERING: AcqRel: Release publishes the registration above to the
        // drop that reads the bit (the Acquire fence in `remove`); Acquire,
        // when the old value says "only", pairs with the other shares'
        // Release decrements, as in `is_only`.
        count.fetch_or(WATCHED, Ordering::AcqRel) & !WATCHED == 1
    };
    if only {
        unwatch(count);
    }
    only
}

/// Stops watching `count` (its waker, if still registered, is dropped
/// outside the lock). The caller still holds its share.
pub(crate) fn unwatch(count: &AtomicU32) {
    // ORDERING: Relaxed: the bit only tells a drop to look for a waker; one
    // that still sees it finds none, or a stale one (a spurious wake-up).
    count.fetch_and(!WATCHED, Ordering::Relaxed);
    drop(take_waker(key(count)));
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
    add_n(count, 1);
}

/// `n` more shares at once, from a caller that holds one (a writer's
/// credits: it hands them out to views with no atomic operation each).
pub(crate) fn add_n(count: &AtomicU32, n: u32) {
    // ORDERING: Relaxed, as `Arc::clone`: the caller's share keeps the count
    // above 0, and a new share is sent to other threads only by moving it.
    let old = count.fetch_add(n, Ordering::Relaxed);
    if old & !WATCHED > MAX_SHARES - n {
        std::process::abort();
    }
}

/// Gives back `n` shares that the caller holds besides one more it keeps
/// (unused credits): never the last share, and never while it watches
/// (U1: the watcher's count must be its one share).
pub(crate) fn give_back(count: &AtomicU32, n: u32) {
    // ORDERING: Release, as a share's drop (`remove`): the caller's reads
    // happen before whoever has the buffer next (its own last share's
    // Release would order them too; this keeps each decrement alike).
    let old = count.fetch_sub(n, Ordering::Release);
    debug_assert!(old & !WATCHED > n, "credits given back with the last share");
}

/// Drops a share; `true` if it was the last one: the caller then holds
/// the buffer alone and must send it home. A drop that leaves a watched
/// share alone wakes its watcher (module docs).
pub(crate) fn remove(count: &AtomicU32) -> bool {
    if cfg!(iobuf_mutant = "share_drop_without_acquire") {
        // The mutant: the last share sends the buffer home without
        // acquiring the other shares' reads (they race with the next
        // holder's writes).
        return count.fetch_sub(1, Ordering::Relaxed) == 1;
    }
    let key = key(count);
    // ORDERING: Release: this share's reads of the buffer happen before the
    // decrement, and so before the Acquire of whoever has the buffer next
    // (the last share below, or a watcher's `is_only`/`watch`).
    let old = count.fetch_sub(1, Ordering::Release);
    if old != 1 {
        if old == WATCHED | 2 {
            // The watcher's share is the one left, and from here on it may
            // free the pool (and `count`): only `key` is used below.
            // ORDERING: Acquire fence: the decrement read the watcher's
            // `fetch_or` (or a later RMW in its release sequence), so its
            // registration under the table's lock happens before our look.
            fence(Ordering::Acquire);
            if let Some(waker) = take_waker(key) {
                waker.wake();
            }
        } else {
            debug_assert!(
                old & !WATCHED > 1,
                "a watched share dropped while watched (U1), or a count of 0: {old:#x}"
            );
        }
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
