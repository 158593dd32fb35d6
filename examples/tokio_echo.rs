//! A tokio TCP echo server on loopback that reads into `buffer_pools!`
//! buffers, measured against the common idiom (a fresh `BytesMut` per read)
//! under the same load, in the same run.
//!
//! The server runs on a multi-thread runtime with 2 worker threads. Per
//! read it waits for the socket to be readable, takes a pooled buffer with
//! `get_async`, reads into it with `read_buf` through [`iobuf::Filled`] (a
//! `bytes::BufMut`) and echoes it with `write_all_buf` (`Filled` is a
//! `bytes::Buf`); the buffer goes back to its pool at the end of the turn.
//! The load client runs in the same process, on a separate current-thread
//! runtime on the main thread: N connections, each sending a request,
//! waiting for the whole echo, checking every byte against a pattern that
//! differs per connection, request and offset, and recording the round
//! trip. After a warm-up, it measures requests/s, p50/p99 round trip and
//! the heap allocations of the whole process (server and client) per
//! request, counted by a counting global allocator. The client makes none
//! of its own after warm-up (its buffers and latency vectors are made
//! before), so the count is the server path's: 0 for the pooled path, about
//! one per read for `BytesMut::with_capacity`.
//!
//! ```text
//! cargo run --release --example tokio_echo
//! cargo run --release --example tokio_echo -- --connections 16 --requests 20000 --size 1500
//! cargo run --release --example tokio_echo -- --listen 127.0.0.1:7000   # then: nc 127.0.0.1 7000
//! ```
//!
//! Flags: `--connections N` (default 8), `--requests N` per connection
//! (10 000), `--warmup N` per connection (1 000), `--size BYTES` (512, at
//! most 64 KiB), `--quick` (4 × 500 after 200, for smoke tests; the other
//! flags still apply).
//!
//! With `--listen ADDR` it only serves (the pooled path) until killed, for
//! an outside client. Otherwise it exits 1 if an echoed byte differed, the
//! pooled path allocated after warm-up, or a buffer did not come home, and
//! its last line is machine-readable:
//!
//! ```text
//! summary: iobuf=<requests/s> iobuf_allocs_per_req=<n> bytesmut=<requests/s> bytesmut_allocs_per_req=<n>
//! ```
//!
//! The suite test `tests/tokio_echo.rs` runs it small, in-process.
//!
//! Everything shares the machine's cores: the figures compare the two
//! paths under one load on one host, they are no absolute server benchmark.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use iobuf::Filled;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::Barrier;

/// The server's read buffers.
mod pools {
    iobuf::buffer_pools! {
        /// One socket read: a page. The pool bounds the bytes in flight to
        /// 4 MiB however many connections are open; a read that finds it
        /// empty waits for a buffer to come back.
        rx: 4KiB x 1024,
    }
}

/// Bytes one read asks for, on both paths.
pub const READ_LEN: usize = 4096;

/// Largest `--size`: a request must fit the loopback socket buffers, as the
/// client writes all of it before reading the echo.
pub const MAX_SIZE: usize = 64 << 10;

/// The whole load of one path must finish within this, or the run fails
/// (instead of hanging, say, on a server that stopped echoing).
const DEADLINE: Duration = Duration::from_secs(300);

/// Counts every allocation of the process, to show what the hot path costs
/// (public for `uring_echo`, which includes this file and so shares it).
#[path = "support/counting_alloc.rs"]
mod counting_alloc;
pub use counting_alloc::allocations;

/// The load to run against each path.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Client connections, served concurrently.
    pub connections: usize,
    /// Measured requests per connection, after the warm-up.
    pub requests: usize,
    /// Requests per connection before measuring.
    pub warmup: usize,
    /// Bytes per request (1 ..= `MAX_SIZE`); the echo has as many.
    pub size: usize,
}

impl Default for Config {
    /// A few seconds in release: 8 × 10 000 requests of 512 bytes per path.
    fn default() -> Self {
        Config {
            connections: 8,
            requests: 10_000,
            warmup: 1_000,
            size: 512,
        }
    }
}

impl Config {
    /// `--quick`: a run of well under a second, for tests and smoke checks.
    pub fn quick() -> Self {
        Config {
            connections: 4,
            requests: 500,
            warmup: 200,
            size: 512,
        }
    }
}

/// How the server holds what it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// A `buffer_pools!` buffer per read, in a `Filled` view.
    Iobuf,
    /// `BytesMut::with_capacity(READ_LEN)` per read.
    BytesMut,
}

/// What one path measured.
#[derive(Clone, Debug)]
pub struct PathReport {
    /// Measured requests, all connections together.
    pub requests: u64,
    /// Wall time of the measured phase.
    pub elapsed: Duration,
    /// Round-trip percentiles over the measured requests.
    pub p50: Duration,
    pub p99: Duration,
    /// Heap allocations of the whole process during the measured phase.
    /// (An allocation the server makes between two requests, such as the
    /// next `BytesMut`, falls on either side of the window's edges, so a
    /// per-read cost of 1 can read 80 001 or 79 999 for 80 000 requests.)
    pub allocations: u64,
    /// Echoed bytes compared with what was sent, warm-up included.
    pub bytes_checked: u64,
    /// Of those, the ones that differed (must be 0).
    pub mismatches: u64,
}

impl PathReport {
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn allocations_per_request(&self) -> f64 {
        self.allocations as f64 / self.requests.max(1) as f64
    }
}

/// What a run measured, both paths.
#[derive(Clone, Debug)]
pub struct Report {
    pub iobuf: PathReport,
    pub bytesmut: PathReport,
    /// The pool's buffers, and how many were home after the pooled path's
    /// connections closed (all of them, or one was lost).
    pub pool_capacity: usize,
    pub pool_available: usize,
}

/// The byte a request carries at offset `i`: different per connection,
/// request and offset, so a misplaced, stale or crossed byte shows.
pub fn pattern(conn: usize, request: usize, i: usize) -> u8 {
    (conn.wrapping_mul(131) ^ request.wrapping_mul(31) ^ i.wrapping_mul(7) ^ (i >> 8)) as u8
}

/// Echoes one connection through pooled buffers until the peer closes.
///
/// A buffer is taken per read, once the socket is readable, and goes back
/// to the pool as `buf` drops at the end of the turn. So a connection holds
/// a buffer only while bytes are on their way through it: an idle one holds
/// none, and the pool bounds the reads in flight, not the connections that
/// may be open. Taking and returning a buffer is a thread-cache hit, with
/// no allocation. (Keeping one buffer per connection across reads would
/// save that get and put, but pin 4 KiB per idle connection, and a pool of
/// 1024 would then cap the server at 1024 connections.)
pub async fn serve_iobuf(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    loop {
        stream.readable().await?;
        let buf = pools::get_async(READ_LEN).await;
        let mut buf = Filled::new(buf.expect("READ_LEN fits the `rx` entry"));
        // Readiness can be spurious; then `read_buf` waits on, holding the
        // buffer until bytes or EOF arrive. That is rare, and harmless.
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        stream.write_all_buf(&mut buf).await?;
    }
}

/// Echoes one connection the common way: a new `BytesMut` per read.
pub async fn serve_bytesmut(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    loop {
        let mut buf = BytesMut::with_capacity(READ_LEN);
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        stream.write_all_buf(&mut buf).await?;
    }
}

/// `--listen`: serves the pooled path to anyone, until killed.
pub async fn listen(listener: TcpListener) -> io::Result<()> {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(async move {
                    if let Err(err) = serve_iobuf(stream).await {
                        eprintln!("tokio_echo: {peer}: {err}");
                    }
                });
            }
            Err(err) => {
                // Out of file descriptors, say: wait, then go on serving.
                eprintln!("tokio_echo: accept: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Accepts the load's `n` connections, serves them on `path` until each
/// closes, and reports the first error.
async fn serve_load(listener: TcpListener, n: usize, path: Path) -> io::Result<()> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let (stream, _) = listener.accept().await?;
        conns.push(match path {
            Path::Iobuf => tokio::spawn(serve_iobuf(stream)),
            Path::BytesMut => tokio::spawn(serve_bytesmut(stream)),
        });
    }
    for conn in conns {
        conn.await.map_err(io::Error::other)??;
    }
    Ok(())
}

/// The measured phase's bounds: instant and allocation count at its start
/// and end, each set by the last connection to reach the barrier, before
/// any other connection resumes (the client runtime has one thread).
#[derive(Debug, Default)]
struct Window {
    start: Mutex<Option<(Instant, u64)>>,
    end: Mutex<Option<(Instant, u64)>>,
}

impl Window {
    fn mark(slot: &Mutex<Option<(Instant, u64)>>) {
        // Allocation count first, then time: neither allocates.
        let allocs = allocations();
        *slot.lock().unwrap() = Some((Instant::now(), allocs));
    }

    /// Wall time and allocations between the marks.
    fn measured(&self) -> (Duration, u64) {
        let (t0, a0) = self.start.lock().unwrap().expect("start marked");
        let (t1, a1) = self.end.lock().unwrap().expect("end marked");
        (t1 - t0, a1 - a0)
    }
}

/// What one client connection saw.
#[derive(Debug)]
struct ConnLoad {
    latencies_ns: Vec<u64>,
    bytes_checked: u64,
    mismatches: u64,
}

/// One client connection: request, full echo, check every byte, record the
/// round trip. Everything it needs is allocated before the warm-up ends.
async fn client(
    addr: SocketAddr,
    conn: usize,
    config: Config,
    phase: Arc<Barrier>,
    window: Arc<Window>,
) -> io::Result<ConnLoad> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut request = vec![0; config.size];
    let mut reply = vec![0; config.size];
    let mut load = ConnLoad {
        latencies_ns: Vec::with_capacity(config.requests),
        bytes_checked: 0,
        mismatches: 0,
    };
    for r in 0..config.warmup + config.requests {
        if r == config.warmup && phase.wait().await.is_leader() {
            Window::mark(&window.start);
        }
        for (i, b) in request.iter_mut().enumerate() {
            *b = pattern(conn, r, i);
        }
        let sent = Instant::now();
        stream.write_all(&request).await?;
        stream.read_exact(&mut reply).await?;
        let rtt = sent.elapsed();
        load.bytes_checked += reply.len() as u64;
        load.mismatches += reply
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b != pattern(conn, r, i))
            .count() as u64;
        if r >= config.warmup {
            load.latencies_ns.push(rtt.as_nanos() as u64);
        }
    }
    if phase.wait().await.is_leader() {
        Window::mark(&window.end);
    }
    // Close our side; the server echoes nothing more and closes its own.
    stream.shutdown().await?;
    if stream.read(&mut reply).await? != 0 {
        return Err(io::Error::other("bytes echoed after the last request"));
    }
    Ok(load)
}

/// Runs the client load against `addr`, every connection at once.
async fn drive(addr: SocketAddr, config: Config) -> io::Result<PathReport> {
    let phase = Arc::new(Barrier::new(config.connections));
    let window = Arc::new(Window::default());
    let mut conns = tokio::task::JoinSet::new();
    for conn in 0..config.connections {
        let (phase, window) = (phase.clone(), window.clone());
        // Outside tokio's cooperative budget: a connection whose echoes keep
        // arriving before it polls would, after 128 socket operations in one
        // poll, yield through the scheduler's list of deferred wakers, a
        // `Vec` that allocates whenever more tasks defer in one tick than
        // ever before: a rare, client-side allocation the count would pin
        // on the server. Unconstrained, a connection still yields whenever
        // its echo is not back yet, which is nearly every request.
        let client = client(addr, conn, config, phase, window);
        conns.spawn(tokio::task::unconstrained(client));
    }
    // The first error ends the run at once (dropping the set aborts the
    // other connections, which would otherwise wait at the barrier).
    let mut loads = Vec::with_capacity(config.connections);
    while let Some(load) = conns.join_next().await {
        loads.push(load.map_err(io::Error::other)??);
    }
    let (elapsed, allocations) = window.measured();
    let mut all: Vec<u64> = loads
        .iter()
        .flat_map(|l| l.latencies_ns.iter().copied())
        .collect();
    all.sort_unstable();
    let at = |q: f64| Duration::from_nanos(all[((all.len() - 1) as f64 * q).round() as usize]);
    Ok(PathReport {
        requests: all.len() as u64,
        elapsed,
        p50: at(0.50),
        p99: at(0.99),
        allocations,
        bytes_checked: loads.iter().map(|l| l.bytes_checked).sum(),
        mismatches: loads.iter().map(|l| l.mismatches).sum(),
    })
}

/// Serves `path` on a fresh loopback listener and drives the load at it.
fn measure(
    server: &Runtime,
    client: &Runtime,
    config: Config,
    path: Path,
) -> io::Result<PathReport> {
    let listener = server.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let served = server.spawn(serve_load(listener, config.connections, path));
    let load = client.block_on(async {
        tokio::time::timeout(DEADLINE, drive(addr, config))
            .await
            .unwrap_or_else(|_| Err(io::Error::other(format!("load not done in {DEADLINE:?}"))))
    });
    if load.is_err() {
        served.abort();
    }
    let load = load?;
    server.block_on(served).map_err(io::Error::other)??;
    Ok(load)
}

/// The two runtimes: the server's multi-thread one, 2 workers; the
/// client's current-thread one, run on the calling thread.
fn runtimes() -> io::Result<(Runtime, Runtime)> {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("echo-server")
        // A thread's first `get` from a pool makes the thread's cache (3
        // allocations, once per thread and pool). Each worker makes its own
        // as it starts, so that no request pays for it, even on a worker
        // that first serves one after the warm-up.
        .on_thread_start(|| drop(pools::get(READ_LEN)))
        .enable_all()
        .build()?;
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok((server, client))
}

/// Runs the load against the pooled path, then the `BytesMut` path.
///
/// # Errors
///
/// A socket error on either side, a pool that cannot be created, or a load
/// that did not finish within 300 s.
///
/// # Panics
///
/// If the config is out of range (`size` outside 1 ..= `MAX_SIZE`, no
/// connections or no measured requests).
pub fn run(config: &Config) -> io::Result<Report> {
    assert!(
        (1..=MAX_SIZE).contains(&config.size),
        "size {} is outside 1 ..= {MAX_SIZE}",
        config.size
    );
    assert!(config.connections > 0 && config.requests > 0, "{config:?}");
    pools::init()?;
    let (server, client) = runtimes()?;
    let iobuf = measure(&server, &client, *config, Path::Iobuf)?;
    let stats = pools::rx().stats();
    let bytesmut = measure(&server, &client, *config, Path::BytesMut)?;
    Ok(Report {
        iobuf,
        bytesmut,
        pool_capacity: stats.capacity,
        pool_available: stats.available,
    })
}

/// Allocations per request as a plain decimal: 3 decimals, or every digit
/// when a nonzero count would round to 0.
pub fn per_request(path: &PathReport) -> String {
    allocations_per_request_text(path.allocations, path.allocations_per_request())
}

/// `per_request` over plain numbers (`uring_echo` reports its servers with
/// it too): "0" for no allocation at all, else the ratio `x` as above.
pub fn allocations_per_request_text(allocations: u64, x: f64) -> String {
    if allocations == 0 {
        "0".into()
    } else if x < 0.0005 {
        format!("{x}")
    } else {
        format!("{x:.3}")
    }
}

/// The last line of the output.
pub fn summary_line(report: &Report) -> String {
    format!(
        "summary: iobuf={:.0} iobuf_allocs_per_req={} bytesmut={:.0} bytesmut_allocs_per_req={}",
        report.iobuf.requests_per_sec(),
        per_request(&report.iobuf),
        report.bytesmut.requests_per_sec(),
        per_request(&report.bytesmut),
    )
}

/// What the command line asks for.
#[derive(Debug)]
enum Mode {
    Measure(Config),
    Listen(String),
}

fn parse_args() -> Result<Mode, String> {
    // `--quick` is the base the other flags change, wherever it stands.
    let quick = std::env::args().any(|a| a == "--quick");
    let mut config = if quick {
        Config::quick()
    } else {
        Config::default()
    };
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
            "--requests" | "-n" => config.requests = number()?.max(1),
            "--warmup" | "-w" => config.warmup = number()?,
            "--size" | "-s" => config.size = number()?,
            "--quick" => {}
            "--listen" | "-l" => return Ok(Mode::Listen(value()?)),
            "--help" | "-h" => {
                return Err(
                    "usage: tokio_echo [--connections N] [--requests N] [--warmup N] \
                            [--size BYTES] [--quick]\n       tokio_echo --listen ADDR"
                        .into(),
                );
            }
            other => return Err(format!("unknown flag {other}; try --help")),
        }
    }
    if !(1..=MAX_SIZE).contains(&config.size) {
        return Err(format!("--size must be 1 ..= {MAX_SIZE}"));
    }
    Ok(Mode::Measure(config))
}

/// `--listen ADDR`: serve until killed.
fn serve_forever(addr: &str) -> io::Result<()> {
    pools::init()?;
    let (server, _) = runtimes()?;
    server.block_on(async {
        let listener = TcpListener::bind(addr).await?;
        println!(
            "tokio_echo: listening on {} (pooled buffers, {READ_LEN} bytes a read); stop with Ctrl-C",
            listener.local_addr()?
        );
        listen(listener).await
    })
}

fn print_report(config: &Config, report: &Report) {
    println!(
        "{:<22} {:>11} {:>10} {:>10} {:>10} {:>10}",
        "path", "requests/s", "p50 rtt", "p99 rtt", "allocs", "allocs/req"
    );
    for (name, path) in [
        ("iobuf (buffer_pools!)", &report.iobuf),
        ("BytesMut per read", &report.bytesmut),
    ] {
        println!(
            "{:<22} {:>11.0} {:>10} {:>10} {:>10} {:>10}",
            name,
            path.requests_per_sec(),
            format!("{:.1?}", path.p50),
            format!("{:.1?}", path.p99),
            path.allocations,
            per_request(path),
        );
    }
    let expected = (config.connections * (config.warmup + config.requests) * config.size) as u64;
    println!(
        "echoed bytes checked: {} + {} (of {expected} + {expected} sent), {} + {} differed",
        report.iobuf.bytes_checked,
        report.bytesmut.bytes_checked,
        report.iobuf.mismatches,
        report.bytesmut.mismatches,
    );
    println!(
        "pool after the pooled run: {} of {} buffers home",
        report.pool_available, report.pool_capacity
    );
}

#[allow(dead_code)]
fn main() {
    let config = match parse_args() {
        Ok(Mode::Measure(config)) => config,
        Ok(Mode::Listen(addr)) => {
            if let Err(err) = serve_forever(&addr) {
                eprintln!("tokio_echo: {addr}: {err}");
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
        "tokio_echo: {} connections x {} requests of {} bytes (after {} warm-up each) per path, 127.0.0.1",
        config.connections, config.requests, config.size, config.warmup
    );
    println!(
        "server: multi-thread runtime, 2 workers, {READ_LEN}-byte reads; client: current-thread runtime, same process"
    );
    let report = match run(&config) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("tokio_echo failed: {err}");
            std::process::exit(1);
        }
    };
    print_report(&config, &report);
    let mut failed = false;
    if report.iobuf.mismatches + report.bytesmut.mismatches != 0 {
        eprintln!("tokio_echo: echoed bytes differed from those sent");
        failed = true;
    }
    if report.iobuf.allocations != 0 {
        eprintln!("tokio_echo: the pooled path allocated after warm-up");
        failed = true;
    }
    if report.pool_available != report.pool_capacity {
        eprintln!("tokio_echo: a pooled buffer did not come home");
        failed = true;
    }
    println!("{}", summary_line(&report));
    if failed {
        std::process::exit(1);
    }
}
