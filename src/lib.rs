//! Suite package: integration tests, benchmarks and examples of the iobuf workspace live in `tests/`, `benches/` and `examples/`.
