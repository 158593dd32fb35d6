//! `iobuf::uring::BufRing`: a provided-buffer ring fed by a pool, under
//! multishot `recv` on loopback TCP. A kernel that refuses io_uring
//! (`ENOSYS`, `EPERM`) prints `SKIPPED` and passes; any other failure
//! fails.

#![cfg(target_os = "linux")]

use std::collections::HashSet;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use io_uring::{IoUring, cqueue, opcode, types};
use iobuf::uring::{BufRing, RecvError};
use iobuf::{BoundedPool, Error, NanoBuffer, NanoBufferPool, PicoBuffer};

/// A fresh io_uring, or `None` (after printing why) where the kernel or a
/// sandbox refuses it.
fn uring_or_skip(entries: u32) -> Option<IoUring> {
    match IoUring::new(entries) {
        Ok(ring) => Some(ring),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
            println!("SKIPPED: the kernel refused io_uring: {e}");
            None
        }
        Err(e) => panic!("io_uring_setup failed: {e}"),
    }
}

/// As [`BufRing::new`], skipping where the kernel refuses the registration
/// for lack of permission or support.
fn buf_ring_or_skip<T: iobuf::BufferTier>(
    uring: &IoUring,
    pool: &'static BoundedPool<T>,
    group: u16,
    entries: u16,
) -> Option<BufRing<T>> {
    match BufRing::new(uring, pool, group, entries) {
        Ok(ring) => Some(ring),
        Err(Error::Os { source, .. })
            if matches!(source.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) =>
        {
            println!("SKIPPED: the kernel refused a provided-buffer ring: {source}");
            None
        }
        Err(e) => panic!("BufRing::new failed: {e}"),
    }
}

/// A pool for a ring: `'static`, as a ring requires.
fn leaked<T: iobuf::BufferTier>(capacity: usize) -> &'static BoundedPool<T> {
    Box::leak(Box::new(BoundedPool::new(capacity).unwrap()))
}

/// Byte `k` of connection `c`'s stream.
fn pattern(c: usize, k: usize) -> u8 {
    (c.wrapping_mul(131) ^ k.wrapping_mul(7) ^ (k >> 9)) as u8
}

/// `n` accepted loopback connections, (client, server) pairs.
fn connections(n: usize) -> Vec<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (0..n)
        .map(|_| {
            let client = TcpStream::connect(addr).unwrap();
            let (server, _) = listener.accept().unwrap();
            (client, server)
        })
        .collect()
}

fn arm(uring: &mut IoUring, fd: &TcpStream, conn: usize, group: u16) {
    let recv = opcode::RecvMulti::new(types::Fd(fd.as_raw_fd()), group)
        .build()
        .user_data(conn as u64);
    // SAFETY: the ring of `group` outlives every operation: the test reaps
    // each connection's last completion before it drops the ring.
    unsafe { uring.submission().push(&recv).unwrap() };
}

#[test]
fn many_receive_cycles_with_a_small_ring_and_more_connections_than_entries() {
    const CONNS: usize = 16;
    const BYTES: usize = 64 << 10; // per connection
    const ENTRIES: u16 = 4;
    const GROUP: u16 = 3;
    let Some(mut uring) = uring_or_skip(64) else {
        return;
    };
    let pool: &'static NanoBufferPool = leaked(8); // 128-byte buffers
    let Some(mut bufs) = buf_ring_or_skip(&uring, pool, GROUP, ENTRIES) else {
        return;
    };
    assert_eq!(bufs.len(), 4);
    assert_eq!(pool.stats().provided, 4);
    assert_eq!(pool.stats().in_use, 4);

    let pairs = connections(CONNS);
    let (clients, servers): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
    let writers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(c, mut client)| {
            std::thread::spawn(move || {
                let data: Vec<u8> = (0..BYTES).map(|k| pattern(c, k)).collect();
                for chunk in data.chunks(1000) {
                    client.write_all(chunk).unwrap();
                }
                // Dropping `client` closes it: the server sees EOF.
            })
        })
        .collect();

    for (c, server) in servers.iter().enumerate() {
        arm(&mut uring, server, c, GROUP);
    }
    let mut received = [0usize; CONNS];
    let mut open = CONNS;
    let mut held = std::collections::VecDeque::new();
    let mut held_ids = HashSet::new();
    let (mut no_buffers, mut completions) = (0, 0);
    while open > 0 {
        bufs.replenish();
        uring.submit_and_wait(1).unwrap();
        let cqes: Vec<cqueue::Entry> = uring.completion().collect();
        for cqe in cqes {
            completions += 1;
            let c = cqe.user_data() as usize;
            let more = cqueue::more(cqe.flags());
            // SAFETY: a completion just reaped from `uring`, of a recv on
            // the ring's group, passed once.
            match unsafe { bufs.completion(cqe.result(), cqe.flags()) } {
                Ok(Some(buf)) => {
                    let id = buf.holder().index();
                    assert!(held_ids.insert(id), "buffer {id} handed out twice");
                    for (k, &b) in buf.iter().enumerate() {
                        assert_eq!(
                            b,
                            pattern(c, received[c] + k),
                            "conn {c} byte {}",
                            received[c] + k
                        );
                    }
                    received[c] += buf.len();
                    // Hold a few: the ring must run dry now and then.
                    held.push_back(buf);
                    if held.len() > 3 {
                        let old = held.pop_front().unwrap();
                        held_ids.remove(&old.holder().index());
                    }
                    if !more {
                        arm(&mut uring, &servers[c], c, GROUP);
                    }
                }
                Ok(None) => {
                    assert!(!more);
                    assert_eq!(received[c], BYTES, "conn {c} ended early");
                    open -= 1;
                }
                Err(RecvError::NoBuffers) => {
                    no_buffers += 1;
                    assert!(!more, "ENOBUFS ends a multishot recv");
                    // Drop what we hold, refill, re-arm.
                    for old in held.drain(..) {
                        held_ids.remove(&old.holder().index());
                    }
                    bufs.replenish();
                    arm(&mut uring, &servers[c], c, GROUP);
                }
                Err(e) => panic!("conn {c}: {e}"),
            }
        }
        // The bound: the ring's buffers and ours never exceed the pool.
        let stats = pool.stats();
        assert_eq!(stats.provided, bufs.len());
        assert!(bufs.len() + held.len() <= pool.capacity());
    }
    for w in writers {
        w.join().unwrap();
    }
    println!("{completions} completions, {no_buffers} ENOBUFS");
    assert!(no_buffers > 0, "the test meant to drain the ring");
    drop(held);
    assert_eq!(pool.available() + bufs.len(), pool.capacity());
    drop(bufs);
    assert_eq!(pool.available(), pool.capacity());
    assert_eq!(pool.stats().provided, 0);
}

#[test]
fn dropping_the_ring_with_buffers_out_loses_nothing() {
    const GROUP: u16 = 9;
    let Some(mut uring) = uring_or_skip(8) else {
        return;
    };
    let pool: &'static NanoBufferPool = leaked(16);
    let Some(mut bufs) = buf_ring_or_skip(&uring, pool, GROUP, 8) else {
        return;
    };
    assert_eq!((bufs.len(), pool.available()), (8, 8));
    let (mut client, server) = connections(1).pop().unwrap();
    client.write_all(&[7; 300]).unwrap();
    drop(client); // EOF after the data
    arm(&mut uring, &server, 0, GROUP);
    let mut out = Vec::new();
    let mut total = 0;
    loop {
        uring.submit_and_wait(1).unwrap();
        let cqe = uring.completion().next().unwrap();
        // SAFETY: as in the test above.
        match unsafe { bufs.completion(cqe.result(), cqe.flags()) }.unwrap() {
            Some(buf) => {
                assert!(buf.iter().all(|&b| b == 7));
                total += buf.len();
                out.push(buf);
            }
            None => break,
        }
    }
    assert_eq!(total, 300);
    assert_eq!(out.len(), 3); // 128 + 128 + 44
    assert_eq!(pool.stats().provided, 5);
    drop(bufs); // unregisters; the 5 left in the ring go home
    assert_eq!(pool.stats().provided, 0);
    assert_eq!(pool.available(), 13);
    assert_eq!(out[2].len(), 44);
    drop(out); // the held ones go home too
    assert_eq!(pool.available(), 16);
    // The group is free again: a new ring can take it.
    let again = BufRing::new(&uring, pool, GROUP, 2).unwrap();
    assert_eq!(again.len(), 2);
}

#[test]
fn a_completion_without_a_buffer_recycles_nothing_and_unknown_ids_are_refused() {
    let Some(uring) = uring_or_skip(4) else {
        return;
    };
    let pool: &'static NanoBufferPool = leaked(4);
    let Some(mut bufs) = buf_ring_or_skip(&uring, pool, 1, 2) else {
        return;
    };
    // Made-up completions (result, flags). Without IORING_CQE_F_BUFFER
    // (bit 0) nothing comes out.
    // SAFETY: the flags name no buffer, so no obligation.
    let empty = unsafe { bufs.completion(100, 0) };
    assert!(matches!(empty, Ok(None)));
    // SAFETY: as above.
    let enobufs = unsafe { bufs.completion(-libc::ENOBUFS, 0) };
    assert!(matches!(enobufs, Err(RecvError::NoBuffers)));
    // SAFETY: as above.
    let reset = unsafe { bufs.completion(-libc::ECONNRESET, 0) };
    assert!(matches!(reset, Err(RecvError::Os(_))));
    assert_eq!(bufs.len(), 2);
    // An id the ring does not hold (a buffer free in the pool): refused.
    let in_pool = pool.try_get().unwrap();
    let id = in_pool.index();
    drop(in_pool);
    let flags = 1 | (id << 16);
    // SAFETY: the id is not in the ring (the pool had it), so no obligation.
    let unknown = unsafe { bufs.completion(10, flags) };
    assert!(matches!(unknown, Err(RecvError::UnknownBuffer(i)) if u32::from(i) == id));
    assert_eq!(pool.available(), 2);
}

#[test]
fn bad_arguments_are_refused() {
    let Some(uring) = uring_or_skip(4) else {
        return;
    };
    let pool: &'static NanoBufferPool = leaked(4);
    for entries in [0, 3, 1 << 15 | 1] {
        let err = BufRing::new(&uring, pool, 0, entries).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { .. }),
            "{entries}: {err}"
        );
    }
    // 65 537 buffers: id 65 536 is beyond u16.
    let big: &'static BoundedPool<PicoBuffer> = leaked(65_537);
    let err = BufRing::new(&uring, big, 0, 8).unwrap_err();
    assert!(err.to_string().contains("beyond u16"), "{err}");
    assert_eq!(big.available(), big.capacity(), "nothing taken");
    // 65 536 is fine: ids 0..=65535.
    let max: &'static BoundedPool<PicoBuffer> = leaked(65_536);
    if let Some(ring) = buf_ring_or_skip(&uring, max, 0, 8) {
        assert_eq!(ring.len(), 8);
    }
}

#[test]
fn a_ring_can_move_to_another_thread() {
    fn send<T: Send>() {}
    send::<BufRing<NanoBuffer>>();
}
