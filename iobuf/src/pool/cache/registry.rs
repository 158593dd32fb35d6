//! A pool's list of its threads' magazines: what a thief walks to take idle
//! indices, what a sleeping getter marks so that returns reach it, and what
//! the pool detaches when it drops.

use std::sync::Arc;

use super::{Magazine, Moved};
use crate::bitmap::Bitmap;
use crate::pool::engine::Engine;
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
            if m.is_retired() {
                // ORDERING: Relaxed: a statistic, under the list's lock.
                self.retired_hits
                    .fetch_add(m.hits(), crate::sync::Ordering::Relaxed);
            }
            !m.is_retired()
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
    pub(crate) fn register(&self, engine: &Engine) -> Arc<Magazine> {
        let mut magazines = self.live();
        let waiting = engine.waiters.has_waiters();
        let magazine = Magazine::new(
            engine.me.clone(),
            engine.pool_id,
            engine.cache_capacity,
            waiting,
        );
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
                    if let Some(engine) = magazine.engine.upgrade() {
                        let mut delivery = crate::wait::Delivery::default();
                        engine.serve_waiters(&mut delivery);
                        delivery.finish();
                    }
                }
            }
        }
        moved
    }

    /// After a getter stopped waiting: if none waits any more, let the
    /// owners cache their returns again.
    #[cold]
    pub(crate) fn stop_waiting(&self, engine: &Engine) {
        let magazines = sync::lock(&self.magazines);
        // Under the registry lock: a getter that starts waiting now counts
        // itself first and marks magazines under this lock after us.
        if engine.waiters.has_waiters() {
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
