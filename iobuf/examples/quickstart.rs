//! A tour of iobuf: pools declared with `buffer_pools!`, a custom buffer
//! type, aligned memory, and bytes moved from pooled buffers over a
//! socketpair with std's `write_vectored`/`read_vectored` (`writev`/`readv`
//! underneath), with no `unsafe`: iobuf's iovecs view as std's `IoSlice`s.
//!
//! Run with `cargo run --release -p iobuf --example quickstart`. It lives in
//! the `iobuf` package, whose only dev-dependency is `futures-executor`, so
//! it builds in seconds (the suite's examples bring tokio, trybuild and
//! the rest).

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;

use iobuf::{BufferTier, IoVec, IoVecMut, Tier};

/// The application's buffer pools, one line per tier.
mod pools {
    iobuf::buffer_pools! {
        /// Packet buffers: one per datagram or frame.
        small: 2KiB x 256,
        /// Bulk transfers, zeroed when they come back so no data leaks.
        #[pool(zero_on_return)]
        large: 128KiB x 16,
    }
}

/// A 2 KiB frame with a header, declared with the derive: the compiler
/// checks that it is plain bytes with no padding and exactly tier Small.
#[derive(BufferTier)]
#[buffer_tier(tier = Small)]
#[repr(C)]
struct Frame {
    header: [u8; 16],
    payload: [u8; 2032],
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Pools: create them all now, then take buffers by length.
    pools::init()?;
    println!(
        "pools: small {} x {} B, large {} x {} B, {} bytes in all",
        pools::small().capacity(),
        pools::Small::SIZE,
        pools::large().capacity(),
        pools::Large::SIZE,
        pools::TOTAL_BYTES
    );
    let mut request = pools::get(1500).ok_or("1500 bytes fits no pool")?;
    let mut body = pools::get(100_000).ok_or("100 KB fits no pool")?;
    println!(
        "get(1500) -> {} buffer #{} ({} bytes); get(100000) -> {} buffer #{} ({} bytes)",
        request.name(),
        request.index(),
        request.len(),
        body.name(),
        body.index(),
        body.len()
    );
    request[..18].copy_from_slice(b"GET /hello HTTP/1.");
    body[..13].copy_from_slice(b"hello, iovec!");

    // 2. A custom buffer type, built on the heap (never on the stack).
    let mut frame = Frame::zeroed_box();
    frame.header[..4].copy_from_slice(b"IOBF");
    frame.payload[..2].copy_from_slice(b"ok");
    println!(
        "Frame: {} bytes, tier {:?}",
        Frame::SIZE,
        Frame::TIER.map(Tier::name)
    );

    // 3. Aligned memory: page-aligned, zeroed, lazily committed when large.
    let page = iobuf::page_size();
    let mut mem = iobuf::aligned_mem(1 << 20, page)?;
    mem[..8].copy_from_slice(b"aligned!");
    println!(
        "aligned_mem: {} bytes at {:p} (page {page}, mapped: {})",
        mem.len(),
        mem.as_ptr(),
        mem.is_mapped()
    );

    // 4. Vectored I/O: one vectored write of three pooled/derived buffers'
    //    heads and 8 bytes of aligned memory; vectored reads back into a
    //    pooled buffer. Both loop: a stream may take or give fewer bytes
    //    than asked, and the iovecs advance past what was transferred.
    let (mut tx, mut rx) = UnixStream::pair()?;
    let mut out = [
        IoVec::from(&request[..18]),
        IoVec::from(&body[..13]),
        IoVec::from(&frame.as_bytes()[..4]),
        IoVec::from(&mem[..8]),
    ];
    let count = out.len();
    let written: usize = out.iter().map(IoVec::len).sum();
    let mut rest = &mut out[..];
    while !rest.is_empty() {
        let n = tx.write_vectored(IoVec::as_io_slices(rest))?;
        if n == 0 {
            return Err(std::io::Error::from(ErrorKind::WriteZero).into());
        }
        IoVec::advance_slices(&mut rest, n);
    }
    println!("write_vectored: {written} bytes from {count} iovecs");

    let mut reply = pools::try_get(written)?;
    let mut read = 0usize;
    {
        let mut target = [IoVecMut::from(&mut reply[..written])];
        let mut rest = &mut target[..];
        while !rest.is_empty() {
            let got = rx.read_vectored(IoVecMut::as_io_slices_mut(rest))?;
            if got == 0 {
                return Err(std::io::Error::from(ErrorKind::UnexpectedEof).into());
            }
            read += got;
            IoVecMut::advance_slices(&mut rest, got);
        }
    }
    let text = std::str::from_utf8(&reply[..read])?;
    assert_eq!(text, "GET /hello HTTP/1.hello, iovec!IOBFaligned!");
    println!(
        "read_vectored: {read} bytes into pooled {} buffer: {text:?}",
        reply.name()
    );

    drop((request, body, reply));
    println!(
        "all buffers back: small {}/{}, large {}/{}",
        pools::small().available(),
        pools::small().capacity(),
        pools::large().available(),
        pools::large().capacity()
    );
    println!("quickstart: ok");
    Ok(())
}
