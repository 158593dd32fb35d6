//! Concurrency stress: many threads (more than cores) take and return
//! buffers through every API at once, against an ownership oracle.
//!
//! - **Exclusive ownership**: a per-index "held" flag; a get's `swap(true)`
//!   must find it clear and a put's `swap(false)` must find it set. A holder
//!   also stamps the buffer with its id and checks it just before returning,
//!   so a second holder writing the same buffer is caught too.
//! - **No loss**: at the end every index is back (`available() == capacity`,
//!   and draining yields each index once).
//! - **Progress**: a watchdog fails the test if a run takes too long.
//!
//! Small capacities make every buffer change hands again and again, where
//! a stale operation (ABA) would strike.
//! `IOBUF_STRESS_OPS` sets the operations per thread (defaults: 1 000 000 in
//! release builds, 100 000 in debug builds).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use iobuf::{BoundedPool, BufferTier, Error, PicoBuffer, PoolConfig};

const WATCHDOG: Duration = Duration::from_secs(300);

fn ops_per_thread() -> u64 {
    std::env::var("IOBUF_STRESS_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(miri) {
            // Miri interprets every instruction and checks every access:
            // enough rounds to reuse every buffer of small pools, not millions.
            64
        } else if cfg!(debug_assertions) {
            100_000
        } else {
            1_000_000
        })
}

struct Oracle {
    pool: Arc<BoundedPool<PicoBuffer>>,
    held: Vec<AtomicBool>,
    gets: AtomicU64,
}

impl Oracle {
    fn take(&self, index: u32, who: u64) {
        assert!(
            !self.held[index as usize].swap(true, Ordering::SeqCst),
            "index {index} handed to two holders"
        );
        self.gets.fetch_add(1, Ordering::Relaxed);
        let _ = who;
    }

    fn give(&self, index: u32) {
        assert!(
            self.held[index as usize].swap(false, Ordering::SeqCst),
            "index {index} returned while not held"
        );
    }

    /// Stamps the buffer, lets others run, and checks the stamp survived.
    fn use_buffer(buf: &mut PicoBuffer, who: u64, round: u64) {
        let stamp = (who << 32 | (round & 0xFFFF_FFFF)).to_le_bytes();
        buf.as_bytes_mut()[..8].copy_from_slice(&stamp);
        if round % 64 == 0 {
            std::thread::yield_now();
        }
        assert_eq!(
            &buf.as_bytes()[..8],
            &stamp,
            "another holder wrote this buffer"
        );
    }
}

fn worker(oracle: &Oracle, who: u64, ops: u64) {
    let pool = &*oracle.pool;
    for round in 0..ops {
        match round % 6 {
            0 => {
                if let Ok(mut g) = pool.try_get() {
                    let i = g.index();
                    oracle.take(i, who);
                    Oracle::use_buffer(&mut g, who, round);
                    oracle.give(i);
                }
            }
            1 | 2 => {
                let mut g = pool.get();
                let i = g.index();
                oracle.take(i, who);
                Oracle::use_buffer(&mut g, who, round);
                oracle.give(i);
            }
            3 => match pool.get_timeout(Duration::from_micros(50)) {
                Ok(mut g) => {
                    let i = g.index();
                    oracle.take(i, who);
                    Oracle::use_buffer(&mut g, who, round);
                    oracle.give(i);
                }
                Err(e) => assert_eq!(e, Error::TimedOut),
            },
            4 => {
                let mut t = pool.get_index();
                let i = t.index();
                oracle.take(i, who);
                Oracle::use_buffer(pool.value_mut(&mut t), who, round);
                oracle.give(i);
                pool.put(t);
            }
            _ => {
                let mut g = oracle.pool.get_owned();
                let i = g.index();
                oracle.take(i, who);
                Oracle::use_buffer(&mut g, who, round);
                oracle.give(i);
            }
        }
    }
}

fn stress(capacity: usize, threads: u64) {
    stress_with(capacity, threads, PoolConfig::new());
}

/// With thread caches forced on small pools, most gets find the bitmap empty
/// and must take buffers out of other threads' caches.
/// Tiny pools steal on nearly every get (each steal is a `membarrier`
/// broadcast), so they run an eighth of the operations.
fn stress_cached(capacity: usize, threads: u64, cache: usize) {
    let ops = if capacity < 64 {
        ops_per_thread() / 8
    } else {
        ops_per_thread()
    };
    stress_with_ops(
        capacity,
        threads,
        PoolConfig::new().thread_cache(cache),
        ops,
    );
}

fn stress_with(capacity: usize, threads: u64, config: PoolConfig) {
    stress_with_ops(capacity, threads, config, ops_per_thread());
}

fn stress_with_ops(capacity: usize, threads: u64, config: PoolConfig, ops: u64) {
    let oracle = Arc::new(Oracle {
        pool: Arc::new(BoundedPool::with_config(capacity, config).unwrap()),
        held: (0..capacity).map(|_| AtomicBool::new(false)).collect(),
        gets: AtomicU64::new(0),
    });
    let (done_tx, done_rx) = mpsc::channel();
    let started = Instant::now();
    let mut handles = Vec::new();
    for who in 0..threads {
        let oracle = oracle.clone();
        let done = done_tx.clone();
        handles.push(std::thread::spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                worker(&oracle, who, ops)
            }));
            let _ = done.send(result.err().map(|e| {
                e.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            }));
        }));
    }
    for _ in 0..threads {
        match done_rx.recv_timeout(WATCHDOG.saturating_sub(started.elapsed())) {
            Ok(None) => {}
            Ok(Some(panic)) => panic!("capacity {capacity}, {threads} threads: {panic}"),
            Err(_) => panic!(
                "capacity {capacity}, {threads} threads: no progress within {WATCHDOG:?} \
                 ({} gets done, stats {:?})",
                oracle.gets.load(Ordering::Relaxed),
                oracle.pool.stats()
            ),
        }
    }
    // Every worker finished; joining also waits for their thread-local
    // destructors, which flush their caches into the ring.
    for handle in handles {
        handle.join().unwrap();
    }
    let pool = &oracle.pool;
    assert_eq!(pool.available(), capacity, "an index was lost");
    let mut seen = vec![false; capacity];
    let all: Vec<_> = (0..capacity).map(|_| pool.try_get().unwrap()).collect();
    for g in &all {
        assert!(!std::mem::replace(&mut seen[g.index() as usize], true));
    }
    assert_eq!(pool.try_get().unwrap_err(), Error::WouldBlock);
    println!(
        "capacity {capacity:>4} (cache {}), {threads} threads: {} gets in {:?} ({:?})",
        pool.thread_cache_capacity(),
        oracle.gets.load(Ordering::Relaxed),
        started.elapsed(),
        pool.stats()
    );
}

macro_rules! stress_tests {
    ($($name:ident: $capacity:expr, $threads:expr;)*) => {$(
        #[test]
        fn $name() {
            stress($capacity, $threads);
        }
    )*};
}

stress_tests! {
    capacity_1_threads_2: 1, 2;
    capacity_1_threads_4: 1, 4;
    capacity_1_threads_8: 1, 8;
    capacity_2_threads_2: 2, 2;
    capacity_2_threads_4: 2, 4;
    capacity_2_threads_8: 2, 8;
    capacity_4_threads_2: 4, 2;
    capacity_4_threads_4: 4, 4;
    capacity_4_threads_8: 4, 8;
    capacity_64_threads_2: 64, 2;
    capacity_64_threads_4: 64, 4;
    capacity_64_threads_8: 64, 8;
    capacity_1024_threads_2: 1024, 2;
    capacity_1024_threads_4: 1024, 4;
    capacity_1024_threads_8: 1024, 8;
}

macro_rules! ring_only_stress_tests {
    ($($name:ident: $capacity:expr, $threads:expr;)*) => {$(
        #[test]
        fn $name() {
            stress_with($capacity, $threads, PoolConfig::new().thread_cache(0));
        }
    )*};
}

// The shared free-index bitmap alone (no thread caches), from one word to
// 256 words: partial words, word boundaries, threads starting in
// different words.
ring_only_stress_tests! {
    free_only_capacity_8_threads_4: 8, 4;
    free_only_capacity_32_threads_8: 32, 8;
    free_only_capacity_64_threads_8: 64, 8;
    free_only_capacity_128_threads_4: 128, 4;
    free_only_capacity_8192_threads_8: 8192, 8;
    // Capacities that are no power of two: the last word partly used
    // (33: four words of 9, the last with 6; 1025: 33 words, the last
    // with one index).
    free_only_capacity_33_threads_4: 33, 4;
    free_only_capacity_1025_threads_8: 1025, 8;
}

macro_rules! cached_stress_tests {
    ($($name:ident: $capacity:expr, $threads:expr, $cache:expr;)*) => {$(
        #[test]
        fn $name() {
            stress_cached($capacity, $threads, $cache);
        }
    )*};
}

cached_stress_tests! {
    cached_capacity_2_threads_4_cache_1: 2, 4, 1;
    cached_capacity_4_threads_8_cache_2: 4, 8, 2;
    cached_capacity_8_threads_4_cache_8: 8, 4, 8;
    cached_capacity_64_threads_8_cache_16: 64, 8, 16;
    // Refills of up to one word (32) per RMW and spills in sorted chunks.
    cached_capacity_8192_threads_8_cache_256: 8192, 8, 256;
    // No power of two: 3 buffers, caches of 2; 1000, caches of 64.
    cached_capacity_3_threads_4_cache_2: 3, 4, 2;
    cached_capacity_1000_threads_8_cache_64: 1000, 8, 64;
}

/// The exact empty answer: `threads` threads each hold at most one of
/// `threads + 1` free buffers, spread over two words of the free bitmap
/// (indices 0..3 and 32..34 of a 64-buffer pool: words 0 and 2 of its
/// four, of 16 indices each; the rest held throughout),
/// so a buffer is free at every instant. `try_get` must never report
/// `WouldBlock`.
#[test]
fn try_get_never_reports_empty_while_a_buffer_is_free() {
    const THREADS: usize = 4;
    let pool = Arc::new(
        BoundedPool::<PicoBuffer>::with_config(64, PoolConfig::new().thread_cache(0)).unwrap(),
    );
    let all: Vec<_> = (0..64).map(|_| pool.try_get_index().unwrap()).collect();
    let free = [0, 1, 2, 32, 33];
    assert_eq!(free.len(), THREADS + 1);
    let mut kept = Vec::new();
    for token in all {
        if free.contains(&token.index()) {
            pool.put(token);
        } else {
            kept.push(token);
        }
    }
    let attempts = 2 * ops_per_thread();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for k in 0..attempts {
                    match pool.try_get() {
                        Ok(buf) => drop(buf),
                        Err(e) => panic!("attempt {k}: {e} with a buffer free at every instant"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(pool.available(), THREADS + 1);
    for token in kept {
        pool.put(token);
    }
    assert_eq!(pool.available(), 64);
}
