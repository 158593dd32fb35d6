//! Pooled buffers in monoio 0.2's owned-buffer traits, on its io_uring
//! driver: what the impls of `iobuf::runtimes` promise the runtime, and
//! what they promise the caller.
//!
//! Each test builds its own runtime; where the kernel refuses io_uring
//! (`ENOSYS`, `EPERM`) it prints a note and passes without running.
//!
//! Setting a buffer's initialised length past its capacity is impossible
//! from safe code: monoio's `IoBufMut::set_init` and `IoVecBufMut::set_init`
//! are `unsafe fn`s, only the runtime calls them, and the impls check the
//! length all the same; the safe `Filled::set_len`/`commit` panic past the
//! capacity (`filled_length_cannot_pass_capacity`).

#![cfg(all(feature = "monoio", target_os = "linux"))]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iobuf::runtimes::IoBatch;
use iobuf::shared::SplitBuf;
use iobuf::{Filled, OwnedPooled, SmallBuffer, SmallBufferPool};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncReadRentExt, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::UnixStream;

mod pools {
    iobuf::buffer_pools! {
        small: 2KiB x 8,
        large: 16KiB x 2,
    }
}

/// Runs `test` on a fresh io_uring runtime with timers, or says why not.
fn on_uring<F: Future<Output = ()>>(test: impl FnOnce() -> F) {
    let built = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build();
    match built {
        Ok(mut rt) => rt.block_on(test()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
            println!("SKIPPED: the kernel refused io_uring: {e}");
        }
        Err(e) => panic!("monoio runtime: {e}"),
    }
}

fn pattern(seed: usize, i: usize) -> u8 {
    (seed.wrapping_mul(97) ^ i.wrapping_mul(13) ^ (i >> 8)) as u8
}

fn filled_with(
    pool: &Arc<SmallBufferPool>,
    seed: usize,
    len: usize,
) -> Filled<OwnedPooled<SmallBuffer>> {
    let mut buf = Filled::new(pool.try_get_owned().unwrap());
    buf.extend_from_slice(&(0..len).map(|i| pattern(seed, i)).collect::<Vec<_>>());
    buf
}

/// A temporary file for one test, removed when dropped.
struct TempPath(std::path::PathBuf);

impl TempPath {
    fn new(name: &str) -> Self {
        TempPath(std::env::temp_dir().join(format!("iobuf-monoio-{name}-{}", std::process::id())))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn open(path: &TempPath) -> monoio::fs::File {
    monoio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path.0)
        .await
        .unwrap()
}

/// The buffer the runtime hands back is the one it was given, at the same
/// address, wherever it moved meanwhile; a read into a moved buffer lands
/// in it.
#[test]
fn moved_buffers_write_and_read_back_through_a_file() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(16).unwrap());
        let path = TempPath::new("moved");
        let file = open(&path).await;
        let size = iobuf::BUFFER_SIZE_SMALL;

        let mut kept = Vec::new();
        for block in 0..4 {
            let buf = filled_with(&pool, block, size);
            let addr = buf.as_ptr();
            // Moved into a box and out again before it goes in.
            let boxed = Box::new(buf);
            let (res, buf) = file.write_all_at(*boxed, (block * size) as u64).await;
            res.unwrap();
            assert_eq!(buf.as_ptr(), addr, "the same buffer comes back");
            kept.push(buf);
        }
        // Moved again: the Vec reallocates, the bytes stay in the slab.
        let kept: Vec<_> = kept.into_iter().rev().collect();

        for (k, written) in kept.iter().enumerate() {
            let block = 3 - k;
            let buf = Filled::new(pool.try_get_owned().unwrap());
            let (res, buf) = file.read_exact_at(buf, (block * size) as u64).await;
            res.unwrap();
            assert_eq!(buf.len(), size);
            assert_eq!(&buf[..], &written[..]);
            assert!(buf.iter().enumerate().all(|(i, &b)| b == pattern(block, i)));
        }

        // A bare guard: all of it is written, and a read fills all of it.
        let mut bare = pool.try_get_owned().unwrap();
        bare.as_mut().fill(0xA5);
        let (res, bare) = file.write_all_at(bare, 0).await;
        res.unwrap();
        let mut other = pool.try_get_owned().unwrap();
        other.as_mut().fill(0);
        let (res, other) = file.read_at(other, 0).await;
        assert_eq!(res.unwrap(), size);
        assert_eq!(other.as_ref(), bare.as_ref());

        // A `Pooled<'static, _>` of a leaked pool goes in the same way.
        let leaked: &'static SmallBufferPool =
            Box::leak(Box::new(SmallBufferPool::new(2).unwrap()));
        let mut guard = leaked.try_get().unwrap();
        guard.as_mut().fill(7);
        let (res, guard) = file.write_all_at(guard, 0).await;
        res.unwrap();
        let (res, back) = file
            .read_exact_at(Filled::new(leaked.try_get().unwrap()), 0)
            .await;
        res.unwrap();
        assert_eq!(&back[..], guard.as_ref());

        drop((kept, bare, other, guard, back));
        file.close().await.unwrap();
        assert_eq!(pool.available(), pool.capacity());
        assert_eq!(leaked.available(), leaked.capacity());
    });
}

/// A read into a `Filled` writes from its first filled byte and sets the
/// filled length to the bytes read; through the slice of its unfilled
/// part, it appends.
#[test]
fn a_read_sets_the_filled_length() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(4).unwrap());
        let (mut a, mut b) = UnixStream::pair().unwrap();

        let (res, _) = a.write_all(b"hello".to_vec()).await;
        res.unwrap();
        let (res, buf) = b.read(Filled::new(pool.try_get_owned().unwrap())).await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(&buf[..], b"hello");

        // Appending: the runtime's slice of the unfilled part.
        let (res, _) = a.write_all(b", world".to_vec()).await;
        res.unwrap();
        let at = buf.len();
        let (res, slice) = b.read(buf.slice_mut(at..)).await;
        assert_eq!(res.unwrap(), 7);
        let buf = slice.into_inner();
        assert_eq!(&buf[..], b"hello, world");

        // A plain read into a longer `Filled` overwrites from its start
        // and sets the length to what was read, shorter than before.
        let (res, _) = a.write_all(b"abc".to_vec()).await;
        res.unwrap();
        let (res, buf) = b.read(buf).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(&buf[..], b"abc");

        // A consumed front: the read lands at the first filled byte.
        let mut buf = buf;
        buf.consume(1);
        let (res, _) = a.write_all(b"xyz".to_vec()).await;
        res.unwrap();
        let (res, buf) = b.read(buf).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(&buf[..], b"xyz");
        drop(buf);
        assert_eq!(pool.available(), pool.capacity());
    });
}

/// One `Filled` reused across reads holds exactly what the last read
/// wrote: a long read, then a short one, then end of file; and a file copy
/// that reuses its buffer copies the file's bytes and no stale ones.
#[test]
fn a_reused_filled_holds_exactly_the_last_read() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(1).unwrap());
        let (long, short) = (TempPath::new("long"), TempPath::new("short"));
        let long_bytes: Vec<u8> = (0..100).map(|i| pattern(1, i)).collect();
        let short_bytes: Vec<u8> = (0..10).map(|i| pattern(2, i)).collect();
        std::fs::write(&long.0, &long_bytes).unwrap();
        std::fs::write(&short.0, &short_bytes).unwrap();
        let long_file = monoio::fs::File::open(&long.0).await.unwrap();
        let short_file = monoio::fs::File::open(&short.0).await.unwrap();

        let buf = Filled::new(pool.try_get_owned().unwrap());
        let (res, buf) = long_file.read_at(buf, 0).await;
        assert_eq!(res.unwrap(), 100);
        assert_eq!(&buf[..], &long_bytes[..]);
        let (res, buf) = short_file.read_at(buf, 0).await;
        assert_eq!(res.unwrap(), 10);
        assert_eq!(&buf[..], &short_bytes[..], "no stale byte of the long read");
        let (res, buf) = short_file.read_at(buf, 10).await;
        assert_eq!(res.unwrap(), 0);
        assert!(buf.is_empty(), "end of file: nothing filled");

        // A copy loop over one buffer: 2 KiB chunks of a 5,000-byte file.
        let source = TempPath::new("copy");
        let source_bytes: Vec<u8> = (0..5000).map(|i| pattern(3, i)).collect();
        std::fs::write(&source.0, &source_bytes).unwrap();
        let source_file = monoio::fs::File::open(&source.0).await.unwrap();
        let (mut copied, mut buf) = (Vec::new(), buf);
        loop {
            let (res, back) = source_file.read_at(buf, copied.len() as u64).await;
            buf = back;
            if res.unwrap() == 0 {
                break;
            }
            copied.extend_from_slice(&buf[..]);
        }
        assert_eq!(copied.len(), source_bytes.len());
        assert_eq!(copied, source_bytes);

        drop(buf);
        for file in [long_file, short_file, source_file] {
            file.close().await.unwrap();
        }
        assert_eq!(pool.available(), pool.capacity());
    });
}

/// The `Buf` enum of a `buffer_pools!` set goes in bare and in a
/// `Filled`, whichever entry it came from.
#[test]
fn buffer_pools_enum() {
    on_uring(|| async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let mut small = pools::get(1000).unwrap();
        assert_eq!(small.name(), "small");
        small.fill(1);
        let (res, small) = a.write_all(small).await;
        res.unwrap();

        let large = pools::get(10_000).unwrap();
        assert_eq!(large.name(), "large");
        let (res, large) = b
            .read_exact(Filled::new(large).slice_mut(..small.len()))
            .await;
        assert_eq!(res.unwrap(), small.len());
        let large = large.into_inner();
        assert_eq!(large.len(), small.len());
        assert!(large.iter().all(|&x| x == 1));

        let mut out = Filled::new(pools::get(100).unwrap());
        out.extend_from_slice(b"enum");
        let (res, _) = a.write_all(out).await;
        res.unwrap();
        let mut bare = pools::get(10).unwrap();
        bare.fill(0);
        let (res, bare) = b.read(bare).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(&bare[..4], b"enum");

        drop((small, large, bare));
        for (name, stats) in pools::stats() {
            let stats = stats.unwrap();
            assert_eq!(stats.available, stats.capacity, "{name}");
        }
    });
}

/// A frozen view writes its bytes, and only those.
#[test]
fn view_writes() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(2).unwrap());
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let mut split = SplitBuf::from(pool.get_owned());
        split.extend_from_slice(b"header|body");
        let header = split.split_to(7);
        let body = split.split();
        drop(split);
        // A slice of a view is a view of its own (iobuf's `View::slice`).
        let name = iobuf::shared::View::slice(&header, ..6);
        drop(header);
        let (res, name) = a.write_all(name).await;
        res.unwrap();
        let (res, _) = a.write_all(body).await;
        res.unwrap();
        let (res, got) = b.read_exact(vec![0; 10]).await;
        res.unwrap();
        assert_eq!(got, b"headerbody");
        assert_eq!(pool.available(), 1, "the views that are left keep it");
        drop(name);
        assert_eq!(pool.available(), 2);
    });
}

/// `writev` sends the filled parts of a batch; `readv` fills the unfilled
/// parts in order, after what each already held; the batch is reused.
#[test]
fn io_batch_readv_writev_round_trip() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(8).unwrap());
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let size = iobuf::BUFFER_SIZE_SMALL;
        let mut out = IoBatch::new();
        let mut back = IoBatch::new();
        for round in 0..3 {
            // 3000 + 1 + 1000 bytes over three buffers (one only a byte).
            let lens = [size, 1, 1000];
            for (k, &len) in lens.iter().enumerate() {
                out.push(filled_with(&pool, round * 10 + k, len));
            }
            let expected: Vec<u8> = out
                .buffers()
                .iter()
                .flat_map(|f| f.iter().copied())
                .collect();
            assert_eq!(out.filled(), expected.len());
            let (res, returned) = a.writev(out).await;
            out = returned;
            assert_eq!(res.unwrap(), expected.len());

            // The first buffer already holds 10 bytes: they stay, and the
            // read goes after them.
            back.push(filled_with(&pool, 99, 10));
            back.push(Filled::new(pool.try_get_owned().unwrap()));
            let mut got = 0;
            while got < expected.len() {
                let (res, returned) = b.readv(back).await;
                back = returned;
                got += res.unwrap();
            }
            let bufs = back.buffers();
            assert_eq!(bufs[0].len(), size, "filled to its end first");
            assert_eq!(bufs[1].len(), 10 + expected.len() - size);
            assert!(
                bufs[0][..10]
                    .iter()
                    .enumerate()
                    .all(|(i, &x)| x == pattern(99, i))
            );
            let read: Vec<u8> = bufs[0][10..]
                .iter()
                .chain(bufs[1].iter())
                .copied()
                .collect();
            assert_eq!(read, expected);

            let drained: Vec<_> = back.drain().collect();
            assert_eq!(drained.len(), 2);
            drop(drained);
            out.clear();
            assert!(out.is_empty() && back.is_empty());
            assert_eq!(pool.available(), pool.capacity());
        }
    });
}

/// A read dropped while the kernel holds its buffer: the buffer stays out
/// of the pool until the cancellation completes, then comes home.
#[test]
fn cancelled_read_brings_its_buffer_home() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(4).unwrap());
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let read = b.read(Filled::new(pool.try_get_owned().unwrap()));
        let timed = monoio::time::timeout(Duration::from_millis(20), read).await;
        assert!(timed.is_err(), "no data was sent, the read must time out");
        // Dropped mid-flight: the runtime keeps the buffer for the kernel.
        assert_eq!(pool.available(), pool.capacity() - 1);
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.available() != pool.capacity() {
            assert!(Instant::now() < deadline, "{:?}", pool.stats());
            monoio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(pool.stats().in_use, 0);
        // The socket still works.
        let (res, _) = a.write_all(b"after".to_vec()).await;
        res.unwrap();
        let (res, buf) = b.read(Filled::new(pool.try_get_owned().unwrap())).await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(&buf[..], b"after");
    });
}

/// The safe API cannot count bytes past the buffer as filled.
#[test]
#[should_panic(expected = "exceeds the capacity")]
fn filled_length_cannot_pass_capacity() {
    let pool = SmallBufferPool::new(1).unwrap();
    let mut buf = Filled::new(pool.get());
    buf.set_len(iobuf::BUFFER_SIZE_SMALL + 1);
}

/// The same through `commit` after a read.
#[test]
#[should_panic(expected = "committing")]
fn commit_cannot_pass_capacity() {
    let pool = SmallBufferPool::new(1).unwrap();
    let mut buf = Filled::new(pool.get());
    buf.commit(iobuf::BUFFER_SIZE_SMALL + 1);
}
