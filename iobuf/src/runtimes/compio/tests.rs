//! The private wrapper on the paths compio takes through it, as compio-io
//! and compio-driver drive a read: `as_uninit` for the pointer handed to
//! the kernel, a write through that pointer (the kernel's), then
//! `SetLen::advance_to` (`map_advanced`). Run under Miri (both borrow
//! models, `.ci/miri`): every byte the `Filled` and the pool's next holder
//! read must be initialised, and no access may break the aliasing rules.
//! (Real compio cannot run under Miri: io_uring and epoll syscalls.)

use std::mem::MaybeUninit;
use std::sync::Arc;

use compio_buf::{IntoInner, IoBuf, IoBufMut, IoVectoredBufMut, SetLen};

use super::Lent;
use crate::{Filled, OwnedPooled, PicoBuffer, PicoBufferPool};

type Held = Filled<OwnedPooled<PicoBuffer>>;

const CAP: usize = crate::BUFFER_SIZE_PICO;

/// One buffer, so that the next `get` is the next holder of the same one.
fn pool() -> Arc<PicoBufferPool> {
    Arc::new(PicoBufferPool::new(1).unwrap())
}

/// A `Filled` whose whole buffer holds `stale` and whose first `len`
/// bytes count as filled.
fn stale(pool: &Arc<PicoBufferPool>, byte: u8, len: usize) -> Held {
    let mut buf = Filled::new(pool.try_get_owned().unwrap());
    buf.holder_mut().as_mut().fill(byte);
    buf.set_len(len);
    buf
}

/// What the kernel does with a read's buffer: compio takes the pointer and
/// length from `as_uninit` when it builds the submission, asks the
/// buffer's length (`buf_len`) on the way, the kernel writes `data` through
/// the pointer, and compio raises the length by what was written. Returns
/// the count, as the operation's result.
fn kernel_read<B: IoBufMut>(buf: &mut B, data: &[u8]) -> usize {
    let slice = buf.as_uninit();
    let (ptr, len) = (slice.as_mut_ptr(), slice.len());
    let n = data.len().min(len);
    let before = (*buf).buf_len();
    // SAFETY: `ptr` is valid for `len >= n` bytes (`as_uninit`), written
    // as the kernel would, from a buffer that does not overlap it.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), ptr.cast::<u8>(), n) };
    // SAFETY: `n` bytes from the start were just written (compio's
    // `map_advanced`: `advance_to(n)`).
    unsafe { buf.advance_to(n) };
    assert!((*buf).buf_len() >= before);
    n
}

/// Every byte of the buffer, read as `u8` by the pool's next holder.
fn next_holder_reads_all(pool: &Arc<PicoBufferPool>) -> Vec<u8> {
    let next = pool.try_get_owned().unwrap();
    next.as_ref().to_vec()
}

/// `read_filled`: the read replaces the filled part, whatever stood there,
/// and the filled length is exactly what the kernel wrote (a long read,
/// then a short one into the same buffer).
#[test]
fn a_read_replaces_the_filled_part_exactly() {
    let pool = pool();
    let buf = stale(&pool, 0xEE, 20);
    let mut lent = Lent::replacing(buf, CAP);
    assert_eq!(lent.buf_len(), 0, "lent as an empty buffer");
    assert_eq!(lent.buf_capacity(), CAP);
    assert_eq!(kernel_read(&mut lent, &[7; 30]), 30);
    let buf = lent.filled;
    assert_eq!(buf.as_slice(), &[7; 30]);

    let mut lent = Lent::replacing(buf, CAP);
    assert_eq!(kernel_read(&mut lent, b"short"), 5);
    let buf = lent.filled;
    assert_eq!(buf.as_slice(), b"short", "no stale byte past the read");
    drop(buf);

    let all = next_holder_reads_all(&pool);
    assert_eq!(&all[..5], b"short");
    assert_eq!(
        &all[5..30],
        &[7; 25],
        "bytes the read did not reach keep their values"
    );
    assert_eq!(&all[30..], &[0xEE; 2]);
}

/// `append_filled` goes through compio's `append`, which lends
/// `buf.uninit()`: the read lands after the filled bytes (moved to the
/// front first) and the length grows by what it wrote.
#[test]
fn an_append_reads_after_the_filled_bytes() {
    let pool = pool();
    let mut buf = stale(&pool, 0, 0);
    buf.extend_from_slice(b"xxhead");
    buf.consume(2);
    let lent = Lent::appending(buf);
    assert_eq!((lent.begin, lent.end), (4, CAP));
    let mut uninit = lent.uninit();
    assert_eq!(kernel_read(&mut uninit, b"-tail"), 5);
    let buf = uninit.into_inner().filled;
    assert_eq!(buf.as_slice(), b"head-tail");
    drop(buf);
    assert_eq!(&next_holder_reads_all(&pool)[..9], b"head-tail");
}

/// `read_exact_filled`/`read_exact_at_filled` go through compio's
/// `read_exact`, which lends `buf.slice(read..)` once per partial read.
#[test]
fn read_exact_fills_the_window_through_compio_slices() {
    let pool = pool();
    let buf = stale(&pool, 0x55, CAP);
    let mut lent = Lent::replacing(buf, 12);
    let mut read = 0;
    for part in [&b"abcd"[..], b"efgh", b"ijklmnop"] {
        let mut slice = lent.slice(read..);
        read += kernel_read(&mut slice, part);
        lent = slice.into_inner();
    }
    assert_eq!(read, 12, "the window stops the read at `len`");
    let buf = lent.filled;
    assert_eq!(buf.as_slice(), b"abcdefghijkl");
    drop(buf);
    let all = next_holder_reads_all(&pool);
    assert_eq!(&all[..12], b"abcdefghijkl");
    assert!(all[12..].iter().all(|&b| b == 0x55));
}

/// `read_vectored_filled` lends a `Vec` of wrappers: compio takes every
/// window (`iter_uninit_slice`), the kernel fills them in order, and
/// compio spreads the count over them (`advance_vec_to`).
#[test]
fn a_vectored_read_appends_to_each_buffer_in_order() {
    let pool = Arc::new(PicoBufferPool::new(2).unwrap());
    let mut first = Filled::new(pool.try_get_owned().unwrap());
    first.extend_from_slice(&[1; CAP - 4]);
    let second = Filled::new(pool.try_get_owned().unwrap());
    let mut lent: Vec<Lent<_>> = vec![first, second]
        .into_iter()
        .map(Lent::appending)
        .collect();

    let data: Vec<u8> = (0..10).collect();
    let windows: Vec<(*mut MaybeUninit<u8>, usize)> = lent
        .iter_uninit_slice()
        .map(|s| (s.as_mut_ptr(), s.len()))
        .collect();
    assert_eq!(windows.iter().map(|w| w.1).collect::<Vec<_>>(), [4, CAP]);
    let mut at = 0;
    for (ptr, len) in windows {
        let n = len.min(data.len() - at);
        // SAFETY: each window is valid for `len` bytes (`as_uninit`);
        // written as the kernel's `readv` would, in order.
        unsafe { std::ptr::copy_nonoverlapping(data[at..].as_ptr(), ptr.cast::<u8>(), n) };
        at += n;
    }
    // SAFETY: the first `at` bytes of the windows, in order, were written
    // (compio's `map_vec_advanced`).
    unsafe { lent.advance_vec_to(at) };

    let mut back = lent.into_iter().map(|l| l.filled);
    let (first, second) = (back.next().unwrap(), back.next().unwrap());
    assert_eq!(&first[CAP - 4..], &[0, 1, 2, 3]);
    assert_eq!(first.len(), CAP);
    assert_eq!(second.as_slice(), &[4, 5, 6, 7, 8, 9]);
}

/// compio-buf's safe provided methods that compio's own code may call on
/// the wrapper (`ensure_init`, `extend_from_slice`, `as_mut_slice`,
/// `copy_within`) keep every byte initialised.
#[test]
fn compio_bufs_safe_helpers_keep_the_bytes_initialised() {
    let pool = pool();
    let buf = stale(&pool, 0x33, 3);
    let mut lent = Lent::replacing(buf, CAP);
    lent.extend_from_slice(b"abc").unwrap();
    lent.as_mut_slice()[0] = b'A';
    lent.copy_within(0..3, 3);
    assert_eq!(
        lent.ensure_init().len(),
        CAP,
        "zeroes the window past the filled bytes"
    );
    assert!(
        lent.extend_from_slice(&[0; CAP]).is_err(),
        "no growing past the window"
    );
    let buf = lent.filled;
    assert_eq!(buf.as_slice(), b"Abc");
    drop(buf);
    let all = next_holder_reads_all(&pool);
    assert_eq!(&all[..3], b"Abc");
    assert!(all[3..].iter().all(|&b| b == 0));
}

/// A runtime that reported more bytes than the window holds is a bug, not
/// a length: the wrapper refuses it.
#[test]
#[should_panic(expected = "into a window of 4")]
fn a_length_past_the_window_panics() {
    let pool = pool();
    let mut lent = Lent::replacing(stale(&pool, 0, 0), 4);
    // SAFETY: deliberately past the window, to see it refused before any
    // byte counts as filled.
    unsafe { lent.set_len(5) };
}
