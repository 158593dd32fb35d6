//! The pool's counters (`PoolStats`): where gets were served from, failed
//! `try_get`s, waits by threads and tasks, the wait-time histogram and the
//! high-water mark.

use std::sync::Arc;
use std::time::Duration;

use iobuf::{BoundedPool, PicoBuffer, PoolConfig, PoolStats};

#[test]
fn gets_are_counted_by_where_they_came_from() {
    // Caching on: the first get refills this thread's cache, the rest hit it.
    let pool =
        BoundedPool::<PicoBuffer>::with_config(64, PoolConfig::new().thread_cache(8)).unwrap();
    for _ in 0..10 {
        drop(pool.get());
    }
    let s = pool.stats();
    assert_eq!(s.refill_gets, 1, "{s:?}");
    assert_eq!(s.cache_hits, 9, "{s:?}");
    assert_eq!((s.shared_gets, s.steal_gets), (0, 0));

    // Caching off: every get is a shared one.
    let ring =
        BoundedPool::<PicoBuffer>::with_config(4, PoolConfig::new().thread_cache(0)).unwrap();
    for _ in 0..5 {
        drop(ring.try_get().unwrap());
    }
    let s = ring.stats();
    assert_eq!((s.shared_gets, s.cache_hits), (5, 0), "{s:?}");
}

#[test]
fn a_thread_that_exits_keeps_its_cache_hits_counted() {
    let pool = Arc::new(
        BoundedPool::<PicoBuffer>::with_config(64, PoolConfig::new().thread_cache(8)).unwrap(),
    );
    let p = pool.clone();
    std::thread::spawn(move || {
        for _ in 0..5 {
            drop(p.get());
        }
    })
    .join()
    .unwrap();
    // Its magazine leaves the list at some later registry walk; the hits stay.
    for _ in 0..3 {
        drop(pool.get());
    }
    let s = pool.stats();
    assert_eq!(
        s.cache_hits + s.refill_gets + s.steal_gets + s.shared_gets,
        8,
        "{s:?}"
    );
}

#[test]
fn empty_pools_count_failures_waits_and_the_high_water_mark() {
    let pool = Arc::new(
        BoundedPool::<PicoBuffer>::with_config(2, PoolConfig::new().thread_cache(0)).unwrap(),
    );
    let a = pool.get();
    assert_eq!(pool.stats().high_water, 1, "sampled by stats");
    let b = pool.get();
    assert!(pool.try_get().is_err());
    let s = pool.stats();
    assert_eq!((s.try_get_failures, s.high_water), (1, 2), "{s:?}");

    // A thread waits about 20 ms, then times out.
    assert!(pool.get_timeout(Duration::from_millis(20)).is_err());
    // A task waits until a buffer comes back.
    let p = pool.clone();
    let task = std::thread::spawn(move || futures_executor::block_on(p.get_owned_async()).index());
    std::thread::sleep(Duration::from_millis(20));
    drop(a);
    task.join().unwrap();
    drop(b);
    let s = pool.stats();
    assert_eq!(
        (s.thread_waits, s.task_waits, s.timeouts),
        (1, 1, 1),
        "{s:?}"
    );
    let histogram: u64 = s.wait_histogram.iter().sum();
    assert_eq!(histogram, 2, "both queued waits timed: {s:?}");
    // Both lasted about 20 ms: bucket 4 (10 ms ..= 100 ms), give or take
    // a slow machine.
    assert!(
        s.wait_histogram[3..].iter().sum::<u64>() == 2,
        "{:?}",
        s.wait_histogram
    );
    assert_eq!(
        PoolStats::WAIT_BOUNDS_MICROS.len() + 1,
        s.wait_histogram.len()
    );
    // Each bucket's summed nanoseconds lie within its bounds times its
    // count, so the mean of a bucket is inside the bucket.
    for (i, (&count, &nanos)) in s.wait_histogram.iter().zip(&s.wait_nanos).enumerate() {
        let lower = match i {
            0 => 0,
            _ => PoolStats::WAIT_BOUNDS_MICROS[i - 1] * 1_000,
        };
        assert!(nanos >= lower * count, "bucket {i}: {s:?}");
        if let Some(&upper) = PoolStats::WAIT_BOUNDS_MICROS.get(i) {
            assert!(nanos <= upper * 1_000 * count, "bucket {i}: {s:?}");
        }
    }
    // The task waited about 20 ms (its wait began before the sleep).
    let total: u64 = s.wait_nanos.iter().sum();
    assert!(total >= 15_000_000, "{s:?}");
}

#[test]
fn shared_gets_of_a_pool_without_caches_lose_no_count_under_contention() {
    // Each holder counts its own get (no RMW): racing threads on few
    // buffers, and on buffers that share a bitmap word, must still add up.
    for capacity in [2, 5, 40] {
        let pool =
            BoundedPool::<PicoBuffer>::with_config(capacity, PoolConfig::new().thread_cache(0))
                .unwrap();
        let rounds = if cfg!(miri) { 50 } else { 20_000 };
        let got: u64 = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut got = 0u64;
                        for _ in 0..rounds {
                            if let Ok(buf) = pool.try_get() {
                                got += 1;
                                drop(buf);
                            }
                        }
                        got
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        let s = pool.stats();
        assert_eq!(s.shared_gets, got, "capacity {capacity}: {s:?}");
        assert_eq!(s.cache_hits + s.refill_gets + s.steal_gets, 0, "{s:?}");
    }
}
