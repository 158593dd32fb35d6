//! Thousands of idle keep-alive connections beside a few busy ones, on
//! loopback, served three ways in one run: iobuf's frame reader and writer,
//! tokio-util's `Framed` with `LengthDelimitedCodec`, and a hand-written
//! `BytesMut` loop. A bounded pool is there so that a server's memory
//! follows the data in flight, not the number of connections: this example
//! measures whether it does.
//!
//! The load, the same for every server:
//!
//! - **idle connections** (5 000 by default): each connects, sends a burst
//!   of 64 KiB of frames in one write (frames of 1, 2, 4, 8, 16, 32 and
//!   1 KiB, headers included: a client that was busy once), checks every
//!   byte of the echo, then stays open and silent until the end;
//! - **16 active connections**, pipelined as in `frame_echo`: up to 8
//!   frames of 0 to 64 KiB in flight each, every echoed byte checked. Their
//!   frames/s are measured with and without the idle connections open.
//!
//! Frames are a u32 big-endian length, then the payload; the servers (a
//! multi-thread runtime, 2 workers) echo each frame, header included:
//!
//! - **iobuf**: `AsyncFrameReader::with_readiness` (over the socket's
//!   read half, `LengthDelimited::num_skip(0)`) and `AsyncFrameWriter`,
//!   over one pool set sized for the *active* connections only: 2 × 16
//!   read-ahead buffers of 8 KiB (`MediumBuffer`) and 2 × 16 of 128 KiB
//!   (`LargeBuffer`) for frames over 8 KiB, 4.25 MiB in all, committed at
//!   creation (`PoolConfig::prefault`), so that the pool's own memory is
//!   resident before anything is measured. The reader takes a buffer only
//!   once its socket is readable and gives an empty one back when a read
//!   would wait, so an idle connection holds none. (A reader that kept its
//!   read-ahead while idle, as before, would leave the 33rd idle
//!   connection's burst waiting for a buffer forever: the run would fail
//!   as stalled.)
//! - **framed**: `Framed::new` (its read and write buffers start at
//!   8 KiB), `max_frame_length(64 KiB)`; feeds every decoded frame back to
//!   the sink, flushing when the next frame would wait.
//! - **bytesmut**: reserves 8 KiB in a `BytesMut` before each read,
//!   freezes each complete frame off its front and writes them back with
//!   vectored writes.
//!
//! So all three start with 8 KiB to read into. A `BytesMut` grows to hold
//! the largest frame (or unwritten batch) it ever held, and keeps that size
//! while its connection lives.
//!
//! Each server, in turn: the active load alone; then twice (once with
//! `--quick`): the idle connections open and burst; once their echoes are
//! all checked and they are silent, the pooled buffers still held (iobuf)
//! and the process's RSS are read; the active load runs beside them; they
//! close; the active load runs alone again. Each active run is a warm-up
//! and five measured windows, and counts as its median window.
//!
//! **RSS per idle connection.** The client shares the process, so RSS
//! growth over opening the idle connections includes the client's side of
//! each connection and what every tokio server holds for a connection (its
//! task, the socket's registration). A fourth server, **baseline**, is
//! measured the same way first: a byte echo with no buffer of its own (it
//! reads into a per-thread scratch buffer when the socket is readable and
//! writes straight back, keeping only what a write could not take). Each
//! server's `rss_per_idle` is its RSS growth per idle connection *minus
//! the baseline's*: what its own buffering costs per idle connection. Free
//! heap memory is handed back to the OS (`malloc_trim`, glibc) before each
//! RSS reading, so that memory one server freed is not silently reused by
//! the next; and the baseline's connections open and close once before
//! anything is measured, so that every measured server finds the runtime's
//! and allocator's structures warm. The gross growth is printed too.
//!
//! ```text
//! cargo run --release --example idle_connections
//! cargo run --release --example idle_connections -- --quick
//! cargo run --release --example idle_connections -- --idle 10000
//! ```
//!
//! Flags: `--idle N` idle connections (default 5 000), `--quick` (1 000
//! idle connections and shorter active runs, for CI; `--idle` still
//! applies).
//!
//! Client and server share the process, so it needs two file descriptors
//! per connection: it raises its soft limit (`RLIMIT_NOFILE`) up to the
//! hard limit, and says so and exits 2 if even that is too few.
//!
//! It exits 1 on a stall (no echoed byte for 10 s while echoes are awaited,
//! or the whole run over its deadline), an echoed byte that differs from
//! the one sent, a pooled buffer not home after the iobuf server's
//! connections closed, or a pooled buffer held while only the idle
//! connections were open. Its last line is machine-readable:
//!
//! ```text
//! summary: idle=<n> iobuf_active_ratio=<x> iobuf_held_idle=<buffers> iobuf_rss_per_idle=<bytes> framed_rss_per_idle=<bytes> bytesmut_rss_per_idle=<bytes>
//! ```
//!
//! (`iobuf_active_ratio`: the active connections' frames/s with the idle
//! ones open over their frames/s without, the means of the alternating
//! runs of one server in one run; `iobuf_held_idle`: the most of any
//! opening.) The frames/s compare one load on one shared host, they are no
//! absolute benchmark.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::future::try_join_all;
use futures_util::{SinkExt, StreamExt};
use iobuf::frame::{AsyncFrameReader, AsyncFrameWriter, LengthDelimited, Pools};
use iobuf::{LargeBufferPool, MediumBufferPool, PoolConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::{Barrier, oneshot};
use tokio::task::JoinSet;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// The frames, their sizes and byte patterns, and the pipelining client's
/// halves (shared with `frame_echo`).
#[path = "support/frame_load.rs"]
mod frame_load;
use frame_load::{
    ConnLoad, HEADER, InFlight, MAX_PAYLOAD, Sizes, check_echoes, complete_frame, fill_frame,
    pattern_table, send_frames, write_queue,
};

/// Active connections.
const ACTIVE: usize = 16;

/// Frames an active connection writes ahead of the echoes it has checked.
const IN_FLIGHT: usize = 8;

/// The room each server starts with to read into: iobuf's read-ahead
/// buffer (a `MediumBuffer`), `Framed`'s initial buffer, what the
/// `BytesMut` loop reserves before each read.
const READ_ROOM: usize = iobuf::BUFFER_SIZE_MEDIUM;

/// An idle connection's burst: the frames' sizes, headers included, sent in
/// one write.
const BURST_FRAMES: [usize; 7] = [
    1 << 10,
    2 << 10,
    4 << 10,
    8 << 10,
    16 << 10,
    32 << 10,
    1 << 10,
];

/// The burst's bytes: 64 KiB.
const BURST: usize = 64 << 10;

const _: () = {
    let mut sum = 0;
    let mut i = 0;
    while i < BURST_FRAMES.len() {
        assert!(BURST_FRAMES[i] >= HEADER);
        sum += BURST_FRAMES[i];
        i += 1;
    }
    assert!(sum == BURST);
};

/// Idle connections opening (and bursting) at once.
const OPENING: usize = 32;

/// Connection numbers of idle connections start here (the active ones are
/// `0..ACTIVE`), so that their bytes differ from the active ones'.
const IDLE_BASE: usize = 1 << 20;

/// No echoed byte for this long while echoes are awaited: a stall.
const STALL: Duration = Duration::from_secs(10);

/// The whole run must end within this.
const DEADLINE: Duration = Duration::from_secs(300);

/// Time for the servers to finish what they were doing (the last writes'
/// frames dropped) before buffers and RSS are read.
const SETTLE: Duration = Duration::from_millis(200);

/// How long the pooled buffers get to come home.
const HOME_WAIT: Duration = Duration::from_secs(5);

/// File descriptors beyond two per connection: the listener, the
/// runtimes' epoll and wake-up descriptors, stdio, `/proc` reads.
const FD_SLACK: usize = 64;

/// The server runtime's threads' name.
const SERVER_THREAD: &str = "idle-server";

/// The load.
#[derive(Clone, Copy, Debug)]
struct Config {
    /// Idle connections.
    idle: usize,
    /// Frames per active connection before the measured windows.
    warmup: usize,
    /// Frames per active connection and measured window.
    frames: usize,
    /// Measured windows per active run: the run's rate is their median, so
    /// that a burst of other work on the machine moves it less.
    windows: usize,
    /// Times the idle connections open and close, per server; the active
    /// load runs between, alternately with and without them.
    openings: usize,
}

impl Config {
    fn full() -> Self {
        Config {
            idle: 5_000,
            warmup: 500,
            frames: 2_000,
            windows: 5,
            openings: 2,
        }
    }

    /// `--quick`, for CI.
    fn quick() -> Self {
        Config {
            idle: 1_000,
            warmup: 300,
            frames: 800,
            openings: 1,
            ..Config::full()
        }
    }
}

/// The servers, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    /// A byte echo with no buffer of its own: the RSS baseline.
    Baseline,
    Iobuf,
    Framed,
    BytesMut,
}

impl Server {
    const ALL: [Server; 4] = [
        Server::Baseline,
        Server::Iobuf,
        Server::Framed,
        Server::BytesMut,
    ];

    fn name(self) -> &'static str {
        match self {
            Server::Baseline => "baseline",
            Server::Iobuf => "iobuf",
            Server::Framed => "framed",
            Server::BytesMut => "bytesmut",
        }
    }
}

/// What the watchdog thread watches.
struct Watch {
    /// Reads of echoed bytes so far, every client connection together.
    progress: AtomicU64,
    /// Whether echoes are awaited now (between phases nothing moves).
    armed: AtomicBool,
    /// What the run is doing, for the message on a stall.
    phase: Mutex<String>,
}

static WATCH: Watch = Watch {
    progress: AtomicU64::new(0),
    armed: AtomicBool::new(false),
    phase: Mutex::new(String::new()),
};

/// Says what the run is doing; `armed`: echoes are awaited from now on.
fn phase(what: String, armed: bool) {
    *WATCH.phase.lock().unwrap() = what;
    // ORDERING: Relaxed: the watchdog only samples the flag; a sample a
    // moment late delays a stall report by at most one tick.
    WATCH.armed.store(armed, Ordering::Relaxed);
}

/// One more read of echoed bytes.
fn progressed() {
    // ORDERING: Relaxed: a counter the watchdog samples for change; no
    // other memory is published through it.
    WATCH.progress.fetch_add(1, Ordering::Relaxed);
}

/// Ends the process with a failure when no echoed byte arrives for
/// `STALL` while echoes are awaited, or when the run passes `DEADLINE`;
/// `describe` says what the iobuf pools hold.
fn watchdog(describe: impl Fn() -> String + Send + 'static) {
    std::thread::spawn(move || {
        let start = Instant::now();
        // ORDERING: Relaxed (both loads): see `phase` and `progressed`.
        let sample = || WATCH.progress.load(Ordering::Relaxed);
        let (mut last, mut since) = (sample(), Instant::now());
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = sample();
            if now != last || !WATCH.armed.load(Ordering::Relaxed) {
                (last, since) = (now, Instant::now());
            }
            let why = if since.elapsed() >= STALL {
                format!("stalled: no echoed byte for {STALL:?}")
            } else if start.elapsed() >= DEADLINE {
                format!("not done in {DEADLINE:?}")
            } else {
                continue;
            };
            let phase = WATCH.phase.lock().map(|p| p.clone()).unwrap_or_default();
            eprintln!("idle_connections: {why} ({phase}); {}", describe());
            std::process::exit(1);
        }
    });
}

/// A client socket's read half, telling the watchdog of each read that
/// brings echoed bytes.
struct Watched<R>(R);

impl<R: AsyncRead + Unpin> AsyncRead for Watched<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            progressed();
        }
        polled
    }
}

/// iobuf's pools: the read-ahead tier and the large one.
#[derive(Clone, Debug)]
struct IobufPools {
    read_ahead: Arc<MediumBufferPool>,
    large: Arc<LargeBufferPool>,
    pools: Pools,
}

impl IobufPools {
    /// Sized for the active connections only, committed now.
    fn new() -> io::Result<Self> {
        let each = 2 * ACTIVE;
        let prefault = PoolConfig::new().prefault(true);
        let read_ahead = Arc::new(
            MediumBufferPool::with_config(each, prefault.clone()).map_err(io::Error::other)?,
        );
        let large =
            Arc::new(LargeBufferPool::with_config(each, prefault).map_err(io::Error::other)?);
        let pools = Pools::new(Arc::clone(&read_ahead)).with(Arc::clone(&large));
        Ok(IobufPools {
            read_ahead,
            large,
            pools,
        })
    }

    fn capacity(&self) -> usize {
        self.read_ahead.capacity() + self.large.capacity()
    }

    fn bytes(&self) -> usize {
        self.read_ahead.capacity() * iobuf::BUFFER_SIZE_MEDIUM
            + self.large.capacity() * iobuf::BUFFER_SIZE_LARGE
    }

    /// Buffers held by someone (racy while the server runs).
    fn held(&self) -> usize {
        self.capacity() - self.read_ahead.available() - self.large.available()
    }

    /// The bytes of those buffers.
    fn held_bytes(&self) -> usize {
        (self.read_ahead.capacity() - self.read_ahead.available()) * iobuf::BUFFER_SIZE_MEDIUM
            + (self.large.capacity() - self.large.available()) * iobuf::BUFFER_SIZE_LARGE
    }

    /// The pools' state, for a failure message.
    fn describe(&self) -> String {
        let (r, l) = (self.read_ahead.stats(), self.large.stats());
        let mut text = format!(
            "iobuf pools: read-ahead {} of {} held, {} waiting; large {} of {} held, {} waiting",
            r.in_use, r.capacity, r.waiting, l.in_use, l.capacity, l.waiting
        );
        if r.waiting + l.waiting > 0 {
            text += " (readers wait for buffers that other readers hold)";
        }
        text
    }

    /// Waits, a bounded time, for every buffer to come home; `false` if
    /// one did not. A thread that just put one back may still be moving its
    /// cache.
    fn all_home(&self) -> bool {
        let start = Instant::now();
        while self.held() != 0 {
            if start.elapsed() > HOME_WAIT {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }
}

/// Echoes one connection through iobuf's frame reader and writer until the
/// peer closes.
async fn serve_iobuf(mut stream: TcpStream, pools: Pools) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (rx, tx) = stream.split();
    // Frames keep their header, so each goes back exactly as it came in.
    let codec = LengthDelimited::builder()
        .max_frame_length(MAX_PAYLOAD)
        .length_adjustment(4)
        .num_skip(0)
        .new_codec();
    // Takes a buffer only once the socket is readable.
    let mut frames = AsyncFrameReader::with_readiness(rx, codec, pools)?;
    let mut out = AsyncFrameWriter::new(tx);
    loop {
        // Every frame ready without waiting is queued; the queue is written
        // when the next frame would wait (the writer also writes once its
        // high-water mark is passed).
        let frame = match poll_fn(|cx| Poll::Ready(frames.poll_read_frame(cx))).await {
            Poll::Ready(frame) => frame?,
            Poll::Pending => {
                out.flush().await?;
                frames.read_frame().await?
            }
        };
        let Some(frame) = frame else { break };
        out.send(frame).await?;
    }
    out.flush().await
}

/// Echoes one connection through `Framed` + `LengthDelimitedCodec`, as it
/// comes (`Framed::new`).
async fn serve_framed(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_PAYLOAD)
        .new_codec();
    let mut framed = Framed::new(stream, codec);
    loop {
        let frame = match poll_fn(|cx| Poll::Ready(framed.poll_next_unpin(cx))).await {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                SinkExt::<Bytes>::flush(&mut framed).await?;
                framed.next().await
            }
        };
        let Some(frame) = frame else { break };
        // The payload; the encoder writes the header in front of it.
        framed.feed(frame?.freeze()).await?;
    }
    SinkExt::<Bytes>::flush(&mut framed).await
}

/// Echoes one connection by hand: reserve room in a `BytesMut`, read,
/// freeze each complete frame off its front, write them all back.
async fn serve_bytesmut(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(READ_ROOM);
    let mut queue = std::collections::VecDeque::new();
    loop {
        buf.reserve(READ_ROOM);
        if stream.read_buf(&mut buf).await? == 0 {
            if !buf.is_empty() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            return Ok(());
        }
        while let Some(len) = complete_frame(&buf)? {
            queue.push_back(buf.split_to(len).freeze());
        }
        write_queue(&mut stream, &mut queue).await?;
    }
}

thread_local! {
    /// The baseline server's read buffer: one per worker thread, shared by
    /// every connection the thread serves.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; BURST].into_boxed_slice());
}

/// Reads what `stream` has into this thread's scratch buffer and writes it
/// straight back; what a write does not take goes to `left`. `None` if
/// nothing was ready, `Some(0)` at the end of the stream.
fn echo_ready(stream: &TcpStream, left: &mut Vec<u8>) -> io::Result<Option<usize>> {
    SCRATCH.with_borrow_mut(|scratch| {
        let n = match stream.try_read(scratch) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut data = &scratch[..n];
        while !data.is_empty() {
            match stream.try_write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => data = &data[w..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    left.extend_from_slice(data);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Some(n))
    })
}

/// The baseline: echoes bytes, frames or not, holding no buffer while the
/// connection is idle.
async fn serve_baseline(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut left = Vec::new();
    loop {
        stream.readable().await?;
        match echo_ready(&stream, &mut left)? {
            None => continue,
            Some(0) => return Ok(()),
            Some(_) => {}
        }
        while !left.is_empty() {
            stream.writable().await?;
            match stream.try_write(&left) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => drop(left.drain(..w)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        // Hand the memory back: an idle connection holds nothing.
        left = Vec::new();
    }
}

/// Accepts connections and serves each with `server` until `stop`, then
/// until each closes; the first error of a connection ends it.
async fn serve(
    listener: TcpListener,
    server: Server,
    pools: Pools,
    mut stop: oneshot::Receiver<()>,
) -> io::Result<()> {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                match server {
                    Server::Baseline => conns.spawn(serve_baseline(stream)),
                    Server::Iobuf => conns.spawn(serve_iobuf(stream, pools.clone())),
                    Server::Framed => conns.spawn(serve_framed(stream)),
                    Server::BytesMut => conns.spawn(serve_bytesmut(stream)),
                };
            }
            Some(done) = conns.join_next() => done.map_err(io::Error::other)??,
            _ = &mut stop => break,
        }
    }
    while let Some(done) = conns.join_next().await {
        done.map_err(io::Error::other)??;
    }
    Ok(())
}

/// Echoed bytes compared with those sent, and how many differed.
#[derive(Clone, Copy, Debug, Default)]
struct Checked {
    bytes: u64,
    mismatches: u64,
}

impl Checked {
    fn add(&mut self, other: Checked) {
        self.bytes += other.bytes;
        self.mismatches += other.mismatches;
    }
}

/// One run of the active load: the median of its measured windows.
#[derive(Clone, Copy, Debug)]
struct Active {
    /// Frames/s of the median window.
    rate: f64,
}

/// The end of the warm-up and of each measured window, each set by the
/// last connection to reach the barrier there.
type Marks = Mutex<Vec<Instant>>;

/// One active connection: a warm-up, then the measured windows, each
/// pipelined and drained.
async fn active_conn(
    addr: SocketAddr,
    conn: usize,
    config: Config,
    barrier: Arc<Barrier>,
    marks: Arc<Marks>,
) -> io::Result<ConnLoad> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let flight = InFlight::new(conn, IN_FLIGHT);
    let mut buf = vec![0; 256 << 10];
    let mut batch = Vec::with_capacity(IN_FLIGHT * (HEADER + MAX_PAYLOAD));
    let (mut sent_sizes, mut echo_sizes) = (Sizes::new(conn), Sizes::new(conn));
    let mut load = ConnLoad::default();
    let (rx, mut tx) = stream.split();
    let mut rx = Watched(rx);
    let phases = std::iter::once(0..config.warmup).chain((0..config.windows).map(|w| {
        let start = config.warmup + w * config.frames;
        start..start + config.frames
    }));
    for frames in phases {
        let mut bytes = 0;
        tokio::try_join!(
            send_frames(
                &mut tx,
                &flight,
                &mut sent_sizes,
                frames.clone(),
                &mut batch,
                &mut bytes
            ),
            check_echoes(
                &mut rx,
                &flight,
                &mut echo_sizes,
                frames,
                &mut buf,
                &mut load
            ),
        )?;
        load.measured_bytes += bytes;
        if barrier.wait().await.is_leader() {
            marks.lock().unwrap().push(Instant::now());
        }
    }
    tx.shutdown().await?;
    if rx.read(&mut buf).await? != 0 {
        return Err(io::Error::other("bytes echoed after the last frame"));
    }
    Ok(load)
}

/// Runs the active load once against `addr`.
async fn active_load(addr: SocketAddr, config: Config) -> io::Result<(Active, Checked)> {
    let barrier = Arc::new(Barrier::new(ACTIVE));
    let marks = Arc::new(Marks::default());
    let mut conns = JoinSet::new();
    for conn in 0..ACTIVE {
        let client = active_conn(addr, conn, config, barrier.clone(), marks.clone());
        conns.spawn(client);
    }
    let mut checked = Checked::default();
    // The first error ends the run (dropping the set aborts the others).
    while let Some(load) = conns.join_next().await {
        let load = load.map_err(io::Error::other)??;
        checked.add(Checked {
            bytes: load.bytes_checked,
            mismatches: load.mismatches,
        });
    }
    let marks = marks.lock().unwrap();
    let frames = (ACTIVE * config.frames) as f64;
    let mut rates: Vec<f64> = marks
        .windows(2)
        .map(|w| frames / (w[1] - w[0]).as_secs_f64())
        .collect();
    rates.sort_by(f64::total_cmp);
    let rate = rates[rates.len() / 2];
    Ok((Active { rate }, checked))
}

/// An opener's buffers, allocated once for the whole run so that opening
/// idle connections allocates nothing on the client's side but the
/// sockets' own.
#[derive(Debug)]
struct Opener {
    sent: Vec<u8>,
    frame: Vec<u8>,
    echo: Vec<u8>,
}

impl Opener {
    fn new() -> Self {
        Opener {
            sent: Vec::with_capacity(BURST),
            frame: Vec::with_capacity(BURST),
            echo: vec![0; BURST],
        }
    }
}

/// Opens idle connections `k`, `k + OPENING`, … below `n`: each connects,
/// bursts, checks its echo, and joins `idle`.
async fn open_some(
    addr: SocketAddr,
    k: usize,
    n: usize,
    opener: &mut Opener,
    idle: &RefCell<Vec<TcpStream>>,
) -> io::Result<Checked> {
    let mut checked = Checked::default();
    for i in (k..n).step_by(OPENING) {
        let conn = IDLE_BASE + i;
        opener.sent.clear();
        for (f, &len) in BURST_FRAMES.iter().enumerate() {
            fill_frame(&mut opener.frame, conn, f, len - HEADER);
            opener.sent.extend_from_slice(&opener.frame);
        }
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        stream.write_all(&opener.sent).await?;
        let mut got = 0;
        while got < BURST {
            let n = stream.read(&mut opener.echo[got..]).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the server closed idle connection {i} before its burst was echoed"),
                ));
            }
            progressed();
            got += n;
        }
        checked.bytes += BURST as u64;
        checked.mismatches += (opener.echo.iter().zip(&opener.sent))
            .filter(|(a, b)| a != b)
            .count() as u64;
        idle.borrow_mut().push(stream);
    }
    Ok(checked)
}

/// Opens `n` idle connections, `OPENING` at a time, into `idle` (which has
/// room for them).
async fn open_idle(
    addr: SocketAddr,
    n: usize,
    openers: &mut [Opener],
    idle: &RefCell<Vec<TcpStream>>,
) -> io::Result<Checked> {
    let opening = openers
        .iter_mut()
        .enumerate()
        .map(|(k, opener)| open_some(addr, k, n, opener, idle));
    let mut checked = Checked::default();
    for c in try_join_all(opening).await? {
        checked.add(c);
    }
    Ok(checked)
}

/// The process's resident memory, in bytes, after handing free heap memory
/// back to the OS.
fn rss() -> io::Result<u64> {
    trim_heap();
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::other(format!("/proc/self/statm: unexpected {statm:?}")))?;
    Ok(pages * iobuf::page_size() as u64)
}

/// Hands free heap memory of every arena back to the OS (glibc), so that
/// memory one server freed and the next reuses shows in the next's RSS.
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases free memory of glibc's arenas
    // (under their locks); it takes no pointer and leaves every live
    // allocation untouched.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What one server measured.
#[derive(Clone, Debug)]
struct Measured {
    server: Server,
    /// Active frames/s with no idle connection open: before the first
    /// opening and after each closing (none for the baseline).
    without: Vec<f64>,
    /// Active frames/s beside the open idle connections, once per opening.
    with: Vec<f64>,
    /// RSS growth over opening the idle connections, per connection, once
    /// per opening.
    gross_per_idle: Vec<f64>,
    /// The most pooled buffers held once the idle connections were silent,
    /// with no other connection open (iobuf only).
    held_idle: Option<usize>,
    /// The bytes of those buffers (the most of any opening).
    held_idle_bytes: usize,
    checked: Checked,
    /// Every buffer home after the server's connections closed (iobuf).
    home: bool,
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

impl Measured {
    /// Frames/s with the idle connections open over frames/s without them:
    /// the means of the runs, which alternate.
    fn ratio(&self) -> f64 {
        mean(&self.with) / mean(&self.without)
    }

    /// RSS growth per idle connection, the mean of the openings.
    fn gross(&self) -> f64 {
        mean(&self.gross_per_idle)
    }
}

/// The server's multi-thread runtime (2 workers) and the client's
/// current-thread one, run on the calling thread.
#[derive(Debug)]
struct Runtimes {
    server: Runtime,
    client: Runtime,
}

fn runtimes(pools: &IobufPools) -> io::Result<Runtimes> {
    let warm = pools.clone();
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREAD)
        // A thread's first `get` from a pool makes its cache (where the
        // pool has caches): once per thread, before anything is measured.
        .on_thread_start(move || {
            drop(warm.read_ahead.try_get());
            drop(warm.large.try_get());
        })
        .enable_all()
        .build()?;
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(Runtimes { server, client })
}

/// The client's side, kept for the whole run.
#[derive(Debug)]
struct Client {
    openers: Vec<Opener>,
    /// The idle connections, room for all of them made up front.
    idle: RefCell<Vec<TcpStream>>,
}

/// One active run, under the watchdog: its frames/s; its checked bytes
/// go to `checked`.
async fn active_run(
    addr: SocketAddr,
    config: Config,
    what: String,
    checked: &mut Checked,
) -> io::Result<f64> {
    phase(what, true);
    let (run, c) = active_load(addr, config).await?;
    checked.add(c);
    Ok(run.rate)
}

/// Serves with `server` on a fresh loopback listener and runs its load:
/// the active load alone, then `openings` times: open the idle
/// connections, the active load beside them, close them, the active load
/// alone. The baseline runs no active load.
fn measure(
    rt: &Runtimes,
    config: Config,
    server: Server,
    openings: usize,
    pools: &IobufPools,
    client: &mut Client,
) -> io::Result<Measured> {
    let listener = rt.server.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    let served = rt
        .server
        .spawn(serve(listener, server, pools.pools.clone(), stopped));
    let name = server.name();
    let active = server != Server::Baseline;
    let mut m = Measured {
        server,
        without: Vec::new(),
        with: Vec::new(),
        gross_per_idle: Vec::new(),
        held_idle: None,
        held_idle_bytes: 0,
        checked: Checked::default(),
        home: true,
    };
    let load = rt.client.block_on(async {
        if active {
            let what = format!("{name}: active load before the idle connections");
            m.without
                .push(active_run(addr, config, what, &mut m.checked).await?);
        }
        for k in 1..=openings {
            phase(format!("{name}: settling ({k})"), false);
            tokio::time::sleep(SETTLE).await;
            let rss_before = rss()?;
            phase(format!("{name}: opening the idle connections ({k})"), true);
            let c = open_idle(addr, config.idle, &mut client.openers, &client.idle).await?;
            m.checked.add(c);
            phase(format!("{name}: idle connections silent ({k})"), false);
            tokio::time::sleep(SETTLE).await;
            if server == Server::Iobuf {
                // Buffers of the last echoes may be on their way home still.
                let start = Instant::now();
                while pools.held() != 0 && start.elapsed() < Duration::from_secs(1) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                m.held_idle = Some(m.held_idle.unwrap_or(0).max(pools.held()));
                m.held_idle_bytes = m.held_idle_bytes.max(pools.held_bytes());
            }
            let rss_after = rss()?;
            m.gross_per_idle
                .push((rss_after as f64 - rss_before as f64) / config.idle.max(1) as f64);
            if active {
                let what = format!("{name}: active load beside the idle connections ({k})");
                m.with
                    .push(active_run(addr, config, what, &mut m.checked).await?);
            }
            client.idle.borrow_mut().clear();
            phase(format!("{name}: closing the idle connections ({k})"), false);
            tokio::time::sleep(SETTLE).await;
            if active {
                let what = format!("{name}: active load after closing them ({k})");
                m.without
                    .push(active_run(addr, config, what, &mut m.checked).await?);
            }
        }
        io::Result::Ok(())
    });
    client.idle.borrow_mut().clear();
    if let Err(e) = load {
        served.abort();
        return Err(io::Error::new(e.kind(), format!("{name}: {e}")));
    }
    // Every client connection is closed: the server's end as they do.
    let _ = stop.send(());
    rt.server
        .block_on(served)
        .map_err(io::Error::other)?
        .map_err(|e| io::Error::new(e.kind(), format!("{name} server: {e}")))?;
    m.home = server != Server::Iobuf || pools.all_home();
    Ok(m)
}

/// Raises the soft limit on open files to the hard limit if it is below
/// `need`; the error says what to do when the hard limit is too low.
fn raise_fd_limit(need: usize) -> Result<(), String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` through the pointer, which
    // points to a live, writable `rlimit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!("getrlimit: {}", io::Error::last_os_error()));
    }
    let need = need as libc::rlim_t;
    if limit.rlim_cur >= need {
        return Ok(());
    }
    if limit.rlim_max != libc::RLIM_INFINITY && limit.rlim_max < need {
        let fit = (limit.rlim_max as usize).saturating_sub(FD_SLACK) / 2;
        return Err(format!(
            "needs {need} open files (2 per connection: client and server share this process), \
             and the hard limit is {}: raise it (`ulimit -Hn`, systemd's LimitNOFILE) or pass \
             --idle {}",
            limit.rlim_max,
            fit.saturating_sub(ACTIVE)
        ));
    }
    let raised = libc::rlimit {
        rlim_cur: if limit.rlim_max == libc::RLIM_INFINITY {
            need
        } else {
            limit.rlim_max
        },
        rlim_max: limit.rlim_max,
    };
    // SAFETY: `setrlimit` reads one `rlimit` through the pointer, which
    // points to a live `rlimit`.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(format!(
            "setrlimit(RLIMIT_NOFILE, {}): {}",
            raised.rlim_cur,
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn parse_args() -> Result<Config, String> {
    // `--quick` is the base the other flags change, wherever it stands.
    let quick = std::env::args().any(|a| a == "--quick");
    let mut config = if quick {
        Config::quick()
    } else {
        Config::full()
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--idle" => {
                let v = args.next().ok_or("--idle needs a value")?;
                config.idle = v
                    .replace('_', "")
                    .parse()
                    .map_err(|_| format!("--idle: not a number: {v}"))?;
            }
            "--quick" => {}
            "--help" | "-h" => {
                return Err("usage: idle_connections [--idle N] [--quick]".into());
            }
            other => return Err(format!("unknown flag {other}; try --help")),
        }
    }
    Ok(config)
}

/// Runs every server in turn.
fn run(config: &Config, pools: &IobufPools) -> io::Result<Vec<Measured>> {
    // Made before any connection starts.
    pattern_table();
    let rt = runtimes(pools)?;
    let mut client = Client {
        openers: (0..OPENING).map(|_| Opener::new()).collect(),
        idle: RefCell::new(Vec::with_capacity(config.idle)),
    };
    // The baseline's connections once, unmeasured: the runtimes' and the
    // allocator's structures grow to their size here, for every server.
    measure(&rt, *config, Server::Baseline, 1, pools, &mut client)?;
    let rates = |rates: &[f64]| {
        let rates: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        rates.join(" ")
    };
    let mut all = Vec::with_capacity(Server::ALL.len());
    for server in Server::ALL {
        let started = Instant::now();
        let m = measure(&rt, *config, server, config.openings, pools, &mut client)?;
        let gross: Vec<String> = m
            .gross_per_idle
            .iter()
            .map(|g| format!("{g:+.0}"))
            .collect();
        let mut line = format!(
            "{}: RSS {} B per idle connection (gross, per opening)",
            server.name(),
            gross.join(" ")
        );
        if server != Server::Baseline {
            line += &format!(
                "; active frames/s without idle connections {}, beside them {}",
                rates(&m.without),
                rates(&m.with)
            );
        }
        println!("{line} ({:.1} s)", started.elapsed().as_secs_f64());
        all.push(m);
    }
    Ok(all)
}

fn main() {
    let config = match parse_args() {
        Ok(config) => config,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    if let Err(msg) = raise_fd_limit(2 * (config.idle + ACTIVE) + FD_SLACK) {
        eprintln!("idle_connections: {msg}");
        std::process::exit(2);
    }
    let pools = match IobufPools::new() {
        Ok(pools) => pools,
        Err(err) => {
            eprintln!("idle_connections: the iobuf pools: {err}");
            std::process::exit(1);
        }
    };
    let describe = pools.clone();
    watchdog(move || describe.describe());
    println!(
        "idle_connections: {} idle connections (a {BURST}-byte burst each, then silent) + \
         {ACTIVE} active ({IN_FLIGHT} frames of 0..={MAX_PAYLOAD} bytes in flight each, \
         {} + {} frames per run), per server, 127.0.0.1",
        config.idle, config.warmup, config.frames
    );
    println!(
        "iobuf pools: {} x {} B read-ahead + {} x {} B for larger frames = {:.2} MiB, committed \
         at creation, sized for the active connections only",
        pools.read_ahead.capacity(),
        iobuf::BUFFER_SIZE_MEDIUM,
        pools.large.capacity(),
        iobuf::BUFFER_SIZE_LARGE,
        pools.bytes() as f64 / f64::from(1 << 20),
    );
    let measured = match run(&config, &pools) {
        Ok(measured) => measured,
        Err(err) => {
            eprintln!("idle_connections failed: {err}; {}", pools.describe());
            std::process::exit(1);
        }
    };
    let baseline = measured[0].gross();
    let get = |s: Server| measured.iter().find(|m| m.server == s).expect("measured");
    let (iobuf, framed, bytesmut) = (
        get(Server::Iobuf),
        get(Server::Framed),
        get(Server::BytesMut),
    );
    println!(
        "{:<9} {:>14} {:>14} {:>6} {:>14} {:>12}",
        "server", "without f/s", "beside f/s", "ratio", "RSS/idle (B)", "gross (B)"
    );
    for m in &measured {
        let (without, with, ratio) = if m.server == Server::Baseline {
            ("-".into(), "-".into(), "-".into())
        } else {
            (
                format!("{:.0}", mean(&m.without)),
                format!("{:.0}", mean(&m.with)),
                format!("{:.3}", m.ratio()),
            )
        };
        println!(
            "{:<9} {:>14} {:>14} {:>6} {:>14.0} {:>12.0}",
            m.server.name(),
            without,
            with,
            ratio,
            m.gross() - baseline,
            m.gross()
        );
    }
    println!(
        "(f/s: active frames/s, mean of the runs; ratio: beside / without; RSS/idle: RSS \
         growth per idle connection over the baseline's; gross: before subtracting it)"
    );
    let held_idle = iobuf
        .held_idle
        .expect("the iobuf server counts its buffers");
    println!(
        "iobuf: {held_idle} of {} pooled buffers held while only the idle connections were open \
         ({:.0} B of pool per idle connection)",
        pools.capacity(),
        iobuf.held_idle_bytes as f64 / config.idle.max(1) as f64
    );
    let mut checked = Checked::default();
    for m in &measured {
        checked.add(m.checked);
    }
    println!(
        "echoed bytes checked: {}, {} differed",
        checked.bytes, checked.mismatches
    );
    let mut failed = false;
    if checked.mismatches != 0 {
        eprintln!("idle_connections: echoed bytes differed from those sent");
        failed = true;
    }
    if !iobuf.home {
        eprintln!(
            "idle_connections: a pooled buffer did not come home; {}",
            pools.describe()
        );
        failed = true;
    }
    if held_idle > 0 {
        eprintln!(
            "idle_connections: the iobuf server held {held_idle} pooled buffers for idle \
             connections"
        );
        failed = true;
    }
    println!(
        "summary: idle={} iobuf_active_ratio={:.3} iobuf_held_idle={held_idle} \
         iobuf_rss_per_idle={:.0} framed_rss_per_idle={:.0} bytesmut_rss_per_idle={:.0}",
        config.idle,
        iobuf.ratio(),
        iobuf.gross() - baseline,
        framed.gross() - baseline,
        bytesmut.gross() - baseline,
    );
    if failed {
        std::process::exit(1);
    }
}
