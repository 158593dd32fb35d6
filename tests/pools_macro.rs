//! `buffer_pools!`: what it emits, and how the emitted pools behave.

use std::sync::atomic::{AtomicBool, Ordering};

use iobuf::{BufferTier, Error, Tier};

mod net {
    iobuf::buffer_pools! {
        /// Packet buffers.
        small: 2KiB x 64,
        /// Bulk transfers, zeroed when they come back.
        #[pool(zero_on_return)]
        large: 128KiB x 8,
        // Declared out of order: `get(len)` still picks the smallest fit.
        medium: 8 KiB x 16,
    }
}

mod disk {
    iobuf::buffer_pools! {
        page: 4096 x 32,
        #[pool(prefault, huge_pages, thread_cache = 0)]
        extent: 0x1MiB x 2,
        #[pool(thread_cache = 16)]
        block: 64KiB x 64,
        tiny_header: 512B x 1_024,
        rx_ring: 2_048B x 4,
    }
}

#[test]
fn each_entry_gets_a_typed_buffer_and_a_pool() {
    assert_eq!(net::Small::SIZE, 2048);
    assert_eq!(net::Small::TIER, Some(Tier::Small));
    assert_eq!(net::Medium::SIZE, 8192);
    assert_eq!(net::Large::SIZE, 128 << 10);
    assert_eq!(net::small().capacity(), 64);
    assert_eq!(net::medium().capacity(), 16);
    assert_eq!(net::large().capacity(), 8);
    assert!(std::ptr::eq(net::small(), net::small()), "a singleton");
    let mut b = net::small().get();
    b.0[0] = 1;
    assert_eq!(b.as_ref().len(), 2048);
    assert!(format!("{:?}", *b).contains("Small"));
}

#[test]
fn two_modules_have_their_own_sets() {
    assert_eq!(disk::Page::SIZE, 4096);
    assert_eq!(disk::Extent::SIZE, 1 << 20);
    assert_eq!(disk::TinyHeader::SIZE, 512);
    assert_eq!(disk::RxRing::SIZE, 2048);
    assert_eq!(disk::tiny_header().capacity(), 1024);
    assert_eq!(disk::block().thread_cache_capacity(), 16);
    assert_eq!(disk::extent().thread_cache_capacity(), 0);
    assert_eq!(
        disk::tiny_header().thread_cache_capacity(),
        64,
        "the default"
    );
    assert_eq!(net::TOTAL_BYTES, 2048 * 64 + 8192 * 16 + (128 << 10) * 8);
    assert_eq!(
        disk::TOTAL_BYTES,
        4096 * 32 + (1 << 20) * 2 + (64 << 10) * 64 + 512 * 1024 + 2048 * 4
    );
    // Same size in two modules: distinct types, distinct pools.
    let a = net::get(2048).unwrap();
    let b = disk::get(2000).unwrap();
    assert_eq!((a.name(), b.name()), ("small", "rx_ring"));
}

#[test]
fn init_creates_every_pool() {
    disk::init().unwrap();
    net::init().unwrap();
    assert_eq!(disk::extent().available(), 2);
}

#[test]
fn get_picks_the_smallest_entry_that_holds_len() {
    for (len, name, size) in [
        (0, "small", 2048),
        (1, "small", 2048),
        (2048, "small", 2048),
        (2049, "medium", 8192),
        (8192, "medium", 8192),
        (8193, "large", 131072),
        (131072, "large", 131072),
    ] {
        let buf = net::get(len).unwrap();
        assert_eq!((buf.name(), buf.len()), (name, size), "len {len}");
        let buf = net::try_get(len).unwrap();
        assert_eq!(buf.name(), name, "len {len}");
    }
    assert!(net::get(131073).is_none());
    assert!(net::get(usize::MAX).is_none());
    let err = net::try_get(131073).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }));
    assert!(err.to_string().contains("131073"), "{err}");
}

#[test]
fn buf_derefs_to_its_bytes_and_returns_on_drop() {
    // A private set: other tests use `net` concurrently.
    mod own {
        iobuf::buffer_pools! {
            medium: 8KiB x 16,
        }
    }
    let before = own::medium().available();
    let mut buf = own::get(5000).unwrap();
    buf[..4].copy_from_slice(b"data");
    assert_eq!(&buf.as_ref()[..4], b"data");
    assert_eq!(buf.as_mut().len(), 8192);
    assert!(buf.index() < 16);
    let dbg = format!("{buf:?}");
    assert!(dbg.contains("medium") && dbg.contains("8192"), "{dbg}");
    assert_eq!(own::medium().available(), before - 1);
    drop(buf);
    assert_eq!(own::medium().available(), before);
}

#[test]
fn pool_options_are_applied() {
    let mut b = net::large().get();
    let i = b.index();
    b.0.fill(0xEE);
    drop(b);
    // Drain until the same buffer comes back: it must be zeroed.
    let held: Vec<_> = (0..8).map(|_| net::large().get()).collect();
    let again = held.iter().find(|g| g.index() == i).unwrap();
    assert!(again.0.iter().all(|&x| x == 0));
}

#[test]
fn try_get_any_falls_through_to_larger_entries() {
    // A private set so other tests cannot interfere.
    mod tight {
        iobuf::buffer_pools! {
            one: 64B x 1,
            two: 128B x 1,
        }
    }
    let a = tight::try_get_any(10).unwrap();
    assert_eq!(a.name(), "one");
    assert_eq!(tight::try_get(10).unwrap_err(), Error::WouldBlock);
    let b = tight::try_get_any(10).unwrap();
    assert_eq!(b.name(), "two");
    assert_eq!(tight::try_get_any(10).unwrap_err(), Error::WouldBlock);
    assert!(matches!(
        tight::try_get_any(129),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn singletons_from_eight_threads_keep_ownership_exclusive() {
    mod shared {
        iobuf::buffer_pools! {
            slot: 256B x 4,
        }
    }
    let held: Vec<AtomicBool> = (0..4).map(|_| AtomicBool::new(false)).collect();
    std::thread::scope(|s| {
        for t in 0..8u8 {
            let held = &held;
            s.spawn(move || {
                for round in 0..if cfg!(miri) { 50 } else { 20_000u32 } {
                    let mut b = shared::get(100).unwrap();
                    let i = b.index() as usize;
                    assert!(
                        !held[i].swap(true, Ordering::SeqCst),
                        "index {i} held twice"
                    );
                    b[0] = t;
                    b[1] = round as u8;
                    assert_eq!((b[0], b[1]), (t, round as u8), "another holder wrote");
                    assert!(held[i].swap(false, Ordering::SeqCst));
                }
            });
        }
    });
    assert_eq!(shared::slot().available(), 4);
}
