//! A TCP echo server on 127.0.0.1 that reads into pooled buffers and writes
//! back with vectored I/O, driven by a load client in the same program that
//! checks every echoed byte.
//!
//! It prints throughput, round-trip latency (p50/p99), the peak number of
//! buffers in use, and the heap allocations per request after warm-up,
//! counted by a counting global allocator. With pooled buffers that count
//! is 0.
//!
//! ```text
//! cargo run --release --example echo_server -- --connections 8 --messages 20000 --size 1500
//! ```
//!
//! The suite test `tests/echo_server.rs` runs it small and checks the same
//! figures.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use iobuf::{IoVec, IoVecMut};

/// The echo path's buffers: one entry per message size class.
mod pools {
    iobuf::buffer_pools! {
        /// Requests and replies up to 2 KiB.
        small: 2KiB x 1024,
        /// Larger ones, up to 64 KiB.
        large: 64KiB x 128,
    }
}

/// Counts every allocation of the process, to show the hot path makes none.
#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Client connections, each on its own thread (and a server thread each).
    pub connections: usize,
    /// Messages per connection, after warm-up.
    pub messages: usize,
    /// Messages per connection before counting allocations and latency.
    pub warmup: usize,
    /// Bytes per message (1 ..= 64 KiB).
    pub size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            connections: 8,
            messages: 20_000,
            warmup: 1_000,
            size: 1500,
        }
    }
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct Report {
    pub requests: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub peak_in_use: usize,
    /// Heap allocations during the measured phase, all threads together.
    pub allocations: u64,
    /// Echoed bytes that differed from what was sent (must be 0).
    pub mismatches: u64,
}

impl Report {
    pub fn allocations_per_request(&self) -> f64 {
        self.allocations as f64 / self.requests.max(1) as f64
    }
}

/// Buffers taken from the pools right now, and the most ever.
static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// A pooled buffer of at least `len` bytes, counted in `IN_USE`.
fn take(len: usize) -> Counted {
    let buf = pools::get(len).expect("size checked by the config");
    let now = IN_USE.fetch_add(1, Ordering::Relaxed) + 1;
    PEAK.fetch_max(now, Ordering::Relaxed);
    Counted(buf)
}

struct Counted(pools::Buf);

impl Drop for Counted {
    fn drop(&mut self) {
        IN_USE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one connection: a vectored read into a pooled buffer, echoed back
/// with vectored writes (looping over partial writes), then the buffer goes
/// back. iobuf's iovecs view as std's `IoSliceMut`/`IoSlice`, so this needs
/// no `unsafe` and allocates nothing.
fn serve(mut stream: TcpStream, size: usize) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    loop {
        let mut buf = take(size);
        let mut into = [IoVecMut::from(&mut buf.0[..size])];
        let n = stream.read_vectored(IoVecMut::as_io_slices_mut(&mut into))?;
        if n == 0 {
            return Ok(());
        }
        let mut out = [IoVec::from(&buf.0[..n])];
        let mut rest = &mut out[..];
        while !rest.is_empty() {
            let written = stream.write_vectored(IoVec::as_io_slices(rest))?;
            if written == 0 {
                return Err(ErrorKind::WriteZero.into());
            }
            IoVec::advance_slices(&mut rest, written);
        }
    }
}

/// The byte a message carries at offset `i`: different per connection,
/// message and offset, so a misplaced or stale byte shows.
fn pattern(conn: usize, msg: usize, i: usize) -> u8 {
    (conn.wrapping_mul(131) ^ msg.wrapping_mul(31) ^ i.wrapping_mul(7)) as u8
}

/// One client connection: send each message, read the echo back into a
/// pooled buffer, check every byte, record the round trip.
fn client(
    addr: std::net::SocketAddr,
    conn: usize,
    config: &Config,
    phase: &Barrier,
    latencies: &mut Vec<u64>,
    mismatches: &AtomicU64,
) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let size = config.size;
    let total = config.warmup + config.messages;
    for msg in 0..total {
        if msg == config.warmup {
            phase.wait(); // warm-up done everywhere: start counting
        }
        let mut out = take(size);
        for (i, b) in out.0[..size].iter_mut().enumerate() {
            *b = pattern(conn, msg, i);
        }
        let sent = Instant::now();
        stream.write_all(&out.0[..size])?;
        drop(out);
        let mut back = take(size);
        stream.read_exact(&mut back.0[..size])?;
        let rtt = sent.elapsed();
        let bad = back.0[..size]
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b != pattern(conn, msg, i))
            .count();
        if bad != 0 {
            mismatches.fetch_add(bad as u64, Ordering::Relaxed);
        }
        if msg >= config.warmup {
            latencies.push(rtt.as_nanos() as u64);
        }
    }
    phase.wait(); // measured phase done everywhere
    stream.shutdown(Shutdown::Write)?;
    Ok(())
}

/// Runs the server and the load client, and reports.
pub fn run(config: &Config) -> std::io::Result<Report> {
    assert!(
        (1..=64 << 10).contains(&config.size),
        "--size must be 1 ..= 65536"
    );
    pools::init().map_err(std::io::Error::from)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let stop = AtomicBool::new(false);
    let mismatches = AtomicU64::new(0);
    // Clients, plus the main thread, meet twice: after warm-up and at the end.
    let phase = Barrier::new(config.connections + 1);
    let mut latencies: Vec<Vec<u64>> = (0..config.connections)
        .map(|_| Vec::with_capacity(config.messages))
        .collect();

    let (allocations, elapsed) = std::thread::scope(|s| -> std::io::Result<(u64, Duration)> {
        let server = s.spawn(|| -> std::io::Result<()> {
            std::thread::scope(|conns| {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let stream = stream?;
                    conns.spawn(move || serve(stream, config.size));
                }
                Ok(())
            })
        });
        let clients: Vec<_> = latencies
            .iter_mut()
            .enumerate()
            .map(|(conn, lat)| {
                let (phase, mismatches) = (&phase, &mismatches);
                s.spawn(move || client(addr, conn, config, phase, lat, mismatches))
            })
            .collect();
        phase.wait();
        let start_allocs = allocations();
        let started = Instant::now();
        phase.wait();
        let elapsed = started.elapsed();
        let allocations = allocations() - start_allocs;
        for c in clients {
            c.join().expect("client thread panicked")?;
        }
        stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees `stop`.
        drop(TcpStream::connect(addr));
        server.join().expect("server thread panicked")?;
        Ok((allocations, elapsed))
    })?;

    let mut all: Vec<u64> = latencies.into_iter().flatten().collect();
    all.sort_unstable();
    let at = |q: f64| Duration::from_nanos(all[((all.len() - 1) as f64 * q) as usize]);
    let requests = all.len() as u64;
    Ok(Report {
        requests,
        bytes: requests * config.size as u64 * 2,
        elapsed,
        p50: at(0.50),
        p99: at(0.99),
        peak_in_use: PEAK.load(Ordering::Relaxed),
        allocations,
        mismatches: mismatches.load(Ordering::Relaxed),
    })
}

fn parse_args() -> Result<Config, String> {
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || -> Result<usize, String> {
            let v = args.next().ok_or(format!("{flag} needs a value"))?;
            v.replace('_', "")
                .parse()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--connections" | "-c" => config.connections = value()?.max(1),
            "--messages" | "-m" => config.messages = value()?.max(1),
            "--warmup" | "-w" => config.warmup = value()?,
            "--size" | "-s" => config.size = value()?,
            "--help" | "-h" => {
                return Err("usage: echo_server [--connections N] [--messages M] \
                            [--warmup W] [--size BYTES]"
                    .into());
            }
            other => return Err(format!("unknown flag {other}; try --help")),
        }
    }
    if !(1..=64 << 10).contains(&config.size) {
        return Err("--size must be 1 ..= 65536".into());
    }
    Ok(config)
}

#[allow(dead_code)]
fn main() {
    let config = match parse_args() {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    println!(
        "echo_server: {} connections x {} messages of {} bytes (after {} warm-up each), 127.0.0.1",
        config.connections, config.messages, config.size, config.warmup
    );
    let report = match run(&config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("echo_server failed: {e}");
            std::process::exit(1);
        }
    };
    let secs = report.elapsed.as_secs_f64();
    println!(
        "throughput: {:.0} requests/s, {:.1} MB/s echoed (both directions)",
        report.requests as f64 / secs,
        report.bytes as f64 / secs / 1e6
    );
    println!("round trip: p50 {:?}, p99 {:?}", report.p50, report.p99);
    println!("peak buffers in use: {}", report.peak_in_use);
    println!(
        "heap allocations after warm-up: {} over {} requests = {} per request",
        report.allocations,
        report.requests,
        report.allocations_per_request()
    );
    println!("echoed bytes that differed: {}", report.mismatches);
    if report.mismatches != 0 || report.allocations != 0 {
        std::process::exit(1);
    }
}
