//! A lock-free bitmap of a pool's free indices: its shared free-index
//! structure, with one atomic read-modify-write per take and per put.
//!
//! It replaced a ring after Nikolaev's SCQ ("A Scalable, Portable, and
//! Memory-Efficient Lock-Free FIFO Queue", DISC 2019), which pays two RMWs
//! per operation by construction (fetch-and-add on head or tail, then the
//! slot) and 16 bytes per index. A pool needs no FIFO among its free
//! buffers (the wait queue orders the waiters), so a set of free indices
//! will do, and a bit per index is the cheapest set there is. Measured side
//! by side (README, "Performance"): two threads' get+put, and four threads
//! on two buffers, went from slower than crossbeam's `ArrayQueue` to faster.
//!
//! # How it works
//!
//! Index `i` is bit `i % per` of word `i / per`, with `per = 32` indices
//! per word in pools of 128 buffers or more; smaller pools spread over at
//! least four words (one index per word up to four buffers; `per` is
//! always a power of two, so an index splits into word and bit with a
//! shift and a mask, never a division), so that
//! threads working on different indices touch different cache lines. A
//! set bit means free. Each word is a 64-bit atomic on a cache line of its
//! own ([`CachePadded`]), split into two halves:
//!
//! ```text
//!  63 ................ 32 | 31 ................ 0
//!  version (puts, wraps)  | free bits
//! ```
//!
//! - **take**: first, blindly, clear the bit of the index this thread took
//!   last once it put that index back, or else the next bit after it (a
//!   thread taking several in a row): one RMW, often all a take costs;
//!   otherwise load a word, and if it has a free bit, clear one with
//!   `fetch_and`. The old value's bit
//!   says whether it was still set: if it was, the caller won that index
//!   alone (the bit is its only state, so there is no tag to wrap and no
//!   ABA); if not, it loads the word again. (Only that bit of the old value
//!   is used, so x86 does it with one `lock btr`, not a `cmpxchg` loop.)
//!   A lost blind try changes nothing: the bit was already clear. (The
//!   blind tries save the load: after a `lock`ed RMW a load waits for it,
//!   so load, search and RMW in a row are a chain that each take of a
//!   batch waits out.)
//! - **put**: one `fetch_add` of `bit + VERSION_ONE`. The bit is clear (the
//!   putter holds the index: I1), so adding it sets it; the same RMW counts
//!   the put in the word's version.
//! - **batches**: up to 32 indices of one word leave with one `fetch_and`
//!   and come back with one `fetch_add` per word.
//!
//! # An exact empty answer
//!
//! A scan that finds every word empty may still have missed a free index:
//! word 0 is empty when read, an index is put into it, and the last free
//! index of word 1 is taken before word 1 is read; some index was free at
//! every instant. So [`Bitmap::take`] answers "empty" only after two
//! passes that read every word empty **with the same version**: a word
//! whose version did not change between its two reads was not put into
//! between them, so it was empty throughout; and every word's interval
//! contains the instant between the two passes, when all of them were
//! empty. (A version wraps after 2^32 puts to one word; a scan preempted
//! across exactly that many puts to one word could answer "empty" wrongly.
//! That is the only gap.)
//!
//! # Invariants
//!
//! - **I1** every index in `0..capacity` is in exactly one place: here
//!   (bit set), one thread's cache, or one holder. Only a holder puts, once.
//! - **B1** bits at and above `capacity` are never set.
//! - **B2** a word's version only grows (wrapping); it changes with every
//!   put into the word and with nothing else.
//!
//! # Orderings
//!
//! Every access is `SeqCst` (the design's rule for the shared structure),
//! with a `SeqCst` fence beside it under loom. An index's hand-over from a
//! putter to the next taker is the put's RMW read by the take's RMW (both
//! release and acquire), so a holder's writes to the buffer happen before
//! the next holder's reads.
//!
//! # Progress
//!
//! Put is wait-free (one RMW). Take is lock-free: a retry means another
//! thread took a bit or put an index.

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering::SeqCst, loom_seq_cst_fence};

#[cfg(all(loom, test))]
mod tests;

/// The most indices a bitmap (a pool) holds: 2^31 (`u32` indices with a
/// bit to spare, as the pool's tokens keep).
pub(crate) const MAX_CAPACITY: usize = 1 << 31;

/// Indices per word: the low half of each 64-bit word.
const BITS: u32 = 32;
/// The free bits of a word.
const FREE_MASK: u64 = (1 << BITS) - 1;
/// One put, counted in a word's version (the high half).
const VERSION_ONE: u64 = 1 << BITS;
/// The fewest words a pool of at least this many buffers is spread over
/// (`Bitmap::new_full`). Threads then start on different cache lines: on
/// one shared word every get and put of every thread moves the same line
/// between cores. Measured (4 threads on 2 buffers, 2 vCPUs): 31-35 ns
/// per get+put on one word, 11.5-12.5 ns on two words.
///
/// Under loom, 1 (the old one-word layout) for the pool's models: loom
/// 0.7.3 fails its own modification-order assertion (`rt/atomic.rs`,
/// `match_rmw_to_stores`; loom issues #252 and #389) in two of the engine's
/// models once a two-buffer pool spans two words. The bitmap's own models
/// spread their bitmaps explicitly (`Bitmap::spread_over`).
const SPREAD: usize = if cfg!(all(loom, test)) { 1 } else { 4 };
/// Up to this many words, a spinning getter watches every word's version
/// (`Bitmap::changes`) rather than a refill count that puts keep.
const WATCH_ALL: usize = 4;

/// A word's value, split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Word(u64);

impl Word {
    /// The free bits.
    fn free(self) -> u32 {
        (self.0 & FREE_MASK) as u32
    }

    /// The number of puts into the word, wrapping (B2).
    fn version(self) -> u32 {
        (self.0 >> BITS) as u32
    }
}

std::thread_local! {
    /// Where this thread starts its searches: the last index it took, so
    /// that threads spread over the words (each starts from a different
    /// seed) and a thread stays on a word while it has free bits; with
    /// `RETURNED` once this thread put that index back. One per thread,
    /// shared by every pool (taken modulo each pool's size). No destructor:
    /// usable during thread exit.
    static HINT: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// This thread's hint as stored, unseeded: `usize::MAX` before its first
/// take, which names no word of any bitmap on a 64-bit target, so that
/// [`Bitmap::take_near`] misses and the caller's slow path seeds it
/// ([`hint`]). (On a 32-bit one it may name the last index of a pool of
/// 2^31: tried as any hint.) One thread-local load, nothing else: the
/// ring-only get's fast path.
#[inline(always)]
pub(crate) fn raw_hint() -> usize {
    HINT.with(std::cell::Cell::get)
}

/// This thread's search hint (see `HINT`).
#[inline]
pub(crate) fn hint() -> usize {
    let v = HINT.with(std::cell::Cell::get);
    if v != usize::MAX { v } else { seed_hint() }
}

/// A thread's first hint: a seed from its id, spread by a multiplicative
/// hash (Knuth's), so threads start apart.
#[cold]
#[inline(never)]
fn seed_hint() -> usize {
    let id = std::thread::current().id();
    let seed = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), id);
    let seed = (seed as usize).wrapping_mul(0x9E37_79B9) >> 7;
    HINT.with(|h| h.set(seed));
    seed
}

/// Remembers `index`, just taken, as this thread's next starting point.
#[inline]
pub(crate) fn remember(index: u32) {
    HINT.with(|h| h.set(index as usize));
}

/// Marks a hint whose index its thread has put back: the next take tries
/// that bit first, blind (`Bitmap::take`). Never set in a seed (the top
/// bits of a seed are clear) or in `usize::MAX`'s place (indices are
/// below 2^31).
pub(crate) const RETURNED: usize = 1 << (usize::BITS - 1);

/// This thread put `index` back: if it is the hint, the next take tries it
/// first. (The hint is shared by every pool, so the index may be another
/// pool's; then the blind try just fails.)
#[inline]
pub(crate) fn returned(index: u32) {
    // Not in the pool's loom models: their threads share one OS thread, so
    // this hint would carry from one model thread (and one execution) to
    // the next, and loom needs each execution to repeat its atomics
    // exactly. The bitmap's models pass `RETURNED` themselves.
    if cfg!(all(loom, test)) {
        return;
    }
    HINT.with(|h| {
        if h.get() == index as usize {
            h.set(index as usize | RETURNED);
        }
    });
}

/// Indices per word (a power of two, so that an index splits into its word
/// and bit with a shift and a mask, not a division) and words for
/// `capacity` indices: the most per word (up to 32) that still spreads them
/// over at least `spread` words (where there are that many indices). Any
/// capacity: the last word may be partly used (its bits at and above the
/// capacity are never set: B1).
fn layout(capacity: usize, spread: usize) -> (usize, usize) {
    let wanted = capacity.min(spread).max(1);
    let mut per = (BITS as usize).min(capacity.max(1).next_power_of_two());
    while per > 1 && capacity.div_ceil(per) < wanted {
        per /= 2;
    }
    (per, capacity.div_ceil(per).max(1))
}

/// The words of a [`Bitmap::new_full`] of `capacity` indices, and its
/// indices per word (as [`Bitmap::shape`]).
pub(crate) fn shape_for(capacity: usize) -> (usize, u32) {
    let (per, words) = layout(capacity, SPREAD);
    (words, per as u32)
}

/// The bytes a [`Bitmap::new_full`] of `capacity` indices allocates (its
/// words, each on a cache line of its own): what a pool costs beyond its
/// items, committed at creation.
pub(crate) fn bytes_for(capacity: usize) -> usize {
    let (_, words) = layout(capacity, SPREAD);
    words.saturating_mul(std::mem::size_of::<CachePadded<AtomicU64>>())
}

/// A bitmap of the free indices of `0..capacity`.
pub(crate) struct Bitmap {
    words: Box<[CachePadded<AtomicU64>]>,
    /// Indices per word (a power of two, 1..=32): index `i` is bit
    /// `i % per` of word `i / per`. Fewer than 32 only in pools below
    /// `32 * SPREAD`.
    per: u32,
    /// `per.trailing_zeros()`: `i / per` is `i >> shift`.
    shift: u32,
    /// `per - 1`: `i % per` is `i & mask`.
    mask: u32,
    /// Puts that turned an empty word non-empty ([`Bitmap::changes`]).
    refills: CachePadded<AtomicU64>,
    capacity: usize,
    /// Whether [`take_near`](Bitmap::take_near) tries the bit after an
    /// unmarked hint's, blind: under loom, not in a pool's bitmap
    /// ([`new_full`](Bitmap::new_full)). The pool's models take their
    /// hints from the thread-local `HINT`, which carries over from one
    /// execution to the next (their threads share one OS thread), so
    /// whether that try wins would differ between executions that loom
    /// needs to repeat exactly (as for [`returned`]). The bitmap's own
    /// models pass their hints and keep it.
    #[cfg(all(loom, test))]
    blind_next: bool,
}

impl Bitmap {
    /// A bitmap with every index of `0..capacity` free.
    pub(crate) fn new_full(capacity: usize) -> Bitmap {
        #[cfg_attr(not(all(loom, test)), allow(unused_mut))]
        let mut bitmap = Bitmap::spread_over(capacity, SPREAD);
        #[cfg(all(loom, test))]
        {
            bitmap.blind_next = false;
        }
        bitmap
    }

    /// [`new_full`](Self::new_full) over at least `spread` words (where
    /// there are that many indices).
    pub(crate) fn spread_over(capacity: usize, spread: usize) -> Bitmap {
        let (per, words) = layout(capacity, spread);
        let words = (0..words)
            .map(|w| {
                let first = w * per;
                let n = capacity.saturating_sub(first).min(per);
                // B1: only the bits of indices below `capacity`.
                let free = if n == BITS as usize {
                    FREE_MASK
                } else {
                    (1 << n) - 1
                };
                CachePadded::new(AtomicU64::new(free))
            })
            .collect();
        debug_assert!(per.is_power_of_two(), "{per} indices per word");
        Bitmap {
            words,
            per: per as u32,
            shift: per.trailing_zeros(),
            mask: per as u32 - 1,
            refills: CachePadded::new(AtomicU64::new(0)),
            capacity,
            #[cfg(all(loom, test))]
            blind_next: true,
        }
    }

    /// The word and bit where a search from `hint` starts: its own when
    /// `hint` is an index of this bitmap (the usual case: a shift and a
    /// mask, no division), else folded into the words (a hint is shared by
    /// every pool of its thread).
    #[inline]
    fn place(&self, hint: usize) -> (usize, u32) {
        let n = self.words.len();
        let w = hint >> self.shift;
        let w = if w < n { w } else { w % n };
        (w, (hint as u32) & self.mask)
    }

    /// Index of bit `b` of word `w`.
    #[inline]
    fn index(&self, w: usize, b: u32) -> u32 {
        ((w as u32) << self.shift) | b
    }

    /// The word after `w`, wrapping.
    #[inline]
    fn next(&self, w: usize) -> usize {
        if w + 1 == self.words.len() { 0 } else { w + 1 }
    }

    fn load(&self, w: usize) -> Word {
        Self::load_word(&self.words[w])
    }

    #[inline(always)]
    fn load_word(word: &AtomicU64) -> Word {
        loom_seq_cst_fence();
        // ORDERING: SeqCst, as every access (module docs).
        Word(word.load(SeqCst))
    }

    /// Clears `mask` (bits seen free) in word `w`; the bits of `mask` that
    /// were still set are the caller's alone.
    fn clear(&self, w: usize, mask: u32) -> (u32, Word) {
        loom_seq_cst_fence();
        let old = if cfg!(iobuf_mutant = "bitmap_blind_take") {
            // The mutant: the taker trusts its stale load instead of the
            // RMW's old value (two takers of one bit both win it).
            // ORDERING: SeqCst.
            self.words[w].fetch_and(!u64::from(mask), SeqCst);
            Word(u64::from(mask))
        } else {
            // ORDERING: SeqCst: acquires the putter's writes to the buffer.
            Word(self.words[w].fetch_and(!u64::from(mask), SeqCst))
        };
        loom_seq_cst_fence();
        (old.free() & mask, old)
    }

    /// Clears bit `b` of word `w`, seen free; `true` if it was still set
    /// (the index is the caller's alone).
    ///
    /// Only the one bit of the old value is looked at, so that on x86 the
    /// RMW is a single `lock btr`: a `fetch_and` whose whole old value is
    /// used compiles to a `cmpxchg` loop, which under contention retries
    /// and costs several times as much (perf showed half of a contended
    /// take in that loop).
    fn clear_bit(&self, w: usize, b: u32) -> bool {
        Self::clear_bit_in(&self.words[w], b)
    }

    /// [`clear_bit`](Self::clear_bit) on a word already found.
    #[inline(always)]
    fn clear_bit_in(word: &AtomicU64, b: u32) -> bool {
        let bit = 1u64 << b;
        loom_seq_cst_fence();
        let won = if cfg!(iobuf_mutant = "bitmap_blind_take") {
            // The mutant: the taker trusts its stale load instead of the
            // RMW's old value (two takers of one bit both win it).
            // ORDERING: SeqCst.
            word.fetch_and(!bit, SeqCst);
            true
        } else {
            // ORDERING: SeqCst: acquires the putter's writes to the buffer.
            word.fetch_and(!bit, SeqCst) & bit != 0
        };
        loom_seq_cst_fence();
        won
    }

    /// Takes a free index, starting the search at index `hint` (its word
    /// and bit, modulo the bitmap's size: callers spread threads apart).
    /// `None` only if every index was held at some instant during the call
    /// (module docs).
    #[inline]
    pub(crate) fn take(&self, hint: usize) -> Option<u32> {
        self.take_near(hint)
            .or_else(|| self.search(hint & !RETURNED))
    }

    /// The first try of a take from `hint`, when `hint` names a word of
    /// this bitmap (its own index, the usual case; else `None` at once):
    /// with `RETURNED`, the hinted bit itself, blind; without, the next bit
    /// after the hint's, blind, then one look at the hint's word and a take
    /// of its first free bit at or after the hint's. `None` proves nothing:
    /// [`search`](Self::search) goes on.
    ///
    /// Inlined whole into the caller, with no call on any path, so that a
    /// caller whose slow path is a tail call saves no registers for it.
    #[inline(always)]
    pub(crate) fn take_near(&self, hint: usize) -> Option<u32> {
        // `RETURNED` is the top bit: tested as the sign, so that a hint
        // without it needs no mask.
        let (w, b, index, word) = if hint & RETURNED != 0 {
            // With `RETURNED`, first the hinted bit itself, blind: the
            // index this thread took last and has put back since, so often
            // still free. Won, that is one cache-line transfer (the RMW's),
            // where a load first would be two (a shared copy, then the
            // upgrade for the RMW) when other threads work on the word.
            // Lost, it changed nothing (the bit was already clear), and the
            // search starts. (Without the mark the thread may still hold
            // that index, as when it takes many in a row: the try would be
            // a wasted RMW.)
            let h = hint & !RETURNED;
            let w = h >> self.shift;
            // The one bounds check: a hint from another pool (one hint per
            // thread, shared by every pool), or the unseeded `usize::MAX`
            // (`raw_hint`; `RETURNED` is set in it), names no word here,
            // and the search folds it in.
            let word = self.words.get(w)?;
            // `h < words * per` now (a `u32`: at most 2^31 + 31): the
            // hinted index itself.
            (w, h as u32 & self.mask, h as u32, word)
        } else {
            // The hint's word, where this thread found a free index last
            // (as a batch of gets does): the search's first look.
            let w = hint >> self.shift;
            // The bounds check, as above.
            let word = self.words.get(w)?;
            // First, blind, the bit after the hint's (wrapping in the word):
            // the next free one when this thread takes several in a row, as
            // a batch of gets does (each took the first free bit at or
            // after the last). Won, the take is the RMW alone; the look
            // below would put a load and the bit search between this take
            // and the last one's RMW, a chain each take waits out (the load
            // cannot start before the last take's `lock` completes).
            // Measured, 64 gets then 64 puts without caches (benches/
            // RESULTS.md, "Issue 30, third session"): from 1.1x
            // `ArrayQueue`'s time with the look first to under 1x.
            // Lost, it changed nothing (the bit was clear; also a bit at or
            // above `capacity`: B1), and the look goes on: one RMW more,
            // paid at the end of each word's run or when another thread
            // holds the next index. With one index per word (`mask == 0`)
            // the next bit is the hint's own, which this thread may still
            // hold: no try.
            if self.mask != 0 && self.blinds_next() {
                let next = (hint as u32).wrapping_add(1) & self.mask;
                if Self::clear_bit_in(word, next) {
                    let index = (hint as u32 & !self.mask) | next;
                    debug_assert_eq!(index, self.index(w, next));
                    return Some(index);
                }
            }
            let seen = Self::load_word(word);
            if seen.free() == 0 {
                return None;
            }
            let hinted = hint as u32;
            let b = Self::first_free(seen, hinted & self.mask);
            (w, b, (hinted & !self.mask) | b, word)
        };
        debug_assert_eq!(index, self.index(w, b));
        if Self::clear_bit_in(word, b) {
            Some(index)
        } else {
            None
        }
    }

    /// Whether `take_near` tries the bit after an unmarked hint's (always,
    /// but in a pool's bitmap under loom: `blind_next`).
    #[inline(always)]
    fn blinds_next(&self) -> bool {
        #[cfg(all(loom, test))]
        {
            self.blind_next
        }
        #[cfg(not(all(loom, test)))]
        {
            true
        }
    }

    /// The first free bit of `word` at or after `bit`, wrapping; `word`
    /// has one. (Bits at and above `per` are never set: B1.)
    #[inline]
    fn first_free(word: Word, bit: u32) -> u32 {
        debug_assert!(word.free() != 0);
        (word.free().rotate_right(bit).trailing_zeros() + bit) % BITS
    }

    /// `take` past its first try ([`take_near`](Self::take_near)): the
    /// two-pass scan from `hint` (without `RETURNED`), exact as `take`.
    #[inline(never)]
    pub(crate) fn search(&self, hint: usize) -> Option<u32> {
        let (start, bit) = self.place(hint);
        let n = self.words.len();
        // The versions of the last all-empty pass, summed (wrapping): they
        // only grow, so an unchanged sum means no word was put into (short
        // of 2^32 puts during the scan, as for one word's version).
        let mut seen: Option<u64> = None;
        loop {
            let mut versions = 0u64;
            let mut w = start;
            for _ in 0..n {
                let mut word = self.load(w);
                while word.free() != 0 {
                    let b = Self::first_free(word, bit);
                    if self.clear_bit(w, b) {
                        return Some(self.index(w, b));
                    }
                    // Lost the bit to another taker: look again.
                    word = self.load(w);
                }
                versions = versions.wrapping_add(u64::from(word.version()));
                w = self.next(w);
            }
            // Every word read empty: exact only once a second pass reads
            // the same versions (module docs).
            if cfg!(iobuf_mutant = "bitmap_one_pass") || seen == Some(versions) {
                return None;
            }
            seen = Some(versions);
        }
    }

    /// Returns `index` (held by the caller: I1). Wait-free: one RMW.
    #[inline]
    pub(crate) fn put(&self, index: u32) {
        debug_assert!(
            (index as usize) < self.capacity,
            "index {index} >= capacity {}",
            self.capacity
        );
        let (w, b) = self.word_of(index);
        let add = if cfg!(iobuf_mutant = "bitmap_no_version") {
            1 << b
        } else {
            // `b < 32`: the same as `+` (one `bts` on x86).
            VERSION_ONE | (1 << b)
        };
        debug_assert!(w < self.words.len(), "word {w} of {}", self.words.len());
        // SAFETY: `index < capacity` (the caller holds it: I1, and every
        // index the pool hands out is below its capacity), and the layout
        // gives `words.len() * per >= capacity` words (`layout`), so
        // `w = index / per < words.len()`.
        let word = unsafe { self.words.get_unchecked(w) };
        loom_seq_cst_fence();
        // ORDERING: SeqCst: releases the holder's writes to the buffer to
        // the next taker's RMW.
        let old = Word(word.fetch_add(add, SeqCst));
        loom_seq_cst_fence();
        debug_assert!(old.free() & (1 << b) == 0, "index {index} put twice");
        if old.free() == 0 && self.counts_refills() {
            self.refilled();
        }
    }

    /// A put turned an empty word of a multi-word bitmap non-empty: what
    /// spinning getters watch ([`changes`](Self::changes)). A second RMW, but only on a word that
    /// was empty: rare unless the pool runs dry.
    fn refilled(&self) {
        debug_assert!(self.counts_refills());
        // ORDERING: SeqCst: after the put's RMW, so a watcher that sees the
        // new count and then scans finds the index (or its taker's trace).
        self.refills.fetch_add(1, SeqCst);
    }

    /// A value that changes whenever an index may have become free since
    /// it was read: a getter that polls an empty bitmap scans it again only
    /// once this changed (and, to be exact, before it sleeps), so polling a
    /// large empty pool costs one load, not a scan. For one word it is the
    /// word itself (every put changes its version); for more, the count of
    /// puts that turned an empty word non-empty (`refilled`: a second RMW,
    /// paid only then, and never by one-word bitmaps).
    pub(crate) fn changes(&self) -> u64 {
        if !self.counts_refills() {
            // Each put adds one to its word's version, so the sum changes
            // with every put. Read word by word, it still serves: a put
            // into a word read before it changes the next sum, and one
            // into a word read after it happened before the watcher's
            // next look.
            return (0..self.words.len())
                .map(|w| u64::from(self.load(w).version()))
                .fold(0, u64::wrapping_add);
        }
        loom_seq_cst_fence();
        // ORDERING: SeqCst, as `refilled`.
        self.refills.load(SeqCst)
    }

    /// Whether puts keep the `refills` count: only past `WATCH_ALL` words.
    /// Up to there a watcher reads every word's version (`changes`),
    /// which costs it a few loads and spares every put a second RMW; in
    /// a pool of 2 to 4 buffers nearly every put refills an empty word.
    fn counts_refills(&self) -> bool {
        self.words.len() > WATCH_ALL
    }

    /// Takes up to `max` (at most 32) free indices of one word with one
    /// RMW, starting at index `hint`'s word, handing each to `each`;
    /// returns how many. Fewer than `max` (even 0) proves nothing about the
    /// other words.
    pub(crate) fn take_batch(&self, hint: usize, max: u32, mut each: impl FnMut(u32)) -> u32 {
        let n = self.words.len();
        let max = max.min(BITS);
        if max == 0 {
            return 0;
        }
        let (mut w, _) = self.place(hint & !RETURNED);
        for _ in 0..n {
            let mut word = self.load(w);
            while word.free() != 0 {
                // The lowest `max` free bits.
                let mut mask = 0u32;
                let mut free = word.free();
                while free != 0 && mask.count_ones() < max {
                    let low = free & free.wrapping_neg();
                    mask |= low;
                    free &= !low;
                }
                let (mut won, old) = self.clear(w, mask);
                if won != 0 {
                    let count = won.count_ones();
                    while won != 0 {
                        each(self.index(w, won.trailing_zeros()));
                        won &= won - 1;
                    }
                    return count;
                }
                word = old;
            }
            w = self.next(w);
        }
        0
    }

    /// Returns every index of `indices` (each held by the caller): one RMW
    /// per word they fall in.
    pub(crate) fn put_batch(&self, indices: &[u32]) {
        let mut i = 0;
        while i < indices.len() {
            let w = indices[i] >> self.shift;
            let mut bits = 0u32;
            while i < indices.len() && indices[i] >> self.shift == w {
                debug_assert!((indices[i] as usize) < self.capacity);
                bits |= 1 << (indices[i] & self.mask);
                i += 1;
            }
            loom_seq_cst_fence();
            // ORDERING: SeqCst, as `put`.
            let old = Word(self.words[w as usize].fetch_add(u64::from(bits) + VERSION_ONE, SeqCst));
            loom_seq_cst_fence();
            debug_assert!(old.free() & bits == 0, "an index put twice");
            if old.free() == 0 && self.counts_refills() {
                self.refilled();
            }
        }
    }

    /// Whether every word read empty in one pass (loads only): a cheap
    /// look for polling loops. `true` proves less than `take`'s `None`.
    pub(crate) fn looks_empty(&self) -> bool {
        (0..self.words.len()).all(|w| self.load(w).free() == 0)
    }

    /// The word of `index` and its bit there.
    #[inline]
    fn word_of(&self, index: u32) -> (usize, u32) {
        ((index >> self.shift) as usize, index & self.mask)
    }

    /// The number of words, and of indices per word.
    pub(crate) fn shape(&self) -> (usize, u32) {
        (self.words.len(), self.per)
    }

    /// The number of indices.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The free indices now (exact when nothing races; O(words)).
    pub(crate) fn len(&self) -> usize {
        (0..self.words.len())
            .map(|w| self.load(w).free().count_ones() as usize)
            .sum()
    }
}

#[cfg(all(test, not(loom)))]
mod unit;
