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
