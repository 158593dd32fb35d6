//! A length-delimited echo over tokio on loopback, served three ways under
//! the same client in one run: iobuf's frame reader and writer, tokio-util's
//! `Framed` with `LengthDelimitedCodec`, and a hand-written `BytesMut`
//! pipeline.
//!
//! Every frame is a u32 big-endian length, then 0 to 65,536 bytes of
//! payload; sizes come from a small deterministic generator: 1 % empty,
//! 60 % up to 2 KiB, 25 % up to 8 KiB, the rest up to 64 KiB. So one read
//! can bring a dozen small frames, or part of one large frame.
//!
//! The servers (a multi-thread runtime, 2 workers), each echoing every
//! frame, header included:
//!
//! - **iobuf**: `AsyncFrameReader::with_readiness` (a buffer only once the
//!   socket is readable) with `LengthDelimited`'s `num_skip(0)` reads into
//!   pooled buffers (512 KiB `GreatBuffer`s on the default load) and hands
//!   out each frame as a `View` of the read buffer: the first of a read
//!   from `read_frame`, the others from `next_buffered`; `AsyncFrameWriter`
//!   queues the views (`feed`) and writes them with vectored writes. No copy and no
//!   allocation per frame; a buffer goes home once its last frame has been
//!   written and the reader has moved on.
//! - **framed**: `Framed<_, LengthDelimitedCodec>`: each decoded frame is
//!   fed back to the sink, whose encoder writes the header and copies the
//!   payload into its write buffer.
//! - **bytesmut**: read into a `BytesMut`, `split_to(len).freeze()` each
//!   complete frame, write them all back with vectored writes, then
//!   reserve and read again.
//!
//! The three get the same room to read into (512 KiB on the default load;
//! see `Load` for the others), and write at the same moments: iobuf
//! flushes once it has fed the frames of a read (`next_buffered` says
//! `None`), as the `BytesMut` loop writes after each read, and framed
//! feeds every frame that is ready without waiting and flushes when the
//! next one would wait. (A `send` per frame would cost a write per
//! frame; flushing only at a high-water mark would leave a pipelining
//! client waiting for echoes that never come.)
//!
//! The client runs on a current-thread runtime on the main thread: 16
//! connections, each writing up to 8 frames ahead of the echoes it has
//! checked (all that its window allows in one write), and checking every
//! byte of every echo against what it sent (a pattern that differs per
//! connection, frame and offset). Each round serves the same frames with
//! each server in turn, in a rotating order. After each warm-up, inside
//! the measured window only, it counts frames/s; the process's heap
//! allocations (a counting global allocator: the client makes none after
//! its warm-up, so they are the server's); the server's reads that
//! returned data and its writes (calls, slices per call and bytes per call:
//! a wrapper around its socket counts them); and the CPU
//! time of the server's threads and of the client's (Linux's per-thread
//! `schedstat`). On loopback a sender's system call also runs the
//! receiver's TCP input, so each side's CPU includes some of the other's.
//!
//! ```text
//! cargo run --release --example frame_echo
//! cargo run --release --example frame_echo -- --quick
//! cargo run --release --example frame_echo -- --load tiny
//! cargo run --release --example frame_echo -- --load mixed --quick
//! cargo run --release --example frame_echo -- --frames 5000 --rounds 20
//! cargo run --release --example frame_echo -- --listen 127.0.0.1:7000
//! ```
//!
//! Flags: `--load mix|tiny|mixed` (the sizes, connections, frames in
//! flight and read-ahead of the load, see `Load`; default `mix`, the one
//! described above), `--connections N` (default 16), `--frames N` measured per
//! connection and round (2 000), `--warmup N` per connection and round
//! (300), `--rounds N` (20), `--in-flight N` frames per connection (8),
//! `--quick` (1 round of 400 after 200, for CI; the other flags still
//! apply).
//!
//! With `--listen ADDR` it only serves (the iobuf server) until killed.
//! Otherwise it exits 1 if an echoed byte differed, a pooled buffer was not
//! home after the iobuf server's connections closed, or the iobuf server
//! allocated 0.01 times per frame or more after warm-up; its last line is
//! machine-readable:
//!
//! ```text
//! summary: iobuf=<frames/s> framed=<frames/s> bytesmut=<frames/s> iobuf_allocs_per_frame=<x> iobuf_reads_per_frame=<x> framed_reads_per_frame=<x> load=<name> bytesmut_reads_per_frame=<x> iobuf_cpu_per_frame=<us> framed_cpu_per_frame=<us> bytesmut_cpu_per_frame=<us>
//! ```
//!
//! The `*_cpu_per_frame` fields are each server's CPU time per measured
//! frame, in microseconds: what decides, since the client, not the
//! server, is the bottleneck of frames/s.
//!
//! Client and servers share the machine's cores: the figures compare the
//! three servers under one load on one host, they are no absolute server
//! benchmark. The client's thread is the busiest, so frames/s moves with
//! anything else the machine runs; the server CPU per frame moves less.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use iobuf::frame::{AsyncFrameReader, AsyncFrameWriter, LengthDelimited, Pools, ReadReady};
use iobuf::{BoundedPool, BufferTier};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::Barrier;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Counts every allocation of the process, to show what the hot path costs.
#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

/// The frames, their sizes and byte patterns, and the pipelining client's
/// halves (shared with `idle_connections`).
#[path = "support/frame_load.rs"]
mod frame_load;
use frame_load::{
    ConnLoad, Dist, HEADER, InFlight, Sizes, check_echoes, complete_frame, pattern_table,
    send_frames, write_queue,
};

/// The load's shape: frame sizes, and how much room each server reads
/// into.
///
/// - `mix` (the default): the sizes above; 16 connections, 8 frames in
///   flight each; every server reads into 512 KiB (iobuf: a
///   `GreatBufferPool`; `Framed`'s initial capacity; what the `BytesMut`
///   server reserves before each read).
/// - `tiny`: payloads of 16 to 200 bytes; 64 connections, 64 frames in
///   flight each; `Framed` and `BytesMut` read into 16 KiB, iobuf into
///   32 KiB `BigBuffer`s (no tier is 16 KiB: 32 KiB is what the `BytesMut`
///   server's buffer, twice what it reserves, offers a read at most).
/// - `mixed`: payloads of 16 bytes to 60 KiB (60 % up to 2 KiB, 25 % up to
///   8 KiB, 15 % up to 60 KiB); 64 connections, 8 in flight; a 16 KiB
///   read-ahead for `Framed` and `BytesMut`, iobuf's as for `tiny`, with a
///   tier of 128 KiB `LargeBuffer`s for the frames that do not fit one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Load {
    Mix,
    Tiny,
    Mixed,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::Mix => "mix",
            Load::Tiny => "tiny",
            Load::Mixed => "mixed",
        }
    }

    fn parse(name: &str) -> Option<Load> {
        [Load::Mix, Load::Tiny, Load::Mixed]
            .into_iter()
            .find(|l| l.name() == name)
    }

    fn dist(self) -> Dist {
        match self {
            Load::Mix => Dist::Mix,
            Load::Tiny => Dist::Tiny,
            Load::Mixed => Dist::Mixed,
        }
    }

    /// The longest payload of the load: also every server's maximum.
    fn max_payload(self) -> usize {
        self.dist().max_payload()
    }

    /// `Framed`'s initial read capacity, and what the `BytesMut` server
    /// reserves before each read.
    fn peer_read_ahead(self) -> usize {
        match self {
            Load::Mix => iobuf::BUFFER_SIZE_GREAT,
            Load::Tiny | Load::Mixed => 16 << 10,
        }
    }

    /// The iobuf server's read-ahead buffer size.
    fn read_ahead(self) -> usize {
        match self {
            Load::Mix => iobuf::BUFFER_SIZE_GREAT,
            Load::Tiny | Load::Mixed => iobuf::BUFFER_SIZE_BIG,
        }
    }

    /// What the sizes are, for the header of the output.
    fn describe(self) -> &'static str {
        match self {
            Load::Mix => {
                "0..=65536 bytes (1 % empty, 60 % <= 2 KiB, 25 % <= 8 KiB, 14 % <= 64 KiB)"
            }
            Load::Tiny => "16..=200 bytes",
            Load::Mixed => "16..=61440 bytes (60 % <= 2 KiB, 25 % <= 8 KiB, 15 % <= 60 KiB)",
        }
    }
}

/// Bytes the `Framed` server queues before it writes without waiting for
/// the reader to run dry. Above what a connection usually has in flight
/// (8 frames of 7 KiB on average), so that it writes once per batch the
/// client sends, as the `BytesMut` server does (`Framed`'s default, 8 KiB,
/// would add writes in the middle of a batch). The iobuf server only
/// feeds, which ignores the mark: what it queues is bounded by one read.
const WRITE_HIGH_WATER: usize = 256 << 10;

/// Buffers of the iobuf server's pool beyond what its connections can
/// hold: slack for buffers idle in the workers' thread caches.
const POOL_SLACK: usize = 16;

/// A round's load on one server must finish within this, or the run fails
/// (instead of hanging, say, on a server that stopped echoing).
const DEADLINE: Duration = Duration::from_secs(300);

/// How long the buffers get to come home after the iobuf server's
/// connections closed.
const HOME_WAIT: Duration = Duration::from_secs(5);

/// Server reads that returned data, every connection together.
static SERVER_READS: AtomicU64 = AtomicU64::new(0);

fn server_reads() -> u64 {
    // ORDERING: Relaxed: a statistics counter, read across barrier waits
    // and task joins, which order the increments they cover.
    SERVER_READS.load(Ordering::Relaxed)
}

/// Server writes that took bytes (each one `write`/`writev` system call),
/// the slices they were given, and the bytes they took, every connection
/// together.
static SERVER_WRITES: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

/// `SERVER_WRITES` now: calls, slices, bytes.
fn server_writes() -> [u64; 3] {
    // ORDERING: Relaxed: see `server_reads`.
    SERVER_WRITES.each_ref().map(|c| c.load(Ordering::Relaxed))
}

/// Counts one write that took `bytes` of `slices` slices.
fn count_write(slices: usize, bytes: usize) {
    for (counter, n) in SERVER_WRITES.iter().zip([1, slices, bytes]) {
        // ORDERING: Relaxed: see `server_reads`.
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// The load: the same for every server.
#[derive(Clone, Copy, Debug)]
struct Config {
    /// Frame sizes and read-ahead.
    load: Load,
    /// Client connections, served concurrently.
    connections: usize,
    /// Measured frames per connection and round.
    frames: usize,
    /// Frames per connection and round before measuring.
    warmup: usize,
    /// Rounds; each serves the load once with every server.
    rounds: usize,
    /// Frames a connection writes ahead of the echoes it has checked.
    in_flight: usize,
}

impl Default for Config {
    /// The measurement run: 20 rounds of 16 × 2 000 frames per server.
    /// Short rounds, interleaved, so that a burst of other load on the
    /// machine falls on all three servers alike.
    fn default() -> Self {
        Config {
            load: Load::Mix,
            connections: 16,
            frames: 2_000,
            warmup: 300,
            rounds: 20,
            in_flight: 8,
        }
    }
}

impl Config {
    /// The measurement run of `load`.
    fn of(load: Load) -> Self {
        match load {
            Load::Mix => Config::default(),
            Load::Tiny => Config {
                load,
                connections: 64,
                in_flight: 64,
                ..Config::default()
            },
            Load::Mixed => Config {
                load,
                connections: 64,
                frames: 1_000,
                ..Config::default()
            },
        }
    }

    /// `--quick`: one short round, for CI.
    fn quick(self) -> Self {
        Config {
            frames: 400,
            warmup: 200,
            rounds: 1,
            ..self
        }
    }

    /// The iobuf read-ahead pool. A connection holds its read-ahead
    /// buffer, and the buffers of its frames on their way back (each until
    /// written). Those frames are consecutive, and the reader leaves a
    /// buffer only after cutting at least `read_ahead - MAX_FRAME` bytes of
    /// frames from it: so at most `in_flight * MAX_FRAME / (read_ahead -
    /// MAX_FRAME)` whole buffers lie between the first frame's buffer and
    /// the read-ahead. Frames larger than a read-ahead buffer (`mixed`)
    /// leave it at once: then each frame in flight may hold its own.
    fn pool_capacity(&self) -> usize {
        let (max_frame, read_ahead) = (HEADER + self.load.max_payload(), self.load.read_ahead());
        let between = if max_frame * 2 <= read_ahead {
            (self.in_flight * max_frame).div_ceil(read_ahead - max_frame)
        } else {
            self.in_flight
        };
        self.connections * (2 + between) + POOL_SLACK
    }

    /// The `mixed` load's tier of large buffers: a frame that does not fit
    /// a read-ahead buffer moves into one, which then reads ahead until
    /// full. Two per connection: a connection rarely has more than one
    /// large frame in flight (a reader that finds none free waits for one).
    fn large_capacity(&self) -> usize {
        self.connections * 2 + POOL_SLACK
    }
}

/// The three servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    Iobuf,
    Framed,
    BytesMut,
}

impl Server {
    const ALL: [Server; 3] = [Server::Iobuf, Server::Framed, Server::BytesMut];

    fn name(self) -> &'static str {
        match self {
            Server::Iobuf => "iobuf",
            Server::Framed => "framed",
            Server::BytesMut => "bytesmut",
        }
    }
}

/// The server's socket, counting its reads that returned data and its
/// writes that took bytes.
#[derive(Debug)]
struct Counted<T>(T);

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            // ORDERING: Relaxed: see `server_reads`.
            SERVER_READS.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

/// Waits for the socket's readiness without a buffer (what
/// `AsyncFrameReader::with_readiness` asks for).
impl<T: ReadReady> ReadReady for Counted<T> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_read_ready(cx)
    }
}

/// Passed through untouched: vectored writes included, which `Framed` and
/// the frame writer rely on (the trait's default writes one slice a call).
impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.0).poll_write(cx, buf);
        if let Poll::Ready(Ok(n @ 1..)) = polled {
            count_write(1, n);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.0).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n @ 1..)) = polled {
            count_write(bufs.len(), n);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Echoes one connection through iobuf's frame reader and writer until the
/// peer closes.
async fn serve_iobuf(mut stream: TcpStream, pools: Pools, max_payload: usize) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (rx, tx) = stream.split();
    // Frames keep their header, so each goes back exactly as it came in.
    // (As in tokio-util, the adjustment then counts the 4-byte header.)
    let codec = LengthDelimited::builder()
        .max_frame_length(max_payload)
        .length_adjustment(4)
        .num_skip(0)
        .new_codec();
    // With readiness: a buffer is taken only once the socket is readable.
    let mut frames = AsyncFrameReader::with_readiness(Counted(rx), codec, pools)?;
    let mut out = AsyncFrameWriter::new(Counted(tx));
    // Each read's frames: the first from `read_frame`, the rest (already
    // read) from `next_buffered`, fed with no I/O; then one flush, as the
    // `BytesMut` server writes after each read.
    while let Some(frame) = frames.read_frame().await? {
        out.feed(frame);
        while let Some(frame) = frames.next_buffered()? {
            out.feed(frame);
        }
        out.flush().await?;
    }
    out.flush().await
}

/// Echoes one connection through `Framed` + `LengthDelimitedCodec`.
async fn serve_framed(stream: TcpStream, load: Load) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(load.max_payload())
        .new_codec();
    // Configured as the other two: as much room to read into (its default,
    // 8 KiB, would cost it 40 % more reads on the `mix` load) and the same
    // high-water mark.
    let mut framed = Framed::with_capacity(Counted(stream), codec, load.peer_read_ahead());
    framed.set_backpressure_boundary(WRITE_HIGH_WATER);
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

/// Echoes one connection by hand: read into a `BytesMut`, freeze each
/// complete frame off its front, write them all back, read again.
async fn serve_bytesmut(stream: TcpStream, read_ahead: usize) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut stream = Counted(stream);
    // Twice the room a read gets, so that `reserve` finds it in place, or
    // after moving a partial frame to the front.
    let mut buf = BytesMut::with_capacity(2 * read_ahead);
    let mut queue = VecDeque::new();
    loop {
        // The frames frozen last turn are written and dropped, so the
        // buffer is unique again and this allocates nothing.
        buf.reserve(read_ahead);
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

/// `--listen`: serves with iobuf to anyone, until killed.
async fn listen(listener: TcpListener, pools: Pools, max_payload: usize) -> io::Result<()> {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let pools = pools.clone();
                tokio::spawn(async move {
                    if let Err(err) = serve_iobuf(stream, pools, max_payload).await {
                        eprintln!("frame_echo: {peer}: {err}");
                    }
                });
            }
            Err(err) => {
                // Out of file descriptors, say: wait, then go on serving.
                eprintln!("frame_echo: accept: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Accepts the load's `n` connections, serves them with `server` until
/// each closes, and reports the first error.
async fn serve_load(
    listener: TcpListener,
    config: Config,
    server: Server,
    pools: Pools,
) -> io::Result<()> {
    let (n, load) = (config.connections, config.load);
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let (stream, _) = listener.accept().await?;
        conns.push(match server {
            Server::Iobuf => tokio::spawn(serve_iobuf(stream, pools.clone(), load.max_payload())),
            Server::Framed => tokio::spawn(serve_framed(stream, load)),
            Server::BytesMut => tokio::spawn(serve_bytesmut(stream, load.peer_read_ahead())),
        });
    }
    for conn in conns {
        conn.await.map_err(io::Error::other)??;
    }
    Ok(())
}

/// The server runtime's threads' name (at most 15 bytes: Linux keeps no
/// more of it, and `cpu_time` finds the threads by it).
const SERVER_THREAD: &str = "echo-server";

/// CPU time so far of the server runtime's threads (`server`), or of all
/// the others (the client's, on the main thread), from Linux's per-thread
/// `schedstat`; `None` where it cannot be read.
fn cpu_time(server: bool) -> Option<Duration> {
    let mut nanos = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        // A thread may end while it is read: it is skipped.
        let Ok(task) = task else { continue };
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(task.path().join("comm")),
            std::fs::read_to_string(task.path().join("schedstat")),
        ) else {
            continue;
        };
        if (comm.trim_end() == SERVER_THREAD) != server {
            continue;
        }
        nanos += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(nanos))
}

/// One edge of the measured window.
#[derive(Clone, Copy, Debug)]
struct Mark {
    at: Instant,
    allocations: u64,
    reads: u64,
    /// `server_writes`: calls, slices, bytes.
    writes: [u64; 3],
    /// CPU time of the server's threads and of the others (the client's).
    server_cpu: Option<Duration>,
    client_cpu: Option<Duration>,
}

impl Mark {
    /// The start of the window. Reading the CPU times allocates, so it
    /// comes before the allocation count.
    fn start() -> Mark {
        let (server_cpu, client_cpu) = (cpu_time(true), cpu_time(false));
        let allocations = allocations();
        let reads = server_reads();
        let writes = server_writes();
        Mark {
            at: Instant::now(),
            allocations,
            reads,
            writes,
            server_cpu,
            client_cpu,
        }
    }

    /// The end of the window: the CPU times after the allocation count.
    fn end() -> Mark {
        let at = Instant::now();
        let allocations = allocations();
        let reads = server_reads();
        let writes = server_writes();
        Mark {
            at,
            allocations,
            reads,
            writes,
            server_cpu: cpu_time(true),
            client_cpu: cpu_time(false),
        }
    }
}

/// The measured window's edges, each set by the last connection to reach
/// the barrier, before any other connection resumes (the client runtime
/// has one thread).
#[derive(Debug, Default)]
struct Window {
    start: Mutex<Option<Mark>>,
    end: Mutex<Option<Mark>>,
}

impl Window {
    /// What happened between the edges, `frames` and `bytes` aside.
    fn measured(&self) -> Measured {
        let start = self.start.lock().unwrap().expect("start marked");
        let end = self.end.lock().unwrap().expect("end marked");
        let cpu = |a: Option<Duration>, b: Option<Duration>| Some(b? - a?);
        Measured {
            elapsed: end.at - start.at,
            allocations: end.allocations - start.allocations,
            reads: end.reads - start.reads,
            writes: [0, 1, 2].map(|i| end.writes[i] - start.writes[i]),
            server_cpu: cpu(start.server_cpu, end.server_cpu),
            client_cpu: cpu(start.client_cpu, end.client_cpu),
            ..Measured::default()
        }
    }
}

/// What one server measured, over one round or several.
#[derive(Clone, Debug)]
struct Measured {
    /// Measured frames, all connections together.
    frames: u64,
    /// Bytes of those frames, headers included, one way.
    bytes: u64,
    elapsed: Duration,
    /// Heap allocations of the whole process in the measured window.
    allocations: u64,
    /// Server reads that returned data, in the measured window.
    reads: u64,
    /// Server writes that took bytes, the slices they were given and the
    /// bytes they took, in the measured window.
    writes: [u64; 3],
    /// CPU time of the server's threads, and of the client's, in the
    /// measured window (where Linux's `schedstat` can be read).
    server_cpu: Option<Duration>,
    client_cpu: Option<Duration>,
    /// Echoed bytes compared with those sent, warm-up included.
    bytes_checked: u64,
    /// Of those, the ones that differed (must be 0).
    mismatches: u64,
}

impl Default for Measured {
    /// Nothing yet: the sum of no rounds.
    fn default() -> Self {
        Measured {
            frames: 0,
            bytes: 0,
            elapsed: Duration::ZERO,
            allocations: 0,
            reads: 0,
            writes: [0; 3],
            server_cpu: Some(Duration::ZERO),
            client_cpu: Some(Duration::ZERO),
            bytes_checked: 0,
            mismatches: 0,
        }
    }
}

impl Measured {
    fn add(&mut self, other: &Measured) {
        self.frames += other.frames;
        self.bytes += other.bytes;
        self.elapsed += other.elapsed;
        self.allocations += other.allocations;
        self.reads += other.reads;
        for (sum, n) in self.writes.iter_mut().zip(other.writes) {
            *sum += n;
        }
        let sum = |a: Option<Duration>, b: Option<Duration>| Some(a? + b?);
        self.server_cpu = sum(self.server_cpu, other.server_cpu);
        self.client_cpu = sum(self.client_cpu, other.client_cpu);
        self.bytes_checked += other.bytes_checked;
        self.mismatches += other.mismatches;
    }

    fn frames_per_sec(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64()
    }

    fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64() / f64::from(1 << 20)
    }

    fn allocations_per_frame(&self) -> f64 {
        self.allocations as f64 / self.frames.max(1) as f64
    }

    fn reads_per_frame(&self) -> f64 {
        self.reads as f64 / self.frames.max(1) as f64
    }

    /// Writes per frame, slices per write, bytes per write.
    fn write_shape(&self) -> (f64, f64, f64) {
        let [calls, slices, bytes] = self.writes.map(|n| n as f64);
        (
            calls / self.frames.max(1) as f64,
            slices / calls.max(1.0),
            bytes / calls.max(1.0),
        )
    }

    /// CPU microseconds per frame, as text with `decimals` decimals ("-"
    /// where unknown).
    fn cpu_per_frame(&self, cpu: Option<Duration>, decimals: usize) -> String {
        cpu.map_or("-".into(), |cpu| {
            let us = cpu.as_secs_f64() * 1e6 / self.frames.max(1) as f64;
            format!("{us:.decimals$}")
        })
    }
}

/// One client connection: the warm-up, then the measured frames, each phase
/// pipelined and drained; everything it needs is allocated before.
async fn client(
    addr: SocketAddr,
    conn: usize,
    config: Config,
    phase: Arc<Barrier>,
    window: Arc<Window>,
) -> io::Result<ConnLoad> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let max_payload = config.load.max_payload();
    let flight = InFlight::with_max(conn, config.in_flight, max_payload);
    let mut buf = vec![0; 256 << 10];
    let mut batch = Vec::with_capacity(config.in_flight * (HEADER + max_payload));
    let dist = config.load.dist();
    let (mut sent_sizes, mut echo_sizes) =
        (Sizes::with_dist(conn, dist), Sizes::with_dist(conn, dist));
    let mut load = ConnLoad::default();
    let (mut rx, mut tx) = stream.split();
    let phases = [
        0..config.warmup,
        config.warmup..config.warmup + config.frames,
    ];
    for (i, frames) in phases.into_iter().enumerate() {
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
        if i == 1 {
            load.measured_bytes = bytes;
        }
        if phase.wait().await.is_leader() {
            let (slot, mark) = if i == 0 {
                (&window.start, Mark::start())
            } else {
                (&window.end, Mark::end())
            };
            *slot.lock().unwrap() = Some(mark);
        }
    }
    // Close our side; the server echoes nothing more and closes its own.
    tx.shutdown().await?;
    if rx.read(&mut buf).await? != 0 {
        return Err(io::Error::other("bytes echoed after the last frame"));
    }
    Ok(load)
}

/// Runs the client load against `addr`, every connection at once.
async fn drive(addr: SocketAddr, config: Config) -> io::Result<Measured> {
    let phase = Arc::new(Barrier::new(config.connections));
    let window = Arc::new(Window::default());
    let mut conns = tokio::task::JoinSet::new();
    for conn in 0..config.connections {
        let (phase, window) = (phase.clone(), window.clone());
        // Outside tokio's cooperative budget: a forced yield goes through
        // the scheduler's list of deferred wakers, a `Vec` that allocates
        // whenever more tasks defer in one tick than ever before: a rare
        // client-side allocation the count would pin on the server.
        let client = client(addr, conn, config, phase, window);
        conns.spawn(tokio::task::unconstrained(client));
    }
    // The first error ends the run at once (dropping the set aborts the
    // other connections, which would otherwise wait at the barrier).
    let mut loads = Vec::with_capacity(config.connections);
    while let Some(load) = conns.join_next().await {
        loads.push(load.map_err(io::Error::other)??);
    }
    Ok(Measured {
        frames: (config.connections * config.frames) as u64,
        bytes: loads.iter().map(|l| l.measured_bytes).sum(),
        bytes_checked: loads.iter().map(|l| l.bytes_checked).sum(),
        mismatches: loads.iter().map(|l| l.mismatches).sum(),
        ..window.measured()
    })
}

/// Serves with `server` on a fresh loopback listener and drives the load
/// at it.
fn measure(rt: &Runtimes, config: Config, server: Server, pools: &Pools) -> io::Result<Measured> {
    let listener = rt.server.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let served = rt
        .server
        .spawn(serve_load(listener, config, server, pools.clone()));
    let load = rt.client.block_on(async {
        tokio::time::timeout(DEADLINE, drive(addr, config))
            .await
            .unwrap_or_else(|_| Err(io::Error::other(format!("load not done in {DEADLINE:?}"))))
    });
    if load.is_err() {
        served.abort();
    }
    let load = load?;
    rt.server.block_on(served).map_err(io::Error::other)??;
    Ok(load)
}

/// The server's multi-thread runtime (2 workers) and the client's
/// current-thread one, run on the calling thread.
#[derive(Debug)]
struct Runtimes {
    server: Runtime,
    client: Runtime,
}

fn runtimes(pools: &IobufPools) -> io::Result<Runtimes> {
    let warm: Vec<_> = pools.tiers.iter().map(|t| Arc::clone(&t.warm)).collect();
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREAD)
        // A thread's first `get` from a pool makes the thread's cache (a few
        // allocations, once per thread and pool): each worker makes its own
        // as it starts, so that no frame pays for it.
        .on_thread_start(move || warm.iter().for_each(|w| w()))
        .enable_all()
        .build()?;
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(Runtimes { server, client })
}

/// One pool of the iobuf server, as the run checks it.
struct Tier {
    capacity: usize,
    available: Box<dyn Fn() -> usize>,
    waits: Box<dyn Fn() -> u64>,
    /// Takes a buffer and puts it back (a worker thread's cache).
    warm: Arc<dyn Fn() + Send + Sync>,
}

impl Tier {
    fn new<T: BufferTier>(capacity: usize) -> io::Result<(Tier, Arc<BoundedPool<T>>)> {
        let pool = Arc::new(BoundedPool::<T>::new(capacity).map_err(io::Error::other)?);
        let (a, w, h) = (pool.clone(), pool.clone(), pool.clone());
        let tier = Tier {
            capacity,
            available: Box::new(move || a.available()),
            waits: Box::new(move || w.stats().task_waits),
            warm: Arc::new(move || drop(h.try_get())),
        };
        Ok((tier, pool))
    }
}

/// The iobuf server's pools: the read-ahead pool and, for `mixed`, the
/// tier of large buffers.
struct IobufPools {
    pools: Pools,
    tiers: Vec<Tier>,
}

/// The iobuf server's pools for `config`'s load: 512 KiB buffers (`mix`:
/// read-ahead and frames alike, a frame with its header is at most
/// 64 KiB and 4 bytes), or 32 KiB ones (`tiny`), with 128 KiB ones for the
/// frames over 32 KiB (`mixed`).
fn pools(config: &Config) -> io::Result<IobufPools> {
    match config.load {
        Load::Mix => {
            let (tier, pool) = Tier::new::<iobuf::GreatBuffer>(config.pool_capacity())?;
            Ok(IobufPools {
                pools: Pools::new(pool),
                tiers: vec![tier],
            })
        }
        Load::Tiny | Load::Mixed => {
            let (tier, pool) = Tier::new::<iobuf::BigBuffer>(config.pool_capacity())?;
            let mut pools = Pools::new(pool);
            let mut tiers = vec![tier];
            if config.load == Load::Mixed {
                let (large, pool) = Tier::new::<iobuf::LargeBuffer>(config.large_capacity())?;
                pools = pools.with(pool);
                tiers.push(large);
            }
            Ok(IobufPools { pools, tiers })
        }
    }
}

/// What a run measured.
#[derive(Debug)]
struct Report {
    load: Load,
    /// Per server, in `Server::ALL` order, all rounds together.
    servers: [Measured; 3],
    /// Frames/s of each round, per server in the same order.
    rounds: Vec<[f64; 3]>,
    pool_capacity: usize,
    /// The fewest buffers home after an iobuf round (all of them, or one
    /// was lost), every pool together.
    pool_home: usize,
    /// Times a reader waited for a buffer (the pool was empty), warm-up
    /// included.
    pool_waits: u64,
}

/// Waits, a bounded time, for every buffer to come home; returns how many
/// did. Buffers return as the server's tasks drop their last views, which
/// is done by the time their connections' tasks are joined, but a thread
/// that just put one back may still be moving its cache.
fn buffers_home(pools: &IobufPools) -> usize {
    let start = Instant::now();
    loop {
        let home: usize = pools.tiers.iter().map(|t| (t.available)()).sum();
        let capacity: usize = pools.tiers.iter().map(|t| t.capacity).sum();
        if home == capacity || start.elapsed() > HOME_WAIT {
            return home;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs every round: each server once per round, the order rotating.
fn run(config: &Config) -> io::Result<Report> {
    // Made before any connection starts, so that no window counts it.
    pattern_table();
    let pools = pools(config)?;
    let rt = runtimes(&pools)?;
    let mut servers: [Measured; 3] = Default::default();
    let mut rounds = Vec::with_capacity(config.rounds);
    let pool_capacity: usize = pools.tiers.iter().map(|t| t.capacity).sum();
    let mut pool_home = pool_capacity;
    for round in 0..config.rounds {
        let mut line = format!("round {}:", round + 1);
        let mut rates = [0.0; 3];
        for k in 0..Server::ALL.len() {
            let i = (round + k) % Server::ALL.len();
            let measured = measure(&rt, *config, Server::ALL[i], &pools.pools)?;
            servers[i].add(&measured);
            if Server::ALL[i] == Server::Iobuf {
                pool_home = pool_home.min(buffers_home(&pools));
            }
            rates[i] = measured.frames_per_sec();
            line += &format!(" {}={:.0}", Server::ALL[i].name(), rates[i]);
        }
        println!("{line} frames/s");
        rounds.push(rates);
    }
    Ok(Report {
        load: config.load,
        servers,
        rounds,
        pool_capacity,
        pool_home,
        pool_waits: pools.tiers.iter().map(|t| (t.waits)()).sum(),
    })
}

/// Allocations per frame as a plain decimal: 4 decimals, or every digit
/// when a nonzero count would round to 0.
fn per_frame_text(allocations: u64, x: f64) -> String {
    if allocations == 0 {
        "0".into()
    } else if x < 0.00005 {
        format!("{x}")
    } else {
        format!("{x:.4}")
    }
}

/// The median over the rounds of iobuf's frames/s over those of server
/// `other` in the same round: a burst of other load on the machine that
/// hits one server's turn moves the totals, much less this.
fn median_ratio(rounds: &[[f64; 3]], other: usize) -> f64 {
    let mut ratios: Vec<f64> = rounds.iter().map(|r| r[0] / r[other]).collect();
    ratios.sort_by(f64::total_cmp);
    match ratios.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => ratios[n / 2],
        n => (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0,
    }
}

/// The last line of the output.
fn summary_line(report: &Report) -> String {
    let [iobuf, framed, bytesmut] = &report.servers;
    let cpu = |m: &Measured| m.cpu_per_frame(m.server_cpu, 3);
    format!(
        "summary: iobuf={:.0} framed={:.0} bytesmut={:.0} iobuf_allocs_per_frame={} \
         iobuf_reads_per_frame={:.3} framed_reads_per_frame={:.3} load={} \
         bytesmut_reads_per_frame={:.3} iobuf_cpu_per_frame={} framed_cpu_per_frame={} \
         bytesmut_cpu_per_frame={}",
        iobuf.frames_per_sec(),
        framed.frames_per_sec(),
        bytesmut.frames_per_sec(),
        per_frame_text(iobuf.allocations, iobuf.allocations_per_frame()),
        iobuf.reads_per_frame(),
        framed.reads_per_frame(),
        report.load.name(),
        bytesmut.reads_per_frame(),
        cpu(iobuf),
        cpu(framed),
        cpu(bytesmut),
    )
}

fn print_report(report: &Report) {
    println!(
        "{:<9} {:>8} {:>9} {:>7} {:>12} {:>11} {:>13} {:>13}",
        "server",
        "frames",
        "frames/s",
        "MiB/s",
        "allocs/frame",
        "reads/frame",
        "server CPU us",
        "client CPU us"
    );
    for (server, m) in Server::ALL.iter().zip(&report.servers) {
        println!(
            "{:<9} {:>8} {:>9.0} {:>7.0} {:>12} {:>11.3} {:>13} {:>13}",
            server.name(),
            m.frames,
            m.frames_per_sec(),
            m.mib_per_sec(),
            per_frame_text(m.allocations, m.allocations_per_frame()),
            m.reads_per_frame(),
            m.cpu_per_frame(m.server_cpu, 2),
            m.cpu_per_frame(m.client_cpu, 2),
        );
    }
    println!("(CPU: per frame, in the measured windows; MiB/s: one way, headers included)");
    for (server, m) in Server::ALL.iter().zip(&report.servers) {
        let (writes, slices, bytes) = m.write_shape();
        println!(
            "{}: {writes:.4} writes per frame, {slices:.1} slices and {bytes:.0} bytes per write",
            server.name()
        );
    }
    let [iobuf, framed, bytesmut] = &report.servers;
    println!(
        "iobuf / framed = {:.2}x, iobuf / bytesmut = {:.2}x in frames/s; \
         per-round median ratios {:.2}x and {:.2}x",
        iobuf.frames_per_sec() / framed.frames_per_sec(),
        iobuf.frames_per_sec() / bytesmut.frames_per_sec(),
        median_ratio(&report.rounds, 1),
        median_ratio(&report.rounds, 2),
    );
    println!(
        "echoed bytes checked: {} (iobuf) + {} (framed) + {} (bytesmut), {} + {} + {} differed",
        iobuf.bytes_checked,
        framed.bytes_checked,
        bytesmut.bytes_checked,
        iobuf.mismatches,
        framed.mismatches,
        bytesmut.mismatches,
    );
    println!(
        "pool after each iobuf round: at least {} of {} buffers home; readers waited for a buffer {} times",
        report.pool_home, report.pool_capacity, report.pool_waits
    );
}

/// What the command line asks for.
#[derive(Debug)]
enum Mode {
    Measure(Config),
    Listen(String, Config),
}

fn parse_args() -> Result<Mode, String> {
    // `--load` and `--quick` make the base the other flags change,
    // wherever they stand.
    let args: Vec<String> = std::env::args().collect();
    let load = match args.iter().position(|a| a == "--load") {
        Some(at) => {
            let name = args.get(at + 1).ok_or("--load needs a value")?;
            Load::parse(name).ok_or(format!("--load: {name}: not mix, tiny or mixed"))?
        }
        None => Load::Mix,
    };
    let mut config = Config::of(load);
    if args.iter().any(|a| a == "--quick") {
        config = config.quick();
    }
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
            "--connections" | "-c" => config.connections = number()?.max(1),
            "--frames" | "-n" => config.frames = number()?.max(1),
            "--warmup" | "-w" => config.warmup = number()?,
            "--rounds" | "-r" => config.rounds = number()?.max(1),
            "--in-flight" => config.in_flight = number()?.max(1),
            "--quick" => {}
            "--load" => drop(value()?),
            "--listen" | "-l" => return Ok(Mode::Listen(value()?, config)),
            "--help" | "-h" => {
                return Err(
                    "usage: frame_echo [--load mix|tiny|mixed] [--connections N] [--frames N] \
                            [--warmup N] [--rounds N] [--in-flight N] [--quick]\n       \
                     frame_echo [--load mix|tiny|mixed] --listen ADDR"
                        .into(),
                );
            }
            other => return Err(format!("unknown flag {other}; try --help")),
        }
    }
    Ok(Mode::Measure(config))
}

/// `--listen ADDR`: serve with iobuf until killed.
fn serve_forever(addr: &str, config: &Config) -> io::Result<()> {
    let pools = pools(config)?;
    let rt = runtimes(&pools)?;
    let max_payload = config.load.max_payload();
    rt.server.block_on(async {
        let listener = TcpListener::bind(addr).await?;
        println!(
            "frame_echo: listening on {} (u32 big-endian length + payload of at most {max_payload} \
             bytes, echoed; {} pooled buffers, read-ahead {} bytes); stop with Ctrl-C",
            listener.local_addr()?,
            pools.tiers.iter().map(|t| t.capacity).sum::<usize>(),
            config.load.read_ahead(),
        );
        listen(listener, pools.pools, max_payload).await
    })
}

fn main() {
    let config = match parse_args() {
        Ok(Mode::Measure(config)) => config,
        Ok(Mode::Listen(addr, config)) => {
            if let Err(err) = serve_forever(&addr, &config) {
                eprintln!("frame_echo: {addr}: {err}");
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
        "frame_echo: {} rounds x {} connections x {} frames (after {} warm-up each), \
         up to {} in flight per connection, per server, 127.0.0.1",
        config.rounds, config.connections, config.frames, config.warmup, config.in_flight
    );
    println!(
        "load {}: frames: u32 big-endian length + {}; read-ahead: iobuf {} KiB, framed and bytesmut \
         {} KiB; servers: multi-thread runtime, 2 workers; client: current-thread runtime",
        config.load.name(),
        config.load.describe(),
        config.load.read_ahead() >> 10,
        config.load.peer_read_ahead() >> 10,
    );
    let report = match run(&config) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("frame_echo failed: {err}");
            std::process::exit(1);
        }
    };
    print_report(&report);
    let mut failed = false;
    if report.servers.iter().any(|m| m.mismatches != 0) {
        eprintln!("frame_echo: echoed bytes differed from those sent");
        failed = true;
    }
    if report.pool_home != report.pool_capacity {
        eprintln!("frame_echo: a pooled buffer did not come home");
        failed = true;
    }
    if report.servers[0].allocations_per_frame() >= 0.01 {
        eprintln!(
            "frame_echo: the iobuf server allocated 0.01 times per frame or more after warm-up"
        );
        failed = true;
    }
    println!("{}", summary_line(&report));
    if failed {
        std::process::exit(1);
    }
}
