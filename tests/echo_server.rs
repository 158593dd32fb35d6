//! Runs `examples/echo_server.rs` small, in-process: every echoed byte must
//! match, and the hot path must make no heap allocation after warm-up
//! (the example's counting global allocator serves this test binary too).

#[path = "../examples/echo_server.rs"]
#[allow(dead_code)]
mod echo_server;

#[test]
fn echo_server_echoes_every_byte_without_allocating() {
    for size in [1, 1500, 4096] {
        let config = echo_server::Config {
            connections: 4,
            messages: 500,
            warmup: 100,
            size,
        };
        let report = echo_server::run(&config).unwrap();
        println!("size {size}: {report:?}");
        assert_eq!(report.requests, 4 * 500, "size {size}");
        assert_eq!(report.mismatches, 0, "size {size}: echoed bytes differ");
        assert_eq!(
            report.allocations,
            0,
            "size {size}: the hot path allocated ({} per request)",
            report.allocations_per_request()
        );
        assert!(
            report.peak_in_use >= 4 && report.peak_in_use <= 2 * 4 + 4,
            "{report:?}"
        );
        assert!(report.p50 <= report.p99);
    }
}
