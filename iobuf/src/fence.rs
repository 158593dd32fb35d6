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
//! check [`light_side_is_cheap`] first: thread caches are off where the light
//! side would be a full fence on every operation. Under Miri and loom, which
//! cannot run `membarrier`, both sides are `SeqCst` fences and the caches
//! stay on, so that the checkers see the protocol rather than skip it.
//! (The technique: Linux's `membarrier(2)`; folly's `asymmetricLightBarrier`
//! and `asymmetricHeavyBarrier`.)

use crate::sync::{Ordering, compiler_fence, fence};

/// Both sides are full fences: the checkers' stand-in for `membarrier`.
const CHECKER: bool = cfg!(any(miri, all(loom, test)));

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
    let strategy = if CHECKER {
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

/// The fast side, paired with [`heavy`]. A compiler fence where the heavy
/// side is `membarrier` (callers check [`light_side_is_cheap`] first); a
/// `SeqCst` fence under Miri and loom, where the heavy side is one too.
#[inline(always)]
pub(crate) fn light() {
    if CHECKER {
        fence(Ordering::SeqCst);
    } else {
        compiler_fence(Ordering::SeqCst);
    }
}

/// Whether [`light`] may stand on a hot path: the heavy fence is
/// `membarrier`, or a checker runs both sides as full fences.
pub(crate) fn light_side_is_cheap() -> bool {
    init();
    // ORDERING: Relaxed: see `init`.
    CHECKER || STRATEGY.load(std::sync::atomic::Ordering::Relaxed) == MEMBARRIER
}
