//! The wait queue's liveness, natively, each test bounded in time with a
//! watchdog that fails instead of hanging: returns racing a thread at the
//! front of the queue that leaves (no waiter stranded beside a free
//! buffer); wakers that re-enter the pool and poll their tasks inline
//! (none runs under a lock of the pool); wakers that panic (no buffer
//! lost); a forgotten queued future (it takes one buffer, as documented);
//! and the counters that tell thread waits, task waits, timeouts and
//! cancellations apart.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use iobuf::{PicoBufferPool, PoolConfig};

/// How long any one wait of these tests may take before it counts as a
/// hang (Miri's clock runs with its interpretation, far slower).
const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 5 });

/// `name` from the environment, else `default` (1 under Miri, which
/// interprets every step).
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(miri) { 1 } else { default })
}

/// An inner loop's length: a twentieth under Miri.
const fn ops(n: usize) -> usize {
    if cfg!(miri) { n.div_ceil(20) } else { n }
}

/// Waits until `pool` has `n` queued getters, or fails.
fn until_waiting(pool: &PicoBufferPool, n: usize) {
    let start = Instant::now();
    while pool.stats().waiting < n {
        assert!(start.elapsed() < HANG, "{n} getters never queued");
        thread::yield_now();
    }
}

/// Issue 19's first reproducer. Four getters queue on a pool of four
/// held buffers, in this order: a blocking `get`, a second blocking `get`,
/// a task, a third blocking `get`; then four returns race, each from its
/// own thread. The first return to reach a thread at the front hands it a
/// buffer outright (its fairness turn); the next ones, within 0.5 ms, put
/// their buffers in the ring and wake the new front thread to race for
/// them, which may leave (with one of them) while another return is
/// between its decision and its enqueue. Each getter holds its buffer until
/// all four are served, so a stranded one is seen: it waits while a buffer
/// is free.
#[test]
fn returns_racing_a_front_thread_that_leaves_strand_no_waiter() {
    let trials = env_or("IOBUF_LIVENESS_TRIALS", 2000);
    let budget = Instant::now() + Duration::from_secs(40);
    let mut ran = 0;
    while ran < trials && Instant::now() < budget {
        one_race(ran);
        ran += 1;
    }
    assert!(
        ran >= trials.min(100),
        "only {ran} trials ran in the time budget"
    );
}

fn one_race(trial: usize) {
    const N: usize = 4;
    let pool = Arc::new(PicoBufferPool::new(N).unwrap());
    let held: Vec<_> = (0..N).map(|_| pool.get_index()).collect();
    let (served, done) = mpsc::channel();
    let release = Arc::new(Barrier::new(N + 1));
    let mut threads = Vec::new();
    for (n, kind) in ["thread", "thread", "task", "thread"]
        .into_iter()
        .enumerate()
    {
        let (waiter_pool, served, release) = (pool.clone(), served.clone(), release.clone());
        threads.push(thread::spawn(move || {
            let pool = waiter_pool;
            let buf = if kind == "task" {
                futures_executor::block_on(pool.get_async())
            } else {
                pool.get()
            };
            served.send(buf.index()).unwrap();
            // Held until every getter was served.
            release.wait();
        }));
        until_waiting(&pool, n + 1);
    }
    let start = Arc::new(Barrier::new(N));
    for index in held {
        let (pool, start) = (pool.clone(), start.clone());
        threads.push(thread::spawn(move || {
            start.wait();
            pool.put(index);
        }));
    }
    let mut got: Vec<u32> = (0..N)
        .map(|_| {
            done.recv_timeout(HANG).unwrap_or_else(|_| {
                panic!("trial {trial}: a waiter was stranded: {:?}", pool.stats())
            })
        })
        .collect();
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), N, "trial {trial}: a buffer was held twice");
    release.wait();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(pool.available(), N, "trial {trial}: a buffer was lost");
}

/// Joins `threads` or fails after `HANG` (a deadlocked thread would keep
/// `join` waiting forever).
fn join_all(threads: Vec<thread::JoinHandle<()>>, what: &str) {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for t in threads {
            t.join().unwrap();
        }
        let _ = tx.send(());
    });
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what}: a thread hangs (a deadlock?)"));
}

/// A task polled inline by its own waker (as an inline executor does),
/// which also reads the pool's statistics and records whether the waking
/// thread held any lock of the pool.
struct InlineTask {
    future: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
    /// Set by every wake; the poller re-polls while it is set.
    again: AtomicBool,
    done: AtomicBool,
    pool: Arc<PicoBufferPool>,
    under_lock: Arc<AtomicUsize>,
}

impl Wake for InlineTask {
    fn wake(self: Arc<Self>) {
        if iobuf::__private::pool_locks_held() != 0 {
            self.under_lock.fetch_add(1, SeqCst);
        }
        // Re-enter the pool: its registry and every cache's counts.
        let _ = self.pool.stats();
        run(&self);
    }
}

/// Polls `task` on this thread unless another thread is polling it (that
/// one polls again: `again`).
fn run(task: &Arc<InlineTask>) {
    task.again.store(true, SeqCst);
    loop {
        let Ok(mut future) = task.future.try_lock() else {
            return;
        };
        if !task.again.swap(false, SeqCst) {
            return;
        }
        let Some(f) = future.as_mut() else { return };
        let waker = Waker::from(task.clone());
        if f.as_mut().poll(&mut Context::from_waker(&waker)).is_ready() {
            *future = None;
            task.done.store(true, SeqCst);
            return;
        }
    }
}

/// Issue 19's second reproducer: with thread caches on, wakers that poll
/// their tasks inline and re-enter the pool, while threads fill their
/// caches, exit (flushing them) and steal from each other. No wake-up may
/// run under a lock of the pool (counted in debug builds), none may
/// deadlock, and every buffer must come home.
#[test]
fn wakers_that_reenter_the_pool_and_poll_inline_run_outside_its_locks() {
    let rounds = env_or("IOBUF_LIVENESS_ROUNDS", 40);
    for round in 0..rounds {
        let pool =
            Arc::new(PicoBufferPool::with_config(8, PoolConfig::new().thread_cache(4)).unwrap());
        assert_eq!(pool.thread_cache_capacity(), 4, "thread caches are off");
        let under_lock = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<Arc<InlineTask>> = (0..12)
            .map(|_| {
                let pool2 = pool.clone();
                Arc::new(InlineTask {
                    future: Mutex::new(Some(Box::pin(async move {
                        for _ in 0..ops(50) {
                            let buf = pool2.get_async().await;
                            std::hint::black_box(&buf);
                        }
                    }))),
                    again: AtomicBool::new(false),
                    done: AtomicBool::new(false),
                    pool: pool.clone(),
                    under_lock: under_lock.clone(),
                })
            })
            .collect();
        // Threads that hold buffers in their caches for a while, then
        // exit (a flush that serves the queued tasks).
        let churn: Vec<_> = (0..3)
            .map(|t| {
                let pool = pool.clone();
                thread::spawn(move || {
                    for k in 0..ops(200) {
                        let held: Vec<_> = (0..=(t + k) % 3)
                            .filter_map(|_| pool.try_get().ok())
                            .collect();
                        drop(held);
                    }
                })
            })
            .collect();
        // Blocking getters: a thread at the front of the queue is woken to
        // race for a buffer put in the ring, where refills and steals meet
        // it.
        let blocking: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                thread::spawn(move || {
                    for _ in 0..ops(100) {
                        let buf = pool.get();
                        std::hint::black_box(&buf);
                    }
                })
            })
            .collect();
        let starters: Vec<_> = tasks
            .chunks(4)
            .map(|chunk| {
                let chunk = chunk.to_vec();
                thread::spawn(move || chunk.iter().for_each(run))
            })
            .collect();
        join_all(
            starters.into_iter().chain(churn).chain(blocking).collect(),
            &format!("round {round}"),
        );
        let start = Instant::now();
        while !tasks.iter().all(|t| t.done.load(SeqCst)) {
            assert!(
                start.elapsed() < HANG,
                "round {round}: tasks hang: {:?}",
                pool.stats()
            );
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            under_lock.load(SeqCst),
            0,
            "round {round}: a waker ran under a lock of the pool"
        );
        assert_eq!(pool.available(), 8, "round {round}: a buffer was lost");
        assert_eq!(pool.stats().waiting, 0);
    }
}

/// A waker that panics every time it is woken.
struct Panicking;

impl Wake for Panicking {
    fn wake(self: Arc<Self>) {
        panic!("a waker that panics");
    }
}

/// Issue 19's third reproducer: wakers that panic, woken from returns,
/// steals (a task's own look after it registered, with thread caches
/// holding the buffers) and cancellations. A panic reaches the operation
/// that woke the waker, but no buffer is lost.
#[test]
fn wakers_that_panic_lose_no_buffer() {
    let rounds = env_or("IOBUF_LIVENESS_ROUNDS", 40);
    let panics = Arc::new(AtomicUsize::new(0));
    for _ in 0..rounds {
        let pool =
            Arc::new(PicoBufferPool::with_config(4, PoolConfig::new().thread_cache(2)).unwrap());
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let (pool, panics) = (pool.clone(), panics.clone());
                thread::spawn(move || {
                    let waker = Waker::from(Arc::new(Panicking));
                    let mut queued = Vec::new();
                    let caught = |r: std::thread::Result<()>| {
                        if r.is_err() {
                            panics.fetch_add(1, SeqCst);
                        }
                    };
                    for k in 0..ops(300) {
                        // Hold a buffer or two across the poll (later, the
                        // next steal's prey, or a return to a queued
                        // future), each dropped on its own: a drop may
                        // panic, and two panics at once would abort.
                        let held: Vec<_> = (0..=(t + k) % 2)
                            .filter_map(|_| pool.try_get().ok())
                            .collect();
                        let mut f = Box::pin(pool.get_async());
                        let polled = catch_unwind(AssertUnwindSafe(|| {
                            f.as_mut().poll(&mut Context::from_waker(&waker))
                        }));
                        match polled {
                            Ok(Poll::Ready(buf)) => {
                                caught(catch_unwind(AssertUnwindSafe(|| drop(buf))))
                            }
                            Ok(Poll::Pending) => queued.push(f),
                            Err(_) => {
                                caught(Err(Box::new(())));
                                // It may still be queued: its drop may
                                // wake (and so panic) too.
                                caught(catch_unwind(AssertUnwindSafe(|| drop(f))));
                            }
                        }
                        for buf in held {
                            caught(catch_unwind(AssertUnwindSafe(|| drop(buf))));
                        }
                        if queued.len() > 2 {
                            // Complete one (handed, or still queued: then
                            // cancelled), drop the others.
                            let mut f = queued.remove(0);
                            let noop = Waker::noop();
                            caught(catch_unwind(AssertUnwindSafe(|| {
                                if let Poll::Ready(buf) =
                                    f.as_mut().poll(&mut Context::from_waker(noop))
                                {
                                    drop(buf);
                                }
                                drop(f);
                            })));
                            while let Some(f) = queued.pop() {
                                caught(catch_unwind(AssertUnwindSafe(|| drop(f))));
                            }
                        }
                    }
                    while let Some(f) = queued.pop() {
                        if catch_unwind(AssertUnwindSafe(|| drop(f))).is_err() {
                            panics.fetch_add(1, SeqCst);
                        }
                    }
                })
            })
            .collect();
        join_all(threads, "panicking wakers");
        assert_eq!(pool.available(), 4, "a buffer was lost: {:?}", pool.stats());
        assert_eq!(pool.stats().waiting, 0);
    }
    assert!(
        panics.load(SeqCst) > 0,
        "no waker panicked: the test did not reach its path"
    );
}

/// Issue 19's fourth reproducer: a queued future that is `mem::forget`ten
/// keeps its place; the buffer a return hands it is lost with it (as a
/// forgotten guard's is), and that is all: the queue goes on serving the
/// waiters behind it.
#[test]
fn a_forgotten_queued_future_takes_one_buffer_and_no_more() {
    let pool = Arc::new(PicoBufferPool::new(2).unwrap());
    let (a, b) = (pool.get(), pool.get());
    let noop = Waker::noop();
    // Forgotten: never dropped while the test looks (`ManuallyDrop`, as
    // `mem::forget` would leave it), then dropped at the end.
    let mut forgotten = ManuallyDrop::new(Box::pin(pool.get_async()));
    assert!(
        forgotten
            .as_mut()
            .poll(&mut Context::from_waker(noop))
            .is_pending()
    );
    let mut behind = Box::pin(pool.get_async());
    assert!(
        behind
            .as_mut()
            .poll(&mut Context::from_waker(noop))
            .is_pending()
    );
    drop(a); // handed to the forgotten future: gone with it
    assert!(
        behind
            .as_mut()
            .poll(&mut Context::from_waker(noop))
            .is_pending()
    );
    drop(b); // handed to the next waiter
    let Poll::Ready(buf) = behind.as_mut().poll(&mut Context::from_waker(noop)) else {
        panic!("the waiter behind a forgotten future was not served");
    };
    drop(buf);
    let stats = pool.stats();
    assert_eq!(stats.waiting, 0, "the forgotten future is still queued");
    assert_eq!(stats.available, 1, "the forgotten future took one buffer");
    // The pool goes on with what it has.
    let again = pool.try_get().unwrap();
    assert!(pool.try_get().is_err());
    drop(again);
    // Dropped after all (Miri checks for leaks): it gives its buffer on.
    drop(ManuallyDrop::into_inner(forgotten));
    assert_eq!(pool.available(), 2);
}

/// `PoolStats` counts thread waits, task waits, timeouts and
/// cancellations apart.
#[test]
fn counters_tell_thread_waits_task_waits_timeouts_and_cancellations_apart() {
    let pool = Arc::new(PicoBufferPool::new(1).unwrap());
    let held = pool.get();
    // A blocking get that times out.
    assert!(pool.get_timeout(Duration::from_millis(5)).is_err());
    // A future that queues and is cancelled.
    let noop = Waker::noop();
    let mut f = Box::pin(pool.get_async());
    assert!(f.as_mut().poll(&mut Context::from_waker(noop)).is_pending());
    drop(f);
    // A future that queues and is served.
    let mut f = Box::pin(pool.get_async());
    assert!(f.as_mut().poll(&mut Context::from_waker(noop)).is_pending());
    drop(held);
    let Poll::Ready(buf) = f.as_mut().poll(&mut Context::from_waker(noop)) else {
        panic!("not served");
    };
    drop(buf);
    // A blocking get that sleeps and is served.
    let held = pool.get();
    let sleeper = {
        let pool = pool.clone();
        thread::spawn(move || drop(pool.get()))
    };
    until_waiting(&pool, 1);
    drop(held);
    sleeper.join().unwrap();
    let stats = pool.stats();
    assert_eq!(stats.thread_waits, 2, "{stats:?}");
    assert_eq!(stats.task_waits, 2, "{stats:?}");
    assert_eq!(stats.waits, 4, "{stats:?}");
    assert_eq!(stats.timeouts, 1, "{stats:?}");
    assert_eq!(stats.cancellations, 1, "{stats:?}");
    assert_eq!(stats.waiting, 0, "{stats:?}");
    // Every queued wait, the cancelled one included, is timed once.
    assert_eq!(
        stats.wait_histogram.iter().sum::<u64>(),
        stats.waits,
        "{stats:?}"
    );
}
