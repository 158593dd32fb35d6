//! The one place that names synchronisation primitives: std's normally,
//! loom's when the crate's own tests run under `--cfg loom`.
//!
//! The shim is gated on `all(loom, test)`, so a downstream crate built with
//! `--cfg loom` still gets std's types in iobuf.

#[cfg(all(loom, test))]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(all(loom, test))]
pub(crate) use loom::thread;
#[cfg(all(loom, test))]
#[allow(unused_imports)]
pub(crate) use loom::{
    hint,
    sync::atomic::{
        AtomicBool, AtomicI64, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
    },
};
#[cfg(all(loom, test))]
pub(crate) use std::sync::atomic::compiler_fence;
#[cfg(not(all(loom, test)))]
pub(crate) use std::sync::{Mutex, MutexGuard};
#[cfg(not(all(loom, test)))]
pub(crate) use std::thread;

#[cfg(not(all(loom, test)))]
#[allow(unused_imports)]
pub(crate) use core::{
    hint,
    sync::atomic::{
        AtomicBool, AtomicI64, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
        compiler_fence, fence,
    },
};

/// std's own types whatever the cfg, for what lives outside every loom
/// model: the `metrics` module's reporter thread and its static state.
#[cfg(feature = "metrics")]
pub(crate) mod std_only {
    pub(crate) use std::sync::Mutex;
    pub(crate) use std::sync::atomic::{AtomicBool, Ordering};
}

/// Loom models a `SeqCst` access as `AcqRel`; it does model `fence(SeqCst)`.
/// The ring's `SeqCst` operations call this on both sides so that the model
/// checks the single total order they rely on. A no-op outside loom.
#[inline(always)]
pub(crate) fn loom_seq_cst_fence() {
    #[cfg(all(loom, test))]
    fence(Ordering::SeqCst);
}

/// Parks the calling thread until unparked, `deadline`, or a spurious
/// wake-up (callers re-check in a loop). Loom has no timed park: under loom
/// a deadline is ignored (its models wait without one).
pub(crate) fn park(deadline: Option<std::time::Instant>) {
    match deadline {
        #[cfg(not(all(loom, test)))]
        Some(d) => thread::park_timeout(d.saturating_duration_since(std::time::Instant::now())),
        _ => thread::park(),
    }
}

/// Locks `mutex`, counting it in [`locks_held`] until the guard drops. A
/// poisoned lock is taken as it is: every structure behind the pool's
/// mutexes is left consistent at each point where user code could panic
/// (none runs under them; see `wait.rs`).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> Locked<'_, T> {
    let guard = mutex.lock().unwrap_or_else(|e| e.into_inner());
    Locked {
        guard,
        _held: Held::new(),
    }
}

/// A mutex guard counted in [`locks_held`].
pub(crate) struct Locked<'a, T> {
    guard: MutexGuard<'a, T>,
    _held: Held,
}

impl<T> std::ops::Deref for Locked<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> std::ops::DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// One lock or `RefCell` borrow of the pool held by this thread, counted
/// while it lives (debug builds outside loom; nothing otherwise).
pub(crate) struct Held(());

/// Whether locks are counted: debug builds, outside loom (whose model
/// threads share the OS thread's thread-locals).
const COUNT_LOCKS: bool = cfg!(all(debug_assertions, not(all(loom, test))));

thread_local! {
    /// The pool locks and borrows this thread holds now (`Held`). No
    /// destructor, so it is usable during thread exit.
    static HELD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Held {
    pub(crate) fn new() -> Held {
        if COUNT_LOCKS {
            HELD.with(|h| h.set(h.get() + 1));
        }
        Held(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if COUNT_LOCKS {
            HELD.with(|h| h.set(h.get() - 1));
        }
    }
}

/// How many of the pools' locks and `RefCell` borrows the calling thread
/// holds now: always 0 in release builds and under loom. Every wake-up is
/// delivered where this is 0 (asserted in debug builds), and tests' wakers
/// check it.
pub(crate) fn locks_held() -> usize {
    if COUNT_LOCKS {
        HELD.with(|h| h.get())
    } else {
        0
    }
}
