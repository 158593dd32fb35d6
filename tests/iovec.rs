//! Vectored I/O through real syscalls: `writev` of tier buffers into a
//! socketpair and `readv` back into others, byte for byte and in order; and
//! the same through std's and tokio's `write_vectored`/`read_vectored` with
//! the safe `IoVec::as_io_slices`/`IoVecMut::as_io_slices_mut` views, over
//! socketpairs, TCP loopback (not under Miri, which cannot open sockets
//! under isolation), and in-memory readers and writers.

use std::io::{Cursor, ErrorKind, IoSlice, IoSliceMut, Read, Write};
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
            assert!(targets.iter().map(IoVecMut::len).sum::<usize>() >= total);
            let mut rest = &mut targets[..];
            while got < total {
                let (addr, n) = addr_len_mut(rest);
                // SAFETY: the iovecs cover exclusively borrowed buffers
                // (`nano`, `micros`) that stay alive and untouched meanwhile.
                let r = unsafe { libc::readv(b.as_raw_fd(), addr, n as i32) };
                assert!(r > 0, "readv: {}", std::io::Error::last_os_error());
                got += r as usize;
                IoVecMut::advance_slices(&mut rest, r as usize);
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
    let mut out = [IoVecMut::EMPTY; 3];
    let filled = fill_iovecs_mut(&mut bufs, &mut out).unwrap();
    assert_eq!(filled.len(), 3);
    filled[1].as_mut_slice()[0] = 20;
    assert!(fill_iovecs_mut(&mut bufs, &mut [IoVecMut::EMPTY; 2]).is_err());
    assert_eq!(bufs[1].0[0], 20);
}

// ---- The safe std views: `IoVec::as_io_slices`, `IoVecMut::as_io_slices_mut`.

/// Writes all of `iov` with `write_vectored` through the safe view,
/// advancing over partial writes (the loop `Write::write_all_vectored`,
/// still unstable, would run). Returns the number of calls.
fn write_all_vectored(w: &mut impl Write, mut rest: &mut [IoVec<'_>]) -> std::io::Result<usize> {
    let mut calls = 0;
    IoVec::advance_slices(&mut rest, 0);
    while !rest.is_empty() {
        match w.write_vectored(IoVec::as_io_slices(rest)) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => IoVec::advance_slices(&mut rest, n),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) => return Err(e),
        }
        calls += 1;
    }
    Ok(calls)
}

/// Fills all of `iov` with `read_vectored` through the safe view, over
/// partial reads. Returns the number of calls.
fn read_exact_vectored(r: &mut impl Read, mut rest: &mut [IoVecMut<'_>]) -> std::io::Result<usize> {
    let mut calls = 0;
    IoVecMut::advance_slices(&mut rest, 0);
    while !rest.is_empty() {
        match r.read_vectored(IoVecMut::as_io_slices_mut(rest)) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => IoVecMut::advance_slices(&mut rest, n),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        calls += 1;
    }
    Ok(calls)
}

/// A writer that takes at most `max` bytes per call, across slices, as a
/// full socket buffer does.
struct Trickle {
    out: Vec<u8>,
    max: usize,
    calls: usize,
}

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        self.calls += 1;
        let mut room = self.max;
        for b in bufs {
            let n = b.len().min(room);
            self.out.extend_from_slice(&b[..n]);
            room -= n;
            if room == 0 {
                break;
            }
        }
        Ok(self.max - room)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn views_keep_every_pointer_and_length() {
    let (a, b) = (*b"abc", *b"defgh");
    let iov = [IoVec::from(&a[..]), IoVec::EMPTY, IoVec::from(&b[1..])];
    let slices = IoVec::as_io_slices(&iov);
    assert_eq!(slices.len(), 3);
    for (s, v) in slices.iter().zip(&iov) {
        let raw = v.as_raw();
        assert_eq!(
            (s.as_ptr(), s.len()),
            (raw.iov_base.cast_const().cast(), raw.iov_len)
        );
    }
    assert_eq!(&*slices[2], b"efgh");
    assert!(IoVec::as_io_slices(&[]).is_empty());

    let (mut c, mut d) = ([0u8; 2], [0u8; 3]);
    let (pc, pd) = (c.as_ptr(), d.as_ptr());
    let mut iov = [
        IoVecMut::from(&mut c[..]),
        IoVecMut::EMPTY,
        IoVecMut::from(&mut d[..]),
    ];
    let slices = IoVecMut::as_io_slices_mut(&mut iov);
    assert_eq!(slices.len(), 3);
    assert_eq!((slices[0].as_ptr(), slices[0].len()), (pc, 2));
    assert!(slices[1].is_empty());
    assert_eq!((slices[2].as_ptr(), slices[2].len()), (pd, 3));
    slices[2][1] = 9;
    assert!(IoVecMut::as_io_slices_mut(&mut []).is_empty());
    assert_eq!(iov[2].as_slice(), [0, 9, 0]);
    assert_eq!(d, [0, 9, 0]);
}

#[test]
fn views_round_trip_through_in_memory_io() {
    let bufs = [*patterned::<PicoBuffer>(1), *patterned::<PicoBuffer>(2)];
    let expected: Vec<u8> = bufs.iter().flat_map(|b| b.0).collect();
    let iov = iovecs_from(&bufs);

    let mut sink = Vec::new();
    assert_eq!(sink.write_vectored(IoVec::as_io_slices(&iov)).unwrap(), 64);
    assert_eq!(sink, expected);
    let mut cursor = Cursor::new(Vec::new());
    assert_eq!(
        cursor.write_vectored(IoVec::as_io_slices(&iov)).unwrap(),
        64
    );
    assert_eq!(cursor.get_ref(), &expected);

    // Back into a different layout: 24 + 40 bytes.
    let (mut x, mut y) = ([0u8; 24], [0u8; 40]);
    {
        let mut targets = [IoVecMut::from(&mut x[..]), IoVecMut::from(&mut y[..])];
        let n = (&sink[..])
            .read_vectored(IoVecMut::as_io_slices_mut(&mut targets))
            .unwrap();
        assert_eq!(n, 64);
    }
    assert_eq!([&x[..], &y[..]].concat(), expected);

    let mut nano = NanoBuffer::zeroed_box();
    let mut iov = [nano.iovec_mut()];
    let n = Cursor::new(&expected)
        .read_vectored(IoVecMut::as_io_slices_mut(&mut iov))
        .unwrap();
    assert_eq!(n, 64);
    assert_eq!(&nano.0[..64], &expected[..]);
    assert!(nano.0[64..].iter().all(|&b| b == 0));
}

#[test]
fn views_survive_partial_writes_and_reads() {
    let (a, b, c) = (
        *patterned::<PicoBuffer>(3),
        *patterned::<NanoBuffer>(4),
        *patterned::<PicoBuffer>(5),
    );
    let expected: Vec<u8> = [a.as_bytes(), b.as_bytes(), c.as_bytes()].concat();
    let mut iov = vec![a.iovec(), IoVec::EMPTY, b.iovec(), IoVec::EMPTY, c.iovec()];
    for max in [1, 7, 31, 32, 33, 100, 192, 1000] {
        let mut w = Trickle {
            out: Vec::new(),
            max,
            calls: 0,
        };
        let calls = write_all_vectored(&mut w, &mut iov.clone()).unwrap();
        assert_eq!(w.out, expected, "max {max}");
        assert_eq!(calls, w.calls);
        assert_eq!(calls, expected.len().div_ceil(max), "max {max}");
    }
    // The caller's iovecs are untouched; advancing works on a copy.
    assert_eq!(iov[0].len(), 32);

    // Reads of at most 5 bytes at a time (a chained pair of readers, each
    // read_vectored filling only its first non-empty slice, as std's
    // default does), into 3 + 0 + 200 bytes.
    let mut slow = Trickled(&expected[..], 5);
    let (mut x, mut y) = ([0u8; 3], vec![0u8; 189]);
    let mut targets = [
        IoVecMut::from(&mut x[..]),
        IoVecMut::EMPTY,
        IoVecMut::from(&mut y[..]),
    ];
    let calls = read_exact_vectored(&mut slow, &mut targets).unwrap();
    assert_eq!(calls, 1 + 189usize.div_ceil(5));
    assert_eq!([&x[..], &y[..]].concat(), expected);

    // Empty: nothing to do, no call made, for all-empty lists too.
    iov.clear();
    let mut w = Trickle {
        out: Vec::new(),
        max: 1,
        calls: 0,
    };
    assert_eq!(write_all_vectored(&mut w, &mut iov).unwrap(), 0);
    assert_eq!(
        write_all_vectored(&mut w, &mut [IoVec::EMPTY, IoVec::EMPTY]).unwrap(),
        0
    );
    assert_eq!(w.calls, 0);
    assert_eq!(
        read_exact_vectored(&mut slow, &mut [IoVecMut::EMPTY; 2]).unwrap(),
        0
    );
    // A write of only empty slices through the views themselves is fine.
    assert_eq!(
        Vec::new()
            .write_vectored(IoVec::as_io_slices(&[IoVec::EMPTY; 3]))
            .unwrap(),
        0
    );
    assert_eq!(
        (&b"xyz"[..])
            .read_vectored(IoVecMut::as_io_slices_mut(&mut [IoVecMut::EMPTY; 2]))
            .unwrap(),
        0
    );
}

/// A reader that hands out at most `.1` bytes per call (std's default
/// `read_vectored`: only the first non-empty slice is filled).
struct Trickled<'a>(&'a [u8], usize);

impl Read for Trickled<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.1).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn views_round_trip_over_a_socketpair_with_partial_writes() {
    // 8 x 128 KiB through a non-blocking socket whose buffer holds far less
    // (about 200 KiB): writev returns short counts and WouldBlock, and the
    // loop must advance over both. Miri checks the same code on 4 x 8 KiB,
    // which fit (its socket buffer is as large, and a megabyte takes it
    // minutes); the in-memory `Trickle` tests cover its partial writes.
    let (writes, reads) = if cfg!(miri) {
        socketpair_round_trip::<MediumBuffer>(4, 40)
    } else {
        socketpair_round_trip::<LargeBuffer>(8, 1800)
    };
    assert!(reads > 1 || cfg!(miri), "everything came in one read");
    assert!(
        writes > 1 || cfg!(miri),
        "everything went out in one write: nothing partial was tested"
    );
}

/// Sends `count` patterned `T`s over a non-blocking socketpair with
/// `write_vectored`, and reads them back with `read_vectored` into `micro`
/// Micro buffers, an empty iovec and two `T`s. Returns the number of write
/// and read calls.
fn socketpair_round_trip<T: BufferTier>(count: u8, micro: usize) -> (usize, usize) {
    let (mut tx, mut rx) = UnixStream::pair().unwrap();
    tx.set_nonblocking(true).unwrap();
    let out: Vec<Box<T>> = (0..count).map(patterned::<T>).collect();
    let mut expected = Vec::new();
    for b in &out {
        expected.extend_from_slice(b.as_bytes());
    }
    let total = expected.len();
    assert!(micro * BUFFER_SIZE_MICRO + 2 * T::SIZE >= total);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut micros: Vec<MicroBuffer> =
                (0..micro).map(|_| *MicroBuffer::zeroed_box()).collect();
            let (mut t0, mut t1) = (T::zeroed_box(), T::zeroed_box());
            let mut got = 0;
            let mut reads = 0;
            {
                let mut targets = iovecs_from_mut(&mut micros);
                targets.push(IoVecMut::EMPTY);
                targets.push(t0.iovec_mut());
                targets.push(t1.iovec_mut());
                let mut rest = &mut targets[..];
                while got < total {
                    let n = rx.read_vectored(IoVecMut::as_io_slices_mut(rest)).unwrap();
                    assert!(
                        n > 0 && n <= total - got,
                        "read {n}, {got} of {total} so far"
                    );
                    got += n;
                    reads += 1;
                    IoVecMut::advance_slices(&mut rest, n);
                }
            }
            let mut back = Vec::new();
            for m in &micros {
                back.extend_from_slice(m.as_bytes());
            }
            back.extend_from_slice(t0.as_bytes());
            back.extend_from_slice(t1.as_bytes());
            back.truncate(total);
            assert!(back == expected, "bytes or order differ");
            reads
        });
        let mut iov: Vec<IoVec<'_>> = out.iter().map(|b| b.iovec()).collect();
        let writes = write_all_vectored(&mut tx, &mut iov).unwrap();
        (writes, reader.join().unwrap())
    })
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot open sockets (`socket`) under isolation")]
fn views_round_trip_over_tcp_loopback() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut tx = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut rx, _) = listener.accept().unwrap();
    let parts = [*patterned::<SmallBuffer>(10), *patterned::<SmallBuffer>(11)];
    let expected: Vec<u8> = parts.iter().flat_map(|b| b.0).collect();
    let mut iov = iovecs_from(&parts);
    iov.insert(1, IoVec::EMPTY);
    write_all_vectored(&mut tx, &mut iov).unwrap();
    let mut back = [*MicroBuffer::zeroed_box(), *MicroBuffer::zeroed_box()];
    let mut big = MediumBuffer::zeroed_box();
    {
        let [m0, m1] = &mut back;
        let mut targets = [
            m0.iovec_mut(),
            m1.iovec_mut(),
            IoVecMut::EMPTY,
            IoVecMut::from(&mut big.0[..3072]),
        ];
        read_exact_vectored(&mut rx, &mut targets).unwrap();
    }
    let got: Vec<u8> = [&back[0].0[..], &back[1].0[..], &big.0[..3072]].concat();
    assert!(got == expected, "bytes or order differ");
}

#[test]
fn views_work_with_tokio() {
    use tokio::io::AsyncWriteExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut tx, rx) = tokio::net::UnixStream::pair().unwrap();
        let parts = [*patterned::<NanoBuffer>(20), *patterned::<NanoBuffer>(21)];
        let expected: Vec<u8> = parts.iter().flat_map(|b| b.0).collect();
        let iov = iovecs_from(&parts);
        let mut rest = &mut iov.clone()[..];
        while !rest.is_empty() {
            let n = tx.write_vectored(IoVec::as_io_slices(rest)).await.unwrap();
            assert!(n > 0);
            IoVec::advance_slices(&mut rest, n);
        }
        let mut back = NanoBuffer::zeroed_box();
        let mut more = NanoBuffer::zeroed_box();
        let mut targets = [back.iovec_mut(), more.iovec_mut()];
        let mut rest = &mut targets[..];
        let mut got = 0;
        while got < 256 {
            rx.readable().await.unwrap();
            match rx.try_read_vectored(IoVecMut::as_io_slices_mut(rest)) {
                Ok(n) => {
                    assert!(n > 0, "unexpected end of stream");
                    got += n;
                    IoVecMut::advance_slices(&mut rest, n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!([back.0, more.0].concat(), expected);
    });
}

#[test]
fn iovec_mut_api() {
    let mut data = *b"abcdef";
    let p = data.as_ptr();
    let mut v = IoVecMut::from(&mut data[..]);
    assert_eq!((v.len(), v.is_empty()), (6, false));
    assert_eq!(v.as_raw().iov_base.cast_const().cast::<u8>(), p);
    v.as_mut_slice()[0] = b'A';
    assert_eq!(v.as_iovec().as_slice(), b"Abcdef");
    v.advance(2);
    assert_eq!(v.as_slice(), b"cdef");
    v.advance(4);
    assert!(v.is_empty() && v.as_slice().is_empty() && v.as_mut_slice().is_empty());
    let s = format!("{:?}", IoVecMut::from(&mut data[1..]));
    assert!(s.starts_with("IoVecMut") && s.contains("len: 5"), "{s}");
    assert_eq!(data, *b"Abcdef");

    // Conversions: from std and slices, down to IoVec, back to std.
    let m = IoVecMut::from(IoSliceMut::new(&mut data[..3]));
    let shared: IoVec<'_> = m.into();
    assert_eq!(shared.as_slice(), b"Abc");
    let mut s: IoSliceMut<'_> = IoVecMut::from(&mut data[3..]).into();
    s[0] = b'D';
    let bytes: &mut [u8] = IoVecMut::from(&mut data[4..]).into();
    bytes[0] = b'E';
    assert_eq!(IoVecMut::from(&mut data[..]).into_mut_slice(), b"AbcDEf");

    let mut e = IoVecMut::default();
    assert!(e.is_empty() && !e.as_raw().iov_base.is_null());
    e.advance(0);
    assert!(IoVecMut::EMPTY.as_slice().is_empty());
    assert!(!IoVec::EMPTY.as_raw().iov_base.is_null());
    assert_eq!(addr_len_mut(&mut []), (std::ptr::null_mut(), 0));
    let mut two = [IoVecMut::EMPTY, IoVecMut::from(&mut data[..])];
    let (addr, n) = addr_len_mut(&mut two);
    assert_eq!(n, 2);
    assert_eq!(addr.cast_const(), two.as_ptr().cast());
}

#[test]
#[should_panic(expected = "advancing an IoVecMut of 2 bytes by 3")]
fn iovec_mut_advance_past_the_end_panics() {
    let mut a = *b"ab";
    IoVecMut::from(&mut a[..]).advance(3);
}

#[test]
#[should_panic(expected = "past their end by 1 bytes")]
fn iovec_mut_advance_slices_past_the_end_panics() {
    let mut a = *b"ab";
    let mut all = [IoVecMut::from(&mut a[..])];
    IoVecMut::advance_slices(&mut &mut all[..], 3);
}

#[test]
fn iovec_mut_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<IoVecMut<'static>>();
    let mut data = [0u8; 4];
    let mut v = IoVecMut::from(&mut data[..]);
    std::thread::scope(|s| {
        s.spawn(|| v.as_mut_slice().fill(3));
    });
    assert_eq!(data, [3; 4]);
}

/// `iovecs_from` and `fill_iovecs` take guards, `Filled`s and views, not
/// only bare buffer types; guards index as `[u8]`.
#[test]
fn iovecs_from_guards_filled_and_views() {
    let pool = std::sync::Arc::new(iobuf::PicoBufferPool::new(4).unwrap());
    let mut a = pool.get_owned();
    a[..3].copy_from_slice(b"abc");
    assert_eq!(&a[..3], b"abc");
    let guards = [a];
    assert_eq!(iobuf::iovecs_from(&guards)[0].len(), 32);

    let mut filled = iobuf::Filled::new(pool.get_owned());
    filled.extend_from_slice(b"hello");
    let fills = [filled];
    let v = iobuf::iovecs_from(&fills);
    assert_eq!(v[0].as_slice(), b"hello");
    let mut out = [iobuf::IoVec::EMPTY; 2];
    assert_eq!(iobuf::fill_iovecs(&fills, &mut out).unwrap()[0].len(), 5);

    let mut split = iobuf::shared::SplitBuf::from(pool.get_owned());
    split.extend_from_slice(b"view");
    let views = [split.freeze()];
    assert_eq!(iobuf::iovecs_from(&views)[0].as_slice(), b"view");

    // Reads go into a Filled's unfilled part.
    let mut fills = [iobuf::Filled::new(pool.get_owned())];
    fills[0].extend_from_slice(b"xy");
    assert_eq!(iobuf::iovecs_from_mut(&mut fills)[0].len(), 30);
}
