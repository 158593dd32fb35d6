//! Thread caches: liveness (idle cached buffers never keep a getter asleep),
//! no loss at thread exit or pool drop, and what `available`/`stats` count.

use std::cell::RefCell;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use iobuf::pool::default_thread_cache;
use iobuf::*;

/// Polls `check` until it holds, for at most 5 s: a thread's cache is
/// flushed by its thread-local destructors, which may run after
/// `thread::scope` has returned.
fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

fn cached_pool(capacity: usize, cache: usize) -> Arc<PicoBufferPool> {
    Arc::new(PicoBufferPool::with_config(capacity, PoolConfig::new().thread_cache(cache)).unwrap())
}

#[test]
fn default_cache_scales_with_capacity_and_is_off_for_tiny_pools() {
    assert_eq!(PicoBufferPool::new(4).unwrap().thread_cache_capacity(), 0);
    assert_eq!(PicoBufferPool::new(32).unwrap().thread_cache_capacity(), 0);
    assert_eq!(
        PicoBufferPool::new(63).unwrap().thread_cache_capacity(),
        0,
        "63 buffers stay 63: below 64, off"
    );
    assert_eq!(PicoBufferPool::new(64).unwrap().thread_cache_capacity(), 4);
    assert_eq!(
        PicoBufferPool::new(1024).unwrap().thread_cache_capacity(),
        64
    );
    assert_eq!(default_thread_cache(1 << 20), 256);
    let off = PicoBufferPool::with_config(1024, PoolConfig::new().thread_cache(0)).unwrap();
    assert_eq!(off.thread_cache_capacity(), 0);
    let capped = PicoBufferPool::with_config(8, PoolConfig::new().thread_cache(100)).unwrap();
    assert_eq!(
        capped.thread_cache_capacity(),
        8,
        "never more than the capacity"
    );
}

#[test]
fn returns_land_in_the_cache_and_lifo_order_reuses_the_hottest() {
    let pool = cached_pool(64, 16);
    let a = pool.get();
    let ia = a.index();
    drop(a);
    let stats = pool.stats();
    assert_eq!(stats.available, 64, "cached buffers count as available");
    assert!(stats.cached >= 1, "{stats:?}");
    assert_eq!(
        pool.get().index(),
        ia,
        "the most recently returned goes out first"
    );
}

#[test]
fn a_getter_takes_buffers_idle_in_an_idle_thread_s_cache() {
    // Thread A takes every buffer, returns them all into its own cache, and
    // then idles. B's blocking get must still succeed promptly.
    let pool = cached_pool(64, 64);
    let (idle_tx, idle_rx) = mpsc::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel();
    let a = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            let all: Vec<_> = (0..64).map(|_| pool.get()).collect();
            drop(all);
            ready_tx.send(pool.stats()).unwrap();
            let _ = idle_rx.recv(); // idle, holding its cache
        })
    };
    let stats = ready_rx.recv().unwrap();
    assert_eq!(
        stats.cached, 64,
        "A's cache holds the whole pool: {stats:?}"
    );
    let b = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let guards: Vec<_> = (0..64).map(|_| pool.get()).collect();
            let took = started.elapsed();
            (guards.iter().map(|g| g.index()).collect::<Vec<_>>(), took)
        })
    };
    let (mut held, took) = b.join().unwrap();
    held.sort();
    assert_eq!(held, (0..64).collect::<Vec<_>>());
    assert!(took < Duration::from_secs(1), "B waited {took:?}");
    idle_tx.send(()).unwrap();
    a.join().unwrap();
    assert_eq!(pool.available(), 64);
}

#[test]
fn a_sleeping_getter_is_woken_by_a_put_into_a_cache() {
    // B sleeps on an empty pool; A, holding every buffer, returns one. With a
    // waiter present the put must go to the ring and wake B, not stay cached.
    let pool = cached_pool(64, 64);
    let all: Vec<_> = (0..64).map(|_| pool.get()).collect();
    std::thread::scope(|s| {
        let b = s.spawn(|| pool.get().index());
        while pool.stats().waiting == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let put = Instant::now();
        drop(all);
        let _ = b.join().unwrap();
        assert!(put.elapsed() < Duration::from_secs(1));
    });
    assert_eq!(pool.available(), 64);
}

#[test]
fn try_get_steals_too() {
    let pool = cached_pool(64, 64);
    std::thread::scope(|s| {
        s.spawn(|| {
            let all: Vec<_> = (0..64).map(|_| pool.get()).collect();
            drop(all);
        });
    });
    // The helper thread exited (its cache was flushed); fill another cache
    // from a thread that stays alive.
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            let all: Vec<_> = (0..64).map(|_| pool.get()).collect();
            drop(all);
            barrier.wait();
            barrier.wait();
        });
        barrier.wait();
        assert_eq!(pool.stats().cached, 64);
        let got: Vec<_> = (0..64).map(|_| pool.try_get().unwrap()).collect();
        assert_eq!(got.len(), 64);
        assert_eq!(pool.try_get().unwrap_err(), Error::WouldBlock);
        drop(got);
        barrier.wait();
    });
}

#[test]
fn thread_exit_flushes_its_cache() {
    let pool = cached_pool(256, 64);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let held: Vec<_> = (0..32).map(|_| pool.get()).collect();
                drop(held);
            });
        }
    });
    // A scoped thread's join does not wait for its thread-local
    // destructors, where the flush runs; and a flush empties the cache
    // before its indices reach the bitmap (`available` documents the
    // window). So wait for both.
    assert!(
        eventually(|| {
            let stats = pool.stats();
            stats.cached == 0 && stats.available == 256
        }),
        "exited threads left buffers cached or lost: {:?}",
        pool.stats()
    );
}

#[test]
fn dropping_a_pool_while_another_thread_caches_its_indices_is_safe() {
    for _ in 0..20 {
        let pool = cached_pool(64, 32);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (cached_tx, cached_rx) = mpsc::channel();
        let t = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let held: Vec<_> = (0..32).map(|_| pool.get()).collect();
                drop(held);
                cached_tx.send(pool.stats().cached).unwrap();
                drop(pool); // the last Arc may be dropped on this thread or main
                go_rx.recv().unwrap();
                // Keep using caches for other pools after the first died.
                let other = cached_pool(64, 32);
                for _ in 0..100 {
                    drop(other.get());
                }
                assert_eq!(other.available(), 64);
            })
        };
        assert_eq!(cached_rx.recv().unwrap(), 32);
        drop(pool); // freed while the thread's cache still lists its indices
        go_tx.send(()).unwrap();
        t.join().unwrap(); // thread exit flushes; must skip the dead pool
    }
}

#[test]
fn a_guard_dropped_by_a_thread_local_destructor_goes_back() {
    thread_local! {
        static HELD: RefCell<Vec<OwnedPooled<PicoBuffer>>> = const { RefCell::new(Vec::new()) };
    }
    let pool = cached_pool(64, 16);
    {
        let pool = pool.clone();
        std::thread::spawn(move || {
            // Return some into the cache, and keep others in a thread-local
            // whose destructor may run after the cache's own.
            drop((0..8).map(|_| pool.get()).collect::<Vec<_>>());
            HELD.with(|h| h.borrow_mut().extend((0..8).map(|_| pool.get_owned())));
        })
        .join()
        .unwrap();
    }
    assert_eq!(pool.available(), 64);
    assert_eq!(pool.stats().cached, 0);
}

#[test]
fn exited_threads_do_not_accumulate_in_the_pool() {
    let pool = cached_pool(64, 8);
    for _ in 0..50 {
        std::thread::scope(|s| {
            s.spawn(|| drop(pool.get()));
        });
    }
    drop(pool.get()); // this thread's own cache
    assert!(
        eventually(|| pool.stats().thread_caches == 1),
        "exited threads still tracked: {:?}",
        pool.stats()
    );
    assert_eq!(pool.available(), 64);
}

#[test]
fn a_thread_using_many_pools_keeps_them_all_correct() {
    let pools: Vec<_> = (0..10).map(|_| cached_pool(64, 8)).collect();
    for round in 0..200 {
        let pool = &pools[round % pools.len()];
        let held: Vec<_> = (0..10).map(|_| pool.get()).collect();
        let mut indices: Vec<u32> = held.iter().map(|g| g.index()).collect();
        indices.sort();
        indices.dedup();
        assert_eq!(indices.len(), 10, "an index handed out twice");
    }
    for pool in &pools {
        assert_eq!(pool.available(), 64);
    }
}

/// Moving a pool (here into a `Box`) while this thread's cache points into
/// it, then evicting that cache from the thread's table (more pools than
/// table slots): the cache must reach the pool's shared state through a
/// pointer the move does not invalidate. Miri checks the aliasing.
#[test]
fn a_pool_moved_after_caching_then_evicted_stays_sound() {
    let pool = PicoBufferPool::with_config(64, PoolConfig::new().thread_cache(8)).unwrap();
    drop(pool.get()); // attach a magazine and refill it
    let pool = Box::new(pool);
    let others: Vec<_> = (0..5)
        .map(|_| PicoBufferPool::with_config(64, PoolConfig::new().thread_cache(8)).unwrap())
        .collect();
    for other in &others {
        drop(other.get()); // each takes the front slot; the first is evicted
    }
    let held: Vec<_> = (0..64).map(|_| pool.get()).collect();
    assert_eq!(pool.available(), 0);
    drop(held);
    assert_eq!(pool.available(), 64);
}

/// A pool dropped right after `thread::scope` returns, while the scoped
/// thread's exit flush may still be running: the drop must wait for the
/// flush (a lock, not a unique borrow of the shared state).
#[test]
fn dropping_a_pool_right_after_its_users_exit_is_sound() {
    for _ in 0..if cfg!(miri) { 3 } else { 50 } {
        let pool = PicoBufferPool::with_config(64, PoolConfig::new().thread_cache(8)).unwrap();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let held: Vec<_> = (0..4).map(|_| pool.get()).collect();
                    drop(held); // into this thread's cache, flushed at exit
                });
            }
        });
        drop(pool);
    }
}

/// The thread-cache limit is one constant, enforced the same way by the
/// runtime (an error here) as by `buffer_pools!` (a compile error, see
/// tests/ui/pools-thread-cache-too-large.rs): never a silent clamp.
#[test]
fn a_thread_cache_above_the_limit_is_an_error() {
    let too_large = PoolConfig::new().thread_cache(iobuf::pool::MAX_THREAD_CACHE + 1);
    let err = PicoBufferPool::with_config(64, too_large).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert!(err.to_string().contains("MAX_THREAD_CACHE"), "{err}");
    let at_limit = PoolConfig::new().thread_cache(iobuf::pool::MAX_THREAD_CACHE);
    assert!(PicoBufferPool::with_config(64, at_limit).is_ok());
}
