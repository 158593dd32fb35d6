//! Runs `examples/uring_echo.rs` small, in-process (the example is included
//! as a module, and with it `tokio_echo`'s counting global allocator, which
//! serves this test binary): at a few connection counts, one of them with
//! more connections than the provided-buffer ring has entries, every
//! echoed byte of the three servers is checked and matches, the io_uring
//! server's run makes no heap allocation after warm-up, every buffer comes
//! home, and the summary line parses. Then the server, as `--listen` runs
//! it, echoes outside (blocking) clients through a 4-entry ring and stops
//! when asked.
//!
//! Where the kernel refuses io_uring (`ENOSYS`, `EPERM`) it prints
//! `SKIPPED` and passes; any other failure fails.
//!
//! One `#[test]` runs the parts in turn: the allocation counter counts the
//! whole process, so no other test may run during a measured phase.

#![cfg(target_os = "linux")]

#[path = "../examples/uring_echo.rs"]
#[allow(dead_code)]
mod uring_echo;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use uring_echo::{Config, Outcome, ServeOptions};

#[path = "common/echo_client.rs"]
mod echo_client;
#[path = "common/summary.rs"]
mod summary;

/// The summary line's `key=value` pairs, which must be the five expected
/// keys in order, each a plain decimal.
fn parse_summary(line: &str) -> Vec<(String, f64)> {
    summary::parse_summary(
        line,
        &[
            "connections",
            "uring",
            "tokio",
            "threads",
            "uring_allocs_per_req",
        ],
    )
}

#[test]
fn uring_echo_example() {
    match uring_echo::probe() {
        Ok(None) => {}
        Ok(Some(reason)) => {
            println!("SKIPPED: the kernel refused io_uring: {reason}");
            return;
        }
        Err(e) => panic!("io_uring setup failed: {e}"),
    }
    assert!(uring_echo::pattern_decomposes(32));
    loads_check_every_byte_and_the_uring_server_does_not_allocate();
    summary_line_shows_a_rare_allocation();
    listen_mode_echoes_outside_clients_and_stops_when_asked();
}

fn loads_check_every_byte_and_the_uring_server_does_not_allocate() {
    let quick = Config {
        warmup: Duration::from_millis(100),
        measure: Duration::from_millis(200),
        ..Config::quick()
    };
    for config in [
        // 1 byte, in two rounds.
        Config {
            connections: 3,
            size: 1,
            rounds: 2,
            ..quick
        },
        // The default size, more connections than ring entries.
        Config {
            connections: 40,
            ring_entries: 16,
            ..quick
        },
        // Two buffers per request, so two queued echoes per connection.
        Config {
            connections: 4,
            size: 6000,
            ring_entries: 8,
            ..quick
        },
    ] {
        let report = match uring_echo::run(&config).unwrap() {
            Outcome::Measured(report) => *report,
            Outcome::Unsupported(reason) => panic!("refused after the probe passed: {reason}"),
        };
        println!("{config:?}: {report:#?}");
        let failures = uring_echo::failures(&config, &report);
        assert!(failures.is_empty(), "{config:?}: {failures:?}");
        for (name, r) in [
            ("uring", &report.uring),
            ("tokio", &report.tokio),
            ("threads", &report.threads),
        ] {
            assert!(r.requests > 0, "{config:?}, {name}: {r:?}");
            assert!(r.completed >= r.requests, "{config:?}, {name}: {r:?}");
            assert_eq!(
                r.bytes_checked,
                r.completed * config.size as u64,
                "{config:?}, {name}: bytes unchecked"
            );
            assert_eq!(r.mismatches, 0, "{config:?}, {name}: echoed bytes differ");
            assert!(r.p50 <= r.p99, "{config:?}, {name}: {r:?}");
        }
        assert_eq!(
            report.uring.allocations,
            0,
            "{config:?}: the io_uring server's run allocated ({} per request)",
            report.uring.allocations_per_request()
        );
        assert_eq!(
            report.uring_stats.accepted,
            config.connections * config.rounds
        );
        assert_eq!(report.pool_available, report.pool_capacity, "{config:?}");
        if config.connections > usize::from(config.ring_entries) {
            println!(
                "{} connections over {} ring entries: {} ENOBUFS",
                config.connections, config.ring_entries, report.uring_stats.no_buffers
            );
        }

        let summary = parse_summary(&uring_echo::summary_line(&report));
        assert_eq!(summary[0].1, config.connections as f64, "{summary:?}");
        assert!(
            summary[1].1 > 0.0 && summary[2].1 > 0.0 && summary[3].1 > 0.0,
            "{summary:?}"
        );
        assert_eq!(summary[4].1, 0.0, "uring_allocs_per_req: {summary:?}");
    }
}

fn summary_line_shows_a_rare_allocation() {
    let server = uring_echo::ServerReport {
        requests: 100_000,
        elapsed: Duration::from_secs(1),
        p50: Duration::ZERO,
        p99: Duration::ZERO,
        allocations: 1,
        completed: 100_000,
        bytes_checked: 0,
        mismatches: 0,
    };
    // 1 in 100 000 does not round to "0".
    assert_eq!(uring_echo::per_request(&server), "0.00001");
    let report = uring_echo::Report {
        connections: 8,
        uring: server.clone(),
        tokio: uring_echo::ServerReport {
            requests: 50_000,
            ..server.clone()
        },
        threads: server,
        uring_stats: uring_echo::ServerStats::default(),
        pool_capacity: 1,
        pool_available: 1,
    };
    let summary = parse_summary(&uring_echo::summary_line(&report));
    assert_eq!(summary[0].1, 8.0);
    assert_eq!(summary[1].1, 100_000.0);
    assert_eq!(summary[2].1, 50_000.0);
    assert_eq!(summary[4].1, 0.00001);
}

/// Byte `i` of outside client `conn`'s stream.
fn pattern(conn: usize, i: usize) -> u8 {
    (conn.wrapping_mul(131) ^ i.wrapping_mul(7) ^ (i >> 9)) as u8
}

fn listen_mode_echoes_outside_clients_and_stops_when_asked() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = AtomicBool::new(false);
    // A ring of 4 entries: each message is 13 buffers' worth, so the ring
    // runs dry and echoes queue up behind each other.
    let options = ServeOptions {
        ring_entries: 4,
        limit: None,
    };
    let stats = std::thread::scope(|s| {
        let server = s.spawn(|| uring_echo::serve_uring(&listener, &options, &stop));
        let clients: Vec<_> = (0..2)
            .map(|conn| {
                s.spawn(move || {
                    let data: Vec<u8> = (0..50_000).map(|i| pattern(conn, i)).collect();
                    echo_client::assert_echoes(addr, conn, data);
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
        // Stop: set the flag, then wake the loop with a connection, which
        // the server shuts down and closes like any other.
        stop.store(true, Ordering::Relaxed);
        let mut waker = TcpStream::connect(addr).unwrap();
        // Bounded: a server that already left (an error) never accepts it,
        // and the read would wait forever.
        waker
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let mut rest = Vec::new();
        if let Err(e) = waker.read_to_end(&mut rest) {
            let finished = server.is_finished();
            let result = finished.then(|| server.join());
            panic!("the server did not close the stop connection ({e}); server result: {result:?}");
        }
        assert!(rest.is_empty());
        server.join().unwrap().unwrap()
    });
    println!("listen: {stats:?}");
    assert_eq!(stats.accepted, 3, "{stats:?}");
    let pool = uring_echo::rx_pool_stats();
    assert_eq!(pool.available, pool.capacity, "{pool:?}");
    assert_eq!(pool.provided, 0, "{pool:?}");
}
