//! A driver for the CPU cost of a queued async wait, as
//! `async/exhausted` in `benches/async.rs` runs it but on a current-thread
//! runtime, so that one thread's CPU time is the whole cost and a minimum
//! over blocks filters out a shared machine's noise: `TASKS` tasks loop
//! get, `yield_now`, put on `CAPACITY` buffers, so nearly every get waits.
//!
//! `waits MODE BLOCKS PAIRS [WORKERS]` runs BLOCKS blocks of PAIRS get+put
//! pairs of MODE (`iobuf`: `get_async` on a `BoundedPool`; `sem`: a tokio
//! `Semaphore` in front of an `ArrayQueue<u32>`), and prints the minimum
//! and median thread CPU time per pair. With WORKERS (2 or more), the
//! tasks run on a multi-thread runtime of that many workers instead, as
//! in the criterion group, and it prints wall time per pair (the minimum
//! over many short blocks is the least disturbed one). Also a driver for
//! callgrind:
//!
//! ```text
//! cargo build --release -p iobuf-benches --example waits
//! target/release/examples/waits iobuf 15 200000
//! target/release/examples/waits sem 15 200000
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use iobuf::{BoundedPool, SmallBuffer};
use tokio::sync::Semaphore;

const TASKS: u64 = 64;
const CAPACITY: usize = 16;

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is valid for writes of one `timespec`;
    // CLOCK_THREAD_CPUTIME_ID is a valid clock.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime: {}", std::io::Error::last_os_error());
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One block: `pairs` pairs over `TASKS` tasks; CPU ns per pair on a
/// current-thread runtime, wall ns per pair on a multi-thread one.
fn block<F, Fut>(rt: &tokio::runtime::Runtime, workers: usize, pairs: u64, task: F) -> f64
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let share = pairs / TASKS;
    let done = (share * TASKS) as f64;
    if workers > 1 {
        let start = std::time::Instant::now();
        rt.block_on(async {
            let tasks: Vec<_> = (0..TASKS).map(|_| tokio::spawn(task(share))).collect();
            for t in tasks {
                t.await.expect("a task");
            }
        });
        return start.elapsed().as_nanos() as f64 / done;
    }
    let before = thread_cpu();
    rt.block_on(async {
        let local = tokio::task::LocalSet::new();
        for _ in 0..TASKS {
            local.spawn_local(task(share));
        }
        local.await;
    });
    (thread_cpu() - before).as_nanos() as f64 / done
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().expect("MODE: iobuf or sem");
    let blocks: usize = args.next().map_or(15, |a| a.parse().expect("BLOCKS"));
    let pairs: u64 = args.next().map_or(200_000, |a| a.parse().expect("PAIRS"));
    let workers: usize = args.next().map_or(1, |a| a.parse().expect("WORKERS"));
    let rt = if workers > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread().build()
    }
    .expect("a runtime");
    let mut times: Vec<f64> = match mode.as_str() {
        "iobuf" => {
            let pool = Arc::new(BoundedPool::<SmallBuffer>::new(CAPACITY).unwrap());
            (0..blocks)
                .map(|_| {
                    block(&rt, workers, pairs, |n| {
                        let pool = pool.clone();
                        async move {
                            for _ in 0..n {
                                let buf = pool.get_async().await;
                                tokio::task::yield_now().await;
                                drop(black_box(buf));
                            }
                        }
                    })
                })
                .collect()
        }
        "sem" => {
            let queue = ArrayQueue::new(CAPACITY);
            for i in 0..CAPACITY as u32 {
                queue.push(i).unwrap();
            }
            let peer = Arc::new((Semaphore::new(CAPACITY), queue));
            (0..blocks)
                .map(|_| {
                    block(&rt, workers, pairs, |n| {
                        let peer = peer.clone();
                        async move {
                            let (semaphore, queue) = &*peer;
                            for _ in 0..n {
                                let permit = semaphore.acquire().await.unwrap();
                                let index = queue.pop().expect("a permit, an index");
                                tokio::task::yield_now().await;
                                queue.push(black_box(index)).unwrap();
                                drop(permit);
                            }
                        }
                    })
                })
                .collect()
        }
        other => panic!("unknown mode {other}: iobuf or sem"),
    };
    times.sort_by(f64::total_cmp);
    println!(
        "{mode}: min {:.1} ns, median {:.1} ns {} per pair ({blocks} blocks of {pairs}, {workers} worker(s))",
        times[0],
        times[times.len() / 2],
        if workers > 1 { "wall" } else { "CPU" },
    );
}
