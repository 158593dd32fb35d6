//! The engine under every [`BoundedPool`](super::BoundedPool): free indices
//! in and out, with no notion of what they index. The public layer
//! (`mod.rs`) turns an index into a guard or a token; everything here is
//! about finding a free index, or waiting for one.
//!
//! One acquire path, [`Engine::take`], serves every way to get a buffer:
//!
//! 1. **Strike**: one attempt without waiting: this thread's cache, the
//!    bitmap, then other threads' caches (`cache`).
//! 2. **Spin** (threads only): bounded spinning that polls the bitmap with
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
//! the bitmap. Before a waiter parks it takes the indices idle in other
//! threads' caches, and while anyone waits every cache sends its returns
//! here (`cache` marks them `WAIT`), so a waiter never sleeps beside an idle
//! buffer.
//!
//! The engine is the one place that serves waiters (`Engine::serve_waiters`):
//! after a return, after a thread cache moved indices to the bitmap (the cache
//! layer reports a `Moved` and never wakes anyone itself), and when a waiter
//! leaves. Every path delivers its wake-ups through a `Delivery` once it
//! holds no lock, and settles its own index before a waker's panic resumes
//! (W4, W5 and the liveness invariant L in `wait.rs`).
//!
//! # Invariant
//!
//! - **I1** every index in `0..capacity` is in exactly one place: the bitmap,
//!   one thread's cache, or one holder's hands. `take` moves an index from
//!   the bitmap or a cache to its caller; `give` moves it back.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use super::cache::{self, Gave, Moved};
use crate::bitmap::{self, Bitmap};
use crate::progress::Spin;
use crate::sync::{self, AtomicU64, Ordering};

use crate::wait::{Delivery, Offer, Step, WaitQueue, Waiter, Wake};

mod counters;
mod home;
#[cfg(all(loom, test))]
mod tests;
#[cfg(all(test, not(loom)))]
mod unwind_tests;

use counters::Counters;
pub(crate) use counters::{Counts, HolderCounts, WAIT_BOUNDS_MICROS};

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

/// The bitmap, sleepers and thread caches of one pool.
///
/// Shared (`Arc`) by its pool and, weakly, by the pool's thread caches
/// (`cache::Magazine`): a thread that flushes its cache at exit, or evicts
/// it from its table, reaches the engine through that weak reference, and
/// keeps it alive until it has served the waiters it may have to wake, even
/// if the pool drops meanwhile.
pub(crate) struct Engine {
    /// The free indices (`crate::bitmap`).
    pub(super) free: Bitmap,
    pub(super) waiters: WaitQueue,
    pub(super) caches: cache::Registry,
    /// The pool's id, which keys this pool's cache in each thread.
    pub(super) pool_id: u32,
    /// Indices per thread cache; 0 turns caching off.
    pub(super) cache_capacity: u32,
    /// This engine, for the thread caches' weak references.
    pub(super) me: Weak<Engine>,
    /// Apart from the queue's lock and the bitmap: bumped on every wait.
    counters: CachePadded<Counters>,
    /// The shared gets of a pool without thread caches, by index (empty
    /// with caching on, whose shared gets `counters` counts).
    ring_gets: HolderCounts,
    /// Buffers lent to io_uring provided-buffer rings (`crate::uring`).
    provided: AtomicU64,
}

impl Engine {
    /// An engine whose bitmap holds every index of `0..capacity`.
    pub(super) fn new(capacity: usize, pool_id: u32, cache_capacity: u32) -> Arc<Engine> {
        let free = Bitmap::new_full(capacity);
        let ring_gets = HolderCounts::new(&free, cache_capacity == 0);
        Arc::new_cyclic(|me| Engine {
            free,
            ring_gets,
            waiters: WaitQueue::default(),
            caches: cache::Registry::default(),
            pool_id,
            cache_capacity,
            me: me.clone(),
            counters: CachePadded::new(Counters::default()),
            provided: AtomicU64::new(0),
        })
    }

    /// A free index: strike, then (unless `wait` is `Never`) spin and
    /// sleep. `None` when `wait` ran out with every index held.
    ///
    /// [`take_first`](Self::take_first) inlined, then
    /// [`take_rest`](Self::take_rest) in one call. A caller that wraps the
    /// index (a guard) does better to call the two itself, with the rest in
    /// tail position (`BoundedPool::acquire`).
    #[inline]
    pub(crate) fn take(&self, wait: Wait) -> Option<u32> {
        match self.take_first(matches!(wait, Wait::Never)) {
            Some(i) => Some(i),
            None => self.take_rest(wait),
        }
    }

    /// The first step of [`take`](Self::take), inlined into every acquire:
    /// in a pool without caches, with nobody waiting (or `exact`), the
    /// bitmap's first try from this thread's hint (`Bitmap::take_near`: one
    /// RMW), then the hint's update and the count. It makes no call, so the
    /// caller keeps nothing live across one. `None` proves nothing: the
    /// caller goes on with [`take_rest`](Self::take_rest) (with the same
    /// `wait`; `exact` is `wait` being `Never`).
    #[inline(always)]
    pub(crate) fn take_first(&self, exact: bool) -> Option<u32> {
        // With others waiting, `take_rest` polls (`strike_ring_polling`).
        if self.cache_capacity != 0 || (!exact && self.waiters.has_waiters()) {
            return None;
        }
        let i = self.free.take_near(bitmap::raw_hint())?;
        bitmap::remember(i);
        self.ring_gets.bump(i);
        Some(i)
    }

    /// [`take`](Self::take) past [`take_first`](Self::take_first): the
    /// ring-only strike's search (the first try made), or, with caches,
    /// the whole strike; then the wait.
    #[inline(never)]
    pub(crate) fn take_rest(&self, wait: Wait) -> Option<u32> {
        if self.cache_capacity == 0 {
            // Without caches a strike is the bitmap's take alone, which
            // needs no `Delivery`: nothing moves between caches, so there
            // is nobody to serve and no waker to run.
            let exact = matches!(wait, Wait::Never);
            let got = self.strike_ring(exact);
            if got.is_some() || exact {
                return got;
            }
        }
        self.take_slow(wait)
    }

    /// `take` past a ring-only strike that found nothing (or with caches).
    fn take_slow(&self, wait: Wait) -> Option<u32> {
        let mut delivery = Delivery::default();
        // A `try_get`'s "empty" must be exact across the caches too.
        let exact = matches!(wait, Wait::Never);
        let got = if self.cache_capacity == 0 {
            // `take` struck already.
            None
        } else {
            self.strike(exact, &mut delivery)
        };
        let got = got.or_else(|| match wait {
            Wait::Never => None,
            Wait::Forever => self.wait(None, &mut delivery),
            Wait::Until(deadline) => self.wait(Some(deadline), &mut delivery),
        });
        self.settle(got, delivery)
    }

    /// The end of an acquire: `got` for the caller, unless a waker
    /// panicked on the way (W5 in `wait.rs`): then `got` goes back to the
    /// pool and the panic resumes. During an unwind (an acquire in a
    /// `Drop`) the waker's panic cannot resume (`Delivery::finish` drops
    /// it: a second panic would abort), so `got` stays the caller's: given
    /// back and returned too, one buffer would have two holders.
    fn settle(&self, got: Option<u32>, delivery: Delivery) -> Option<u32> {
        if delivery.panicked() {
            if std::thread::panicking() {
                delivery.finish();
                return got;
            }
            if let Some(i) = got {
                // A second panicking waker here is dropped: the first one
                // resumes below.
                let mut again = Delivery::default();
                self.give_shared(i, &mut again);
                drop(again);
            }
            delivery.finish();
            unreachable!("`finish` resumes a waker's panic outside an unwind");
        }
        got
    }

    /// One attempt: this thread's cache, the bitmap, other threads' caches
    /// (without caches: past `take_first`, which the caller made).
    /// `exact`: `None` only if every index was held at some instant of the
    /// call (with caches on, a frozen second pass over them; `cache`).
    fn strike(&self, exact: bool, delivery: &mut Delivery) -> Option<u32> {
        if self.cache_capacity == 0 {
            return self.strike_ring(exact);
        }
        let (got, moved, source) = cache::take(self, exact);
        self.after_move(moved, delivery);
        let c = &self.counters;
        match (got, source) {
            (None, _) | (Some(_), cache::Source::Cache) => {}
            (Some(_), cache::Source::Refill) => Counters::bump(&c.refill_gets),
            (Some(_), cache::Source::Steal) => Counters::bump(&c.steal_gets),
            (Some(_), cache::Source::Shared) => Counters::bump(&c.shared_gets),
        }
        got
    }

    /// The strike of a pool without caches past its first try
    /// (`take_first`, which every caller made just before): the bitmap
    /// alone, its get counted by the holder (`HolderCounts`). `exact` as
    /// for `strike`.
    fn strike_ring(&self, exact: bool) -> Option<u32> {
        if !exact && self.waiters.has_waiters() {
            self.strike_ring_polling()
        } else {
            self.strike_ring_search()
        }
    }

    /// A ring-only strike while others wait: the bitmap is usually empty
    /// (returns are handed to waiting tasks, and a front thread takes the
    /// one put there for it), so one pass of loads, rather than the exact
    /// take's two.
    fn strike_ring_polling(&self) -> Option<u32> {
        let got = self.poll_free();
        if let Some(i) = got {
            self.ring_gets.bump(i);
        }
        got
    }

    /// A ring-only strike past the bitmap's first try: the exact search from
    /// this thread's hint (seeded here on its first take), exact as
    /// `Bitmap::take`.
    fn strike_ring_search(&self) -> Option<u32> {
        let i = self.free.search(bitmap::hint() & !bitmap::RETURNED)?;
        bitmap::remember(i);
        self.ring_gets.bump(i);
        Some(i)
    }

    /// A `try_get` found the pool empty: every buffer was in use.
    pub(crate) fn note_try_get_failure(&self, capacity: usize) {
        Counters::bump(&self.counters.try_get_failures);
        self.counters.saw_in_use(capacity);
    }

    /// `stats` saw `in_use` buffers in use.
    pub(crate) fn note_in_use(&self, in_use: usize) {
        self.counters.saw_in_use(in_use);
    }

    /// A free index from the bitmap, searched from where this thread last
    /// found one; `None` only if every index was held at some instant of
    /// the call (`Bitmap::take`).
    #[inline]
    pub(super) fn take_free(&self) -> Option<u32> {
        let i = self.free.take(bitmap::hint())?;
        bitmap::remember(i);
        Some(i)
    }

    /// Spin, then sleep until a return hands us an index or `deadline`
    /// passes.
    #[cold]
    fn wait(&self, deadline: Option<Instant>, delivery: &mut Delivery) -> Option<u32> {
        // Under loom straight to the queue: the spin and the yield only
        // poll (they decide nothing the queue's protocol relies on), and a
        // loop bounded by the clock would make the models nondeterministic.
        if !cfg!(all(loom, test)) {
            if let Some(i) = self.spin_then_yield(deadline) {
                return Some(i);
            }
        }
        // Queued because every index was held at some instant.
        self.counters.saw_in_use(self.free.capacity());
        let waiter = self.waiters.register(Wake::Thread(sync::thread::current()));
        let got = loop {
            if let Some(i) = waiter.take_handed() {
                if cfg!(iobuf_mutant = "wait_handed_thread_skips_serve") {
                    // The mutant: a thread handed its index leaves without
                    // serving, though it may have been woken for an index
                    // in the bitmap that it never took.
                    self.left(false, delivery);
                    return Some(i);
                }
                break Some(i);
            }
            if let Some(i) = self.look_again(&waiter, delivery) {
                break Some(i);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // Leaving unserved; an index handed at the last moment is
                // ours, so take it rather than lose it (W2).
                let handed = self.waiters.leave(&waiter);
                if handed.is_none() {
                    Counters::bump(&self.counters.timeouts);
                }
                break handed;
            }
            sync::park(deadline);
        };
        // A thread serves whenever it leaves (L in `wait.rs`).
        self.left(true, delivery);
        got
    }

    /// The waiting thread's polls before it queues: a short spin, then
    /// yields for up to `YIELD_FOR` (or to `deadline`).
    fn spin_then_yield(&self, deadline: Option<Instant>) -> Option<u32> {
        // Scan again only once an index may have become free since the last
        // look (`Bitmap::changes`): polling a large empty pool then costs
        // one load, not a scan of every word. The count is read before the
        // first look, so a put after that look changes it.
        let mut seen = self.free.changes();
        let mut poll = || {
            let now = self.free.changes();
            if now == seen {
                return None;
            }
            seen = now;
            self.poll_free()
        };
        if let Some(i) = self.poll_free() {
            return Some(i);
        }
        let mut spin = Spin::with_limit(SPIN_STEPS);
        while spin.spin() {
            if let Some(i) = poll() {
                return Some(i);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        // Yield before sleeping: when buffers change hands every few hundred
        // nanoseconds (an exhausted pool under load), a yielding getter takes
        // the next return without a system call on either side, while a
        // sleeper would need a wake-up per buffer. Bounded by `YIELD_FOR`,
        // so a long wait still sleeps (and burns no CPU).
        let yield_until = Instant::now() + YIELD_FOR;
        let yield_until = deadline.map_or(yield_until, |d| d.min(yield_until));
        while Instant::now() < yield_until {
            sync::thread::yield_now();
            if let Some(i) = poll() {
                return Some(i);
            }
        }
        None
    }

    /// A look at the bitmap where it is likely empty (a spinning or yielding
    /// getter, a waiter's look, a strike while others wait): one pass of
    /// `SeqCst` loads, and a take only once a word shows a free bit. An
    /// empty answer serves the Dekker pattern of `wait.rs` as a failed take
    /// would: each word is loaded after the waiter registered, so a put
    /// that the loads miss comes after them in the single total order, and
    /// its returner's `has_waiters` check sees the waiter.
    fn poll_free(&self) -> Option<u32> {
        if self.free.looks_empty() {
            return None;
        }
        self.take_free()
    }

    /// A queued waiter's look at the bitmap and the other threads' caches
    /// (after registering: the waiter's half of the Dekker pattern in
    /// `wait.rs`; stealing also marks every cache `WAIT`). On success the
    /// waiter has left the queue, and an index handed to it meanwhile has
    /// gone on (W2); on `None` it is still queued.
    fn look_again(&self, waiter: &Waiter, delivery: &mut Delivery) -> Option<u32> {
        // `poll_free`: right after registering (a failed strike), the bitmap
        // is most likely still empty, and one pass of loads says so. (A
        // thread woken to race for an index finds a free bit and takes it.)
        // The loads are SeqCst, so the Dekker argument holds: a return whose
        // put they miss checks `has_waiters` after it, and sees us.
        let free = if cfg!(iobuf_mutant = "wait_skips_retry") {
            // The mutant: a waiter parks without looking again (a return
            // that missed its registration strands its index in the bitmap).
            None
        } else {
            self.poll_free()
        };
        let got = free.or_else(|| {
            if self.cache_capacity == 0 {
                return None;
            }
            // Not served here: stolen indices beyond ours are served when we
            // leave (`left`); and if the exact take below finds none, every
            // index was held at some instant after the move, so each one
            // freed since has its own returner's serve behind it.
            let _moved = self.caches.steal(None, true, &self.free);
            self.take_free()
        })?;
        if let Some(extra) = self.waiters.leave(waiter) {
            self.give_shared(extra, delivery);
        }
        Some(got)
    }

    /// After a waiter left the queue: let the caches keep their returns
    /// again if nobody waits, and serve (unless it was a task handed its
    /// index, which owes nothing: L in `wait.rs`).
    fn left(&self, serve: bool, delivery: &mut Delivery) {
        if self.cache_capacity != 0 {
            self.caches.stop_waiting(self);
        }
        if serve {
            self.serve_waiters(delivery);
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
    /// if it has room and nobody waits, else to a waiter or the bitmap.
    #[inline]
    pub(crate) fn give(&self, index: u32) {
        if self.cache_capacity == 0 && !self.waiters.has_waiters() {
            // `give_shared` when nobody waits, without a `Delivery` unless
            // the put finds a waiter after all.
            bitmap::returned(index);
            self.free.put(index);
            // The return's half of the Dekker pattern (`wait.rs`): after the
            // put, look for a waiter that registered meanwhile.
            if cfg!(iobuf_mutant = "ring_return_skips_serve") || !self.waiters.has_waiters() {
                return;
            }
            // In tail position, as `give_slow`: the inlined part makes no
            // other call, so it saves no register.
            return self.serve_after_put();
        }
        self.give_slow(index);
    }

    /// A ring-only return found a waiter after its put: serve it.
    #[cold]
    #[inline(never)]
    fn serve_after_put(&self) {
        let mut delivery = Delivery::default();
        self.serve_waiters(&mut delivery);
        delivery.finish();
    }

    /// `give` with caches, or while others wait.
    fn give_slow(&self, index: u32) {
        let mut delivery = Delivery::default();
        if self.cache_capacity != 0 {
            match cache::give(self, index) {
                Gave::Kept => {}
                Gave::Spilled(moved) => self.after_move(moved, &mut delivery),
                Gave::Shared(index) => self.give_shared(index, &mut delivery),
            }
        } else {
            self.give_shared(index, &mut delivery);
        }
        delivery.finish();
    }

    /// Returns `index` where everyone can have it: offered to the longest
    /// waiter if anyone waits (`WaitQueue::offer`), else to the bitmap. When
    /// nobody waits it costs the bitmap's put (one RMW) and one load.
    pub(super) fn give_shared(&self, index: u32, delivery: &mut Delivery) {
        bitmap::returned(index);
        let index = if self.waiters.has_waiters() {
            match self.waiters.offer(index, |i| self.free.put(i)) {
                Offer::Handed(wakeup) | Offer::Raced(wakeup) => {
                    delivery.wake(wakeup);
                    return;
                }
                Offer::Nobody(index) => index,
            }
        } else {
            index
        };
        self.free.put(index);
        self.serve_waiters(delivery);
    }

    /// After a thread cache moved indices to the bitmap, with its locks
    /// released: serve the waiters that may be owed them (L in `wait.rs`).
    pub(super) fn after_move(&self, moved: Moved, delivery: &mut Delivery) {
        if moved.any() {
            self.serve_waiters(delivery);
        }
    }

    /// After indices landed in the bitmap, or a waiter left: hands them to
    /// waiters (the return's half of the Dekker pattern in `wait.rs`, and
    /// the torch a leaving thread passes on), or wakes the front thread to
    /// race for them. One load when nobody waits.
    pub(super) fn serve_waiters(&self, delivery: &mut Delivery) {
        while self.waiters.has_waiters() {
            match self
                .waiters
                .serve(|| self.take_free(), || self.free.looks_empty())
            {
                Step::Handed(wakeup) => delivery.wake(wakeup),
                Step::Raced(wakeup) => {
                    delivery.wake(wakeup);
                    return;
                }
                Step::Done => return,
            }
        }
    }

    /// Indices in the bitmap or idle in a thread cache (racy under
    /// concurrency; O(capacity)).
    pub(crate) fn available(&self) -> usize {
        self.free.len() + self.caches.cached()
    }

    /// Getters queued now, threads and tasks (racy).
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// Counts `n` more buffers in a provided-buffer bitmap (`added`), or
    /// `n` fewer.
    pub(crate) fn note_provided(&self, n: usize, added: bool) {
        // ORDERING: Relaxed: statistics; the indices themselves travel
        // through the bitmap and the guards.
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

    /// The slow-path counters.
    pub(crate) fn counters(&self) -> Counts {
        let c = &self.counters;
        // ORDERING: Relaxed: statistics; no edge is needed.
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let waits = self.waiters.stats();
        Counts {
            thread_waits: waits.thread_waits,
            task_waits: waits.task_waits,
            timeouts: load(&c.timeouts),
            cancellations: load(&c.cancellations),
            shared_gets: load(&c.shared_gets).wrapping_add(self.ring_gets.sum()),
            refill_gets: load(&c.refill_gets),
            steal_gets: load(&c.steal_gets),
            try_get_failures: load(&c.try_get_failures),
            wait_times: waits.times,
            // ORDERING: Relaxed, as the rest.
            high_water: c.high_water.load(Ordering::Relaxed),
        }
    }
}

/// The future of an asynchronous acquire: an index of the pool, as soon as
/// one is free.
///
/// Cancel-safe: dropped before it completes, it leaves the queue; if a
/// return handed it an index first, it gives that index on (to the next
/// waiter, or the bitmap), so neither the buffer nor the wake-up is lost.
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

    /// The first poll's cache hit inlined, as `get` has it, and without
    /// caches the ring's first try (`take_first`); everything else out of
    /// line.
    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        if self.waiter.is_none() {
            if let Some(i) = cache::pop(self.engine.pool_id) {
                return Poll::Ready(i);
            }
            // A pool without caches: the ring-only first try, as `get`'s.
            if let Some(i) = self.engine.take_first(false) {
                return Poll::Ready(i);
            }
        }
        self.poll_missed(cx.waker())
    }
}

impl Take<'_> {
    /// A poll past the first poll's inlined tries (the thread cache's hit
    /// and, without caches, the ring's first try), made by the caller or
    /// by `poll`. It takes the context's waker alone (all a `Take` uses of
    /// the context), so that a caller whose miss path is out of line need
    /// not build or keep a `Context` on its hit path.
    #[inline(never)]
    pub(crate) fn poll_missed(&mut self, waker: &Waker) -> Poll<u32> {
        let mut delivery = Delivery::default();
        let got = self.poll_queued(waker, &mut delivery);
        match self.engine.settle(got, delivery) {
            Some(i) => Poll::Ready(i),
            None => Poll::Pending,
        }
    }

    fn poll_queued(&mut self, waker: &Waker, delivery: &mut Delivery) -> Option<u32> {
        let engine = self.engine;
        if let Some(waiter) = &self.waiter {
            let i = waiter.take_handed_or_wake(waker)?;
            self.waiter = None;
            // Handed its index: a task owes no serve (L in `wait.rs`).
            engine.left(false, delivery);
            return Some(i);
        }
        // First poll, past the inlined tries: a strike, no spinning (the
        // executor's thread is not ours to hold). Without caches, while
        // others wait, the strike would only be the look `look_again`
        // makes after registering (one pass of loads: the ring's first try
        // just missed, and returns go to the waiters), so it is skipped.
        let ring_behind_waiters = engine.cache_capacity == 0 && engine.waiters.has_waiters();
        if !ring_behind_waiters {
            if let Some(i) = engine.strike(false, delivery) {
                return Some(i);
            }
        }
        // The waker is cloned before any lock is taken (W4).
        let wake = Wake::Task(Some(waker.clone()));
        engine.counters.saw_in_use(engine.free.capacity());
        // Kept in `self` before the look: if a waker panics during it (a
        // steal's serve may hand an index to this very waiter), `Drop`
        // finds the waiter and gives on what it was handed (W5).
        let waiter = self.waiter.insert(engine.waiters.register(wake));
        let i = engine.look_again(waiter, delivery)?;
        self.waiter = None;
        engine.left(true, delivery);
        Some(i)
    }

    #[inline(never)]
    fn cancel(&mut self, waiter: Arc<Waiter>) {
        // Cancelled: leave the queue, and pass on what we were handed (W2).
        let engine = self.engine;
        Counters::bump(&engine.counters.cancellations);
        let mut delivery = Delivery::default();
        if let Some(i) = engine.waiters.leave(&waiter) {
            engine.give_shared(i, &mut delivery);
        }
        drop(waiter);
        engine.left(true, &mut delivery);
        delivery.finish();
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
