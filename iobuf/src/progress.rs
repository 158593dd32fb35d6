//! The three-tier progress model: **Strike**, **Spin**, **Adapt**.
//!
//! An operation that may have to wait, like taking a buffer from an empty
//! pool, escalates through three tiers. Each costs more than the one before
//! and is used only when the cheaper one failed:
//!
//! 1. **Strike**: one attempt. This is the whole cost when a buffer is free.
//! 2. **Spin**: a bounded number of retries, with exponentially longer
//!    pauses of [`core::hint::spin_loop`] between them ([`Spin`]). This
//!    covers the short gaps in which another core is about to put a buffer
//!    back, without any system call.
//! 3. **Adapt**: sleep until a producer makes progress, or a deadline passes
//!    ([`Adapt`]). The sleeper parks on a futex-style word
//!    (`parking_lot_core`); a producer's [`Adapt::notify_one`] wakes it
//!    within microseconds. A producer pays a single load, and no system
//!    call, when nobody sleeps.
//!
//! [`acquire`] runs the three tiers around any attempt closure, so code
//! outside the pool can reuse the model.
//!
//! [`BoundedPool`](crate::BoundedPool) follows the same model with its own
//! third tier: after [`Spin`] it yields for a few tens of microseconds, then
//! waits in a FIFO queue that it shares with async getters, where a return
//! can hand a buffer straight to the waiter (see `BoundedPool::get_async`).
//! [`Adapt`] is the general-purpose sleeper for other sources of progress.
//!
//! # Examples
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::time::{Duration, Instant};
//! use iobuf::progress::{acquire, Adapt, Spin};
//!
//! let tokens = AtomicUsize::new(0);
//! let adapt = Adapt::new();
//! let take = || {
//!     tokens
//!         .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
//!         .ok()
//!         .map(|_| ())
//! };
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         std::thread::sleep(Duration::from_millis(10));
//!         tokens.fetch_add(1, Ordering::AcqRel);
//!         adapt.notify_one(); // wakes the sleeper below
//!     });
//!     let got = acquire(take, Spin::new(), &adapt, None);
//!     assert_eq!(got, Some(()));
//! });
//! // With a deadline that has passed, an empty source gives up.
//! assert_eq!(acquire(take, Spin::new(), &adapt, Some(Instant::now())), None);
//! ```

use std::fmt;
use std::time::Instant;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU32, AtomicUsize, Ordering, hint};

/// Bounded spinning with exponential backoff: step `k` pauses for `2^k`
/// [`spin_loop`](core::hint::spin_loop) hints, up to a limit of steps.
///
/// Under the crate's loom models the hint yields to loom's scheduler.
///
/// ```
/// let mut spin = iobuf::progress::Spin::with_limit(3);
/// let mut rounds = 0;
/// while spin.spin() {
///     rounds += 1;
/// }
/// assert_eq!(rounds, 3);
/// assert!(spin.is_exhausted());
/// ```
#[derive(Clone, Debug)]
pub struct Spin {
    step: u32,
    limit: u32,
}

impl Spin {
    /// The default number of backoff steps: 2^0 + … + 2^9 ≈ 1000 pauses,
    /// a few microseconds, about what a put on another core takes to land.
    pub const DEFAULT_LIMIT: u32 = 10;

    /// A spinner with [`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT) steps.
    pub const fn new() -> Self {
        Spin::with_limit(Spin::DEFAULT_LIMIT)
    }

    /// A spinner with `limit` steps (0: never spins). Steps past 16 pause no
    /// longer than step 16.
    pub const fn with_limit(limit: u32) -> Self {
        Spin { step: 0, limit }
    }

    /// Pauses for the current step and moves to the next; returns `false`,
    /// without pausing, once every step was taken.
    pub fn spin(&mut self) -> bool {
        if self.step >= self.limit {
            return false;
        }
        for _ in 0..1u32 << self.step.min(16) {
            hint::spin_loop();
        }
        self.step += 1;
        true
    }

    /// Whether every step was taken.
    pub fn is_exhausted(&self) -> bool {
        self.step >= self.limit
    }

    /// Starts again from the first step.
    pub fn reset(&mut self) {
        self.step = 0;
    }
}

impl Default for Spin {
    fn default() -> Self {
        Spin::new()
    }
}

/// The Adapt tier: a futex-style word that consumers sleep on until a
/// producer signals progress.
///
/// A consumer calls [`wait_until`](Self::wait_until) with the attempt it
/// wants to make; a producer calls [`notify_one`](Self::notify_one) after
/// making an attempt able to succeed. No wake-up is lost: a consumer counts
/// itself as a waiter *before* its last attempt, and a producer checks the
/// count *after* publishing its progress. Both are `SeqCst`, so in their
/// single total order either the attempt sees the progress or the producer
/// sees the waiter (Dekker's pattern).
pub struct Adapt {
    /// Consumers inside `wait_until`; producers skip the wake when it is 0.
    waiters: CachePadded<AtomicUsize>,
    /// Bumped by every wake; a sleeper parks only while it is unchanged since
    /// its last attempt. Its address is the parking key.
    epoch: CachePadded<AtomicU32>,
    /// Where sleepers park: `parking_lot_core`'s table, keyed by `epoch`'s
    /// address.
    parker: park::Parker,
}

impl Adapt {
    /// An `Adapt` with nobody waiting.
    pub fn new() -> Self {
        Adapt {
            waiters: CachePadded::new(AtomicUsize::new(0)),
            epoch: CachePadded::new(AtomicU32::new(0)),
            parker: park::Parker::default(),
        }
    }

    fn key(&self) -> usize {
        &*self.epoch as *const AtomicU32 as usize
    }

    /// Runs `attempt` until it returns `Some`, sleeping between tries until
    /// notified; gives up with `None` once `deadline` has passed (after one
    /// last attempt). `None` for the deadline waits as long as it takes.
    ///
    /// `attempt` must not panic; if it does, the waiter count stays raised
    /// and producers pay for needless wakes.
    pub fn wait_until<R>(
        &self,
        deadline: Option<Instant>,
        mut attempt: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        // ORDERING: SeqCst: must precede our attempts in the total order
        // that also holds the producer's publish-then-check (see type docs).
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let result = loop {
            // ORDERING: SeqCst: read before the attempt, so a notify that
            // lands after a failed attempt changes it and voids the park.
            let epoch = self.epoch.load(Ordering::SeqCst);
            if let Some(r) = attempt() {
                break Some(r);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break None;
            }
            let validate = || {
                // ORDERING: Relaxed: runs under the parking lock, which
                // `wake` also takes after bumping the epoch.
                self.epoch.load(Ordering::Relaxed) == epoch
            };
            self.parker.park(self.key(), validate, deadline);
        };
        // ORDERING: SeqCst, paired with the producers' load; a stale count
        // only costs a producer one needless wake.
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Wakes one sleeping consumer, if any. Costs one load when nobody
    /// waits. Call it after publishing the progress.
    #[inline]
    pub fn notify_one(&self) {
        // ORDERING: SeqCst: after the caller's publication in the total
        // order (see type docs).
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return;
        }
        self.wake(false);
    }

    /// Wakes every sleeping consumer.
    pub fn notify_all(&self) {
        // ORDERING: SeqCst, as in `notify_one`.
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return;
        }
        self.wake(true);
    }

    #[cold]
    fn wake(&self, all: bool) {
        // ORDERING: SeqCst; the bucket lock taken below orders it against a
        // parker's validation.
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.parker.unpark(self.key(), all);
    }

    /// The consumers inside [`wait_until`](Self::wait_until) now (racy).
    pub fn waiters(&self) -> usize {
        // ORDERING: Relaxed: a statistic; no edge is needed.
        self.waiters.load(Ordering::Relaxed)
    }
}

impl Default for Adapt {
    fn default() -> Self {
        Adapt::new()
    }
}

impl fmt::Debug for Adapt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adapt")
            .field("waiters", &self.waiters())
            .finish_non_exhaustive()
    }
}

/// Strike, then Spin, then Adapt: runs `attempt` once, then between the
/// steps of `spin`, then sleeps on `adapt` between attempts until one
/// succeeds or `deadline` passes.
///
/// Returns `None` only when the deadline passed.
pub fn acquire<R>(
    mut attempt: impl FnMut() -> Option<R>,
    mut spin: Spin,
    adapt: &Adapt,
    deadline: Option<Instant>,
) -> Option<R> {
    if let Some(r) = attempt() {
        return Some(r);
    }
    while spin.spin() {
        if let Some(r) = attempt() {
            return Some(r);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
    }
    adapt.wait_until(deadline, attempt)
}

/// Parking: `parking_lot_core`'s global table normally; under Miri, a
/// `Mutex` and `Condvar` of std with the same contract (Miri rejects the way
/// `parking_lot_core` passes its futex word to `syscall`, a variadic call,
/// so the checker would stop there instead of checking the pool).
mod park {
    use std::time::Instant;

    /// Sleeps a thread until [`unpark`](Parker::unpark) with the same key.
    #[derive(Default)]
    pub(super) struct Parker {
        #[cfg(miri)]
        lock: std::sync::Mutex<()>,
        #[cfg(miri)]
        woken: std::sync::Condvar,
    }

    impl Parker {
        /// Parks the calling thread if `validate()` holds, checked under
        /// the lock that `unpark` takes, until unparked, `deadline`, or a
        /// spurious wake-up (callers retry in a loop).
        #[cfg(not(miri))]
        pub(super) fn park(
            &self,
            key: usize,
            validate: impl FnOnce() -> bool,
            deadline: Option<Instant>,
        ) {
            // SAFETY: the key is the address of the caller's own epoch word,
            // which no other primitive parks on; `validate` and the empty
            // callbacks neither panic nor call into parking_lot.
            unsafe {
                parking_lot_core::park(
                    key,
                    validate,
                    || {},
                    |_, _| {},
                    parking_lot_core::DEFAULT_PARK_TOKEN,
                    deadline,
                )
            };
        }

        /// Wakes one thread parked on `key`, or all of them.
        #[cfg(not(miri))]
        pub(super) fn unpark(&self, key: usize, all: bool) {
            if all {
                // SAFETY: the caller's own key; no callbacks that could panic.
                unsafe {
                    parking_lot_core::unpark_all(key, parking_lot_core::DEFAULT_UNPARK_TOKEN)
                };
            } else {
                // SAFETY: the caller's own key; the callback neither panics nor
                // calls into parking_lot.
                unsafe {
                    parking_lot_core::unpark_one(key, |_| parking_lot_core::DEFAULT_UNPARK_TOKEN)
                };
            }
        }

        #[cfg(miri)]
        pub(super) fn park(
            &self,
            _key: usize,
            validate: impl FnOnce() -> bool,
            deadline: Option<Instant>,
        ) {
            let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            if !validate() {
                return;
            }
            match deadline {
                None => drop(self.woken.wait(guard)),
                Some(d) => {
                    let timeout = d.saturating_duration_since(Instant::now());
                    drop(self.woken.wait_timeout(guard, timeout));
                }
            }
        }

        #[cfg(miri)]
        pub(super) fn unpark(&self, _key: usize, all: bool) {
            drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()));
            if all {
                self.woken.notify_all();
            } else {
                self.woken.notify_one();
            }
        }
    }
}
