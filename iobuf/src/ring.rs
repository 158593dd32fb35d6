//! A bounded lock-free MPMC ring of `u32` indices after Nikolaev's SCQ:
//! "A Scalable, Portable, and Memory-Efficient Lock-Free FIFO Queue"
//! (DISC 2019, doi:10.4230/LIPIcs.DISC.2019.28, arXiv:1908.04511); the
//! entry encoding follows the author's reference `lfring_cas1.h`
//! (rusnikola/lfqueue).
//!
//! The ring holds the indices of the free buffers of a pool. It never holds
//! the buffers themselves, so it moves 8-byte words whatever the tier.
//!
//! # How it works
//!
//! For `n` indices (a power of two) the ring has `2n` slots. `head` and
//! `tail` are 64-bit counters that only grow, taken with fetch-and-add: the
//! position `p` of an operation is slot `p mod 2n` in *cycle* `p / 2n`. A
//! slot holds one 64-bit [`Entry`]:
//!
//! ```text
//!  63 ..................... k+2 | k+1  | k ................ 0      (2n = 2^(k+1))
//!  cycle in which it was written | safe | index, or ⊥ (all ones)
//! ```
//!
//! An enqueuer at position `p` writes its index into the slot only if the
//! slot's cycle is older than `p`'s and the slot is empty (⊥) and safe. A
//! dequeuer at position `p` takes the index if the slot's cycle is exactly
//! `p`'s. Otherwise it marks the slot so that a late enqueuer cannot fill
//! it: an empty slot has its cycle moved up to the dequeuer's, and an occupied
//! one from an older cycle loses its *safe* bit. A dequeuer that finds no
//! index decrements `threshold`. Every enqueue resets it to `3n - 1`, and
//! once it is negative dequeuers return "empty" at once. This bounds the
//! wasted work and prevents livelock (the paper's Lemma 5). When a dequeuer
//! overtakes `tail`, it moves `tail` up to `head` (*catch-up*), so enqueuers
//! don't walk slot by slot through positions already given up.
//!
//! # Why the cycle tag
//!
//! The Go original stores bare indices. With bare indices a slow dequeuer's
//! compare-and-swap succeeds after the ring has gone round a lap, and the
//! same buffer is handed out twice (ABA):
//!
//! ```text
//! Thread 1 (get)               Thread 2                        slot 5
//! reads slot 5: index 3                                        3
//! (preempted)                  get -> 3  (slot 5 := empty)     ∅
//!                              ... ring goes round a lap ...
//!                              put 3 lands in slot 5 again     3
//! CAS(slot 5: 3 -> empty) ok!                                  ∅
//! returns 3                    still holds 3: two holders
//! ```
//!
//! Here a slot's value includes the cycle in which it was written, so
//! Thread 1's stale CAS compares the old cycle and fails.
//!
//! # Invariants
//!
//! - **I1** every index in `0..n` is in exactly one place: the ring, one
//!   thread's cache (`pool/cache`), or one holder. The pool enqueues only
//!   indices that left the ring (held by a guard or a token, or idle in a
//!   cache), each once.
//! - **I2** a slot's cycle only grows; cycles and counters compare by wrapping
//!   signed difference ([`Cycle::precedes`]).
//! - **I3** every index in a slot, a cache or a holder's hands is `< n`.
//! - **I4** at most `n` indices are ever in the ring (I1), so an enqueue always
//!   finds a slot within `2n` positions and never fails.
//!
//! # Orderings
//!
//! Every ring atomic uses `SeqCst`, as in the paper's proof. An index's
//! hand-over from a putter to a getter is the enqueue CAS (a release) read
//! by the dequeue load that sees the same cycle (an acquire), so a holder's
//! writes to the buffer happen before the next holder's reads. Under loom,
//! [`loom_seq_cst_fence`] adds the fences loom needs to model `SeqCst`.
//!
//! # Progress
//!
//! Enqueue and dequeue are lock-free: a stalled thread never blocks the
//! others, and some thread completes in a bounded number of steps.

use crossbeam_utils::CachePadded;

use crate::CACHE_LINE_SIZE;
use crate::sync::{AtomicI64, AtomicU64, Ordering::SeqCst, hint, loom_seq_cst_fence};

#[cfg(all(loom, test))]
mod tests;

/// Records a model event (loom only); printed when a model fails.
macro_rules! trace {
    ($($arg:tt)*) => {
        #[cfg(all(loom, test))]
        tests::trace(format!($($arg)*));
    };
}

/// Slots per cache line: consecutive positions are spread over this many
/// lines, so neighbours in time don't contend on one line.
const SLOTS_PER_LINE: usize = CACHE_LINE_SIZE / size_of::<u64>();
const SLOTS_PER_LINE_SHIFT: u32 = SLOTS_PER_LINE.trailing_zeros();

/// How often a dequeuer rereads an empty slot that an enqueuer has already
/// claimed (tail is past it) before giving up on it. Re-reading is only an
/// optimisation; under loom one reread explores the path.
const CLAIMED_SLOT_SPINS: u32 = if cfg!(all(loom, test)) { 1 } else { 1024 };

/// The largest ring: `2^31` indices (4 GiB of slots; indices fit a `u32`).
pub(crate) const MAX_CAPACITY: usize = 1 << 31;

/// The masks of a ring of `2n = 2^(k+1)` slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geometry {
    /// `k + 1`: log2 of the slot count.
    slot_bits: u32,
}

impl Geometry {
    fn new(capacity: usize) -> Self {
        debug_assert!(
            capacity.is_power_of_two() && capacity <= MAX_CAPACITY,
            "capacity {capacity}"
        );
        Geometry {
            slot_bits: capacity.trailing_zeros() + 1,
        }
    }

    /// `n`, the number of indices.
    fn capacity(self) -> u64 {
        1 << (self.slot_bits - 1)
    }

    /// `2n`, the number of slots.
    fn slots(self) -> u64 {
        1 << self.slot_bits
    }

    /// The index field of an entry; all ones is ⊥ (`2n - 1 >= n`, never an index).
    fn index_mask(self) -> u64 {
        self.slots() - 1
    }

    /// The safe bit, just above the index field.
    fn safe_bit(self) -> u64 {
        self.slots()
    }

    /// Index and safe bit: everything below the cycle.
    fn low_mask(self) -> u64 {
        (self.slots() << 1) - 1
    }

    /// The slot a position lands in.
    ///
    /// SCQ rotates the position's bits so that consecutive positions fall on
    /// different cache lines. A pool's ring is about half full, so `tail` runs
    /// `n` positions ahead of `head`; plain rotation would move the top bit
    /// (`n`) into the offset within a line, so that the getter's and the
    /// putter's slots share a line. We keep that bit in the line index (the
    /// two halves of the ring on separate lines) and rotate within each half.
    fn slot_of(self, position: u64) -> usize {
        let p = position & (self.slots() - 1);
        let half_bits = self.slot_bits - 1;
        if half_bits <= SLOTS_PER_LINE_SHIFT {
            return p as usize;
        }
        let n = self.capacity();
        let q = p & (n - 1);
        let rotated =
            ((q << SLOTS_PER_LINE_SHIFT) | (q >> (half_bits - SLOTS_PER_LINE_SHIFT))) & (n - 1);
        ((p & n) | rotated) as usize
    }

    /// The cycle of a position, as it appears in entries.
    fn cycle_of(self, position: u64) -> Cycle {
        Cycle((position << 1) | self.low_mask())
    }
}

/// A cycle in the form entries carry it: the cycle bits with every bit
/// below them set, so that `entry | low_mask` is the entry's cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cycle(u64);

impl Cycle {
    /// Whether `self` comes strictly before `other` (I2: wrapping signed
    /// difference, so counters may wrap).
    fn precedes(self, other: Cycle) -> bool {
        precedes(self.0, other.0)
    }
}

/// `a < b` for values that only grow and may wrap: wrapping signed difference.
fn precedes(a: u64, b: u64) -> bool {
    (a.wrapping_sub(b) as i64) < 0
}

/// One slot's content: cycle, safe bit and index (or ⊥).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry(u64);

impl Entry {
    /// The entry that holds `index` (or ⊥ for `None`) in `cycle`.
    fn pack(g: Geometry, cycle: Cycle, safe: bool, index: Option<u32>) -> Entry {
        let index = match index {
            Some(i) => {
                debug_assert!(u64::from(i) < g.capacity(), "index {i} >= {}", g.capacity());
                u64::from(i)
            }
            None => g.index_mask(),
        };
        let safe = if safe { g.safe_bit() } else { 0 };
        Entry((cycle.0 & !g.low_mask()) | safe | index)
    }

    fn cycle(self, g: Geometry) -> Cycle {
        Cycle(self.0 | g.low_mask())
    }

    fn is_safe(self, g: Geometry) -> bool {
        self.0 & g.safe_bit() != 0
    }

    /// The index it holds, or `None` for ⊥.
    fn index(self, g: Geometry) -> Option<u32> {
        let i = self.0 & g.index_mask();
        (i != g.index_mask()).then_some(i as u32)
    }

    /// The entry after its index was taken: ⊥, same cycle and safe bit
    /// (what `dequeue`'s `fetch_or` leaves).
    #[cfg(test)]
    fn taken(self, g: Geometry) -> Entry {
        Entry(self.0 | g.index_mask())
    }

    /// The entry with its safe bit cleared.
    fn unsafe_(self, g: Geometry) -> Entry {
        Entry(self.0 & !g.safe_bit())
    }

    /// The value of a slot never written: cycle "minus one" (before every
    /// real cycle), safe, ⊥.
    const UNUSED: Entry = Entry(u64::MAX);
}

/// An upper bound on the threads that can be inside `dequeue` at once: on
/// Linux `PID_MAX_LIMIT` (2^22) caps the threads of the whole system, since
/// each needs an id. Under loom, 16: small enough that the models reach the
/// threshold's edge, and above what `2n + T - 1` needs for their interleavings.
/// (With `T = 4`, the wait-queue model in `pool/engine/tests.rs` found a
/// false empty at `n = 1` with three threads, whose many failed dequeues
/// (strike, retry after registering, serving the queue) made six misses
/// follow the last enqueue: the bound's `T` term is not a proven bound for
/// that pattern. Production's `T = 2^22` leaves a margin of millions.)
const MAX_THREADS: i64 = if cfg!(all(loom, test)) { 16 } else { 1 << 22 };

/// The failed dequeue attempts that may follow the last enqueue while an
/// index can still be found: `2n + T - 1` for `T` threads.
///
/// The paper's `3n - 1` is this bound for `T <= n`. A pool breaks that
/// assumption whenever more threads than buffers use it (capacity 1 or 2 and
/// eight threads is ordinary), and a dequeuer's decrement that was in flight
/// when an enqueue reset the threshold then counts against the new index:
/// the `capacity_1_*` loom models find a false "empty" (the index sits in the
/// ring, `threshold` is -1) with `3n - 1`. A false empty would put a blocking
/// `get` to sleep with a buffer free, so we pay for the bound that holds for
/// every thread count: the fast "empty" answer comes only after millions of
/// failed attempts in a row, and until then an empty ring costs a dequeue one
/// pass over its position.
fn threshold_reset(g: Geometry) -> i64 {
    if cfg!(iobuf_mutant = "paper_threshold") {
        return 3 * g.capacity() as i64 - 1;
    }
    2 * g.capacity() as i64 + MAX_THREADS - 1
}

/// The ring: `n` indices, `2n` slots.
pub(crate) struct Ring {
    /// Next position to dequeue from.
    head: CachePadded<AtomicU64>,
    /// Failed dequeues allowed before the ring reports empty at once.
    threshold: CachePadded<AtomicI64>,
    /// Next position to enqueue at.
    tail: CachePadded<AtomicU64>,
    // Read-mostly from here on.
    geometry: Geometry,
    /// Slots, grouped in cache lines so the remapping spreads positions.
    lines: Box<[CachePadded<[AtomicU64; SLOTS_PER_LINE]>]>,
}

impl Ring {
    /// A ring holding every index `0..capacity`, in order; `capacity` is a
    /// power of two in `1..=MAX_CAPACITY`.
    pub(crate) fn new_full(capacity: usize) -> Self {
        let g = Geometry::new(capacity);
        let slots = g.slots() as usize;
        let line_count = slots.div_ceil(SLOTS_PER_LINE);
        let lines = (0..line_count)
            .map(|_| CachePadded::new(std::array::from_fn(|_| AtomicU64::new(Entry::UNUSED.0))))
            .collect();
        let ring = Ring {
            head: CachePadded::new(AtomicU64::new(0)),
            threshold: CachePadded::new(AtomicI64::new(threshold_reset(g))),
            tail: CachePadded::new(AtomicU64::new(g.capacity())),
            geometry: g,
            lines,
        };
        // Positions 0..n, cycle 0, hold indices 0..n (as `n` enqueues would).
        for i in 0..g.capacity() {
            let entry = Entry::pack(g, g.cycle_of(i), true, Some(i as u32));
            // ORDERING: not yet shared; the ring is published by whatever
            // shares the pool (a move, an Arc), which synchronises.
            ring.slot(i).store(entry.0, SeqCst);
        }
        ring
    }

    /// The number of indices.
    pub(crate) fn capacity(&self) -> usize {
        self.geometry.capacity() as usize
    }

    fn slot(&self, position: u64) -> &AtomicU64 {
        let s = self.geometry.slot_of(position);
        debug_assert!((s as u64) < self.geometry.slots(), "slot {s}");
        &self.lines[s >> SLOTS_PER_LINE_SHIFT][s & (SLOTS_PER_LINE - 1)]
    }

    /// Returns `index` to the ring. Lock-free; never fails (I4).
    pub(crate) fn enqueue(&self, index: u32) {
        let g = self.geometry;
        debug_assert!(
            u64::from(index) < g.capacity(),
            "index {index} >= {}",
            g.capacity()
        );
        loop {
            loom_seq_cst_fence();
            // ORDERING: SeqCst, as every ring access: the paper's proof
            // assumes one total order over head, tail, threshold and slots.
            let tail = self.tail.fetch_add(1, SeqCst);
            trace!("enq {index}: tail {tail}");
            let tcycle = g.cycle_of(tail);
            let slot = self.slot(tail);
            // ORDERING: SeqCst (acquire part: sees what the slot's last
            // writer published).
            let mut entry = Entry(slot.load(SeqCst));
            loop {
                let ecycle = entry.cycle(g);
                let empty = entry.index(g).is_none();
                // An empty slot from an older cycle is ours if it is safe, or
                // if no dequeuer has passed this position yet (head <= tail)
                // so the one that will come sees our entry.
                let usable = ecycle.precedes(tcycle)
                    && empty
                    && (entry.is_safe(g) || cfg!(iobuf_mutant = "ignore_safe_bit") || {
                        loom_seq_cst_fence();
                        // ORDERING: SeqCst: ordered against the dequeuers'
                        // fetch_add on head.
                        !precedes(tail, self.head.load(SeqCst))
                    });
                if !usable {
                    break;
                }
                let new = Entry::pack(g, tcycle, true, Some(index));
                loom_seq_cst_fence();
                // ORDERING: SeqCst on success (release part: publishes the
                // holder's writes to the buffer to the dequeuer that loads
                // this entry). On failure the fresh value is re-examined.
                match slot.compare_exchange_weak(entry.0, new.0, SeqCst, SeqCst) {
                    Ok(_) => {
                        trace!("enq {index}: stored at {tail}");
                        loom_seq_cst_fence();
                        let reset = threshold_reset(g);
                        // ORDERING: SeqCst: a dequeuer that then reads the
                        // reset threshold must find this entry.
                        if self.threshold.load(SeqCst) != reset {
                            self.threshold.store(reset, SeqCst);
                        }
                        loom_seq_cst_fence();
                        return;
                    }
                    Err(actual) => entry = Entry(actual),
                }
            }
        }
    }

    /// Takes an index out of the ring, or `None` if it is empty.
    /// Lock-free.
    pub(crate) fn dequeue(&self) -> Option<u32> {
        let g = self.geometry;
        loom_seq_cst_fence();
        // ORDERING: SeqCst, as every ring access (see `enqueue`).
        if self.threshold.load(SeqCst) < 0 {
            return None;
        }
        loop {
            loom_seq_cst_fence();
            // ORDERING: SeqCst.
            let head = self.head.fetch_add(1, SeqCst);
            trace!("deq: head {head}");
            let hcycle = g.cycle_of(head);
            let slot = self.slot(head);
            let mut spins = 0;
            // ORDERING: SeqCst (acquire part: pairs with the enqueue CAS, so
            // the putter's writes to the buffer are visible to us).
            let mut entry = Entry(slot.load(SeqCst));
            loop {
                let ecycle = entry.cycle(g);
                let ours = if cfg!(iobuf_mutant = "no_cycle_tag") {
                    // Mutant: a bare index is taken whatever its cycle.
                    entry.index(g).is_some()
                } else {
                    ecycle == hcycle
                };
                if ours {
                    // Ours: take the index, leaving ⊥ with cycle and safe bit.
                    loom_seq_cst_fence();
                    // ORDERING: SeqCst; only this dequeuer owns this cycle of
                    // the slot, so the value's index field is still ours.
                    slot.fetch_or(g.index_mask(), SeqCst);
                    loom_seq_cst_fence();
                    let index = entry.index(g);
                    trace!("deq: took {index:?} at {head}");
                    debug_assert!(index.is_some(), "entry {entry:?} of our cycle is ⊥");
                    return index;
                }
                if !ecycle.precedes(hcycle) {
                    break; // a later cycle already owns the slot
                }
                let new = if entry.index(g).is_some() {
                    // An index of an older cycle, not yet taken by its slow
                    // dequeuer: leave it, but mark it so that no enqueuer of
                    // our cycle fills the slot after that dequeuer takes it.
                    if !entry.is_safe(g) || cfg!(iobuf_mutant = "no_unsafe_mark") {
                        break;
                    }
                    entry.unsafe_(g)
                } else {
                    // Empty. If an enqueuer has claimed this position it
                    // is about to write; give it a moment.
                    if spins < CLAIMED_SLOT_SPINS && {
                        loom_seq_cst_fence();
                        // ORDERING: SeqCst; a stale answer only costs a spin.
                        precedes(head, self.tail.load(SeqCst))
                    } {
                        spins += 1;
                        hint::spin_loop();
                        loom_seq_cst_fence();
                        // ORDERING: SeqCst, as the first load.
                        entry = Entry(slot.load(SeqCst));
                        continue;
                    }
                    // Move the slot to our cycle so a late enqueuer of an
                    // older one cannot fill it; keep its safe bit.
                    Entry::pack(g, hcycle, entry.is_safe(g), None)
                };
                loom_seq_cst_fence();
                // ORDERING: SeqCst; on failure the fresh value is re-examined.
                match slot.compare_exchange_weak(entry.0, new.0, SeqCst, SeqCst) {
                    Ok(_) => break,
                    Err(actual) => entry = Entry(actual),
                }
            }
            loom_seq_cst_fence();
            // Nothing at our position. If we overtook the enqueuers, the
            // ring is empty: pull tail up to us so they skip the dead
            // positions.
            // ORDERING: SeqCst.
            let tail = self.tail.load(SeqCst);
            if !precedes(head.wrapping_add(1), tail) {
                self.catch_up(tail, head.wrapping_add(1));
                // ORDERING: SeqCst.
                let _t = self.threshold.fetch_sub(1, SeqCst);
                trace!("deq: empty at {head}, tail {tail}, threshold was {_t}");
                loom_seq_cst_fence();
                return None;
            }
            // ORDERING: SeqCst.
            let _t = self.threshold.fetch_sub(1, SeqCst);
            trace!("deq: miss at {head}, tail {tail}, threshold was {_t}");
            if _t <= 0 {
                loom_seq_cst_fence();
                return None;
            }
        }
    }

    /// Moves `tail` forward to `head` unless it is already there.
    fn catch_up(&self, mut tail: u64, mut head: u64) {
        loop {
            loom_seq_cst_fence();
            // ORDERING: SeqCst; failure rereads both counters.
            match self.tail.compare_exchange_weak(tail, head, SeqCst, SeqCst) {
                Ok(_) => return,
                Err(_) => {
                    // ORDERING: SeqCst.
                    head = self.head.load(SeqCst);
                    // ORDERING: SeqCst.
                    tail = self.tail.load(SeqCst);
                    if !precedes(tail, head) {
                        return;
                    }
                }
            }
        }
    }

    /// Whether the ring looked empty at some moment during the call, judged
    /// from `head` and `tail` with loads only: a cheap pre-check for polling
    /// loops, which may then skip a dequeue (whose fetch-and-add writes
    /// shared lines). A `true` is as good as a failed dequeue for an
    /// enqueue whose successful (last) tail increment came before our load
    /// of `tail` (in the SeqCst order): `head` had passed its position, so
    /// the dequeuer that claimed that position takes the index. (An
    /// increment whose slot a dequeuer spoiled is followed by another; one
    /// after our load is for the caller's protocol to cover, as the wait
    /// queue's returner does by checking for waiters after it.) A `false`
    /// proves nothing: dequeue to find out.
    pub(crate) fn looks_empty(&self) -> bool {
        loom_seq_cst_fence();
        // ORDERING: SeqCst, as every ring access.
        let head = self.head.load(SeqCst);
        // ORDERING: SeqCst.
        let tail = self.tail.load(SeqCst);
        !precedes(head, tail)
    }

    /// The number of indices in the ring, counted slot by slot: O(n), exact
    /// when no operation is in flight, an estimate otherwise.
    #[cfg(all(loom, test))]
    pub(crate) fn threshold_for_test(&self) -> i64 {
        self.threshold.load(crate::sync::Ordering::SeqCst)
    }

    pub(crate) fn len(&self) -> usize {
        let g = self.geometry;
        let mut count = 0;
        for line in self.lines.iter() {
            for slot in line.iter() {
                // ORDERING: SeqCst: a racy count is documented as such; no
                // edge is needed, but keep the ring's one order.
                if Entry(slot.load(SeqCst)).index(g).is_some() {
                    count += 1;
                }
            }
        }
        count
    }
}

#[cfg(all(loom, test))]
impl Ring {
    /// The whole state, for a failing model's message.
    fn dump(&self) -> String {
        let g = self.geometry;
        let slots: Vec<String> = (0..g.slots() as usize)
            .map(|s| {
                let e = Entry(self.lines[s / SLOTS_PER_LINE][s % SLOTS_PER_LINE].load(SeqCst));
                format!(
                    "[cycle {:#x} safe {} index {:?}]",
                    e.0 >> (g.slot_bits + 1),
                    e.is_safe(g),
                    e.index(g)
                )
            })
            .collect();
        format!(
            "head {} tail {} threshold {} slots {}",
            self.head.load(SeqCst),
            self.tail.load(SeqCst),
            self.threshold.load(SeqCst),
            slots.join(" ")
        )
    }
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod unit {
    use super::*;

    #[test]
    fn entry_pack_round_trip() {
        for cap in [1usize, 2, 4, 64, 1 << 20, MAX_CAPACITY] {
            let g = Geometry::new(cap);
            for pos in [
                0u64,
                1,
                g.slots() - 1,
                g.slots(),
                12345 * g.slots() + 7,
                u64::MAX / 4,
            ] {
                let c = g.cycle_of(pos);
                for safe in [false, true] {
                    for index in [None, Some(0), Some(cap as u32 - 1)] {
                        let e = Entry::pack(g, c, safe, index);
                        assert_eq!(e.cycle(g), c);
                        assert_eq!(e.is_safe(g), safe);
                        assert_eq!(e.index(g), index);
                        assert_eq!(e.taken(g).index(g), None);
                        assert_eq!(e.taken(g).cycle(g), c);
                        assert!(!e.unsafe_(g).is_safe(g));
                    }
                }
            }
            assert_eq!(Entry::UNUSED.index(g), None);
            assert!(Entry::UNUSED.is_safe(g));
            assert!(Entry::UNUSED.cycle(g).precedes(g.cycle_of(0)));
        }
    }

    #[test]
    fn cycles_of_one_slot_grow_by_lap() {
        let g = Geometry::new(4);
        assert!(g.cycle_of(3).precedes(g.cycle_of(3 + g.slots())));
        assert_eq!(
            g.cycle_of(3),
            g.cycle_of(2),
            "positions of one lap share a cycle"
        );
        assert!(precedes(u64::MAX, 0), "wrapping comparison");
    }

    #[test]
    fn remapping_is_a_permutation_that_spreads_neighbours() {
        for cap in [1usize, 4, 8, 64, 1024] {
            let g = Geometry::new(cap);
            let mut seen = vec![false; g.slots() as usize];
            for p in 0..g.slots() {
                let s = g.slot_of(p);
                assert!(!seen[s], "slot {s} twice");
                seen[s] = true;
                assert_eq!(g.slot_of(p + g.slots()), s, "same slot next lap");
            }
            let line = |p| g.slot_of(p) / SLOTS_PER_LINE;
            if g.capacity() as usize > SLOTS_PER_LINE {
                for p in 0..g.slots() {
                    assert_ne!(line(p), line(p + 1), "neighbours {p} share a line");
                }
            }
            if g.capacity() as usize >= SLOTS_PER_LINE {
                for p in 0..g.slots() {
                    let other = p + g.capacity();
                    assert_ne!(
                        line(p),
                        line(other),
                        "head {p} and tail {other} share a line"
                    );
                }
            }
        }
    }

    #[test]
    fn fifo_single_thread_with_many_laps() {
        for cap in [1usize, 2, 4, 8, 64] {
            let ring = Ring::new_full(cap);
            assert_eq!(ring.len(), cap);
            let order: Vec<u32> = (0..cap).map(|_| ring.dequeue().unwrap()).collect();
            assert_eq!(order, (0..cap as u32).collect::<Vec<_>>());
            assert_eq!(ring.dequeue(), None);
            assert_eq!(ring.len(), 0);
            for round in 0..if cfg!(miri) { 20 } else { 1000u32 } {
                for i in 0..cap as u32 {
                    ring.enqueue((i + round) % cap as u32);
                }
                for i in 0..cap as u32 {
                    assert_eq!(ring.dequeue(), Some((i + round) % cap as u32));
                }
                assert_eq!(ring.dequeue(), None);
                assert_eq!(ring.dequeue(), None);
            }
            for i in 0..cap as u32 {
                ring.enqueue(i);
            }
            assert_eq!(ring.len(), cap);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "2^22 dequeues: too slow to interpret; runs natively")]
    fn threshold_goes_negative_when_empty_and_resets() {
        let ring = Ring::new_full(2);
        ring.dequeue().unwrap();
        ring.dequeue().unwrap();
        // Each failed dequeue spends one unit; the fast "empty" starts after
        // all of them are spent.
        for _ in 0..=threshold_reset(ring.geometry) {
            assert!(ring.threshold.load(SeqCst) >= 0);
            assert_eq!(ring.dequeue(), None);
        }
        assert!(ring.threshold.load(SeqCst) < 0);
        assert_eq!(ring.dequeue(), None);
        ring.enqueue(1);
        assert_eq!(ring.threshold.load(SeqCst), threshold_reset(ring.geometry));
        assert_eq!(ring.dequeue(), Some(1));
    }
}
