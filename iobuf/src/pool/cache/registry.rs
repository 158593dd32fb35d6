//! A pool's list of its threads' magazines: what a thief walks to take idle
//! indices, what a sleeping getter marks so that returns reach it, and what
//! the pool detaches when it drops.

use std::sync::Arc;

use super::Magazine;
use crate::pool::engine::Engine;
use crate::sync::{Mutex, MutexGuard};

/// Every live thread's magazine for one pool.
#[derive(Default)]
pub(crate) struct Registry {
    magazines: Mutex<Vec<Arc<Magazine>>>,
}

impl Registry {
    /// The list, locked, without the magazines of threads that exited
    /// (they were flushed before they were marked retired).
    fn live(&self) -> MutexGuard<'_, Vec<Arc<Magazine>>> {
        let mut magazines = self.magazines.lock().unwrap_or_else(|e| e.into_inner());
        magazines.retain(|m| !m.is_retired());
        magazines
    }

    /// Makes and lists a magazine for the calling thread. Under the
    /// registry lock, so that it starts marked `WAIT` exactly when getters
    /// sleep (they mark and unmark magazines under the same lock).
    pub(super) fn register(&self, engine: &Engine) -> Arc<Magazine> {
        let mut magazines = self.live();
        let waiting = engine.waiters.has_waiters();
        let magazine = Magazine::new(engine, engine.pool_id, engine.cache_capacity, waiting);
        magazines.push(magazine.clone());
        magazine
    }

    /// Moves the indices idle in other threads' magazines (all but `own`)
    /// to the ring, so that every getter can have them, and takes one: the
    /// liveness mechanism (module docs of `cache`).
    ///
    /// A sleeping getter (`waiting`) also marks every magazine `WAIT`, so
    /// that their owners' returns go to the ring until no getter sleeps.
    #[cold]
    pub(crate) fn steal(
        &self,
        engine: &Engine,
        own: Option<&Magazine>,
        waiting: bool,
    ) -> Option<u32> {
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
                mag.drain();
            }
        }
        drop(magazines);
        engine.ring.dequeue()
    }

    /// After a getter stopped waiting: if none waits any more, let the
    /// owners cache their returns again.
    #[cold]
    pub(crate) fn stop_waiting(&self, engine: &Engine) {
        let magazines = self.magazines.lock().unwrap_or_else(|e| e.into_inner());
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
        let magazines = self.magazines.lock().unwrap_or_else(|e| e.into_inner());
        magazines.iter().map(|m| m.len()).sum()
    }

    /// Detaches every magazine, for a pool that is dropping: flushes that
    /// come later (a thread exiting) must not push into its freed ring. A
    /// flush running now holds its magazine's lock and a `&Engine`; taking
    /// each magazine's lock waits for it to finish. `lock()`, not
    /// `get_mut()`: a `&mut` to the list would claim the engine unique while
    /// a flushing thread still borrows it.
    pub(crate) fn detach_all(&self) {
        let magazines =
            std::mem::take(&mut *self.magazines.lock().unwrap_or_else(|e| e.into_inner()));
        for magazine in magazines {
            magazine.lock_as_thief().detach();
        }
    }
}
