//! Loom models of the bitmap: single and batch takes and puts over one and
//! two words, holders kept across several rounds, holders taking again
//! (the blind try of the next bit), and the exact empty answer.
//!
//! Each model checks exclusive ownership (a `held` flag per index, and a
//! loom `UnsafeCell` per buffer that each holder writes, so a second holder
//! or a hand-over without happens-before is a reported race) and no loss
//! (every index free at the end, once). The compiled-in mutants
//! `bitmap_blind_take` (a taker trusts its load, not the RMW's old value),
//! `bitmap_one_pass` (one all-empty pass answers "empty") and
//! `bitmap_no_version` (puts do not count in the word's version) must be
//! caught.

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::AtomicBool;
use loom::thread;

use super::{BITS, Bitmap};
use crate::sync::Ordering::SeqCst;

fn builder() -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder
}

/// A bitmap plus, per index, an ownership flag and the "buffer" a holder
/// writes.
struct Model {
    bitmap: Bitmap,
    held: Vec<AtomicBool>,
    buffers: Vec<UnsafeCell<usize>>,
}

impl Model {
    fn new(capacity: usize) -> Arc<Model> {
        Model::spread_over(capacity, 4)
    }

    /// A model over a bitmap of `capacity` indices over at least `spread`
    /// words.
    fn spread_over(capacity: usize, spread: usize) -> Arc<Model> {
        Arc::new(Model {
            bitmap: Bitmap::spread_over(capacity, spread),
            held: (0..capacity).map(|_| AtomicBool::new(false)).collect(),
            buffers: (0..capacity).map(|_| UnsafeCell::new(0)).collect(),
        })
    }

    /// The caller now holds `i`: nobody else may.
    fn hold(&self, i: u32, who: usize) {
        let i = i as usize;
        assert!(i < self.held.len(), "index {i} out of range");
        assert!(
            !self.held[i].swap(true, SeqCst),
            "index {i} handed to two holders"
        );
        self.buffers[i].with_mut(|b| {
            // SAFETY: I1 (checked above, and by loom's race detector) makes
            // this the only access to buffer `i` now.
            unsafe { *b = who };
        });
    }

    fn release(&self, i: u32) {
        assert!(
            self.held[i as usize].swap(false, SeqCst),
            "index {i} lost its holder"
        );
    }

    /// After the threads joined: every index is free, once.
    fn assert_all_back(&self) {
        let n = self.held.len();
        assert_eq!(self.bitmap.len(), n, "an index was lost");
        let mut seen = vec![false; n];
        for _ in 0..n {
            let i = self.bitmap.take(0).expect("an index was lost") as usize;
            assert!(!seen[i], "index {i} is free twice");
            seen[i] = true;
        }
        assert_eq!(self.bitmap.take(0), None, "more than n indices are free");
    }
}

/// `threads` threads each take, hold and put back an index `rounds` times
/// (a holder keeps its index across the others' rounds).
fn single(capacity: usize, threads: usize, rounds: usize) {
    builder().check(move || {
        let model = Model::new(capacity);
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let model = model.clone();
                thread::spawn(move || {
                    for _ in 0..rounds {
                        // Odd threads try their hinted bit first, blind
                        // (as a thread that put its index back does).
                        let blind = if t % 2 == 1 { super::RETURNED } else { 0 };
                        if let Some(i) = model.bitmap.take(t * BITS as usize | blind) {
                            model.hold(i, t);
                            model.release(i);
                            model.bitmap.put(i);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        model.assert_all_back();
    });
}

#[test]
fn capacity_1_two_threads() {
    single(1, 2, 2);
}

#[test]
fn capacity_2_two_threads_three_rounds() {
    single(2, 2, 3);
}

#[test]
fn capacity_1_three_threads() {
    single(1, 3, 1);
}

/// Four words of up to nine bits (33 indices): takers that start in
/// different words, each word shared by several indices.
#[test]
fn several_words_two_threads() {
    single(BITS as usize + 1, 2, 2);
}

/// Holders that take again: two threads each take an index, then, holding
/// it, a second one from a hint of the first (no `RETURNED`: the blind try
/// of the next bit), in one word of four, so that each blind try races the
/// other thread's takes of the same bits.
#[test]
fn holders_taking_again_never_share_an_index() {
    builder().check(|| {
        let model = Model::spread_over(4, 1);
        assert_eq!(model.bitmap.shape(), (1, 4));
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let model = model.clone();
                thread::spawn(move || {
                    let first = model.bitmap.take(t).expect("4 indices, 2 takers");
                    model.hold(first, t);
                    let second = model.bitmap.take(first as usize).expect("4 indices");
                    model.hold(second, t);
                    for i in [first, second] {
                        model.release(i);
                        model.bitmap.put(i);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        model.assert_all_back();
    });
}

/// Batches: two threads take up to 2 of 8 indices (four words of two)
/// with one RMW, hold them, and put them back with one RMW per word; both
/// start at word 0.
#[test]
fn batches_never_share_an_index() {
    builder().check(|| {
        let model = Model::new(8);
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let model = model.clone();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    model.bitmap.take_batch(t, 2, |i| got.push(i));
                    for &i in &got {
                        model.hold(i, t);
                    }
                    for &i in &got {
                        model.release(i);
                    }
                    model.bitmap.put_batch(&got);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        model.assert_all_back();
    });
}

/// The exact empty answer. Of two indices (two words of one bit), index 0
/// (word 0) is held by the mover and 1 (word 1) is free. The mover, three
/// times, puts its index and takes the other word's: one index is free at
/// every instant, alternating between the words. A `take` must never
/// answer "empty", though it can read each word empty at the wrong moment,
/// in both of its passes.
#[test]
fn take_is_never_empty_while_an_index_is_free() {
    // The wrong answer needs the taker's four reads to fall between the
    // mover's rounds: six switches between two threads.
    let mut builder = builder();
    builder.preemption_bound = Some(builder.preemption_bound.unwrap_or(6).max(6));
    builder.check(|| {
        let bitmap = Arc::new(Bitmap::spread_over(2, 4));
        assert_eq!(bitmap.take(0), Some(0));
        let mover = {
            let bitmap = bitmap.clone();
            thread::spawn(move || {
                let mut held = 0;
                for _ in 0..3 {
                    bitmap.put(held);
                    // Take from the other word (its index is the hint).
                    held = bitmap.take(1 - held as usize).expect("the mover's take");
                }
            })
        };
        let got = bitmap.take(0);
        assert!(
            got.is_some(),
            "take answered empty while an index was free at every instant"
        );
        mover.join().unwrap();
    });
}
