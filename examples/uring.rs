//! io_uring with fixed buffers: register a pool's slab once
//! (`pool.iovecs()` → `register_buffers`), then write a temporary file with
//! `WriteFixed` and read it back with `ReadFixed`, each operation naming its
//! buffer by the pool index (`BufIndex`) and carrying the token through the
//! kernel in `user_data`.
//!
//! ```text
//! cargo run --release --example uring
//! ```
//!
//! Where the kernel refuses io_uring (`ENOSYS`, `EPERM`: old kernels,
//! seccomp sandboxes), it says so and exits successfully without running.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;

use io_uring::{IoUring, opcode, types};
use iobuf::{BufIndex, BufferTier, RegisterBuffer, RegisterBufferPool};

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every block was written and read back intact.
    Verified { blocks: usize, bytes: usize },
    /// The kernel refused io_uring; the reason.
    Unsupported(String),
}

/// The bytes block `b` carries.
fn pattern(block: usize, i: usize) -> u8 {
    (block.wrapping_mul(97) ^ i.wrapping_mul(13) ^ (i >> 8)) as u8
}

/// Writes `blocks` buffers to a temporary file and reads them back through
/// registered buffers.
pub fn run(blocks: usize) -> std::io::Result<Outcome> {
    const SIZE: usize = RegisterBuffer::SIZE;
    let pool = RegisterBufferPool::new(blocks).map_err(std::io::Error::from)?;
    let mut ring = match IoUring::new(8) {
        Ok(ring) => ring,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
            return Ok(Outcome::Unsupported(format!("io_uring_setup: {e}")));
        }
        Err(e) => return Err(e),
    };
    let iovecs = pool.iovecs();
    // SAFETY: the iovecs cover the pool's slab, which outlives the
    // registration: `ring` is dropped (closing the ring and unregistering)
    // before `pool`, as locals drop in reverse order. A fixed buffer is only
    // used by an operation while this program holds its index.
    match unsafe { ring.submitter().register_buffers(&iovecs) } {
        Ok(()) => {}
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
            return Ok(Outcome::Unsupported(format!("register_buffers: {e}")));
        }
        Err(e) => return Err(e),
    }

    let path = std::env::temp_dir().join(format!("iobuf-uring-{}", std::process::id()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    let fd = types::Fd(file.as_raw_fd());

    // Write: one WriteFixed per block, from the block's own pooled buffer.
    for block in 0..blocks {
        let mut idx = pool.get_index();
        for (i, b) in pool.value_mut(&mut idx).0.iter_mut().enumerate() {
            *b = pattern(block, i);
        }
        let buf = pool.value(&idx).0.as_ptr();
        let write = opcode::WriteFixed::new(fd, buf, SIZE as u32, idx.index() as u16)
            .offset((block * SIZE) as u64)
            .build()
            .user_data(idx.into_raw());
        // SAFETY: the buffer is a registered, pooled buffer whose token
        // travels in `user_data`; nothing touches it until the completion
        // returns the token below.
        unsafe { ring.submission().push(&write) }.expect("queue sized for the batch");
        if ring.submission().is_full() || block + 1 == blocks {
            complete(&mut ring, &pool, SIZE)?;
        }
    }
    file.sync_all()?;

    // Read back into fresh buffers, and verify.
    let mut read_back = Vec::with_capacity(blocks);
    for block in 0..blocks {
        let mut idx = pool.get_index();
        pool.value_mut(&mut idx).0.fill(0);
        let buf = pool.value_mut(&mut idx).0.as_mut_ptr();
        let read = opcode::ReadFixed::new(fd, buf, SIZE as u32, idx.index() as u16)
            .offset((block * SIZE) as u64)
            .build()
            .user_data(block as u64);
        // SAFETY: as for the writes; the token stays in `read_back`, so the
        // buffer is not reused until the read completed and was checked.
        unsafe { ring.submission().push(&read) }.expect("queue sized for the batch");
        read_back.push(idx);
        if ring.submission().is_full() || block + 1 == blocks {
            let queued = ring.submission().len();
            ring.submit_and_wait(queued)?;
            for cqe in ring.completion() {
                if cqe.result() != SIZE as i32 {
                    return Err(short(cqe.result(), "ReadFixed"));
                }
            }
        }
    }
    for (block, idx) in read_back.into_iter().enumerate() {
        let bytes = &pool.value(&idx).0;
        if let Some(i) = (0..SIZE).find(|&i| bytes[i] != pattern(block, i)) {
            return Err(std::io::Error::other(format!(
                "block {block} byte {i} read back wrong"
            )));
        }
        pool.put(idx);
    }
    drop(file);
    std::fs::remove_file(&path)?;
    drop(ring);
    Ok(Outcome::Verified {
        blocks,
        bytes: blocks * SIZE,
    })
}

/// Submits what is queued, waits for it, checks each write's length and
/// gives each token back to the pool.
fn complete(ring: &mut IoUring, pool: &RegisterBufferPool, size: usize) -> std::io::Result<()> {
    let queued = ring.submission().len();
    ring.submit_and_wait(queued)?;
    for cqe in ring.completion() {
        // SAFETY: each `user_data` is the `into_raw` of a token of `pool`,
        // pushed once, and each completion arrives once.
        let idx = unsafe { BufIndex::from_raw(cqe.user_data()) };
        pool.put(idx);
        if cqe.result() != size as i32 {
            return Err(short(cqe.result(), "WriteFixed"));
        }
    }
    Ok(())
}

fn short(result: i32, op: &str) -> std::io::Error {
    if result < 0 {
        std::io::Error::from_raw_os_error(-result)
    } else {
        std::io::Error::other(format!("{op}: short transfer of {result} bytes"))
    }
}

#[allow(dead_code)]
fn main() {
    let blocks = 16;
    match run(blocks) {
        Ok(Outcome::Verified { blocks, bytes }) => println!(
            "uring: registered {blocks} pooled 128 KiB buffers; wrote {bytes} bytes with \
             WriteFixed and read them back with ReadFixed, buffer id = pool index; all bytes verified"
        ),
        Ok(Outcome::Unsupported(reason)) => {
            println!("uring: skipped: the kernel refused io_uring ({reason})")
        }
        Err(e) => {
            eprintln!("uring: failed: {e}");
            std::process::exit(1);
        }
    }
}
