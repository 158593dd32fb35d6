//! One FIFO queue of waiters, sleeping threads and pending tasks alike,
//! with direct hand-off: a return gives its index to the longest waiter
//! instead of the shared ring, so an exhausted pool serves its waiters in
//! arrival order and none starves.
//!
//! # Why this design
//!
//! We compared two designs for the queue:
//!
//! - `event-listener` (smol-rs): one `Event` for blocking and async
//!   listeners, a notified listener dropped unserved passes the
//!   notification on. A notification says "try again", not "here is your
//!   buffer": a woken waiter races every new getter for the index the
//!   return put in the ring, so under sustained exhaustion a waiter can
//!   lose again and again (no FIFO guarantee), and every wake costs a
//!   failed or successful ring round trip.
//! - a queue of our own that assigns the index itself, as tokio's
//!   `batch_semaphore` assigns permits to its oldest waiter, with a
//!   cancelled waiter giving back what it was assigned.
//!
//! We chose the second: hand-off is what makes waiting fair (FIFO) and
//! cheap for tasks (the waiter wakes with its index; no retry), threads get
//! it at least every `FAIR_EVERY` (below), and the protocol is
//! small enough to model with loom (`pool/engine/tests.rs`). The price is one heap
//! allocation (an `Arc<Waiter>`) per wait that actually parks; a get that
//! finds a free buffer never reaches this module. (An intrusive list, as
//! tokio's, would save that allocation at the cost of pinned, unsafe list
//! nodes; a parked wait already costs a context switch, which dwarfs one
//! small allocation.)
//!
//! # Protocol
//!
//! A waiter registers (queue lock; `len` updated), then tries the ring
//! once more, then parks (a thread) or returns `Pending` (a task). A
//! return checks `len` first. If someone waits, it offers its index to the
//! longest waiter: a task is handed the index outright (cheap: a task wake
//! is a run-queue push), and so is a thread whose turn for fairness came
//! (`FAIR_EVERY`); otherwise the index goes to the ring and the front
//! thread is woken to race for it, because handing a buffer to a sleeping
//! thread leaves it idle for the microseconds the thread takes to run,
//! while a running getter could use it now. A woken thread that wins passes
//! the torch (`serve_waiters` in the engine): if the ring still holds an
//! index and someone waits, the next waiter is offered it. If nobody waits,
//! the return enqueues to the ring and checks `len` again, serving a waiter
//! that registered meanwhile (Dekker's pattern: `len` and the ring are both
//! accessed `SeqCst`, so either the waiter's retry finds the index, or
//! finds it already taken by another getter, or the return sees the
//! waiter).
//!
//! Every wake-up (an unpark, a `Waker::wake`) is delivered after the
//! queue's and the waiter's locks are released. A waker may poll its task
//! inline, and that task may take the queue lock again (a `get_async` on
//! the same pool); and a woken thread often runs at once on the waker's
//! CPU, where it would block on the lock the waker still holds: a second
//! context switch, which put a sleeping get's wake-up latency at about
//! twice a `Condvar`'s (`pool/wakeup_latency`, threads pinned to one CPU).
//!
//! # Invariants
//!
//! - **W1** a waiter is in the queue, or has been handed exactly one index
//!   (`handed`), never both; the hand-off pops it and hands it the index
//!   under the queue lock.
//! - **W2** a waiter that leaves unserved (timeout, a dropped future) takes
//!   itself out under the queue lock; if it was handed an index first, it
//!   owns that index and gives it on. No index and no wake-up is lost.
//! - **W3** `len` is the queue's length, written only under the lock.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicUsize, Mutex, Ordering, loom_seq_cst_fence, thread};

/// Sleeping threads and pending tasks waiting for an index, oldest first.
#[derive(Default)]
pub(crate) struct WaitQueue {
    /// The queue's length (W3): the one load a return pays when nobody
    /// waits.
    len: CachePadded<AtomicUsize>,
    queue: Mutex<Queue>,
}

/// What the lock guards.
#[derive(Default)]
struct Queue {
    waiters: VecDeque<Arc<Waiter>>,
    /// When a sleeping thread at the front is next handed a buffer outright
    /// rather than woken to race for it (eventual fairness, as
    /// `parking_lot`'s locks do it).
    fair_at: Option<Instant>,
}

/// How often, at most, a return hands its buffer outright to a thread at
/// the front of the queue instead of waking it to race for the ring: often
/// enough that no thread starves, rarely enough that an exhausted pool's
/// buffers keep changing hands between running threads without a wake-up
/// each (a hand-off to a sleeping thread leaves the buffer idle until that
/// thread runs, several microseconds).
const FAIR_EVERY: Duration = Duration::from_micros(500);

/// What a return should do with its index, as [`WaitQueue::offer`]
/// decided.
pub(crate) enum Offer {
    /// A waiter (a task, or a thread whose turn for fairness came) was
    /// handed the index and woken.
    Handed,
    /// A thread waits at the front: put the index in the ring, then wake it
    /// to take it (it races running getters for it).
    RingThenWake(Arc<Waiter>),
    /// Nobody waits.
    Nobody(u32),
}

/// One wait: where its index is handed, and how to wake it.
pub(crate) struct Waiter {
    /// A sleeping thread (woken to race) rather than a task (always handed
    /// its index).
    thread: bool,
    /// The handed index and the way to wake the waiter, under one lock: a
    /// task that re-registers its waker and then finds no index cannot miss
    /// a hand-off that comes in between.
    state: Mutex<WaiterState>,
}

struct WaiterState {
    /// The index handed to this waiter, until it takes it (W1).
    handed: Option<u32>,
    /// How to wake it: its thread, or its task's latest waker.
    wake: Wake,
}

/// How a waiter is woken.
pub(crate) enum Wake {
    Thread(thread::Thread),
    Task(Option<Waker>),
}

impl WaitQueue {
    /// Whether anyone waits: the check of every return that goes to the
    /// ring (the other half of the waiters' register-then-retry).
    #[inline]
    pub(crate) fn has_waiters(&self) -> bool {
        loom_seq_cst_fence();
        // ORDERING: SeqCst: after the return's ring enqueue in the single
        // total order, against the waiter's SeqCst store in `register`
        // before its ring retry (module docs).
        self.len.load(Ordering::SeqCst) != 0
    }

    /// Waiters queued now (racy; for statistics).
    pub(crate) fn len(&self) -> usize {
        // ORDERING: Relaxed: a statistic.
        self.len.load(Ordering::Relaxed)
    }

    fn lock(&self) -> crate::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_len(&self, len: usize) {
        // ORDERING: SeqCst, under the lock (W3): pairs with `has_waiters`.
        self.len.store(len, Ordering::SeqCst);
        loom_seq_cst_fence();
    }

    /// Offers `index` to the longest waiter: a task is handed it and woken;
    /// a thread is handed it if its turn for fairness came, else the caller
    /// puts the index in the ring and wakes the thread to race for it.
    pub(crate) fn offer(&self, index: u32) -> Offer {
        let mut queue = self.lock();
        let Some(front) = queue.waiters.front().cloned() else {
            return Offer::Nobody(index);
        };
        if front.thread && !queue.fair_turn() {
            return Offer::RingThenWake(front);
        }
        let waiter = queue.waiters.pop_front().expect("a front waiter");
        self.set_len(queue.waiters.len());
        // Under the queue lock, so that a waiter that no longer finds itself
        // queued finds its index handed (W1); the waiter's lock publishes
        // the returner's writes to the buffer to it.
        let wakeup = waiter.hand(index);
        // Woken only once both locks are released (module docs: a waker run
        // inline may lock the queue again; a woken thread may preempt us
        // and block on the lock we hold).
        drop(queue);
        wakeup.wake();
        Offer::Handed
    }

    /// Queues a new waiter, woken by `wake`. Allocates its `Arc`.
    pub(crate) fn register(&self, wake: Wake) -> Arc<Waiter> {
        let waiter = Arc::new(Waiter {
            thread: matches!(wake, Wake::Thread(_)),
            state: Mutex::new(WaiterState { handed: None, wake }),
        });
        let mut queue = self.lock();
        queue.waiters.push_back(waiter.clone());
        self.set_len(queue.waiters.len());
        waiter
    }

    /// Takes `waiter` out of the queue (W2). `Some(index)` if it was handed
    /// one before it could leave: the caller owns that index.
    pub(crate) fn cancel(&self, waiter: &Arc<Waiter>) -> Option<u32> {
        let mut queue = self.lock();
        if let Some(at) = queue.waiters.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            queue.waiters.remove(at);
            self.set_len(queue.waiters.len());
            return None;
        }
        drop(queue);
        if cfg!(iobuf_mutant = "wait_cancel_drops_handoff") {
            // The mutant: a waiter served and cancelled in the same breath
            // forgets what it was handed (the models must catch the loss).
            return None;
        }
        // Not queued, so a hand-off popped it and handed it an index under
        // the lock we just took (W1).
        let handed = waiter.take_handed();
        debug_assert!(handed.is_some(), "a waiter left the queue unserved");
        handed
    }
}

impl Queue {
    /// Whether a thread at the front is due a hand-off; if so, the next one
    /// is due `FAIR_EVERY` from now. (Never under loom: its models must be
    /// deterministic, and the task path covers hand-offs.)
    fn fair_turn(&mut self) -> bool {
        if cfg!(all(loom, test)) {
            return false;
        }
        let now = Instant::now();
        match self.fair_at {
            Some(at) if now < at => false,
            _ => {
                self.fair_at = Some(now + FAIR_EVERY);
                true
            }
        }
    }
}

impl Waiter {
    fn lock(&self) -> crate::sync::MutexGuard<'_, WaiterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `index` over; the caller wakes the waiter with the returned
    /// [`Wakeup`] once it holds no lock.
    fn hand(&self, index: u32) -> Wakeup {
        let mut state = self.lock();
        debug_assert!(state.handed.is_none(), "a waiter was handed two indices");
        state.handed = Some(index);
        state.wake.wakeup()
    }

    /// The index handed to this waiter, once: `None` before the hand-off.
    pub(crate) fn take_handed(&self) -> Option<u32> {
        self.lock().handed.take()
    }

    /// For a task polled again: the handed index, or else the wake-up
    /// pointed at `waker` (the task may have moved to another worker),
    /// unless the registered one already wakes the same task.
    pub(crate) fn take_handed_or_wake(&self, waker: &Waker) -> Option<u32> {
        let mut state = self.lock();
        if let Some(i) = state.handed.take() {
            return Some(i);
        }
        match &mut state.wake {
            Wake::Task(Some(old)) if old.will_wake(waker) => {}
            other => *other = Wake::Task(Some(waker.clone())),
        }
        None
    }

    /// Wakes the waiter without handing it anything (a thread woken to
    /// race for the ring).
    pub(crate) fn wake(&self) {
        let wakeup = self.lock().wake.wakeup();
        wakeup.wake();
    }
}

impl Wake {
    /// What wakes this waiter, taken under its lock to be used after the
    /// lock is released. A task's waker is taken (one wake per
    /// registration; a re-poll registers again); a thread stays
    /// registered, since it re-checks and parks again until served.
    fn wakeup(&mut self) -> Wakeup {
        match self {
            Wake::Thread(thread) => Wakeup::Thread(thread.clone()),
            Wake::Task(waker) => waker.take().map_or(Wakeup::Spent, Wakeup::Task),
        }
    }
}

/// A wake-up taken under a waiter's lock and delivered after every lock is
/// released (module docs).
#[must_use = "a waiter's wake-up must be delivered"]
enum Wakeup {
    Thread(thread::Thread),
    Task(Waker),
    /// The task's waker was taken by an earlier wake-up, and the task has
    /// not been polled (and registered a new one) since.
    Spent,
}

impl Wakeup {
    fn wake(self) {
        match self {
            Wakeup::Thread(thread) => thread.unpark(),
            Wakeup::Task(waker) => waker.wake(),
            Wakeup::Spent => {}
        }
    }
}
