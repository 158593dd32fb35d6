use std::io::{BufRead, ErrorKind, Read, Write};

use super::Filled;

fn view(cap: usize) -> Filled<Vec<u8>> {
    Filled::new(vec![0xAA; cap])
}

#[test]
fn starts_empty_with_the_whole_buffer_free() {
    let v = view(8);
    assert_eq!((v.len(), v.capacity(), v.remaining_capacity()), (0, 8, 8));
    assert!(v.is_empty());
    assert_eq!(&v[..], b"");
}

#[test]
fn set_len_exposes_old_bytes_and_checks_the_capacity() {
    let mut v = view(8);
    v.set_len(3);
    assert_eq!(&v[..], &[0xAA; 3]);
    v.set_len(8);
    assert_eq!(v.remaining_capacity(), 0);
    let err = std::panic::catch_unwind(move || v.set_len(9)).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("length 9 exceeds the capacity 8"), "{msg}");
}

#[test]
fn extend_past_the_capacity_panics_and_writes_nothing() {
    let mut v = view(4);
    v.extend_from_slice(b"ab");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| v.extend_from_slice(b"cde")));
    assert!(r.is_err());
    assert_eq!(&v[..], b"ab");
    assert_eq!(&v.holder()[2..], &[0xAA; 2]);
}

#[test]
fn write_is_partial_at_the_boundary() {
    let mut v = view(5);
    assert_eq!(v.write(b"abc").unwrap(), 3);
    assert_eq!(v.write(b"defg").unwrap(), 2);
    assert_eq!(v.write(b"h").unwrap(), 0);
    assert_eq!(v.write(b"").unwrap(), 0);
    assert_eq!(&v[..], b"abcde");

    let mut w = view(5);
    let err = w.write_all(b"0123456").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WriteZero);
    assert_eq!(&w[..], b"01234");
}

#[test]
fn read_consumes_from_the_front_and_rewinds_when_drained() {
    let mut v = view(8);
    v.extend_from_slice(b"abcdef");
    let mut two = [0; 2];
    v.read_exact(&mut two).unwrap();
    assert_eq!(&two, b"ab");
    assert_eq!(&v[..], b"cdef");
    // Consumed room is free again: a write compacts first.
    assert_eq!((v.capacity(), v.remaining_capacity()), (8, 4));
    assert_eq!(v.unfilled_mut().len(), 4);
    assert_eq!(&v[..], b"cdef");
    let mut rest = Vec::new();
    v.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"cdef");
    assert_eq!((v.len(), v.capacity(), v.remaining_capacity()), (0, 8, 8));
    assert_eq!(v.read(&mut two).unwrap(), 0);
}

#[test]
fn compact_moves_the_filled_part_to_the_front() {
    let mut v = view(6);
    v.extend_from_slice(b"line\nx");
    let mut line = String::new();
    v.read_line(&mut line).unwrap();
    assert_eq!(line, "line\n");
    assert_eq!(v.fill_buf().unwrap(), b"x");
    assert_eq!(v.remaining_capacity(), 5);
    v.compact();
    assert_eq!(&v[..], b"x");
    assert_eq!((v.capacity(), v.remaining_capacity()), (6, 5));
    v.extend_from_slice(b"yz");
    assert_eq!(&v[..], b"xyz");
}

#[test]
fn truncate_commit_and_unfilled() {
    let mut v = view(6);
    v.unfilled_mut()[..3].copy_from_slice(b"abc");
    v.commit(3);
    assert_eq!(&v[..], b"abc");
    assert_eq!(v.unfilled_mut(), &[0xAA; 3]);
    v.truncate(5);
    assert_eq!(v.len(), 3);
    v.truncate(1);
    assert_eq!(&v[..], b"a");
    v[0] = b'z';
    assert_eq!(&v.holder()[..1], b"z");
    v.truncate(0);
    assert_eq!(v.capacity(), 6);
    let r = std::panic::catch_unwind(move || v.commit(7));
    assert!(r.is_err());
}

#[test]
fn with_len_and_into_inner() {
    let v = Filled::with_len(vec![1, 2, 3, 4], 2);
    assert_eq!(&v[..], &[1, 2]);
    assert_eq!(v.into_inner(), vec![1, 2, 3, 4]);
    assert!(std::panic::catch_unwind(|| Filled::with_len(vec![0; 2], 3)).is_err());
}

#[test]
fn consume_past_the_length_panics() {
    let mut v = view(4);
    v.extend_from_slice(b"ab");
    let r = std::panic::catch_unwind(move || v.consume(3));
    assert!(r.is_err());
}

#[cfg(feature = "bytes")]
mod with_bytes {
    use bytes::{Buf, BufMut};

    use super::view;

    #[test]
    fn buf_mut_fills_the_unfilled_part() {
        let mut v = view(8);
        v.put_u16(0x0102);
        v.put_slice(b"abc");
        assert_eq!(v.remaining_mut(), 3);
        assert_eq!(&v[..], b"\x01\x02abc");
        let r = std::panic::catch_unwind(move || v.put_slice(b"defg"));
        assert!(r.is_err(), "put_slice past the capacity must panic");
    }

    #[test]
    fn buf_reads_from_the_front() {
        let mut v = view(8);
        v.put_slice(b"\x00\x07xyz");
        assert_eq!(v.get_u16(), 7);
        assert_eq!(v.chunk(), b"xyz");
        v.advance(3);
        assert_eq!((v.remaining(), v.remaining_mut()), (0, 8));
    }

    #[test]
    fn buf_mut_reuses_room_consumed_from_the_front() {
        // A parse-then-read-more loop: the front is consumed with the tail
        // at the end; `BufMut` must still offer the freed room (tokio's
        // `read_buf` reads nothing, as at EOF, when `remaining_mut` is 0).
        let mut v = view(8);
        v.put_slice(b"abcdefgh");
        v.advance(6);
        assert_eq!(v.remaining_mut(), 6);
        assert_eq!(v.chunk_mut().len(), 6);
        v.put_slice(b"123456");
        assert_eq!(&v[..], b"gh123456");
    }

    #[test]
    fn freeze_shares_the_bytes() {
        let mut v = view(8);
        v.put_slice(b"abcdef");
        v.advance(1);
        let b = v.freeze();
        assert_eq!(&b[..], b"bcdef");
        assert_eq!(&b.slice(1..3)[..], b"cd");
    }
}
