//! One FIFO queue of waiters, sleeping threads and pending tasks alike,
//! with direct hand-off: a return gives its index to the longest waiter
//! instead of the shared bitmap, so an exhausted pool serves its waiters in
//! arrival order.
//!
//! # Why this design
//!
//! We compared two designs for the queue:
//!
//! - `event-listener` (smol-rs): one `Event` for blocking and async
//!   listeners, a notified listener dropped unserved passes the
//!   notification on. A notification says "try again", not "here is your
//!   buffer": a woken waiter races every new getter for the index the
//!   return put in the bitmap, so under sustained exhaustion a waiter can
//!   lose again and again (no FIFO guarantee), and every wake costs a
//!   failed or successful bitmap round trip.
//! - a queue of our own that assigns the index itself, as tokio's
//!   `batch_semaphore` assigns permits to its oldest waiter, with a
//!   cancelled waiter giving back what it was assigned.
//!
//! We chose the second for tasks (the waiter wakes with its index; no
//! retry) and a mix for threads (below). The price is one heap allocation
//! (an `Arc<Waiter>`) per wait that actually queues: a blocking get that
//! sleeps, or a `get_async` future that returns `Pending`; a get that finds
//! a free buffer never reaches this module. (An intrusive list, as tokio's,
//! would save that allocation at the cost of pinned, unsafe list nodes; a
//! queued wait already costs a context switch or a task wake, which dwarfs
//! one small allocation.)
//!
//! # Protocol
//!
//! A waiter registers (queue lock; `len` updated), then looks at the bitmap
//! once more, then parks (a thread) or returns `Pending` (a task). A
//! return checks `len` first. If someone waits, it offers its index to the
//! longest waiter ([`WaitQueue::offer`]): a task is handed the index
//! outright (a task wake is a run-queue push), and so is a thread whose
//! turn for fairness came (`FAIR_EVERY`). Otherwise the index goes to the
//! bitmap **while the queue lock is held**, and the front thread is woken to
//! race for it: handing a buffer to a sleeping thread leaves it idle for
//! the microseconds the thread takes to run, while a running getter could
//! use it now. If nobody waits, the return puts its index in the bitmap and then
//! serves ([`WaitQueue::serve`]): it checks `len` again and hands what the
//! bitmap holds to waiters that registered meanwhile (Dekker's pattern: a
//! registration's store to `len`, the return's load of it and both sides'
//! bitmap accesses are `SeqCst`, so either the waiter's look finds the
//! index, or finds it already taken by another getter, or the return sees
//! the waiter; a waiter's leaving lowers `len` with a plain store, since a
//! return that reads the count from before it only looks at the queue for
//! nothing).
//!
//! # Liveness
//!
//! - **L** If an index is free (in the bitmap) and someone waits, someone is
//!   being woken for it: a returner or a leaving waiter is about to serve,
//!   or a thread at the front of the queue was woken after the index
//!   reached the bitmap and has not yet looked at the bitmap.
//!
//! Each way an index reaches the bitmap keeps L: a return puts and then
//! serves; a thread cache that moves indices to the bitmap (drain, spill,
//! steal, thread exit, eviction) reports it, and the engine serves once the
//! cache's locks are released; a return that declines to hand its index to
//! a front thread puts it there under the queue lock, before that thread can
//! be woken or leave. Serving wakes the front thread only when the bitmap is
//! not empty, and stops there: the woken thread owes the next serve.
//!
//! Each way a waiter leaves keeps L:
//!
//! - a **thread** serves whenever it leaves (served from the bitmap, handed
//!   an index, or timed out): it may have been woken for an index in the
//!   bitmap that it did not take, and it alone knows it will not take it;
//! - a **task** handed its index leaves with nothing owed: tasks are never
//!   woken to race;
//! - a task that takes an index from the bitmap or the caches after it
//!   registered, or that is **cancelled** (its future dropped), leaves the
//!   queue under the lock; an index handed to it meanwhile is its own, and
//!   it gives it on like a return (W2); then it serves, as a thread does.
//!
//! # Invariants
//!
//! - **W1** a waiter is in the queue (`queued`), or has been handed exactly
//!   one index (`handed`), or has left; never two of these. The hand-off
//!   takes it out of the queue and hands it the index under the queue lock.
//! - **W2** a waiter that leaves unserved (timeout, a dropped future) takes
//!   itself out under the queue lock; if it was handed an index first, it
//!   owns that index and gives it on. No index is lost.
//! - **W3** `len` is the number of queued waiters, written only under the
//!   lock.
//! - **W4** no user code (a `Waker`'s `wake`, `clone` or `drop`) runs while
//!   this thread holds any lock or `RefCell` borrow of the pool: wake-ups
//!   are taken out under the locks as [`Wakeup`]s and delivered through a
//!   [`Delivery`] after every lock is released; wakers are cloned before
//!   and dropped after the waiter's lock. A waker may then poll its task
//!   inline and re-enter the pool, and a woken thread does not block on a
//!   lock the waker still holds (a second context switch that put a
//!   sleeping get's wake-up latency at twice a `Condvar`'s). Debug builds
//!   assert it (`sync::locks_held`).
//! - **W5** a waker that panics loses nothing: the index is stored in the
//!   waiter before its waker runs, the panic is caught, the operation
//!   finishes putting every index where it belongs (delivering the other
//!   wake-ups), and only then is the panic resumed; an index the
//!   panicking operation would have returned to its caller goes back to
//!   the pool instead. During an unwind (an operation in a `Drop`) the
//!   panic is dropped, not resumed (a second panic would abort), and the
//!   index stays the caller's: never both returned and given back.
//!
//! - **W6** the wait statistics ([`WaitStats`]) are counted under the
//!   queue lock, at the two W1 transitions that begin and end a wait: a
//!   registration counts a thread or task wait; the hand-off, or a leave
//!   while still queued, ends it and buckets its length (from just before
//!   the waiter registered to just before the lock under which it left
//!   the queue was taken). So every wait is counted once, and a reader
//!   that takes the lock gets counts, buckets and sums of one set of waits.
//!
//! A future that is `mem::forget`ten while queued never leaves: it keeps
//! its place, and the index a return hands it when it reaches the front is
//! lost with it, as a forgotten guard's is. That is at most one buffer per
//! forgotten future: the hand-off takes it out of the queue (W1).

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::clock::Stamp;

use crate::sync::{
    self, AtomicBool, AtomicU32, AtomicUsize, Locked, Mutex, Ordering, loom_seq_cst_fence,
};

/// Sleeping threads and pending tasks waiting for an index, oldest first.
#[derive(Default)]
pub(crate) struct WaitQueue {
    /// The number of queued waiters (W3): the one load a return pays when
    /// nobody waits.
    len: CachePadded<AtomicUsize>,
    queue: Mutex<Queue>,
}

/// What the lock guards.
#[derive(Default)]
struct Queue {
    /// The waits so far (W6).
    stats: WaitStats,
    /// Queued waiters, oldest first, and waiters that left without being
    /// handed anything (`queued == false`), removed lazily so that leaving
    /// costs O(1): skipped at the front, and swept when they outnumber the
    /// queued ones.
    entries: VecDeque<Arc<Waiter>>,
    /// Queued waiters among `entries` (W3).
    queued: usize,
    fairness: Fairness,
}

/// The wait-time histogram's upper bounds, in microseconds.
pub(crate) const WAIT_BOUNDS_MICROS: [u64; 6] = [10, 100, 1_000, 10_000, 100_000, 1_000_000];

/// How many buckets the wait-time histogram has: one per bound, and one
/// for longer waits.
pub(crate) const WAIT_BUCKETS: usize = WAIT_BOUNDS_MICROS.len() + 1;

/// The queued waits of one pool, by bucket of `WAIT_BOUNDS_MICROS`.
#[derive(Clone, Copy, Default)]
pub(crate) struct WaitTimes {
    /// Bucket `i` counts the waits of at most `WAIT_BOUNDS_MICROS[i]` µs
    /// (and more than the bound before it); the last one the longer ones.
    pub(crate) counts: [u64; WAIT_BUCKETS],
    /// The summed lengths of the waits `counts[i]` counts, in nanoseconds
    /// (wrapping, after 2^64 ns: 584 years).
    pub(crate) nanos: [u64; WAIT_BUCKETS],
}

impl WaitTimes {
    /// The bucket of a wait of `nanos` nanoseconds: the first whose bound
    /// is at least `nanos` (a bound is inclusive, as Prometheus' `le`).
    pub(crate) fn bucket(nanos: u64) -> usize {
        // The bounds in nanoseconds, at compile time; counting the bounds
        // below `nanos` is the bucket (they ascend), with no branch and no
        // multiplication per wait.
        const NANOS: [u64; WAIT_BOUNDS_MICROS.len()] = {
            let mut nanos = [0; WAIT_BOUNDS_MICROS.len()];
            let mut i = 0;
            while i < nanos.len() {
                nanos[i] = WAIT_BOUNDS_MICROS[i] * 1_000;
                i += 1;
            }
            nanos
        };
        NANOS.iter().map(|&bound| usize::from(bound < nanos)).sum()
    }

    /// Counts a wait of `nanos` nanoseconds.
    fn add(&mut self, nanos: u64) {
        let bucket = WaitTimes::bucket(nanos);
        self.counts[bucket] = self.counts[bucket].wrapping_add(1);
        self.nanos[bucket] = self.nanos[bucket].wrapping_add(nanos);
    }
}

/// The queue's statistics (W6): plain numbers under the queue lock, which
/// every registration and every end of a wait takes anyway, so counting
/// costs no atomic and no lock of its own.
#[derive(Clone, Copy, Default)]
pub(crate) struct WaitStats {
    /// Sleeping threads that queued.
    pub(crate) thread_waits: u64,
    /// Pending tasks that queued.
    pub(crate) task_waits: u64,
    /// The finished waits by length.
    pub(crate) times: WaitTimes,
}

impl WaitStats {
    /// A wait that began at `since` ended at `now` (W6); a waiter that
    /// registered after the instant its hand-off read counts 0 ns.
    fn ended(&mut self, since: Stamp, now: Stamp) {
        // Saturates after 584 years (`nanos`' wrapping sum is documented).
        self.times.add(since.nanos_until(now));
    }
}

/// How often, at most, a return hands its buffer outright to a thread at
/// the front of the queue instead of waking it to race for the bitmap: often
/// enough that no thread starves, rarely enough that an exhausted pool's
/// buffers keep changing hands between running threads without a wake-up
/// each (a hand-off to a sleeping thread leaves the buffer idle until that
/// thread runs, several microseconds).
#[cfg_attr(all(loom, test), allow(dead_code))]
const FAIR_EVERY: Duration = Duration::from_micros(500);

/// When a thread at the front is next handed a buffer outright rather than
/// woken to race for it (eventual fairness, as `parking_lot`'s locks do
/// it).
#[derive(Default)]
struct Fairness {
    /// The last hand-off by turn; the next is due `FAIR_EVERY` after it
    /// (unused under loom).
    #[cfg_attr(all(loom, test), allow(dead_code))]
    last: Option<Stamp>,
    /// Under loom, whose models must be deterministic: every second
    /// decision is a hand-off, so the models see both.
    #[cfg(all(loom, test))]
    turns: u32,
}

impl Fairness {
    /// Whether this decision, at `now`, hands the index to the front
    /// thread; if so, the next hand-off is due `FAIR_EVERY` after `now`.
    fn turn(&mut self, now: Stamp) -> bool {
        #[cfg(all(loom, test))]
        {
            let _ = now;
            self.turns += 1;
            self.turns % 2 == 0
        }
        #[cfg(not(all(loom, test)))]
        {
            const FAIR_NANOS: u64 = FAIR_EVERY.as_nanos() as u64;
            match self.last {
                Some(last) if last.nanos_until(now) < FAIR_NANOS => false,
                _ => {
                    self.last = Some(now);
                    true
                }
            }
        }
    }
}

/// What [`WaitQueue::offer`] did with a return's index.
pub(crate) enum Offer {
    /// Handed to the longest waiter; deliver its wake-up.
    Handed(Wakeup),
    /// Put in the bitmap under the queue lock for the thread at the front to
    /// race for; deliver its wake-up (the thread owes the next serve).
    Raced(Wakeup),
    /// Nobody waits: the caller puts it in the bitmap, then serves.
    Nobody(u32),
}

/// One step of [`WaitQueue::serve`].
pub(crate) enum Step {
    /// An index from the bitmap was handed to a waiter; deliver the wake-up
    /// and serve again.
    Handed(Wakeup),
    /// The bitmap is not empty and a thread waits at the front: deliver its
    /// wake-up and stop (the thread owes the next serve).
    Raced(Wakeup),
    /// Nobody waits, or the bitmap is empty.
    Done,
}

/// One wait: where its index is handed, and how to wake it.
pub(crate) struct Waiter {
    /// A sleeping thread (woken to race, at times handed) rather than a
    /// task (always handed its index).
    thread: bool,
    /// Just before it registered: where its wait began (W6).
    since: Stamp,
    /// In the queue (W1). Read and written only under the queue lock, so
    /// `Relaxed`.
    queued: AtomicBool,
    /// The index handed to this waiter (W1), `UNHANDED` before the hand-off
    /// and again once its owner took it. Stored once, by the hand-off,
    /// under the `wake` lock: a task that re-registers its waker under that
    /// lock and then finds no index cannot miss a hand-off that comes in
    /// between. Read without the lock by the owner, which alone takes it:
    /// a woken task or thread finds its index with one load.
    handed: AtomicU32,
    /// How to wake the waiter: its thread, or its task's latest waker.
    wake: Mutex<Wake>,
}

/// `Waiter::handed` before a hand-off: no index is `u32::MAX` (I3;
/// capacities stop at 2^31).
const UNHANDED: u32 = u32::MAX;

/// How a waiter is woken.
pub(crate) enum Wake {
    Thread(sync::thread::Thread),
    Task(Option<Waker>),
}

impl WaitQueue {
    /// Whether anyone waits: the check of every return that goes to the
    /// bitmap (the other half of the waiters' register-then-look).
    #[inline]
    pub(crate) fn has_waiters(&self) -> bool {
        loom_seq_cst_fence();
        // ORDERING: SeqCst: after the return's put in the single
        // total order, against the waiter's SeqCst store in `register`
        // before its look at the bitmap (module docs).
        self.len.load(Ordering::SeqCst) != 0
    }

    /// Waiters queued now (racy; for statistics).
    pub(crate) fn len(&self) -> usize {
        // ORDERING: Relaxed: a statistic.
        self.len.load(Ordering::Relaxed)
    }

    fn lock(&self) -> Locked<'_, Queue> {
        sync::lock(&self.queue)
    }

    /// `len` after a registration (W3, under the lock).
    fn grew(&self, len: usize) {
        // ORDERING: SeqCst: the waiter's half of the Dekker pattern (module
        // docs), before its look at the bitmap; pairs with `has_waiters`.
        self.len.store(len, Ordering::SeqCst);
        loom_seq_cst_fence();
    }

    /// `len` after a waiter left the queue (W3, under the lock).
    fn shrank(&self, len: usize) {
        // ORDERING: Relaxed: only a registration's store must be seen by a
        // return's `has_waiters`, and that store is SeqCst: a SeqCst load
        // that follows it in the single total order reads it or a store
        // after it in `len`'s modification order, and every store after it
        // is made under the lock, so counts that waiter while it is
        // queued. A load that still reads a count this store lowered only
        // sends a return to `offer` or `serve` for nothing: they find the
        // queue empty under the lock. (On x86 this saves the `xchg` of a
        // SeqCst store on every hand-off.)
        self.len.store(len, Ordering::Relaxed);
    }

    /// The waits so far (W6); takes the queue lock.
    pub(crate) fn stats(&self) -> WaitStats {
        self.lock().stats
    }

    /// Queues a new waiter, woken by `wake`, and counts its wait (W6).
    /// Allocates its `Arc`.
    pub(crate) fn register(&self, wake: Wake) -> Arc<Waiter> {
        let thread = matches!(wake, Wake::Thread(_));
        let waiter = Waiter {
            thread,
            queued: AtomicBool::new(true),
            since: Stamp::now(),
            handed: AtomicU32::new(UNHANDED),
            wake: Mutex::new(wake),
        };
        let waiter = Arc::new(waiter);
        // Cloned before the lock, which it would otherwise hold longer.
        let queued = waiter.clone();
        let mut queue = self.lock();
        let kind = if thread {
            &mut queue.stats.thread_waits
        } else {
            &mut queue.stats.task_waits
        };
        *kind += 1;
        queue.entries.push_back(queued);
        queue.queued += 1;
        self.grew(queue.queued);
        waiter
    }

    /// Offers a return's `index` to the longest waiter: a task, or a thread
    /// whose turn for fairness came, is handed it; for any other thread at
    /// the front, `to_free` puts the index in the bitmap under the queue lock
    /// (module docs: L) and the thread is to be woken to race for it.
    pub(crate) fn offer(&self, index: u32, to_free: impl FnOnce(u32)) -> Offer {
        // Read outside the lock, which it would otherwise hold longer: the
        // end of the wait handed the index (W6).
        let now = Stamp::now();
        let mut queue = self.lock();
        let Some(thread) = queue.front().map(|w| w.thread) else {
            return Offer::Nobody(index);
        };
        if thread && !queue.fairness.turn(now) {
            let wakeup = queue.wake_front();
            if cfg!(iobuf_mutant = "wait_ring_after_unlock") {
                // The mutant: the index reaches the bitmap only after the
                // lock is released, so the front thread can leave (and
                // serve) before it lands; the waiters behind it strand.
                drop(queue);
            }
            to_free(index);
            return Offer::Raced(wakeup);
        }
        let (wakeup, waiter) = queue.hand_front(self, index, now);
        drop(queue);
        drop(waiter);
        Offer::Handed(wakeup)
    }

    /// One step of serving the bitmap's indices to waiters: the front waiter
    /// is handed one if it is a task or a thread whose turn came, else
    /// woken to race for them (only if the bitmap is not empty). `take`
    /// and `looks_empty` run under the queue lock.
    pub(crate) fn serve(
        &self,
        take: impl FnOnce() -> Option<u32>,
        looks_empty: impl FnOnce() -> bool,
    ) -> Step {
        // As in `offer`: the end of the wait a hand-off ends (W6).
        let now = Stamp::now();
        let mut queue = self.lock();
        let Some(thread) = queue.front().map(|w| w.thread) else {
            return Step::Done;
        };
        if thread {
            if looks_empty() {
                return Step::Done;
            }
            if !queue.fairness.turn(now) {
                return Step::Raced(queue.wake_front());
            }
        }
        match take() {
            Some(index) => {
                let (wakeup, waiter) = queue.hand_front(self, index, now);
                drop(queue);
                drop(waiter);
                Step::Handed(wakeup)
            }
            None => Step::Done,
        }
    }

    /// Takes `waiter` out of the queue (W2), and its waker out of it (to be
    /// dropped by the caller, outside every lock: W4). `Some(index)` if it
    /// was handed one before it could leave: the caller owns that index.
    pub(crate) fn leave(&self, waiter: &Waiter) -> Option<u32> {
        // The end of the wait, if it is still queued (W6).
        let now = Stamp::now();
        let mut queue = self.lock();
        // ORDERING: Relaxed: `queued` is only accessed under the queue lock.
        let queued = waiter.queued.load(Ordering::Relaxed);
        if queued {
            // ORDERING: Relaxed, as above.
            waiter.queued.store(false, Ordering::Relaxed);
            queue.stats.ended(waiter.since, now);
            queue.queued -= 1;
            self.shrank(queue.queued);
            queue.sweep();
        }
        drop(queue);
        let waker = std::mem::replace(&mut *waiter.lock(), Wake::Task(None));
        drop(waker);
        // Not queued: the hand-off stored the index under the queue lock we
        // took since, so the load sees it.
        let handed = waiter.take_handed();
        if queued {
            return None;
        }
        if cfg!(iobuf_mutant = "wait_cancel_drops_handoff") {
            // The mutant: a waiter served and cancelled in the same breath
            // forgets what it was handed (the models must catch the loss).
            return None;
        }
        // Not queued, so a hand-off took it out and handed it an index
        // under the lock we just took (W1).
        debug_assert!(handed.is_some(), "a waiter left the queue unserved");
        handed
    }
}

impl Queue {
    /// The longest queued waiter, dropping the entries of waiters that
    /// left from the front.
    fn front(&mut self) -> Option<&Arc<Waiter>> {
        // ORDERING: Relaxed: `queued` is only accessed under the queue lock.
        while let Some(w) = self.entries.front() {
            if w.queued.load(Ordering::Relaxed) {
                break;
            }
            self.entries.pop_front();
        }
        self.entries.front()
    }

    /// The wake-up of the front waiter (a thread, which `front` returned),
    /// which stays queued.
    fn wake_front(&mut self) -> Wakeup {
        self.entries
            .front()
            .expect("a front waiter")
            .lock()
            .wakeup()
    }

    /// Takes the front waiter (queued: `front` returned it) out of the
    /// queue and hands it `index`, under the queue lock (W1); its wait
    /// ended at `now` (W6).
    /// Returns the queue's reference to the waiter too, for the caller to
    /// drop once it released the lock (an atomic on a line the waiter's
    /// owner shares, kept out of the critical section).
    fn hand_front(&mut self, waiters: &WaitQueue, index: u32, now: Stamp) -> (Wakeup, Arc<Waiter>) {
        let waiter = self.entries.pop_front().expect("a front waiter");
        // ORDERING: Relaxed: under the queue lock.
        waiter.queued.store(false, Ordering::Relaxed);
        self.stats.ended(waiter.since, now);
        self.queued -= 1;
        waiters.shrank(self.queued);
        // `hand`'s Release store publishes the returner's writes to the
        // buffer to the waiter.
        (waiter.hand(index), waiter)
    }

    /// Drops the entries of waiters that left once they outnumber the
    /// queued ones: amortised O(1) per leave.
    fn sweep(&mut self) {
        if self.entries.len() > 2 * self.queued + 32 {
            // ORDERING: Relaxed: under the queue lock.
            self.entries.retain(|w| w.queued.load(Ordering::Relaxed));
        }
    }
}

impl Waiter {
    fn lock(&self) -> Locked<'_, Wake> {
        sync::lock(&self.wake)
    }

    /// Hands `index` over; the caller delivers the returned [`Wakeup`]
    /// once it holds no lock.
    fn hand(&self, index: u32) -> Wakeup {
        debug_assert!(index != UNHANDED, "index {index} is the unhanded mark");
        let mut wake = self.lock();
        // ORDERING: Relaxed: only this hand-off writes a handed index (W1),
        // so the load reads the initial mark.
        let before = self.handed.load(Ordering::Relaxed);
        debug_assert_eq!(before, UNHANDED, "a waiter was handed two indices");
        // ORDERING: Release: publishes the returner's writes to the buffer
        // (and to the pool before its return) to the owner's Acquire load in
        // `take_handed`. Under the `wake` lock, so a task re-registering
        // its waker sees the index once it holds the lock (or its new
        // waker is the one taken below).
        self.handed.store(index, Ordering::Release);
        wake.wakeup()
    }

    /// The index handed to this waiter, once: `None` before the hand-off.
    /// Called by the waiter's owner only (its thread, its future).
    pub(crate) fn take_handed(&self) -> Option<u32> {
        // ORDERING: Acquire: pairs with `hand`'s Release store, so the
        // returner's writes to the buffer happen before the owner's use.
        let index = self.handed.load(Ordering::Acquire);
        if index == UNHANDED {
            return None;
        }
        // ORDERING: Relaxed: a plain load and store suffice: the owner alone
        // takes the index, and nobody hands it another (W1), so no write
        // can come between the two.
        self.handed.store(UNHANDED, Ordering::Relaxed);
        Some(index)
    }

    /// For a task polled again: the handed index, or else the wake-up
    /// pointed at `waker` (the task may have moved to another worker),
    /// unless the registered one already wakes the same task. The new
    /// waker is cloned, and the old one dropped, outside the lock (W4).
    pub(crate) fn take_handed_or_wake(&self, waker: &Waker) -> Option<u32> {
        // Woken by its hand-off (the usual case): one load, no lock.
        if let Some(i) = self.take_handed() {
            return Some(i);
        }
        {
            let wake = self.lock();
            // Not handed before we took the lock (a hand-off stores the
            // index under it, and takes the waker: then `wake` holds none
            // and the test fails); one coming after it wakes `old`.
            // `will_wake` compares pointers: no user code.
            if matches!(&*wake, Wake::Task(Some(old)) if old.will_wake(waker)) {
                return None;
            }
        }
        let new = Wake::Task(Some(waker.clone()));
        let mut wake = self.lock();
        let handed = if cfg!(iobuf_mutant = "wait_rewake_skips_recheck") {
            // The mutant: the new waker goes in without a second look, so a
            // hand-off that stored the index and took the old waker before
            // this lock leaves the task asleep with its index.
            None
        } else {
            self.take_handed()
        };
        // Handed meanwhile: the task takes its index and needs no waker.
        let unused = match handed {
            Some(_) => new,
            None => std::mem::replace(&mut *wake, new),
        };
        drop(wake);
        drop(unused);
        handed
    }
}

impl Wake {
    /// What wakes this waiter, taken under its lock to be delivered after
    /// every lock is released. A task's waker is taken (a task is woken
    /// once, when it is handed its index); a thread stays registered,
    /// since it re-checks and parks again until served.
    fn wakeup(&mut self) -> Wakeup {
        match self {
            Wake::Thread(thread) => Wakeup::Thread(thread.clone()),
            Wake::Task(waker) => waker.take().map_or(Wakeup::Spent, Wakeup::Task),
        }
    }
}

/// A wake-up taken under a waiter's lock and delivered through a
/// [`Delivery`] after every lock is released (W4).
#[must_use = "a waiter's wake-up must be delivered"]
pub(crate) enum Wakeup {
    Thread(sync::thread::Thread),
    Task(Waker),
    /// The task has no waker (its future never registered one).
    Spent,
}

/// The wake-ups one pool operation delivers, and the first panic a waker
/// raised while it did (W5): the operation finishes its work, then calls
/// [`finish`](Self::finish), which resumes that panic.
#[derive(Default)]
pub(crate) struct Delivery {
    panic: Option<Box<dyn Any + Send>>,
}

impl Delivery {
    /// Delivers `wakeup` now; the caller holds no lock of the pool (W4).
    pub(crate) fn wake(&mut self, wakeup: Wakeup) {
        debug_assert_eq!(
            sync::locks_held(),
            0,
            "a wake-up delivered under a lock of the pool"
        );
        let result = catch_unwind(AssertUnwindSafe(|| match wakeup {
            Wakeup::Thread(thread) => thread.unpark(),
            Wakeup::Task(waker) => waker.wake(),
            Wakeup::Spent => {}
        }));
        if let Err(panic) = result {
            self.panic.get_or_insert(panic);
        }
    }

    /// Whether a waker panicked.
    pub(crate) fn panicked(&self) -> bool {
        self.panic.is_some()
    }

    /// Resumes a waker's panic, if one was caught. During an unwind (a
    /// future dropped by a panicking task) the second panic would abort the
    /// process, so it is dropped instead.
    pub(crate) fn finish(self) {
        if let Some(panic) = self.panic {
            if !std::thread::panicking() {
                resume_unwind(panic);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod wait_time_tests {
    use super::{WAIT_BOUNDS_MICROS, WAIT_BUCKETS, WaitTimes};

    #[test]
    fn a_bound_is_inclusive_and_a_nanosecond_more_is_the_next_bucket() {
        assert_eq!(WaitTimes::bucket(0), 0);
        for (i, &micros) in WAIT_BOUNDS_MICROS.iter().enumerate() {
            assert_eq!(WaitTimes::bucket(micros * 1_000), i, "{micros} us");
            assert_eq!(
                WaitTimes::bucket(micros * 1_000 + 1),
                i + 1,
                "{micros} us + 1 ns"
            );
        }
        assert_eq!(WaitTimes::bucket(u64::MAX), WAIT_BUCKETS - 1);
    }
}
