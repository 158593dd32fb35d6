//! A single-threaded io_uring TCP echo server on loopback that receives into
//! `buffer_pools!` buffers through a provided-buffer ring and sends the same
//! buffers back, measured in the same run against tokio (`tokio_echo`'s
//! pooled server) and a thread-per-connection server, under one load.
//!
//! **The io_uring server** is one thread and one `IoUring` (set up with
//! `SINGLE_ISSUER | DEFER_TASKRUN` where the kernel has them, 6.1+). One
//! multishot accept takes every connection; each connection has one
//! multishot `recv` that selects its buffers from an
//! [`iobuf::uring::BufRing`] fed by the `rx` pool. A completion comes back
//! as a [`Filled`] guard over the pooled buffer; the server queues it on
//! its connection and sends those very bytes back (`opcode::Send` with the
//! guard's pointer and length: no copy in user space), one send in flight
//! per connection so that echoes keep their order, resubmitting the rest
//! of a partial send. When the send completes, the guard drops and the
//! buffer goes home to the pool.
//!
//! Replenish policy: once per turn of the event loop, before the one
//! `submit_and_wait`, the ring is refilled from the pool
//! ([`BufRing::replenish`]): every buffer whose echo completed during the
//! turn is back in the ring before the kernel next needs one. A `recv`
//! that found the ring empty (`ENOBUFS`, which ends a multishot `recv`)
//! parks its connection; parked connections are re-armed at the top of a
//! later turn, once replenishing left buffers in the ring. A multishot
//! `recv` or accept that ends without `IORING_CQE_F_MORE` is re-armed at
//! once. Connection state is a slab of slots made before serving, the
//! echo queues are linked through the buffers' pool indices, and the
//! completion queue is read in place: after warm-up, serving allocates
//! nothing.
//!
//! **The load client** is the same for the three servers: one thread (the
//! caller's) with its own io_uring and N connections. Each sends a request,
//! receives the whole echo, checks every byte against a pattern that
//! differs per connection, request and offset, records the round trip in a
//! histogram made beforehand, and sends the next. The echo comes in through
//! a multishot `recv` on a provided-buffer ring of the client's own pool, so
//! it is checked in the pooled buffer, without a copy, and the client stays
//! light. After a warm-up it measures for a fixed time: requests/s, p50/p99
//! round trip, and the heap allocations of the whole process in that
//! window, counted by `tokio_echo`'s counting global allocator (that file
//! is included here as a module; the client makes none of its own).
//!
//! The servers take turns in rounds (3 by default, the order rotating, each
//! on fresh connections after its own warm-up), and each server's figures
//! add up its rounds: on a shared or virtual machine, whose speed drifts
//! with its neighbours' load, a drift then falls on all three alike.
//!
//! **The peers**: `tokio_echo`'s pooled server (`tokio_echo::listen`, a
//! task per connection reading into `buffer_pools!` buffers) on a
//! multi-thread runtime with 2 workers, as `tokio_echo` runs it; and a
//! minimal thread-per-connection server written here (`echo_server`'s own
//! server is private to that example and brings its own global allocator),
//! a blocking `read` into a pooled buffer and `write_all` back.
//!
//! ```text
//! cargo run --release --example uring_echo
//! cargo run --release --example uring_echo -- --connections 16 --size 1500 --seconds 5
//! cargo run --release --example uring_echo -- --listen 127.0.0.1:7000   # then: nc 127.0.0.1 7000
//! ```
//!
//! Flags: `--connections N` (one count; default: 8, then 64), `--size
//! BYTES` (512, at most 64 KiB), `--seconds S` measured per server (2),
//! `--rounds N` (3), `--warmup S` per server and round (0.3), `--entries N`
//! the server's provided-buffer ring entries (512, a power of two),
//! `--quick` (one round, 0.1 s warm-up and 0.3 s measured, for smoke
//! tests; the other flags still apply).
//!
//! With `--listen ADDR` it only runs the io_uring server, until killed,
//! for an outside client. Otherwise it exits 1 if an echoed byte differed,
//! the io_uring server's run allocated after warm-up, or a buffer did not
//! come home; it ends with one machine-readable line per connection count:
//!
//! ```text
//! summary: connections=<n> uring=<requests/s> tokio=<requests/s> threads=<requests/s> uring_allocs_per_req=<n>
//! ```
//!
//! Where the kernel refuses io_uring (`ENOSYS`, `EPERM`: old kernels,
//! seccomp sandboxes), it says so and exits successfully without running.
//! The suite test `tests/uring_echo.rs` runs it small, in-process.
//!
//! Client and servers share the machine's cores: the figures compare the
//! servers under one load on one host; they are no absolute benchmark.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use io_uring::{IoUring, SubmissionQueue, Submitter, cqueue, opcode, squeue, types};
use iobuf::uring::{BufRing, RecvError};
use iobuf::{Filled, Pooled};

/// `tokio_echo`'s server, pattern and counting allocator (which, through
/// this inclusion, is this program's global allocator).
#[path = "tokio_echo.rs"]
#[allow(dead_code)]
mod tokio_echo;

/// The io_uring server's receive buffers.
mod uring_pool {
    iobuf::buffer_pools! {
        /// One `recv`: a page. The provided-buffer ring holds up to
        /// `--entries` of them (512); the rest are echoes on their way
        /// back. The pool bounds both together.
        rx: 4KiB x 1024,
    }
}

/// The state of the io_uring server's pool: after it stopped, every buffer
/// should be home.
pub fn rx_pool_stats() -> iobuf::PoolStats {
    uring_pool::rx().stats()
}

/// The load client's receive buffers.
mod client_pool {
    iobuf::buffer_pools! {
        /// One `recv` of an echo, checked in place, then dropped.
        echo: 4KiB x 1024,
    }
}

/// Entries of the load client's provided-buffer ring.
const CLIENT_RING_ENTRIES: u16 = 512;

/// The thread-per-connection server's read buffers.
mod thread_pool {
    iobuf::buffer_pools! {
        /// One `read`: a page, held by a connection's thread while it waits
        /// for bytes and echoes them.
        conn: 4KiB x 1024,
    }
}

/// A received buffer, held until its echo is sent.
type RxBuf = Filled<Pooled<'static, uring_pool::Rx>>;

/// The io_uring server's connection slots (and so its most connections at
/// once), made before it serves.
pub const MAX_CONNECTIONS: usize = 1024;

/// The buffer group of the provided-buffer ring.
const GROUP: u16 = 0;

/// Submission queue entries of each io_uring (the completion queue gets 8
/// times as many).
const SQ_ENTRIES: u32 = 512;

/// A load must finish (warm-up, measured phase and drain) within this, or
/// the run fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(120);

/// The load to run against each server.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Client connections, served concurrently (1 ..= 1000).
    pub connections: usize,
    /// Bytes per request (1 ..= `tokio_echo::MAX_SIZE`); the echo has as many.
    pub size: usize,
    /// Time before measuring, per server and round.
    pub warmup: Duration,
    /// Measured time per server, split evenly among the rounds.
    pub measure: Duration,
    /// Rounds: the three servers take turns this many times (in a rotating
    /// order, each time on fresh connections), so that a change in the
    /// machine's load mid-run falls on all three alike.
    pub rounds: usize,
    /// Entries of the io_uring server's provided-buffer ring (a power of two).
    pub ring_entries: u16,
}

impl Default for Config {
    /// 8 connections of 512-byte requests; per server, 2 s measured in 3
    /// rounds, each after a 0.3 s warm-up.
    fn default() -> Self {
        Config {
            connections: 8,
            size: 512,
            warmup: Duration::from_millis(300),
            measure: Duration::from_secs(2),
            rounds: 3,
            ring_entries: 512,
        }
    }
}

impl Config {
    /// `--quick`: well under a second per server, for tests and smoke checks.
    pub fn quick() -> Self {
        Config {
            warmup: Duration::from_millis(100),
            measure: Duration::from_millis(300),
            rounds: 1,
            ..Config::default()
        }
    }
}

/// Most connections one load opens: below both servers' bounds (1024 slots,
/// 1024 buffers for the thread-per-connection server).
pub const MAX_LOAD_CONNECTIONS: usize = 1000;

/// What the load measured against one server.
#[derive(Clone, Debug)]
pub struct ServerReport {
    /// Requests completed in the measured window, all connections together.
    pub requests: u64,
    /// The measured window.
    pub elapsed: Duration,
    /// Round-trip percentiles over the measured requests (within 1.6 %).
    pub p50: Duration,
    pub p99: Duration,
    /// Heap allocations of the whole process (servers and client) in the
    /// measured window.
    pub allocations: u64,
    /// Requests completed in all, warm-up and drain included.
    pub completed: u64,
    /// Echoed bytes compared with what was sent, as counted while
    /// comparing: `completed * size` when every byte was checked.
    pub bytes_checked: u64,
    /// Of those, the ones that differed (must be 0).
    pub mismatches: u64,
}

impl ServerReport {
    /// Measured requests per second (0 for an empty window).
    pub fn requests_per_sec(&self) -> f64 {
        if self.elapsed.is_zero() {
            return 0.0;
        }
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn allocations_per_request(&self) -> f64 {
        self.allocations as f64 / self.requests.max(1) as f64
    }
}

/// What the io_uring server counted.
#[derive(Clone, Debug, Default)]
pub struct ServerStats {
    /// Connections served.
    pub accepted: usize,
    /// Event-loop turns (one `submit_and_wait` each).
    pub turns: u64,
    /// Completions reaped.
    pub completions: u64,
    /// `recv`s that found the ring empty (`ENOBUFS`) and were parked.
    pub no_buffers: u64,
    /// Multishot `recv`s re-armed after ending without `F_MORE`.
    pub rearms: u64,
    /// Sends that took part of their buffer and were resubmitted.
    pub partial_sends: u64,
    /// The io_uring setup flags in use.
    pub setup: &'static str,
}

impl ServerStats {
    /// Adds another run's counts.
    fn add(&mut self, other: &ServerStats) {
        self.accepted += other.accepted;
        self.turns += other.turns;
        self.completions += other.completions;
        self.no_buffers += other.no_buffers;
        self.rearms += other.rearms;
        self.partial_sends += other.partial_sends;
        self.setup = other.setup;
    }
}

/// One connection count, three servers.
#[derive(Clone, Debug)]
pub struct Report {
    pub connections: usize,
    pub uring: ServerReport,
    pub tokio: ServerReport,
    pub threads: ServerReport,
    pub uring_stats: ServerStats,
    /// The `rx` pool's buffers, and how many were home after the io_uring
    /// server stopped (all of them, or one was lost).
    pub pool_capacity: usize,
    pub pool_available: usize,
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    Measured(Box<Report>),
    /// The kernel refused io_uring; the reason.
    Unsupported(String),
}

/// Whether an error is the kernel (or a sandbox) refusing io_uring.
fn refused(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM))
}

/// `None` where io_uring and provided-buffer rings work; the reason where
/// the kernel refuses them.
///
/// # Errors
///
/// Any other failure to set them up.
pub fn probe() -> io::Result<Option<String>> {
    let uring = match IoUring::new(2) {
        Ok(uring) => uring,
        Err(e) if refused(&e) => return Ok(Some(format!("io_uring_setup: {e}"))),
        Err(e) => return Err(e),
    };
    // A ring needs a `'static` pool; this one-buffer probe pool is leaked,
    // once per probe.
    let pool = Box::leak(Box::new(iobuf::PicoBufferPool::new(1)?));
    match BufRing::new(&uring, pool, GROUP, 1) {
        Ok(_) => Ok(None),
        Err(iobuf::Error::Os { source, .. }) if refused(&source) => {
            Ok(Some(format!("IORING_REGISTER_PBUF_RING: {source}")))
        }
        Err(e) => Err(e.into()),
    }
}

/// An io_uring whose completions are reaped only by the thread that
/// creates it: task work deferred to its `submit_and_wait`
/// (`DEFER_TASKRUN`, which needs `SINGLE_ISSUER`), or, on kernels before
/// 6.1, a plain one.
fn new_uring(entries: u32) -> io::Result<(IoUring, &'static str)> {
    let tuned = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_submit_all()
        .setup_cqsize(entries * 8)
        .build(entries);
    match tuned {
        Ok(uring) => Ok((uring, "SINGLE_ISSUER|DEFER_TASKRUN|SUBMIT_ALL")),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            let plain = IoUring::builder()
                .setup_cqsize(entries * 8)
                .build(entries)?;
            Ok((plain, "none"))
        }
        Err(e) => Err(e),
    }
}

/// Queues `entry`, first submitting what is queued if the submission queue
/// is full.
///
/// # Safety
///
/// As for [`SubmissionQueue::push`]: every buffer and descriptor `entry`
/// names stays valid until the operation's last completion is reaped.
unsafe fn push(
    sq: &mut SubmissionQueue<'_>,
    submitter: &Submitter<'_>,
    entry: &squeue::Entry,
) -> io::Result<()> {
    loop {
        // SAFETY: the caller's contract.
        if unsafe { sq.push(entry) }.is_ok() {
            return Ok(());
        }
        sq.sync();
        submitter.submit()?;
        sq.sync();
    }
}

// ---------------------------------------------------------------------------
// The io_uring server.

/// What an operation is; part of its [`Tag`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Accept = 1,
    Recv = 2,
    Send = 3,
}

/// An operation's `user_data`: its kind in the high 32 bits, its
/// connection's slot (or, for the client, its connection) in the low 32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tag {
    op: Op,
    slot: usize,
}

impl Tag {
    /// Bits of the slot.
    const SLOT_BITS: u32 = 32;

    fn pack(self) -> u64 {
        debug_assert!(
            self.slot < 1 << Self::SLOT_BITS,
            "slot {} too large",
            self.slot
        );
        (self.op as u64) << Self::SLOT_BITS | self.slot as u64
    }

    fn unpack(word: u64) -> io::Result<Tag> {
        let op = match word >> Self::SLOT_BITS {
            1 => Op::Accept,
            2 => Op::Recv,
            3 => Op::Send,
            _ => return Err(io::Error::other(format!("unknown user_data {word:#x}"))),
        };
        let slot = (word & ((1 << Self::SLOT_BITS) - 1)) as usize;
        Ok(Tag { op, slot })
    }
}

/// No buffer: the end of an echo queue.
const NIL: u32 = u32::MAX;

/// One connection slot.
#[derive(Debug)]
struct Conn {
    /// The socket; `None` when the slot is free. It is closed only when no
    /// operation on it is in flight.
    stream: Option<TcpStream>,
    /// A multishot `recv` is armed (its last completion not yet reaped).
    recv_armed: bool,
    /// The `recv` ended with `ENOBUFS`: the connection is in
    /// `Server::parked`, waiting for buffers to re-arm.
    parked: bool,
    /// EOF or an error: no more `recv`s.
    reading_done: bool,
    /// A send of the queue's first buffer is in flight.
    sending: bool,
    /// Echoes to send, oldest first: buffer ids, linked through
    /// `Server::next`.
    head: u32,
    tail: u32,
}

impl Conn {
    const FREE: Conn = Conn {
        stream: None,
        recv_armed: false,
        parked: false,
        reading_done: false,
        sending: false,
        head: NIL,
        tail: NIL,
    };
}

/// How to serve.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// Provided-buffer ring entries (a power of two, at most 32 768).
    pub ring_entries: u16,
    /// Stop accepting after this many connections, and return when they
    /// have all closed; `None`: serve until killed.
    pub limit: Option<usize>,
}

/// The io_uring server's state: everything it needs, made before serving.
struct Server {
    bufs: BufRing<uring_pool::Rx>,
    listener: RawFd,
    conns: Vec<Conn>,
    /// Free slots.
    free: Vec<u32>,
    /// Connections whose `recv` found the ring empty.
    parked: Vec<u32>,
    /// Received buffers waiting for (or in) their send, by buffer id.
    held: Vec<Option<RxBuf>>,
    /// The next buffer in the same connection's queue, by buffer id.
    next: Vec<u32>,
    limit: Option<usize>,
    open: usize,
    accepting: bool,
    stopping: bool,
    stats: ServerStats,
}

/// Serves echo on `listener` with one io_uring on the calling thread, until
/// `options.limit` connections have come and gone, or, after `stop` is set
/// (and the loop woken, say by a connection), until the open ones are shut
/// down and closed.
///
/// # Errors
///
/// Setting up the io_uring or the ring (`ENOSYS`/`EPERM` where the kernel
/// refuses io_uring), or a failed `submit`.
pub fn serve_uring(
    listener: &TcpListener,
    options: &ServeOptions,
    stop: &AtomicBool,
) -> io::Result<ServerStats> {
    let (mut uring, setup) = new_uring(SQ_ENTRIES)?;
    let pool = uring_pool::rx();
    let pool_len = pool.capacity();
    let bufs = BufRing::new(&uring, pool, GROUP, options.ring_entries)?;
    let mut server = Server {
        bufs,
        listener: listener.as_raw_fd(),
        conns: (0..MAX_CONNECTIONS).map(|_| Conn::FREE).collect(),
        free: (0..MAX_CONNECTIONS as u32).rev().collect(),
        parked: Vec::with_capacity(MAX_CONNECTIONS),
        held: (0..pool_len).map(|_| None).collect(),
        next: vec![NIL; pool_len],
        limit: options.limit,
        open: 0,
        accepting: true,
        stopping: false,
        stats: ServerStats {
            setup,
            ..ServerStats::default()
        },
    };
    match server.run(&mut uring, stop) {
        Ok(()) => {
            let stats = server.stats.clone();
            // Every connection's last `recv` completion was reaped (`run`
            // returns only when none is open): the ring may go.
            drop(server);
            Ok(stats)
        }
        Err(err) => {
            server.abandon();
            Err(err)
        }
    }
}

impl Server {
    /// The event loop: one `submit_and_wait` per turn.
    fn run(&mut self, uring: &mut IoUring, stop: &AtomicBool) -> io::Result<()> {
        let (submitter, mut sq, mut cq) = uring.split();
        self.arm_accept(&mut sq, &submitter)?;
        loop {
            // ORDERING: Relaxed: a request to stop carries no data; the
            // caller wakes the loop (with a connection) after setting it.
            if stop.load(Ordering::Relaxed) && !self.stopping {
                self.stopping = true;
                self.accepting = false;
                for conn in self.conns.iter().filter(|c| !c.reading_done) {
                    if let Some(stream) = &conn.stream {
                        // Ends the `recv` (EOF) and any send (EPIPE).
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                }
            }
            if !self.accepting && self.open == 0 {
                return Ok(());
            }
            // The replenish policy: once per turn, before waiting, so that
            // every buffer whose echo completed last turn is back in the
            // ring; then the parked connections, if there are buffers.
            self.bufs.replenish();
            while !self.bufs.is_empty() {
                let Some(slot) = self.parked.pop() else { break };
                self.conns[slot as usize].parked = false;
                self.arm_recv(slot as usize, &mut sq, &submitter)?;
            }
            sq.sync();
            match submitter.submit_and_wait(1) {
                Ok(_) => {}
                // A signal, or a completion queue too full to take more:
                // reap what is there.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(e) => return Err(e),
            }
            self.stats.turns += 1;
            cq.sync();
            for cqe in &mut cq {
                self.stats.completions += 1;
                self.complete(&cqe, &mut sq, &submitter)?;
            }
        }
    }

    fn complete(
        &mut self,
        cqe: &cqueue::Entry,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let tag = Tag::unpack(cqe.user_data())?;
        match tag.op {
            Op::Accept => self.accepted(cqe.result(), cqueue::more(cqe.flags()), sq, submitter),
            Op::Recv => self.received(tag.slot, cqe, sq, submitter),
            Op::Send => self.sent(tag.slot, cqe.result(), sq, submitter),
        }
    }

    fn arm_accept(
        &mut self,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let accept = opcode::AcceptMulti::new(types::Fd(self.listener))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(
                Tag {
                    op: Op::Accept,
                    slot: 0,
                }
                .pack(),
            );
        // SAFETY: an accept names no memory, only the listener, which the
        // caller of `serve_uring` keeps open while it runs; the io_uring
        // (and the accept with it) is closed before `serve_uring` returns.
        unsafe { push(sq, submitter, &accept) }
    }

    /// Arms the multishot `recv` of the connection in `slot`.
    fn arm_recv(
        &mut self,
        slot: usize,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let conn = &mut self.conns[slot];
        let fd = conn.stream.as_ref().expect("an open slot").as_raw_fd();
        let recv = opcode::RecvMulti::new(types::Fd(fd), GROUP)
            .build()
            .user_data(Tag { op: Op::Recv, slot }.pack());
        // SAFETY: the `recv` writes only into buffers of `self.bufs`' group,
        // and `self.bufs` outlives it (the ring's one rule): the slot's
        // socket is closed, and `serve_uring` drops the ring, only after
        // this `recv`'s last completion (without `F_MORE`) was reaped
        // (`recv_armed`, checked by `close_if_done`; `run` returns only
        // when no connection is open); on an error, `abandon` leaks the
        // ring rather than unregister it.
        unsafe { push(sq, submitter, &recv)? };
        conn.recv_armed = true;
        Ok(())
    }

    /// Sends (the rest of) the first buffer of `slot`'s queue.
    fn send_head(
        &mut self,
        slot: usize,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let conn = &mut self.conns[slot];
        debug_assert!(!conn.sending && conn.head != NIL, "slot {slot}: {conn:?}");
        let fd = conn.stream.as_ref().expect("an open slot").as_raw_fd();
        let buf = self.held[conn.head as usize]
            .as_ref()
            .expect("queued buffers are held");
        let send = opcode::Send::new(types::Fd(fd), buf.as_ptr(), buf.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(Tag { op: Op::Send, slot }.pack());
        // SAFETY: the bytes are in a pooled buffer (the pool is a `static`,
        // its slab never moves), held by the guard in `held[head]`, which
        // is neither changed nor dropped until this send's completion
        // (`sent`); the socket stays open until then (`close_if_done`
        // waits for `!sending`).
        unsafe { push(sq, submitter, &send)? };
        conn.sending = true;
        Ok(())
    }

    fn accepted(
        &mut self,
        result: i32,
        more: bool,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        if result >= 0 {
            // SAFETY: a successful accept's result is a descriptor the
            // kernel has just installed for this process: open, and owned by
            // nothing else.
            let fd = unsafe { OwnedFd::from_raw_fd(result) };
            let stream = TcpStream::from(fd);
            // Over the limit or out of slots: closed at once (dropped).
            if self.accepting && stream.set_nodelay(true).is_ok() {
                if let Some(slot) = self.free.pop() {
                    let slot = slot as usize;
                    self.conns[slot] = Conn {
                        stream: Some(stream),
                        ..Conn::FREE
                    };
                    self.open += 1;
                    self.stats.accepted += 1;
                    if self.limit == Some(self.stats.accepted) {
                        self.accepting = false;
                    }
                    self.arm_recv(slot, sq, submitter)?;
                }
            }
        } else {
            let err = io::Error::from_raw_os_error(-result);
            eprintln!("uring_echo: accept: {err}");
            if matches!(
                -result,
                libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM
            ) {
                // Out of descriptors or memory: let the open connections
                // be served a little before trying again, rather than spin.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if !more && self.accepting {
            self.arm_accept(sq, submitter)?;
        }
        Ok(())
    }

    fn received(
        &mut self,
        slot: usize,
        cqe: &cqueue::Entry,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let more = cqueue::more(cqe.flags());
        // SAFETY: the completion was reaped from the io_uring `self.bufs`
        // is registered with, it is a `recv` that selected from its group
        // (tag `Recv`: `arm_recv` is the only such operation), and it is
        // passed here once.
        let got = unsafe { self.bufs.completion(cqe.result(), cqe.flags()) };
        let conn = &mut self.conns[slot];
        debug_assert!(conn.recv_armed, "slot {slot}: {conn:?}");
        conn.recv_armed = more;
        match got {
            Ok(Some(buf)) => {
                let rearm = !more;
                self.enqueue(slot, buf);
                if !self.conns[slot].sending {
                    self.send_head(slot, sq, submitter)?;
                }
                if rearm {
                    self.stats.rearms += 1;
                    self.arm_recv(slot, sq, submitter)?;
                }
            }
            // End of stream: echo what is queued, then close.
            Ok(None) => conn.reading_done = true,
            Err(RecvError::NoBuffers) => {
                self.stats.no_buffers += 1;
                conn.parked = true;
                self.parked.push(slot as u32);
            }
            Err(RecvError::Os(_)) => {
                // Reset by the peer, say: nothing more to echo.
                conn.reading_done = true;
                self.discard_queue(slot);
            }
            Err(e) => return Err(e.into()),
        }
        self.close_if_done(slot);
        Ok(())
    }

    fn sent(
        &mut self,
        slot: usize,
        result: i32,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let conn = &mut self.conns[slot];
        debug_assert!(conn.sending, "slot {slot}: {conn:?}");
        conn.sending = false;
        let head = conn.head as usize;
        if result > 0 {
            let buf = self.held[head].as_mut().expect("queued buffers are held");
            buf.consume(result as usize);
            if !buf.is_empty() {
                self.stats.partial_sends += 1;
                return self.send_head(slot, sq, submitter);
            }
            // Sent: the buffer goes home.
            self.held[head] = None;
            conn.head = self.next[head];
            if conn.head == NIL {
                conn.tail = NIL;
            } else {
                self.send_head(slot, sq, submitter)?;
            }
        } else {
            // The peer is gone (EPIPE, ECONNRESET): drop the echoes, and
            // shut the socket down so that an armed `recv` ends too.
            if let Some(stream) = &conn.stream {
                let _ = stream.shutdown(Shutdown::Both);
            }
            self.discard_queue(slot);
        }
        self.close_if_done(slot);
        Ok(())
    }

    /// Appends `buf` to `slot`'s echo queue.
    fn enqueue(&mut self, slot: usize, buf: RxBuf) {
        let id = buf.holder().index();
        debug_assert!(self.held[id as usize].is_none(), "buffer {id} held twice");
        self.held[id as usize] = Some(buf);
        self.next[id as usize] = NIL;
        let conn = &mut self.conns[slot];
        if conn.tail == NIL {
            conn.head = id;
        } else {
            self.next[conn.tail as usize] = id;
        }
        conn.tail = id;
    }

    /// Drops `slot`'s queued echoes, all but one whose send is in flight.
    fn discard_queue(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        let mut id = conn.head;
        if conn.sending {
            id = self.next[id as usize];
            self.next[conn.head as usize] = NIL;
            conn.tail = conn.head;
        } else {
            conn.head = NIL;
            conn.tail = NIL;
        }
        while id != NIL {
            self.held[id as usize] = None;
            id = self.next[id as usize];
        }
    }

    /// Closes `slot` and frees it once nothing is left to do on it.
    fn close_if_done(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if conn.reading_done && !conn.recv_armed && !conn.parked && !conn.sending {
            debug_assert!(conn.head == NIL, "slot {slot}: {conn:?}");
            conn.stream = None;
            *conn = Conn::FREE;
            self.free.push(slot as u32);
            self.open -= 1;
        }
    }

    /// After an error, with operations that may still select from the
    /// ring or read a held buffer: the sockets are shut down (their peers
    /// see the end), and the ring and the held buffers are leaked, as
    /// `BufRing` itself does when it cannot unregister, rather than handed
    /// to the pool while the kernel may still use them. (The ring keeps the
    /// io_uring open: the operations stay, harmless, until the process
    /// exits.)
    fn abandon(self) {
        for stream in self.conns.iter().filter_map(|c| c.stream.as_ref()) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        std::mem::forget(self.bufs);
        // Buffers whose sends may be in flight stay out of the pool too.
        std::mem::forget(self.held);
    }
}

// ---------------------------------------------------------------------------
// The thread-per-connection server.

/// Accepts `n` connections, each served by its own thread, and returns when
/// all have closed.
fn serve_threads(listener: TcpListener, n: usize) -> io::Result<()> {
    std::thread::scope(|s| {
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            let (stream, _) = listener.accept()?;
            conns.push(s.spawn(move || echo_thread(stream)));
        }
        for conn in conns {
            conn.join().expect("a connection thread panicked")?;
        }
        Ok(())
    })
}

/// One connection: a blocking read into a pooled buffer, written back.
fn echo_thread(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let pool = thread_pool::conn();
    loop {
        let mut buf = Filled::new(pool.get());
        let n = stream.read(buf.unfilled_mut())?;
        if n == 0 {
            return Ok(());
        }
        buf.commit(n);
        stream.write_all(&buf)?;
    }
}

// ---------------------------------------------------------------------------
// The load client.

/// Round trips in log-linear buckets, 64 per power of two (as
/// HdrHistogram lays them out): a percentile is exact to within 1.6 %.
/// Made before the load; recording allocates nothing.
struct Histogram {
    counts: Box<[u64]>,
    total: u64,
}

impl Histogram {
    /// log2 of the buckets per power of two.
    const SUB_BITS: u32 = 6;
    /// Buckets per power of two.
    const SUB: u64 = 1 << Self::SUB_BITS;

    fn new() -> Self {
        let buckets = (64 - Self::SUB_BITS as usize + 1) * Self::SUB as usize;
        Histogram {
            counts: vec![0; buckets].into_boxed_slice(),
            total: 0,
        }
    }

    fn bucket(ns: u64) -> usize {
        if ns < Self::SUB {
            return ns as usize;
        }
        let shift = 63 - ns.leading_zeros() - Self::SUB_BITS;
        ((u64::from(shift) + 1) * Self::SUB + (ns >> shift) - Self::SUB) as usize
    }

    /// The middle of bucket `b`.
    fn value(b: usize) -> u64 {
        let b = b as u64;
        if b < Self::SUB {
            return b;
        }
        let shift = b / Self::SUB - 1;
        ((b % Self::SUB + Self::SUB) << shift) + (1 << shift) / 2
    }

    fn record(&mut self, rtt: Duration) {
        self.counts[Self::bucket(rtt.as_nanos() as u64)] += 1;
        self.total += 1;
    }

    /// The `q` quantile (0 ..= 1); zero when nothing was recorded.
    fn quantile(&self, q: f64) -> Duration {
        let rank = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_nanos(Self::value(b));
            }
        }
        Duration::ZERO
    }
}

/// The byte of request `r` on connection `c` at offset `i` is
/// `pattern_key(c, r) ^ offset_byte(i)`: `tokio_echo::pattern`, which is
/// exactly that (its terms are XORed, and truncating to a byte commutes
/// with XOR), computed so that filling and checking a request are a XOR
/// with a table, which the compiler vectorises.
fn pattern_key(c: usize, r: usize) -> u8 {
    tokio_echo::pattern(c, r, 0)
}

/// See [`pattern_key`].
fn offset_byte(i: usize) -> u8 {
    tokio_echo::pattern(0, 0, i)
}

/// Whether `pattern_key(c, r) ^ offset_byte(i)` is `tokio_echo::pattern(c, r, i)`
/// for every connection, request and offset below `n` (the suite test
/// checks it).
pub fn pattern_decomposes(n: usize) -> bool {
    (0..n).all(|c| {
        (0..n).all(|r| {
            (0..n * 64).all(|i| pattern_key(c, r) ^ offset_byte(i) == tokio_echo::pattern(c, r, i))
        })
    })
}

/// One client connection.
struct Peer {
    stream: TcpStream,
    /// The request in flight, as sent.
    request: Box<[u8]>,
    /// Its number on this connection.
    number: usize,
    /// Bytes of it sent, and of its echo received.
    sent: usize,
    received: usize,
    /// A send is in flight.
    sending: bool,
    /// The multishot `recv` is armed.
    receiving: bool,
    /// The `recv` ended with `ENOBUFS`: in `Client::parked`.
    parked: bool,
    started: Instant,
}

/// Where the load is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Warmup,
    Measure,
    /// Measured; no new requests, the ones in flight finish.
    Drain,
    /// Every request done; the connections are shut down for writing,
    /// waiting for the server to close them.
    Closing,
}

/// The load client: its connections and what it counted.
struct Client {
    peers: Vec<Peer>,
    /// Connections whose `recv` found the ring empty.
    parked: Vec<u32>,
    size: usize,
    /// `offset_byte(i)` for each offset of a request.
    offsets: Box<[u8]>,
    phase: Phase,
    /// Requests not yet complete, once draining.
    in_flight: usize,
    /// Connections not yet closed by the server.
    open: usize,
    histogram: Histogram,
    completed: u64,
    measured: u64,
    /// Echoed bytes compared with the pattern, and those that differed.
    checked: u64,
    mismatches: u64,
    /// Instant and allocation count at the start and end of the
    /// measured window.
    window_start: (Instant, u64),
    window_end: (Instant, u64),
}

/// Runs the load against the server at `addr`: every connection at once,
/// from one thread with its own io_uring (a send per request, the echo
/// received by a multishot `recv` into a provided-buffer ring of its own
/// pool, checked in place), until the measured time is over; then shuts
/// each connection down and waits for the server to close it.
fn drive(addr: SocketAddr, config: &Config) -> io::Result<Measured> {
    let begun = Instant::now();
    let mut peers = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        peers.push(Peer {
            stream,
            request: vec![0; config.size].into_boxed_slice(),
            number: 0,
            sent: 0,
            received: 0,
            sending: false,
            receiving: false,
            parked: false,
            started: begun,
        });
    }
    let mut client = Client {
        peers,
        parked: Vec::with_capacity(config.connections),
        size: config.size,
        offsets: (0..config.size).map(offset_byte).collect(),
        phase: Phase::Warmup,
        in_flight: config.connections,
        open: config.connections,
        histogram: Histogram::new(),
        completed: 0,
        measured: 0,
        checked: 0,
        mismatches: 0,
        window_start: (begun, 0),
        window_end: (begun, 0),
    };
    let entries = ((2 * config.connections) as u32).next_power_of_two();
    let (mut uring, _) = new_uring(entries.clamp(64, 4096))?;
    let bufs = BufRing::new(&uring, client_pool::echo(), GROUP, CLIENT_RING_ENTRIES)?;
    let mut bufs = std::mem::ManuallyDrop::new(bufs);
    match client.run(&mut uring, &mut bufs, config, begun) {
        Ok(()) => {
            // Every connection's `recv` ended (at its EOF) and was reaped:
            // the ring may go.
            drop(std::mem::ManuallyDrop::into_inner(bufs));
        }
        Err(err) => {
            // Operations may still read the requests or select from the
            // ring: shut the sockets down (the server sees the end) and
            // leak both, as the server does.
            for peer in &client.peers {
                let _ = peer.stream.shutdown(Shutdown::Both);
            }
            std::mem::forget(client.peers);
            return Err(err);
        }
    }
    let (t0, a0) = client.window_start;
    let (t1, a1) = client.window_end;
    Ok(Measured {
        report: ServerReport {
            requests: client.measured,
            elapsed: t1 - t0,
            p50: client.histogram.quantile(0.50),
            p99: client.histogram.quantile(0.99),
            allocations: a1 - a0,
            completed: client.completed,
            bytes_checked: client.checked,
            mismatches: client.mismatches,
        },
        histogram: client.histogram,
    })
}

/// What the load measured against one server, over one round or several.
struct Measured {
    report: ServerReport,
    /// The round trips behind `report.p50` and `p99`.
    histogram: Histogram,
}

impl Measured {
    fn new() -> Self {
        Measured {
            report: ServerReport {
                requests: 0,
                elapsed: Duration::ZERO,
                p50: Duration::ZERO,
                p99: Duration::ZERO,
                allocations: 0,
                completed: 0,
                bytes_checked: 0,
                mismatches: 0,
            },
            histogram: Histogram::new(),
        }
    }

    /// Adds a round: counts and times add up, percentiles are over all.
    fn add(&mut self, round: Measured) {
        let (sum, r) = (&mut self.report, round.report);
        sum.requests += r.requests;
        sum.elapsed += r.elapsed;
        sum.allocations += r.allocations;
        sum.completed += r.completed;
        sum.bytes_checked += r.bytes_checked;
        sum.mismatches += r.mismatches;
        for (total, count) in self
            .histogram
            .counts
            .iter_mut()
            .zip(&round.histogram.counts)
        {
            *total += count;
        }
        self.histogram.total += round.histogram.total;
        sum.p50 = self.histogram.quantile(0.50);
        sum.p99 = self.histogram.quantile(0.99);
    }
}

impl Client {
    /// The client's event loop: one `submit_with_args` per turn.
    fn run(
        &mut self,
        uring: &mut IoUring,
        bufs: &mut BufRing<client_pool::Echo>,
        config: &Config,
        begun: Instant,
    ) -> io::Result<()> {
        let measure_from = Instant::now() + config.warmup;
        let measure_until = measure_from + config.measure;
        let deadline = begun + DEADLINE;
        let (submitter, mut sq, mut cq) = uring.split();
        let now = Instant::now();
        for c in 0..self.peers.len() {
            self.arm_recv(c, &mut sq, &submitter)?;
            self.start_request(c, now, &mut sq, &submitter)?;
        }
        // Woken at least every second, to check the deadline.
        let timeout = types::Timespec::from(Duration::from_secs(1));
        let args = types::SubmitArgs::new().timespec(&timeout);
        while self.open > 0 {
            // As the server: refill once per turn, then re-arm the parked.
            bufs.replenish();
            while !bufs.is_empty() {
                let Some(c) = self.parked.pop() else { break };
                self.peers[c as usize].parked = false;
                self.arm_recv(c as usize, &mut sq, &submitter)?;
            }
            sq.sync();
            match submitter.submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                    ) => {}
                Err(e) => return Err(e),
            }
            cq.sync();
            let now = Instant::now();
            if now > deadline {
                return Err(io::Error::other(format!("load not done in {DEADLINE:?}")));
            }
            if self.phase == Phase::Warmup && now >= measure_from {
                self.phase = Phase::Measure;
                self.window_start = (now, tokio_echo::allocations());
            }
            if self.phase == Phase::Measure && now >= measure_until {
                self.phase = Phase::Drain;
                self.window_end = (now, tokio_echo::allocations());
            }
            for cqe in &mut cq {
                let tag = Tag::unpack(cqe.user_data())?;
                match tag.op {
                    Op::Send => self.sent(tag.slot, cqe.result(), now, &mut sq, &submitter)?,
                    Op::Recv => self.received(tag.slot, &cqe, bufs, now, &mut sq, &submitter)?,
                    Op::Accept => return Err(io::Error::other("the client accepts nothing")),
                }
            }
            if self.phase == Phase::Drain && self.in_flight == 0 {
                // Close our side; the server echoes nothing more and closes
                // its own, which each `recv` sees as EOF.
                self.phase = Phase::Closing;
                for peer in &self.peers {
                    peer.stream.shutdown(Shutdown::Write)?;
                }
            }
        }
        Ok(())
    }

    fn sent(
        &mut self,
        c: usize,
        result: i32,
        now: Instant,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let peer = &mut self.peers[c];
        peer.sending = false;
        if result <= 0 {
            return Err(match result {
                0 => io::ErrorKind::WriteZero.into(),
                _ => io::Error::from_raw_os_error(-result),
            });
        }
        peer.sent += result as usize;
        if peer.sent < self.size {
            return self.send_rest(c, sq, submitter);
        }
        self.complete_if_done(c, now, sq, submitter)
    }

    fn received(
        &mut self,
        c: usize,
        cqe: &cqueue::Entry,
        bufs: &mut BufRing<client_pool::Echo>,
        now: Instant,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let more = cqueue::more(cqe.flags());
        // SAFETY: the completion was reaped from the io_uring `bufs` is
        // registered with, it is a `recv` that selected from its group (tag
        // `Recv`: `arm_recv` is the client's only such operation), and it
        // is passed here once.
        let got = unsafe { bufs.completion(cqe.result(), cqe.flags()) };
        let peer = &mut self.peers[c];
        peer.receiving = more;
        match got {
            Ok(Some(echo)) => {
                let at = peer.received;
                if at + echo.len() > self.size {
                    return Err(io::Error::other(format!(
                        "connection {c}: {} bytes echoed for a request of {}",
                        at + echo.len(),
                        self.size
                    )));
                }
                // Checked in the pooled buffer, which then goes home.
                let key = pattern_key(c, peer.number);
                self.mismatches += echo
                    .iter()
                    .zip(&self.offsets[at..])
                    .filter(|&(&b, &o)| b != key ^ o)
                    .count() as u64;
                self.checked += echo.len() as u64;
                peer.received += echo.len();
                drop(echo);
                if !more {
                    self.arm_recv(c, sq, submitter)?;
                }
                self.complete_if_done(c, now, sq, submitter)
            }
            Ok(None) if self.phase == Phase::Closing => {
                self.open -= 1;
                Ok(())
            }
            Ok(None) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the server closed connection {c} mid-load"),
            )),
            Err(RecvError::NoBuffers) => {
                peer.parked = true;
                self.parked.push(c as u32);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// After a send's or a receive's completion: if request and echo are
    /// both through, counts the request and starts the next.
    fn complete_if_done(
        &mut self,
        c: usize,
        now: Instant,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let peer = &mut self.peers[c];
        if peer.sending || peer.received < self.size {
            return Ok(());
        }
        self.completed += 1;
        match self.phase {
            Phase::Warmup => {}
            Phase::Measure => {
                self.measured += 1;
                self.histogram.record(now - peer.started);
            }
            Phase::Drain | Phase::Closing => {
                self.in_flight -= 1;
                return Ok(());
            }
        }
        peer.number += 1;
        self.start_request(c, now, sq, submitter)
    }

    /// Writes request `number` of connection `c` and queues its send.
    fn start_request(
        &mut self,
        c: usize,
        now: Instant,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let peer = &mut self.peers[c];
        let key = pattern_key(c, peer.number);
        for (b, &o) in peer.request.iter_mut().zip(self.offsets.iter()) {
            *b = key ^ o;
        }
        (peer.sent, peer.received) = (0, 0);
        peer.started = now;
        self.send_rest(c, sq, submitter)
    }

    fn send_rest(
        &mut self,
        c: usize,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let peer = &mut self.peers[c];
        let rest = &peer.request[peer.sent..];
        let fd = types::Fd(peer.stream.as_raw_fd());
        let send = opcode::Send::new(fd, rest.as_ptr(), rest.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(
                Tag {
                    op: Op::Send,
                    slot: c,
                }
                .pack(),
            );
        // SAFETY: the bytes are `peer.request`, a boxed slice (it never
        // moves) left unchanged until this send's completion is reaped (the
        // next request is written only after it), and the socket stays open
        // until then: `drive` drops its connections only after every
        // completion was reaped, or, after an error, leaks them.
        unsafe { push(sq, submitter, &send)? };
        peer.sending = true;
        Ok(())
    }

    fn arm_recv(
        &mut self,
        c: usize,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let peer = &mut self.peers[c];
        let recv = opcode::RecvMulti::new(types::Fd(peer.stream.as_raw_fd()), GROUP)
            .build()
            .user_data(
                Tag {
                    op: Op::Recv,
                    slot: c,
                }
                .pack(),
            );
        // SAFETY: the `recv` writes only into buffers of the client's ring,
        // which outlives it: `run` returns `Ok` only after every
        // connection's `recv` ended at EOF and was reaped, and after an
        // error `drive` leaks the ring; the socket stays open as long.
        unsafe { push(sq, submitter, &recv)? };
        peer.receiving = true;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The runs.

/// Serves the load's connections with the io_uring server on its own
/// thread, and drives the load at it.
fn measure_uring(config: &Config) -> io::Result<(Measured, ServerStats)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let stop = AtomicBool::new(false);
    let options = ServeOptions {
        ring_entries: config.ring_entries,
        limit: Some(config.connections),
    };
    std::thread::scope(|s| {
        let server = std::thread::Builder::new()
            .name("uring-echo".into())
            .spawn_scoped(s, || serve_uring(&listener, &options, &stop))?;
        let load = drive(addr, config);
        if load.is_err() {
            // ORDERING: Relaxed: the connection below wakes the server,
            // which then reads the flag (see `Server::run`).
            stop.store(true, Ordering::Relaxed);
            let _ = TcpStream::connect(addr);
        }
        let stats = server.join().expect("the io_uring server panicked");
        let load = load?;
        Ok((load, stats?))
    })
}

/// Serves the load with `tokio_echo`'s pooled server (`tokio_echo::listen`)
/// on a multi-thread runtime with 2 workers, as `tokio_echo` runs it.
fn measure_tokio(config: &Config) -> io::Result<Measured> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tokio-echo")
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    runtime.spawn(tokio_echo::listen(listener));
    let load = drive(addr, config);
    // The connections closed (or failed); this ends the accept loop.
    runtime.shutdown_timeout(Duration::from_secs(5));
    load
}

/// Serves the load with a thread per connection.
fn measure_threads(config: &Config) -> io::Result<Measured> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let n = config.connections;
    let server = std::thread::Builder::new()
        .name("threads-echo".into())
        .spawn(move || serve_threads(listener, n))?;
    let load = drive(addr, config)?;
    // Joined only after a load that succeeded: after a failed one, the
    // accept loop may wait for connections that never come.
    server
        .join()
        .expect("the thread-per-connection server panicked")?;
    Ok(load)
}

/// Runs the load against the three servers (io_uring, tokio, thread per
/// connection) in turn, `config.rounds` times, the order rotating.
///
/// # Errors
///
/// A socket or io_uring error on any side, a pool that cannot be created,
/// or a load that did not finish within 120 s.
///
/// # Panics
///
/// If the config is out of range (`size` outside 1 ..= `MAX_SIZE`,
/// connections outside 1 ..= 1000, ring entries not a power of two).
pub fn run(config: &Config) -> io::Result<Outcome> {
    assert!(
        (1..=tokio_echo::MAX_SIZE).contains(&config.size),
        "size {} is outside 1 ..= {}",
        config.size,
        tokio_echo::MAX_SIZE
    );
    assert!(
        (1..=MAX_LOAD_CONNECTIONS).contains(&config.connections),
        "{config:?}"
    );
    assert!(config.ring_entries.is_power_of_two(), "{config:?}");
    if let Some(reason) = probe()? {
        return Ok(Outcome::Unsupported(reason));
    }
    uring_pool::init()?;
    thread_pool::init()?;
    client_pool::init()?;
    let rounds = config.rounds.max(1);
    let round = Config {
        measure: config.measure / rounds as u32,
        ..*config
    };
    let (mut uring, mut tokio, mut threads) = (Measured::new(), Measured::new(), Measured::new());
    let mut uring_stats = ServerStats::default();
    let pool = uring_pool::rx();
    let mut pool_available = pool.capacity();
    for r in 0..rounds {
        for turn in 0..3 {
            match (r + turn) % 3 {
                0 => {
                    let (load, stats) = measure_uring(&round)?;
                    uring.add(load);
                    uring_stats.add(&stats);
                    // The server has stopped: every buffer should be home.
                    pool_available = pool_available.min(pool.available());
                }
                1 => tokio.add(measure_tokio(&round)?),
                _ => threads.add(measure_threads(&round)?),
            }
        }
    }
    Ok(Outcome::Measured(Box::new(Report {
        connections: config.connections,
        uring: uring.report,
        tokio: tokio.report,
        threads: threads.report,
        uring_stats,
        pool_capacity: pool.capacity(),
        pool_available,
    })))
}

/// Allocations per request as a plain decimal: 3 decimals, or every digit
/// when a nonzero count would round to 0.
pub fn per_request(report: &ServerReport) -> String {
    tokio_echo::allocations_per_request_text(report.allocations, report.allocations_per_request())
}

/// The machine-readable line of one connection count.
pub fn summary_line(report: &Report) -> String {
    format!(
        "summary: connections={} uring={:.0} tokio={:.0} threads={:.0} uring_allocs_per_req={}",
        report.connections,
        report.uring.requests_per_sec(),
        report.tokio.requests_per_sec(),
        report.threads.requests_per_sec(),
        per_request(&report.uring),
    )
}

/// What went wrong in a report, if anything: a differing byte, a byte not
/// checked, an allocation on the io_uring server's run, a buffer not home.
pub fn failures(config: &Config, report: &Report) -> Vec<String> {
    let mut failed = Vec::new();
    for (name, r) in [
        ("io_uring", &report.uring),
        ("tokio", &report.tokio),
        ("threads", &report.threads),
    ] {
        if r.mismatches != 0 {
            failed.push(format!("{name}: {} echoed bytes differed", r.mismatches));
        }
        if r.bytes_checked != r.completed * config.size as u64 || r.requests == 0 {
            failed.push(format!("{name}: not every echoed byte was checked: {r:?}"));
        }
    }
    if report.uring.allocations != 0 {
        failed.push(format!(
            "the io_uring server's run allocated {} times after warm-up",
            report.uring.allocations
        ));
    }
    if report.pool_available != report.pool_capacity {
        failed.push(format!(
            "{} of {} `rx` buffers came home",
            report.pool_available, report.pool_capacity
        ));
    }
    failed
}

fn print_report(report: &Report) {
    println!(
        "\n{} connections:\n{:<34} {:>11} {:>10} {:>10} {:>8} {:>10}",
        report.connections, "server", "requests/s", "p50 rtt", "p99 rtt", "allocs", "allocs/req"
    );
    for (name, r) in [
        ("io_uring, 1 thread (buffer ring)", &report.uring),
        ("tokio, 2 workers (tokio_echo)", &report.tokio),
        ("thread per connection", &report.threads),
    ] {
        println!(
            "{:<34} {:>11.0} {:>10} {:>10} {:>8} {:>10}",
            name,
            r.requests_per_sec(),
            format!("{:.1?}", r.p50),
            format!("{:.1?}", r.p99),
            r.allocations,
            per_request(r),
        );
    }
    let uring = report.uring.requests_per_sec();
    println!(
        "io_uring / tokio = {:.2}x, io_uring / threads = {:.2}x",
        uring / report.tokio.requests_per_sec(),
        uring / report.threads.requests_per_sec()
    );
    let s = &report.uring_stats;
    println!(
        "echoed bytes checked: {} + {} + {}, differing: {}\nio_uring server ({}): {} turns, {:.1} completions a turn, {} ENOBUFS, {} re-arms, {} partial sends; rx pool: {} of {} buffers home",
        report.uring.bytes_checked,
        report.tokio.bytes_checked,
        report.threads.bytes_checked,
        report.uring.mismatches + report.tokio.mismatches + report.threads.mismatches,
        s.setup,
        s.turns,
        s.completions as f64 / s.turns.max(1) as f64,
        s.no_buffers,
        s.rearms,
        s.partial_sends,
        report.pool_available,
        report.pool_capacity,
    );
}

/// What the command line asks for.
#[derive(Debug)]
enum Mode {
    /// The config, and the connection counts to run it at.
    Measure(Config, Vec<usize>),
    Listen(String, u16),
}

fn parse_args() -> Result<Mode, String> {
    // `--quick` is the base the other flags change, wherever it stands.
    let quick = std::env::args().any(|a| a == "--quick");
    let mut config = if quick {
        Config::quick()
    } else {
        Config::default()
    };
    let mut counts = vec![8, 64];
    let mut listen = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let mut number = || -> Result<usize, String> {
            let v = value()?;
            v.replace('_', "")
                .parse()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--connections" | "-c" => counts = vec![number()?],
            "--rounds" | "-r" => config.rounds = number()?.max(1),
            "--size" | "-s" => config.size = number()?,
            "--entries" | "-e" => {
                config.ring_entries = u16::try_from(number()?)
                    .ok()
                    .filter(|n| n.is_power_of_two())
                    .ok_or("--entries must be a power of two, at most 32768")?;
            }
            "--seconds" | "--warmup" => {
                let v = value()?;
                let secs = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0 && *s < 3600.0)
                    .ok_or(format!("{flag}: not a number of seconds: {v}"))?;
                let time = Duration::from_secs_f64(secs);
                if flag == "--seconds" {
                    config.measure = time.max(Duration::from_millis(10));
                } else {
                    config.warmup = time;
                }
            }
            "--quick" => {}
            "--listen" | "-l" => listen = Some(value()?),
            "--help" | "-h" => {
                return Err(
                    "usage: uring_echo [--connections N] [--size BYTES] [--seconds S] \
                            [--warmup S] [--rounds N] [--entries N] [--quick]\n       \
                            uring_echo --listen ADDR [--entries N]"
                        .into(),
                );
            }
            other => return Err(format!("unknown flag {other}; try --help")),
        }
    }
    if let Some(addr) = listen {
        return Ok(Mode::Listen(addr, config.ring_entries));
    }
    if !(1..=tokio_echo::MAX_SIZE).contains(&config.size) {
        return Err(format!("--size must be 1 ..= {}", tokio_echo::MAX_SIZE));
    }
    if !counts
        .iter()
        .all(|n| (1..=MAX_LOAD_CONNECTIONS).contains(n))
    {
        return Err(format!(
            "--connections must be 1 ..= {MAX_LOAD_CONNECTIONS}"
        ));
    }
    Ok(Mode::Measure(config, counts))
}

/// `--listen ADDR`: serve until killed.
fn serve_forever(addr: &str, ring_entries: u16) -> io::Result<()> {
    if let Some(reason) = probe()? {
        println!("uring_echo: skipped: the kernel refused io_uring ({reason})");
        return Ok(());
    }
    uring_pool::init()?;
    let listener = TcpListener::bind(addr)?;
    println!(
        "uring_echo: listening on {} (io_uring, multishot recv into a {ring_entries}-entry buffer ring of 4 KiB pooled buffers); stop with Ctrl-C",
        listener.local_addr()?
    );
    let options = ServeOptions {
        ring_entries,
        limit: None,
    };
    serve_uring(&listener, &options, &AtomicBool::new(false)).map(drop)
}

#[allow(dead_code)]
fn main() {
    let (config, counts) = match parse_args() {
        Ok(Mode::Measure(config, counts)) => (config, counts),
        Ok(Mode::Listen(addr, entries)) => {
            if let Err(err) = serve_forever(&addr, entries) {
                eprintln!("uring_echo: {addr}: {err}");
                std::process::exit(1);
            }
            return;
        }
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    println!(
        "uring_echo: {}-byte requests on 127.0.0.1; per server {:.1?} measured in {} rounds, each after {:.1?} of warm-up; {} logical CPUs",
        config.size,
        config.measure,
        config.rounds,
        config.warmup,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "client: one thread, own io_uring, checks every byte; allocations: whole process, measured window only"
    );
    let mut summaries = Vec::new();
    let mut failed = false;
    for connections in counts {
        let config = Config {
            connections,
            ..config
        };
        let report = match run(&config) {
            Ok(Outcome::Measured(report)) => *report,
            Ok(Outcome::Unsupported(reason)) => {
                println!("uring_echo: skipped: the kernel refused io_uring ({reason})");
                return;
            }
            Err(err) => {
                eprintln!("uring_echo failed at {connections} connections: {err}");
                std::process::exit(1);
            }
        };
        print_report(&report);
        for failure in failures(&config, &report) {
            eprintln!("uring_echo: {failure}");
            failed = true;
        }
        summaries.push(summary_line(&report));
    }
    for line in summaries {
        println!("{line}");
    }
    if failed {
        std::process::exit(1);
    }
}
