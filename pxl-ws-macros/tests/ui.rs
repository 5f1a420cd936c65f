//! Compile-time behaviour of the macros: every error, at its span, with a reviewed
//! `.stderr` snapshot (recorded on the toolchain pinned in `rust-toolchain.toml`;
//! re-record with `TRYBUILD=overwrite cargo test -p pxl-ws-macros --test ui`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/controller/pass/*.rs");
    t.compile_fail("tests/ui/controller/fail/*.rs");
    t.pass("tests/ui/action/pass/*.rs");
    t.compile_fail("tests/ui/action/fail/*.rs");
    t.pass("tests/ui/subscriber/pass/*.rs");
    t.compile_fail("tests/ui/subscriber/fail/*.rs");
    t.pass("tests/ui/push/pass/*.rs");
    t.compile_fail("tests/ui/push/fail/*.rs");
}
