//! A tokio-uring TCP echo on loopback and a file round trip, on pooled
//! buffers handed to the runtime by value.
//!
//! The server side reads each request into a `buffer_pools!` buffer
//! (`Filled<pools::Buf>`: the read raises its filled length to the bytes
//! read) and writes that very buffer back with `write_all`; it goes home
//! when the write returns it. The client side, in the same thread and
//! runtime, holds N connections and per round sends one request on each
//! from a pooled `Filled`, then reads each echo into another, through
//! tokio-uring's slice of its unfilled part (so a second read appends),
//! and checks every byte against a pattern that differs per connection,
//! request and offset.
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
//! summary: runtime=tokio-uring requests=<n> allocs_per_req=<x> verified=<bytes>
//! ```
//!
//! Where the kernel refuses io_uring (`ENOSYS`, `EPERM` at runtime
//! creation), it says so and exits 0.
//!
//! ```text
//! cargo run --release --features tokio-uring --example tokio_uring_echo
//! ```

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/runtime_echo.rs"]
#[allow(dead_code)]
mod runtime_echo;

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("tokio_uring_echo: skipped: tokio-uring runs on Linux only");
}

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::net::SocketAddr;
    use std::sync::Arc;

    use iobuf::{Filled, OwnedPooled, SmallBuffer, SmallBufferPool};
    use tokio_uring::buf::BoundedBuf;
    use tokio_uring::net::{TcpListener, TcpStream};

    use super::counting_alloc::allocations;
    use super::runtime_echo::{
        CONNECTIONS, FILE_BLOCKS, READ_LEN, ROUNDS, WARMUP, file_pattern, pattern, refused,
        watchdog,
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
    async fn serve(stream: TcpStream) -> io::Result<()> {
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

    /// Sends request `r` of connection `conn` from a pooled buffer.
    async fn send(
        pool: &Arc<SmallBufferPool>,
        stream: &TcpStream,
        conn: usize,
        r: usize,
    ) -> io::Result<()> {
        // Never waits: on one thread a wait could only end by a return
        // from this very task.
        let mut request: ClientBuf = Filled::new(pool.try_get_owned()?);
        for (i, b) in request.unfilled_mut()[..SIZE].iter_mut().enumerate() {
            *b = pattern(conn, r, i);
        }
        request.commit(SIZE);
        let (res, _home) = stream.write_all(request).await;
        res
    }

    /// Reads the echo of request `r`, appending until it is whole; returns
    /// the bytes that differed.
    async fn receive(
        pool: &Arc<SmallBufferPool>,
        stream: &TcpStream,
        conn: usize,
        r: usize,
    ) -> io::Result<u64> {
        let mut echo: ClientBuf = Filled::new(pool.try_get_owned()?);
        while echo.len() < SIZE {
            let at = echo.len();
            let (res, slice) = stream.read(echo.slice(at..)).await;
            echo = slice.into_inner();
            if res? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
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

    /// Echo load: connections, warm-up, measured rounds, close, servers done.
    async fn echo(pool: &Arc<SmallBufferPool>, report: &mut Report) -> io::Result<()> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let acceptor = tokio_uring::spawn(async move {
            let mut servers = Vec::with_capacity(CONNECTIONS);
            for _ in 0..CONNECTIONS {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                servers.push(tokio_uring::spawn(serve(stream)));
            }
            Ok::<_, io::Error>(servers)
        });
        let mut conns = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            conns.push(stream);
        }
        let servers = acceptor.await.map_err(io::Error::other)??;

        let mut start = 0;
        for r in 0..WARMUP + ROUNDS {
            if r == WARMUP {
                start = allocations();
            }
            for (c, stream) in conns.iter().enumerate() {
                send(pool, stream, c, r).await?;
            }
            for (c, stream) in conns.iter().enumerate() {
                report.mismatches += receive(pool, stream, c, r).await?;
                report.verified += SIZE as u64;
            }
        }
        report.allocations = allocations() - start;
        report.requests = (ROUNDS * CONNECTIONS) as u64;

        // Closing the client side ends each server task at its next read.
        drop(conns);
        for server in servers {
            server.await.map_err(io::Error::other)??;
        }
        Ok(())
    }

    /// Writes pooled blocks to a temporary file and reads them back.
    async fn file_round_trip(pool: &Arc<SmallBufferPool>, report: &mut Report) -> io::Result<()> {
        let path =
            std::env::temp_dir().join(format!("iobuf-tokio-uring-echo-{}", std::process::id()));
        let file = tokio_uring::fs::OpenOptions::new()
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
        file: &tokio_uring::fs::File,
        pool: &Arc<SmallBufferPool>,
        report: &mut Report,
    ) -> io::Result<()> {
        let size = iobuf::BUFFER_SIZE_SMALL;
        let mut kept: Vec<ClientBuf> = Vec::with_capacity(FILE_BLOCKS);
        let start = allocations();
        for block in 0..FILE_BLOCKS {
            let mut buf: ClientBuf = Filled::new(pool.try_get_owned()?);
            for (i, b) in buf.unfilled_mut().iter_mut().enumerate() {
                *b = file_pattern(block, i);
            }
            buf.commit(size);
            let (res, buf) = file.write_all_at(buf, (block * size) as u64).await;
            res?;
            kept.push(buf);
        }
        for (block, written) in kept.iter().enumerate() {
            let buf: ClientBuf = Filled::new(pool.try_get_owned()?);
            let (res, buf) = file.read_exact_at(buf, (block * size) as u64).await;
            res?;
            if buf.len() != size {
                return Err(io::Error::other(format!(
                    "read_exact_at filled {} of {size} bytes",
                    buf.len()
                )));
            }
            for (i, (&got, &sent)) in buf.iter().zip(written.iter()).enumerate() {
                report.mismatches += u64::from(got != sent || got != file_pattern(block, i));
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

    pub fn main() {
        watchdog("tokio_uring_echo");
        let rt = match tokio_uring::Runtime::new(&tokio_uring::builder()) {
            Ok(rt) => rt,
            Err(e) if refused(&e) => {
                println!("tokio_uring_echo: skipped: the kernel refused io_uring ({e})");
                return;
            }
            Err(e) => {
                eprintln!("tokio_uring_echo: runtime: {e}");
                std::process::exit(1);
            }
        };
        println!(
            "tokio_uring_echo: {CONNECTIONS} connections x {ROUNDS} requests of {SIZE} bytes \
             (after {WARMUP} warm-up each); then {FILE_BLOCKS} pooled blocks through a file"
        );
        let report = match rt.block_on(run()) {
            Ok(report) => report,
            Err(e) => {
                eprintln!("tokio_uring_echo: failed: {e}");
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
            eprintln!("tokio_uring_echo: {} bytes differed", report.mismatches);
            failed = true;
        }
        if report.allocations != 0 {
            eprintln!("tokio_uring_echo: the measured requests allocated");
            failed = true;
        }
        for line in &report.homeless {
            eprintln!("tokio_uring_echo: a buffer is not home: {line}");
            failed = true;
        }
        println!(
            "summary: runtime=tokio-uring requests={} allocs_per_req={per_req} verified={}",
            report.requests, report.verified
        );
        if failed {
            std::process::exit(1);
        }
    }
}
