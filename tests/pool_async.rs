//! Async acquire: `get_async`, `get_owned_async`, `get_index_async` and
//! `buffer_pools!`' `get_async`, under tokio's multi-thread runtime and
//! under a second executor (futures' thread pool): exclusive ownership with
//! many more tasks than buffers, cancellation at every point, re-polling
//! with a new waker, FIFO service of threads and tasks in one queue, and
//! waiters that burn no CPU.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use iobuf::{BoundedPool, PicoBuffer, PicoBufferPool, PoolConfig};

/// A waker that counts its wakes.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let count = Arc::new(CountingWaker::default());
    (count.clone(), Waker::from(count))
}

fn poll_once<F: Future>(f: std::pin::Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

/// A flag per index: a second holder of one buffer fails the test.
struct Oracle(Vec<AtomicBool>);

impl Oracle {
    fn new(capacity: usize) -> Self {
        Oracle((0..capacity).map(|_| AtomicBool::new(false)).collect())
    }
    fn take(&self, i: u32) {
        assert!(
            !self.0[i as usize].swap(true, Ordering::SeqCst),
            "index {i} held twice"
        );
    }
    fn give(&self, i: u32) {
        assert!(
            self.0[i as usize].swap(false, Ordering::SeqCst),
            "index {i} returned unheld"
        );
    }
}

fn cached(capacity: usize, cache: usize) -> Arc<PicoBufferPool> {
    Arc::new(PicoBufferPool::with_config(capacity, PoolConfig::new().thread_cache(cache)).unwrap())
}

#[test]
fn a_free_buffer_is_ready_on_the_first_poll() {
    let pool = PicoBufferPool::new(2).unwrap();
    let mut fut = pin!(pool.get_async());
    let Poll::Ready(buf) = poll_once(fut.as_mut(), Waker::noop()) else {
        panic!("a free buffer must not make the future wait");
    };
    assert_eq!(pool.available(), 1);
    drop(buf);
    assert_eq!(pool.available(), 2);
}

#[test]
fn a_completed_future_polled_again_panics_and_takes_nothing() {
    let pool = PicoBufferPool::new(4).unwrap();
    let mut get = Box::pin(pool.get_async());
    let mut index = Box::pin(pool.get_index_async());
    let Poll::Ready(buf) = poll_once(get.as_mut(), Waker::noop()) else {
        panic!("a free buffer must not make the future wait");
    };
    let Poll::Ready(idx) = poll_once(index.as_mut(), Waker::noop()) else {
        panic!("a free buffer must not make the future wait");
    };
    assert_eq!(pool.available(), 2);
    for again in [
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = poll_once(get.as_mut(), Waker::noop());
        })),
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = poll_once(index.as_mut(), Waker::noop());
        })),
    ] {
        assert!(again.is_err(), "polling a completed future must panic");
    }
    assert_eq!(pool.available(), 2, "and must not take another buffer");
    drop((buf, get, index));
    pool.put(idx);
    assert_eq!(pool.available(), 4);
}

#[test]
fn the_futures_are_send_and_the_owned_one_is_static() {
    fn send<T: Send>(_: &T) {}
    fn send_static<T: Send + 'static>(_: &T) {}
    let pool = Arc::new(PicoBufferPool::new(1).unwrap());
    send(&pool.get_async());
    send(&pool.get_index_async());
    send_static(&pool.get_owned_async());
}

#[test]
fn a_return_hands_its_buffer_to_the_pending_future_and_wakes_it() {
    let pool = PicoBufferPool::new(1).unwrap();
    let held = pool.get();
    let (wakes, waker) = counting_waker();
    let mut fut = pin!(pool.get_async());
    assert!(poll_once(fut.as_mut(), &waker).is_pending());
    assert_eq!(pool.stats().waiting, 1);
    drop(held);
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        1,
        "the hand-off wakes the task"
    );
    assert_eq!(pool.available(), 0, "handed over, not put in the ring");
    let Poll::Ready(buf) = poll_once(fut.as_mut(), &waker) else {
        panic!("woken with its buffer, the future is ready");
    };
    assert_eq!(buf.index(), 0);
    assert_eq!(pool.stats().waiting, 0);
}

/// Polls `fut` once more after it completed: it must panic, as an `async`
/// block does, and take no second buffer.
fn assert_polled_again_panics<F: Future>(
    pool: &BoundedPool<PicoBuffer>,
    mut fut: std::pin::Pin<&mut F>,
) {
    let available = pool.available();
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        poll_once(fut.as_mut(), Waker::noop()).is_ready()
    }));
    assert!(again.is_err(), "a completed future polled again panics");
    assert_eq!(pool.available(), available, "and takes no buffer");
}

#[test]
fn a_completed_future_polled_again_panics_on_every_path() {
    // The first poll's cache hit (caches on from 64 buffers), the ring's
    // first try (no caches), and a queued `Take` served by a return.
    let cached = PicoBufferPool::new(64).unwrap();
    let ring = PicoBufferPool::with_config(64, PoolConfig::new().thread_cache(0)).unwrap();
    for pool in [&cached, &ring] {
        let mut fut = pin!(pool.get_async());
        let Poll::Ready(buf) = poll_once(fut.as_mut(), Waker::noop()) else {
            panic!("a free buffer is taken on the first poll");
        };
        assert_polled_again_panics(pool, fut);
        drop(buf);
        let mut fut = pin!(pool.get_index_async());
        let Poll::Ready(index) = poll_once(fut.as_mut(), Waker::noop()) else {
            panic!("a free buffer is taken on the first poll");
        };
        assert_polled_again_panics(pool, fut);
        pool.put(index);
        assert_eq!(pool.available(), 64);
    }
    let pool = PicoBufferPool::new(1).unwrap();
    let held = pool.get();
    let mut fut = pin!(pool.get_async());
    assert!(poll_once(fut.as_mut(), Waker::noop()).is_pending());
    drop(held);
    let Poll::Ready(buf) = poll_once(fut.as_mut(), Waker::noop()) else {
        panic!("the waiter was handed the returned buffer");
    };
    assert_polled_again_panics(&pool, fut);
    drop(buf);
    assert_eq!(pool.available(), 1);
    assert_eq!(pool.stats().waiting, 0);
}

#[test]
fn a_future_dropped_after_its_hand_off_passes_the_buffer_on() {
    let pool = PicoBufferPool::new(1).unwrap();
    let held = pool.get();
    let (_, waker) = counting_waker();
    let (next_wakes, next_waker) = counting_waker();
    let mut first = Box::pin(pool.get_async());
    let mut second = pin!(pool.get_async());
    assert!(poll_once(first.as_mut(), &waker).is_pending());
    assert!(poll_once(second.as_mut(), &next_waker).is_pending());
    drop(held); // handed to `first`, the longest waiter
    drop(first); // cancelled after being served: it must pass the buffer on
    assert_eq!(
        next_wakes.0.load(Ordering::SeqCst),
        1,
        "the next waiter is woken"
    );
    let Poll::Ready(buf) = poll_once(second.as_mut(), &next_waker) else {
        panic!("the next waiter got the buffer");
    };
    drop(buf);
    assert_eq!(pool.available(), 1);
    assert_eq!(pool.stats().waiting, 0);
}

#[test]
fn a_future_dropped_after_its_hand_off_with_nobody_behind_returns_the_buffer() {
    let pool = PicoBufferPool::new(1).unwrap();
    let held = pool.get();
    let mut fut = Box::pin(pool.get_index_async());
    assert!(poll_once(fut.as_mut(), Waker::noop()).is_pending());
    drop(held);
    drop(fut);
    assert_eq!(pool.available(), 1);
    assert!(pool.try_get().is_ok());
}

#[test]
fn a_future_dropped_while_queued_leaves_the_queue() {
    let pool = PicoBufferPool::new(1).unwrap();
    let held = pool.get();
    let mut fut = Box::pin(pool.get_async());
    assert!(poll_once(fut.as_mut(), Waker::noop()).is_pending());
    assert_eq!(pool.stats().waiting, 1);
    drop(fut);
    assert_eq!(pool.stats().waiting, 0);
    drop(held);
    assert_eq!(pool.available(), 1, "the return went to the ring");
}

#[test]
fn re_polling_with_another_waker_moves_the_wake_up() {
    let pool = PicoBufferPool::new(1).unwrap();
    let held = pool.get();
    let (old_wakes, old) = counting_waker();
    let (new_wakes, new) = counting_waker();
    let mut fut = pin!(pool.get_async());
    assert!(poll_once(fut.as_mut(), &old).is_pending());
    assert!(poll_once(fut.as_mut(), &new).is_pending()); // moved to another worker
    drop(held);
    assert_eq!(old_wakes.0.load(Ordering::SeqCst), 0);
    assert_eq!(new_wakes.0.load(Ordering::SeqCst), 1);
    assert!(poll_once(fut.as_mut(), &new).is_ready());
}

#[test]
fn threads_and_tasks_are_served_in_arrival_order() {
    let pool = Arc::new(PicoBufferPool::new(1).unwrap());
    let held = pool.get_index();
    let order = Arc::new(Mutex::new(Vec::new()));
    // A task first.
    let mut task_a = Box::pin(pool.get_index_async());
    assert!(poll_once(task_a.as_mut(), Waker::noop()).is_pending());
    // Then a sleeping thread.
    let thread_b = std::thread::spawn({
        let (pool, order) = (pool.clone(), order.clone());
        move || {
            let i = pool.get_index();
            order.lock().unwrap().push("thread");
            pool.put(i);
        }
    });
    while pool.stats().waiting < 2 {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Then another task.
    let mut task_c = Box::pin(pool.get_index_async());
    assert!(poll_once(task_c.as_mut(), Waker::noop()).is_pending());

    pool.put(held);
    let Poll::Ready(a) = poll_once(task_a.as_mut(), Waker::noop()) else {
        panic!("the first waiter (a task) is served first");
    };
    order.lock().unwrap().push("task a");
    assert!(
        poll_once(task_c.as_mut(), Waker::noop()).is_pending(),
        "c waits behind the thread"
    );
    pool.put(a);
    thread_b.join().unwrap();
    let Poll::Ready(c) = poll_once(task_c.as_mut(), Waker::noop()) else {
        panic!("the last waiter is served last");
    };
    order.lock().unwrap().push("task c");
    pool.put(c);
    assert_eq!(*order.lock().unwrap(), ["task a", "thread", "task c"]);
}

/// Many more tasks than buffers, each holding its buffer across a yield:
/// no index is ever held twice, every one is back at the end.
async fn churn(
    pool: Arc<PicoBufferPool>,
    oracle: Arc<Oracle>,
    rounds: usize,
    yield_now: impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
) {
    for round in 0..rounds {
        let mut buf = pool.get_owned_async().await;
        let i = buf.index();
        oracle.take(i);
        buf.0[0] = round as u8;
        yield_now().await;
        assert_eq!(buf.0[0], round as u8, "another holder wrote");
        oracle.give(i);
    }
}

fn tokio_churn(pool: Arc<PicoBufferPool>, tasks: usize, rounds: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let oracle = Arc::new(Oracle::new(pool.capacity()));
    rt.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                tokio::spawn(churn(pool.clone(), oracle.clone(), rounds, || {
                    Box::pin(tokio::task::yield_now())
                }))
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    drop(rt); // worker threads exit and flush their caches
    assert_eq!(pool.available(), pool.capacity());
    assert_eq!(pool.stats().waiting, 0);
}

#[test]
fn tokio_many_tasks_few_buffers_keep_ownership_exclusive() {
    tokio_churn(Arc::new(PicoBufferPool::new(4).unwrap()), 64, 200);
}

#[test]
fn tokio_many_tasks_with_thread_caches_keep_ownership_exclusive() {
    tokio_churn(cached(64, 16), 256, 100);
}

#[test]
fn a_second_executor_keeps_ownership_exclusive() {
    let pool = cached(64, 8);
    let oracle = Arc::new(Oracle::new(64));
    let executor = futures_executor::ThreadPool::builder()
        .pool_size(3)
        .create()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..128 {
        let (pool, oracle, tx) = (pool.clone(), oracle.clone(), tx.clone());
        executor.spawn_ok(async move {
            churn(pool, oracle, 50, || Box::pin(YieldOnce(false))).await;
            tx.send(()).unwrap();
        });
    }
    for _ in 0..128 {
        rx.recv_timeout(Duration::from_secs(60))
            .expect("a task never finished");
    }
    drop(executor);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.available() != 64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1)); // exiting workers flush
    }
    assert_eq!(pool.available(), 64);
}

/// Yields to the executor once.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn random_cancellations_by_timeout_lose_nothing() {
    let pool = cached(8, 2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(3)
        .enable_all()
        .build()
        .unwrap();
    let served = Arc::new(AtomicU64::new(0));
    let cancelled = Arc::new(AtomicU64::new(0));
    rt.block_on(async {
        let handles: Vec<_> = (0..48u64)
            .map(|t| {
                let (pool, served, cancelled) = (pool.clone(), served.clone(), cancelled.clone());
                tokio::spawn(async move {
                    let mut x = t.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                    for _ in 0..200 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let timeout = Duration::from_micros(x % 300);
                        match tokio::time::timeout(timeout, pool.get_owned_async()).await {
                            Ok(buf) => {
                                served.fetch_add(1, Ordering::Relaxed);
                                if x % 3 == 0 {
                                    tokio::task::yield_now().await;
                                }
                                drop(buf);
                            }
                            Err(_) => {
                                cancelled.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    drop(rt);
    assert_eq!(pool.available(), 8, "a cancelled future lost a buffer");
    assert_eq!(pool.stats().waiting, 0);
    assert!(served.load(Ordering::Relaxed) > 0);
    println!(
        "served {}, cancelled {}",
        served.load(Ordering::Relaxed),
        cancelled.load(Ordering::Relaxed)
    );
}

#[test]
fn threads_and_tasks_on_one_pool_are_both_served() {
    let pool = Arc::new(PicoBufferPool::new(2).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let thread_gets = Arc::new(AtomicU64::new(0));
    let task_gets = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (pool, stop, gets) = (pool.clone(), stop.clone(), thread_gets.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let b = pool.get();
                    gets.fetch_add(1, Ordering::Relaxed);
                    std::hint::black_box(&b);
                }
            })
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (pool, stop, gets) = (pool.clone(), stop.clone(), task_gets.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let b = pool.get_async().await;
                        gets.fetch_add(1, Ordering::Relaxed);
                        tokio::task::yield_now().await;
                        drop(b);
                    }
                })
            })
            .collect();
        tokio::task::spawn_blocking({
            let stop = stop.clone();
            move || {
                std::thread::sleep(Duration::from_millis(300));
                stop.store(true, Ordering::Relaxed);
            }
        })
        .await
        .unwrap();
        for t in tasks {
            t.await.unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    let (threads, tasks) = (
        thread_gets.load(Ordering::Relaxed),
        task_gets.load(Ordering::Relaxed),
    );
    println!("thread gets {threads}, task gets {tasks}");
    assert!(
        threads > 10 && tasks > 10,
        "starved: threads {threads}, tasks {tasks}"
    );
    assert_eq!(pool.available(), 2);
}

#[test]
fn a_pending_getter_takes_buffers_idle_in_another_thread_s_cache() {
    let pool = cached(64, 64);
    let (idle_tx, idle_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let owner = std::thread::spawn({
        let pool = pool.clone();
        move || {
            let all: Vec<_> = (0..64).map(|_| pool.get()).collect();
            drop(all); // into this thread's cache
            ready_tx.send(()).unwrap();
            idle_rx.recv().unwrap(); // idle, never touching the pool again
        }
    });
    ready_rx.recv().unwrap();
    let started = Instant::now();
    let buf = futures_executor::block_on(pool.get_async());
    assert!(started.elapsed() < Duration::from_secs(1));
    drop(buf);
    idle_tx.send(()).unwrap();
    owner.join().unwrap();
}

#[test]
fn buffer_pools_get_async_picks_the_smallest_fit_or_none() {
    mod pools {
        iobuf::buffer_pools! {
            small: 2KiB x 2,
            large: 64KiB x 1,
        }
    }
    futures_executor::block_on(async {
        let a = pools::get_async(1500).await.unwrap();
        assert_eq!(a.name(), "small");
        let b = pools::get_async(3000).await.unwrap();
        assert_eq!(b.name(), "large");
        assert!(pools::get_async(1 << 20).await.is_none());
    });
}

/// CPU time used so far by `who` (`RUSAGE_THREAD`).
fn cpu_time(who: libc::c_int) -> Duration {
    // SAFETY: rusage is plain integers; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(who, &mut usage) };
    assert_eq!(rc, 0, "getrusage failed");
    let t = |tv: libc::timeval| Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000);
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    cpu_time(libc::RUSAGE_THREAD)
}

/// The CPU clock of the calling thread, readable from any thread while it
/// lives.
fn thread_cpu_clock() -> libc::clockid_t {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `pthread_self` has no preconditions.
    let me = unsafe { libc::pthread_self() };
    // SAFETY: `me` is the calling thread, alive during the call; `clock`
    // is a valid place for the result.
    let rc = unsafe { libc::pthread_getcpuclockid(me, &mut clock) };
    assert_eq!(rc, 0, "pthread_getcpuclockid failed");
    clock
}

/// The CPU time of the threads behind `clocks` (each still alive).
fn cpu_of(clocks: &[libc::clockid_t]) -> Duration {
    clocks
        .iter()
        .map(|&clock| {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `clock` is the CPU clock of a live thread (the
            // runtime's workers outlive the measurement); `ts` is a valid
            // place for the result.
            let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
            assert_eq!(rc, 0, "clock_gettime failed");
            Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
        })
        .sum()
}

#[test]
#[cfg_attr(miri, ignore = "getrusage is a foreign call Miri does not run")]
fn a_thread_blocked_for_a_second_sleeps() {
    let pool = PicoBufferPool::new(1).unwrap();
    let _held = pool.get();
    let before = thread_cpu();
    let started = Instant::now();
    assert!(pool.get_timeout(Duration::from_secs(1)).is_err());
    let cpu = thread_cpu() - before;
    assert!(started.elapsed() >= Duration::from_secs(1));
    println!("1 s blocked on an empty pool: {cpu:?} of CPU");
    assert!(
        cpu < Duration::from_millis(5),
        "a blocked get burned {cpu:?} of CPU"
    );
}

/// Eight threads blocked on an empty pool of 64 Ki buffers (2,048 words of
/// the free bitmap) for a second each: each spins and yields briefly
/// (rescanning only after a put refilled a word), then sleeps; no thread
/// rescans the whole pool per poll.
#[test]
#[cfg_attr(miri, ignore = "getrusage is a foreign call Miri does not run")]
fn threads_blocked_on_a_large_empty_pool_sleep() {
    let pool =
        Arc::new(PicoBufferPool::with_config(1 << 16, PoolConfig::new().thread_cache(0)).unwrap());
    let held: Vec<_> = (0..1 << 16)
        .map(|_| pool.try_get_index().unwrap())
        .collect();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let before = thread_cpu();
                assert!(pool.get_timeout(Duration::from_secs(1)).is_err());
                thread_cpu() - before
            })
        })
        .collect();
    let cpu: Vec<Duration> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let total: Duration = cpu.iter().sum();
    println!(
        "8 threads blocked 1 s each on an empty pool of 64 Ki buffers: {total:?} of CPU in all ({cpu:?})"
    );
    assert!(
        total < Duration::from_millis(80),
        "blocked threads burned {total:?} of CPU"
    );
    for i in held {
        pool.put(i);
    }
}

#[test]
#[cfg_attr(miri, ignore = "getrusage is a foreign call Miri does not run")]
fn pending_futures_burn_no_cpu() {
    let pool = Arc::new(BoundedPool::<PicoBuffer>::new(1).unwrap());
    let held = pool.get();
    // The runtime's own threads are measured, not the process: other tests
    // of this file run beside this one.
    let clocks = Arc::new(Mutex::new(Vec::new()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start({
            let clocks = clocks.clone();
            move || clocks.lock().unwrap().push(thread_cpu_clock())
        })
        .build()
        .unwrap();
    // Each task drops its own buffer: the queue serves them in the order
    // they registered, which need not be the order they were spawned in.
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            rt.spawn(async move { drop(pool.get_owned_async().await) })
        })
        .collect();
    // Both workers start (the second may start after the four tasks
    // queued, on a loaded machine) and the four tasks queue.
    let start = Instant::now();
    while pool.stats().waiting < 4 || clocks.lock().unwrap().len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the runtime never settled"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let clocks = clocks.lock().unwrap().clone();
    assert_eq!(clocks.len(), 2, "one clock per worker");
    let before = cpu_of(&clocks);
    assert!(before > Duration::ZERO, "the workers polled the futures");
    std::thread::sleep(Duration::from_millis(500));
    let cpu = cpu_of(&clocks) - before;
    println!("four pending futures for 500 ms: {cpu:?} of CPU");
    assert!(
        cpu < Duration::from_millis(25),
        "pending futures burned {cpu:?} of CPU"
    );
    drop(held);
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(pool.available(), 1);
}
