//! A pool's list of its threads' magazines: what a thief walks to take idle
//! indices, what a sleeping getter marks so that returns reach it, and what
//! the pool detaches when it drops.

use std::sync::Arc;

use super::{Home, Magazine, Moved, heavy_fence};
use crate::bitmap::Bitmap;
use crate::sync::{self, Locked, Mutex};

/// Every live thread's magazine for one pool.
#[derive(Default)]
pub(crate) struct Registry {
    magazines: Mutex<Vec<Arc<Magazine>>>,
    /// Cache hits of the magazines dropped from the list (their threads
    /// exited), so that `hits` never goes down. Under the list's lock.
    retired_hits: crate::sync::AtomicU64,
}

impl Registry {
    /// The list, locked, without the magazines of threads that exited
    /// (they were flushed before they were marked retired).
    fn live(&self) -> Locked<'_, Vec<Arc<Magazine>>> {
        let mut magazines = sync::lock(&self.magazines);
        magazines.retain(|m| {
            // Read once: a magazine that retires between two reads would
            // leave the list with its hits uncounted.
            let retired = m.is_retired();
            if retired {
                // ORDERING: Relaxed: a statistic, under the list's lock.
                self.retired_hits
                    .fetch_add(m.hits(), crate::sync::Ordering::Relaxed);
            }
            !retired
        });
        magazines
    }

    /// Gets served by thread caches so far, over every magazine the pool
    /// had (racy under concurrency; never goes down).
    pub(crate) fn hits(&self) -> u64 {
        let magazines = sync::lock(&self.magazines);
        // ORDERING: Relaxed: a statistic; read under the lock that folds
        // retired magazines' hits in, so none is counted twice or lost.
        let retired = self.retired_hits.load(crate::sync::Ordering::Relaxed);
        retired + magazines.iter().map(|m| m.hits()).sum::<u64>()
    }

    /// Makes and lists a magazine for the calling thread. Under the
    /// registry lock, so that it starts marked `WAIT` exactly when getters
    /// sleep (they mark and unmark magazines under the same lock).
    pub(crate) fn register<H: Home>(&self, home: &H) -> Arc<Magazine> {
        let mut magazines = self.live();
        let waiting = home.has_waiters();
        let magazine = Magazine::new(home.weak(), home.pool_id(), home.cache_capacity(), waiting);
        magazines.push(magazine.clone());
        magazine
    }

    /// Moves the indices idle in other threads' magazines (all but `own`)
    /// to `bitmap`, the pool's, so that every getter can have them: the
    /// liveness mechanism (module docs of `cache`). The caller takes one
    /// and serves the waiters for the rest once it holds no lock.
    ///
    /// A sleeping getter (`waiting`) also marks every magazine `WAIT`, so
    /// that their owners' returns go to the bitmap until no getter sleeps.
    #[cold]
    pub(crate) fn steal(&self, own: Option<&Magazine>, waiting: bool, free: &Bitmap) -> Moved {
        let mut moved = Moved::default();
        let magazines = self.live();
        for magazine in magazines.iter() {
            if own.is_some_and(|own| std::ptr::eq(own, &**magazine)) {
                continue;
            }
            if waiting || magazine.len() > 0 {
                let mut mag = magazine.lock_as_thief();
                if waiting {
                    mag.set_waiting(true);
                }
                moved = moved.and(mag.drain(free));
                if cfg!(iobuf_mutant = "cache_serves_under_lock") {
                    // The mutant: waiters are served (and their wakers run)
                    // under the magazine and registry locks, as before the
                    // engine took over serving.
                    if let Some(home) = magazine.home.upgrade() {
                        let mut delivery = crate::wait::Delivery::default();
                        home.serve_waiters(&mut delivery);
                        delivery.finish();
                    }
                }
            }
        }
        moved
    }

    /// The exact steal behind `try_get` (module docs of `cache`, "An exact
    /// empty answer"): freezes every live magazine at once (their locks,
    /// `STEAL` on each, one heavy fence for all, then each owner out of its
    /// fast path), moves their indices to `free`, and runs `take` (an exact
    /// take from `free`) while they stay frozen. With the registry locked no
    /// magazine can be added either, so when `take` finds the bitmap empty,
    /// every cache was empty at that instant too: every index was held.
    ///
    /// `own`, the caller's magazine, is frozen like the rest (it is empty:
    /// the caller's own pop and refill just failed, and only its owner adds
    /// to it); when it is the only one, no other owner can be mid-operation
    /// and the heavy fence is skipped. Allocates the list of frozen guards.
    /// The caller serves the waiters for what moved once it holds no lock.
    #[cold]
    pub(crate) fn steal_exact(
        &self,
        own: Option<&Magazine>,
        free: &Bitmap,
        take: impl FnOnce() -> Option<u32>,
    ) -> (Option<u32>, Moved) {
        let magazines = self.live();
        if cfg!(iobuf_mutant = "cache_try_get_inexact") {
            // The mutant: no second, frozen pass; the strike's steal (which
            // visits magazines one at a time) answers alone.
            return (None, Moved::default());
        }
        let mut frozen: Vec<_> = magazines.iter().map(|m| m.freeze()).collect();
        let others = magazines
            .iter()
            .any(|m| !own.is_some_and(|own| std::ptr::eq(own, &**m)));
        if others {
            heavy_fence();
        }
        let mut moved = Moved::default();
        for mag in &mut frozen {
            mag.wait_for_owner();
            moved = moved.and(mag.drain(free));
        }
        let got = take();
        // Unfrozen only now: until `take` answered, no index could enter a
        // magazine.
        drop(frozen);
        (got, moved)
    }

    /// After a getter stopped waiting: if none waits any more, let the
    /// owners cache their returns again.
    #[cold]
    pub(crate) fn stop_waiting<H: Home>(&self, home: &H) {
        let magazines = sync::lock(&self.magazines);
        // Under the registry lock: a getter that starts waiting now counts
        // itself first and marks magazines under this lock after us.
        if home.has_waiters() {
            return;
        }
        for magazine in magazines.iter() {
            magazine.lock().set_waiting(false);
        }
    }

    /// Magazines listed now (live threads).
    pub(crate) fn count(&self) -> usize {
        self.live().len()
    }

    /// Indices idle in magazines (racy under concurrency).
    pub(crate) fn cached(&self) -> usize {
        let magazines = sync::lock(&self.magazines);
        magazines.iter().map(|m| m.len()).sum()
    }
}
