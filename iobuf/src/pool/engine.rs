//! The engine under every [`BoundedPool`](super::BoundedPool): free indices
//! in and out, with no notion of what they index. The public layer
//! (`mod.rs`) turns an index into a guard or a token; everything here is
//! about finding a free index, or waiting for one.
//!
//! One acquire path, [`Engine::take`], serves every way to get a buffer:
//!
//! 1. **Strike**: one attempt without waiting: this thread's cache, the
//!    ring, then other threads' caches (`cache`).
//! 2. **Spin** (threads only): bounded spinning that polls the ring with
//!    loads only ([`Spin`]).
//! 3. **Wait**: queue in the pool's [`WaitQueue`] (threads and tasks in one
//!    FIFO) until a return hands us its index, or the deadline passes. A
//!    thread parks; a task ([`Take`], behind `get_async`) returns `Pending`
//!    and is woken by the hand-off.
//!
//! [`Wait`] says how far a thread goes: `Never` stops after the strike,
//! `Forever` and `Until` go on to spin and sleep. A task never spins: it
//! must not hold its executor's thread.
//!
//! Returns go to the longest waiter first (`WaitQueue::offer`), then to
//! the ring. Before a waiter parks it takes the indices idle in other
//! threads' caches, and while anyone waits every cache sends its returns
//! here (`cache` marks them `WAIT`), so a waiter never sleeps beside an idle
//! buffer.
//!
//! # Invariant
//!
//! - **I1** every index in `0..capacity` is in exactly one place: the ring,
//!   one thread's cache, or one holder's hands. `take` moves an index from
//!   the ring or a cache to its caller; `give` moves it back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::cache;
use crate::progress::Spin;
use crate::ring::Ring;
use crate::sync::{self, AtomicU64, Ordering};
use crate::wait::{Offer, WaitQueue, Waiter, Wake};

#[cfg(all(loom, test))]
mod tests;

/// Spin steps of a waiting thread before it yields: 2^6 - 1 = 63 pauses,
/// a couple of microseconds. More would hold a core that the buffer's holder
/// may need (more threads than cores), where yielding gives it up; the
/// default 10 steps of [`Spin`] are about 30 us of `PAUSE` on the CI machine.
const SPIN_STEPS: u32 = 6;

/// How long a waiting thread yields between its spin and its sleep.
const YIELD_FOR: Duration = Duration::from_micros(50);

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
    pub(super) waiters: WaitQueue,
    pub(super) caches: cache::Registry,
    /// The pool's id, which keys this pool's cache in each thread.
    pub(super) pool_id: u32,
    /// Indices per thread cache; 0 turns caching off.
    pub(super) cache_capacity: u32,
    waits: AtomicU64,
    timeouts: AtomicU64,
    /// Buffers lent to io_uring provided-buffer rings (`crate::uring`).
    provided: AtomicU64,
}

impl Engine {
    /// An engine whose ring holds every index of `0..capacity`.
    pub(super) fn new(capacity: usize, pool_id: u32, cache_capacity: u32) -> Engine {
        Engine {
            ring: Ring::new_full(capacity),
            waiters: WaitQueue::default(),
            caches: cache::Registry::default(),
            pool_id,
            cache_capacity,
            waits: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            provided: AtomicU64::new(0),
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
        } else if self.waiters.has_waiters() {
            // While others wait, the ring is usually empty (returns are
            // handed to waiting tasks, and a front thread takes the one put
            // there for it): look before dequeuing, sparing a failed
            // dequeue's read-modify-writes on the ring's shared lines.
            self.poll_ring()
        } else {
            self.ring.dequeue()
        }
    }

    /// Spin, then sleep until a return hands us an index or `deadline`
    /// passes.
    #[cold]
    fn wait(&self, deadline: Option<Instant>) -> Option<u32> {
        // Under loom straight to the queue: the spin and the yield only
        // poll (they decide nothing the queue's protocol relies on), and a
        // loop bounded by the clock would make the models nondeterministic.
        if !cfg!(all(loom, test)) {
            if let Some(i) = self.spin_then_yield(deadline) {
                return Some(i);
            }
        }
        let waiter = self.enqueue(Wake::Thread(sync::thread::current()));
        let got = loop {
            if let Some(i) = self.retry(&waiter) {
                break Some(i);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // Leaving unserved; an index handed at the last moment is
                // ours, so take it rather than lose it (W2).
                break self.waiters.cancel(&waiter);
            }
            sync::park(deadline);
        };
        self.dequeued(got.is_some());
        got
    }

    /// The waiting thread's polls before it queues: a short spin, then
    /// yields for up to `YIELD_FOR` (or to `deadline`).
    fn spin_then_yield(&self, deadline: Option<Instant>) -> Option<u32> {
        let mut spin = Spin::with_limit(SPIN_STEPS);
        while spin.spin() {
            if let Some(i) = self.poll_ring() {
                return Some(i);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        // Yield before sleeping: when buffers change hands every few hundred
        // nanoseconds (an exhausted pool under load), a yielding getter takes
        // the next return from the ring without a system call on either
        // side, while a sleeper would need a wake-up per buffer. Bounded by
        // `YIELD_FOR`, so a long wait still sleeps (and burns no CPU).
        let yield_until = Instant::now() + YIELD_FOR;
        let yield_until = deadline.map_or(yield_until, |d| d.min(yield_until));
        while Instant::now() < yield_until {
            sync::thread::yield_now();
            if let Some(i) = self.poll_ring() {
                return Some(i);
            }
        }
        None
    }

    /// A look at the ring where it is likely empty (a spinning or yielding
    /// getter, a waiter's retry, a task's strike while others wait): loads
    /// only, and a dequeue (which writes the shared head and tail) only
    /// once a return has landed. An empty answer is as good as a failed
    /// dequeue for the Dekker pattern (`Ring::looks_empty`).
    fn poll_ring(&self) -> Option<u32> {
        if self.ring.looks_empty() {
            return None;
        }
        self.ring.dequeue()
    }

    /// Queues a waiter: a thread about to park, or a task about to return
    /// `Pending`.
    fn enqueue(&self, wake: Wake) -> Arc<Waiter> {
        // ORDERING: Relaxed: a statistic.
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.waiters.register(wake)
    }

    /// A queued waiter's check: the index handed to it, else one more look
    /// at the ring and the other threads' caches (after
    /// registering: the waiter's half of the Dekker pattern in `wait.rs`;
    /// stealing also marks every cache `WAIT`). On success the waiter has
    /// left the queue; on `None` it is still queued.
    fn retry(&self, waiter: &Arc<Waiter>) -> Option<u32> {
        if let Some(i) = waiter.take_handed() {
            return Some(i);
        }
        let caching = self.cache_capacity != 0;
        // `poll_ring`: right after registering (a failed strike), the ring
        // is most likely still empty, and its loads say so without a failed
        // dequeue's four read-modify-writes on shared lines. (A thread woken
        // to race for an index finds the ring non-empty and dequeues.) The
        // loads are SeqCst, so the Dekker argument holds: a return whose
        // last tail increment they miss checks `has_waiters` after it, and
        // sees us.
        let ring = if cfg!(iobuf_mutant = "wait_skips_retry") {
            // The mutant: a waiter parks without looking again (a return
            // that missed its registration strands its index in the ring).
            None
        } else {
            self.poll_ring()
        };
        let got = ring.or_else(|| {
            caching
                .then(|| self.caches.steal(self, None, true))
                .flatten()
        })?;
        // Leave the queue; an index handed to us meanwhile goes on (W2), and
        // so does the torch: the ring may hold more for those behind us.
        match self.waiters.cancel(waiter) {
            Some(extra) => self.give_shared(extra),
            None => self.serve_waiters(),
        }
        Some(got)
    }

    /// After a waiter left the queue, served (`got`) or not.
    fn dequeued(&self, got: bool) {
        if self.cache_capacity != 0 {
            self.caches.stop_waiting(self);
        }
        if !got {
            // A thread woken for an index that then left unserved (a
            // timeout) passes the torch to the next waiter.
            self.serve_waiters();
            // ORDERING: Relaxed: a statistic.
            self.timeouts.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The asynchronous acquire: strike, then wait in the queue as a task.
    pub(crate) fn take_async(&self) -> Take<'_> {
        Take {
            engine: self,
            waiter: None,
        }
    }

    /// Returns `index` past the inlined cache hit: into this thread's cache
    /// if it has room and nobody waits, else to the ring.
    pub(crate) fn give(&self, index: u32) {
        if self.cache_capacity != 0 {
            cache::give(self, index);
        } else {
            self.give_shared(index);
        }
    }

    /// Returns `index` where everyone can have it: offered to the longest
    /// waiter if anyone waits (`WaitQueue::offer`), else to the ring. When
    /// nobody waits it costs the ring's enqueue and one load.
    pub(super) fn give_shared(&self, index: u32) {
        let index = if self.waiters.has_waiters() {
            match self.waiters.offer(index) {
                Offer::Handed => return,
                Offer::RingThenWake(thread) => {
                    self.ring.enqueue(index);
                    thread.wake();
                    return;
                }
                Offer::Nobody(index) => index,
            }
        } else {
            index
        };
        self.ring.enqueue(index);
        self.serve_waiters();
    }

    /// After indices landed in the ring, or a waiter left: offers them to
    /// waiters that could miss them (the return's half of the Dekker
    /// pattern in `wait.rs`, and the torch a woken thread passes on). One
    /// load when nobody waits.
    pub(super) fn serve_waiters(&self) {
        while self.waiters.has_waiters() {
            let Some(i) = self.ring.dequeue() else {
                return;
            };
            match self.waiters.offer(i) {
                Offer::Handed => {}
                Offer::RingThenWake(thread) => {
                    self.ring.enqueue(i);
                    thread.wake();
                    return;
                }
                // The waiter left: back to the ring, and look again: one
                // may have queued while we held the index.
                Offer::Nobody(i) => self.ring.enqueue(i),
            }
        }
    }

    /// Indices in the ring or idle in a thread cache (racy under
    /// concurrency; O(capacity)).
    pub(crate) fn available(&self) -> usize {
        self.ring.len() + self.caches.cached()
    }

    /// Getters queued now, threads and tasks (racy).
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// Counts `n` more buffers in a provided-buffer ring (`added`), or
    /// `n` fewer.
    pub(crate) fn note_provided(&self, n: usize, added: bool) {
        // ORDERING: Relaxed: statistics; the indices themselves travel
        // through the ring and the guards.
        if added {
            self.provided.fetch_add(n as u64, Ordering::Relaxed);
        } else {
            self.provided.fetch_sub(n as u64, Ordering::Relaxed);
        }
    }

    /// Buffers in provided-buffer rings now (racy).
    pub(crate) fn provided(&self) -> usize {
        // ORDERING: Relaxed: statistics.
        self.provided.load(Ordering::Relaxed) as usize
    }

    /// Getters that went to sleep, and those that gave up at a deadline.
    pub(crate) fn counters(&self) -> (u64, u64) {
        // ORDERING: Relaxed: statistics; no edge is needed.
        let waits = self.waits.load(Ordering::Relaxed);
        // ORDERING: Relaxed: statistics.
        (waits, self.timeouts.load(Ordering::Relaxed))
    }
}

/// The future of an asynchronous acquire: an index of the pool, as soon as
/// one is free.
///
/// Cancel-safe: dropped before it completes, it leaves the queue; if a
/// return handed it an index first, it gives that index on (to the next
/// waiter, or the ring), so neither the buffer nor the wake-up is lost.
/// Polled again with another waker (a task moved between workers), it
/// wakes the new one.
#[must_use = "futures do nothing unless awaited"]
pub(crate) struct Take<'a> {
    engine: &'a Engine,
    /// Queued (or served but not yet polled) while `Some`.
    waiter: Option<Arc<Waiter>>,
}

impl Future for Take<'_> {
    type Output = u32;

    /// The first poll's cache hit inlined, as `get` has it; everything
    /// else out of line.
    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        if self.waiter.is_none() {
            if let Some(i) = cache::pop(self.engine.pool_id) {
                return Poll::Ready(i);
            }
        }
        self.poll_slow(cx)
    }
}

impl Take<'_> {
    #[inline(never)]
    fn poll_slow(&mut self, cx: &mut Context<'_>) -> Poll<u32> {
        let engine = self.engine;
        let Some(waiter) = &self.waiter else {
            // First poll, past the cache: a strike, no spinning (the
            // executor's thread is not ours to hold).
            if let Some(i) = engine.strike() {
                return Poll::Ready(i);
            }
            let waiter = engine.enqueue(Wake::Task(Some(cx.waker().clone())));
            if let Some(i) = engine.retry(&waiter) {
                engine.dequeued(true);
                return Poll::Ready(i);
            }
            self.waiter = Some(waiter);
            return Poll::Pending;
        };
        if let Some(i) = waiter.take_handed_or_wake(cx.waker()) {
            self.waiter = None;
            engine.dequeued(true);
            return Poll::Ready(i);
        }
        Poll::Pending
    }

    #[inline(never)]
    fn cancel(&mut self, waiter: Arc<Waiter>) {
        // Cancelled: leave the queue, and pass on what we were handed.
        if let Some(i) = self.engine.waiters.cancel(&waiter) {
            self.engine.give_shared(i);
        }
        self.engine.dequeued(false);
    }
}

impl Drop for Take<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            self.cancel(waiter);
        }
    }
}
