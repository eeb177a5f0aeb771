//! Compile-time checks of `#[on_exit]`: what it refuses, and how it says so.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/ui/pass/*.rs");
    // trybuild builds the cases with the features this test was built with.
    if cfg!(feature = "tokio") {
        cases.pass("tests/ui/with_tokio/async_fn.rs");
        cases.compile_fail("tests/ui/with_tokio/non_send_future.rs");
    } else {
        cases.compile_fail("tests/ui/without_tokio/*.rs");
    }
}
