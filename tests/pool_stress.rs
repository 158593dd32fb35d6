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

/// The exact empty answer across thread caches (issue 29): `THREADS`
/// threads share a pool of `capacity` buffers with caches on. Before each
/// `try_get_owned` a thread reserves a place in a shared count of buffers
/// held or being taken, which never exceeds `capacity - 1`, so at every
/// instant at least one buffer is free. Buffers change threads (half of
/// them are dropped by the next thread, through a channel), so indices
/// move between caches, through spills and refills, and are stolen.
/// `try_get` must never report `WouldBlock`.
fn try_get_exact_with_caches(capacity: usize, cache: usize, attempts: u64) {
    const THREADS: usize = 3;
    let pool = Arc::new(
        BoundedPool::<PicoBuffer>::with_config(capacity, PoolConfig::new().thread_cache(cache))
            .unwrap(),
    );
    let reserved = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicU64::new(0));
    let limit = capacity as u64 - 1;
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS)
        .map(|_| mpsc::channel::<iobuf::OwnedPooled<PicoBuffer>>())
        .unzip();
    let deadline = Instant::now() + WATCHDOG;
    let threads: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(who, inbox)| {
            let (pool, reserved, finished) = (pool.clone(), reserved.clone(), finished.clone());
            let next = senders[(who + 1) % THREADS].clone();
            std::thread::spawn(move || {
                // A buffer is released (its place given back) only after its
                // drop returned it.
                let release = |buf| {
                    drop(buf);
                    reserved.fetch_sub(1, Ordering::SeqCst);
                };
                let mut kept = std::collections::VecDeque::new();
                for k in 0..attempts {
                    while let Ok(buf) = inbox.try_recv() {
                        release(buf);
                    }
                    let mut now = reserved.load(Ordering::SeqCst);
                    loop {
                        if now >= limit {
                            // Every place taken: give one back and retry.
                            if let Ok(buf) = inbox.try_recv() {
                                release(buf);
                            } else if let Some(buf) = kept.pop_front() {
                                release(buf);
                            } else {
                                std::thread::yield_now();
                                assert!(Instant::now() < deadline, "no progress");
                            }
                            now = reserved.load(Ordering::SeqCst);
                            continue;
                        }
                        match reserved.compare_exchange(
                            now,
                            now + 1,
                            Ordering::SeqCst,
                            Ordering::SeqCst,
                        ) {
                            Ok(_) => break,
                            Err(seen) => now = seen,
                        }
                    }
                    let buf = match pool.try_get_owned() {
                        Ok(buf) => buf,
                        Err(e) => panic!(
                            "attempt {k} of thread {who}: {e} with a buffer free at every instant \
                             (capacity {capacity}, cache {cache})"
                        ),
                    };
                    if k % 2 == 0 {
                        // Dropped by the next thread: the index moves caches.
                        // (The next thread may have finished: then it is
                        // released here.)
                        if let Err(mpsc::SendError(buf)) = next.send(buf) {
                            release(buf);
                        }
                    } else {
                        kept.push_back(buf);
                        if kept.len() > 1 {
                            release(kept.pop_front().unwrap());
                        }
                    }
                }
                kept.into_iter().for_each(release);
                // Keep emptying the inbox until no thread sends any more.
                finished.fetch_add(1, Ordering::SeqCst);
                while finished.load(Ordering::SeqCst) < THREADS as u64 {
                    while let Ok(buf) = inbox.try_recv() {
                        release(buf);
                    }
                    std::thread::yield_now();
                }
                inbox.try_iter().for_each(release);
            })
        })
        .collect();
    drop(senders);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        reserved.load(Ordering::SeqCst),
        0,
        "a buffer was not released"
    );
    let failures = pool.stats().try_get_failures;
    assert_eq!(failures, 0, "try_get failed {failures} times");
    wait_until_home(&pool);
}

/// `factor` × the stress operations per thread in a release build (a
/// tenth of that in a debug build): at the default 1 000 000, factor 34
/// makes over 10^8 calls of 3 threads.
fn exact_attempts(factor: u64) -> u64 {
    let ops = factor * ops_per_thread();
    if cfg!(debug_assertions) {
        ops / 10
    } else {
        ops
    }
}

#[test]
fn try_get_with_caches_never_reports_empty_while_a_buffer_is_free_capacity_2() {
    try_get_exact_with_caches(2, 2, exact_attempts(4));
}

#[test]
fn try_get_with_caches_never_reports_empty_while_a_buffer_is_free_capacity_5() {
    try_get_exact_with_caches(5, 2, exact_attempts(4));
}

/// Over 10^8 `try_get`s in a release build.
#[test]
fn try_get_with_caches_never_reports_empty_while_a_buffer_is_free_capacity_64() {
    try_get_exact_with_caches(64, 8, exact_attempts(34));
}

/// Waits (bounded) until every buffer is back: each thread's cache is
/// flushed by its thread-local destructor, which a join may not wait for.
fn wait_until_home(pool: &BoundedPool<PicoBuffer>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pool.available() != pool.capacity() {
        assert!(
            Instant::now() < deadline,
            "{} of {} buffers home",
            pool.available(),
            pool.capacity()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}
