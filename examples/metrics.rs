//! The pools' counters in Prometheus text format, served on a local port
//! and read back: an `iobuf::metrics::Reporter` thread publishes a
//! `buffer_pools!` set's statistics through the `metrics` facade every
//! 50 ms, and the Prometheus exporter (`metrics-exporter-prometheus`, its
//! recorder only, no HTTP stack of its own; buckets set to the pools'
//! wait-time bounds) renders them; a small `std::net` server answers
//! `GET /metrics` with `handle.render()` and nothing before it.
//!
//! ```text
//! cargo run --release --features metrics --example metrics
//! cargo run --release --features metrics --example metrics -- --listen 127.0.0.1:9100
//! ```
//!
//! The workload makes every counter move: gets from thread caches, the
//! shared bitmap, refills and steals; failed `try_get`s; blocking gets
//! that time out; async gets that wait for a return. Then it scrapes its
//! own endpoint until the scrape shows the pools' current statistics (the
//! reporter's next round), runs a second round of waits and does it again,
//! prints the last scrape and a summary line, and exits 1 if a metric is
//! missing, the wait-time histogram is not one (`# TYPE ... histogram`
//! with `_bucket`, `_sum` and `_count`) or differs from the pool's counts,
//! or a scrape stays stale for 5 s. With `--listen ADDR` it keeps serving
//! until killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use iobuf::PoolStats;
use iobuf::metrics::{Reporter, WAIT_SECONDS_BUCKETS, WAIT_SECONDS_METRIC};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

mod pools {
    iobuf::buffer_pools! {
        /// Request buffers, cached per thread.
        small: 2KiB x 64,
        /// Large transfers; few, so they run dry in the workload.
        #[pool(thread_cache = 0)]
        large: 128KiB x 2,
    }
}

/// How often the reporter publishes.
const INTERVAL: Duration = Duration::from_millis(50);

/// How long a scrape may stay stale before the example fails.
const STALE_AFTER: Duration = Duration::from_secs(5);

/// Every metric `iobuf::metrics::record` publishes, as the small pool
/// (with no waits) shows them: the histogram by its `_count` (checked in
/// full for the large pool, by `histogram_errors`).
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
    "iobuf_wait_seconds_count",
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

/// More waits in the large pool: timeouts of about 1, 20 and 200 ms.
fn second_round() {
    let a = pools::get(100_000).unwrap();
    let b = pools::get(100_000).unwrap();
    for millis in [1, 20, 200] {
        assert!(pools::get_timeout(100_000, Duration::from_millis(millis)).is_err());
    }
    drop((a, b));
}

/// Answers one HTTP request on `stream` with a fresh scrape.
fn serve_one(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    let mut request_line = String::new();
    BufReader::new(&stream).read_line(&mut request_line)?;
    // No `record_set` here: the reporter keeps the values current.
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

/// The value of the line of `metric` whose labels include every one of
/// `labels` (`pool="large"`, …).
fn value(body: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| {
            let (name, rest) = series.split_once('{').unwrap_or((series, ""));
            name == metric && labels.iter().all(|label| rest.contains(label))
        })
        .and_then(|(_, v)| v.parse().ok())
}

/// The large pool's statistics.
fn large() -> PoolStats {
    pools::stats()
        .into_iter()
        .find(|(name, _)| *name == "large")
        .and_then(|(_, stats)| stats)
        .expect("the workload created the large pool")
}

/// Whether `body` shows the large pool's `stats`: its waits, timeouts,
/// cancellations, try_get failures and buffers in use.
fn is_current(body: &str, stats: &PoolStats) -> bool {
    let large = ["pool=\"large\""];
    let waits: u64 = stats.wait_histogram.iter().sum();
    [
        ("iobuf_wait_seconds_count", waits),
        ("iobuf_timeouts_total", stats.timeouts),
        ("iobuf_cancellations_total", stats.cancellations),
        ("iobuf_try_get_failures_total", stats.try_get_failures),
        ("iobuf_in_use", stats.in_use as u64),
    ]
    .iter()
    .all(|&(metric, expected)| value(body, metric, &large) == Some(expected as f64))
}

/// Scrapes `addr` until the scrape shows the large pool's current
/// statistics; `Err` with the last scrape if it stays stale.
fn current_scrape(addr: std::net::SocketAddr) -> Result<(String, Duration), String> {
    let stats = large();
    let start = Instant::now();
    loop {
        let body = scrape(addr).map_err(|e| e.to_string())?;
        if is_current(&body, &stats) {
            return Ok((body, start.elapsed()));
        }
        if start.elapsed() > STALE_AFTER {
            return Err(body);
        }
        std::thread::sleep(INTERVAL / 5);
    }
}

/// What is wrong with the large pool's wait-time histogram in `body`,
/// against its `stats`: the type line, each cumulative `_bucket` (the
/// exporter's bounds are the pool's), `_count` and `_sum`.
fn histogram_errors(body: &str, stats: &PoolStats) -> Vec<String> {
    let mut errors = Vec::new();
    let type_line = format!("# TYPE {WAIT_SECONDS_METRIC} histogram");
    if !body.lines().any(|l| l == type_line) {
        errors.push(format!("no `{type_line}` line"));
    }
    let bucket = format!("{WAIT_SECONDS_METRIC}_bucket");
    let mut cumulative = 0;
    for (i, count) in stats.wait_histogram.iter().enumerate() {
        cumulative += count;
        let le = match WAIT_SECONDS_BUCKETS.get(i) {
            Some(bound) => format!("le=\"{bound}\""),
            None => "le=\"+Inf\"".to_owned(),
        };
        let scraped = value(body, &bucket, &["pool=\"large\"", &le]);
        if scraped != Some(cumulative as f64) {
            errors.push(format!(
                "{bucket}{{{le}}} is {scraped:?}, the pool has {cumulative}"
            ));
        }
    }
    let count = value(
        body,
        &format!("{WAIT_SECONDS_METRIC}_count"),
        &["pool=\"large\""],
    );
    if count != Some(cumulative as f64) {
        errors.push(format!("_count is {count:?}, the pool has {cumulative}"));
    }
    let nanos: u64 = stats.wait_nanos.iter().sum();
    let expected = nanos as f64 / 1e9;
    match value(
        body,
        &format!("{WAIT_SECONDS_METRIC}_sum"),
        &["pool=\"large\""],
    ) {
        Some(sum) if (sum - expected).abs() <= expected * 1e-9 => {}
        sum => errors.push(format!("_sum is {sum:?}, the pool waited {expected} s")),
    }
    errors
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(WAIT_SECONDS_METRIC.to_owned()),
            &WAIT_SECONDS_BUCKETS,
        )?
        .install_recorder()?;
    // Publishes now and every INTERVAL until dropped at the end of `main`.
    let _reporter = Reporter::spawn(INTERVAL, pools::stats)?;
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
    // Serves every scrape until the process exits.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if let Err(e) = stream.and_then(|stream| serve_one(stream, &handle)) {
                eprintln!("metrics: {e}");
            }
        }
    });

    let mut failures = Vec::new();
    let first_stats = large();
    let first = current_scrape(addr);
    second_round();
    let second_stats = large();
    let second = current_scrape(addr);
    let (first_waits, second_waits) = (
        first_stats.wait_histogram.iter().sum::<u64>(),
        second_stats.wait_histogram.iter().sum::<u64>(),
    );
    let (body, first_after, second_after) = match (first, second) {
        (Ok((_, a)), Ok((body, b))) => (body, a, b),
        (Err(body), _) | (_, Err(body)) => {
            failures.push("a scrape stayed stale for 5 s".to_owned());
            (body, STALE_AFTER, STALE_AFTER)
        }
    };
    print!("{body}");
    let missing: Vec<_> = METRICS
        .iter()
        .filter(|m| {
            !body
                .lines()
                .any(|l| l.starts_with(*m) && l.contains("pool=\"small\""))
        })
        .collect();
    if !missing.is_empty() {
        failures.push(format!("missing from the scrape: {missing:?}"));
    }
    failures.extend(histogram_errors(&body, &second_stats));
    if first_waits < 2 || second_waits != first_waits + 3 || first_stats.try_get_failures < 3 {
        failures.push(format!(
            "the workload's waits: {first_waits} then {second_waits} (expected 2+ then 3 more); \
             try_get failures {}",
            first_stats.try_get_failures
        ));
    }
    println!(
        "summary: metrics={} missing={} histogram_errors={} waits={first_waits}->{second_waits} \
         current_after_ms={}/{} failures={} scrape_bytes={}",
        METRICS.len(),
        missing.len(),
        histogram_errors(&body, &second_stats).len(),
        first_after.as_millis(),
        second_after.as_millis(),
        failures.len(),
        body.len()
    );
    if !failures.is_empty() {
        for failure in &failures {
            eprintln!("metrics: {failure}");
        }
        std::process::exit(1);
    }
    Ok(())
}
