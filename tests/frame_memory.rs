//! Memory follows data, not connections (issue 27): an idle async frame
//! reader holds no pooled buffer; a reader never waits on its own buffer
//! (R3 in `iobuf/src/frame/read.rs`), blocking or async, whether the views
//! of its earlier frames are dropped before the next read or later, on
//! another thread, while it waits; a stalled partial frame shrinks into a
//! smaller tier. Every test ends with every buffer home.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iobuf::frame::{AsyncFrameReader, FrameReader, LengthDelimited, Pools};
use iobuf::shared::View;
use iobuf::{LargeBufferPool, MediumBufferPool, SmallBufferPool};
use tokio::io::AsyncWriteExt;

/// A 4-byte length decoder whose maximum fits `pools`' largest tier.
fn codec(pools: &Pools) -> LengthDelimited {
    LengthDelimited::builder()
        .max_frame_length(pools.largest() - 4)
        .new_codec()
}

/// How long any step may take before the test calls it a stall.
const LIMIT: Duration = Duration::from_secs(10);

/// One frame: a 4-byte big-endian length, then `len` bytes of `fill`.
fn frame(len: usize, fill: u8) -> Vec<u8> {
    let mut out = (len as u32).to_be_bytes().to_vec();
    out.resize(4 + len, fill);
    out
}

fn frames(spec: &[(usize, u8)]) -> Vec<u8> {
    spec.iter()
        .flat_map(|&(len, fill)| frame(len, fill))
        .collect()
}

fn check(view: &View, len: usize, fill: u8) {
    assert_eq!(view.len(), len, "frame length");
    // Miri interprets each comparison: a sample of the bytes there.
    let step = if cfg!(miri) { 251 } else { 1 };
    assert!(view.iter().step_by(step).all(|&b| b == fill), "frame bytes");
    assert!(view.last().is_none_or(|&b| b == fill), "frame bytes");
}

/// Waits (bounded) until `pool` has every buffer home.
fn home<T: iobuf::BufferTier>(pool: &iobuf::BoundedPool<T>) {
    let deadline = Instant::now() + LIMIT;
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

/// Drops `view` on another thread after `after`.
fn drop_later(view: View, after: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        drop(view);
    })
}

/// A blocking source that hands out the whole of what is left per read.
struct Wire(io::Cursor<Vec<u8>>);

impl Read for Wire {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.0.read(out)
    }
}

/// The three self-waits of issue 27, blocking: `late` drops each frame on
/// another thread 50 ms after it was read (so the reader waits, watching
/// its buffer); otherwise before the next read.
fn self_waits_blocking(late: bool) {
    let keep = |view: View, late: bool, done: &mut Vec<std::thread::JoinHandle<()>>| {
        if late {
            done.push(drop_later(view, Duration::from_millis(50)));
        }
    };
    let mut done = Vec::new();

    // A read-ahead pool of one buffer; the second frame straddles its end.
    let pool = Arc::new(MediumBufferPool::new(1).unwrap());
    let wire = frames(&[(5000, 1), (5000, 2), (10, 3)]);
    let pools = Pools::new(pool.clone());
    let mut reader = FrameReader::new(Wire(io::Cursor::new(wire)), codec(&pools), pools).unwrap();
    for (len, fill) in [(5000, 1), (5000, 2), (10, 3)] {
        let view = reader.read_frame().unwrap().expect("a frame");
        check(&view, len, fill);
        keep(view, late, &mut done);
    }
    assert!(reader.read_frame().unwrap().is_none());
    if cfg!(miri) {
        // Miri checks the one-buffer case above (reuse in place, and the
        // watch when `late`); the big-tier cases copy megabytes, which it
        // interprets byte by byte.
        done.into_iter().for_each(|d| d.join().unwrap());
        home(&pool);
        return;
    }

    // A big tier of one buffer, and two big frames back to back.
    let medium = Arc::new(MediumBufferPool::new(2).unwrap());
    let large = Arc::new(LargeBufferPool::new(1).unwrap());
    let wire = frames(&[(100_000, 4), (100_000, 5)]);
    let pools = Pools::new(medium.clone()).with(large.clone());
    let mut reader = FrameReader::new(Wire(io::Cursor::new(wire)), codec(&pools), pools).unwrap();
    for fill in [4, 5] {
        let view = reader.read_frame().unwrap().expect("a frame");
        check(&view, 100_000, fill);
        keep(view, late, &mut done);
    }
    assert!(reader.read_frame().unwrap().is_none());

    // A two-buffer big tier shared by two readers, on two threads.
    let large2 = Arc::new(LargeBufferPool::new(2).unwrap());
    let readers: Vec<_> = (0..2u8)
        .map(|r| {
            let pools = Pools::new(medium.clone()).with(large2.clone());
            std::thread::spawn(move || {
                let wire = frames(&[(100_000, r), (100_000, r + 10), (90_000, r + 20)]);
                let mut reader =
                    FrameReader::new(Wire(io::Cursor::new(wire)), codec(&pools), pools).unwrap();
                let mut done = Vec::new();
                for (len, fill) in [(100_000, r), (100_000, r + 10), (90_000, r + 20)] {
                    let view = reader.read_frame().unwrap().expect("a frame");
                    check(&view, len, fill);
                    keep(view, late, &mut done);
                }
                assert!(reader.read_frame().unwrap().is_none());
                done.into_iter().for_each(|d| d.join().unwrap());
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
    done.into_iter().for_each(|d| d.join().unwrap());
    home(&pool);
    home(&medium);
    home(&large);
    home(&large2);
}

#[test]
fn a_blocking_reader_never_waits_on_itself() {
    self_waits_blocking(false);
}

#[test]
fn a_blocking_reader_waits_for_a_view_dropped_on_another_thread() {
    self_waits_blocking(true);
}

/// Reads `spec`'s frames from a duplex pipe written in one go, checking each
/// and dropping it `late` (50 ms after, on another thread) or at once.
async fn read_async(pools: Pools, spec: Vec<(usize, u8)>, late: bool) {
    let (mut client, server) = tokio::io::duplex(1 << 20);
    let wire = frames(&spec);
    let writer = tokio::spawn(async move {
        client.write_all(&wire).await.unwrap();
        client.shutdown().await.unwrap();
    });
    let mut reader = AsyncFrameReader::new(server, codec(&pools), pools).unwrap();
    let mut done = Vec::new();
    for (len, fill) in spec {
        let view = reader.read_frame().await.unwrap().expect("a frame");
        check(&view, len, fill);
        if late {
            done.push(drop_later(view, Duration::from_millis(50)));
        }
    }
    assert!(reader.read_frame().await.unwrap().is_none());
    writer.await.unwrap();
    for d in done {
        d.join().unwrap();
    }
}

async fn self_waits_async(late: bool) {
    let pool = Arc::new(MediumBufferPool::new(1).unwrap());
    let run = read_async(
        Pools::new(pool.clone()),
        vec![(5000, 1), (5000, 2), (10, 3)],
        late,
    );
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("one-buffer read-ahead: a stall");
    if cfg!(miri) {
        // As in `self_waits_blocking`.
        home(&pool);
        return;
    }

    let medium = Arc::new(MediumBufferPool::new(2).unwrap());
    let large = Arc::new(LargeBufferPool::new(1).unwrap());
    let run = read_async(
        Pools::new(medium.clone()).with(large.clone()),
        vec![(100_000, 4), (100_000, 5)],
        late,
    );
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("one-buffer big tier: a stall");

    let large2 = Arc::new(LargeBufferPool::new(2).unwrap());
    let runs: Vec<_> = (0..2u8)
        .map(|r| {
            let pools = Pools::new(medium.clone()).with(large2.clone());
            tokio::spawn(read_async(
                pools,
                vec![(100_000, r), (100_000, r + 10), (90_000, r + 20)],
                late,
            ))
        })
        .collect();
    for run in runs {
        tokio::time::timeout(LIMIT, run)
            .await
            .expect("two readers, two-buffer big tier: a stall")
            .unwrap();
    }
    home(&pool);
    home(&medium);
    home(&large);
    home(&large2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_reader_never_waits_on_itself() {
    self_waits_async(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_reader_waits_for_a_view_dropped_on_another_thread() {
    self_waits_async(true).await;
}

/// `n` readers over loopback TCP (`ready`: made `with_readiness`) or
/// duplex pipes, each after a burst of frames, then idle; then one more
/// reader, whose frame must be read at once. The pool has as many buffers
/// as idle readers.
async fn idle_readers(ready: bool) {
    const IDLE: usize = 4;
    let pool = Arc::new(MediumBufferPool::new(IDLE).unwrap());
    let listener = match ready {
        true => Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        false => None,
    };
    let (got_tx, mut got_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, usize)>();
    let mut clients = Vec::new();
    let mut servers = Vec::new();
    for who in 0..=IDLE {
        let pools = Pools::new(pool.clone());
        let got = got_tx.clone();
        // The reader counts frames, checks them and drops them at once.
        let serve = move |frames_read: &mut usize, view: View| {
            check(&view, 3000, who as u8);
            *frames_read += 1;
            got.send((who, *frames_read)).unwrap();
        };
        if let Some(listener) = &listener {
            let addr = listener.local_addr().unwrap();
            let client = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let (read, write) = server.into_split();
            servers.push(tokio::spawn(async move {
                let _write = write;
                let mut reader =
                    AsyncFrameReader::with_readiness(read, codec(&pools), pools).unwrap();
                let mut n = 0;
                while let Some(view) = reader.read_frame().await.unwrap() {
                    serve(&mut n, view);
                }
            }));
            clients.push(Box::new(client) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>);
        } else {
            let (client, server) = tokio::io::duplex(1 << 16);
            servers.push(tokio::spawn(async move {
                let mut reader = AsyncFrameReader::new(server, codec(&pools), pools).unwrap();
                let mut n = 0;
                while let Some(view) = reader.read_frame().await.unwrap() {
                    serve(&mut n, view);
                }
            }));
            clients.push(Box::new(client));
        }
    }
    drop(got_tx);
    let burst = frames(&[(3000, 0); 5]);
    // The idle ones' bursts, each with its own fill.
    for (who, client) in clients.iter_mut().enumerate().take(IDLE) {
        let burst: Vec<u8> = burst
            .chunks(3004)
            .flat_map(|f| frame(f.len() - 4, who as u8))
            .collect();
        client.write_all(&burst).await.unwrap();
    }
    let mut read = [0; IDLE + 1];
    while read[..IDLE].iter().any(|&n| n < 5) {
        let (who, n) = tokio::time::timeout(LIMIT, got_rx.recv())
            .await
            .expect("a burst was not read")
            .unwrap();
        read[who] = n;
    }
    // Idle now: no reader holds a buffer.
    let deadline = Instant::now() + LIMIT;
    while pool.available() != IDLE {
        assert!(
            Instant::now() < deadline,
            "idle readers hold {} buffers",
            IDLE - pool.available()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The active one's frame is read at once.
    let active = frame(3000, IDLE as u8);
    clients[IDLE].write_all(&active).await.unwrap();
    let (who, _) = tokio::time::timeout(LIMIT, got_rx.recv())
        .await
        .expect("the active reader's frame was not read: the idle ones starve it")
        .unwrap();
    assert_eq!(who, IDLE);
    drop(clients);
    for s in servers {
        s.await.unwrap();
    }
    home(&pool);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_readers_hold_no_buffer_and_an_active_one_reads_at_once() {
    idle_readers(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore = "Miri runs no sockets")]
async fn idle_socket_readers_take_a_buffer_only_when_readable() {
    idle_readers(true).await;
}

/// A peer sends part of a frame and stops: the reader moves the partial
/// into the small tier and lets its read-ahead buffer go; the frame still
/// arrives whole when the rest comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_partial_frame_shrinks_into_a_smaller_tier() {
    let medium = Arc::new(MediumBufferPool::new(2).unwrap());
    let small = Arc::new(SmallBufferPool::new(2).unwrap());
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let pools = Pools::new(medium.clone()).with(small.clone());
    let reader = tokio::spawn(async move {
        let mut reader = AsyncFrameReader::new(server, codec(&pools), pools).unwrap();
        let view = reader.read_frame().await.unwrap().expect("a frame");
        check(&view, 1000, 9);
        assert!(reader.read_frame().await.unwrap().is_none());
    });
    let whole = frame(1000, 9);
    client.write_all(&whole[..300]).await.unwrap();
    let deadline = Instant::now() + LIMIT;
    while !(medium.available() == 2 && small.available() == 1) {
        assert!(
            Instant::now() < deadline,
            "the partial did not shrink: medium {} free, small {} free",
            medium.available(),
            small.available()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    client.write_all(&whole[300..]).await.unwrap();
    drop(client);
    tokio::time::timeout(LIMIT, reader).await.unwrap().unwrap();
    home(&medium);
    home(&small);
}
