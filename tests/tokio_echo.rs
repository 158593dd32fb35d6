//! Runs `examples/tokio_echo.rs` small, in-process (the example is included
//! as a module, so its counting global allocator serves this test binary):
//! every echoed byte is checked and matches, the pooled path makes no heap
//! allocation after warm-up, every buffer comes home, and the summary line
//! parses. Then `--listen`'s server echoes an outside (blocking) client.
//!
//! One `#[test]` runs the parts in turn: the allocation counter counts the
//! whole process, so no other test may run during a measured phase, and
//! libtest allocates as tests start and finish.

#[path = "../examples/tokio_echo.rs"]
#[allow(dead_code)]
mod tokio_echo;

#[path = "common/echo_client.rs"]
mod echo_client;
#[path = "common/summary.rs"]
mod summary;

/// The summary line's `key=value` pairs, which must be the four expected
/// keys in order, each a plain decimal.
fn parse_summary(line: &str) -> Vec<(String, f64)> {
    summary::parse_summary(
        line,
        &[
            "iobuf",
            "iobuf_allocs_per_req",
            "bytesmut",
            "bytesmut_allocs_per_req",
        ],
    )
}

#[test]
fn tokio_echo_example() {
    pooled_path_checks_every_byte_and_does_not_allocate();
    summary_line_shows_a_rare_allocation();
    listen_mode_echoes_an_outside_client();
}

fn pooled_path_checks_every_byte_and_does_not_allocate() {
    // 1 byte; the default 512; and more than one read (4 KiB) per request.
    for size in [1, 512, 6000] {
        let config = tokio_echo::Config {
            size,
            ..tokio_echo::Config::quick()
        };
        let report = tokio_echo::run(&config).unwrap();
        println!("size {size}: {report:?}");
        let per_path = (config.connections * config.requests) as u64;
        let sent = (config.connections * (config.warmup + config.requests) * size) as u64;
        for (name, path) in [("iobuf", &report.iobuf), ("bytesmut", &report.bytesmut)] {
            assert_eq!(path.requests, per_path, "size {size}, {name}");
            assert_eq!(
                path.bytes_checked, sent,
                "size {size}, {name}: bytes unchecked"
            );
            assert_eq!(
                path.mismatches, 0,
                "size {size}, {name}: echoed bytes differ"
            );
            assert!(path.p50 <= path.p99, "size {size}, {name}: {path:?}");
        }
        assert_eq!(
            report.iobuf.allocations,
            0,
            "size {size}: the pooled path allocated ({} per request)",
            report.iobuf.allocations_per_request()
        );
        // A new `BytesMut` per read: at least one allocation per request,
        // less one per connection whose next read's `BytesMut` was made
        // before the measured phase began (see `PathReport::allocations`).
        assert!(
            report.bytesmut.allocations >= per_path - config.connections as u64,
            "size {size}: {:?}",
            report.bytesmut
        );
        assert_eq!(report.pool_available, report.pool_capacity, "size {size}");

        let summary = parse_summary(&tokio_echo::summary_line(&report));
        assert_eq!(summary[1].1, 0.0, "iobuf_allocs_per_req: {summary:?}");
        assert!(summary[0].1 > 0.0 && summary[2].1 > 0.0, "{summary:?}");
        assert!(summary[3].1 >= 0.99, "{summary:?}");
    }
}

fn summary_line_shows_a_rare_allocation() {
    let path = tokio_echo::PathReport {
        requests: 100_000,
        elapsed: std::time::Duration::from_secs(1),
        p50: std::time::Duration::ZERO,
        p99: std::time::Duration::ZERO,
        allocations: 1,
        bytes_checked: 0,
        mismatches: 0,
    };
    // 1 in 100 000 does not round to "0".
    assert_eq!(tokio_echo::per_request(&path), "0.00001");
    let report = tokio_echo::Report {
        iobuf: path.clone(),
        bytesmut: tokio_echo::PathReport {
            allocations: 123_456,
            ..path
        },
        pool_capacity: 1,
        pool_available: 1,
    };
    let summary = parse_summary(&tokio_echo::summary_line(&report));
    assert_eq!(summary[0].1, 100_000.0);
    assert_eq!(summary[3].1, 1.235);
}

fn listen_mode_echoes_an_outside_client() {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    server.spawn(tokio_echo::listen(listener));

    // Two clients at once, each a message of several reads' worth.
    std::thread::scope(|s| {
        for conn in 0..2 {
            s.spawn(move || {
                let data: Vec<u8> = (0..50_000)
                    .map(|i| tokio_echo::pattern(conn, 0, i))
                    .collect();
                echo_client::assert_echoes(addr, conn, data);
            });
        }
    });
    server.shutdown_background();
}
