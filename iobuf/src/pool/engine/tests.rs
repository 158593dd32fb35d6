//! Loom models of the wait queue as the engine drives it (`wait.rs`):
//! register, hand-off, cancel after the hand-off, re-register with another
//! waker, a parked task woken through its waker, a parked thread woken by
//! an unpark, a thread and a task on one buffer; every index back at the
//! end and nobody left queued.
//!
//! The compiled-in mutants `wait_cancel_drops_handoff` (a cancelled waiter
//! that was already handed an index forgets it) and `wait_skips_retry` (a
//! waiter parks without looking at the ring after it registered) must be
//! caught.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::AtomicBool;
use loom::thread;

use super::{Engine, Wait};
use crate::sync::Ordering::SeqCst;

fn builder() -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder
}

/// Wakes a parked loom thread.
struct Unpark(thread::Thread, AtomicBool);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.1.store(true, SeqCst);
        self.0.unpark();
    }
}

fn unpark_waker() -> (Arc<Unpark>, Waker) {
    let unpark = Arc::new(Unpark(thread::current(), AtomicBool::new(false)));
    (unpark.clone(), Waker::from(unpark))
}

/// An engine of one index, and that index, taken: every getter must wait.
fn one_index_held() -> (Arc<Engine>, u32) {
    let engine = Arc::new(Engine::new(1, 1, 0));
    let held = engine.take(Wait::Never).expect("a free index");
    (engine, held)
}

/// The end of every model on `one_index_held`'s engine: nobody is left
/// queued, and the one index is home.
fn assert_settled(engine: &Engine) {
    assert_eq!(engine.waiting(), 0, "a waiter was left queued");
    let in_ring = engine.ring.len();
    let thr = engine.ring.threshold_for_test();
    assert_eq!(
        engine.take(Wait::Never),
        Some(0),
        "the index was lost (ring len {in_ring}, threshold {thr})"
    );
}

/// Awaits an index on loom's executor (polls, parks until woken).
fn block_on_take(engine: &Engine) -> u32 {
    loom::future::block_on(engine.take_async())
}

#[test]
fn a_cancelled_served_waiter_passes_its_index_on() {
    builder().check(|| {
        let (engine, held) = one_index_held();

        // The returner.
        let returner = {
            let engine = engine.clone();
            thread::spawn(move || engine.give(held))
        };
        // A second task that waits until served, then returns its index.
        let patient = {
            let engine = engine.clone();
            thread::spawn(move || {
                let i = block_on_take(&engine);
                engine.give(i);
            })
        };
        // This task polls once, re-polls with another waker, then gives up
        // (a timeout), possibly after it was handed the index.
        {
            let mut take = pin!(engine.take_async());
            let first = Waker::noop();
            let (_, second) = unpark_waker();
            let mut got = None;
            if let Poll::Ready(i) = take.as_mut().poll(&mut Context::from_waker(first)) {
                got = Some(i);
            } else if let Poll::Ready(i) = take.as_mut().poll(&mut Context::from_waker(&second)) {
                got = Some(i);
            }
            if let Some(i) = got {
                engine.give(i);
            }
            // Dropped here: served or not, nothing may be lost.
        }
        returner.join().unwrap();
        patient.join().unwrap();
        assert_settled(&engine);
    });
}

/// One waiter (`take`, on a thread of its own) and the return of the one
/// index it waits for: it is served with that index; nothing lost, nobody
/// queued. The waiter has its own thread (a parked thread's too): an
/// unpark that arrives after it was served (allowed: park may wake
/// spuriously) must not land on the thread that joins, which loom's join
/// does not tolerate.
fn a_waiter_is_served_by_a_return(take: fn(&Engine) -> u32) {
    builder().check(move || {
        let (engine, held) = one_index_held();
        let waiter = {
            let engine = engine.clone();
            thread::spawn(move || take(&engine))
        };
        engine.give(held);
        let got = waiter.join().unwrap();
        assert_eq!(got, 0);
        engine.give(got);
        assert_settled(&engine);
    });
}

#[test]
fn a_queued_task_is_served_by_a_return() {
    a_waiter_is_served_by_a_return(block_on_take);
}

/// The thread path: a getter that parks in the queue (`Wait::Forever`) is
/// woken by a return (to race for the ring, or handed the index), with the
/// unpark delivered outside the queue's locks.
#[test]
fn a_parked_thread_is_woken_by_a_return() {
    a_waiter_is_served_by_a_return(|engine| engine.take(Wait::Forever).expect("served"));
}

/// A parked thread and a pending task on one pool of one buffer: each is
/// served once, in whichever order, and the index ends up home.
#[test]
fn a_thread_and_a_task_share_one_buffer() {
    builder().check(|| {
        let (engine, held) = one_index_held();
        let task = {
            let engine = engine.clone();
            thread::spawn(move || {
                let i = block_on_take(&engine);
                engine.give(i);
            })
        };
        let parked = {
            let engine = engine.clone();
            thread::spawn(move || {
                let i = engine.take(Wait::Forever).expect("served");
                engine.give(i);
            })
        };
        engine.give(held);
        task.join().unwrap();
        parked.join().unwrap();
        assert_settled(&engine);
    });
}

#[test]
fn a_hand_off_reaches_its_waiter() {
    builder().check(|| {
        let q = Arc::new(crate::wait::WaitQueue::default());
        let w = q.register(crate::wait::Wake::Task(None));
        let t = {
            let q = q.clone();
            thread::spawn(move || {
                assert!(matches!(q.offer(7), crate::wait::Offer::Handed));
            })
        };
        t.join().unwrap();
        assert_eq!(w.take_handed(), Some(7));
    });
}
