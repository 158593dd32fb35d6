//! A driver for instruction counts (callgrind) of one workload of
//! `benches/pool.rs`, built as the benches are (release):
//! `ops MODE ROUNDS` runs ROUNDS rounds of MODE:
//!
//! - `ring`, `cached`, `aq`: one get+put, as `pool/get_put/threads=1` does it
//!   (iobuf's guard from `get`, dropped; or `ArrayQueue`'s pop and push),
//!   through a pool of 1024 `SmallBuffer`s without thread caches (`ring`),
//!   with them (`cached`), or an `ArrayQueue<u32>` of 1024 indices (`aq`);
//! - `ring64`, `aq64`: 64 gets then 64 puts, as `pool/get64_put64/threads=1`;
//! - `async`, `tryget` (cached pool) and `async-ring`, `tryget-ring` (no
//!   caches): one `get_async` polled once with `Waker::noop()`, or one
//!   `try_get`, then the guard dropped, as `benches/async.rs`'s
//!   `pair_get_async` and `pair_try_get` (`async/uncontended`).
//!
//! The pair functions are copies of the benches', not shared through the
//! `iobuf_benches` library: compiled in another crate, the pool's calls are
//! inlined differently (`try_get` counted 60 instructions instead of 57, and
//! 122 instead of 98 without caches), so a shared copy would not count what
//! the benches time.
//!
//! Instructions per round are the difference of two runs, which cancels the
//! setup:
//!
//! ```text
//! cargo build --release -p iobuf-benches --example ops
//! for n in 10000 20000; do
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/ops ring $n
//! done   # (Collected_20000 - Collected_10000) / 10000
//! ```
//!
//! With `TIME=1` set it prints the wall time per round too (noisy on a shared
//! machine; criterion's `--bench pool` is the measurement).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crossbeam_queue::ArrayQueue;
use iobuf::{BoundedPool, PoolConfig, SmallBuffer};

const CAPACITY: usize = 1024;

/// As `benches/pool.rs`'s `pair_iobuf`.
#[inline(never)]
fn pair_iobuf(pool: &BoundedPool<SmallBuffer>) {
    drop(black_box(pool.get()));
}

/// As `benches/async.rs`'s `pair_get_async`.
#[inline(never)]
fn pair_get_async(pool: &BoundedPool<SmallBuffer>) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut get = pin!(pool.get_async());
    match get.as_mut().poll(&mut cx) {
        Poll::Ready(buf) => drop(black_box(buf)),
        Poll::Pending => panic!("get_async on a pool with free buffers was Pending"),
    }
}

/// As `benches/async.rs`'s `pair_try_get`.
#[inline(never)]
fn pair_try_get(pool: &BoundedPool<SmallBuffer>) {
    drop(black_box(pool.try_get().unwrap()));
}

/// As `benches/pool.rs`'s `pair` over its `ArrayQueue` peer.
#[inline(never)]
fn pair_aq(q: &ArrayQueue<u32>) {
    let backoff = crossbeam_utils::Backoff::new();
    let i = loop {
        if let Some(i) = q.pop() {
            break i;
        }
        backoff.snooze();
    };
    q.push(black_box(i)).unwrap();
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: ops ring|cached|aq|ring64|aq64|async|tryget|async-ring|tryget-ring ROUNDS";
    let mode = args.next().expect(usage);
    let rounds: u64 = args.next().and_then(|n| n.parse().ok()).expect(usage);
    let ring = BoundedPool::<SmallBuffer>::with_config(CAPACITY, PoolConfig::new().thread_cache(0))
        .unwrap();
    let cached = BoundedPool::<SmallBuffer>::new(CAPACITY).unwrap();
    let q = ArrayQueue::new(CAPACITY);
    for i in 0..CAPACITY as u32 {
        q.push(i).unwrap();
    }
    let mut held = Vec::with_capacity(64);
    let mut held_q = Vec::with_capacity(64);
    let start = std::time::Instant::now();
    match mode.as_str() {
        "ring" => (0..rounds).for_each(|_| pair_iobuf(&ring)),
        "cached" => (0..rounds).for_each(|_| pair_iobuf(&cached)),
        "aq" => (0..rounds).for_each(|_| pair_aq(&q)),
        "async" => (0..rounds).for_each(|_| pair_get_async(&cached)),
        "tryget" => (0..rounds).for_each(|_| pair_try_get(&cached)),
        "async-ring" => (0..rounds).for_each(|_| pair_get_async(&ring)),
        "tryget-ring" => (0..rounds).for_each(|_| pair_try_get(&ring)),
        "ring64" => (0..rounds).for_each(|_| {
            for _ in 0..64 {
                held.push(ring.try_get().unwrap());
            }
            black_box(&held);
            held.clear();
        }),
        "aq64" => (0..rounds).for_each(|_| {
            for _ in 0..64 {
                held_q.push(q.pop().unwrap());
            }
            black_box(&held_q);
            for i in held_q.drain(..) {
                q.push(i).unwrap();
            }
        }),
        _ => panic!("{usage}"),
    }
    if std::env::var_os("TIME").is_some() {
        let per = start.elapsed().as_nanos() as f64 / rounds as f64;
        println!("{mode}: {per:.2} ns per round");
    }
}
