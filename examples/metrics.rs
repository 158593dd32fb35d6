//! The pools' counters in Prometheus text format, served on a local port
//! and read back: `iobuf::metrics` publishes a `buffer_pools!` set's
//! statistics through the `metrics` facade, and the Prometheus exporter
//! (`metrics-exporter-prometheus`, its recorder only, no HTTP stack of its
//! own) renders them; a small `std::net` server answers `GET /metrics`.
//!
//! ```text
//! cargo run --release --features metrics --example metrics
//! cargo run --release --features metrics --example metrics -- --listen 127.0.0.1:9100
//! ```
//!
//! The workload makes every counter move: gets from thread caches, the
//! shared bitmap, refills and steals; failed `try_get`s; blocking gets
//! that time out; async gets that wait for a return. Then it scrapes its
//! own endpoint, prints the scrape, and exits 1 if a metric is missing.
//! With `--listen ADDR` it keeps serving (re-recording before each
//! scrape) until killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

mod pools {
    iobuf::buffer_pools! {
        /// Request buffers, cached per thread.
        small: 2KiB x 64,
        /// Large transfers; few, so they run dry in the workload.
        #[pool(thread_cache = 0)]
        large: 128KiB x 2,
    }
}

/// Every metric `iobuf::metrics::record` publishes.
const METRICS: [&str; 12] = [
    "iobuf_capacity",
    "iobuf_available",
    "iobuf_in_use",
    "iobuf_high_water",
    "iobuf_cached",
    "iobuf_waiting",
    "iobuf_gets_total",
    "iobuf_try_get_failures_total",
    "iobuf_waits_total",
    "iobuf_timeouts_total",
    "iobuf_cancellations_total",
    "iobuf_wait_seconds_bucket",
];

fn workload() {
    // Cache hits and refills on several threads; steals when one thread
    // holds what the others need.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    let held: Vec<_> = (0..8).map(|_| pools::get(1500).unwrap()).collect();
                    drop(held);
                }
            });
        }
    });
    // The large pool runs dry: failed try_gets, a timeout, a task that
    // waits for a return, and a cancelled wait.
    let a = pools::get(100_000).unwrap();
    let b = pools::get(100_000).unwrap();
    for _ in 0..3 {
        assert!(pools::try_get(100_000).is_err());
    }
    assert!(pools::get_timeout(100_000, Duration::from_millis(5)).is_err());
    let waiter =
        std::thread::spawn(|| futures_executor::block_on(pools::get_async(100_000)).is_some());
    std::thread::sleep(Duration::from_millis(10));
    drop(a);
    assert!(waiter.join().unwrap());
    {
        let mut cancelled = std::pin::pin!(pools::get_async(100_000));
        let waker = std::task::Waker::noop();
        // The pool may or may not be empty here; either way the future is
        // dropped after one poll.
        let _ = cancelled
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker));
    }
    drop(b);
}

/// Answers one HTTP request on `stream` with a fresh scrape.
fn serve_one(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    let mut request_line = String::new();
    BufReader::new(&stream).read_line(&mut request_line)?;
    iobuf::metrics::record_set(&pools::stats());
    let body = handle.render();
    let status = if request_line.starts_with("GET /metrics") {
        "200 OK"
    } else {
        "404 Not Found"
    };
    write!(
        stream,
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn scrape(addr: std::net::SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.0 200") => Ok(body.to_owned()),
        _ => Err(std::io::Error::other(format!(
            "bad response: {response:.200}"
        ))),
    }
}

use std::future::Future;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    workload();
    if let [flag, addr] = &args[..] {
        if flag == "--listen" {
            let listener = TcpListener::bind(addr)?;
            println!(
                "serving http://{}/metrics; stop with Ctrl-C",
                listener.local_addr()?
            );
            for stream in listener.incoming() {
                if let Err(e) = serve_one(stream?, &handle) {
                    eprintln!("metrics: {e}");
                }
            }
            return Ok(());
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (stream, _) = listener.accept()?;
        serve_one(stream, &handle)
    });
    let body = scrape(addr)?;
    server.join().expect("the server thread panicked")?;
    print!("{body}");
    let missing: Vec<_> = METRICS
        .iter()
        .filter(|m| {
            !body
                .lines()
                .any(|l| l.starts_with(*m) && l.contains("pool=\"small\""))
        })
        .collect();
    let large_failures = body
        .lines()
        .find(|l| l.starts_with("iobuf_try_get_failures_total") && l.contains("pool=\"large\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    println!(
        "summary: metrics={} missing={} large_try_get_failures={large_failures} scrape_bytes={}",
        METRICS.len(),
        missing.len(),
        body.len()
    );
    if !missing.is_empty() || large_failures < 3.0 {
        eprintln!(
            "metrics: missing from the scrape: {missing:?} (large try_get failures {large_failures})"
        );
        std::process::exit(1);
    }
    Ok(())
}
