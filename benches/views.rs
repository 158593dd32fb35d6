//! iobuf's zero-copy shared views (`iobuf::shared::{SplitBuf, View}`)
//! against `bytes::BytesMut::split_to` + `freeze`, side by side in each
//! criterion group.
//!
//! Both sides cut frozen frames off the front of one 128 KiB buffer that a
//! "read" filled: iobuf's buffer comes from a `LargeBufferPool` of 64 (so
//! its thread cache is on, as in a server's pool), `bytes`' from one
//! `BytesMut::with_capacity(128 KiB)` that is `reserve`d back to that
//! capacity when it runs out. A cut, a clone and a drop are one atomic
//! read-modify-write each on both sides; what differs is the code around
//! them (`Bytes` clones and drops through its vtable, a `View` inline),
//! what a refill costs (a pool get against a reclaim or a fresh
//! allocation), and the handles' sizes (a `View` is 48 bytes, a `Bytes`
//! 32).
//!
//! Groups:
//! - `views/split_freeze_clone_drop/N`: one frame of N bytes per iteration
//!   (cut, clone once, drop both), the refill amortised over the frames of
//!   a buffer;
//! - `views/many_frames_per_read`: one read per iteration, cut into frames
//!   of mixed sizes, the last 8 frames kept alive across reads (so `bytes`
//!   cannot reclaim its allocation);
//! - `views/clone_drop_across_threads/N`: frames cut and cloned on one
//!   thread, the clones dropped on another.
//!
//! Each group also runs a reference that does the same refills (the
//! 128 KiB copy) and nothing else: subtract it to see the views' own cost,
//! which the copy hides at large frame sizes.
//!
//! After criterion's three measurements of a comparison, the same three
//! loops run again interleaved, batch by batch, and one `interleaved:`
//! line prints their medians per frame and the ratio bytes/iobuf (see
//! `compare`): on a shared machine, that ratio holds still where
//! criterion's, taken seconds apart, does not.
//!
//! Run: `cargo bench -p iobuf-benches --bench views` (add `-- --quick` for
//! a fast pass). Results are ratios within one run: absolute times drift on
//! shared machines.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_queue::ArrayQueue;
use iobuf::LargeBufferPool;
use iobuf::shared::{SplitBuf, View};

/// One buffer: a `LargeBuffer`, and the capacity the `BytesMut` is kept at.
const CAP: usize = iobuf::BUFFER_SIZE_LARGE;

/// Buffers in iobuf's pool: the smallest capacity that gets a thread cache
/// by default, so that gets and puts take the path a server's pool takes.
const POOL_CAPACITY: usize = 64;

/// Frame sizes of the single-size groups: a small header-only message, an
/// Ethernet MTU, and a large record.
const FRAME_SIZES: [usize; 3] = [64, 1500, 16384];

/// A buffer being filled by reads and cut into frozen frames: what each
/// contender does, so that one generic loop drives all of them.
trait Reader: Sized + Send {
    /// The name in the benchmark id.
    const NAME: &'static str;
    /// A frozen frame: a handle that can be cloned and sent to another
    /// thread.
    type Frame: Clone + Send;

    /// A reader holding one buffer, empty.
    fn new() -> Self;
    /// Filled bytes not cut off yet.
    fn len(&self) -> usize;
    /// Gives up the current buffer (its uncut rest included) and fills a
    /// whole one from `src`, as one read would. By value, so that iobuf's
    /// writer can be dropped before the next get, as `bytes`' reclaim sees
    /// its frames gone before it reuses the allocation.
    fn refill(self, src: &[u8]) -> Self;
    /// Freezes the first `n` filled bytes into a frame.
    fn cut(&mut self, n: usize) -> Self::Frame;
}

struct IobufReader {
    pool: Arc<LargeBufferPool>,
    buf: SplitBuf,
}

impl Reader for IobufReader {
    const NAME: &'static str = "iobuf::shared::View";
    type Frame = View;

    fn new() -> Self {
        let pool = Arc::new(LargeBufferPool::new(POOL_CAPACITY).unwrap());
        let buf = SplitBuf::from(pool.get_owned());
        IobufReader { pool, buf }
    }

    fn len(&self) -> usize {
        self.buf.len()
    }

    fn refill(self, src: &[u8]) -> Self {
        let IobufReader { pool, buf } = self;
        // Dropped first: when no frame holds it, the buffer goes back to
        // this thread's cache before the get below, which can then hand
        // the same (warm) one back, as `bytes`' reclaim reuses its
        // allocation.
        drop(buf);
        let mut buf = SplitBuf::from(pool.get_owned());
        buf.extend_from_slice(&src[..buf.remaining_capacity()]);
        IobufReader { pool, buf }
    }

    fn cut(&mut self, n: usize) -> View {
        self.buf.split_to(n)
    }
}

struct BytesReader(BytesMut);

impl Reader for BytesReader {
    const NAME: &'static str = "bytes::BytesMut split_to+freeze";
    type Frame = Bytes;

    fn new() -> Self {
        BytesReader(BytesMut::with_capacity(CAP))
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn refill(mut self, src: &[u8]) -> Self {
        // The uncut rest is discarded, as iobuf's is with its writer; then
        // `reserve` reclaims the allocation in place if no frame holds it,
        // and allocates a new one if some frame does.
        self.0.clear();
        self.0.reserve(CAP);
        self.0.extend_from_slice(&src[..CAP]);
        self
    }

    fn cut(&mut self, n: usize) -> Bytes {
        self.0.split_to(n).freeze()
    }
}

/// Not a contender: the refills alone (a 128 KiB copy into one reused
/// buffer, at the same points of the loop), with frames that are nothing.
/// What the contenders' times hold besides the views themselves.
struct CopyOnly {
    buf: Box<[u8]>,
    len: usize,
}

impl Reader for CopyOnly {
    const NAME: &'static str = "reference: refill copy only";
    type Frame = ();

    fn new() -> Self {
        CopyOnly {
            buf: vec![0; CAP].into_boxed_slice(),
            len: 0,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn refill(mut self, src: &[u8]) -> Self {
        self.buf.copy_from_slice(&src[..CAP]);
        black_box(&self.buf);
        self.len = CAP;
        self
    }

    fn cut(&mut self, n: usize) {
        self.len -= n;
    }
}

/// What the reads copy in: not all zeroes, so nothing is special-cased.
fn source() -> Vec<u8> {
    (0..CAP).map(|i| (i * 31 + 7) as u8).collect()
}

/// A reader that persists across criterion's calls of one benchmark (so
/// the refills stay amortised exactly over the frames), moved in and out
/// because `refill` takes it by value.
struct Slot<R>(Option<R>);

impl<R: Reader> Slot<R> {
    fn new() -> Self {
        Slot(Some(R::new()))
    }

    fn with<T>(&mut self, f: impl FnOnce(&mut R) -> T) -> T {
        let reader = self
            .0
            .as_mut()
            .expect("the slot is refilled after each use");
        f(reader)
    }

    fn refill(&mut self, src: &[u8]) {
        let reader = self.0.take().expect("the slot is refilled after each use");
        self.0 = Some(reader.refill(src));
    }
}

/// One frame: cut, cloned once, both dropped; the refill when the buffer
/// has too little left. Out of line, so that both contenders' loops are
/// shaped alike whatever the inliner decides.
#[inline(never)]
fn frame_clone_drop<R: Reader>(slot: &mut Slot<R>, src: &[u8], n: usize) {
    if slot.with(|r| r.len()) < n {
        slot.refill(src);
    }
    // Through `black_box`, so that neither handle can be elided or its
    // count updates merged: both are built, and both are dropped.
    let frame = black_box(slot.with(|r| r.cut(n)));
    let copy = black_box(frame.clone());
    drop(copy);
    drop(frame);
}

/// Runs of `frame_clone_drop`, timed as one.
fn run_frames<R: Reader>(slot: &mut Slot<R>, src: &[u8], n: usize, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        frame_clone_drop(slot, src, n);
    }
    start.elapsed()
}

/// Per-frame cost of cut + clone + drop of both, at three frame sizes.
///
/// The refill runs inside the timed loop, once per `CAP / N` frames, with
/// the reader kept across iterations and samples: every frame pays its
/// exact share of one refill, on both sides alike (`iter_custom`, so that
/// nothing but the loop is timed). All frames are dropped by the time the
/// writer runs out, so iobuf's get takes back the buffer its writer just
/// returned and `bytes`' `reserve` reclaims its allocation: neither
/// allocates in steady state.
fn split_freeze_clone_drop(c: &mut Criterion) {
    let group = "views/split_freeze_clone_drop";
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    let src = source();
    for n in FRAME_SIZES {
        let (mut ours, mut theirs, mut copy) = (Slot::new(), Slot::new(), Slot::new());
        // Whole buffers per interleaved batch, so that each batch holds
        // the same number of refills; about 16 Ki frames.
        let per_buffer = (CAP / n) as u64;
        let batch = per_buffer * 16384u64.div_ceil(per_buffer);
        compare(
            &mut g,
            group,
            n,
            Per { batch, frames: 1 },
            [
                (IobufReader::NAME, &mut |i| {
                    run_frames::<IobufReader>(&mut ours, &src, n, i)
                }),
                (BytesReader::NAME, &mut |i| {
                    run_frames::<BytesReader>(&mut theirs, &src, n, i)
                }),
                (CopyOnly::NAME, &mut |i| {
                    run_frames::<CopyOnly>(&mut copy, &src, n, i)
                }),
            ],
        );
    }
    g.finish();
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Each contender as "time this many iterations": iobuf, `bytes`, then the
/// reference.
type Runs<'a> = [(&'static str, &'a mut dyn FnMut(u64) -> Duration); 3];

/// How the interleaved pass of `compare` counts.
struct Per {
    /// Iterations per timed batch.
    batch: u64,
    /// Frames per iteration (to print time per frame).
    frames: u64,
}

/// Rounds of each interleaved pass (odd, for a median).
const ROUNDS: usize = 101;

/// Benchmarks the three contenders with criterion, then times them again,
/// interleaved: `ROUNDS` rounds of one batch of each in turn, and prints
/// each one's median and 10th percentile per frame, and the ratio of the
/// medians.
///
/// Criterion measures each contender for seconds after the other, so on a
/// shared 2-core machine a burst of someone else's work lands on one of
/// them and moves the ratio by tens of percent; interleaved batches see the
/// same noise, and the median drops the bursts.
fn compare(
    g: &mut Group<'_>,
    group: &str,
    param: impl std::fmt::Display,
    per: Per,
    mut runs: Runs<'_>,
) {
    let param = param.to_string();
    let mut measured = [0u64; 3];
    for ((name, run), measured) in runs.iter_mut().zip(&mut measured) {
        g.bench_function(BenchmarkId::new(*name, &param), |b| {
            b.iter_custom(|iters| {
                *measured += iters;
                run(iters)
            })
        });
    }
    // Only after a real measurement of all three: not when a filter left
    // some out, in `cargo test`'s single pass, or while profiling one.
    let profiling = std::env::args().any(|a| a == "--profile-time");
    if profiling || measured.iter().any(|&iters| iters <= 1) {
        return;
    }
    let mut times: [Vec<f64>; 3] = Default::default();
    for round in 0..=ROUNDS {
        for ((_, run), times) in runs.iter_mut().zip(&mut times) {
            let t = run(per.batch);
            // Round 0 warms the caches and the branch predictors.
            if round > 0 {
                times.push(t.as_secs_f64() * 1e9 / (per.batch * per.frames) as f64);
            }
        }
    }
    let mut line = format!("interleaved: {group}/{param}:");
    let mut p50 = [0.0; 3];
    for (((name, _), times), p50) in runs.iter().zip(&mut times).zip(&mut p50) {
        times.sort_unstable_by(f64::total_cmp);
        *p50 = times[times.len() / 2];
        let p10 = times[times.len() / 10];
        line += &format!(" {name} p50 {p50:.2} ns, p10 {p10:.2} ns;");
    }
    let [ours, theirs, copy] = p50;
    println!(
        "{line} bytes/iobuf {:.2}x, less the reference {:.2}x (per frame, {ROUNDS} rounds of {} frames)",
        theirs / ours,
        (theirs - copy) / (ours - copy),
        per.batch * per.frames,
    );
}

/// Frame sizes of `many_frames_per_read`, cycled in this order: mostly
/// small messages with a few large records between them (a fixed list, so
/// that every run and every contender cuts the same frames).
const MIXED_SIZES: [usize; 16] = [
    64, 1500, 16384, 128, 4096, 64, 9000, 512, 1500, 64, 2048, 256, 8192, 64, 1500, 700,
];

/// Frames kept alive: a consumer that still holds the last few frames (a
/// pipeline of requests in flight) when the next read comes in.
const HELD: usize = 8;

/// The frames of one read: `MIXED_SIZES` cycled while they fit in a
/// buffer. The same every read (the rest is discarded at the refill, on
/// both sides), so every iteration does the same work.
fn read_plan() -> Vec<usize> {
    let mut plan = Vec::new();
    let mut used = 0;
    for n in MIXED_SIZES.iter().copied().cycle() {
        if used + n > CAP {
            break;
        }
        used += n;
        plan.push(n);
    }
    plan
}

/// A reader and the frames it still holds.
struct ReadState<R: Reader> {
    slot: Slot<R>,
    held: VecDeque<R::Frame>,
}

impl<R: Reader> ReadState<R> {
    fn new() -> Self {
        ReadState {
            slot: Slot::new(),
            held: VecDeque::with_capacity(HELD),
        }
    }

    /// `iters` reads, timed as one.
    fn run(&mut self, src: &[u8], plan: &[usize], iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            read_and_cut(&mut self.slot, src, plan, &mut self.held);
        }
        start.elapsed()
    }
}

/// One read: a refill, then every frame of `plan` cut off and queued in
/// `held`, the oldest dropped once `HELD` are queued.
#[inline(never)]
fn read_and_cut<R: Reader>(
    slot: &mut Slot<R>,
    src: &[u8],
    plan: &[usize],
    held: &mut VecDeque<R::Frame>,
) {
    slot.refill(src);
    slot.with(|r| {
        for &n in plan {
            if held.len() == HELD {
                drop(held.pop_front());
            }
            held.push_back(black_box(r.cut(n)));
        }
    });
}

/// Reads per interleaved batch of `many_frames_per_read` (about 11 Ki
/// frames).
const READS_PER_BATCH: u64 = 256;

/// The frame reader's pattern: one read fills a whole 128 KiB buffer, which
/// is then cut into frames of mixed sizes; each frame lives until `HELD`
/// newer ones exist, so the last frames of a read outlive it. Criterion's
/// time is per read, its throughput in frames; the interleaved line is per
/// frame.
///
/// This is where the two differ most: when a read comes in, frames of the
/// previous one still hold its buffer, so `BytesMut::reserve` cannot
/// reclaim it and allocates a new 128 KiB vector (and the first split of
/// it allocates its shared header), while iobuf takes another buffer from
/// the pool, and the old one goes back when its last frame drops.
fn many_frames_per_read(c: &mut Criterion) {
    let plan = read_plan();
    let group = "views/many_frames_per_read";
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(plan.len() as u64));
    let src = source();
    let mut ours = ReadState::<IobufReader>::new();
    let mut theirs = ReadState::<BytesReader>::new();
    let mut copy = ReadState::<CopyOnly>::new();
    compare(
        &mut g,
        group,
        format!("{} frames of 64..16384 B/read", plan.len()),
        Per {
            batch: READS_PER_BATCH,
            frames: plan.len() as u64,
        },
        [
            (IobufReader::NAME, &mut |i| ours.run(&src, &plan, i)),
            (BytesReader::NAME, &mut |i| theirs.run(&src, &plan, i)),
            (CopyOnly::NAME, &mut |i| copy.run(&src, &plan, i)),
        ],
    );
    g.finish();
}

/// Frames in flight between the two threads of
/// `clone_drop_across_threads`: at 1500 B, about one buffer's worth.
const IN_FLIGHT: usize = 64;

/// Frame size of `clone_drop_across_threads`.
const CROSS_FRAME: usize = 1500;

/// A reader thread cuts each frame, sends a clone to a second thread
/// through a bounded `ArrayQueue`, and drops its own handle; the second
/// thread drops the clones. Each frame's count is thus touched by both
/// threads, and the buffer's last share (which sends it home, or frees
/// `bytes`' allocation) mostly drops on the second thread. The frames in
/// the queue still hold the current buffer when the reader refills, so
/// `bytes` allocates a new one each time, as in `many_frames_per_read`.
/// Time is the dropping thread's, from the common start to its last drop,
/// per frame.
///
/// Both sides wait on a full or empty queue by spinning and yielding
/// (crossbeam's `Backoff`); on 2 cores that wait is part of what is
/// measured, alike for both.
fn clone_drop_across_threads(c: &mut Criterion) {
    let group = "views/clone_drop_across_threads";
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    let src = source();
    let (mut ours, mut theirs, mut copy) = (Slot::new(), Slot::new(), Slot::new());
    let (our_queue, their_queue, copy_queue) = (
        ArrayQueue::new(IN_FLIGHT),
        ArrayQueue::new(IN_FLIGHT),
        ArrayQueue::new(IN_FLIGHT),
    );
    compare(
        &mut g,
        group,
        CROSS_FRAME,
        Per {
            batch: 16384,
            frames: 1,
        },
        [
            (IobufReader::NAME, &mut |i| {
                cross_threads::<IobufReader>(&mut ours, &src, &our_queue, i)
            }),
            (BytesReader::NAME, &mut |i| {
                cross_threads::<BytesReader>(&mut theirs, &src, &their_queue, i)
            }),
            (CopyOnly::NAME, &mut |i| {
                cross_threads::<CopyOnly>(&mut copy, &src, &copy_queue, i)
            }),
        ],
    );
    g.finish();
}

fn cross_threads<R: Reader>(
    slot: &mut Slot<R>,
    src: &[u8],
    queue: &ArrayQueue<R::Frame>,
    iters: u64,
) -> Duration {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let barrier = &barrier;
        s.spawn(move || {
            barrier.wait();
            for _ in 0..iters {
                if slot.with(|r| r.len()) < CROSS_FRAME {
                    slot.refill(src);
                }
                let frame = slot.with(|r| r.cut(CROSS_FRAME));
                let mut copy = black_box(frame.clone());
                let backoff = crossbeam_utils::Backoff::new();
                while let Err(back) = queue.push(copy) {
                    copy = back;
                    backoff.snooze();
                }
                drop(black_box(frame));
            }
        });
        barrier.wait();
        let start = Instant::now();
        for _ in 0..iters {
            let backoff = crossbeam_utils::Backoff::new();
            loop {
                if let Some(frame) = queue.pop() {
                    drop(black_box(frame));
                    break;
                }
                backoff.snooze();
            }
        }
        start.elapsed()
    })
}

criterion_group!(
    benches,
    split_freeze_clone_drop,
    many_frames_per_read,
    clone_drop_across_threads
);
criterion_main!(benches);
