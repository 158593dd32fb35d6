//! Pooled buffers in tokio-uring 0.5's owned-buffer traits: what the impls
//! of `iobuf::runtimes` promise the runtime, and what they promise the
//! caller.
//!
//! Each test builds its own runtime; where the kernel refuses io_uring
//! (`ENOSYS`, `EPERM`) it prints a note and passes without running.
//!
//! Setting a buffer's initialised length past its capacity is impossible
//! from safe code: tokio-uring's `IoBufMut::set_init` is an `unsafe fn`
//! that only the runtime calls (and the impls check the length all the
//! same); the safe `Filled::set_len`/`commit` panic past the capacity
//! (`filled_length_cannot_pass_capacity`).

#![cfg(all(feature = "tokio-uring", target_os = "linux"))]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iobuf::shared::SplitBuf;
use iobuf::{Filled, OwnedPooled, SmallBuffer, SmallBufferPool};
use tokio_uring::buf::BoundedBuf;
use tokio_uring::net::UnixStream;

mod pools {
    iobuf::buffer_pools! {
        small: 2KiB x 8,
        large: 16KiB x 2,
    }
}

/// Runs `test` on a fresh tokio-uring runtime, or says why not.
fn on_uring<F: Future<Output = ()>>(test: impl FnOnce() -> F) {
    match tokio_uring::Runtime::new(&tokio_uring::builder()) {
        Ok(rt) => rt.block_on(test()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
            println!("SKIPPED: the kernel refused io_uring: {e}");
        }
        Err(e) => panic!("tokio-uring runtime: {e}"),
    }
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    (UnixStream::from_std(a), UnixStream::from_std(b))
}

fn pattern(seed: usize, i: usize) -> u8 {
    (seed.wrapping_mul(97) ^ i.wrapping_mul(13) ^ (i >> 8)) as u8
}

type Owned = Filled<OwnedPooled<SmallBuffer>>;

fn filled_with(pool: &Arc<SmallBufferPool>, seed: usize, len: usize) -> Owned {
    let mut buf = Filled::new(pool.try_get_owned().unwrap());
    buf.extend_from_slice(&(0..len).map(|i| pattern(seed, i)).collect::<Vec<_>>());
    buf
}

/// A temporary file for one test, removed when dropped.
struct TempPath(std::path::PathBuf);

impl TempPath {
    fn new(name: &str) -> Self {
        TempPath(
            std::env::temp_dir().join(format!("iobuf-tokio-uring-{name}-{}", std::process::id())),
        )
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn open(path: &TempPath) -> tokio_uring::fs::File {
    tokio_uring::fs::OpenOptions::new()
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
            let boxed = Box::new(buf);
            let (res, buf) = file.write_all_at(*boxed, (block * size) as u64).await;
            res.unwrap();
            assert_eq!(buf.as_ptr(), addr, "the same buffer comes back");
            kept.push(buf);
        }
        let kept: Vec<_> = kept.into_iter().rev().collect();

        for (k, written) in kept.iter().enumerate() {
            let block = 3 - k;
            let buf: Owned = Filled::new(pool.try_get_owned().unwrap());
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
        let (res, other) = file.read_exact_at(other, 0).await;
        res.unwrap();
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
/// filled length to the bytes read (not tokio-uring's rule for a `Vec`,
/// which only raises it: the last check); through the slice of its
/// unfilled part, it appends.
#[test]
fn a_read_sets_the_filled_length() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(4).unwrap());
        let (a, b) = pair();

        a.write_all(b"hello".to_vec()).await.0.unwrap();
        let (res, buf) = b.read(Filled::new(pool.try_get_owned().unwrap())).await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(&buf[..], b"hello");

        a.write_all(b", world".to_vec()).await.0.unwrap();
        let at = buf.len();
        let (res, slice) = b.read(buf.slice(at..)).await;
        assert_eq!(res.unwrap(), 7);
        let buf = slice.into_inner();
        assert_eq!(&buf[..], b"hello, world");

        // A plain read into a longer `Filled` overwrites from its start
        // and sets the length to what was read, shorter than before.
        a.write_all(b"abc".to_vec()).await.0.unwrap();
        let (res, buf) = b.read(buf).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(&buf[..], b"abc");

        // A consumed front: the read lands at the first filled byte.
        let mut buf = buf;
        buf.consume(3);
        buf.truncate(0);
        a.write_all(b"xyz".to_vec()).await.0.unwrap();
        let (res, buf) = b.read(buf).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(&buf[..], b"xyz");
        drop(buf);

        a.write_all(b"abc".to_vec()).await.0.unwrap();
        let (res, vec) = b.read(b"hello, world".to_vec()).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(vec, b"abclo, world", "tokio-uring's own rule for a Vec");
        assert_eq!(pool.available(), pool.capacity());
    });
}

/// One `Filled` reused across reads holds exactly what the last read
/// wrote: a long read, then a short one, then end of file; and a file copy
/// that reuses its buffer copies the file's bytes and no stale ones (the
/// copy of a file whose size is not a multiple of the buffer's once came
/// out longer, ending with the previous chunk's tail).
#[test]
fn a_reused_filled_holds_exactly_the_last_read() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(1).unwrap());
        let (long, short) = (TempPath::new("long"), TempPath::new("short"));
        let long_bytes: Vec<u8> = (0..100).map(|i| pattern(1, i)).collect();
        let short_bytes: Vec<u8> = (0..10).map(|i| pattern(2, i)).collect();
        std::fs::write(&long.0, &long_bytes).unwrap();
        std::fs::write(&short.0, &short_bytes).unwrap();
        let long_file = tokio_uring::fs::File::open(&long.0).await.unwrap();
        let short_file = tokio_uring::fs::File::open(&short.0).await.unwrap();

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
        let source_file = tokio_uring::fs::File::open(&source.0).await.unwrap();
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
        let (a, b) = pair();
        let mut small = pools::get(1000).unwrap();
        assert_eq!(small.name(), "small");
        small.fill(1);
        let (res, small) = a.write_all(small).await;
        res.unwrap();

        let mut large = Filled::new(pools::get(10_000).unwrap());
        assert_eq!(large.holder().name(), "large");
        while large.len() < small.len() {
            let at = large.len();
            let (res, slice) = b.read(large.slice(at..)).await;
            res.unwrap();
            large = slice.into_inner();
        }
        assert_eq!(large.len(), small.len());
        assert!(large.iter().all(|&x| x == 1));

        let mut out = Filled::new(pools::get(100).unwrap());
        out.extend_from_slice(b"enum");
        a.write_all(out).await.0.unwrap();
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
        let (a, b) = pair();
        let mut split = SplitBuf::from(pool.get_owned());
        split.extend_from_slice(b"header|body");
        let header = split.split_to(7);
        let body = split.split();
        drop(split);
        let name = iobuf::shared::View::slice(&header, ..6);
        drop(header);
        let (res, name) = a.write_all(name).await;
        res.unwrap();
        a.write_all(body).await.0.unwrap();
        let mut got = Vec::with_capacity(10);
        while got.len() < 10 {
            let at = got.len();
            let (res, slice) = b.read(got.slice(at..)).await;
            res.unwrap();
            got = slice.into_inner();
        }
        assert_eq!(got, b"headerbody");
        assert_eq!(pool.available(), 1, "the view that is left keeps it");
        drop(name);
        assert_eq!(pool.available(), 2);
    });
}

/// tokio-uring's vectored calls take a `Vec` of them: `writev` sends the
/// filled parts; `readv_at` fills each buffer's unfilled part, after its
/// filled bytes, in order.
#[test]
fn vectored_round_trip() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(8).unwrap());
        let path = TempPath::new("vectored");
        let file = open(&path).await;
        let size = iobuf::BUFFER_SIZE_SMALL;
        let out = vec![
            filled_with(&pool, 1, size),
            filled_with(&pool, 2, 1),
            filled_with(&pool, 3, 1000),
        ];
        let expected: Vec<u8> = out.iter().flat_map(|f| f.iter().copied()).collect();
        let (res, out) = file.writev_at_all(out, Some(0)).await;
        assert_eq!(res.unwrap(), expected.len());
        drop(out);

        // The first buffer already holds 10 bytes: they stay.
        let mut into = vec![
            filled_with(&pool, 99, 10),
            Filled::new(pool.try_get_owned().unwrap()),
        ];
        let mut got = 0;
        while got < expected.len() {
            let (res, back) = file.readv_at(into, got as u64).await;
            let n = res.unwrap();
            assert_ne!(n, 0, "unexpected end of file");
            got += n;
            into = back;
        }
        assert_eq!(into[0].len(), size, "filled to its end first");
        assert_eq!(into[1].len(), 10 + expected.len() - size);
        assert!(
            into[0][..10]
                .iter()
                .enumerate()
                .all(|(i, &x)| x == pattern(99, i))
        );
        let read: Vec<u8> = into[0][10..]
            .iter()
            .chain(into[1].iter())
            .copied()
            .collect();
        assert_eq!(read, expected);

        let (a, b) = pair();
        let out = vec![filled_with(&pool, 4, 100), filled_with(&pool, 5, 50)];
        let (res, out) = a.writev(out).await;
        assert_eq!(res.unwrap(), 150);
        let mut echo: Owned = Filled::new(pool.try_get_owned().unwrap());
        while echo.len() < 150 {
            let at = echo.len();
            let (res, slice) = b.read(echo.slice(at..)).await;
            res.unwrap();
            echo = slice.into_inner();
        }
        let sent: Vec<u8> = out.iter().flat_map(|f| f.iter().copied()).collect();
        assert_eq!(&echo[..], &sent[..]);

        drop((into, out, echo));
        file.close().await.unwrap();
        assert_eq!(pool.available(), pool.capacity());
    });
}

/// tokio-uring's `readv_at` reads after each buffer's initialised bytes,
/// and a bare guard is all initialised: it takes nothing, and the call
/// returns `Ok(0)`, which reads as the end of the file. Vectored reads go
/// into `Filled` views.
#[test]
fn bare_guards_take_nothing_from_readv() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(2).unwrap());
        let path = TempPath::new("bare-readv");
        let file = open(&path).await;
        file.write_all_at(vec![1u8; 100], 0).await.0.unwrap();
        let (res, bufs) = file.readv_at(vec![pool.try_get_owned().unwrap()], 0).await;
        assert_eq!(res.unwrap(), 0);
        drop(bufs);
        file.close().await.unwrap();
    });
}

/// A read dropped while the kernel holds its buffer: tokio-uring does not
/// cancel it, so the buffer stays out of the pool (with the runtime, for
/// the kernel) until the read completes, here when the peer closes; then
/// it comes home.
#[test]
fn cancelled_read_brings_its_buffer_home() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(4).unwrap());
        let (a, b) = pair();
        let read = b.read(Filled::new(pool.try_get_owned().unwrap()));
        let timed = tokio::time::timeout(Duration::from_millis(20), read).await;
        assert!(timed.is_err(), "no data was sent, the read must time out");
        assert_eq!(pool.available(), pool.capacity() - 1);
        drop(a);
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.available() != pool.capacity() {
            assert!(Instant::now() < deadline, "{:?}", pool.stats());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(pool.stats().in_use, 0);
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
