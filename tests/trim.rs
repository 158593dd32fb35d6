//! `BoundedPool::release_memory`: the memory of idle buffers goes back to
//! the OS (resident memory falls), held buffers are never touched, and
//! every buffer is usable afterwards.
//!
//! Resident memory is the whole process's, so this file is its own test
//! binary (its own process), and its tests take turns (`SERIAL`): no other
//! test of it allocates or frees while one measures.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use common::resident_bytes;
use iobuf::{
    BoundedPool, LargeBuffer, LargeBufferPool, PicoBufferPool, PoolConfig, SmallBufferPool,
};

/// Held by each test for its whole run.
static SERIAL: Mutex<()> = Mutex::new(());

const LARGE: usize = 128 << 10;
const MIB: usize = 1 << 20;

/// Whether `release_memory` gives anything back here; if not, says why
/// (the test then checks nothing more).
fn releases(test: &str) -> bool {
    let supported = cfg!(any(target_os = "linux", target_os = "android")) && !cfg!(miri);
    if !supported {
        eprintln!("{test}: skipped: release_memory gives memory back on Linux only (not Miri)");
    }
    supported
}

/// Whether the kernel may back huge-advised slabs with transparent huge
/// pages, as the pool reads it.
fn transparent_huge_pages() -> bool {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .is_ok_and(|mode| !mode.contains("[never]"))
}

/// Holds every buffer of `pool`, fills buffer `i` with `i + 1` (every page
/// committed), and gives them all back.
fn touch_all(pool: &LargeBufferPool) {
    let mut bufs: Vec<_> = (0..pool.capacity()).map(|_| pool.get()).collect();
    for buf in &mut bufs {
        let fill = buf.index() as u8 + 1;
        buf.0.fill(fill);
    }
}

/// Holds every buffer of `pool` and says, by index, whether it still holds
/// the fill of `touch_all` (`Some(true)`), zeros (`Some(false)`), or
/// anything else (`None`); then writes and reads back each one.
fn survey(pool: &LargeBufferPool) -> Vec<Option<bool>> {
    let mut bufs: Vec<_> = (0..pool.capacity()).map(|_| pool.get()).collect();
    bufs.sort_by_key(|b| b.index());
    bufs.iter_mut()
        .map(|buf| {
            let fill = buf.index() as u8 + 1;
            let state = if buf.0.iter().all(|&b| b == fill) {
                Some(true)
            } else if buf.0.iter().all(|&b| b == 0) {
                Some(false)
            } else {
                None
            };
            // Usable: written and read back.
            buf.0.fill(0x5A);
            assert!(buf.0.iter().all(|&b| b == 0x5A));
            buf.0.fill(fill);
            state
        })
        .collect()
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / MIB as f64
}

#[test]
fn resident_memory_falls_and_every_buffer_still_works() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let test = "resident_memory_falls_and_every_buffer_still_works";
    let pool = LargeBufferPool::new(64).unwrap(); // 8 MiB
    let bytes = pool.capacity() * LARGE;
    touch_all(&pool);
    if !releases(test) {
        return;
    }

    let before = resident_bytes();
    let released = pool.release_memory(0);
    let after = resident_bytes();
    eprintln!(
        "{test}: release_memory(0) of {:.1} MiB: returned {:.1} MiB; RSS {:.1} -> {:.1} MiB \
         (fell {:.1} MiB)",
        mib(bytes),
        mib(released),
        mib(before),
        mib(after),
        mib(before.saturating_sub(after)),
    );
    // One run of 64 idle buffers, 2 MiB-aligned: all of it goes back.
    assert_eq!(released, bytes);
    assert!(
        before.saturating_sub(after) >= bytes * 3 / 4,
        "RSS fell by {} bytes, less than 3/4 of {bytes}",
        before.saturating_sub(after)
    );
    assert_eq!(pool.available(), pool.capacity());

    // Every buffer comes out zeroed, and works.
    assert!(survey(&pool).iter().all(|&s| s == Some(false)));
    let refilled = resident_bytes();
    assert!(
        refilled >= after + bytes * 3 / 4,
        "writing every buffer commits its pages again"
    );

    // Keep 8 warm: the lowest 8 indices, untouched. With transparent huge
    // pages only whole 2 MiB blocks go back, so the block the warm buffers
    // share (indices 0..16) stays.
    let warm = 8;
    let before = resident_bytes();
    let released = pool.release_memory(warm);
    let after = resident_bytes();
    let expected = if transparent_huge_pages() {
        6 * MIB
    } else {
        7 * MIB
    };
    eprintln!(
        "{test}: release_memory({warm}): returned {:.1} MiB (expected {:.1}); RSS {:.1} -> {:.1} MiB",
        mib(released),
        mib(expected),
        mib(before),
        mib(after),
    );
    assert_eq!(released, expected);
    assert!(before.saturating_sub(after) >= released * 3 / 4);
    let states = survey(&pool);
    let kept = states.iter().filter(|&&s| s == Some(true)).count();
    let zeroed = states.iter().filter(|&&s| s == Some(false)).count();
    assert!(
        states[..warm].iter().all(|&s| s == Some(true)),
        "{states:?}"
    );
    assert_eq!(zeroed * LARGE, released, "{states:?}");
    assert_eq!(kept + zeroed, pool.capacity(), "{states:?}");
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn a_held_buffer_and_its_page_are_never_touched() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !releases("a_held_buffer_and_its_page_are_never_touched") {
        return;
    }
    // 4096 x 32 B = 128 KiB: mapped (not from the allocator), below 2 MiB
    // (released page by page), many buffers per page.
    let pool = PicoBufferPool::new(4096).unwrap();
    let page = iobuf::page_size();
    let per_page = page / 32;
    let mut all: Vec<_> = (0..pool.capacity()).map(|_| pool.get()).collect();
    for buf in &mut all {
        buf.0.fill(0xAA);
    }
    let mut held = all.swap_remove(1000);
    let held_index = held.index() as usize;
    held.0.copy_from_slice(&[0x42; 32]);
    drop(all);

    let released = pool.release_memory(0);
    // Every page but the held buffer's.
    assert_eq!(released, pool.capacity() * 32 - page);
    assert_eq!(held.0, [0x42; 32]);

    let mut all: Vec<_> = (0..pool.capacity() - 1).map(|_| pool.get()).collect();
    for buf in &mut all {
        let index = buf.index() as usize;
        // Its page-mates are idle, but share a page with a held buffer.
        let expected = if index / per_page == held_index / per_page {
            0xAA
        } else {
            0
        };
        assert!(
            buf.0.iter().all(|&b| b == expected),
            "buffer {index}: {:?}",
            buf.0
        );
        buf.0.fill(7);
    }
    drop(all);
    drop(held);
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn zero_on_return_pools_stay_zeroed_and_released() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !releases("zero_on_return_pools_stay_zeroed_and_released") {
        return;
    }
    // 8 x 128 KiB = 1 MiB: page by page.
    let pool = LargeBufferPool::with_config(8, PoolConfig::new().zero_on_return(true)).unwrap();
    touch_all(&pool); // and zeroed on return: still committed
    let before = resident_bytes();
    let released = pool.release_memory(0);
    let after = resident_bytes();
    assert_eq!(released, MIB);
    // Had the buffers gone back through the zeroing `put`, every page would
    // be committed again.
    assert!(
        before.saturating_sub(after) >= MIB * 3 / 4,
        "RSS {before} -> {after}"
    );
    assert!(survey(&pool).iter().all(|&s| s == Some(false)));
    // Dropped by `survey` with its fill: zeroed on return.
    assert!(pool.get().0.iter().all(|&b| b == 0));
}

#[test]
fn locked_pools_are_left_alone() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let test = "locked_pools_are_left_alone";
    let Ok(pool) = LargeBufferPool::with_config(8, PoolConfig::new().lock_memory(true)) else {
        eprintln!("{test}: skipped: could not lock 1 MiB (RLIMIT_MEMLOCK)");
        return;
    };
    touch_all(&pool);
    assert_eq!(pool.release_memory(0), 0);
    assert!(survey(&pool).iter().all(|&s| s == Some(true)));
}

#[test]
fn allocator_backed_pools_give_nothing_back() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // 64 x 32 B comes from the global allocator, not a mapping of its own.
    let pool = PicoBufferPool::new(64).unwrap();
    pool.get().0.fill(1);
    assert_eq!(pool.release_memory(0), 0);
    assert_eq!(pool.available(), 64);
}

#[test]
fn buffers_kept_warm_are_not_released() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let pool = BoundedPool::<LargeBuffer>::with_config(2, PoolConfig::new()).unwrap();
    pool.get().0.fill(1);
    assert_eq!(pool.release_memory(2), 0);
    assert_eq!(pool.release_memory(usize::MAX), 0);
    assert_eq!(pool.get().0[0], 1);
}

#[test]
fn held_buffers_never_change_while_releases_run() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // 512 x 2 KiB = 1 MiB, two buffers per page: a page goes back only when
    // both of its buffers are idle.
    let pool = SmallBufferPool::new(512).unwrap();
    let stop = AtomicBool::new(false);
    let rounds = if cfg!(miri) { 4 } else { 2_000 };
    let mut released = 0;
    thread::scope(|s| {
        for t in 0..4u8 {
            let (pool, stop) = (&pool, &stop);
            s.spawn(move || {
                let mut round = 0u8;
                // ORDERING: Relaxed: a stop flag; the scope's join orders
                // everything else.
                while !stop.load(Ordering::Relaxed) {
                    round = round.wrapping_add(1);
                    let fill = t.wrapping_mul(64).wrapping_add(round) | 1;
                    let mut held: Vec<_> = (0..8).map(|_| pool.get()).collect();
                    for buf in &mut held {
                        buf.0.fill(fill);
                    }
                    thread::yield_now();
                    for buf in &held {
                        let index = buf.index();
                        assert!(
                            buf.0.iter().all(|&b| b == fill),
                            "held buffer {index} changed under its holder"
                        );
                    }
                }
            });
        }
        for _ in 0..rounds {
            released += pool.release_memory(0);
        }
        // ORDERING: Relaxed, as above.
        stop.store(true, Ordering::Relaxed);
    });
    eprintln!(
        "held_buffers_never_change_while_releases_run: {rounds} releases gave back {:.1} MiB",
        mib(released)
    );
    assert_eq!(pool.available(), pool.capacity());
}
