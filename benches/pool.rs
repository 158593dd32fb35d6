//! BoundedPool against its peers, side by side in each criterion group.
//!
//! Peers used as free lists of `u32` buffer indices (they hold no buffers,
//! which favours them slightly):
//! - `crossbeam_queue::ArrayQueue` (Vyukov's bounded MPMC queue: one
//!   read-modify-write per operation);
//! - `lfqueue::AllocBoundedQueue` (another SCQ implementation);
//! - `Mutex<Vec<u32>>` (with a `Condvar` where a workload blocks).
//!
//! Run: `cargo bench --bench pool` (add `-- --quick` for a fast pass).
//! Results are ratios within one run: absolute times drift on shared
//! machines.

use std::hint::black_box;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_queue::ArrayQueue;
use iobuf::{BoundedPool, SmallBuffer};
use lfqueue::AllocBoundedQueue;

const CAPACITY: usize = 1024;

/// The operations every peer offers, as a free list of indices.
trait FreeList: Sync {
    const NAME: &'static str;
    fn new(capacity: usize) -> Self;
    /// Takes an index, spinning (or blocking) until one is free.
    fn take(&self) -> u32;
    fn give(&self, index: u32);
}

const IOBUF: &str = "iobuf::BoundedPool";

fn iobuf_pool(capacity: usize) -> BoundedPool<SmallBuffer> {
    BoundedPool::new(capacity).unwrap()
}

/// How the lock-free peers wait for a free index: crossbeam's `Backoff`,
/// which spins and then yields.
fn spin_until(mut pop: impl FnMut() -> Option<u32>) -> u32 {
    let backoff = crossbeam_utils::Backoff::new();
    loop {
        if let Some(i) = pop() {
            return i;
        }
        backoff.snooze();
    }
}

struct Array(ArrayQueue<u32>);
impl FreeList for Array {
    const NAME: &'static str = "crossbeam_queue::ArrayQueue";
    fn new(capacity: usize) -> Self {
        let q = ArrayQueue::new(capacity);
        for i in 0..capacity as u32 {
            q.push(i).unwrap();
        }
        Array(q)
    }
    fn take(&self) -> u32 {
        spin_until(|| self.0.pop())
    }
    fn give(&self, index: u32) {
        self.0.push(index).unwrap();
    }
}

struct Scq(AllocBoundedQueue<u32>);
impl FreeList for Scq {
    const NAME: &'static str = "lfqueue::AllocBoundedQueue";
    fn new(capacity: usize) -> Self {
        let q = AllocBoundedQueue::new(capacity);
        for i in 0..capacity as u32 {
            q.enqueue(i).unwrap();
        }
        Scq(q)
    }
    fn take(&self) -> u32 {
        spin_until(|| self.0.dequeue())
    }
    fn give(&self, index: u32) {
        assert!(self.0.enqueue(index).is_ok());
    }
}

struct Locked(Mutex<Vec<u32>>, Condvar);
impl FreeList for Locked {
    const NAME: &'static str = "Mutex<Vec<u32>>";
    fn new(capacity: usize) -> Self {
        Locked(Mutex::new((0..capacity as u32).collect()), Condvar::new())
    }
    fn take(&self) -> u32 {
        let mut free = self.0.lock().unwrap();
        loop {
            if let Some(i) = free.pop() {
                return i;
            }
            free = self.1.wait(free).unwrap();
        }
    }
    fn give(&self, index: u32) {
        self.0.lock().unwrap().push(index);
        self.1.notify_one();
    }
}

/// One get+put pair for each contender. iobuf goes through its guard (get,
/// drop), the way users call it.
fn pair_iobuf(pool: &BoundedPool<SmallBuffer>) {
    drop(black_box(pool.get()));
}

fn pair<F: FreeList>(list: &F) {
    let i = black_box(list.take());
    list.give(i);
}

/// Runs `per_thread` on `threads` threads, `iters` times each, started
/// together; returns the wall time of the slowest.
fn on_threads(threads: usize, iters: u64, per_thread: impl Fn(u64) + Sync) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                per_thread(iters);
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}

/// One thread, get+put of one buffer: the uncontended hot path.
fn single_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool/get_put/threads=1");
    g.throughput(Throughput::Elements(1));
    let pool = iobuf_pool(CAPACITY);
    g.bench_function(BenchmarkId::new(IOBUF, "Small"), |b| {
        b.iter(|| pair_iobuf(&pool))
    });
    bench_peer::<Array>(&mut g);
    bench_peer::<Scq>(&mut g);
    bench_peer::<Locked>(&mut g);
    g.finish();
}

fn bench_peer<F: FreeList>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    let list = F::new(CAPACITY);
    g.bench_function(BenchmarkId::new(F::NAME, "Small"), |b| {
        b.iter(|| pair(&list))
    });
}

/// Thread counts for the contended groups: `IOBUF_BENCH_THREADS`, a comma
/// list (default `2`, the cores of a CI machine).
fn thread_counts() -> Vec<usize> {
    std::env::var("IOBUF_BENCH_THREADS")
        .ok()
        .map(|v| v.split(',').filter_map(|t| t.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![2])
}

/// N threads each doing get+put pairs on one shared pool: contended head
/// and tail. Time is per pair per thread (all run at once).
fn contended(c: &mut Criterion) {
    for threads in thread_counts() {
        let mut g = c.benchmark_group(format!("pool/get_put/threads={threads}"));
        g.throughput(Throughput::Elements(1));
        let pool = iobuf_pool(CAPACITY);
        g.bench_function(BenchmarkId::new(IOBUF, "Small"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, |n| {
                    for _ in 0..n {
                        pair_iobuf(&pool)
                    }
                })
            })
        });
        contended_peer::<Array>(&mut g, threads, CAPACITY);
        contended_peer::<Scq>(&mut g, threads, CAPACITY);
        contended_peer::<Locked>(&mut g, threads, CAPACITY);
        g.finish();
    }
}

fn contended_peer<F: FreeList>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    threads: usize,
    capacity: usize,
) {
    let list = F::new(capacity);
    g.bench_function(BenchmarkId::new(F::NAME, "Small"), |b| {
        b.iter_custom(|iters| {
            on_threads(threads, iters, |n| {
                for _ in 0..n {
                    pair(&list)
                }
            })
        })
    });
}

/// Four threads on a pool of two buffers: most gets find it empty and must
/// wait (iobuf: spin then sleep; ArrayQueue/lfqueue: spin and yield;
/// Mutex: Condvar).
fn exhaustion(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool/exhaustion/capacity=2/threads=4");
    g.throughput(Throughput::Elements(1));
    let pool = iobuf_pool(2);
    g.bench_function(BenchmarkId::new(IOBUF, "Small"), |b| {
        b.iter_custom(|iters| {
            on_threads(4, iters, |n| {
                for _ in 0..n {
                    let mut buf = pool.get();
                    buf.0[0] = buf.0[0].wrapping_add(1);
                }
            })
        })
    });
    contended_peer::<Array>(&mut g, 4, 2);
    contended_peer::<Scq>(&mut g, 4, 2);
    contended_peer::<Locked>(&mut g, 4, 2);
    g.finish();
}

/// One thread takes 64 buffers, then returns them: a batch of I/O.
fn batch_64(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool/get64_put64/threads=1");
    g.throughput(Throughput::Elements(64));
    let pool = iobuf_pool(CAPACITY);
    g.bench_function(BenchmarkId::new(IOBUF, "Small"), |b| {
        let mut held = Vec::with_capacity(64);
        b.iter(|| {
            for _ in 0..64 {
                held.push(pool.try_get().unwrap());
            }
            black_box(&held);
            held.clear();
        })
    });
    batch_peer::<Array>(&mut g);
    batch_peer::<Scq>(&mut g);
    batch_peer::<Locked>(&mut g);
    g.finish();
}

fn batch_peer<F: FreeList>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    let list = F::new(CAPACITY);
    g.bench_function(BenchmarkId::new(F::NAME, "Small"), |b| {
        let mut held = Vec::with_capacity(64);
        b.iter(|| {
            for _ in 0..64 {
                held.push(list.take());
            }
            black_box(&held);
            for i in held.drain(..) {
                list.give(i);
            }
        })
    });
}

/// Latency from a put to the return of a `get` that was asleep waiting for
/// it. Peer: `Mutex<Vec>` + `Condvar`, the standard blocking free list.
fn wakeup(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool/wakeup_latency");
    g.sample_size(20);
    let pool = Arc::new(BoundedPool::<SmallBuffer>::new(1).unwrap());
    g.bench_function(BenchmarkId::new(IOBUF, "sleeping get"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let held = pool.get();
                let waiter = {
                    let pool = pool.clone();
                    std::thread::spawn(move || {
                        let g = pool.get();
                        let woke = Instant::now();
                        drop(g);
                        woke
                    })
                };
                while pool.stats().waiting == 0 {
                    std::thread::yield_now();
                }
                std::thread::sleep(Duration::from_micros(200)); // asleep for sure
                let put = Instant::now();
                drop(held);
                total += waiter.join().unwrap().saturating_duration_since(put);
            }
            total
        })
    });
    let locked = Arc::new(Locked::new(1));
    g.bench_function(BenchmarkId::new(Locked::NAME, "Condvar wait"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let held = locked.take();
                let waiter = {
                    let locked = locked.clone();
                    std::thread::spawn(move || {
                        let i = locked.take();
                        let woke = Instant::now();
                        locked.give(i);
                        woke
                    })
                };
                std::thread::sleep(Duration::from_micros(500));
                let put = Instant::now();
                locked.give(held);
                total += waiter.join().unwrap().saturating_duration_since(put);
            }
            total
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    single_thread,
    contended,
    exhaustion,
    batch_64,
    wakeup
);
criterion_main!(benches);
