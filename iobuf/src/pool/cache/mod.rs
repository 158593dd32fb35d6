//! Per-thread magazines: a small LIFO stack of free indices per (thread,
//! pool), in front of the shared bitmap, after Bonwick's magazines (USENIX
//! 2001) and jemalloc's tcache.
//!
//! # Fast path
//!
//! The owner thread finds its magazine through a drop-free `thread_local!`
//! table keyed by pool id, then pops or pushes with plain atomic loads and
//! stores: no read-modify-write, no system call. The most recently returned,
//! cache-hot buffer goes out first. An empty magazine refills a batch from the
//! bitmap, and a full one spills a batch back.
//!
//! # Stealing (liveness)
//!
//! Buffers idle in one thread's magazine must never keep another thread's
//! `get` asleep. A thief (a getter that found the bitmap empty) takes idle
//! indices out of other threads' magazines, even from owners that never run
//! again. Owner and thief follow an asymmetric Dekker protocol:
//!
//! ```text
//! owner, each operation                thief
//! busy = 1                             lock the magazine
//! light fence (compiler only)          steal = 1
//! if steal: busy = 0, slow path        heavy fence (membarrier(2): a full
//! ... pop or push ...                    barrier on every running thread)
//! busy = 0 (release)                   wait until busy == 0 (acquire)
//!                                      take indices; steal = 0 (release)
//! ```
//!
//! The heavy fence runs a full barrier on the owner's CPU at some point of
//! the owner's instruction stream. If that point comes before the owner's
//! `busy = 1`, the owner's later load sees `steal = 1` and keeps off. If it
//! comes after, `busy = 1` is visible to the thief, which waits. Either way
//! the two never touch the items at once (I1 holds). Where `membarrier(2)` is
//! missing, caching is off: the light side would have to be a full fence on
//! every operation, which costs more than the bitmap. Under loom and Miri both
//! sides are `SeqCst` fences (the classic symmetric Dekker, equally correct),
//! so the loom model (`tests.rs`) and Miri check the protocol in that form.
//!
//! A put checks the pool's waiter count inside the same protected section.
//! A getter raises the count before it steals, so either the put sees the
//! waiter and sends its index to the bitmap, waking the sleeper, or the
//! getter's steal sees the index in the magazine. While getters wait
//! (`WAIT`), a refill takes one index for its caller and keeps none, so
//! that no index a return put in the bitmap for a waiter sits idle here.
//!
//! # An exact empty answer
//!
//! A steal visits magazines one at a time, so it can miss an index that
//! moves into a magazine it already visited: with two buffers, one idle in
//! `B` and one held by `A`'s owner, a thief finds `A` empty, `A`'s owner
//! caches its buffer in `A`, `B`'s owner takes the one in `B`, and the
//! thief finds `B` empty: at no instant were both held, yet it found none.
//! A `get` does not care (it goes on to wait, and waiting has its own
//! liveness argument), but `try_get` promises `WouldBlock` only when every
//! buffer was held at some instant of the call. So a `try_get` whose strike
//! found nothing makes a second pass that freezes every magazine of the
//! pool at once (`Registry::steal_exact`): under the registry's lock (no
//! magazine can join), each magazine locked with `STEAL` raised, one heavy
//! fence for all of them, each owner waited out of its fast path. Frozen,
//! no index can enter or leave a magazine; the pass moves them all to the
//! bitmap and takes from it with the bitmap's exact answer. When that says
//! empty, the bitmap was empty at some instant while every magazine was
//! empty too. The price, paid only by a `try_get` that finds nothing where
//! other threads cache: one `membarrier(2)` and a small allocation.
//!
//! # Hits
//!
//! `PoolStats::cache_hits` counts the gets a magazine served. A counter
//! of its own, even with a plain load and store, put a second
//! store-to-load chain on every pop (about 6 % of a get+put, measured), so
//! the count shares the length's word: the high 32 bits count hits modulo
//! 2³², and a pop adds `HIT - 1` (one more hit, one fewer item) with one
//! load and one store, as before. The pop that would carry out of the word
//! takes the slow path instead, which carries under the magazine's lock
//! into `hits_carried` (once every 2³² hits); `hits` reads both under the
//! same lock, so the total is exact at any moment.
//!
//! # No user code under these locks
//!
//! This layer moves indices between magazines and the bitmap and never wakes
//! anyone: each operation that moved indices to the bitmap returns a
//! [`Moved`], and the engine serves the waiters once every lock of this
//! layer (magazine, registry, the thread's table borrow) is released
//! (W4 in `wait.rs`). Thread exit and table eviction, which the engine does
//! not drive, do the same through the magazine's weak reference to its
//! [`Home`].
//!
//! # What this layer needs of its pool
//!
//! The cache never names the engine. What it needs of its pool (the
//! bitmap, the registry, whether anyone waits, who serves the waiters) it
//! asks through [`Home`], a trait this layer owns and the engine
//! implements. The engine's calls are generic over it (no dynamic dispatch
//! on any get or put); only a magazine's back reference, used on thread
//! exit and eviction, is a `Weak<dyn Home>`.
//!
//! # Lifetimes
//!
//! A magazine is shared (`Arc`) by its pool's registry and its thread's
//! exit guard, and holds its pool's [`Home`] weakly. Everything but the
//! owner's fast path goes through the magazine's lock. A flush after the
//! pool dropped finds no engine and forgets the indices; one that upgraded
//! the reference first keeps the home (not the pool's buffers) alive
//! until it is done. Thread exit flushes the thread's magazines and
//! disables its table, so that a buffer returned from a later thread-local
//! destructor goes straight to the bitmap.

use std::ptr::NonNull;
use std::sync::{Arc, Weak};

use crossbeam_utils::CachePadded;

use crate::bitmap::{self, Bitmap};
use crate::sync::{
    self, AtomicBool, AtomicU8, AtomicU32, AtomicU64, Locked, Mutex, Ordering, hint,
};

#[cfg(all(test, not(loom)))]
mod hits_tests;
mod local;
mod registry;
#[cfg(test)]
mod test_home;
#[cfg(all(loom, test))]
mod tests;

pub(crate) use local::{Gave, Source, give, pop, push, take};
pub(crate) use registry::Registry;

/// How many pools a thread keeps at hand in its fast table; a thread that
/// uses more evicts (and flushes) the least recently used.
const SLOTS: usize = 4;

use crate::fence::{heavy as heavy_fence, light as light_fence};

/// `Hot::flags`: a thief is at work; the owner keeps off.
const STEAL: u8 = 1;
/// `Hot::flags`: a getter is asleep on the pool; returns go to the bitmap.
const WAIT: u8 = 2;

/// `Hot::len_hits`: one more hit (the high half of the word).
const HIT: u64 = 1 << 32;
/// `Hot::len_hits`: the length (the low half of the word).
const LEN_MASK: u64 = u32::MAX as u64;
/// `Hot::len_hits`: from here on, one more hit carries out of the word.
const CARRIES: u64 = (u32::MAX as u64) << 32;

/// What a thread cache needs of its pool, owned by this layer so that it
/// never names the pool's engine (module docs), which implements it.
pub(crate) trait Home: Send + Sync + 'static {
    /// The pool's id: the key of its magazine in each thread's table.
    fn pool_id(&self) -> u32;
    /// Indices per magazine.
    fn cache_capacity(&self) -> u32;
    /// The pool's bitmap of free indices.
    fn free(&self) -> &Bitmap;
    /// The pool's list of magazines.
    fn caches(&self) -> &Registry;
    /// Takes a free index from the bitmap; `None` only if every index was
    /// held at some instant of the call.
    fn take_free(&self) -> Option<u32>;
    /// Whether a getter is queued.
    fn has_waiters(&self) -> bool;
    /// Hands indices that reached the bitmap to queued getters. Called
    /// with no lock of this layer held; wakes them through `delivery`.
    fn serve_waiters(&self, delivery: &mut crate::wait::Delivery);
    /// A weak reference to this home, for the magazines it registers.
    fn weak(&self) -> Weak<dyn Home>;
}

/// One thread's cache for one pool.
pub(crate) struct Magazine {
    /// What the owner touches on every operation, on one line. Thieves
    /// write `flags` there too, but only when they steal or a getter waits.
    hot: CachePadded<Hot>,
    /// Taken by thieves and flushes, never by the fast path.
    lock: Mutex<()>,
    /// The pool's home, while the pool (or a flush) keeps it alive.
    home: Weak<dyn Home>,
    pool_id: u32,
    /// Indices moved per refill or spill.
    batch: u32,
    /// Its thread exited (after flushing): the pool's registry drops it the
    /// next time it is locked, so registries track live threads only.
    retired: AtomicBool,
}

struct Hot {
    /// The owner is inside a fast-path operation.
    busy: AtomicBool,
    /// `STEAL | WAIT`, written under the lock by others, read by the owner on
    /// every operation: any bit set sends it to its slow path.
    flags: AtomicU8,
    /// `len` in the low 32 bits (the number of valid `items`) and, in the
    /// high 32 bits, the gets this cache served modulo 2³² (`HIT`): one
    /// word, so that a counted pop is still one load and one store. The
    /// fast path never carries out of the word (module docs, "Hits").
    len_hits: AtomicU64,
    /// The hits carried out of `len_hits`, a multiple of 2³²; written by
    /// the owner under `lock`, read by `hits` under `lock`.
    hits_carried: AtomicU64,
    /// The number of `items`.
    capacity: u32,
    /// The indices, `len` of them valid; written by the owner or under
    /// `lock`. A `capacity`-long slice leaked from a `Box` at creation and
    /// freed in `Drop`, owned through a raw pointer (a `Box` field would
    /// assert unique access while the owner and thieves use it through
    /// this pointer); here so that an operation touches one line of the
    /// magazine besides the item itself.
    items: NonNull<AtomicU32>,
}

// SAFETY: a Magazine is shared between its owner thread, thieves and its
// pool. Every field is an atomic, a Mutex, or plain data fixed at creation;
// `hot.items` points to the magazine's own slots (atomics, freed only with
// the magazine), so sharing or sending it shares or sends only those atomics.
unsafe impl Send for Magazine {}
// SAFETY: as for Send: all access through `&Magazine` is to atomics or
// through the Mutex.
unsafe impl Sync for Magazine {}

/// Indices a cache operation moved to the bitmap: the engine serves the
/// waiters for them once the cache's locks are released (module docs).
#[must_use = "indices moved to the bitmap may be owed to waiters: serve them"]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Moved(u32);

impl Moved {
    /// Whether any index was moved.
    pub(crate) fn any(self) -> bool {
        self.0 != 0
    }

    fn and(self, other: Moved) -> Moved {
        Moved(self.0 + other.0)
    }
}

/// What a fast-path operation decided.
pub(crate) enum Fast {
    Done,
    Got(u32),
    /// Take the slow path (empty, full, being stolen from, or a waiter).
    Slow,
}

impl Magazine {
    /// A magazine; `waiting` starts it with `WAIT` set (a getter sleeps).
    pub(crate) fn new(
        home: Weak<dyn Home>,
        pool_id: u32,
        capacity: u32,
        waiting: bool,
    ) -> Arc<Self> {
        let items: Box<[AtomicU32]> = (0..capacity).map(|_| AtomicU32::new(0)).collect();
        let items = NonNull::from(Box::leak(items)).cast::<AtomicU32>();
        Arc::new(Magazine {
            hot: CachePadded::new(Hot {
                busy: AtomicBool::new(false),
                flags: AtomicU8::new(if waiting { WAIT } else { 0 }),
                len_hits: AtomicU64::new(0),
                hits_carried: AtomicU64::new(0),
                capacity,
                items,
            }),
            lock: Mutex::new(()),
            home,
            pool_id,
            batch: capacity.div_ceil(2),
            retired: AtomicBool::new(false),
        })
    }

    /// Whether its pool's home is gone.
    fn is_detached(&self) -> bool {
        self.home.strong_count() == 0
    }

    /// Moves every index to the pool's bitmap, if the home is still alive,
    /// and serves the waiters once the magazine's lock is released (thread
    /// exit, eviction: paths the engine does not drive). Returns the
    /// delivery for the caller to finish.
    pub(crate) fn flush(&self) -> crate::wait::Delivery {
        let mut delivery = crate::wait::Delivery::default();
        let home = self.home.upgrade();
        let mut mag = self.lock();
        let moved = match &home {
            Some(home) => mag.drain(home.free()),
            // The pool is gone: its indices with it.
            None => {
                mag.set_len(0);
                Moved(0)
            }
        };
        drop(mag);
        if let Some(home) = home
            && moved.any()
        {
            home.serve_waiters(&mut delivery);
        }
        delivery
    }

    /// Whether its thread exited.
    pub(crate) fn is_retired(&self) -> bool {
        // ORDERING: Acquire: pairs with `retire`; a stale `false` only keeps
        // an empty magazine listed a little longer.
        self.retired.load(Ordering::Acquire)
    }

    #[inline(always)]
    fn capacity(&self) -> u32 {
        self.hot.capacity
    }

    /// Gets served by this cache so far, exactly. Takes the magazine's
    /// lock (not as a thief: the owner's fast path goes on), because a
    /// carry out of `len_hits` only happens under it.
    pub(crate) fn hits(&self) -> u64 {
        let _lock = sync::lock(&self.lock);
        // ORDERING: Relaxed, both: the mutex orders them against the one
        // writer of `hits_carried` (a carry, under the same lock), and
        // between carries the owner's stores change only the low 32 bits
        // of the hit count, so any value of `len_hits` read here belongs
        // with this `hits_carried`.
        let carried = self.hot.hits_carried.load(Ordering::Relaxed);
        carried + (self.hot.len_hits.load(Ordering::Relaxed) >> 32)
    }

    /// Indices held now (racy unless the caller holds the lock and the
    /// owner is quiet).
    pub(crate) fn len(&self) -> usize {
        // ORDERING: Relaxed: a count for statistics and a hint for thieves;
        // the protocol, not this load, makes taking items safe.
        self.hot.len_hits.load(Ordering::Relaxed) as u32 as usize
    }

    /// Owner fast path: pop the most recently pushed index.
    #[inline]
    pub(crate) fn pop(&self) -> Fast {
        self.enter();
        let result = if self.flags() & STEAL != 0 {
            Fast::Slow
        } else {
            // ORDERING: Relaxed: only the owner writes `len_hits` outside the
            // lock, and a thief's writes are acquired through `flags` (see
            // `flags`).
            let word = self.hot.len_hits.load(Ordering::Relaxed);
            let n = word as u32;
            // One fewer item, one more hit. The pop whose hit count's low
            // half would carry out of the word (`CARRIES`) goes the slow
            // way, which carries under the lock (`Exclusive::pop_hit`).
            if n == 0 || word >= CARRIES {
                Fast::Slow
            } else {
                debug_assert!(
                    n <= self.capacity(),
                    "len {n} > capacity {}",
                    self.capacity()
                );
                // ORDERING: Relaxed, as `len_hits`.
                let index = self.item(n - 1).load(Ordering::Relaxed);
                // ORDERING: Relaxed, as above. No carry (checked above).
                self.hot.len_hits.store(word + HIT - 1, Ordering::Relaxed);
                Fast::Got(index)
            }
        };
        self.leave();
        result
    }

    /// Owner fast path: push `index`, unless a getter is waiting (then it
    /// must go to the bitmap, where the waiter finds it).
    #[inline]
    pub(crate) fn push(&self, index: u32) -> Fast {
        self.enter();
        let mask = if cfg!(iobuf_mutant = "cache_ignores_waiters") {
            STEAL
        } else {
            STEAL | WAIT
        };
        let result = if self.flags() & mask != 0 {
            Fast::Slow
        } else {
            // ORDERING: Relaxed, as in `pop`.
            let word = self.hot.len_hits.load(Ordering::Relaxed);
            let n = word as u32;
            if n == self.capacity() {
                Fast::Slow
            } else {
                // ORDERING: Relaxed, as in `pop`.
                self.item(n).store(index, Ordering::Relaxed);
                // ORDERING: Relaxed, as in `pop`. `n < capacity`, so the
                // length does not carry into the hits.
                self.hot.len_hits.store(word + 1, Ordering::Relaxed);
                Fast::Done
            }
        };
        self.leave();
        result
    }

    #[inline(always)]
    fn enter(&self) {
        // ORDERING: Relaxed, then the light fence: the owner's half of the
        // asymmetric Dekker (module docs); the thief's heavy fence makes
        // this store visible before the thief reads it.
        self.hot.busy.store(true, Ordering::Relaxed);
        light_fence();
    }

    #[inline(always)]
    fn flags(&self) -> u8 {
        if cfg!(iobuf_mutant = "cache_ignores_steal") {
            // ORDERING: as below.
            return self.hot.flags.load(Ordering::Acquire) & !STEAL;
        }
        // ORDERING: Acquire: when it reads the value a thief stored after
        // taking items, the thief's changes to `items`/`len` are visible.
        self.hot.flags.load(Ordering::Acquire)
    }

    /// Slot `i` of the items, `i < capacity`.
    #[inline(always)]
    fn item(&self, i: u32) -> &AtomicU32 {
        debug_assert!(
            i < self.capacity(),
            "item {i} >= capacity {}",
            self.capacity()
        );
        // SAFETY: `hot.items` points to `capacity` slots, and every caller
        // passes `i < len <= capacity` (pop) or `i == len < capacity` (push),
        // asserted above, so the offset stays inside them.
        let slot = unsafe { self.hot.items.add(i as usize) };
        // SAFETY: `slot` is in bounds (above), aligned, and points to an
        // initialised atomic that lives as long as `self` (freed only in
        // `Drop`); only shared references to it are ever made.
        unsafe { slot.as_ref() }
    }

    #[inline(always)]
    fn leave(&self) {
        // ORDERING: Release: publishes this operation's writes to a thief
        // that sees `busy == false` with its Acquire load.
        self.hot.busy.store(false, Ordering::Release);
    }

    /// Locks the magazine against every other locker (thieves hold the same
    /// mutex while they work): no fence, no system call. The owner may still
    /// run its fast path, so only the owner thread may move items under this
    /// lock; others may only change `flags`.
    pub(crate) fn lock(&self) -> Exclusive<'_> {
        Exclusive {
            magazine: self,
            _lock: sync::lock(&self.lock),
            thief: false,
        }
    }

    /// Locks the magazine from another thread (a thief, or a dropping
    /// pool): raises `STEAL` and waits until the owner is out of its fast
    /// path, which then keeps off until the guard drops.
    pub(crate) fn lock_as_thief(&self) -> Exclusive<'_> {
        let mag = self.freeze();
        heavy_fence();
        mag.wait_for_owner();
        mag
    }

    /// The first half of [`lock_as_thief`](Self::lock_as_thief): locks the
    /// magazine and raises `STEAL`, but neither fences nor waits for the
    /// owner, so that a caller freezing many magazines pays one heavy fence
    /// for all of them. Its items may not be touched until the caller ran
    /// the heavy fence and then [`Exclusive::wait_for_owner`].
    fn freeze(&self) -> Exclusive<'_> {
        let lock = sync::lock(&self.lock);
        // ORDERING: Relaxed, then the caller's heavy fence (module docs).
        // Only lock holders write `flags`, so a load and a store do not race.
        let flags = self.hot.flags.load(Ordering::Relaxed);
        self.hot.flags.store(flags | STEAL, Ordering::Relaxed);
        Exclusive {
            magazine: self,
            _lock: lock,
            thief: true,
        }
    }
}

impl Drop for Magazine {
    fn drop(&mut self) {
        let items =
            std::ptr::slice_from_raw_parts_mut(self.hot.items.as_ptr(), self.capacity() as usize);
        // SAFETY: `items` is the `capacity`-long slice leaked in `new` and
        // freed only here; `&mut self` means no reference into it is left.
        drop(unsafe { Box::from_raw(items) });
    }
}

/// A locked magazine: the owner is out of its fast path until it drops.
pub(crate) struct Exclusive<'a> {
    magazine: &'a Magazine,
    _lock: Locked<'a, ()>,
    /// Locked by a thief, which raised `STEAL` and lowers it on drop.
    thief: bool,
}

impl Exclusive<'_> {
    /// After `STEAL` was raised (`Magazine::freeze`) and a heavy fence ran:
    /// waits until the owner is out of its fast path, which then keeps off
    /// until this guard drops.
    fn wait_for_owner(&self) {
        let mut spins = 0u32;
        // ORDERING: Acquire: pairs with the owner's Release in `leave`.
        while self.magazine.hot.busy.load(Ordering::Acquire) {
            // The owner is mid-operation, a few instructions long; it may
            // be preempted, so yield after a while.
            spins += 1;
            if spins < 64 || cfg!(all(loom, test)) {
                hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Sets or clears `WAIT`: while set, the owner's returns go to the
    /// bitmap (where sleeping getters look) instead of the cache.
    pub(crate) fn set_waiting(&mut self, waiting: bool) {
        // ORDERING: Relaxed load (only lock holders write `flags`), Release
        // store: with `STEAL` cleared by this guard's drop, the owner sees it.
        let flags = self.magazine.hot.flags.load(Ordering::Relaxed);
        let flags = if waiting { flags | WAIT } else { flags & !WAIT };
        self.magazine.hot.flags.store(flags, Ordering::Release);
    }

    pub(crate) fn len(&self) -> u32 {
        // ORDERING: Relaxed: the lock and the steal protocol order it.
        self.magazine.hot.len_hits.load(Ordering::Relaxed) as u32
    }

    /// Sets the length and keeps the hit count. Whoever holds this guard is
    /// the owner, or a thief that waited the owner out of its fast path, so
    /// no other store to `len_hits` races the load and the store.
    fn set_len(&self, n: u32) {
        let hot = &self.magazine.hot;
        // ORDERING: Relaxed: published to the owner by the Release store of
        // `flags` in `drop`, and to other lockers by the mutex.
        let word = hot.len_hits.load(Ordering::Relaxed);
        hot.len_hits
            .store(word & !LEN_MASK | u64::from(n), Ordering::Relaxed);
    }

    /// The owner's pop of a cached index, counted as a hit: the fast pop's
    /// twin under the lock, for the pop whose hit count carries out of
    /// `len_hits` (module docs, "Hits"). Only the owner may call it.
    pub(crate) fn pop_hit(&mut self) -> Option<u32> {
        let hot = &self.magazine.hot;
        // ORDERING: Relaxed, as in `set_len`.
        let word = hot.len_hits.load(Ordering::Relaxed);
        let n = word as u32;
        if n == 0 {
            return None;
        }
        let (next, carried) = word.overflowing_add(HIT - 1);
        if carried {
            // ORDERING: Relaxed: read by `hits` under the lock we hold.
            let before = hot.hits_carried.load(Ordering::Relaxed);
            hot.hits_carried
                .store(before + (1 << 32), Ordering::Relaxed);
        }
        // ORDERING: Relaxed, as `len_hits`.
        let index = self.magazine.item(n - 1).load(Ordering::Relaxed);
        // ORDERING: Relaxed, as in `set_len`.
        hot.len_hits.store(next, Ordering::Relaxed);
        Some(index)
    }

    /// Moves every index to `free`, its pool's bitmap.
    pub(crate) fn drain(&mut self, free: &Bitmap) -> Moved {
        self.move_to_free(free, self.len())
    }

    /// Moves the `n` most recently pushed indices (at most all) to `free`,
    /// its pool's bitmap: the one way indices leave a magazine (drain,
    /// spill, steal). They go in sorted chunks, one RMW per word a chunk
    /// touches. The caller serves the waiters (`Moved`) once it holds no
    /// lock.
    pub(crate) fn move_to_free(&mut self, free: &Bitmap, n: u32) -> Moved {
        let len = self.len();
        let keep = len.saturating_sub(n);
        // The length first, then the indices: whoever takes an index from
        // the bitmap (synchronising with our put) then also sees the
        // shorter magazine, so a quiescent `available()` counts it once.
        // The slots stay as they are while we hold the lock.
        self.set_len(keep);
        let mut chunk = [0u32; 64];
        let mut at = keep;
        while at < len {
            let k = (len - at).min(chunk.len() as u32) as usize;
            for (slot, i) in chunk[..k].iter_mut().zip(at..) {
                // ORDERING: Relaxed, as `len`.
                *slot = self.magazine.item(i).load(Ordering::Relaxed);
            }
            chunk[..k].sort_unstable();
            free.put_batch(&chunk[..k]);
            at += k as u32;
        }
        Moved(len - keep)
    }

    /// Moves up to `n` indices from `free`, its pool's bitmap, into the
    /// magazine (as many as fit, up to one word's worth per RMW): the one
    /// way indices enter a magazine (refill). While getters wait (`WAIT`)
    /// it moves one at most, which the caller pops at once: free indices
    /// are owed to the waiters, and must not sit idle here.
    pub(crate) fn fill_from_free(&mut self, free: &Bitmap, n: u32) {
        // ORDERING: Relaxed: `WAIT` is written under the lock we hold.
        let waiting = self.magazine.hot.flags.load(Ordering::Relaxed) & WAIT != 0;
        let want = if waiting { n.min(1) } else { n };
        let mut want = want.min(self.magazine.capacity() - self.len());
        while want > 0 {
            let got = free.take_batch(bitmap::hint(), want, |i| {
                let kept = self.push_one(i);
                debug_assert!(kept, "room was checked");
            });
            if got == 0 {
                break;
            }
            want -= got;
        }
    }

    /// Takes the most recently pushed index, if any.
    pub(crate) fn pop_one(&mut self) -> Option<u32> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        self.set_len(n - 1);
        // ORDERING: Relaxed, as `len`.
        Some(self.magazine.item(n - 1).load(Ordering::Relaxed))
    }

    /// Adds an index; `false` (and nothing changed) when full. (`&self`:
    /// the lock this guard holds is what makes it exclusive.)
    pub(crate) fn push_one(&self, index: u32) -> bool {
        let n = self.len();
        if n == self.magazine.capacity() {
            return false;
        }
        // ORDERING: Relaxed, as `len`.
        self.magazine.item(n).store(index, Ordering::Relaxed);
        self.set_len(n + 1);
        true
    }

    /// The batch size of refills and spills.
    pub(crate) fn batch(&self) -> u32 {
        self.magazine.batch
    }
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        if self.thief {
            // ORDERING: Release: the owner's next fast path acquires it and
            // sees every change made under the lock. Only lock holders write
            // `flags` (Relaxed load, as in `lock_as_thief`).
            let flags = self.magazine.hot.flags.load(Ordering::Relaxed);
            self.magazine
                .hot
                .flags
                .store(flags & !STEAL, Ordering::Release);
        }
    }
}
