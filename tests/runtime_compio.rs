//! Pooled buffers in compio 0.19's owned-buffer traits (compio-buf 0.8),
//! on its io_uring driver: what the impls of `iobuf::runtimes` promise the
//! runtime, and what they promise the caller.
//!
//! Each test builds its own runtime; where the kernel refuses io_uring
//! (`ENOSYS`, `EPERM`) it prints a note and passes without running.
//!
//! Setting a buffer's length past its capacity is impossible from safe
//! code: compio's `SetLen::set_len` is an `unsafe fn` that only the
//! runtime calls (and [`CompioBuf`] checks the length all the same); the
//! safe `Filled::set_len`/`commit` panic past the capacity
//! (`filled_length_cannot_pass_capacity`).

#![cfg(all(feature = "compio", target_os = "linux"))]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use compio::BufResult;
use compio::buf::IntoInner;
use compio::io::{AsyncRead, AsyncReadAtExt, AsyncReadExt, AsyncWriteAtExt, AsyncWriteExt};
use compio::net::UnixStream;
use iobuf::runtimes::CompioBuf;
use iobuf::shared::SplitBuf;
use iobuf::{Filled, OwnedPooled, SmallBuffer, SmallBufferPool};

mod pools {
    iobuf::buffer_pools! {
        small: 2KiB x 8,
        large: 16KiB x 2,
    }
}

/// Runs `test` on a fresh compio runtime, or says why not.
fn on_uring<F: Future<Output = ()>>(test: impl FnOnce() -> F) {
    match compio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(test()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
            println!("SKIPPED: the kernel refused io_uring: {e}");
        }
        Err(e) => panic!("compio runtime: {e}"),
    }
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    (
        UnixStream::from_std(a).unwrap(),
        UnixStream::from_std(b).unwrap(),
    )
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
        TempPath(std::env::temp_dir().join(format!("iobuf-compio-{name}-{}", std::process::id())))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The buffer the runtime hands back is the one it was given, at the same
/// address, wherever it moved meanwhile; a read into a moved buffer lands
/// in it.
#[test]
fn moved_buffers_write_and_read_back_through_a_file() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(16).unwrap());
        let path = TempPath::new("moved");
        let file = compio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path.0)
            .await
            .unwrap();
        let mut writer = &file;
        let size = iobuf::BUFFER_SIZE_SMALL;

        let mut kept = Vec::new();
        for block in 0..4 {
            let buf = filled_with(&pool, block, size);
            let addr = buf.as_ptr();
            let boxed = Box::new(buf);
            let BufResult(res, buf) = writer.write_all_at(*boxed, (block * size) as u64).await;
            res.unwrap();
            assert_eq!(buf.as_ptr(), addr, "the same buffer comes back");
            kept.push(buf);
        }
        let kept: Vec<_> = kept.into_iter().rev().collect();

        for (k, written) in kept.iter().enumerate() {
            let block = 3 - k;
            let buf = CompioBuf::new(Filled::new(pool.try_get_owned().unwrap()));
            let BufResult(res, buf) = file.read_exact_at(buf, (block * size) as u64).await;
            res.unwrap();
            let buf = buf.into_filled();
            assert_eq!(buf.len(), size);
            assert_eq!(&buf[..], &written[..]);
            assert!(buf.iter().enumerate().all(|(i, &b)| b == pattern(block, i)));
        }

        // A bare guard writes all of its bytes.
        let mut bare = pool.try_get_owned().unwrap();
        bare.as_mut().fill(0xA5);
        let BufResult(res, bare) = writer.write_all_at(bare, 0).await;
        res.unwrap();
        let BufResult(res, back) = file
            .read_exact_at(
                CompioBuf::new(Filled::new(pool.try_get_owned().unwrap())),
                0,
            )
            .await;
        res.unwrap();
        assert_eq!(back.as_slice(), bare.as_ref());

        // A `Pooled<'static, _>` of a leaked pool goes in the same way.
        let leaked: &'static SmallBufferPool =
            Box::leak(Box::new(SmallBufferPool::new(2).unwrap()));
        let mut guard = leaked.try_get().unwrap();
        guard.as_mut().fill(7);
        let BufResult(res, guard) = writer.write_all_at(guard, 0).await;
        res.unwrap();
        let into = CompioBuf::new(Filled::new(leaked.try_get().unwrap()));
        let BufResult(res, into) = file.read_exact_at(into, 0).await;
        res.unwrap();
        assert_eq!(into.as_slice(), guard.as_ref());

        drop((kept, bare, back, guard, into));
        file.close().await.unwrap();
        assert_eq!(pool.available(), pool.capacity());
        assert_eq!(leaked.available(), leaked.capacity());
    });
}

/// A read into a `CompioBuf` writes from the `Filled`'s first filled byte
/// and gives it compio's length rule, the same as a `Vec<u8>`'s: the
/// bytes read into an empty one; never shorter than before (compio raises
/// the length with `SetLen::advance_to`, it does not set it); `append`
/// reads after the filled bytes.
#[test]
fn a_read_sets_the_filled_length() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(4).unwrap());
        let (mut a, mut b) = pair();

        a.write_all(b"hello").await.0.unwrap();
        let BufResult(res, buf) = b
            .read(CompioBuf::new(Filled::new(pool.try_get_owned().unwrap())))
            .await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(buf.as_slice(), b"hello");

        a.write_all(b", world").await.0.unwrap();
        let BufResult(res, buf) = b.append(buf).await;
        assert_eq!(res.unwrap(), 7);
        let buf = buf.into_filled();
        assert_eq!(&buf[..], b"hello, world");

        // A plain read overwrites from the start; the length stays (as a
        // `Vec`'s does, the last check).
        a.write_all(b"abc").await.0.unwrap();
        let BufResult(res, buf) = b.read(CompioBuf::new(buf)).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(buf.as_slice(), b"abclo, world");

        // A consumed front: the read lands at the first filled byte.
        let mut buf = buf.into_filled();
        buf.consume(3);
        buf.truncate(0);
        a.write_all(b"xyz").await.0.unwrap();
        let BufResult(res, buf) = b.read(CompioBuf::new(buf)).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(buf.as_slice(), b"xyz");
        drop(buf);

        a.write_all(b"abc").await.0.unwrap();
        let BufResult(res, vec) = b.read(b"hello, world".to_vec()).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(vec, b"abclo, world", "compio's own rule for a Vec");
        assert_eq!(pool.available(), pool.capacity());
    });
}

/// What a read did not fill reads as zeros afterwards: compio's safe
/// `as_uninit` could have written anything there.
#[test]
fn the_unfilled_part_is_zeroed_after_a_read() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(1).unwrap());
        let (mut a, mut b) = pair();
        let mut buf = Filled::new(pool.try_get_owned().unwrap());
        buf.holder_mut().as_mut().fill(0xEE);
        a.write_all(b"abc").await.0.unwrap();
        let BufResult(res, buf) = b.read(CompioBuf::new(buf)).await;
        assert_eq!(res.unwrap(), 3);
        let buf = buf.into_filled();
        assert_eq!(&buf[..], b"abc");
        assert!(buf.holder().as_ref()[3..].iter().all(|&x| x == 0));
    });
}

/// The `Buf` enum of a `buffer_pools!` set goes in bare, in a `Filled`
/// and in a `CompioBuf`, whichever entry it came from.
#[test]
fn buffer_pools_enum() {
    on_uring(|| async {
        let (mut a, mut b) = pair();
        let mut small = pools::get(1000).unwrap();
        assert_eq!(small.name(), "small");
        small.fill(1);
        let BufResult(res, small) = a.write_all(small).await;
        res.unwrap();

        let large = pools::get(10_000).unwrap();
        assert_eq!(large.name(), "large");
        let mut into = CompioBuf::new(Filled::new(large));
        while into.as_slice().len() < small.len() {
            let BufResult(res, back) = b.append(into).await;
            res.unwrap();
            into = back;
        }
        let large = into.into_filled();
        assert_eq!(large.len(), small.len());
        assert!(large.iter().all(|&x| x == 1));

        let mut out = Filled::new(pools::get(100).unwrap());
        out.extend_from_slice(b"enum");
        a.write_all(out).await.0.unwrap();
        let BufResult(res, got) = b
            .read(CompioBuf::new(Filled::new(pools::get(10).unwrap())))
            .await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(got.as_slice(), b"enum");

        drop((small, large, got));
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
        let (mut a, mut b) = pair();
        let mut split = SplitBuf::from(pool.get_owned());
        split.extend_from_slice(b"header|body");
        let header = split.split_to(7);
        let body = split.split();
        drop(split);
        let name = iobuf::shared::View::slice(&header, ..6);
        drop(header);
        let BufResult(res, name) = a.write_all(name).await;
        res.unwrap();
        a.write_all(body).await.0.unwrap();
        let BufResult(res, got) = b.read_exact(Vec::with_capacity(10)).await;
        res.unwrap();
        assert_eq!(got, b"headerbody");
        assert_eq!(pool.available(), 1, "the view that is left keeps it");
        drop(name);
        assert_eq!(pool.available(), 2);
    });
}

/// compio's own vectored impls over arrays of them: a write of several
/// `Filled`s, a read that fills several `CompioBuf`s in order.
#[test]
fn vectored_round_trip() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(8).unwrap());
        let (mut a, mut b) = pair();
        let size = iobuf::BUFFER_SIZE_SMALL;
        let out = [
            filled_with(&pool, 1, size),
            filled_with(&pool, 2, 1),
            filled_with(&pool, 3, 1000),
        ];
        let expected: Vec<u8> = out.iter().flat_map(|f| f.iter().copied()).collect();
        let BufResult(res, out) = a.write_vectored_all(out).await;
        res.unwrap();
        drop(out);

        let into = [
            CompioBuf::new(Filled::new(pool.try_get_owned().unwrap())),
            CompioBuf::new(Filled::new(pool.try_get_owned().unwrap())),
        ];
        let mut got = 0;
        let mut into = into;
        while got < expected.len() {
            // Each read fills the parts after what earlier reads filled.
            let slice = compio::buf::IoVectoredBufMut::slice_mut(into, got);
            let BufResult(res, back) = b.read_vectored(slice).await;
            got += res.unwrap();
            into = back.into_inner();
        }
        let [first, second] = into.map(CompioBuf::into_filled);
        assert_eq!(first.len(), size);
        assert_eq!(second.len(), expected.len() - size);
        let read: Vec<u8> = first.iter().chain(second.iter()).copied().collect();
        assert_eq!(read, expected);
        drop((first, second));
        assert_eq!(pool.available(), pool.capacity());
    });
}

/// A read dropped while the kernel holds its buffer: the buffer stays out
/// of the pool until the cancellation completes, then comes home.
#[test]
fn cancelled_read_brings_its_buffer_home() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(4).unwrap());
        let (mut a, mut b) = pair();
        let read = b.read(CompioBuf::new(Filled::new(pool.try_get_owned().unwrap())));
        let timed = compio::time::timeout(Duration::from_millis(20), read).await;
        assert!(timed.is_err(), "no data was sent, the read must time out");
        // Dropped mid-flight: the runtime keeps the buffer for the kernel.
        assert_eq!(pool.available(), pool.capacity() - 1);
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.available() != pool.capacity() {
            assert!(Instant::now() < deadline, "{:?}", pool.stats());
            compio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(pool.stats().in_use, 0);
        // The socket still works.
        a.write_all(b"after").await.0.unwrap();
        let BufResult(res, buf) = b
            .read(CompioBuf::new(Filled::new(pool.try_get_owned().unwrap())))
            .await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(buf.as_slice(), b"after");
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
