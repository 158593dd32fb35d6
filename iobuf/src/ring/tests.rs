//! Loom models of the ring: every interleaving (up to the preemption bound)
//! of a few threads taking and returning indices.
//!
//! Each model checks:
//! - **exclusive ownership (I1)**: a taken index's `held` flag must be clear
//!   (`swap(true)` returns `false`), and the holder writes the index's
//!   `UnsafeCell`, so loom also reports two holders, or a hand-over without
//!   happens-before, as a data race;
//! - **no loss**: after the threads join, draining the ring yields every index
//!   exactly once;
//! - **no hang**: loom fails a model that does not terminate.
//!
//! Run with `.ci/loom` (`RUSTFLAGS="--cfg loom"`, release with debug
//! assertions, `LOOM_MAX_PREEMPTIONS=3`). `.ci/loom-mutants` compiles
//! deliberate bugs into the ring (`--cfg iobuf_mutant=…`) and checks that a
//! model fails for each.

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::AtomicBool;
use loom::thread;

use super::Ring;
use crate::sync::Ordering::SeqCst;

std::thread_local! {
    static TRACE: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Appends to the current model run's trace.
pub(super) fn trace(event: String) {
    let who = format!("{:?}", thread::current().id());
    TRACE.with(|t| t.borrow_mut().push(format!("{who}: {event}")));
}

fn take_trace() -> String {
    TRACE.with(|t| std::mem::take(&mut *t.borrow_mut()).join("\n"))
}

/// A ring plus, per index, an ownership flag and the "buffer" a holder
/// writes.
struct Model {
    ring: Ring,
    held: Vec<AtomicBool>,
    buffers: Vec<UnsafeCell<usize>>,
}

impl Model {
    fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Model {
            ring: Ring::new_full(capacity),
            held: (0..capacity).map(|_| AtomicBool::new(false)).collect(),
            buffers: (0..capacity).map(|_| UnsafeCell::new(0)).collect(),
        })
    }

    /// One get/put: returns whether an index was taken.
    fn get_put(&self, who: usize) -> bool {
        let Some(i) = self.ring.dequeue() else {
            return false;
        };
        let i = i as usize;
        assert!(i < self.held.len(), "index {i} out of range");
        assert!(
            !self.held[i].swap(true, SeqCst),
            "index {i} handed to two holders"
        );
        // The holder writes its buffer: a second holder, or a missing
        // happens-before edge from the last holder, is a loom data race.
        self.buffers[i].with_mut(|b| {
            // SAFETY: I1 (checked above and by loom's race detector) makes
            // this the only access to buffer `i` now.
            unsafe { *b = who };
        });
        assert!(
            self.held[i].swap(false, SeqCst),
            "index {i} lost its holder"
        );
        self.ring.enqueue(i as u32);
        true
    }

    /// After all threads joined: every index is in the ring exactly once.
    fn assert_all_back(&self) {
        let n = self.held.len();
        let mut seen = vec![false; n];
        for _ in 0..n {
            let Some(i) = self.ring.dequeue() else {
                panic!("an index was lost: {}\n{}", self.ring.dump(), take_trace());
            };
            let i = i as usize;
            assert!(!seen[i], "index {i} is in the ring twice");
            seen[i] = true;
        }
        assert_eq!(
            self.ring.dequeue(),
            None,
            "the ring holds more than n indices"
        );
    }
}

/// A loom builder bounded at 3 preemptions unless `LOOM_MAX_PREEMPTIONS`
/// says otherwise.
fn builder() -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder
}

fn run(capacity: usize, threads: usize, ops: usize) {
    let builder = builder();
    let iterations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = iterations.clone();
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        take_trace();
        let model = Model::new(capacity);
        let handles: Vec<_> = (1..threads)
            .map(|t| {
                let model = model.clone();
                thread::spawn(move || {
                    for _ in 0..ops {
                        model.get_put(t);
                    }
                })
            })
            .collect();
        for _ in 0..ops {
            model.get_put(0);
        }
        for h in handles {
            h.join().unwrap();
        }
        model.assert_all_back();
    });
    let explored = iterations.load(std::sync::atomic::Ordering::Relaxed);
    println!("capacity {capacity}, {threads} threads x {ops} ops: {explored} interleavings");
    assert!(explored > 1, "the model explored a single interleaving");
}

#[test]
fn capacity_1_two_threads() {
    run(1, 2, 4);
}

#[test]
fn capacity_2_two_threads() {
    run(2, 2, 5);
}

#[test]
fn capacity_4_two_threads() {
    run(4, 2, 5);
}

#[test]
fn capacity_1_three_threads() {
    run(1, 3, 2);
}

#[test]
fn capacity_2_three_threads() {
    run(2, 3, 2);
}

/// One thread holds an index across the other's laps, so slots go through
/// several cycles while a holder is out: where ABA would strike.
#[test]
fn capacity_2_holder_across_laps() {
    builder().check(|| {
        let model = Model::new(2);
        let other = model.clone();
        let t = thread::spawn(move || {
            for _ in 0..3 {
                other.get_put(1);
            }
        });
        if let Some(i) = model.ring.dequeue() {
            let i = i as usize;
            assert!(
                !model.held[i].swap(true, SeqCst),
                "index {i} handed to two holders"
            );
            thread::yield_now();
            assert!(model.held[i].swap(false, SeqCst));
            model.ring.enqueue(i as u32);
        }
        t.join().unwrap();
        model.assert_all_back();
    });
}
