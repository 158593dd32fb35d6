//! The `iobuf-benches` package: criterion benchmarks in `pool.rs`
//! (`cargo bench -p iobuf-benches --bench pool`) and `async.rs`
//! (`--bench async`), and what both of them use: the thread harness and the
//! lock-based peer.

use std::sync::{Barrier, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Runs `per_thread(share)` on `threads` threads, started together;
/// returns the wall time until the slowest is done.
pub fn on_threads(threads: usize, share: u64, per_thread: impl Fn(u64) + Sync) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                per_thread(share);
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}

/// The lock-based peer: a `Mutex<Vec<u32>>` of free indices; an empty pop
/// waits on a `Condvar`, and each put notifies one waiter.
#[derive(Debug, Default)]
pub struct LockedFreeList(Mutex<Vec<u32>>, Condvar);

impl LockedFreeList {
    /// A list holding every index of `0..capacity`.
    pub fn new(capacity: usize) -> Self {
        LockedFreeList(Mutex::new((0..capacity as u32).collect()), Condvar::new())
    }

    /// Pops a free index, waiting on the `Condvar` while there is none.
    pub fn take(&self) -> u32 {
        let mut free = self.0.lock().unwrap();
        loop {
            if let Some(i) = free.pop() {
                return i;
            }
            free = self.1.wait(free).unwrap();
        }
    }

    /// Pushes `index` back and wakes one waiter.
    pub fn give(&self, index: u32) {
        self.0.lock().unwrap().push(index);
        self.1.notify_one();
    }
}
