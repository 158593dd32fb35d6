//! `Filled` over real pooled holders: `read_buf` from a loopback
//! `TcpStream` into each holder, `freeze` into `Bytes` whose clones and
//! slices keep the buffer out of the pool (and only they), `BufMut` and
//! `std::io::Write` at the capacity, and a frozen buffer dropped in another
//! task.

use std::io::{ErrorKind, Write};
use std::sync::Arc;

use bytes::{BufMut, Bytes};
use iobuf::{Filled, NanoBufferPool, PicoBufferPool, PoolConfig, SmallBufferPool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Rounds of the threaded tests: fewer under Miri, which is ~1000x slower.
const ROUNDS: u32 = if cfg!(miri) { 4 } else { 200 };

mod pools {
    iobuf::buffer_pools! {
        small: 2KiB x 8,
        large: 64KiB x 2,
    }
}

/// A connected loopback pair: (client, server side).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (client.unwrap(), accepted.unwrap().0)
}

/// Sends `len` patterned bytes on one side and `read_buf`s them into
/// `buf` on the other, until it holds them all; checks every byte.
async fn read_buf_roundtrip<H>(buf: &mut Filled<H>, len: usize)
where
    H: AsRef<[u8]> + AsMut<[u8]> + Unpin,
{
    let (mut tx, mut rx) = tcp_pair().await;
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let send = tokio::spawn(async move {
        tx.write_all(&data).await.unwrap();
        tx
    });
    while buf.len() < len {
        let n = rx.read_buf(buf).await.unwrap();
        assert_ne!(n, 0, "the peer closed early");
    }
    let tx = send.await.unwrap();
    drop(tx);
    assert_eq!(buf.len(), len);
    assert!(
        buf.iter()
            .enumerate()
            .all(|(i, &b)| b == (i * 7 % 251) as u8)
    );
    // The peer is gone: a full buffer reads 0 (no room), an empty one EOF.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore = "sockets and tokio's runtime: not under Miri")]
async fn read_buf_fills_a_pooled() {
    let pool = SmallBufferPool::new(2).unwrap();
    let mut buf = Filled::new(pool.get_async().await);
    read_buf_roundtrip(&mut buf, 1500).await;
    assert_eq!(buf.remaining_capacity(), 548);
    drop(buf);
    assert_eq!(pool.available(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore = "sockets and tokio's runtime: not under Miri")]
async fn read_buf_fills_an_owned_pooled_up_to_its_capacity() {
    let pool = Arc::new(NanoBufferPool::new(1).unwrap());
    let mut buf = Filled::new(pool.get_owned_async().await);
    // Exactly the capacity: read_buf stops at a full buffer.
    read_buf_roundtrip(&mut buf, 128).await;
    assert_eq!(buf.remaining_mut(), 0);
    let mut more = [0u8; 1];
    let (mut tx, mut rx) = tcp_pair().await;
    tx.write_all(b"x").await.unwrap();
    assert_eq!(rx.read_buf(&mut buf).await.unwrap(), 0, "no room, no read");
    rx.read_exact(&mut more).await.unwrap();
    drop(buf);
    assert_eq!(pool.available(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore = "sockets and tokio's runtime: not under Miri")]
async fn read_buf_fills_a_macro_buf_and_writes_it_back() {
    let mut buf = Filled::new(pools::get_async(3000).await.unwrap());
    assert_eq!(buf.capacity(), 64 << 10);
    read_buf_roundtrip(&mut buf, 3000).await;

    let (mut tx, mut rx) = tcp_pair().await;
    let expect = buf.to_vec();
    tx.write_all_buf(&mut buf).await.unwrap();
    assert!(buf.is_empty(), "write_all_buf consumes the view");
    let mut echoed = vec![0; 3000];
    rx.read_exact(&mut echoed).await.unwrap();
    assert_eq!(echoed, expect);
    drop(buf);
    assert_eq!(pools::large().available(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore = "sockets and tokio's runtime: not under Miri")]
async fn read_buf_after_a_partial_consume_reuses_the_front() {
    // Parse-then-read-more: a full buffer, its front consumed, must still
    // take more (a `read_buf` of 0 would look like EOF).
    let pool = NanoBufferPool::new(1).unwrap();
    let mut buf = Filled::new(pool.get());
    let (mut tx, mut rx) = tcp_pair().await;
    let data: Vec<u8> = (0..=255).collect();
    tx.write_all(&data).await.unwrap();
    while buf.remaining_capacity() > 0 {
        rx.read_buf(&mut buf).await.unwrap();
    }
    assert_eq!(&buf[..], &data[..128]);
    bytes::Buf::advance(&mut buf, 100);
    let mut got = 128;
    while got < 256 && buf.remaining_capacity() > 0 {
        let n = rx.read_buf(&mut buf).await.unwrap();
        assert_ne!(n, 0, "room consumed from the front must be offered again");
        got += n;
    }
    assert_eq!(&buf[..28], &data[100..128]);
    assert_eq!(&buf[28..], &data[128..got]);
}

/// Writes `pattern` into a fresh view of the only buffer and freezes it.
fn frozen_pattern(pool: &Arc<PicoBufferPool>, pattern: u8) -> Bytes {
    let mut buf = Filled::new(pool.try_get_owned().unwrap());
    buf.put_bytes(pattern, 32);
    buf.freeze()
}

/// Checks that the pool's buffers are all out: the frozen one cannot have
/// gone home while something still shares it.
fn assert_still_out(pool: &Arc<PicoBufferPool>) {
    assert_eq!(pool.available(), 0);
    assert!(pool.try_get().is_err());
}

#[test]
fn a_slice_keeps_the_buffer_after_the_original_drops() {
    let pool = Arc::new(PicoBufferPool::new(1).unwrap());
    let bytes = frozen_pattern(&pool, 0x5A);
    let slice = bytes.slice(4..20);
    drop(bytes);
    assert_still_out(&pool);
    assert!(slice.iter().all(|&b| b == 0x5A));
    drop(slice);
    assert_eq!(pool.available(), 1);
    // The buffer really went home: the next holder overwrites it freely.
    let mut again = pool.try_get().unwrap();
    again.0 = [0; 32];
}

#[test]
fn clones_and_slices_in_every_drop_order() {
    let pool = Arc::new(PicoBufferPool::new(1).unwrap());
    for order in 0..6u8 {
        let bytes = frozen_pattern(&pool, order);
        let clone = bytes.clone();
        let slice = clone.slice(8..);
        let mut parts: Vec<Option<Bytes>> = vec![Some(bytes), Some(clone), Some(slice)];
        // The six orders of three drops.
        let seq: [usize; 3] = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ][order as usize];
        for (k, &i) in seq.iter().enumerate() {
            let part = parts[i].take().unwrap();
            assert!(part.iter().all(|&b| b == order));
            drop(part);
            if k < 2 {
                assert_still_out(&pool);
                let live = parts.iter().flatten().next().unwrap();
                assert!(
                    live.iter().all(|&b| b == order),
                    "bytes changed under a live slice"
                );
            }
        }
        assert_eq!(pool.available(), 1, "order {seq:?}");
    }
}

#[test]
fn frozen_buffers_across_threads_all_come_home() {
    let pool = Arc::new(PicoBufferPool::new(4).unwrap());
    let mut handles = Vec::new();
    for t in 0..4u8 {
        let pool = pool.clone();
        handles.push(std::thread::spawn(move || {
            for round in 0..ROUNDS {
                let mut buf = Filled::new(pool.get_owned());
                let tag = t.wrapping_mul(31).wrapping_add(round as u8);
                buf.put_bytes(tag, 32);
                let bytes = buf.freeze();
                let slices: Vec<Bytes> = (0..4).map(|i| bytes.slice(i * 8..(i + 1) * 8)).collect();
                drop(bytes);
                // Hand half the slices to another thread, drop the rest here.
                let (mine, theirs) = slices.split_at(2);
                let theirs = theirs.to_vec();
                let other = std::thread::spawn(move || {
                    assert!(theirs.iter().all(|s| s.iter().all(|&b| b == tag)));
                });
                assert!(mine.iter().all(|s| s.iter().all(|&b| b == tag)));
                drop(slices);
                other.join().unwrap();
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(pool.available(), 4);
}

#[test]
fn no_buffer_returns_while_a_slice_lives_under_contention() {
    // Two buffers: one frozen and sliced, the other cycled hard by another
    // thread. If the frozen one went home early, the cycling thread would
    // get it and overwrite the pattern the slice still reads.
    let pool = Arc::new(PicoBufferPool::new(2).unwrap());
    let bytes = frozen_pattern(&pool, 0xC3);
    let slice = bytes.slice(..);
    drop(bytes);
    let cycler = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            for _ in 0..ROUNDS * 50 {
                let mut b = pool.get_owned();
                b.0 = [0xFF; 32];
            }
        })
    };
    for _ in 0..ROUNDS * 5 {
        assert!(slice.iter().all(|&b| b == 0xC3));
    }
    cycler.join().unwrap();
    assert!(slice.iter().all(|&b| b == 0xC3));
    assert_eq!(pool.available(), 1);
    drop(slice);
    assert_eq!(pool.available(), 2);
}

#[test]
fn freezing_a_static_pooled_and_a_macro_buf() {
    let mut buf = Filled::new(pools::small().get());
    buf.extend_from_slice(b"static");
    let bytes = buf.freeze();
    assert_eq!(pools::small().available(), 7);
    assert_eq!(&bytes[..], b"static");
    drop(bytes);
    assert_eq!(pools::small().available(), 8);

    let mut buf = Filled::new(pools::try_get(100).unwrap());
    write!(buf, "{}", 12345).unwrap();
    let bytes = buf.freeze();
    assert_eq!(&bytes[..], b"12345");
}

#[test]
fn buf_mut_and_write_stop_at_the_capacity() {
    let pool = PicoBufferPool::new(1).unwrap();
    let mut buf = Filled::new(pool.get());
    assert_eq!(buf.write(&[1; 40]).unwrap(), 32);
    assert_eq!(buf.write(&[1]).unwrap(), 0);
    assert_eq!(
        buf.write_all(&[1]).unwrap_err().kind(),
        ErrorKind::WriteZero
    );
    buf.clear();
    buf.put_bytes(2, 30);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| buf.put_slice(&[3; 3])));
    assert!(r.is_err(), "BufMut past the capacity panics");
    assert_eq!(buf.len(), 30, "and writes nothing");
    drop(buf);
    assert_eq!(
        pool.available(),
        1,
        "a panic inside a write loses no buffer"
    );
}

#[test]
fn going_home_resets_the_length_and_zero_on_return_still_zeroes() {
    let pool = PicoBufferPool::with_config(1, PoolConfig::new().zero_on_return(true)).unwrap();
    let mut buf = Filled::new(pool.get());
    buf.extend_from_slice(b"secret");
    drop(buf);
    let buf = Filled::new(pool.get());
    assert!(buf.is_empty());
    assert_eq!(buf.holder().0, [0; 32]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore = "sockets and tokio's runtime: not under Miri")]
async fn bytes_sent_through_a_channel_go_home_from_another_task() {
    let pool = Arc::new(SmallBufferPool::new(4).unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let consumer = tokio::spawn(async move {
        let mut seen = 0usize;
        while let Some(bytes) = rx.recv().await {
            let n = bytes[0] as usize;
            assert_eq!(bytes.len(), 64);
            assert!(bytes.iter().all(|&b| b as usize == n));
            seen += 1;
            drop(bytes); // home, from this task
        }
        seen
    });
    for n in 0..100u8 {
        // Waits whenever all four are in the channel or the consumer.
        let mut buf = Filled::new(pool.get_owned_async().await);
        buf.put_bytes(n, 64);
        tx.send(buf.freeze()).await.unwrap();
    }
    drop(tx);
    assert_eq!(consumer.await.unwrap(), 100);
    assert_eq!(pool.available(), 4);
}

#[test]
fn filled_views_are_send_and_sync_like_their_holders() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Filled<iobuf::OwnedPooled<iobuf::SmallBuffer>>>();
    send_sync::<Filled<iobuf::Pooled<'static, iobuf::SmallBuffer>>>();
    send_sync::<Filled<pools::Buf>>();
}
