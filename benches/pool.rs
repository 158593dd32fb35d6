//! BoundedPool against its peers, side by side in each criterion group.
//!
//! iobuf runs twice: with its default thread caches (`iobuf::BoundedPool`)
//! and with caching off (`iobuf::BoundedPool (ring only)`).
//!
//! Peers used as free lists of `u32` buffer indices (they hold no buffers,
//! which favours them slightly):
//! - `crossbeam_queue::ArrayQueue` (Vyukov's bounded MPMC queue: one
//!   read-modify-write per operation);
//! - `lfqueue::AllocBoundedQueue` (another SCQ implementation);
//! - `Mutex<Vec<u32>>` (with a `Condvar` where a workload blocks).
//!
//! The single-thread group also runs a bare stack of indices reached
//! through a `thread_local!` pointer: not a pool, but what thread-local
//! storage alone costs in this harness, the structure every thread cache
//! builds on.
//!
//! With `--features commonware`, also `commonware_runtime::BufferPool`
//! 2026.9.0 (thread-cached, 2 KiB class of 1024 buffers). It takes minutes
//! to compile, so CI does not build it.
//!
//! Run: `cargo bench -p iobuf-benches --bench pool` (add `-- --quick` for a fast pass).
//! Results are ratios within one run: absolute times drift on shared
//! machines.

use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_queue::ArrayQueue;
use iobuf::{BoundedPool, SmallBuffer};
use iobuf_benches::{LockedFreeList, on_threads};
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
const IOBUF_RING: &str = "iobuf::BoundedPool (ring only)";

/// iobuf with its defaults (thread caches on from 64 buffers).
fn iobuf_pool(capacity: usize) -> BoundedPool<SmallBuffer> {
    BoundedPool::new(capacity).unwrap()
}

/// iobuf with thread caches off: every operation goes to the shared ring.
fn iobuf_ring_pool(capacity: usize) -> BoundedPool<SmallBuffer> {
    BoundedPool::with_config(capacity, iobuf::PoolConfig::new().thread_cache(0)).unwrap()
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Both iobuf variants, as (name, pool).
fn iobuf_variants(capacity: usize) -> [(&'static str, BoundedPool<SmallBuffer>); 2] {
    [
        (IOBUF, iobuf_pool(capacity)),
        (IOBUF_RING, iobuf_ring_pool(capacity)),
    ]
}

#[cfg(feature = "commonware")]
mod commonware_peer {
    use std::num::{NonZeroU32, NonZeroUsize};

    use bytes::BufMut;
    use commonware_runtime::iobuf::{BufferPool, BufferPoolConfig};
    use commonware_runtime::{BufferPooler, Runner};

    pub const NAME: &str = "commonware_runtime::BufferPool";

    /// A BufferPool with a 2 KiB class of `capacity` buffers, as the
    /// runtime hands it out; the handle outlives the runner.
    pub fn pool(capacity: u32) -> BufferPool {
        let config = BufferPoolConfig::for_network().with_size_class_range(
            NonZeroUsize::new(2048).unwrap(),
            NonZeroUsize::new(2048).unwrap(),
            NonZeroU32::new(capacity).unwrap(),
        );
        let runtime =
            commonware_runtime::tokio::Config::default().with_network_buffer_pool_config(config);
        commonware_runtime::tokio::Runner::new(runtime)
            .start(|context| async move { context.network_buffer_pool().clone() })
    }

    #[inline(never)]
    pub fn pair(pool: &BufferPool) {
        drop(std::hint::black_box(pool.try_alloc(2048).unwrap()));
    }

    pub fn write_2k(pool: &BufferPool, byte: u8) {
        let mut buf = pool.try_alloc(2048).unwrap();
        buf.put_bytes(byte, 2048);
        std::hint::black_box(&buf);
    }

    pub fn take(pool: &BufferPool) -> impl Sized {
        pool.try_alloc(2048).unwrap()
    }
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

/// The lock-based peer (`iobuf_benches::LockedFreeList`).
struct Locked(LockedFreeList);
impl FreeList for Locked {
    const NAME: &'static str = "Mutex<Vec<u32>>";
    fn new(capacity: usize) -> Self {
        Locked(LockedFreeList::new(capacity))
    }
    fn take(&self) -> u32 {
        self.0.take()
    }
    fn give(&self, index: u32) {
        self.0.give(index);
    }
}

/// Not a pool: a drop-free `thread_local!` pointer to a stack of indices,
/// with no pool to find, no bound to keep and nothing shared; the reference
/// for what a thread cache costs at least. A cache that serves many pools
/// reaches its stack through a pointer, as this one does. Only the
/// single-thread group runs it.
struct TlsStack {
    len: Cell<usize>,
    items: [Cell<u32>; CAPACITY],
}

thread_local! {
    static TLS_STACK: Cell<*const TlsStack> = const { Cell::new(std::ptr::null()) };
}

impl TlsStack {
    const NAME: &'static str = "thread_local! stack (reference, not a pool)";

    /// Makes this thread's stack, full; it lives until the thread exits.
    fn install() {
        let stack = Box::leak(Box::new(TlsStack {
            len: Cell::new(CAPACITY),
            items: std::array::from_fn(|i| Cell::new(i as u32)),
        }));
        TLS_STACK.with(|s| s.set(stack));
    }

    #[inline]
    fn with<R>(f: impl FnOnce(&TlsStack) -> R) -> R {
        // SAFETY: `install` leaked the stack, and only this thread uses it
        // (the pointer is thread-local and `Cell`s are not Sync).
        TLS_STACK.with(|s| f(unsafe { &*s.get() }))
    }

    /// One get+put pair. The index is widened for `black_box`: a 4-byte
    /// value stored into the 8-byte slot that the epilogue reloads whole is
    /// a failed store-to-load forward here, which tripled the time.
    #[inline(never)]
    fn pair() {
        let i = black_box(Self::with(|s| {
            let n = s.len.get() - 1;
            s.len.set(n);
            s.items[n].get()
        }) as u64);
        Self::with(|s| {
            let n = s.len.get();
            s.items[n].set(i as u32);
            s.len.set(n + 1);
        });
    }
}

/// One get+put pair for each contender. iobuf goes through its guard (get,
/// drop), the way users call it. Every contender's pair is one
/// out-of-line call, so inlining choices do not differ between them.
#[inline(never)]
fn pair_iobuf(pool: &BoundedPool<SmallBuffer>) {
    drop(black_box(pool.get()));
}

#[inline(never)]
fn pair<F: FreeList>(list: &F) {
    let i = black_box(list.take());
    list.give(i);
}

/// One thread, get+put of one buffer: the uncontended hot path.
fn single_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool/get_put/threads=1");
    g.throughput(Throughput::Elements(1));
    for (name, pool) in iobuf_variants(CAPACITY) {
        g.bench_function(BenchmarkId::new(name, "Small"), |b| {
            b.iter(|| pair_iobuf(&pool))
        });
    }
    #[cfg(feature = "commonware")]
    {
        let pool = commonware_peer::pool(CAPACITY as u32);
        g.bench_function(BenchmarkId::new(commonware_peer::NAME, "Small"), |b| {
            b.iter(|| commonware_peer::pair(&pool))
        });
    }
    bench_peer::<Array>(&mut g);
    bench_peer::<Scq>(&mut g);
    bench_peer::<Locked>(&mut g);
    TlsStack::install();
    g.bench_function(BenchmarkId::new(TlsStack::NAME, "Small"), |b| {
        b.iter(TlsStack::pair)
    });
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
        for (name, pool) in iobuf_variants(CAPACITY) {
            g.bench_function(BenchmarkId::new(name, "Small"), |b| {
                b.iter_custom(|iters| {
                    on_threads(threads, iters, |n| {
                        for _ in 0..n {
                            pair_iobuf(&pool)
                        }
                    })
                })
            });
        }
        #[cfg(feature = "commonware")]
        {
            let pool = commonware_peer::pool(CAPACITY as u32);
            g.bench_function(BenchmarkId::new(commonware_peer::NAME, "Small"), |b| {
                b.iter_custom(|iters| {
                    on_threads(threads, iters, |n| {
                        for _ in 0..n {
                            commonware_peer::pair(&pool)
                        }
                    })
                })
            });
        }
        contended_peer::<Array>(&mut g, threads, CAPACITY);
        contended_peer::<Scq>(&mut g, threads, CAPACITY);
        contended_peer::<Locked>(&mut g, threads, CAPACITY);
        g.finish();
    }
}

fn contended_peer<F: FreeList>(g: &mut Group<'_>, threads: usize, capacity: usize) {
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
    for (name, pool) in iobuf_variants(2) {
        g.bench_function(BenchmarkId::new(name, "Small"), |b| {
            b.iter_custom(|iters| {
                on_threads(4, iters, |n| {
                    for _ in 0..n {
                        let mut buf = pool.get();
                        buf.0[0] = buf.0[0].wrapping_add(1);
                    }
                })
            })
        });
    }
    contended_peer::<Array>(&mut g, 4, 2);
    contended_peer::<Scq>(&mut g, 4, 2);
    contended_peer::<Locked>(&mut g, 4, 2);
    g.finish();
}

/// A producer thread takes buffers and sends each index through a bounded
/// channel to a consumer thread, which returns it: the shape of a reader
/// task handing filled buffers to a writer. Every buffer crosses threads,
/// so a thread cache never holds what the other side needs. 64 buffers;
/// time is the consumer's, from the common start to its last return, per
/// buffer.
fn pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool/pipeline/capacity=64/threads=2");
    g.throughput(Throughput::Elements(1));
    for (name, pool) in iobuf_variants(64) {
        g.bench_function(BenchmarkId::new(name, "Small"), |b| {
            b.iter_custom(|iters| run_pipeline(iters, || pool.get_index(), |i| pool.put(i)))
        });
    }
    let queue = Array::new(64);
    g.bench_function(BenchmarkId::new(Array::NAME, "Small"), |b| {
        b.iter_custom(|iters| run_pipeline(iters, || queue.take(), |i| queue.give(i)))
    });
    g.finish();
}

/// `iters` items from a producer (`take`) to a consumer (`give`) through a
/// channel of 16; the consumer's time from the common start.
fn run_pipeline<I: Send>(
    iters: u64,
    take: impl Fn() -> I + Sync,
    give: impl Fn(I) + Sync,
) -> std::time::Duration {
    let (tx, rx) = std::sync::mpsc::sync_channel::<I>(16);
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        let (take, barrier) = (&take, &barrier);
        s.spawn(move || {
            barrier.wait();
            for _ in 0..iters {
                tx.send(black_box(take())).unwrap();
            }
        });
        let give = &give;
        let consumer = s.spawn(move || {
            barrier.wait();
            let start = std::time::Instant::now();
            for _ in 0..iters {
                give(rx.recv().unwrap());
            }
            start.elapsed()
        });
        consumer.join().unwrap()
    })
}

/// One thread takes 64 buffers, then returns them: a batch of I/O.
fn batch_64(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool/get64_put64/threads=1");
    g.throughput(Throughput::Elements(64));
    for (name, pool) in iobuf_variants(CAPACITY) {
        g.bench_function(BenchmarkId::new(name, "Small"), |b| {
            let mut held = Vec::with_capacity(64);
            b.iter(|| {
                for _ in 0..64 {
                    held.push(pool.try_get().unwrap());
                }
                black_box(&held);
                held.clear();
            })
        });
    }
    #[cfg(feature = "commonware")]
    {
        let pool = commonware_peer::pool(CAPACITY as u32);
        g.bench_function(BenchmarkId::new(commonware_peer::NAME, "Small"), |b| {
            let mut held = Vec::with_capacity(64);
            b.iter(|| {
                for _ in 0..64 {
                    held.push(commonware_peer::take(&pool));
                }
                black_box(&held);
                held.clear();
            })
        });
    }
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

/// Two threads each taking a buffer, writing all 2 KiB of it, and returning
/// it: a buffer's real work next to the pool's cost. The ArrayQueue peer is
/// a real buffer pool here, a queue of boxed 2 KiB arrays.
fn write_2k(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool/get_write2k_put/threads=2");
    g.throughput(Throughput::Bytes(2048));
    for (name, pool) in iobuf_variants(CAPACITY) {
        g.bench_function(BenchmarkId::new(name, "Small"), |b| {
            b.iter_custom(|iters| {
                on_threads(2, iters, |n| {
                    for i in 0..n {
                        let mut buf = pool.get();
                        buf.0.fill(i as u8);
                        black_box(&buf);
                    }
                })
            })
        });
    }
    #[cfg(feature = "commonware")]
    {
        let pool = commonware_peer::pool(CAPACITY as u32);
        g.bench_function(BenchmarkId::new(commonware_peer::NAME, "Small"), |b| {
            b.iter_custom(|iters| {
                on_threads(2, iters, |n| {
                    for i in 0..n {
                        commonware_peer::write_2k(&pool, i as u8);
                    }
                })
            })
        });
    }
    let queue = ArrayQueue::new(CAPACITY);
    for _ in 0..CAPACITY {
        queue.push(Box::new([0u8; 2048])).unwrap();
    }
    g.bench_function(
        BenchmarkId::new("crossbeam_queue::ArrayQueue<Box<[u8; 2048]>>", "Small"),
        |b| {
            b.iter_custom(|iters| {
                on_threads(2, iters, |n| {
                    for i in 0..n {
                        let mut buf = spin_until_box(&queue);
                        buf.fill(i as u8);
                        black_box(&buf);
                        queue.push(buf).unwrap();
                    }
                })
            })
        },
    );
    g.finish();
}

fn spin_until_box(queue: &ArrayQueue<Box<[u8; 2048]>>) -> Box<[u8; 2048]> {
    let backoff = crossbeam_utils::Backoff::new();
    loop {
        if let Some(b) = queue.pop() {
            return b;
        }
        backoff.snooze();
    }
}

/// How long each wake-up waits asleep before its put: long enough that the
/// waiter is parked for sure, and the same for both contenders.
const ASLEEP_FOR: Duration = Duration::from_micros(300);

/// One wake-up through iobuf: a thread blocks in `get` on the empty pool
/// of one buffer; once it is queued (and then asleep), the buffer is put
/// back. Returns the time from the put to the `get`'s return.
fn iobuf_wakeup(pool: &Arc<BoundedPool<SmallBuffer>>) -> Duration {
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
    std::thread::sleep(ASLEEP_FOR);
    let put = Instant::now();
    drop(held);
    waiter.join().unwrap().saturating_duration_since(put)
}

/// One wake-up through `Mutex<Vec>` + `Condvar`, as `iobuf_wakeup`.
fn condvar_wakeup(locked: &Arc<Locked>) -> Duration {
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
    // No way to see it queued: the same wait, plus the time iobuf's
    // getter spins and yields before it queues.
    std::thread::sleep(ASLEEP_FOR + Duration::from_micros(100));
    let put = Instant::now();
    locked.give(held);
    waiter.join().unwrap().saturating_duration_since(put)
}

/// Latency from a put to the return of a `get` that was asleep waiting for
/// it. Peer: `Mutex<Vec>` + `Condvar`, the standard blocking free list.
///
/// Criterion's means over 20 samples swing with the host's noise (a
/// wake-up of an idle vCPU varies from a few to a hundred microseconds),
/// so the group then prints both contenders' distributions from one
/// untimed run of `WAKEUP_RUNS` wake-ups each, interleaved so that both
/// see the same noise.
fn wakeup(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool/wakeup_latency");
    g.sample_size(20);
    let pool = Arc::new(BoundedPool::<SmallBuffer>::new(1).unwrap());
    g.bench_function(BenchmarkId::new(IOBUF, "sleeping get"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| iobuf_wakeup(&pool)).sum())
    });
    let locked = Arc::new(Locked::new(1));
    g.bench_function(BenchmarkId::new(Locked::NAME, "Condvar wait"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| condvar_wakeup(&locked)).sum())
    });
    g.finish();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..WAKEUP_RUNS {
        ours.push(iobuf_wakeup(&pool));
        theirs.push(condvar_wakeup(&locked));
    }
    print_wakeups(IOBUF, &mut ours);
    print_wakeups(Locked::NAME, &mut theirs);
}

/// Interleaved wake-ups per contender in `wakeup`'s distribution run.
const WAKEUP_RUNS: usize = 300;

fn print_wakeups(name: &str, times: &mut [Duration]) {
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    let mean = times.iter().sum::<Duration>().as_secs_f64() * 1e6 / times.len() as f64;
    println!(
        "wakeups: pool/wakeup_latency/{name}: p10 {:.1} us, p50 {:.1} us, p90 {:.1} us, mean {mean:.1} us, over {} interleaved wake-ups",
        at(0.10),
        at(0.50),
        at(0.90),
        times.len(),
    );
}

criterion_group!(
    benches,
    single_thread,
    contended,
    pipeline,
    write_2k,
    exhaustion,
    batch_64,
    wakeup
);
criterion_main!(benches);
