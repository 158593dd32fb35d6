//! The engine under every [`BoundedPool`](super::BoundedPool): free indices
//! in and out, with no notion of what they index. The public layer
//! (`mod.rs`) turns an index into a guard or a token; everything here is
//! about finding a free index, or waiting for one.
//!
//! One acquire path, [`Engine::take`], serves every way to get a buffer:
//!
//! 1. **Strike**: one attempt without waiting: this thread's cache, the
//!    ring, then other threads' caches (`cache`).
//! 2. **Spin**: bounded spinning that polls the ring with loads only
//!    ([`Spin`]).
//! 3. **Wait**: sleep on the pool's [`Adapt`] until a return wakes us, or
//!    the deadline passes.
//!
//! [`Wait`] says how far a caller goes: `Never` stops after the strike,
//! `Forever` and `Until` go on to spin and sleep.
//!
//! # Invariant
//!
//! - **I1** every index in `0..capacity` is in exactly one place: the ring,
//!   one thread's cache, or one holder's hands. `take` moves an index from
//!   the ring or a cache to its caller; `give` moves it back.

use std::time::{Duration, Instant};

use super::cache;
use crate::progress::{Adapt, Spin};
use crate::ring::Ring;
use crate::sync::{AtomicU64, Ordering};

/// How long [`Engine::take`] may wait for a return.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// One attempt (a strike); never spins or sleeps.
    Never,
    /// As long as it takes.
    Forever,
    /// Until this instant, then gives up.
    Until(Instant),
}

impl Wait {
    /// At most `timeout` from now; a timeout too long to represent waits
    /// forever.
    pub(crate) fn at_most(timeout: Duration) -> Wait {
        Instant::now()
            .checked_add(timeout)
            .map_or(Wait::Forever, Wait::Until)
    }
}

/// The ring, sleepers and thread caches of one pool.
///
/// It lives in a heap allocation of its own, at a stable address: thread
/// caches point to it (`cache::State`), and its owner frees it only after
/// detaching every cache.
pub(crate) struct Engine {
    pub(super) ring: Ring,
    pub(super) adapt: Adapt,
    pub(super) caches: cache::Registry,
    /// The pool's id, which keys this pool's cache in each thread.
    pub(super) pool_id: u32,
    /// Indices per thread cache; 0 turns caching off.
    pub(super) cache_capacity: u32,
    waits: AtomicU64,
    timeouts: AtomicU64,
}

impl Engine {
    /// An engine whose ring holds every index of `0..capacity`.
    pub(super) fn new(capacity: usize, pool_id: u32, cache_capacity: u32) -> Engine {
        Engine {
            ring: Ring::new_full(capacity),
            adapt: Adapt::new(),
            caches: cache::Registry::default(),
            pool_id,
            cache_capacity,
            waits: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
        }
    }

    /// A free index: strike, then (unless `wait` is `Never`) spin and
    /// sleep. `None` when `wait` ran out with every index held.
    pub(crate) fn take(&self, wait: Wait) -> Option<u32> {
        if let Some(i) = self.strike() {
            return Some(i);
        }
        match wait {
            Wait::Never => None,
            Wait::Forever => self.wait(None),
            Wait::Until(deadline) => self.wait(Some(deadline)),
        }
    }

    /// One attempt: this thread's cache, the ring, other threads' caches.
    fn strike(&self) -> Option<u32> {
        if self.cache_capacity != 0 {
            cache::take(self)
        } else {
            self.ring.dequeue()
        }
    }

    /// Spin, then sleep until a return wakes us or `deadline` passes.
    #[cold]
    fn wait(&self, deadline: Option<Instant>) -> Option<u32> {
        let mut spin = Spin::new();
        while spin.spin() {
            // Poll with loads only; dequeue (which writes the shared head and
            // tail) only once a return has landed.
            if !self.ring.looks_empty() {
                if let Some(i) = self.ring.dequeue() {
                    return Some(i);
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        // ORDERING: Relaxed: a statistic.
        self.waits.fetch_add(1, Ordering::Relaxed);
        // `wait_until` counts us as a waiter before each attempt, so from
        // the first attempt on, a return sees us and sends its index to the
        // ring; the attempt steals whatever sat idle in caches before that.
        let caching = self.cache_capacity != 0;
        let got = self.adapt.wait_until(deadline, || {
            self.ring.dequeue().or_else(|| {
                caching
                    .then(|| self.caches.steal(self, None, true))
                    .flatten()
            })
        });
        if caching {
            self.caches.stop_waiting(self);
        }
        if got.is_none() {
            // ORDERING: Relaxed: a statistic.
            self.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        got
    }

    /// Returns `index` past the inlined cache hit: into this thread's cache
    /// if it has room and nobody waits, else to the ring.
    pub(crate) fn give(&self, index: u32) {
        if self.cache_capacity != 0 {
            cache::give(self, index);
        } else {
            self.give_to_ring(index);
        }
    }

    /// Returns `index` to the ring and wakes a sleeper, if any.
    pub(super) fn give_to_ring(&self, index: u32) {
        self.ring.enqueue(index);
        self.adapt.notify_one();
    }

    /// Indices in the ring or idle in a thread cache (racy under
    /// concurrency; O(capacity)).
    pub(crate) fn available(&self) -> usize {
        self.ring.len() + self.caches.cached()
    }

    /// Getters asleep now (racy).
    pub(crate) fn waiting(&self) -> usize {
        self.adapt.waiters()
    }

    /// Getters that went to sleep, and those that gave up at a deadline.
    pub(crate) fn counters(&self) -> (u64, u64) {
        // ORDERING: Relaxed: statistics; no edge is needed.
        let waits = self.waits.load(Ordering::Relaxed);
        // ORDERING: Relaxed: statistics.
        (waits, self.timeouts.load(Ordering::Relaxed))
    }
}
