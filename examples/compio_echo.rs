//! A compio (io_uring driver) TCP echo on loopback and a file round trip,
//! on pooled buffers handed to the runtime by value.
//!
//! The server side reads each request into a `buffer_pools!` buffer in a
//! `Filled` with iobuf's `CompioRead::read_filled` (which lends it to
//! compio in a wrapper no user code can reach, and sets the filled length
//! to the bytes read), and writes that very buffer back; it goes home
//! when the write returns it. The client side, in the same thread and
//! runtime, holds N connections and per round sends one request on each
//! from a pooled `Filled`, then reads each echo into another, appending
//! until the whole request is back, and checks every byte against a
//! pattern that differs per connection, request and offset.
//!
//! Then it writes 32 pooled buffers to a temporary file with
//! `write_all_at`, keeps each returned buffer (moved out of the runtime's
//! hands into a `Vec`), reads the file back into other pooled buffers with
//! `CompioReadAt::read_exact_at_filled`, compares both, and removes the
//! file.
//!
//! compio allocates once per operation itself: each submitted op lives in
//! a reference-counted heap cell of compio-driver (`Key::new`, a
//! `ThinCell<RawOp<_>>`), whatever the buffer. So a zero count cannot be
//! asked of this runtime. Instead the same echo runs a second time with
//! plain `Vec<u8>` buffers reused across requests (no iobuf at all), the
//! reads and writes counted on both runs, and the pooled run must allocate
//! no more per operation than the runtime does with `Vec`s: what is left
//! over would be iobuf's. Both figures are printed.
//!
//! It exits 1 if a byte differed, the pooled run allocated more per
//! operation than the `Vec` run, or a buffer was not home at the end; its
//! last line is (for the pooled run):
//!
//! ```text
//! summary: runtime=compio requests=<n> allocs_per_req=<x> verified=<bytes>
//! ```
//!
//! Where the kernel refuses io_uring (`ENOSYS`, `EPERM` at runtime
//! creation), it says so and exits 0.
//!
//! ```text
//! cargo run --release --features compio --example compio_echo
//! ```

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use compio::BufResult;
use compio::buf::{IntoInner, IoBuf};
use compio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteAtExt};
use compio::net::{TcpListener, TcpStream};
use iobuf::runtimes::{CompioRead, CompioReadAt};
use iobuf::{Filled, OwnedPooled, SmallBuffer, SmallBufferPool};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/runtime_echo.rs"]
#[allow(dead_code)]
mod runtime_echo;

use counting_alloc::allocations;
use runtime_echo::{
    CONNECTIONS, FILE_BLOCKS, READ_LEN, ROUNDS, WARMUP, file_pattern, pattern, refused, watchdog,
};

/// The server's reads.
mod pools {
    iobuf::buffer_pools! {
        /// One read of a request.
        rx: 4KiB x 64,
    }
}

/// Bytes per request, within one 2 KiB client buffer.
const SIZE: usize = 1_500;

type ClientBuf = Filled<OwnedPooled<SmallBuffer>>;

/// Reads and writes submitted, both sides.
static OPS: AtomicU64 = AtomicU64::new(0);

fn count_op() {
    // ORDERING: Relaxed: one thread runs everything; a plain counter.
    OPS.fetch_add(1, Ordering::Relaxed);
}

fn ops() -> u64 {
    // ORDERING: Relaxed: see `count_op`.
    OPS.load(Ordering::Relaxed)
}

/// `write_all`, each `write` counted.
async fn write_all<B: IoBuf>(stream: &mut TcpStream, mut buf: B) -> BufResult<(), B> {
    let len = buf.buf_len();
    let mut sent = 0;
    while sent < len {
        let BufResult(res, slice) = stream.write(buf.slice(sent..)).await;
        count_op();
        buf = slice.into_inner();
        match res {
            Ok(0) => return BufResult(Err(io::ErrorKind::WriteZero.into()), buf),
            Ok(n) => sent += n,
            Err(e) => return BufResult(Err(e), buf),
        }
    }
    BufResult(Ok(()), buf)
}

/// Which buffers a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// `buffer_pools!` on the server, an `Arc` pool on the client.
    Pooled,
    /// A `Vec<u8>` per connection and direction, reused.
    Vec,
}

/// What one echo run saw.
#[derive(Debug, Default)]
struct Run {
    requests: u64,
    allocations: u64,
    ops: u64,
    verified: u64,
    mismatches: u64,
}

impl Run {
    fn per_op(&self) -> f64 {
        self.allocations as f64 / self.ops.max(1) as f64
    }
    fn per_req(&self) -> f64 {
        self.allocations as f64 / self.requests.max(1) as f64
    }
}

/// Echoes one connection through pooled buffers until the peer closes.
async fn serve_pooled(mut stream: TcpStream) -> io::Result<()> {
    loop {
        let buf = pools::get_async(READ_LEN)
            .await
            .expect("READ_LEN fits `rx`");
        let BufResult(res, buf) = stream.read_filled(Filled::new(buf)).await;
        count_op();
        let n = res?;
        if n == 0 {
            return Ok(());
        }
        if buf.len() != n {
            return Err(io::Error::other(format!(
                "a read of {n} bytes left the Filled at {}",
                buf.len()
            )));
        }
        write_all(&mut stream, buf).await.0?;
    }
}

/// Echoes one connection through one reused `Vec` until the peer closes.
async fn serve_vec(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(READ_LEN);
    loop {
        buf.clear();
        let BufResult(res, returned) = stream.read(buf).await;
        count_op();
        buf = returned;
        if res? == 0 {
            return Ok(());
        }
        let BufResult(res, returned) = write_all(&mut stream, buf).await;
        buf = returned;
        res?;
    }
}

/// One client connection's buffers for the `Vec` run.
struct VecConn {
    request: Vec<u8>,
    echo: Vec<u8>,
}

/// Sends request `r` of connection `conn` from a pooled buffer.
async fn request_pooled(
    pool: &Arc<SmallBufferPool>,
    stream: &mut TcpStream,
    conn: usize,
    r: usize,
) -> io::Result<()> {
    let mut request: ClientBuf = Filled::new(pool.try_get_owned()?);
    for (i, b) in request.unfilled_mut()[..SIZE].iter_mut().enumerate() {
        *b = pattern(conn, r, i);
    }
    request.commit(SIZE);
    write_all(stream, request).await.0?;
    Ok(())
}

/// Reads the echo of request `r` into a pooled buffer, appending until it
/// is whole; returns the bytes that differed.
async fn echo_pooled(
    pool: &Arc<SmallBufferPool>,
    stream: &mut TcpStream,
    conn: usize,
    r: usize,
) -> io::Result<u64> {
    let mut echo: ClientBuf = Filled::new(pool.try_get_owned()?);
    while echo.len() < SIZE {
        let BufResult(res, returned) = stream.append_filled(echo).await;
        count_op();
        echo = returned;
        if res? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    check(&echo, conn, r)
}

fn check(echo: &[u8], conn: usize, r: usize) -> io::Result<u64> {
    if echo.len() != SIZE {
        return Err(io::Error::other(format!(
            "echo of {} bytes for a request of {SIZE}",
            echo.len()
        )));
    }
    Ok(echo
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b != pattern(conn, r, i))
        .count() as u64)
}

async fn request_vec(
    state: &mut VecConn,
    stream: &mut TcpStream,
    conn: usize,
    r: usize,
) -> io::Result<()> {
    let mut request = std::mem::take(&mut state.request);
    request.clear();
    request.extend((0..SIZE).map(|i| pattern(conn, r, i)));
    let BufResult(res, returned) = write_all(stream, request).await;
    state.request = returned;
    res
}

async fn echo_vec(
    state: &mut VecConn,
    stream: &mut TcpStream,
    conn: usize,
    r: usize,
) -> io::Result<u64> {
    let mut echo = std::mem::take(&mut state.echo);
    echo.clear();
    while echo.len() < SIZE {
        let BufResult(res, returned) = stream.append(echo).await;
        count_op();
        echo = returned;
        if res? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    let bad = check(&echo, conn, r);
    state.echo = echo;
    bad
}

/// One echo run: connections, warm-up, measured rounds, close.
async fn echo(path: Path, pool: &Arc<SmallBufferPool>) -> io::Result<Run> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let acceptor = compio::runtime::spawn(async move {
        let mut servers = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            servers.push(match path {
                Path::Pooled => compio::runtime::spawn(serve_pooled(stream)),
                Path::Vec => compio::runtime::spawn(serve_vec(stream)),
            });
        }
        Ok::<_, io::Error>(servers)
    });
    let mut conns = Vec::with_capacity(CONNECTIONS);
    let mut states = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        conns.push(stream);
        states.push(VecConn {
            request: Vec::with_capacity(SIZE),
            echo: Vec::with_capacity(READ_LEN),
        });
    }
    let servers = acceptor.await.map_err(joined)??;

    let mut run = Run::default();
    let (mut allocs0, mut ops0) = (0, 0);
    for r in 0..WARMUP + ROUNDS {
        if r == WARMUP {
            (allocs0, ops0) = (allocations(), ops());
        }
        for (c, stream) in conns.iter_mut().enumerate() {
            match path {
                Path::Pooled => request_pooled(pool, stream, c, r).await?,
                Path::Vec => request_vec(&mut states[c], stream, c, r).await?,
            }
        }
        for (c, stream) in conns.iter_mut().enumerate() {
            run.mismatches += match path {
                Path::Pooled => echo_pooled(pool, stream, c, r).await?,
                Path::Vec => echo_vec(&mut states[c], stream, c, r).await?,
            };
            run.verified += SIZE as u64;
        }
    }
    (run.allocations, run.ops) = (allocations() - allocs0, ops() - ops0);
    run.requests = (ROUNDS * CONNECTIONS) as u64;

    // Closing the client side ends each server task at its next read.
    drop(conns);
    for server in servers {
        server.await.map_err(joined)??;
    }
    Ok(run)
}

fn joined(e: compio::runtime::JoinError) -> io::Error {
    io::Error::other(format!("task: {e}"))
}

/// Writes pooled blocks to a temporary file and reads them back; returns
/// the bytes verified and those that differed.
async fn file_round_trip(pool: &Arc<SmallBufferPool>) -> io::Result<(u64, u64)> {
    let path = std::env::temp_dir().join(format!("iobuf-compio-echo-{}", std::process::id()));
    let file = compio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .await?;
    let result = file_blocks(&file, pool).await;
    let closed = file.close().await;
    let removed = std::fs::remove_file(&path);
    let counts = result?;
    closed.and(removed).map(|()| counts)
}

async fn file_blocks(
    file: &compio::fs::File,
    pool: &Arc<SmallBufferPool>,
) -> io::Result<(u64, u64)> {
    let size = iobuf::BUFFER_SIZE_SMALL;
    let mut kept: Vec<ClientBuf> = Vec::with_capacity(FILE_BLOCKS);
    let mut writer = file;
    for block in 0..FILE_BLOCKS {
        let mut buf: ClientBuf = Filled::new(pool.try_get_owned()?);
        for (i, b) in buf.unfilled_mut().iter_mut().enumerate() {
            *b = file_pattern(block, i);
        }
        buf.commit(size);
        let BufResult(res, buf) = writer.write_all_at(buf, (block * size) as u64).await;
        res?;
        kept.push(buf);
    }
    let (mut verified, mut mismatches) = (0, 0);
    for (block, written) in kept.iter().enumerate() {
        let buf: ClientBuf = Filled::new(pool.try_get_owned()?);
        let BufResult(res, buf) = file
            .read_exact_at_filled(buf, size, (block * size) as u64)
            .await;
        res?;
        if buf.len() != size {
            return Err(io::Error::other(format!(
                "read_exact_at_filled filled {} of {size} bytes",
                buf.len()
            )));
        }
        for (i, (&got, &sent)) in buf.iter().zip(written.iter()).enumerate() {
            mismatches += u64::from(got != sent || got != file_pattern(block, i));
        }
        verified += size as u64;
    }
    Ok((verified, mismatches))
}

/// What the whole program saw.
#[derive(Debug)]
struct Report {
    pooled: Run,
    vec: Run,
    file_verified: u64,
    file_mismatches: u64,
    homeless: Vec<String>,
}

async fn run() -> io::Result<Report> {
    pools::init()?;
    let pool = Arc::new(SmallBufferPool::new(64)?);
    let pooled = echo(Path::Pooled, &pool).await?;
    let vec = echo(Path::Vec, &pool).await?;
    let (file_verified, file_mismatches) = file_round_trip(&pool).await?;
    let rx = pools::rx();
    let mut homeless = Vec::new();
    for (name, available, capacity) in [
        ("server rx", rx.available(), rx.capacity()),
        ("client", pool.available(), pool.capacity()),
    ] {
        if available != capacity {
            homeless.push(format!("{name}: {available} of {capacity} home"));
        }
    }
    Ok(Report {
        pooled,
        vec,
        file_verified,
        file_mismatches,
        homeless,
    })
}

fn main() {
    watchdog("compio_echo");
    let rt = match compio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) if refused(&e) => {
            println!("compio_echo: skipped: the kernel refused io_uring ({e})");
            return;
        }
        Err(e) => {
            eprintln!("compio_echo: runtime: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "compio_echo: {:?} driver, {CONNECTIONS} connections x {ROUNDS} requests of {SIZE} \
         bytes (after {WARMUP} warm-up each), pooled then Vec; then {FILE_BLOCKS} pooled blocks \
         through a file",
        rt.driver_type()
    );
    let report = match rt.block_on(run()) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("compio_echo: failed: {e}");
            std::process::exit(1);
        }
    };
    for (name, run) in [("pooled", &report.pooled), ("Vec<u8>", &report.vec)] {
        println!(
            "{name:<8} {} requests, {} reads and writes, {} allocations: {:.3} per request, {:.3} per operation",
            run.requests,
            run.ops,
            run.allocations,
            run.per_req(),
            run.per_op()
        );
    }
    // What the pooled run allocated beyond the runtime's own rate with
    // plain `Vec`s, which is all compio's (one op cell per submission).
    let runtime_share = report.pooled.ops as f64 * report.vec.per_op();
    let beyond = report.pooled.allocations as f64 - runtime_share;
    println!(
        "attribution: compio allocates {:.3} per operation with reused Vec<u8> buffers; the pooled \
         run allocated {:.1} beyond that over {} operations (iobuf's share)",
        report.vec.per_op(),
        beyond.max(0.0),
        report.pooled.ops
    );
    let mut failed = false;
    let mismatches = report.pooled.mismatches + report.vec.mismatches + report.file_mismatches;
    if mismatches != 0 {
        eprintln!("compio_echo: {mismatches} bytes differed");
        failed = true;
    }
    // Half an allocation of slack over thousands of operations: the two
    // rates are both exactly one per op when nothing else allocates.
    if beyond >= 0.5 {
        eprintln!("compio_echo: the pooled requests allocated beyond the runtime's own rate");
        failed = true;
    }
    for line in &report.homeless {
        eprintln!("compio_echo: a buffer is not home: {line}");
        failed = true;
    }
    println!(
        "summary: runtime=compio requests={} allocs_per_req={:.3} verified={}",
        report.pooled.requests,
        report.pooled.per_req(),
        report.pooled.verified + report.file_verified
    );
    if failed {
        std::process::exit(1);
    }
}
