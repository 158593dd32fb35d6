//! BoundedPool's API: capacity rules, the guard, owned and index APIs,
//! blocking and timeouts, configuration, memory, and statistics.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use iobuf::*;

mod common;
use common::resident_bytes;

#[test]
fn capacity_is_exactly_what_was_asked() {
    for asked in [1, 2, 3, 5, 33, 1000, 1024, 1025] {
        let pool = PicoBufferPool::new(asked).unwrap();
        assert_eq!(pool.capacity(), asked);
        assert_eq!(pool.available(), asked);
        assert_eq!(pool.iovecs().len(), asked);
        assert_eq!(
            BoundedPool::from_fn(asked, |i| i).unwrap().capacity(),
            asked
        );
    }
}

/// Odd capacities, caches off and on: four threads take every buffer
/// between them (blocking gets, which take buffers idle in other threads'
/// caches too), each index `0..capacity` exactly once; then `try_get` says
/// `WouldBlock` on every thread; all back, and again.
#[test]
fn odd_capacities_hand_out_every_index_exactly_once() {
    const THREADS: usize = 4;
    let sizes: &[usize] = if cfg!(miri) {
        &[1, 3, 33]
    } else {
        &[1, 3, 33, 1000, 1025]
    };
    for &capacity in sizes {
        for cache in [0, 1, 8] {
            let config = PoolConfig::new().thread_cache(cache);
            let pool = PicoBufferPool::with_config(capacity, config).unwrap();
            assert_eq!(pool.capacity(), capacity);
            for round in 0..2 {
                let taken = std::sync::atomic::AtomicUsize::new(0);
                let empty = std::sync::Barrier::new(THREADS);
                let held: Vec<BufIndex> = std::thread::scope(|s| {
                    let threads: Vec<_> = (0..THREADS)
                        .map(|_| {
                            s.spawn(|| {
                                let mut mine = Vec::new();
                                // Claim a share first, so that no more than
                                // `capacity` gets ever run: each returns.
                                while taken.fetch_add(1, Ordering::SeqCst) < capacity {
                                    mine.push(pool.get_index());
                                }
                                empty.wait();
                                let err = pool.try_get_index().unwrap_err();
                                assert_eq!(err, Error::WouldBlock, "capacity {capacity}");
                                mine
                            })
                        })
                        .collect();
                    threads
                        .into_iter()
                        .flat_map(|t| t.join().unwrap())
                        .collect()
                });
                let mut seen = vec![false; capacity];
                for token in &held {
                    let i = token.index() as usize;
                    assert!(i < capacity, "index {i} of capacity {capacity}");
                    assert!(
                        !seen[i],
                        "index {i} twice (capacity {capacity}, round {round})"
                    );
                    seen[i] = true;
                }
                assert_eq!(held.len(), capacity);
                assert_eq!(pool.try_get().unwrap_err(), Error::WouldBlock);
                assert_eq!(pool.available(), 0);
                for token in held {
                    pool.put(token);
                }
                assert_eq!(pool.available(), capacity, "cache {cache}");
            }
        }
    }
}

#[test]
fn bad_capacity_is_invalid_capacity() {
    for bad in [0, (1 << 31) + 1, usize::MAX] {
        match PicoBufferPool::new(bad) {
            Err(Error::InvalidCapacity { requested }) => assert_eq!(requested, bad),
            other => panic!("capacity {bad}: {other:?}"),
        }
        assert!(matches!(
            BoundedPool::from_fn(bad, |_| 0u8),
            Err(Error::InvalidCapacity { .. })
        ));
    }
    let msg = PicoBufferPool::new(0).unwrap_err().to_string();
    assert!(msg.contains("invalid capacity 0"), "{msg}");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri does not model the machine's memory (sysconf), so nothing refuses the count"
)]
fn a_pool_beyond_physical_memory_is_refused_unless_overcommit_is_allowed() {
    // 2^31 buffers of 2 KiB: 4 TiB, more than this machine has.
    let err = SmallBufferPool::new(1 << 31).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("2147483648 buffers of 2048 bytes"), "{msg}");
    assert!(msg.contains("physical memory"), "{msg}");
    assert!(msg.contains("PoolConfig::allow_overcommit(true)"), "{msg}");
    // `from_fn` too, before it makes a single item.
    let err = BoundedPool::from_fn(1 << 31, |_| -> [u8; 4096] { unreachable!() }).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    // 65 536 buffers of 128 MiB: 8 TiB of address space (a 256 KiB
    // bitmap). Refused, then allowed: the slab is reserved, not committed,
    // so the kernel lends the address space unless it is in strict
    // accounting mode (`vm.overcommit_memory = 2`) or the process has less
    // address space than that (a `ulimit -v`, or ThreadSanitizer, whose
    // shadow memory takes most of it): then it refuses, an `Alloc` error.
    let err = TitanBufferPool::new(65_536).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let config = PoolConfig::new().allow_overcommit(true);
    let strict = std::fs::read_to_string("/proc/sys/vm/overcommit_memory")
        .is_ok_and(|mode| mode.trim() == "2");
    match TitanBufferPool::with_config(65_536, config) {
        Ok(pool) => {
            assert!(!strict);
            assert_eq!(pool.capacity(), 65_536);
            let mut buf = pool.get(); // one buffer committed, as it is written
            buf.0[0] = 1;
        }
        // Past the memory check: the kernel's own refusal, as an error.
        Err(err) => assert!(matches!(err, Error::Alloc { .. }), "{err}"),
    }
}

#[test]
fn exhaustion_gives_would_block_and_every_buffer_is_distinct() {
    let pool = SmallBufferPool::new(8).unwrap();
    let guards: Vec<_> = (0..8).map(|_| pool.try_get().unwrap()).collect();
    let mut indices: Vec<u32> = guards.iter().map(|g| g.index()).collect();
    indices.sort();
    assert_eq!(indices, (0..8).collect::<Vec<_>>());
    assert_eq!(pool.try_get().unwrap_err(), Error::WouldBlock);
    assert_eq!(pool.try_get_index().unwrap_err(), Error::WouldBlock);
    assert_eq!(pool.available(), 0);
    drop(guards);
    assert_eq!(pool.available(), 8);
}

#[test]
fn buffers_start_zeroed_and_keep_what_holders_wrote() {
    let pool = NanoBufferPool::new(1).unwrap();
    let mut g = pool.get();
    assert!(g.0.iter().all(|&b| b == 0));
    g.as_mut()[..3].copy_from_slice(b"abc");
    drop(g);
    let g = pool.get();
    assert_eq!(
        &g.as_ref()[..3],
        b"abc",
        "without zero_on_return the bytes stay"
    );
}

#[test]
fn zero_on_return_clears_the_buffer() {
    let pool = NanoBufferPool::with_config(1, PoolConfig::new().zero_on_return(true)).unwrap();
    pool.get().0.fill(0xAA);
    assert!(pool.get().0.iter().all(|&b| b == 0));
    let mut idx = pool.get_index();
    pool.value_mut(&mut idx).0.fill(1);
    pool.put(idx);
    assert!(pool.get().0.iter().all(|&b| b == 0));
}

#[test]
fn config_options_allocate_and_work() {
    let config = PoolConfig::new()
        .prefault(true)
        .huge_pages(true)
        .lock_memory(true);
    assert!(config.prefault && config.huge_pages && config.lock_memory);
    // Root or not, a small lock fits the default RLIMIT_MEMLOCK (8 MiB).
    match MediumBufferPool::with_config(16, config) {
        Ok(pool) => {
            let mut g = pool.get();
            g.0[8191] = 1;
            assert_eq!(g.0[8191], 1);
        }
        Err(Error::Alloc { source, .. }) => {
            assert!(source.to_string().contains("RLIMIT_MEMLOCK"), "{source}")
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn guard_dereferences_and_reports_its_index() {
    let pool = PicoBufferPool::new(4).unwrap();
    let mut g = pool.get();
    g.0[0] = 9;
    let item: &PicoBuffer = &g;
    assert_eq!(item.0[0], 9);
    assert!(g.index() < 4);
    assert!(std::ptr::eq(g.pool(), &pool));
    let s = format!("{g:?}");
    assert!(s.contains("Pooled") && s.contains("PicoBuffer"), "{s}");
}

#[test]
fn a_guard_dropped_while_unwinding_returns_its_buffer() {
    let pool = SmallBufferPool::new(2).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _a = pool.get();
        let _b = pool.get();
        panic!("boom");
    }));
    assert!(result.is_err());
    assert_eq!(pool.available(), 2);
}

#[test]
fn get_waits_for_a_put_from_another_thread() {
    let pool = SmallBufferPool::new(1).unwrap();
    let held = pool.get();
    let index = held.index();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| pool.get().index());
        // Wait until the getter sleeps (any scheduler, Miri's included)
        // before returning the buffer it waits for.
        let deadline = Instant::now() + Duration::from_secs(30);
        while pool.stats().waiting == 0 {
            assert!(Instant::now() < deadline, "the getter never went to sleep");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            !waiter.is_finished(),
            "get returned while the pool was empty"
        );
        drop(held);
        assert_eq!(waiter.join().unwrap(), index);
    });
    assert_eq!(pool.stats().waits, 1);
}

#[test]
fn a_sleeping_get_wakes_promptly_after_a_put() {
    // Wake-up latency, measured from the put to the getter's return: it must
    // be a wake, not a polling sleep. Generous bound for shared CI machines.
    let pool = PicoBufferPool::new(1).unwrap();
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let held = pool.get();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let g = pool.get();
                let woke = Instant::now();
                drop(g);
                woke
            });
            // Let the waiter get past its spin into the sleep.
            while pool.stats().waiting == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
            std::thread::sleep(Duration::from_millis(2));
            let put = Instant::now();
            drop(held);
            let woke = waiter.join().unwrap();
            worst = worst.max(woke.saturating_duration_since(put));
        });
    }
    println!("worst wake-up latency over 20 runs: {worst:?}");
    assert!(worst < Duration::from_millis(50), "{worst:?}");
}

#[test]
fn get_timeout_fails_near_its_deadline() {
    let pool = PicoBufferPool::new(1).unwrap();
    let _held = pool.get();
    for ms in [0u64, 1, 20, 100] {
        let timeout = Duration::from_millis(ms);
        let started = Instant::now();
        assert_eq!(pool.get_timeout(timeout).unwrap_err(), Error::TimedOut);
        let took = started.elapsed();
        assert!(took >= timeout, "{ms} ms: returned after {took:?}");
        // Miri's clock ticks with every interpreted instruction, so the
        // spin before the sleep costs it "time" a real CPU does not spend.
        let slack = Duration::from_millis(if cfg!(miri) { 1000 } else { 50 });
        assert!(took < timeout + slack, "{ms} ms: took {took:?}");
    }
    assert_eq!(
        pool.get_index_timeout(Duration::from_millis(1))
            .unwrap_err(),
        Error::TimedOut
    );
    assert!(pool.stats().timeouts >= 5);
    let io: std::io::Error = Error::TimedOut.into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
}

#[test]
fn get_timeout_succeeds_when_a_buffer_comes_back_in_time() {
    let pool = PicoBufferPool::new(1).unwrap();
    let held = pool.get();
    std::thread::scope(|s| {
        let t = s.spawn(|| pool.get_timeout(Duration::from_secs(10)).map(|g| g.index()));
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
        assert_eq!(t.join().unwrap(), Ok(0));
    });
    // A timeout too large for Instant waits forever rather than failing.
    assert!(pool.get_timeout(Duration::MAX).is_ok());
}

#[test]
fn owned_guards_move_across_threads() {
    let pool = Arc::new(SmallBufferPool::new(4).unwrap());
    // Each thread holds its guard until all four have one: a guard dropped
    // earlier could be the next one taken.
    let all_held = Arc::new(std::sync::Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let mut buf = pool.get_owned();
            let all_held = all_held.clone();
            std::thread::spawn(move || {
                buf.0[0] = i;
                all_held.wait();
                buf.index()
            })
        })
        .collect();
    let mut seen: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    seen.sort();
    assert_eq!(seen, vec![0, 1, 2, 3]);
    assert_eq!(pool.available(), 4);
    let all: Vec<_> = (0..4).map(|_| pool.try_get_owned().unwrap()).collect();
    assert_eq!(pool.try_get_owned().unwrap_err(), Error::WouldBlock);
    assert_eq!(
        pool.get_owned_timeout(Duration::from_millis(1))
            .unwrap_err(),
        Error::TimedOut
    );
    drop(all);
    let idx = pool.get_owned().into_index();
    assert_eq!(Arc::strong_count(&pool), 1, "into_index released the Arc");
    pool.put(idx);
    assert_eq!(pool.available(), 4);
}

#[test]
fn an_owned_guard_keeps_its_pool_alive() {
    let pool = Arc::new(PicoBufferPool::new(1).unwrap());
    let mut buf = pool.get_owned();
    drop(pool);
    buf.0[0] = 1;
    assert_eq!(buf.pool().available(), 0);
    drop(buf);
}

#[test]
fn index_api_round_trips() {
    let pool = SmallBufferPool::new(2).unwrap();
    let mut a = pool.get_index();
    let b = pool.try_get_index().unwrap();
    assert_ne!(a.index(), b.index());
    pool.value_mut(&mut a).0[..2].copy_from_slice(b"hi");
    assert_eq!(&pool.value(&a).0[..2], b"hi");
    pool.set_value(&mut a, SmallBuffer([7; 2048]));
    assert_eq!(pool.value(&a).0[2047], 7);
    let raw = a.into_raw();
    // SAFETY: `raw` came from `into_raw` and is rebuilt once.
    let a = unsafe { BufIndex::from_raw(raw) };
    assert!(format!("{a:?}").contains("BufIndex"));
    pool.put(a);
    pool.put(b);
    assert_eq!(pool.available(), 2);
    // Guards and tokens convert.
    let g = pool.get();
    let i = g.index();
    let t = g.into_index();
    assert_eq!(t.index(), i);
    assert_eq!(pool.available(), 1);
    pool.put(t);
}

#[test]
#[should_panic(expected = "belongs to pool #")]
fn a_token_from_another_pool_panics() {
    let a = SmallBufferPool::new(1).unwrap();
    let b = SmallBufferPool::new(1).unwrap();
    let t = a.get_index();
    b.put(t);
}

#[test]
#[should_panic(expected = "not to this pool")]
fn value_with_a_foreign_token_panics() {
    let a = PicoBufferPool::new(1).unwrap();
    let b = PicoBufferPool::new(1).unwrap();
    let t = a.get_index();
    let _ = b.value(&t);
}

#[test]
fn iovecs_cover_the_slab_in_index_order() {
    let pool = LargeBufferPool::new(8).unwrap();
    let iov = pool.iovecs();
    assert_eq!(iov.len(), 8);
    let base = iov[0].iov_base as usize;
    assert_eq!(base % page_size(), 0, "slab is page-aligned");
    for (i, v) in iov.iter().enumerate() {
        assert_eq!(v.iov_len, BUFFER_SIZE_LARGE);
        assert_eq!(v.iov_base as usize, base + i * BUFFER_SIZE_LARGE);
    }
    let g = pool.get();
    assert_eq!(
        g.0.as_ptr() as usize,
        iov[g.index() as usize].iov_base as usize
    );
    let regs = RegisterBufferPool::new(2).unwrap();
    assert_eq!(regs.iovecs().len(), 2);
}

#[test]
#[cfg_attr(miri, ignore = "reads /proc, which Miri isolates; runs natively")]
fn a_titan_pool_costs_nothing_until_written() {
    let before = resident_bytes();
    let pool = TitanBufferPool::new(8).unwrap(); // 1 GiB
    let after = resident_bytes();
    assert!(
        after.saturating_sub(before) < 16 << 20,
        "a 1 GiB pool raised RSS by {} bytes",
        after - before
    );
    let mut g = pool.get();
    g.0[BUFFER_SIZE_TITAN - 1] = 1;
    assert_eq!(g.0[BUFFER_SIZE_TITAN - 1], 1);
}

#[test]
fn from_fn_builds_any_type_and_drops_every_item() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Tracked(usize);
    impl Drop for Tracked {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let pool = BoundedPool::from_fn(5, Tracked).unwrap();
    assert_eq!(pool.capacity(), 5);
    // Held together: a buffer dropped at once may be the next one taken.
    let held: Vec<_> = (0..5).map(|_| pool.try_get().unwrap()).collect();
    assert_eq!(pool.try_get().unwrap_err(), Error::WouldBlock);
    let mut seen: Vec<usize> = held.iter().map(|g| g.0).collect();
    drop(held);
    seen.sort();
    assert_eq!(seen, (0..5).collect::<Vec<_>>());
    let mut t = pool.get_index();
    pool.set_value(&mut t, Tracked(100));
    assert_eq!(
        DROPS.load(Ordering::SeqCst),
        1,
        "set_value drops the old item"
    );
    pool.put(t);
    drop(pool);
    assert_eq!(DROPS.load(Ordering::SeqCst), 6);
}

#[test]
fn from_fn_that_panics_drops_what_it_made() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Tracked;
    impl Drop for Tracked {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let result = std::panic::catch_unwind(|| {
        BoundedPool::from_fn(8, |i| {
            assert!(i < 5, "cannot make item {i}");
            Tracked
        })
    });
    assert!(result.is_err());
    assert_eq!(DROPS.load(Ordering::SeqCst), 5);
}

#[test]
fn zero_sized_items_work() {
    let pool = BoundedPool::from_fn(4, |_| ()).unwrap();
    let a = pool.get();
    let b = pool.get();
    assert_ne!(a.index(), b.index());
    assert_eq!(pool.available(), 2);
}

#[test]
fn stats_and_debug() {
    let pool = MicroBufferPool::new(4).unwrap();
    let g = pool.get();
    let stats = pool.stats();
    assert_eq!((stats.capacity, stats.available, stats.in_use), (4, 3, 1));
    assert_eq!((stats.waiting, stats.waits, stats.timeouts), (0, 0, 0));
    drop(g);
    let s = format!("{pool:?}");
    assert!(
        s.contains("capacity: 4") && s.contains("available: 4"),
        "{s}"
    );
    assert!(s.len() < 200);
}

#[test]
fn generic_traits() {
    fn through_trait<P: Pool>(pool: &P) -> usize {
        let _a = pool.get();
        let _b = pool.try_get().unwrap();
        let _c = pool.get_timeout(Duration::from_millis(1)).unwrap();
        pool.capacity() - pool.available()
    }
    assert_eq!(through_trait(&SmallBufferPool::new(4).unwrap()), 3);

    let pool = SmallBufferPool::new(2).unwrap();
    let dynamic: &dyn IndirectPool<SmallBuffer> = &pool;
    let mut t = dynamic.get_index();
    dynamic.value_mut(&mut t).0[0] = 1;
    assert_eq!(dynamic.value(&t).0[0], 1);
    dynamic.set_value(&mut t, SmallBuffer([0; 2048]));
    let u = dynamic.try_get_index().unwrap();
    assert!(dynamic.try_get_index().is_err());
    dynamic.put(t);
    dynamic.put(u);
    assert_eq!(dynamic.capacity(), 2);
}

#[test]
fn auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<BoundedPool<SmallBuffer>>();
    // Items that are Send but not Sync still make a Sync pool (as Mutex).
    send_sync::<BoundedPool<Cell<u8>>>();
    send::<Pooled<'static, Cell<u8>>>();
    send::<OwnedPooled<Cell<u8>>>();
    send_sync::<OwnedPooled<SmallBuffer>>();
    send::<BufIndex>();
}

#[test]
#[should_panic(expected = "out of range")]
fn an_out_of_range_token_panics_in_release_builds_too() {
    let pool = PicoBufferPool::new(2).unwrap();
    let raw = pool.get_index().into_raw();
    // `from_raw`'s contract forbids a value that `into_raw` did not make;
    // the range check turns that mistake into a panic, never a read past
    // the slab.
    // SAFETY: deliberately broken (see above); the pool must refuse it
    // before touching memory.
    let forged = unsafe { BufIndex::from_raw(raw | 0xffff) };
    let _ = pool.value(&forged);
}

#[test]
fn from_index_turns_tokens_back_into_guards_of_their_own_pool_only() {
    let a = Arc::new(iobuf::PicoBufferPool::new(2).unwrap());
    let b = iobuf::PicoBufferPool::new(2).unwrap();
    let owned = iobuf::OwnedPooled::from_index(a.clone(), a.try_get_index().unwrap());
    let borrowed = iobuf::Pooled::from_index(&a, a.try_get_index().unwrap());
    assert_eq!(a.available(), 0);
    drop((owned, borrowed));
    assert_eq!(a.available(), 2);
    let foreign = b.try_get_index().unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = iobuf::Pooled::from_index(&a, foreign);
    }));
    assert!(r.is_err(), "a token of another pool must panic");
}
