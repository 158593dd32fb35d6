//! A tour of iobuf's foundation: a custom buffer type, aligned memory, and
//! bytes moved through `writev`/`readv` over a socketpair.
//!
//! Run with `cargo run --release --example quickstart`.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use iobuf::{BufferTier, IoVec, NanoBuffer, SmallBuffer, Tier, addr_len, iovecs_from_mut};

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
    // 1. Tiers: pick a buffer size for a length.
    let tier = Tier::for_size(1500).ok_or("1500 bytes fits no tier")?;
    println!(
        "a 1500-byte message goes in tier {tier} ({} bytes)",
        tier.size()
    );

    // 2. A custom buffer type, built on the heap (never on the stack).
    let mut frame = Frame::zeroed_box();
    frame.header[..4].copy_from_slice(b"IOBF");
    frame.payload[..13].copy_from_slice(b"hello, iovec!");
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
    let blocks = iobuf::aligned_mem_blocks(4, 1000)?;
    println!(
        "aligned_mem_blocks: {} blocks of {} bytes, stride {}",
        blocks.len(),
        blocks.block_len(),
        blocks.stride()
    );

    // 4. Vectored I/O: one writev of the frame plus 8 bytes of aligned
    //    memory, one readv back into a Small and a Nano buffer.
    let (tx, rx) = UnixStream::pair()?;
    let out = [frame.iovec(), IoVec::from(&mem[..8])];
    let (addr, count) = addr_len(&out);
    // SAFETY: `addr` points to `count` iovecs over live bytes that nothing
    // writes during the call; writev only reads them.
    let written = unsafe { libc::writev(tx.as_raw_fd(), addr, count as i32) };
    if written < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    println!("writev: {written} bytes from {count} iovecs");

    let mut small = SmallBuffer::zeroed_box();
    let mut nano = NanoBuffer::zeroed_box();
    let mut read = 0usize;
    let mut targets = iovecs_from_mut(std::slice::from_mut(&mut *small));
    targets.extend(iovecs_from_mut(std::slice::from_mut(&mut *nano)));
    let mut rest = &mut targets[..];
    while read < written as usize {
        let (addr, count) = addr_len(rest);
        // SAFETY: the iovecs cover `small` and `nano`, borrowed exclusively
        // for the call; readv writes at most their lengths.
        let got = unsafe { libc::readv(rx.as_raw_fd(), addr, count as i32) };
        if got <= 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        read += got as usize;
        IoVec::advance_slices(&mut rest, got as usize);
    }
    drop(targets);
    assert_eq!(&small.0[..4], b"IOBF");
    assert_eq!(&small.0[16..29], b"hello, iovec!");
    assert_eq!(&nano.0[..8], b"aligned!");
    println!(
        "readv: {read} bytes into a Small and a Nano buffer; header {:?}, tail {:?}",
        std::str::from_utf8(&small.0[..4])?,
        std::str::from_utf8(&nano.0[..8])?
    );
    println!("quickstart: ok");
    Ok(())
}
