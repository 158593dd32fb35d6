//! Shared views of one pooled buffer (`iobuf::shared`): splits, clones and
//! slices share the buffer without copying, the buffer goes home exactly
//! when the writer and the last view are gone, and a writer filling the
//! tail while other threads read views of the head is sound (run under
//! Miri's Stacked and Tree Borrows, and ThreadSanitizer).

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes};
use iobuf::shared::{SplitBuf, View};
use iobuf::{BoundedPool, NanoBufferPool, PicoBuffer};

fn pool(capacity: usize) -> Arc<NanoBufferPool> {
    Arc::new(NanoBufferPool::new(capacity).unwrap())
}

#[test]
fn views_keep_their_bytes_and_the_buffer_until_the_last_one_drops() {
    let pool = pool(2);
    let mut buf = SplitBuf::from(pool.get_owned());
    assert_eq!((buf.len(), buf.capacity()), (0, 128));
    buf.extend_from_slice(b"abcdefgh");
    let head = buf.split_to(3);
    assert_eq!(&head[..], b"abc");
    assert_eq!(&buf[..], b"defgh");
    let all = buf.split();
    assert!(buf.is_empty());
    assert_eq!(buf.capacity(), 120);
    let copy = all.clone();
    let mid = all.slice(1..=2);
    assert_eq!(&mid[..], b"ef");
    // Writing after splitting does not touch the views.
    buf.extend_from_slice(b"XYZ");
    assert_eq!(
        (&head[..], &all[..], &buf[..]),
        (&b"abc"[..], &b"defgh"[..], &b"XYZ"[..])
    );
    assert_eq!(pool.available(), 1);
    drop((buf, head, all, copy));
    assert_eq!(pool.available(), 1, "`mid` still holds the buffer");
    assert_eq!(mid, &b"ef"[..]);
    drop(mid);
    assert_eq!(pool.available(), 2);
}

#[test]
fn freeze_gives_the_filled_part_and_drops_the_tail() {
    let pool = pool(1);
    let mut buf = SplitBuf::from(pool.get_owned());
    buf.extend_from_slice(b"frame");
    let view = buf.freeze();
    assert_eq!(view, &b"frame"[..]);
    assert_eq!(pool.available(), 0);
    drop(view);
    assert_eq!(pool.available(), 1);
}

#[test]
fn split_off_makes_two_writers_over_disjoint_ranges() {
    let pool = pool(1);
    let mut front = SplitBuf::from(pool.get_owned());
    front.extend_from_slice(b"0123456789");
    let mut back = front.split_off(4);
    assert_eq!((&front[..], front.capacity()), (&b"0123"[..], 4));
    assert_eq!((&back[..], back.capacity()), (&b"456789"[..], 124));
    assert_eq!(front.remaining_capacity(), 0);
    back.extend_from_slice(b"!");
    let tail = back.split_off(back.len() + 10);
    assert_eq!((tail.len(), tail.capacity()), (0, 124 - 17));
    assert_eq!(&back.freeze()[..], b"456789!");
    drop((front, tail));
    assert_eq!(pool.available(), 1);
}

#[test]
fn views_split_and_truncate_like_bytes() {
    let pool = pool(1);
    let mut buf = SplitBuf::from(pool.get_owned());
    buf.extend_from_slice(b"hello world");
    let mut view = buf.freeze();
    let hello = view.split_to(5);
    let world = view.split_off(1);
    assert_eq!(
        (&hello[..], &view[..], &world[..]),
        (&b"hello"[..], &b" "[..], &b"world"[..])
    );
    let mut w = world.clone();
    w.truncate(3);
    assert_eq!(&w[..], b"wor");
    assert!(view.slice(1..).is_empty());
}

#[test]
#[should_panic(expected = "splitting 9 bytes off a SplitBuf of length 8")]
fn split_past_the_filled_bytes_panics() {
    let pool = pool(1);
    let mut buf = SplitBuf::from(pool.get_owned());
    buf.extend_from_slice(&[0; 8]);
    let _ = buf.split_to(9);
}

#[test]
#[should_panic(expected = "slicing 2..5 of a View of length 4")]
fn slicing_past_the_view_panics() {
    let pool = pool(1);
    let mut buf = SplitBuf::from(pool.get_owned());
    buf.extend_from_slice(&[0; 4]);
    let _ = buf.freeze().slice(2..5);
}

#[test]
fn a_panicking_split_loses_no_buffer() {
    let pool = pool(1);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut buf = SplitBuf::from(pool.get_owned());
        buf.commit(200);
    }));
    assert!(result.is_err());
    assert_eq!(pool.available(), 1);
}

#[test]
fn bytes_and_buf_integration() {
    let pool = pool(1);
    let mut buf = SplitBuf::from(pool.get_owned());
    buf.put_u32(7);
    buf.put_slice(b"payload");
    assert_eq!(buf.remaining_mut(), 128 - 11);
    let mut view = buf.freeze();
    assert_eq!(view.get_u32(), 7);
    let payload: Bytes = view.copy_to_bytes(7);
    assert_eq!(&payload[..], b"payload");
    assert!(!view.has_remaining());
    drop(view);
    assert_eq!(pool.available(), 0, "the Bytes still holds the buffer");
    let clone = payload.clone();
    drop(payload);
    assert_eq!(&clone[..], b"payload");
    drop(clone);
    assert_eq!(pool.available(), 1);
}

#[test]
fn static_pools_split_too() {
    static POOL: std::sync::LazyLock<BoundedPool<PicoBuffer>> =
        std::sync::LazyLock::new(|| BoundedPool::new(2).unwrap());
    let mut buf = SplitBuf::from(POOL.get());
    buf.extend_from_slice(b"abc");
    let view = buf.split_to(2);
    drop(buf);
    assert_eq!(POOL.available(), 1);
    let on_thread = std::thread::spawn(move || view.to_vec()).join().unwrap();
    assert_eq!(on_thread, b"ab");
    assert_eq!(POOL.available(), 2);
}

#[test]
fn views_are_send_sync_static() {
    fn check<T: Send + Sync + 'static>() {}
    check::<View>();
    check::<SplitBuf>();
}

/// The writer keeps filling the tail and cutting views while other threads
/// read (and drop) the views cut earlier: under Miri this checks that a
/// writer's `&mut` to its range and the readers' `&` to frozen ranges
/// never overlap; under TSan, that the last drop orders every read before
/// the buffer goes home (each round zeroes on return).
#[test]
fn a_writer_fills_the_tail_while_threads_read_the_head() {
    let rounds = if cfg!(miri) { 3 } else { 200 };
    let pool = Arc::new(
        BoundedPool::<iobuf::NanoBuffer>::with_config(
            2,
            iobuf::PoolConfig::new().zero_on_return(true),
        )
        .unwrap(),
    );
    for round in 0..rounds {
        let mut buf = SplitBuf::from(pool.get_owned());
        let (tx, rx) = std::sync::mpsc::channel::<View>();
        let reader = std::thread::spawn(move || {
            let mut seen = 0;
            for view in rx {
                let first = view[0];
                assert!(
                    view.iter().all(|&b| b == first),
                    "a view changed under its reader"
                );
                let copy = view.clone();
                seen += copy.len();
            }
            seen
        });
        let mut sent = 0;
        for k in 0..8u8 {
            let len = 1 + (k as usize + round) % 8;
            let fill = [k.wrapping_add(round as u8) | 1; 16];
            buf.extend_from_slice(&fill[..len]);
            tx.send(buf.split_to(len)).unwrap();
            sent += len;
        }
        drop(tx);
        drop(buf);
        assert_eq!(reader.join().unwrap(), sent);
        assert_eq!(pool.available(), 2, "round {round}");
    }
}
