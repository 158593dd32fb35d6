//! The `iobuf-benches` package: criterion benchmarks in `pool.rs` (`cargo bench -p iobuf-benches --bench pool`).
