//! Vectored I/O through real syscalls: `writev` of tier buffers into a
//! socketpair and `readv` back into others, byte for byte and in order.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use iobuf::*;

fn patterned<T: BufferTier>(seed: u8) -> Box<T> {
    let mut b = T::zeroed_box();
    for (i, byte) in b.as_bytes_mut().iter_mut().enumerate() {
        *byte = seed.wrapping_add((i % 251) as u8);
    }
    b
}

/// Writes all of `iov` with `writev`, advancing over partial writes.
fn writev_all(fd: i32, iov: &[IoVec<'_>]) -> usize {
    let mut total = 0;
    let mut all = iov.to_vec();
    let mut rest = &mut all[..];
    while !rest.is_empty() {
        let (addr, n) = addr_len(rest);
        // SAFETY: `addr` points to `n` valid iovecs over live, shared bytes;
        // writev only reads them.
        let w = unsafe { libc::writev(fd, addr, n as i32) };
        assert!(w > 0, "writev: {}", std::io::Error::last_os_error());
        total += w as usize;
        IoVec::advance_slices(&mut rest, w as usize);
    }
    total
}

#[test]
fn writev_then_readv_moves_every_byte_in_order() {
    let (a, b) = UnixStream::pair().unwrap();
    let small = [
        *patterned::<SmallBuffer>(1),
        *patterned::<SmallBuffer>(2),
        *patterned::<SmallBuffer>(3),
    ];
    let pico = patterned::<PicoBuffer>(200);
    let expected: Vec<u8> = small
        .iter()
        .flat_map(|s| s.as_bytes().iter().copied())
        .chain(pico.as_bytes().iter().copied())
        .collect();

    let mut iov = iovecs_from(&small);
    iov.push(pico.iovec());
    let total: usize = iov.iter().map(IoVec::len).sum();
    assert_eq!(total, 3 * 2048 + 32);

    let writer = std::thread::scope(|s| {
        let w = s.spawn(|| writev_all(a.as_raw_fd(), &iov));
        // Read back into a different layout: a Nano, then Micro buffers.
        let mut nano = NanoBuffer::zeroed_box();
        let mut micros: Vec<MicroBuffer> = (0..12).map(|_| *MicroBuffer::zeroed_box()).collect();
        let mut got = 0;
        {
            let mut targets = vec![nano.iovec_mut()];
            targets.extend(iovecs_from_mut(&mut micros));
            assert!(targets.iter().map(IoVec::len).sum::<usize>() >= total);
            let mut rest = &mut targets[..];
            while got < total {
                let (addr, n) = addr_len(rest);
                // SAFETY: the iovecs cover exclusively borrowed buffers
                // (`nano`, `micros`) that stay alive and untouched meanwhile.
                let r = unsafe { libc::readv(b.as_raw_fd(), addr, n as i32) };
                assert!(r > 0, "readv: {}", std::io::Error::last_os_error());
                got += r as usize;
                IoVec::advance_slices(&mut rest, r as usize);
            }
        }
        let mut received = nano.as_bytes().to_vec();
        for m in &micros {
            received.extend_from_slice(m.as_bytes());
        }
        assert_eq!(got, total);
        assert_eq!(&received[..total], &expected[..], "bytes or order differ");
        w.join().unwrap()
    });
    assert_eq!(writer, total);
}

#[test]
fn std_vectored_io_through_io_slices() {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let bufs = [*patterned::<NanoBuffer>(7), *patterned::<NanoBuffer>(9)];
    let slices: Vec<IoSlice<'_>> = bufs.iter().map(BufferTier::io_slice).collect();
    let n = a.write_vectored(&slices).unwrap();
    assert_eq!(n, 256);
    let mut back = [*NanoBuffer::zeroed_box(), *NanoBuffer::zeroed_box()];
    {
        let [x, y] = &mut back;
        let mut targets = [x.io_slice_mut(), y.io_slice_mut()];
        let mut rest = &mut targets[..];
        let mut got = 0;
        while got < 256 {
            let n = b.read_vectored(rest).unwrap();
            assert!(n > 0, "unexpected end of stream");
            got += n;
            IoSliceMut::advance_slices(&mut rest, n);
        }
    }
    assert_eq!(back[0].as_bytes(), bufs[0].as_bytes());
    assert_eq!(back[1].as_bytes(), bufs[1].as_bytes());
}

#[test]
fn conversions_round_trip() {
    let mut data = *b"abcdef";
    let v = IoVec::from(&data[..]);
    assert_eq!(v.as_slice(), b"abcdef");
    let s: IoSlice<'_> = v.into();
    assert_eq!(&*s, b"abcdef");
    assert_eq!(IoVec::from(s).len(), 6);
    let bytes: &[u8] = v.into();
    assert_eq!(bytes, b"abcdef");
    assert_eq!(v.as_raw().iov_len, 6);
    let m = IoVec::from(IoSliceMut::new(&mut data[1..]));
    assert_eq!(m.as_slice(), b"bcdef");
    assert_eq!(IoVec::from(&mut data[..2]).len(), 2);
    assert!(IoVec::default().is_empty());
    assert!(IoVec::EMPTY.as_slice().is_empty());
    let v = IoVec::from(&data[..]);
    assert!(format!("{v:?}").contains("len: 6"));
}

#[test]
fn builders_cover_every_buffer_in_order() {
    let regs: Vec<RegisterBuffer> = (0..3).map(|_| *RegisterBuffer::zeroed_box()).collect();
    let v = iovecs_from_registered(&regs);
    assert_eq!(v.len(), 3);
    for (v, r) in v.iter().zip(&regs) {
        assert_eq!(v.as_slice().as_ptr(), r.0.as_ptr());
        assert_eq!(v.len(), BUFFER_SIZE_LARGE);
    }
    let parts: [&[u8]; 3] = [b"a", b"", b"bc"];
    let v = iovecs_from_slices(&parts);
    assert_eq!(v.iter().map(|v| v.as_slice()).collect::<Vec<_>>(), parts);
    assert_eq!(addr_len(&[]), (std::ptr::null(), 0));
    let (addr, n) = addr_len(&v);
    assert_eq!((addr, n), (v.as_ptr().cast(), 3));
}

#[test]
fn advance_over_partial_transfers() {
    let (a, b, c) = (*b"abc", *b"", *b"defg");
    let mut all = [
        IoVec::from(&a[..]),
        IoVec::from(&b[..]),
        IoVec::from(&c[..]),
    ];
    let mut rest = &mut all[..];
    IoVec::advance_slices(&mut rest, 0);
    assert_eq!(rest.len(), 3);
    IoVec::advance_slices(&mut rest, 3);
    assert_eq!(rest.len(), 1, "the empty iovec is used up too");
    assert_eq!(rest[0].as_slice(), b"defg");
    IoVec::advance_slices(&mut rest, 4);
    assert!(rest.is_empty());
}

#[test]
#[should_panic(expected = "past their end by 1 bytes")]
fn advance_past_the_end_panics() {
    let a = *b"ab";
    let mut all = [IoVec::from(&a[..])];
    IoVec::advance_slices(&mut &mut all[..], 3);
}

#[test]
fn fill_without_allocating_refuses_to_truncate() {
    let bufs = [
        PicoBuffer([1; 32]),
        PicoBuffer([2; 32]),
        PicoBuffer([3; 32]),
    ];
    let mut out = [IoVec::EMPTY; 4];
    let filled = fill_iovecs(&bufs, &mut out).unwrap();
    assert_eq!(filled.len(), 3);
    assert_eq!(filled[2].as_slice()[0], 3);
    let mut short = [IoVec::EMPTY; 2];
    let err = fill_iovecs(&bufs, &mut short).unwrap_err();
    assert!(
        err.to_string()
            .contains("3 buffers do not fit in an array of 2"),
        "{err}"
    );

    let parts: [&[u8]; 2] = [b"xy", b"z"];
    let mut out = [IoVec::EMPTY; 2];
    assert_eq!(fill_iovecs_from_slices(&parts, &mut out).unwrap().len(), 2);

    let mut bufs = bufs;
    let mut out = [IoVec::EMPTY; 3];
    assert_eq!(fill_iovecs_mut(&mut bufs, &mut out).unwrap().len(), 3);
}
