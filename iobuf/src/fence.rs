//! Asymmetric fences: a free *light* fence (a compiler fence) on a hot path,
//! paired with an expensive *heavy* fence on a rare slow path, together as
//! strong as a `SeqCst` fence on both sides.
//!
//! On Linux the heavy fence is `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`
//! (Linux 4.14+), which runs a full barrier on every CPU that runs a thread of
//! this process; the light fence is then only a compiler fence. Where that
//! call is missing or refused, both sides fall back to `fence(SeqCst)`, the
//! classic symmetric pairing.
//!
//! The strategy is decided once and never changes. Users of the light side
//! check [`is_asymmetric`] first: thread caches are off without it. (The
//! technique: Linux's `membarrier(2)`; folly's `asymmetricLightBarrier` and
//! `asymmetricHeavyBarrier`.)

use crate::sync::{Ordering, fence};

const UNDECIDED: u8 = 0;
const MEMBARRIER: u8 = 1;
const SYMMETRIC: u8 = 2;

/// Linux's `membarrier` commands (uapi/linux/membarrier.h).
const CMD_QUERY: libc::c_int = 0;
const CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

static STRATEGY: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(UNDECIDED);

/// Decides the strategy now (idempotent); call before the fast path runs.
pub(crate) fn init() {
    // ORDERING: Relaxed: the strategy is a single value decided once; a
    // racing second decision reaches the same answer.
    if STRATEGY.load(std::sync::atomic::Ordering::Relaxed) != UNDECIDED {
        return;
    }
    let strategy = if cfg!(all(loom, test)) || cfg!(miri) {
        SYMMETRIC
    } else if register_membarrier() {
        MEMBARRIER
    } else {
        SYMMETRIC
    };
    // ORDERING: Relaxed, as above: before deciding MEMBARRIER the process is
    // registered, and a thread that still sees UNDECIDED uses full fences.
    STRATEGY.store(strategy, std::sync::atomic::Ordering::Relaxed);
}

#[cfg(target_os = "linux")]
fn register_membarrier() -> bool {
    // SAFETY: membarrier takes plain integer arguments and touches no memory
    // of ours.
    let supported = unsafe { libc::syscall(libc::SYS_membarrier, CMD_QUERY, 0) };
    if supported < 0 || supported & libc::c_long::from(CMD_PRIVATE_EXPEDITED) == 0 {
        return false;
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_membarrier, CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn register_membarrier() -> bool {
    false
}

/// The slow side: a barrier on every running thread of the process.
pub(crate) fn heavy() {
    init();
    // ORDERING: Relaxed: decided by `init` above, in this thread.
    if STRATEGY.load(std::sync::atomic::Ordering::Relaxed) == MEMBARRIER {
        // SAFETY: as in `register_membarrier`.
        let done = unsafe { libc::syscall(libc::SYS_membarrier, CMD_PRIVATE_EXPEDITED, 0) };
        if done == 0 {
            return;
        }
        // Registered, so this cannot fail; were it to, a full fence here is
        // not enough, so fail loudly rather than break exclusivity.
        panic!(
            "membarrier(PRIVATE_EXPEDITED) failed: {}",
            std::io::Error::last_os_error()
        );
    }
    fence(Ordering::SeqCst);
}

/// Whether the heavy fence is `membarrier`, so that the light side may be a
/// compiler fence (`compiler_fence(SeqCst)` at the call site).
pub(crate) fn is_asymmetric() -> bool {
    init();
    // ORDERING: Relaxed: see `init`.
    STRATEGY.load(std::sync::atomic::Ordering::Relaxed) == MEMBARRIER
}
