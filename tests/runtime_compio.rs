//! Pooled buffers with compio 0.19 (compio-buf 0.8), on its io_uring
//! driver: writes through compio-buf's `IoBuf` impls, reads through
//! iobuf's `CompioRead`/`CompioReadAt`, what they promise the runtime and
//! the caller.
//!
//! Each test builds its own runtime; where the kernel refuses io_uring
//! (`ENOSYS`, `EPERM`) it prints a note and passes without running.
//!
//! No public iobuf type is compio's `IoBufMut` or `SetLen`
//! (`no_iobuf_type_lends_uninitialised_memory`): user code cannot call the
//! safe `as_uninit` on a pooled buffer, so it cannot de-initialise one.
//! The reads lend the buffer to compio in a wrapper private to iobuf
//! (`iobuf::runtimes::compio`'s docs; its unit tests run under Miri). The
//! safe `Filled::set_len`/`commit` panic past the capacity
//! (`filled_length_cannot_pass_capacity`).

#![cfg(all(feature = "compio", target_os = "linux"))]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use compio::BufResult;
use compio::io::{AsyncReadExt, AsyncWriteAtExt, AsyncWriteExt};
use compio::net::UnixStream;
use iobuf::runtimes::{CompioRead, CompioReadAt};
use iobuf::shared::SplitBuf;
use iobuf::{Filled, OwnedPooled, Pooled, SmallBuffer, SmallBufferPool};

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
            let buf = Filled::new(pool.try_get_owned().unwrap());
            let BufResult(res, buf) = file
                .read_exact_at_filled(buf, size, (block * size) as u64)
                .await;
            res.unwrap();
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
            .read_exact_at_filled(Filled::new(pool.try_get_owned().unwrap()), size, 0)
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
        let into = Filled::new(leaked.try_get().unwrap());
        let BufResult(res, into) = file.read_exact_at_filled(into, size, 0).await;
        res.unwrap();
        assert_eq!(into.as_slice(), guard.as_ref());

        drop((kept, bare, back, guard, into));
        file.close().await.unwrap();
        assert_eq!(pool.available(), pool.capacity());
        assert_eq!(leaked.available(), leaked.capacity());
    });
}

/// `read_filled` replaces the filled part: the read writes from the
/// buffer's first byte and the filled length is exactly the bytes read,
/// shorter than before or not (compio's own rule for a `Vec` only raises
/// it: the last check); `append_filled` reads after the filled bytes.
#[test]
fn a_read_sets_the_filled_length() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(4).unwrap());
        let (mut a, mut b) = pair();

        a.write_all(b"hello").await.0.unwrap();
        let buf = Filled::new(pool.try_get_owned().unwrap());
        let BufResult(res, buf) = b.read_filled(buf).await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(&buf[..], b"hello");

        a.write_all(b", world").await.0.unwrap();
        let BufResult(res, buf) = b.append_filled(buf).await;
        assert_eq!(res.unwrap(), 7);
        assert_eq!(&buf[..], b"hello, world");

        // A read into a longer `Filled` replaces it: no stale byte after.
        a.write_all(b"abc").await.0.unwrap();
        let BufResult(res, buf) = b.read_filled(buf).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(&buf[..], b"abc");

        // A consumed front: an append moves the filled bytes to the front
        // and reads after them.
        let mut buf = buf;
        buf.consume(1);
        a.write_all(b"xyz").await.0.unwrap();
        let BufResult(res, buf) = b.append_filled(buf).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(&buf[..], b"bcxyz");
        drop(buf);

        a.write_all(b"abc").await.0.unwrap();
        let BufResult(res, vec) =
            compio::io::AsyncRead::read(&mut b, b"hello, world".to_vec()).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(vec, b"abclo, world", "compio's own rule for a Vec");
        assert_eq!(pool.available(), pool.capacity());
    });
}

/// `read_exact_filled` reads exactly the bytes asked and none of the
/// stream's bytes after them; bad lengths and a full buffer are errors
/// that read nothing (a read of 0 bytes would look like end of stream);
/// end of stream before the length is `UnexpectedEof` with what came.
#[test]
fn exact_reads_and_refused_reads() {
    on_uring(|| async {
        let pool = Arc::new(SmallBufferPool::new(2).unwrap());
        let size = iobuf::BUFFER_SIZE_SMALL;
        let (mut a, mut b) = pair();
        a.write_all(b"headerbody").await.0.unwrap();
        let buf = filled_with(&pool, 9, 40);
        let BufResult(res, buf) = b.read_exact_filled(buf, 6).await;
        res.unwrap();
        assert_eq!(&buf[..], b"header");
        let BufResult(res, buf) = b.read_exact_filled(buf, 4).await;
        res.unwrap();
        assert_eq!(&buf[..], b"body");

        let mut buf = buf;
        for len in [0, size + 1] {
            let BufResult(res, back) = b.read_exact_filled(buf, len).await;
            assert_eq!(
                res.unwrap_err().kind(),
                std::io::ErrorKind::InvalidInput,
                "{len}"
            );
            assert_eq!(&back[..], b"body", "nothing read, nothing changed");
            buf = back;
        }
        let full = filled_with(&pool, 4, size);
        let BufResult(res, full) = b.append_filled(full).await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(full.len(), size);
        drop(full);
        let BufResult(res, none) = b.read_vectored_filled(Vec::<Owned>::new()).await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        assert!(none.is_empty());

        a.write_all(b"tail").await.0.unwrap();
        drop(a);
        let BufResult(res, buf) = b.read_exact_filled(buf, 10).await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(&buf[..], b"tail", "what arrived before the end");
        let BufResult(res, buf) = b.read_filled(buf).await;
        assert_eq!(res.unwrap(), 0);
        assert!(buf.is_empty(), "end of stream: nothing filled");
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
        let long_file = compio::fs::File::open(&long.0).await.unwrap();
        let short_file = compio::fs::File::open(&short.0).await.unwrap();

        let buf = Filled::new(pool.try_get_owned().unwrap());
        let BufResult(res, buf) = long_file.read_at_filled(buf, 0).await;
        assert_eq!(res.unwrap(), 100);
        assert_eq!(&buf[..], &long_bytes[..]);
        let BufResult(res, buf) = short_file.read_at_filled(buf, 0).await;
        assert_eq!(res.unwrap(), 10);
        assert_eq!(&buf[..], &short_bytes[..], "no stale byte of the long read");
        let BufResult(res, buf) = short_file.read_at_filled(buf, 10).await;
        assert_eq!(res.unwrap(), 0);
        assert!(buf.is_empty(), "end of file: nothing filled");

        // A copy loop over one buffer: 2 KiB chunks of a 5,000-byte file.
        let source = TempPath::new("copy");
        let source_bytes: Vec<u8> = (0..5000).map(|i| pattern(3, i)).collect();
        std::fs::write(&source.0, &source_bytes).unwrap();
        let source_file = compio::fs::File::open(&source.0).await.unwrap();
        let (mut copied, mut buf) = (Vec::new(), buf);
        loop {
            let BufResult(res, back) = source_file.read_at_filled(buf, copied.len() as u64).await;
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

/// No public iobuf type is compio's `IoBufMut` or `SetLen`, so user code
/// can never reach the safe `as_uninit` over a pooled buffer (and so can
/// never store an uninitialised byte into one: not through the `Filled`,
/// not for the buffer's next holder). Checked with autoref probes, which
/// answer at compile time for a concrete type; `Vec<u8>` shows that the
/// probe does see an impl where there is one.
#[test]
fn no_iobuf_type_lends_uninitialised_memory() {
    use std::marker::PhantomData;

    struct Probe<T>(PhantomData<T>);
    trait Fallback {
        const IO_BUF_MUT: bool = false;
        const SET_LEN: bool = false;
    }
    impl<T> Fallback for Probe<T> {}
    struct MutProbe<T>(PhantomData<T>);
    impl<T> Fallback for MutProbe<T> {}
    impl<T: compio::buf::IoBufMut> Probe<T> {
        const IO_BUF_MUT: bool = true;
    }
    impl<T: compio::buf::SetLen> MutProbe<T> {
        const SET_LEN: bool = true;
    }
    macro_rules! lends {
        ($($ty:ty),*) => {[$((
            stringify!($ty),
            Probe::<$ty>::IO_BUF_MUT,
            MutProbe::<$ty>::SET_LEN,
        )),*]};
    }

    assert_eq!(
        lends!(Vec<u8>),
        [("Vec<u8>", true, true)],
        "the probe works"
    );
    for (ty, io_buf_mut, set_len) in lends!(
        OwnedPooled<SmallBuffer>,
        Pooled<'static, SmallBuffer>,
        Owned,
        Filled<Pooled<'static, SmallBuffer>>,
        pools::Buf,
        Filled<pools::Buf>,
        iobuf::shared::View,
        SplitBuf,
        Vec<Owned>,
        [Owned; 2]
    ) {
        assert!(
            !io_buf_mut && !set_len,
            "{ty} lends its bytes as uninitialised memory"
        );
    }
}

/// The `Buf` enum of a `buffer_pools!` set goes in bare and in a
/// `Filled`, whichever entry it came from, and is read into in a
/// `Filled`.
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
        let mut large = Filled::new(large);
        while large.len() < small.len() {
            let BufResult(res, back) = b.append_filled(large).await;
            res.unwrap();
            large = back;
        }
        assert_eq!(large.len(), small.len());
        assert!(large.iter().all(|&x| x == 1));

        let mut out = Filled::new(pools::get(100).unwrap());
        out.extend_from_slice(b"enum");
        a.write_all(out).await.0.unwrap();
        let BufResult(res, got) = b.read_filled(Filled::new(pools::get(10).unwrap())).await;
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

/// A vectored write of several `Filled`s (compio's own impl for arrays of
/// `IoBuf`s), and vectored reads that append to several `Filled`s in
/// order, each read after what the earlier ones filled.
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

        let mut into = vec![
            Filled::new(pool.try_get_owned().unwrap()),
            Filled::new(pool.try_get_owned().unwrap()),
        ];
        let mut got = 0;
        while got < expected.len() {
            let BufResult(res, back) = b.read_vectored_filled(into).await;
            got += res.unwrap();
            into = back;
            assert_eq!(into.iter().map(|f| f.len()).sum::<usize>(), got);
        }
        let [first, second]: [Owned; 2] = into.try_into().unwrap();
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
        let read = b.read_filled(Filled::new(pool.try_get_owned().unwrap()));
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
            .read_filled(Filled::new(pool.try_get_owned().unwrap()))
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
