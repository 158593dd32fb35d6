//! Loom models of the wait queue as the engine drives it (`wait.rs`):
//! register, hand-off, cancel after the hand-off, re-register with another
//! waker, a parked task woken through its waker, a parked thread woken by
//! an unpark, a thread and a task on one buffer; every index back at the
//! end and nobody left queued.
//!
//! The compiled-in mutants must be caught: `wait_cancel_drops_handoff` (a
//! cancelled waiter that was already handed an index forgets it),
//! `wait_skips_retry` (a waiter parks without looking at the ring after it
//! registered), `wait_ring_after_unlock` and
//! `wait_handed_thread_skips_serve` (the two ways a front thread could
//! leave with an index in the ring and the task behind it stranded), and
//! `cache_serves_under_lock` (a waker run under the caches' locks).

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
    let engine = Engine::new(1, 1, 0);
    let held = engine.take(Wait::Never).expect("a free index");
    (engine, held)
}

/// The end of every model on `one_index_held`'s engine: nobody is left
/// queued, and the one index is home.
fn assert_settled(engine: &Engine) {
    assert_eq!(engine.waiting(), 0, "a waiter was left queued");
    let free = engine.free.len();
    assert_eq!(
        engine.take(Wait::Never),
        Some(0),
        "the index was lost ({free} free)"
    );
}

/// A thread that gives `index` back to `engine`.
fn returner(engine: &Arc<Engine>, index: u32) -> thread::JoinHandle<()> {
    let engine = engine.clone();
    thread::spawn(move || engine.give(index))
}

/// Awaits an index on loom's executor (polls, parks until woken).
fn block_on_take(engine: &Engine) -> u32 {
    loom::future::block_on(engine.take_async())
}

#[test]
fn a_cancelled_served_waiter_passes_its_index_on() {
    builder().check(|| {
        let (engine, held) = one_index_held();

        let returner = returner(&engine, held);
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

/// A task polled again with a new waker (it moved to another worker) is
/// woken through the new one: the return may store the index and take the
/// old waker at any point of the re-registration, and only the new waker
/// wakes this thread. A lost wake-up parks it for good, which loom reports
/// as a deadlock (`wait_rewake_skips_recheck`).
#[test]
fn a_task_polled_again_with_a_new_waker_is_woken_through_it() {
    builder().check(|| {
        let (engine, held) = one_index_held();
        let returner = returner(&engine, held);
        let mut take = pin!(engine.take_async());
        let got = match take.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(i) => i,
            Poll::Pending => {
                // Only `second` unparks this thread (a park returns once per
                // unpark, never spuriously under loom), so each `Pending`
                // must be followed by its wake.
                let (_, second) = unpark_waker();
                loop {
                    if let Poll::Ready(i) = take.as_mut().poll(&mut Context::from_waker(&second)) {
                        break i;
                    }
                    thread::park();
                }
            }
        };
        engine.give(got);
        returner.join().unwrap();
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
                let crate::wait::Offer::Handed(wakeup) = q.offer(7, |_| unreachable!()) else {
                    panic!("a queued task was not handed the index");
                };
                crate::wait::Delivery::default().wake(wakeup);
            })
        };
        t.join().unwrap();
        assert_eq!(w.take_handed(), Some(7));
    });
}

/// Issue 19's first reproducer: two returns reach a thread at the front of
/// the queue, with a task queued behind it. The first return puts its
/// index in the ring for the thread to race for (under loom, every second
/// decision is a fairness hand-off instead, so the second return hands its
/// index to the thread outright); the thread leaves with either index and
/// holds it. The other index must reach the task: a thread that leaves
/// before the ring's index landed (`wait_ring_after_unlock`), or that
/// leaves with a handed index without serving
/// (`wait_handed_thread_skips_serve`), strands the task, and the model
/// deadlocks.
#[test]
fn returns_racing_a_front_thread_that_leaves_reach_the_task_behind_it() {
    let mut builder = builder();
    // Four threads: 2 preemptions cover the interleavings above and keep
    // the model to minutes.
    builder.preemption_bound = Some(builder.preemption_bound.unwrap_or(2).min(2));
    builder.check(|| {
        let engine = Engine::new(2, 1, 0);
        let a = engine.take(Wait::Never).expect("a free index");
        let b = engine.take(Wait::Never).expect("a free index");
        let parked = {
            let engine = engine.clone();
            thread::spawn(move || engine.take(Wait::Forever).expect("served"))
        };
        let task = {
            let engine = engine.clone();
            thread::spawn(move || block_on_take(&engine))
        };
        let returner = returner(&engine, b);
        engine.give(a);
        returner.join().unwrap();
        // Each waiter holds its index until both are served: a stranded
        // one is never woken, which loom reports as a deadlock.
        let first = parked.join().unwrap();
        let second = task.join().unwrap();
        assert_ne!(first, second, "one index held twice");
        engine.give(first);
        engine.give(second);
        assert_eq!(engine.waiting(), 0, "a waiter was left queued");
        assert_eq!(engine.available(), 2, "an index was lost");
    });
}

/// A task's waker that re-enters the pool when it is woken: it reads the
/// pool's state (the registry's lock) and takes every thread cache's lock
/// (`stop_waiting`), as a waker that polls its task inline would, then
/// wakes the task through loom's executor.
struct Reentrant {
    engine: Arc<Engine>,
    inner: Waker,
}

impl Wake for Reentrant {
    fn wake(self: Arc<Self>) {
        let _ = self.engine.available();
        self.engine.caches.stop_waiting(&*self.engine);
        self.inner.wake_by_ref();
    }
}

/// Issue 19's second reproducer: a task waits while another thread's cache
/// holds the indices; its look after registering steals them, and the
/// waiters they are served to are woken, by a waker that re-enters the
/// pool. Serving under the magazine and registry locks
/// (`cache_serves_under_lock`) hands the stolen index to the task itself
/// and runs its waker there: the waker blocks on a lock its own thread
/// holds, a deadlock.
#[test]
fn a_waker_that_reenters_the_pool_runs_outside_its_locks() {
    builder().check(|| {
        let engine = Engine::new(2, 1, 2);
        // This thread's cache (the model's threads have no thread-local
        // table under loom: its magazine is driven directly).
        let magazine = engine.caches.register(&*engine);
        let a = engine.take(Wait::Never).expect("a free index");
        let b = engine.take(Wait::Never).expect("a free index");
        let task = {
            let engine = engine.clone();
            thread::spawn(move || {
                let mut take = pin!(engine.take_async());
                loom::future::block_on(std::future::poll_fn(|cx| {
                    let waker = Waker::from(Arc::new(Reentrant {
                        engine: engine.clone(),
                        inner: cx.waker().clone(),
                    }));
                    take.as_mut().poll(&mut Context::from_waker(&waker))
                }))
            })
        };
        for i in [a, b] {
            // The owner's return: cached, or (a getter waits) given on.
            if !matches!(magazine.push(i), super::cache::Fast::Done) {
                engine.give(i);
            }
        }
        let got = task.join().unwrap();
        engine.give(got);
        // What is still cached goes home as a thread exit's flush would.
        magazine.flush().finish();
        assert_eq!(engine.waiting(), 0, "a waiter was left queued");
        assert_eq!(engine.available(), 2, "an index was lost");
    });
}
