//! Async and blocking waits: BoundedPool's `get_async`/`get_owned_async`
//! and its blocking `get` against their peers, side by side in each
//! criterion group.
//!
//! Groups:
//! - `async/uncontended`: `get_async` polled once against `try_get`, one
//!   thread, on the same pool (default config and ring only);
//! - `async/not_exhausted` and `async/exhausted`: 64 tokio tasks on a
//!   2-worker runtime, each looping get, `yield_now`, put, on 1024 and on
//!   16 buffers. iobuf runs as `get_owned_async` (an `Arc` pool; also ring
//!   only where that differs) and as `get_async` (borrowing the task's
//!   `Arc`). Peers: a `tokio::sync::Semaphore` in front of an
//!   `ArrayQueue<u32>` of free indices (the idiomatic bounded async pool),
//!   and a bounded `async-channel` pre-filled with the indices (receive =
//!   get, send = put). A `yield_now`-only loop is the runtime's share, for
//!   reference. `async/exhausted` also prints each contender's
//!   distribution of wait times (from a separate, untimed run);
//! - `threads/exhausted/...`: blocking gets on an exhausted pool (ring
//!   only, default config, and a thread cache sized to each thread's
//!   working set), against an `ArrayQueue<u32>` that spins and yields and
//!   a `Mutex<Vec<u32>>` with a `Condvar`.
//!
//! Every group's time is wall time per get+put pair, over all tasks or
//! threads together (the pool's throughput), and the task and thread groups
//! print the process's CPU time per pair (`getrusage`, user + system, all
//! threads, averaged over the contender's samples including warm-up) beside
//! criterion's numbers: a waiter that burns CPU shows there.
//!
//! The peers hold indices, not buffers, which favours them slightly.
//! The wake-up latency of one sleeping `get` against a `Condvar` is in
//! `pool.rs` (`pool/wakeup_latency`), not here.
//!
//! Run: `cargo bench -p iobuf-benches --bench async` (add `-- --quick` for a
//! fast pass). Results are ratios within one run: absolute times drift on
//! shared machines.

use std::future::Future;
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_queue::ArrayQueue;
use iobuf::{BoundedPool, Pooled, SmallBuffer};
use iobuf_benches::{LockedFreeList, on_threads};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

const IOBUF: &str = "iobuf::BoundedPool";
const IOBUF_RING: &str = "iobuf::BoundedPool (ring only)";

/// Tasks in the async groups.
const TASKS: u64 = 64;
/// Tokio worker threads (the cores of a CI machine).
const WORKERS: usize = 2;
/// Get+put pairs per contender in the untimed wait-time run.
const WAIT_RUN_PAIRS: u64 = 200_000;

/// iobuf with its defaults (thread caches on from 64 buffers).
fn iobuf_pool(capacity: usize) -> BoundedPool<SmallBuffer> {
    BoundedPool::new(capacity).unwrap()
}

/// iobuf with thread caches off: every operation goes to the shared ring.
fn iobuf_ring_pool(capacity: usize) -> BoundedPool<SmallBuffer> {
    BoundedPool::with_config(capacity, iobuf::PoolConfig::new().thread_cache(0)).unwrap()
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

// ---------------------------------------------------------------------------
// CPU time

/// The process's CPU time so far, user + system, all threads.
fn cpu_time() -> Duration {
    let mut usage = MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `usage` is valid for writes of one `rusage`, which is all
    // getrusage writes; RUSAGE_SELF is a valid `who`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
    // SAFETY: getrusage returned 0, so it filled in the whole struct.
    let usage = unsafe { usage.assume_init() };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// CPU and wall time summed over one contender's samples (warm-up
/// included), printed after its criterion numbers.
#[derive(Default)]
struct CpuMeter {
    cpu: Duration,
    wall: Duration,
    pairs: u64,
}

impl CpuMeter {
    /// Runs one sample of `pairs` pairs (`run` returns its wall time), and
    /// adds its CPU and wall time.
    fn sample(&mut self, pairs: u64, run: impl FnOnce() -> Duration) -> Duration {
        let before = cpu_time();
        let wall = run();
        self.cpu += cpu_time().saturating_sub(before);
        self.wall += wall;
        self.pairs += pairs;
        wall
    }

    /// One sample of `iters` pairs split over `TASKS` (see `split`):
    /// returns the wall time scaled to `iters`, and adds CPU and wall time
    /// over the pairs actually done.
    fn sample_tasks(&mut self, iters: u64, run: impl FnOnce(u64) -> Duration) -> Duration {
        let before = cpu_time();
        let (wall, done) = split(iters, TASKS, run);
        self.cpu += cpu_time().saturating_sub(before);
        self.wall += wall.mul_f64(done as f64 / iters as f64);
        self.pairs += done;
        wall
    }

    fn report(&self, id: &str) {
        if self.pairs == 0 {
            return; // filtered out
        }
        let per_pair = |d: Duration| d.as_nanos() as f64 / self.pairs as f64;
        println!(
            "cpu: {id}: {:.1} ns CPU per pair, {:.1} ns wall per pair ({:.2} cores busy), over {} pairs",
            per_pair(self.cpu),
            per_pair(self.wall),
            self.cpu.as_secs_f64() / self.wall.as_secs_f64(),
            self.pairs,
        );
    }
}

/// Splits `iters` pairs into `workers` equal shares (rounded up), and
/// scales the wall time `run(share)` took back to `iters` pairs. Returns
/// (scaled wall time, pairs actually done).
fn split(iters: u64, workers: u64, run: impl FnOnce(u64) -> Duration) -> (Duration, u64) {
    let share = iters.div_ceil(workers).max(1);
    let done = share * workers;
    let wall = run(share);
    (wall.mul_f64(iters as f64 / done as f64), done)
}

// ---------------------------------------------------------------------------
// 1. async/uncontended

/// One `get_async` + drop, its future polled once with a no-op waker. The
/// pool is never empty here, so the first poll must be Ready.
#[inline(never)]
fn pair_get_async(pool: &BoundedPool<SmallBuffer>) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut get = pin!(pool.get_async());
    match get.as_mut().poll(&mut cx) {
        Poll::Ready(buf) => drop(black_box(buf)),
        Poll::Pending => panic!("get_async on a pool with free buffers was Pending"),
    }
}

/// One `try_get` + drop: the synchronous fast path on the same pool.
#[inline(never)]
fn pair_try_get(pool: &BoundedPool<SmallBuffer>) {
    drop(black_box(pool.try_get().unwrap()));
}

/// One thread, 1024 buffers, get+put of one buffer: what the async entry
/// point costs over `try_get` when a buffer is free (the future, its first
/// poll, the strike). With both configs: the default hits the thread cache,
/// ring only goes to the shared ring every time. Favours nobody: the same
/// pool, the same thread, only the entry point differs.
fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("async/uncontended");
    g.throughput(Throughput::Elements(1));
    for (config, pool) in [
        ("default", iobuf_pool(1024)),
        ("ring only", iobuf_ring_pool(1024)),
    ] {
        g.bench_function(
            BenchmarkId::new("iobuf get_async (polled once)", config),
            |b| b.iter(|| pair_get_async(&pool)),
        );
        g.bench_function(BenchmarkId::new("iobuf try_get", config), |b| {
            b.iter(|| pair_try_get(&pool))
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------
// 2, 3. Tasks on a tokio runtime

/// A bounded pool a task can wait on; a cheap handle, cloned into each task.
trait AsyncPool: Clone + Send + Sync + 'static {
    /// One pair: get (waiting if need be), `yield_now` while holding the
    /// buffer, put. With `waits`, pushes how long the get took (ns).
    fn pair<'a>(&'a self, waits: Option<&'a mut Vec<u64>>) -> impl Future<Output = ()> + Send + 'a;
}

/// Times the get in `get`, into `waits` when given.
async fn timed<F: Future>(waits: Option<&mut Vec<u64>>, get: F) -> F::Output {
    match waits {
        None => get.await,
        Some(waits) => {
            let start = Instant::now();
            let held = get.await;
            waits.push(start.elapsed().as_nanos() as u64);
            held
        }
    }
}

/// iobuf through `get_owned_async` on an `Arc` pool (a `'static` guard, an
/// `Arc` clone per get).
#[derive(Clone)]
struct IobufOwned(Arc<BoundedPool<SmallBuffer>>);

impl AsyncPool for IobufOwned {
    async fn pair<'a>(&'a self, waits: Option<&'a mut Vec<u64>>) {
        let buf = timed(waits, self.0.get_owned_async()).await;
        tokio::task::yield_now().await;
        drop(black_box(buf));
    }
}

/// iobuf through `get_async`, borrowing the pool the task holds (no `Arc`
/// traffic per get).
#[derive(Clone)]
struct IobufBorrowed(Arc<BoundedPool<SmallBuffer>>);

impl AsyncPool for IobufBorrowed {
    async fn pair<'a>(&'a self, waits: Option<&'a mut Vec<u64>>) {
        let buf: Pooled<'_, SmallBuffer> = timed(waits, self.0.get_async()).await;
        tokio::task::yield_now().await;
        drop(black_box(buf));
    }
}

/// The idiomatic bounded async pool: a permit per buffer, then a free
/// index from a lock-free queue (a permit guarantees one is there). The
/// index goes back before the permit.
#[derive(Clone)]
struct SemaphoreQueue(Arc<(Semaphore, ArrayQueue<u32>)>);

impl SemaphoreQueue {
    const NAME: &'static str = "tokio::sync::Semaphore + ArrayQueue";

    fn new(capacity: usize) -> Self {
        let queue = ArrayQueue::new(capacity);
        for i in 0..capacity as u32 {
            queue.push(i).unwrap();
        }
        SemaphoreQueue(Arc::new((Semaphore::new(capacity), queue)))
    }
}

impl AsyncPool for SemaphoreQueue {
    async fn pair<'a>(&'a self, waits: Option<&'a mut Vec<u64>>) {
        let (semaphore, queue) = &*self.0;
        let (permit, index) = timed(waits, async {
            let permit = semaphore.acquire().await.unwrap();
            (
                permit,
                queue.pop().expect("a permit guarantees a free index"),
            )
        })
        .await;
        tokio::task::yield_now().await;
        queue.push(black_box(index)).unwrap();
        drop(permit);
    }
}

/// A bounded channel of free indices as the pool: receive = get, send =
/// put (never full: it holds at most `capacity` indices).
#[derive(Clone)]
struct Channel(async_channel::Sender<u32>, async_channel::Receiver<u32>);

impl Channel {
    const NAME: &'static str = "async_channel::bounded";

    fn new(capacity: usize) -> Self {
        let (tx, rx) = async_channel::bounded(capacity);
        for i in 0..capacity as u32 {
            tx.try_send(i).unwrap();
        }
        Channel(tx, rx)
    }
}

impl AsyncPool for Channel {
    async fn pair<'a>(&'a self, waits: Option<&'a mut Vec<u64>>) {
        let index = timed(waits, self.1.recv()).await.unwrap();
        tokio::task::yield_now().await;
        self.0.send(black_box(index)).await.unwrap();
    }
}

/// Not a pool: the task loop with no get and no put, only the
/// `yield_now` (and, in the wait-time run, the two clock reads). The
/// runtime's share of every contender's time per pair: what no pool can
/// go below in this harness.
#[derive(Clone)]
struct NoPool;

impl NoPool {
    const NAME: &'static str = "yield_now only (reference, not a pool)";
}

impl AsyncPool for NoPool {
    async fn pair<'a>(&'a self, waits: Option<&'a mut Vec<u64>>) {
        timed(waits, async {}).await;
        tokio::task::yield_now().await;
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .unwrap()
}

/// Spawns `TASKS` tasks each doing `per_task` pairs, and waits for all;
/// returns the wall time from the first spawn to the last task's end.
fn run_tasks<P: AsyncPool>(rt: &Runtime, pool: &P, per_task: u64) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        pool.pair(None).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        start.elapsed()
    })
}

/// As `run_tasks`, untimed, `pairs` in all, recording each get's wait;
/// returns all the waits (ns), sorted.
fn wait_times<P: AsyncPool>(rt: &Runtime, pool: &P, pairs: u64) -> Vec<u64> {
    let per_task = pairs.div_ceil(TASKS);
    let mut waits: Vec<u64> = rt.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    let mut waits = Vec::with_capacity(per_task as usize);
                    for _ in 0..per_task {
                        pool.pair(Some(&mut waits)).await;
                    }
                    waits
                })
            })
            .collect();
        let mut all = Vec::with_capacity((per_task * TASKS) as usize);
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all
    });
    waits.sort_unstable();
    waits
}

/// Prints the distribution of `waits` (sorted, ns): from just before a
/// get to the task's having the buffer, so a parked get's time includes
/// its wake-up and the wait for a worker to poll it.
fn print_waits(id: &str, waits: &[u64]) {
    let at = |q: f64| waits[((waits.len() - 1) as f64 * q).round() as usize];
    let mean = waits.iter().sum::<u64>() as f64 / waits.len() as f64;
    println!(
        "waits: {id}: p50 {} ns, p90 {} ns, p99 {} ns, p99.9 {} ns, max {} ns, mean {:.0} ns, over {} gets",
        at(0.50),
        at(0.90),
        at(0.99),
        at(0.999),
        waits[waits.len() - 1],
        mean,
        waits.len(),
    );
}

/// 64 tasks on 2 tokio workers sharing 1024 buffers, each looping get,
/// `yield_now` (holding the buffer across a scheduling point, as a task
/// holding a buffer over an I/O would), put. Never exhausted: at most 64
/// are out. Measures the async fast path under two-thread contention plus
/// the runtime's task switches, which every contender pays alike. Favours
/// the peers slightly (they hold indices, not buffers).
fn not_exhausted(c: &mut Criterion) {
    task_group(c, "async/not_exhausted", 1024, false);
}

/// As `async/not_exhausted` with 16 buffers for the 64 tasks: most gets
/// find the pool empty and park, so this measures the wait queue's
/// hand-off and wake-up, and how fair it is (the printed wait times).
/// iobuf's default and ring-only configs are the same pool here (thread
/// caches start at 64 buffers).
fn exhausted(c: &mut Criterion) {
    task_group(c, "async/exhausted", 16, true);
}

fn task_group(c: &mut Criterion, group: &str, capacity: usize, wait_run: bool) {
    let rt = runtime();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    let mut tasks = Tasks {
        g: &mut g,
        rt: &rt,
        group,
        wait_run,
    };
    // iobuf's get_owned_async with the default config, and ring only where
    // that differs (thread caches start at 64 buffers); then get_async.
    let pool = || Arc::new(iobuf_pool(capacity));
    tasks.run(&format!("{IOBUF} get_owned_async"), IobufOwned(pool()));
    if pool().thread_cache_capacity() != 0 {
        let ring = Arc::new(iobuf_ring_pool(capacity));
        tasks.run(&format!("{IOBUF_RING} get_owned_async"), IobufOwned(ring));
    }
    tasks.run(&format!("{IOBUF} get_async"), IobufBorrowed(pool()));
    tasks.run(SemaphoreQueue::NAME, SemaphoreQueue::new(capacity));
    tasks.run(Channel::NAME, Channel::new(capacity));
    tasks.run(NoPool::NAME, NoPool);
    g.finish();
}

/// A task group being benchmarked.
struct Tasks<'g, 'c> {
    g: &'g mut Group<'c>,
    rt: &'g Runtime,
    group: &'g str,
    wait_run: bool,
}

impl Tasks<'_, '_> {
    /// One contender: criterion's wall time per pair, then its CPU per
    /// pair; in a wait-run group, then a separate untimed run of
    /// `WAIT_RUN_PAIRS` pairs and its wait-time distribution (only if the
    /// contender was not filtered out).
    fn run<P: AsyncPool>(&mut self, name: &str, pool: P) {
        let rt = self.rt;
        let param = format!("tasks={TASKS}");
        let mut meter = CpuMeter::default();
        self.g.bench_function(BenchmarkId::new(name, &param), |b| {
            b.iter_custom(|iters| {
                meter.sample_tasks(iters, |per_task| run_tasks(rt, &pool, per_task))
            })
        });
        let id = format!("{}/{name}/{param}", self.group);
        meter.report(&id);
        if self.wait_run && meter.pairs != 0 {
            print_waits(&id, &wait_times(rt, &pool, WAIT_RUN_PAIRS));
        }
    }
}

// ---------------------------------------------------------------------------
// 4. threads/exhausted

/// A blocking free list: `take` waits until a buffer is free.
trait Blocking: Sync {
    type Held<'a>
    where
        Self: 'a;
    fn take(&self) -> Self::Held<'_>;
    fn give<'a>(&'a self, held: Self::Held<'a>);
}

/// iobuf's blocking `get`: strike, spin, yield for a while, then park in
/// the FIFO queue.
impl Blocking for BoundedPool<SmallBuffer> {
    type Held<'a> = Pooled<'a, SmallBuffer>;
    fn take(&self) -> Pooled<'_, SmallBuffer> {
        self.get()
    }
    fn give<'a>(&'a self, held: Pooled<'a, SmallBuffer>) {
        drop(held);
    }
}

/// `ArrayQueue<u32>` of free indices; an empty pop spins a little
/// (`spin_loop`), then yields the thread (`std::thread::yield_now`) on
/// every further miss until a pop succeeds. Never sleeps.
struct SpinYield(ArrayQueue<u32>);

impl SpinYield {
    const NAME: &'static str = "ArrayQueue<u32> spin+yield";
    const SPINS: u32 = 16;

    fn new(capacity: usize) -> Self {
        let queue = ArrayQueue::new(capacity);
        for i in 0..capacity as u32 {
            queue.push(i).unwrap();
        }
        SpinYield(queue)
    }
}

impl Blocking for SpinYield {
    type Held<'a> = u32;
    fn take(&self) -> u32 {
        let mut misses = 0;
        loop {
            if let Some(i) = self.0.pop() {
                return i;
            }
            if misses < Self::SPINS {
                misses += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
    fn give(&self, index: u32) {
        self.0.push(index).unwrap();
    }
}

/// The lock-based peer (`iobuf_benches::LockedFreeList`).
struct Locked(LockedFreeList);

impl Locked {
    const NAME: &'static str = "Mutex<Vec<u32>> + Condvar";

    fn new(capacity: usize) -> Self {
        Locked(LockedFreeList::new(capacity))
    }
}

impl Blocking for Locked {
    type Held<'a> = u32;
    fn take(&self) -> u32 {
        self.0.take()
    }
    fn give(&self, index: u32) {
        self.0.give(index);
    }
}

/// A thread-workload shape: how many threads, and how many buffers each
/// holds at once before returning them all.
#[derive(Clone, Copy)]
struct Shape {
    capacity: usize,
    threads: usize,
    batch: usize,
}

/// One thread's share of the pairs, in rounds of `batch` gets then
/// `batch` puts.
fn thread_loop<B: Blocking>(pool: &B, pairs: u64, batch: usize) {
    let mut held = Vec::with_capacity(batch);
    for _ in 0..pairs.div_ceil(batch as u64) {
        for _ in 0..batch {
            held.push(pool.take());
        }
        black_box(&held);
        for h in held.drain(..) {
            pool.give(h);
        }
    }
}

fn bench_threads<B: Blocking>(g: &mut Group<'_>, group: &str, name: &str, pool: B, shape: Shape) {
    let Shape { threads, batch, .. } = shape;
    let mut meter = CpuMeter::default();
    g.bench_function(BenchmarkId::new(name, format!("threads={threads}")), |b| {
        b.iter_custom(|iters| {
            // Shares rounded up to whole rounds of `batch`.
            let share = iters.div_ceil(threads as u64).div_ceil(batch as u64) * batch as u64;
            let done = share * threads as u64;
            let wall = meter.sample(done, || {
                on_threads(threads, share, |n| thread_loop(&pool, n, batch))
            });
            wall.mul_f64(iters as f64 / done as f64)
        })
    });
    meter.report(&format!("{group}/{name}/threads={threads}"));
}

/// Blocking gets on an exhausted pool, two shapes:
/// - capacity 2, 4 threads each looping get/put: at any time two threads
///   hold a buffer and two wait, so nearly every get waits a few hundred
///   nanoseconds. Favours spinners (ArrayQueue) on wall time: the next
///   return is always imminent, and a yield is cheaper than a park.
/// - capacity 64, 8 threads each taking 8 then returning 8: the pool is
///   exactly used up when all hold their 8, so gets wait for another
///   thread's batch to come back; iobuf's default config also has to get
///   back what thread caches (4 buffers each here) keep.
///
/// iobuf runs ring only, with its default config (ring only below 64
/// buffers; a 4-buffer cache per thread at 64), and with a thread cache
/// that holds each thread's working set (`batch`).
///
/// Time is per get+put pair over all threads; the printed CPU per pair
/// shows what the waiting costs (a spinner's wall time is cheap, its CPU
/// is not; a sleeper's is the other way round).
fn threads_exhausted(c: &mut Criterion) {
    for shape in [
        Shape {
            capacity: 2,
            threads: 4,
            batch: 1,
        },
        Shape {
            capacity: 64,
            threads: 8,
            batch: 8,
        },
    ] {
        let group = format!(
            "threads/exhausted/capacity={}/batch={}",
            shape.capacity, shape.batch
        );
        let mut g = c.benchmark_group(&group);
        g.throughput(Throughput::Elements(1));
        bench_threads(
            &mut g,
            &group,
            IOBUF_RING,
            iobuf_ring_pool(shape.capacity),
            shape,
        );
        bench_threads(&mut g, &group, IOBUF, iobuf_pool(shape.capacity), shape);
        // The same pool with a thread cache that holds each thread's
        // working set (`batch` buffers): the configuration the
        // `PoolConfig::thread_cache` docs recommend for threads that both
        // get and return, measured beside the defaults.
        let fitted = BoundedPool::with_config(
            shape.capacity,
            iobuf::PoolConfig::new().thread_cache(shape.batch),
        )
        .unwrap();
        bench_threads(
            &mut g,
            &group,
            &format!("{IOBUF} (thread_cache={})", shape.batch),
            fitted,
            shape,
        );
        bench_threads(
            &mut g,
            &group,
            SpinYield::NAME,
            SpinYield::new(shape.capacity),
            shape,
        );
        bench_threads(
            &mut g,
            &group,
            Locked::NAME,
            Locked::new(shape.capacity),
            shape,
        );
        g.finish();
    }
}

criterion_group!(
    benches,
    uncontended,
    not_exhausted,
    exhausted,
    threads_exhausted
);
criterion_main!(benches);
