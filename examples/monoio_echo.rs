//! A monoio (io_uring driver) TCP echo on loopback and a file round trip,
//! on pooled buffers handed to the runtime by value.
//!
//! The server side reads each request into a `buffer_pools!` buffer
//! (`Filled<pools::Buf>`: the read sets its filled length) and writes that
//! very buffer back with `write_all`; it goes home when the write returns
//! it. The client side, in the same thread and runtime, holds N
//! connections and per round sends one request on each, then reads each
//! echo. A request is larger than one 2 KiB pooled buffer, so it goes out
//! as one `writev` of an [`IoBatch`] of two `Filled<OwnedPooled<_>>`, and
//! its echo comes in through `readv` into a second batch of two empty
//! buffers, which the read fills in order. Both batches are reused, so a
//! round allocates nothing. Every echoed byte is compared with a pattern
//! that differs per connection, request and offset.
//!
//! Then it writes 32 pooled buffers to a temporary file with
//! `write_all_at`, keeps each returned buffer (moved out of the runtime's
//! hands into a `Vec`), reads the file back into other pooled buffers with
//! `read_exact_at`, compares both, and removes the file.
//!
//! Heap allocations of the whole process are counted by the examples'
//! counting allocator, from the end of the warm-up to the last echo. It
//! exits 1 if a byte differed, the measured rounds allocated, or a buffer
//! was not home at the end; its last line is:
//!
//! ```text
//! summary: runtime=monoio requests=<n> allocs_per_req=<x> verified=<bytes>
//! ```
//!
//! Where the kernel refuses io_uring (`ENOSYS`, `EPERM` at runtime
//! creation), it says so and exits 0.
//!
//! ```text
//! cargo run --release --features monoio --example monoio_echo
//! ```

use std::io;
use std::sync::Arc;

use iobuf::runtimes::IoBatch;
use iobuf::{Filled, OwnedPooled, SmallBuffer, SmallBufferPool};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

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
        /// One read of a request: it fits whole, so one read usually
        /// takes the request the client wrote with one `writev`.
        rx: 4KiB x 64,
    }
}

/// Bytes per request: more than one 2 KiB client buffer, so each batch
/// holds two.
const SIZE: usize = 3_000;

type ClientBuf = Filled<OwnedPooled<SmallBuffer>>;

/// What a run saw.
#[derive(Debug, Default)]
struct Report {
    requests: u64,
    allocations: u64,
    verified: u64,
    mismatches: u64,
    file_allocations: u64,
    homeless: Vec<String>,
}

/// Echoes one connection until the peer closes it.
async fn serve(mut stream: TcpStream) -> io::Result<()> {
    loop {
        let buf = pools::get_async(READ_LEN)
            .await
            .expect("READ_LEN fits `rx`");
        let (res, buf) = stream.read(Filled::new(buf)).await;
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
        let (res, _home) = stream.write_all(buf).await;
        res?;
    }
}

/// The client's buffers and batches, reused every round.
struct Client {
    pool: Arc<SmallBufferPool>,
    out: IoBatch<OwnedPooled<SmallBuffer>>,
    back: IoBatch<OwnedPooled<SmallBuffer>>,
    verified: u64,
    mismatches: u64,
}

impl Client {
    fn take(&self) -> io::Result<ClientBuf> {
        // Never waits: on one thread a wait could only end by a return
        // from this very task.
        Ok(Filled::new(self.pool.try_get_owned()?))
    }

    /// Sends request `r` of connection `conn` as one `writev`.
    async fn send(&mut self, stream: &mut TcpStream, conn: usize, r: usize) -> io::Result<()> {
        let mut batch = std::mem::take(&mut self.out);
        let mut at = 0;
        while at < SIZE {
            let mut buf = self.take()?;
            let n = (SIZE - at).min(buf.capacity());
            for (i, b) in buf.unfilled_mut()[..n].iter_mut().enumerate() {
                *b = pattern(conn, r, at + i);
            }
            buf.commit(n);
            batch.push(buf);
            at += n;
        }
        let (res, mut batch) = stream.writev(batch).await;
        let mut written = res?;
        if written < SIZE {
            // A short writev (a full socket buffer): the rest goes out
            // buffer by buffer.
            for mut buf in batch.drain() {
                let skip = written.min(buf.len());
                buf.consume(skip);
                written -= skip;
                if !buf.is_empty() {
                    let (res, _home) = stream.write_all(buf).await;
                    res?;
                }
            }
        }
        batch.clear();
        self.out = batch;
        Ok(())
    }

    /// Reads the echo of request `r` with `readv` and checks every byte.
    async fn receive(&mut self, stream: &mut TcpStream, conn: usize, r: usize) -> io::Result<()> {
        let mut batch = std::mem::take(&mut self.back);
        let mut room = 0;
        while room < SIZE {
            let buf = self.take()?;
            room += buf.capacity();
            batch.push(buf);
        }
        while batch.filled() < SIZE {
            let (res, returned) = stream.readv(batch).await;
            batch = returned;
            if res? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        let mut at = 0;
        for buf in batch.buffers() {
            for (i, &b) in buf.iter().enumerate() {
                self.mismatches += u64::from(b != pattern(conn, r, at + i));
            }
            at += buf.len();
        }
        if at != SIZE {
            return Err(io::Error::other(format!(
                "echo of {at} bytes for a request of {SIZE}"
            )));
        }
        self.verified += at as u64;
        batch.clear();
        self.back = batch;
        Ok(())
    }
}

/// Echo load: connections, warm-up, measured rounds, close, servers done.
async fn echo(pool: &Arc<SmallBufferPool>, report: &mut Report) -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let acceptor = monoio::spawn(async move {
        let mut servers = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            servers.push(monoio::spawn(serve(stream)));
        }
        Ok::<_, io::Error>(servers)
    });
    let mut conns = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let stream = TcpStream::connect_addr(addr).await?;
        stream.set_nodelay(true)?;
        conns.push(stream);
    }
    let servers = acceptor.await?;

    let mut client = Client {
        pool: pool.clone(),
        out: IoBatch::new(),
        back: IoBatch::new(),
        verified: 0,
        mismatches: 0,
    };
    let mut start = 0;
    for r in 0..WARMUP + ROUNDS {
        if r == WARMUP {
            start = allocations();
        }
        for (c, stream) in conns.iter_mut().enumerate() {
            client.send(stream, c, r).await?;
        }
        for (c, stream) in conns.iter_mut().enumerate() {
            client.receive(stream, c, r).await?;
        }
    }
    report.allocations = allocations() - start;
    report.requests = (ROUNDS * CONNECTIONS) as u64;
    report.verified += client.verified;
    report.mismatches += client.mismatches;

    // Closing the client side ends each server task at its next read.
    drop(conns);
    for server in servers {
        server.await?;
    }
    Ok(())
}

/// Writes pooled blocks to a temporary file and reads them back.
async fn file_round_trip(pool: &Arc<SmallBufferPool>, report: &mut Report) -> io::Result<()> {
    let path = std::env::temp_dir().join(format!("iobuf-monoio-echo-{}", std::process::id()));
    let file = monoio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .await?;
    let result = file_blocks(&file, pool, report).await;
    let closed = file.close().await;
    let removed = std::fs::remove_file(&path);
    result.and(closed).and(removed)
}

async fn file_blocks(
    file: &monoio::fs::File,
    pool: &Arc<SmallBufferPool>,
    report: &mut Report,
) -> io::Result<()> {
    let size = iobuf::BUFFER_SIZE_SMALL;
    let mut kept: Vec<ClientBuf> = Vec::with_capacity(FILE_BLOCKS);
    let start = allocations();
    for block in 0..FILE_BLOCKS {
        let mut buf = Filled::new(pool.try_get_owned()?);
        for (i, b) in buf.unfilled_mut().iter_mut().enumerate() {
            *b = file_pattern(block, i);
        }
        buf.commit(size);
        let (res, buf) = file.write_all_at(buf, (block * size) as u64).await;
        res?;
        kept.push(buf);
    }
    for (block, written) in kept.iter().enumerate() {
        let buf = Filled::new(pool.try_get_owned()?);
        let (res, buf) = file.read_exact_at(buf, (block * size) as u64).await;
        res?;
        if buf.len() != size {
            return Err(io::Error::other(format!(
                "read_exact_at filled {} of {size} bytes",
                buf.len()
            )));
        }
        for (i, (&got, &sent)) in buf.iter().zip(written.iter()).enumerate() {
            let bad = got != sent || got != file_pattern(block, i);
            report.mismatches += u64::from(bad);
        }
        report.verified += size as u64;
    }
    report.file_allocations = allocations() - start;
    Ok(())
}

async fn run() -> io::Result<Report> {
    pools::init()?;
    let pool = Arc::new(SmallBufferPool::new(64)?);
    let mut report = Report::default();
    echo(&pool, &mut report).await?;
    file_round_trip(&pool, &mut report).await?;
    let rx = pools::rx();
    for (name, available, capacity) in [
        ("server rx", rx.available(), rx.capacity()),
        ("client", pool.available(), pool.capacity()),
    ] {
        if available != capacity {
            report
                .homeless
                .push(format!("{name}: {available} of {capacity} home"));
        }
    }
    Ok(report)
}

fn main() {
    watchdog("monoio_echo");
    let mut rt = match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().build() {
        Ok(rt) => rt,
        Err(e) if refused(&e) => {
            println!("monoio_echo: skipped: the kernel refused io_uring ({e})");
            return;
        }
        Err(e) => {
            eprintln!("monoio_echo: runtime: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "monoio_echo: io_uring driver, {CONNECTIONS} connections x {ROUNDS} requests of {SIZE} \
         bytes (after {WARMUP} warm-up each), writev/readv of IoBatch; then {FILE_BLOCKS} \
         pooled blocks through a file"
    );
    let report = match rt.block_on(run()) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("monoio_echo: failed: {e}");
            std::process::exit(1);
        }
    };
    let per_req = report.allocations as f64 / report.requests as f64;
    println!(
        "echo: {} measured requests, {} allocations; file: {} allocations over {} writes and reads",
        report.requests,
        report.allocations,
        report.file_allocations,
        2 * FILE_BLOCKS
    );
    let mut failed = false;
    if report.mismatches != 0 {
        eprintln!("monoio_echo: {} bytes differed", report.mismatches);
        failed = true;
    }
    if report.allocations != 0 {
        eprintln!("monoio_echo: the measured requests allocated");
        failed = true;
    }
    for line in &report.homeless {
        eprintln!("monoio_echo: a buffer is not home: {line}");
        failed = true;
    }
    println!(
        "summary: runtime=monoio requests={} allocs_per_req={per_req} verified={}",
        report.requests, report.verified
    );
    if failed {
        std::process::exit(1);
    }
}
