//! Compile-fail and compile-pass cases of the macros (trybuild).
//!
//! Refresh the expected output with `TRYBUILD=overwrite cargo test --test
//! compiletest` and read the diff. The `.stderr` files match the toolchain CI
//! uses (the machine's stable Rust).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
